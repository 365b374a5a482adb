//! Throughput: many mixed events (motion and key press/release) as fast as
//! the client can send them, awaited one by one or pipelined.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use super::input::Rig;
use super::procstat::Cpu;
use super::send::{self, Input};
use crate::client::status;
use crate::probe::record::{monotonic_us, Event, PressState, Record};

/// Longer than order repair's window (40 ms), with room for a busy machine.
const REPAIR_SETTLE: Duration = Duration::from_millis(250);

/// What it logs (at debug) for a press of a held key or a release of a key
/// that is not down, as calls that arrive out of order produce.
const REDUNDANT: &str = "redundant input dropped";

/// How the events are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Each call awaited before the next.
    Awaited,
    /// Prebuilt `NoReplyExpected` messages written back to back.
    Pipelined,
    /// Pipelined, spread to this many events per second.
    Paced(u32),
    /// On the rig's EIS connection, each event in its own frame, back to
    /// back (EIS has no replies: this is its only unpaced mode).
    Eis,
    /// On the EIS connection, spread to this many events per second.
    EisPaced(u32),
}

impl Mode {
    fn name(self) -> String {
        match self {
            Mode::Awaited => "sequential, each awaited".to_owned(),
            Mode::Pipelined => "pipelined, no reply".to_owned(),
            Mode::Paced(rate) => format!("pipelined, paced at {rate}/s"),
            Mode::Eis => "EIS, back to back".to_owned(),
            Mode::EisPaced(rate) => format!("EIS, paced at {rate}/s"),
        }
    }
}

/// One throughput run.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub mode: String,
    /// Events sent.
    pub sent: usize,
    /// Events the probe received.
    pub arrived: usize,
    /// `sent - arrived`.
    pub lost: usize,
    /// Events ionChannel's rate limiter refused (its status figures; a
    /// refused press also makes its release a no-op, so `lost` can be
    /// larger).
    pub rate_limited: usize,
    /// Presses and releases ionChannel's log says it dropped as redundant
    /// (a press of a held key, a release of a key not down): what calls
    /// reaching it out of order leave behind.
    pub dropped_redundant: usize,
    /// Press/release pairs ionChannel's order repair put back in order
    /// during the run (its `org.ionchannel.Status1` figures).
    pub repaired: u64,
    /// Releases of keys not down that no press followed, and presses of a
    /// held key, that order repair dropped.
    pub stray_releases: u64,
    pub dropped_presses: u64,
    /// The latest a repaired call came behind its partner, microseconds.
    pub max_lag_us: u64,
    /// Keys and buttons the probe sees held once the run is over and order
    /// repair's window has passed: 0 unless something is stuck.
    pub held_at_end: usize,
    /// Whether the probe saw exactly the sequence sent (kinds, motion
    /// directions and key states, in order).
    pub in_order: bool,
    /// Time the client took to send everything, milliseconds.
    pub send_ms: f64,
    /// First send → the probe's last record, milliseconds.
    pub total_ms: f64,
    /// `arrived` per second over `total_ms`.
    pub events_per_s: f64,
    /// CPU time during the run (including the wait for the last event).
    pub cpu: Cpu,
}

fn is_input(e: &Event) -> bool {
    matches!(e, Event::Motion { .. } | Event::Key { .. })
}

/// Sends `m` mixed events (rounded up to a multiple of four) in `mode` and
/// counts what arrives.
pub async fn measure(rig: &mut Rig<'_>, mode: Mode, m: usize) -> Result<Throughput> {
    let m = m.max(4).next_multiple_of(4);
    let messages = match mode {
        Mode::Awaited | Mode::Eis | Mode::EisPaced(_) => Vec::new(),
        Mode::Pipelined | Mode::Paced(_) => {
            let session = rig.rd.session.as_ref();
            (0..m)
                .map(|i| send::message(&session, send::mixed(i)))
                .collect::<Result<Vec<_>>>()?
        }
    };
    let counts_before = log_counts(&rig.ionchannel_log)?;
    let figures_before = status::total(&rig.rd.client.conn).await?;
    let mark = rig.tail.mark()?;
    let start_x = rig.tail.records().iter().rev().find_map(|r| match r.event {
        Event::Motion { x, .. } | Event::PointerEnter { x, .. } => Some(x),
        _ => None,
    });
    let cpu_start = rig.meter.read()?;
    let first_send = monotonic_us();
    let start = Instant::now();
    let conn = rig.rd.client.conn.clone();
    match mode {
        Mode::Awaited => {
            for i in 0..m {
                send::call(&rig.rd, send::mixed(i)).await?;
            }
        }
        Mode::Pipelined => {
            for msg in &messages {
                conn.send(msg).await.context("sending an input message")?;
            }
        }
        Mode::Eis | Mode::EisPaced(_) => {
            let eis = rig
                .eis
                .as_mut()
                .context("an EIS mode needs the rig's EIS client")?;
            let rate = match mode {
                Mode::EisPaced(rate) => Some(f64::from(rate)),
                _ => None,
            };
            for i in 0..m {
                if let Some(rate) = rate {
                    // Sleep when ahead of the schedule by a millisecond.
                    let due = Duration::from_secs_f64(i as f64 / rate);
                    let ahead = due.saturating_sub(start.elapsed());
                    if ahead >= Duration::from_millis(1) {
                        tokio::time::sleep(ahead).await;
                    }
                }
                send::eis(eis, send::mixed(i))?;
            }
        }
        Mode::Paced(rate) => {
            let mut pending = messages.iter();
            let mut sent = 0;
            while sent < m {
                let due = ((start.elapsed().as_secs_f64() * f64::from(rate)) as usize + 1).min(m);
                for msg in pending.by_ref().take(due.saturating_sub(sent)) {
                    conn.send(msg).await.context("sending an input message")?;
                    sent += 1;
                }
                if sent < m {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }
    let send_time = start.elapsed();
    let records = rig
        .tail
        .wait_for(mark, m, is_input, rig.quiet, rig.max_wait)
        .await?;
    let cpu = rig.meter.since(&cpu_start, m)?;
    // Order repair's window ends on provisional presses after the last
    // event: look once it has passed.
    tokio::time::sleep(REPAIR_SETTLE).await;
    rig.tail.mark()?;
    let held_at_end = held(rig.tail.records());
    let figures = status::total(&rig.rd.client.conn).await?;
    let counts = log_counts(&rig.ionchannel_log)?;
    let expected: String = (0..m).map(|i| symbol(send::mixed(i))).collect();
    let arrived = records.len().min(m);
    let total_us = records
        .last()
        .map(|r| r.t_us.saturating_sub(first_send))
        .unwrap_or(0);
    Ok(Throughput {
        mode: mode.name(),
        sent: m,
        arrived,
        lost: m - arrived,
        // The log shows only the first few refusals of a session.
        rate_limited: figures
            .rate_limited
            .saturating_sub(figures_before.rate_limited) as usize,
        dropped_redundant: counts.saturating_sub(counts_before),
        repaired: figures.repaired.saturating_sub(figures_before.repaired),
        stray_releases: figures
            .stray_releases
            .saturating_sub(figures_before.stray_releases),
        dropped_presses: figures
            .dropped_presses
            .saturating_sub(figures_before.dropped_presses),
        max_lag_us: figures.max_lag_us,
        held_at_end,
        in_order: start_x.is_some_and(|x| observed(&records, x) == expected),
        send_ms: send_time.as_secs_f64() * 1e3,
        total_ms: total_us as f64 / 1e3,
        events_per_s: if total_us == 0 {
            0.0
        } else {
            arrived as f64 * 1e6 / total_us as f64
        },
        cpu,
    })
}

/// How many redundant presses and releases the devices dropped, by
/// ionChannel's log (at debug; order repair leaves few).
fn log_counts(log: &Path) -> Result<usize> {
    let text = std::fs::read(log).with_context(|| format!("reading {}", log.display()))?;
    Ok(String::from_utf8_lossy(&text).matches(REDUNDANT).count())
}

/// Keys and buttons down after `records`, as the probe saw them.
pub fn held(records: &[Record]) -> usize {
    let mut down = std::collections::BTreeSet::new();
    for r in records {
        match &r.event {
            Event::Key { keycode, state, .. } => {
                if *state == PressState::Pressed {
                    down.insert((0, *keycode));
                } else {
                    down.remove(&(0, *keycode));
                }
            }
            Event::Button { button, state, .. } => {
                if *state == PressState::Pressed {
                    down.insert((1, *button));
                } else {
                    down.remove(&(1, *button));
                }
            }
            _ => {}
        }
    }
    down.len()
}

/// `+`/`-` for a motion right/left, `P`/`R` for a press/release.
fn symbol(input: Input) -> char {
    match input {
        Input::Motion(dx) if dx > 0.0 => '+',
        Input::Motion(_) => '-',
        Input::Key(true) => 'P',
        Input::Key(false) => 'R',
    }
}

/// The probe's records as [`symbol`]s, motion directions read from the
/// positions (starting at `x`).
fn observed(records: &[Record], mut x: f64) -> String {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Motion { x: new, .. } => {
                let c = if *new > x { '+' } else { '-' };
                x = *new;
                Some(c)
            }
            Event::Key { state, .. } => Some(if *state == PressState::Pressed {
                'P'
            } else {
                'R'
            }),
            _ => None,
        })
        .collect()
}
