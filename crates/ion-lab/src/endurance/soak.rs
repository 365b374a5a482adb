//! `ionchannel-lab soak --minutes N` (issue 14): sessions opened and closed
//! in a loop against one daemon, through the real frontend, PipeWire and
//! compositor, with frames consumed, input injected and EIS used; the
//! daemon's RSS, fds and threads sampled after every cycle and judged for
//! growth (`sample::growth`).
//!
//! A cycle:
//! 1. a RemoteDesktop session with a monitor stream (RustDesk's set-up):
//!    the lab's consumer takes frames, 20 key taps and pointer motion go
//!    in, the probe must see every tap released; the session is closed
//!    and the consumer stopped;
//! 2. a ScreenCast session started and closed without a consumer;
//! 3. where the frontend has ConnectToEIS (1.17+): a RemoteDesktop session
//!    whose input goes through EIS (10 taps), the client hangs up, the
//!    session is closed.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde::Serialize;

use super::sample::{growth, sample, Growth, Sample};
use super::unreleased;
use crate::client::eis::{Capability, EisClient};
use crate::client::{PortalClient, RemoteDesktop, ScreenCast, KEY_A};
use crate::expect::ProbeLog;
use crate::testbed::{Capability as TestbedCapability, Component, OutputSpec, Testbed};

const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub duration: Duration,
    pub keep_logs: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub compositor: String,
    pub minutes: f64,
    pub cycles: u64,
    pub sessions: u64,
    pub frames: u64,
    pub keys: u64,
    pub eis_sessions: u64,
    pub samples: Vec<Sample>,
    pub growth: Growth,
}

impl SoakReport {
    pub fn grew(&self) -> bool {
        !self.growth.grew.is_empty()
    }
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "ionchannel-lab soak on {}: {:.1} min, {} cycles, {} sessions, {} frames consumed, {} key taps, {} EIS sessions",
            self.compositor,
            self.minutes,
            self.cycles,
            self.sessions,
            self.frames,
            self.keys,
            self.eis_sessions
        )?;
        if let (Some(first), Some(last)) = (self.samples.first(), self.samples.last()) {
            writeln!(
                f,
                "first sample: RSS {} KiB (anon+shm {}), {} fds, {} threads; last: RSS {} KiB (anon+shm {}), {} fds, {} threads",
                first.rss_kib, first.private_kib, first.fds, first.threads, last.rss_kib, last.private_kib, last.fds, last.threads
            )?;
        }
        write!(f, "{}", self.growth)
    }
}

pub fn run(opts: &SoakOptions, progress: &mut dyn std::io::Write) -> Result<SoakReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(soak(opts, progress))
}

struct Counts {
    cycles: u64,
    sessions: u64,
    frames: u64,
    keys: u64,
    eis_sessions: u64,
}

async fn soak(opts: &SoakOptions, progress: &mut dyn std::io::Write) -> Result<SoakReport> {
    let testbed = Testbed::builder()
        .outputs([OutputSpec::new(1280, 720)])
        .keep_logs(opts.keep_logs)
        .start()
        .context("starting the testbed")?;
    let compositor = testbed
        .compositor_version()
        .map_or_else(|_| testbed.compositor().to_string(), |v| v.short());
    writeln!(progress, "soak: {compositor}, for {:?}", opts.duration)?;
    let probe = testbed.start_probe_with_args(&["--animate"])?;
    let log = ProbeLog::new(probe.events_path());
    let client = PortalClient::connect(testbed.bus_address()).await?;
    let pointer = testbed.supports(TestbedCapability::VirtualPointer).is_ok();
    let types = if pointer { 3 } else { 1 };
    let eis = RemoteDesktop::frontend_version(&client).await? >= 2;
    let pid = testbed
        .program_pid(Component::IonChannel)
        .context("ionchannel is not running")?;
    let started = Instant::now();
    let mut counts = Counts {
        cycles: 0,
        sessions: 0,
        frames: 0,
        keys: 0,
        eis_sessions: 0,
    };
    let mut samples = Vec::new();
    let mut next_report = Instant::now();
    while started.elapsed() < opts.duration {
        cycle(&testbed, &client, &log, types, eis, &mut counts)
            .await
            .with_context(|| format!("soak cycle {}", counts.cycles + 1))?;
        ensure!(
            testbed.is_running(Component::IonChannel),
            "ionchannel exited during the soak"
        );
        counts.cycles += 1;
        samples.push(sample(pid, started.elapsed().as_secs_f64())?);
        if Instant::now() >= next_report {
            if let Some(s) = samples.last() {
                writeln!(
                    progress,
                    "soak: {:>5.1} min, {} cycles: RSS {} KiB (anon+shm {}), {} fds, {} threads",
                    s.t / 60.0,
                    counts.cycles,
                    s.rss_kib,
                    s.private_kib,
                    s.fds,
                    s.threads
                )?;
            }
            next_report = Instant::now() + Duration::from_secs(60);
        }
    }
    let log_text = std::fs::read_to_string(testbed.log_path(Component::IonChannel))?;
    ensure!(
        !log_text.contains("panicked"),
        "the daemon panicked during the soak"
    );
    Ok(SoakReport {
        compositor,
        minutes: started.elapsed().as_secs_f64() / 60.0,
        cycles: counts.cycles,
        sessions: counts.sessions,
        frames: counts.frames,
        keys: counts.keys,
        eis_sessions: counts.eis_sessions,
        growth: growth(&samples),
        samples,
    })
}

async fn cycle(
    testbed: &Testbed,
    client: &PortalClient,
    log: &ProbeLog,
    types: u32,
    eis: bool,
    counts: &mut Counts,
) -> Result<()> {
    // 1. RemoteDesktop with a stream: frames, key taps, motion.
    let mark = log.mark()?;
    let rd = RemoteDesktop::create(client).await?;
    rd.select_devices(types).await?.ok()?;
    rd.select_sources(1, false, 2).await?.ok()?;
    let (resp, results) = rd.start().await?;
    ensure!(resp.code == 0, "Start answered {}", resp.code);
    counts.sessions += 1;
    let node = results
        .and_then(|r| r.streams.first().map(|s| s.node_id))
        .context("no stream")?;
    log.wait_capabilities(types & 2 != 0, true).await?;
    let consumer = testbed.start_consumer(node, false, &[])?;
    let frames = consumer.wait_for("frames", WAIT, |f| (f.len() >= 3).then_some(f.len()))?;
    counts.frames += frames as u64;
    const TAPS: usize = 20;
    for i in 0..TAPS {
        rd.keycode(KEY_A, true).await?;
        if types & 2 != 0 {
            rd.pointer_motion(if i % 2 == 0 { 3.0 } else { -3.0 }, 1.0)
                .await?;
        }
        rd.keycode(KEY_A, false).await?;
    }
    counts.keys += TAPS as u64;
    log.wait_since(mark, WAIT, "every tap released", |r| {
        let releases = super::key_events(r)
            .filter(|(k, pressed)| *k == KEY_A as u32 && !pressed)
            .count();
        (releases >= TAPS).then_some(())
    })
    .await?;
    rd.close().await?;
    consumer.kill();

    // 2. ScreenCast alone, started and closed.
    let sc = ScreenCast::create(client).await?;
    sc.select_sources(1, false, 1).await?.ok()?;
    let (resp, _) = sc.start().await?;
    ensure!(resp.code == 0, "ScreenCast Start answered {}", resp.code);
    counts.sessions += 1;
    sc.close().await?;

    // 3. EIS.
    if eis {
        let mark = log.mark()?;
        let rd = RemoteDesktop::create(client).await?;
        rd.select_devices(types).await?.ok()?;
        let (resp, _) = rd.start().await?;
        ensure!(resp.code == 0, "Start answered {}", resp.code);
        counts.sessions += 1;
        log.wait_capabilities(types & 2 != 0, true).await?;
        let fd = rd.connect_to_eis().await?;
        let mut client = EisClient::connect(fd, "ionchannel-lab soak").await?;
        client
            .bind_waiting(
                Capability::Keyboard | Capability::Pointer,
                Capability::Keyboard.into(),
            )
            .await?;
        const EIS_TAPS: usize = 10;
        for _ in 0..EIS_TAPS {
            client.key(KEY_A as u32, true)?;
            client.key(KEY_A as u32, false)?;
        }
        client.flush()?;
        log.wait_since(mark, WAIT, "every EIS tap released", |r| {
            let releases = super::key_events(r)
                .filter(|(k, pressed)| *k == KEY_A as u32 && !pressed)
                .count();
            (releases >= EIS_TAPS).then_some(())
        })
        .await?;
        counts.keys += EIS_TAPS as u64;
        client.disconnect()?;
        rd.close().await?;
        counts.eis_sessions += 1;
    }
    // Nothing stays held.
    let held = unreleased(&log.records()?);
    if !held.is_empty() {
        bail!("keys held after the cycle: {held:?}");
    }
    Ok(())
}
