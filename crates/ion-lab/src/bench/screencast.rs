//! `ionchannel-lab bench screencast`: a ScreenCast session through the
//! frontend on a 1920x1080 headless output, consumed by `ion-consumer`.
//!
//! - **Animated.** The probe redraws every frame (its frame callback) with
//!   a counter in its top-left corner, and logs when it committed each
//!   counter. The consumer logs when each frame arrived and the counter it
//!   shows. Figures: frames per second at the consumer, the probe's own
//!   rate beside it, counters the consumer never saw, and the latency from
//!   the probe's commit to the consumer holding the frame (both
//!   CLOCK_MONOTONIC; it includes the compositor's wait for its next
//!   repaint).
//! - **Capped.** The same with the consumer asking for at most N fps.
//! - **Static.** The probe gone, nothing changes on screen: frames sent and
//!   ionChannel's CPU over the same time.
//! - **Cost.** CPU time (utime + stime) of the ScreenCast portal backend
//!   and the compositor per phase and per frame; the backend's resident
//!   memory before and after.
//!
//! The backend is ionChannel, or xdg-desktop-portal-wlr side by side
//! (`--portal wlr`, [`ScreenCastPortal::Wlr`]): the same session through
//! the same frontend, the same consumer and the same measures. That needs
//! a frontend that reads `portals.conf` (1.17+: the testing stack); the
//! benchmark checks that the stream's node is the chosen backend's.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::input::{environment, Environment};
use super::procstat::{self, Memory, Meter};
use super::stats::{percentiles, Percentiles};
use crate::client::{PortalClient, ScreenCast};
use crate::consumer::FrameRecord;
use crate::probe::record::{monotonic_us, read_records, Event, Record};
use crate::testbed::{Component, OutputSpec, ProbeHandle, ScreenCastPortal, Testbed};

#[derive(Debug, Clone)]
pub struct ScreenCastBenchOptions {
    /// Length of each phase.
    pub duration: Duration,
    /// The consumer's cap in the capped phase.
    pub capped_fps: u32,
    pub output: OutputSpec,
    /// The backend the frontend routes ScreenCast to.
    pub portal: ScreenCastPortal,
    pub keep_logs: bool,
    /// What changes each frame besides the 64x8 counter (the probe's
    /// `--animate-area`: `WxH` or `full`); None: the counter only.
    pub area: Option<String>,
}

impl Default for ScreenCastBenchOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(10),
            capped_fps: 30,
            output: OutputSpec::new(1920, 1080),
            portal: ScreenCastPortal::IonChannel,
            keep_logs: false,
            area: None,
        }
    }
}

/// One phase's figures.
#[derive(Debug, Clone, Serialize)]
pub struct CastPhase {
    pub name: String,
    pub seconds: f64,
    /// Frames the consumer received.
    pub frames: usize,
    pub consumer_fps: f64,
    /// Frames the probe committed in the same time (the source's rate).
    pub probe_fps: f64,
    /// Distinct counters the probe committed that no frame showed.
    pub counters_missed: usize,
    /// Probe commit → consumer holds the frame, microseconds.
    pub latency_us: Option<Percentiles>,
    /// The compositor's timestamp of the frame (screencopy `ready`, the
    /// buffer header's pts) → consumer holds it: ionChannel's and
    /// PipeWire's share of the latency, microseconds.
    pub delivery_us: Option<Percentiles>,
    /// CPU time of the ScreenCast backend (ionChannel or xdpw).
    pub portal_cpu_us: u64,
    pub portal_cpu_us_per_frame: f64,
    /// The backend's CPU time as a share of one core over the phase.
    pub portal_cpu_percent: f64,
    pub compositor_cpu_percent: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScreenCastReport {
    pub environment: Environment,
    /// The ScreenCast backend measured, with its version.
    pub portal: String,
    /// What changed each frame: the counter, or `--area`'s WxH / full.
    pub workload: String,
    pub phases: Vec<CastPhase>,
    pub memory_before: Memory,
    pub memory_after: Memory,
}

/// Commit → arrival latency of every distinct counter the consumer saw
/// (its first arrival), in microseconds. `drawn` holds (counter, commit
/// time in µs); frames without a readable counter, or with a counter never
/// drawn, are skipped.
pub fn frame_latencies(frames: &[FrameRecord], drawn: &[(u32, u64)]) -> Vec<u64> {
    let commits: std::collections::HashMap<u32, u64> = drawn.iter().copied().collect();
    let mut seen = std::collections::HashSet::new();
    frames
        .iter()
        .filter_map(|f| {
            let c = f.counter?;
            if !seen.insert(c) {
                return None;
            }
            let committed = *commits.get(&c)?;
            (f.t_ns / 1000).checked_sub(committed)
        })
        .collect()
}

/// Counters drawn in `window` (µs) that no frame showed.
pub fn missed_counters(frames: &[FrameRecord], drawn: &[(u32, u64)], window: (u64, u64)) -> usize {
    let shown: std::collections::HashSet<u32> = frames.iter().filter_map(|f| f.counter).collect();
    drawn
        .iter()
        .filter(|(_, t)| (window.0..window.1).contains(t))
        .filter(|(c, _)| !shown.contains(c))
        .count()
}

fn drawn_on_first_output(records: &[Record]) -> Vec<(u32, u64)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::FrameDrawn {
                index: 0, frame, ..
            } => Some((*frame, r.t_us)),
            _ => None,
        })
        .collect()
}

pub fn run(opts: &ScreenCastBenchOptions, progress: &mut dyn Write) -> Result<ScreenCastReport> {
    let builder = Testbed::builder();
    writeln!(
        progress,
        "bench: starting a headless {} session with the animated probe…",
        builder.chosen_compositor()?
    )?;
    let testbed = builder
        .screencast_portal(opts.portal)
        .output(opts.output)
        .keep_logs(opts.keep_logs)
        .start()
        .context("starting the testbed")?;
    let mut probe_args = vec!["--animate"];
    if let Some(area) = &opts.area {
        probe_args.extend(["--animate-area", area.as_str()]);
    }
    let probe = testbed.start_probe_with_args(&probe_args)?;
    let environment = environment(&testbed)?;
    let portal = match opts.portal {
        ScreenCastPortal::IonChannel => format!("ionchannel {} build", environment.profile),
        ScreenCastPortal::Wlr => format!(
            "xdg-desktop-portal-wlr {}",
            package_version("xdg-desktop-portal-wlr")
        ),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("creating the async runtime")?;
    let result = runtime.block_on(phases(&testbed, probe, opts, progress));
    if result.is_err() && !opts.keep_logs {
        testbed.dump_logs();
    }
    drop(runtime);
    drop(testbed);
    let (phases, memory_before, memory_after) = result?;
    Ok(ScreenCastReport {
        workload: match &opts.area {
            Some(a) => format!("64x8 counter and a {a} area repainted every frame"),
            None => "64x8 counter repainted every frame".into(),
        },
        environment,
        portal,
        phases,
        memory_before,
        memory_after,
    })
}

async fn phases(
    testbed: &Testbed,
    probe: ProbeHandle,
    opts: &ScreenCastBenchOptions,
    progress: &mut dyn Write,
) -> Result<(Vec<CastPhase>, Memory, Memory)> {
    let portal = testbed.screencast_portal();
    let backend = testbed
        .program_pid(portal.component())
        .with_context(|| format!("{portal} is not running"))?;
    let meter = Meter::new(backend, None, testbed.program_pid(Component::Compositor));
    let client = PortalClient::connect(testbed.bus_address()).await?;
    let (sc, node) = start_monitor_cast(&client).await?;
    check_served_by(testbed, portal)?;
    let memory_before = procstat::memory(backend)?;
    let events = probe.events_path().to_owned();
    let mut phases = Vec::new();

    let capped = opts.capped_fps.to_string();
    for (name, extra) in [
        ("animated".to_owned(), vec![]),
        (
            format!("animated, consumer max {} fps", opts.capped_fps),
            vec!["--max-fps", capped.as_str()],
        ),
    ] {
        writeln!(progress, "bench: {name}, {:?}…", opts.duration)?;
        phases.push(phase(
            testbed,
            &meter,
            node,
            &name,
            &extra,
            opts.duration,
            Some(&events),
        )?);
    }
    probe.kill();
    // Let the compositor repaint without the probe, then nothing changes.
    std::thread::sleep(Duration::from_millis(500));
    writeln!(progress, "bench: static screen, {:?}…", opts.duration)?;
    phases.push(phase(
        testbed,
        &meter,
        node,
        "static",
        &[],
        opts.duration,
        None,
    )?);
    let memory_after = procstat::memory(backend)?;
    sc.close().await?;
    Ok((phases, memory_before, memory_after))
}

/// A ScreenCast session of one monitor (the backend's chooser picks it),
/// started: the session and its stream's node.
pub(crate) async fn start_monitor_cast(client: &PortalClient) -> Result<(ScreenCast<'_>, u32)> {
    let sc = ScreenCast::create(client).await?;
    sc.select_sources(1, false, 1).await?.ok()?;
    let (resp, results) = sc.start().await?;
    if resp.code != 0 {
        bail!("Start answered {}", resp.code);
    }
    let node = results
        .and_then(|r| r.streams.first().map(|s| s.node_id))
        .context("Start returned no stream")?;
    Ok((sc, node))
}

/// Fails unless `portal` serves the streams: a frontend that ignores
/// portals.conf (1.16) routes to ionChannel whatever was asked.
pub(crate) fn check_served_by(testbed: &Testbed, portal: ScreenCastPortal) -> Result<()> {
    let sources = video_sources(&testbed.pw_dump()?)?;
    if !sources.iter().any(|n| n.starts_with(portal.node_prefix())) {
        bail!(
            "the stream is not {portal}'s (Video/Source nodes: {sources:?}; {portal}'s \
             start with {}): does this frontend read portals.conf (1.17 or newer)?",
            portal.node_prefix()
        );
    }
    Ok(())
}

fn phase(
    testbed: &Testbed,
    meter: &Meter,
    node: u32,
    name: &str,
    extra: &[&str],
    duration: Duration,
    probe_events: Option<&std::path::Path>,
) -> Result<CastPhase> {
    let secs = format!("{}", duration.as_secs_f64() + 1.0);
    let mut args = vec!["--duration", secs.as_str()];
    args.extend_from_slice(extra);
    let consumer = testbed.start_consumer(node, false, &args)?;
    // The first second is start-up (link, negotiation, first frame); the
    // phase is measured after it.
    consumer.wait_for("the first frame", Duration::from_secs(10), |f| {
        (!f.is_empty()).then_some(())
    })?;
    std::thread::sleep(Duration::from_millis(200));
    let start = meter.read()?;
    let t0 = Instant::now();
    let from_us = monotonic_us();
    std::thread::sleep(duration);
    let cpu = meter.since(&start, 1)?;
    let seconds = t0.elapsed().as_secs_f64();
    let to_us = monotonic_us();
    let frames: Vec<FrameRecord> = consumer
        .frames()
        .into_iter()
        .filter(|f| (from_us..to_us).contains(&(f.t_ns / 1000)))
        .collect();
    consumer.kill();
    let drawn = match probe_events {
        Some(p) => drawn_on_first_output(&read_records(p)?),
        None => Vec::new(),
    };
    let drawn_in: Vec<(u32, u64)> = drawn
        .iter()
        .copied()
        .filter(|(_, t)| (from_us..to_us).contains(t))
        .collect();
    let n = frames.len();
    Ok(CastPhase {
        name: name.to_owned(),
        seconds,
        frames: n,
        consumer_fps: n as f64 / seconds,
        probe_fps: drawn_in.len() as f64 / seconds,
        counters_missed: missed_counters(&frames, &drawn, (from_us, to_us)),
        latency_us: percentiles(frame_latencies(&frames, &drawn)),
        delivery_us: percentiles(
            frames
                .iter()
                .filter_map(|f| {
                    let pts = u64::try_from(f.pts_ns?).ok()?;
                    (f.t_ns.checked_sub(pts)).map(|d| d / 1000)
                })
                .collect(),
        ),
        portal_cpu_us: cpu.ionchannel_us,
        portal_cpu_us_per_frame: if n == 0 {
            0.0
        } else {
            cpu.ionchannel_us as f64 / n as f64
        },
        portal_cpu_percent: cpu.ionchannel_us as f64 / (seconds * 1e4),
        compositor_cpu_percent: cpu.compositor_us as f64 / (seconds * 1e4),
    })
}

impl std::fmt::Display for ScreenCastReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env = &self.environment;
        writeln!(
            f,
            "ionchannel-lab bench screencast: {} CPUs, kernel {}, {}, {}, portal: {}",
            env.cpus, env.kernel, env.compositor, env.frontend, self.portal
        )?;
        writeln!(
            f,
            "outputs: {}; consumer: ion-consumer (shm, mapped); workload: {}",
            env.outputs.join(", "),
            self.workload
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<30} {:>6} {:>6} {:>6} {:>6} {:>20} {:>20} {:>9} {:>8} {:>6}",
            "phase",
            "frames",
            "fps",
            "probe",
            "missed",
            "change→consumer ms",
            "frame→consumer ms",
            "µs CPU/fr",
            "portal%",
            "comp%"
        )?;
        for p in &self.phases {
            let ms = |p: Option<Percentiles>| {
                p.map_or_else(
                    || "-".to_owned(),
                    |l| {
                        format!(
                            "{:.2}/{:.2}/{:.2}",
                            l.p50 as f64 / 1e3,
                            l.p90 as f64 / 1e3,
                            l.p99 as f64 / 1e3
                        )
                    },
                )
            };
            writeln!(
                f,
                "{:<30} {:>6} {:>6.1} {:>6.1} {:>6} {:>20} {:>20} {:>9.0} {:>8.2} {:>6.1}",
                p.name,
                p.frames,
                p.consumer_fps,
                p.probe_fps,
                p.counters_missed,
                ms(p.latency_us),
                ms(p.delivery_us),
                p.portal_cpu_us_per_frame,
                p.portal_cpu_percent,
                p.compositor_cpu_percent
            )?;
        }
        writeln!(
            f,
            "(p50/p90/p99; change = the probe's commit, frame = the compositor's capture timestamp)"
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "portal memory: RSS {} KiB after Start, {} KiB at the end (peak {} KiB)",
            self.memory_before.rss_kib, self.memory_after.rss_kib, self.memory_after.peak_kib
        )
    }
}

/// The `node.name` of every `Video/Source` node in a `pw-dump`.
fn video_sources(dump: &str) -> Result<Vec<String>> {
    let objects: Vec<serde_json::Value> =
        serde_json::from_str(dump).context("pw-dump is not JSON")?;
    Ok(objects
        .iter()
        .filter_map(|o| o.pointer("/info/props"))
        .filter(|p| p.get("media.class").and_then(|c| c.as_str()) == Some("Video/Source"))
        .filter_map(|p| {
            p.get("node.name")
                .and_then(|n| n.as_str())
                .map(str::to_owned)
        })
        .collect())
}

/// The Debian version of `package` on the stack the testbed runs: the
/// testing rootfs's package list when `ION_TESTING_ROOTFS` is set, else
/// the host's dpkg; "unknown" when neither says.
pub(crate) fn package_version(package: &str) -> String {
    if std::env::var_os("ION_TESTING_ROOTFS").is_some() {
        return crate::testing_rootfs::package_version(package)
            .unwrap_or_else(|| "unknown".to_owned());
    }
    std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", package])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn frame(t_ns: u64, counter: Option<u32>) -> FrameRecord {
        FrameRecord {
            t_ns,
            width: 4,
            height: 4,
            format: "BGRx".into(),
            size: 64,
            seq: None,
            pts_ns: None,
            damage: None,
            counter,
            valid: true,
            invalid: None,
            cursor: None,
            dmabuf: false,
            buffer: None,
            check: None,
        }
    }

    #[test]
    fn latency_is_first_arrival_minus_commit() {
        let drawn = [(1, 1_000), (2, 17_000), (3, 33_000)];
        let frames = [
            frame(9_000_000, Some(1)),
            // The same counter again (a repeated frame): not counted twice.
            frame(12_000_000, Some(1)),
            frame(21_000_000, None),
            frame(40_000_000, Some(3)),
            // Never drawn (another probe's): skipped.
            frame(41_000_000, Some(99)),
        ];
        assert_eq!(frame_latencies(&frames, &drawn), vec![8_000, 7_000]);
        assert_eq!(missed_counters(&frames, &drawn, (0, 40_000)), 1);
        assert_eq!(missed_counters(&frames, &drawn, (20_000, 40_000)), 0);
    }
}
