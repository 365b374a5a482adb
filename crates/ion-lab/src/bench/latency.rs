//! Latency: paced input calls, each timed from just before the call to the
//! probe's record of the event it caused.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::input::Rig;
use super::procstat::Cpu;
use super::send::{self, Input};
use super::stats::{percentiles, Percentiles};
use crate::probe::record::{monotonic_us, Event};

/// What a latency run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// `NotifyPointerMotion`, +1 and −1 px in turn.
    Pointer,
    /// `NotifyKeyboardKeycode`, press and release in turn.
    Keyboard,
}

impl Device {
    fn input(self, i: usize) -> Input {
        match self {
            Device::Pointer => send::motion(i),
            Device::Keyboard => send::key(i),
        }
    }

    /// Whether a probe record is the event one call causes.
    fn caused(self) -> fn(&Event) -> bool {
        match self {
            Device::Pointer => |e| matches!(e, Event::Motion { .. }),
            Device::Keyboard => |e| matches!(e, Event::Key { .. }),
        }
    }

    pub fn method(self) -> &'static str {
        match self {
            Device::Pointer => "NotifyPointerMotion",
            Device::Keyboard => "NotifyKeyboardKeycode",
        }
    }

    /// The EIS request that stands for the same event.
    pub fn eis_request(self) -> &'static str {
        match self {
            Device::Pointer => "EIS motion_relative",
            Device::Keyboard => "EIS keyboard key",
        }
    }
}

/// One latency run.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// The method called.
    pub method: &'static str,
    /// Calls made.
    pub sent: usize,
    /// Matching events the probe received.
    pub arrived: usize,
    /// `sent - arrived`; latencies are only matched when nothing was lost.
    pub lost: usize,
    /// The pacing asked for, in microseconds between calls.
    pub interval_us: u64,
    /// Call → probe, microseconds.
    pub latency_us: Option<Percentiles>,
    /// CPU time during the run (including the wait for the last event).
    pub cpu: Cpu,
}

/// Makes `n` calls (or sends `n` EIS events, when the rig has an EIS
/// client), rounded up to an even number, so the pointer ends where
/// it started and no key stays down), one every `interval`, each awaited,
/// and matches them in order to the probe's records.
pub async fn measure(
    rig: &mut Rig<'_>,
    device: Device,
    n: usize,
    interval: Duration,
) -> Result<Latency> {
    let n = n.max(2).next_multiple_of(2);
    let mark = rig.tail.mark()?;
    let cpu_start = rig.meter.read()?;
    let mut sent_at = Vec::with_capacity(n);
    let mut next = Instant::now();
    for i in 0..n {
        pace(next).await;
        next += interval;
        let t0 = monotonic_us();
        match rig.eis.as_mut() {
            Some(eis) => send::eis(eis, device.input(i))?,
            None => send::call(&rig.rd, device.input(i)).await?,
        }
        sent_at.push(t0);
    }
    let records = rig
        .tail
        .wait_for(mark, n, device.caused(), rig.quiet, rig.max_wait)
        .await?;
    let cpu = rig.meter.since(&cpu_start, n)?;
    let arrived = records.len().min(n);
    let latency_us = if records.len() == n {
        percentiles(
            records
                .iter()
                .zip(&sent_at)
                .map(|(r, &t0)| r.t_us.saturating_sub(t0))
                .collect(),
        )
    } else {
        None
    };
    Ok(Latency {
        method: if rig.eis.is_some() {
            device.eis_request()
        } else {
            device.method()
        },
        sent: n,
        arrived,
        lost: n - arrived,
        interval_us: u64::try_from(interval.as_micros()).unwrap_or(u64::MAX),
        latency_us,
        cpu,
    })
}

/// Waits until `deadline`: on the runtime's timer when it is far, else a
/// short blocking sleep (the timer's granularity is a millisecond; nothing
/// is in flight on our connection between two awaited calls, and the
/// runtime has another worker for the connection's own task).
async fn pace(deadline: Instant) {
    let now = Instant::now();
    if deadline <= now {
        return;
    }
    let left = deadline - now;
    if left >= Duration::from_millis(2) {
        tokio::time::sleep_until(deadline.into()).await;
    } else {
        std::thread::sleep(left);
    }
}
