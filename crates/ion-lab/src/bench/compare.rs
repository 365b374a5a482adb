//! `ionchannel-lab bench screencast --portal both`: ionChannel and
//! xdg-desktop-portal-wlr side by side, in one run, on the same compositor,
//! over a set of workloads (issue 13): 1920x1080 and 3840x2160 with the
//! whole output animating, the same with only a 256x256 region animating,
//! and two outputs streaming at once. Each workload runs on a fresh
//! testbed per backend: the animated probe, one ScreenCast session per
//! output (each backend's chooser hands the outputs out in turn), one
//! `ion-consumer` per stream, one measured phase.
//!
//! Per row: frames per second at the consumer (per stream), the probe's
//! change → consumer latency p50/p99, the backend's and the compositor's
//! CPU time per frame delivered, and the backend's resident memory at the
//! end; under each pair, ionChannel's figures over xdpw's.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use super::input::{environment, Environment};
use super::procstat::{self, Meter};
use super::screencast::{check_served_by, frame_latencies, package_version, start_monitor_cast};
use super::stats::{percentiles, Percentiles};
use crate::client::PortalClient;
use crate::consumer::FrameRecord;
use crate::probe::record::{monotonic_us, read_records, Event};
use crate::testbed::{outputs_in_turn, Component, OutputSpec, ScreenCastPortal, Testbed};

/// One workload: the outputs (each streamed in its own session) and what
/// the probe repaints every frame besides its counter.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub name: String,
    #[serde(skip)]
    pub outputs: Vec<OutputSpec>,
    /// The probe's `--animate-area` (`WxH` or `full`).
    pub area: String,
}

/// The issue's workloads, in order.
pub fn standard_workloads() -> Vec<Workload> {
    let hd = OutputSpec::new(1920, 1080);
    let uhd = OutputSpec::new(3840, 2160);
    let w = |name: &str, outputs: Vec<OutputSpec>, area: &str| Workload {
        name: name.to_owned(),
        outputs,
        area: area.to_owned(),
    };
    vec![
        w("1080p full", vec![hd], "full"),
        w("1080p 256x256", vec![hd], "256x256"),
        w("4K full", vec![uhd], "full"),
        w("4K 256x256", vec![uhd], "256x256"),
        w(
            "2x1080p full",
            vec![hd.at(0, 0), OutputSpec::new(1920, 1080).at(1920, 0)],
            "full",
        ),
    ]
}

#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub duration: Duration,
    pub workloads: Vec<Workload>,
    /// The backends, each workload run with each (ionChannel and xdpw;
    /// ionChannel alone where xdpw is not installed, as in the VM lab).
    pub backends: Vec<ScreenCastPortal>,
    /// The consumers offer LINEAR dmabufs first (`--prefer-dmabuf`, as OBS
    /// does), so a backend that can fill dmabufs does.
    pub consumer_dmabuf: bool,
    /// Each workload runs this many times with every backend, the order
    /// of the backends alternating (ABBA…), so that a machine whose speed
    /// drifts during the run favours neither; the table shows medians.
    pub rounds: usize,
    pub keep_logs: bool,
}

/// One backend on one workload.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub workload: String,
    pub portal: String,
    /// Which round (1…); in the summary, how many rounds it stands for.
    pub round: usize,
    pub streams: usize,
    pub seconds: f64,
    /// Frames received, all streams.
    pub frames: usize,
    /// Frames per second per stream (the mean over streams).
    pub fps: f64,
    /// The probe's commit → consumer holds the frame, all streams, µs.
    pub latency_us: Option<Percentiles>,
    pub portal_cpu_us_per_frame: f64,
    /// The backend's context switches (all threads) per frame: how often
    /// it sleeps and wakes for each.
    pub portal_switches_per_frame: f64,
    pub compositor_cpu_us_per_frame: f64,
    /// The compositor's CPU per frame the probe drew before any capture
    /// (the workload alone); `compositor_cpu_us_per_frame` less this is
    /// what capturing costs it.
    pub idle_compositor_us_per_frame: f64,
    pub portal_rss_kib: u64,
    /// Frames that came in dmabufs.
    pub dmabuf_frames: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    pub environment: Environment,
    /// The backends measured, with their versions.
    pub backends: Vec<String>,
    /// What the consumers take: "shm" or "dmabuf preferred".
    pub consumer: String,
    pub rounds: usize,
    /// Every run, all rounds.
    pub rows: Vec<Row>,
}

pub fn run(opts: &CompareOptions, progress: &mut dyn Write) -> Result<CompareReport> {
    let mut rows = Vec::new();
    let mut env = None;
    let rounds = opts.rounds.max(1);
    for workload in &opts.workloads {
        for round in 1..=rounds {
            let mut order = opts.backends.clone();
            if round % 2 == 0 {
                order.reverse();
            }
            for portal in order {
                writeln!(
                    progress,
                    "bench: {}, {portal}, {:?}{}…",
                    workload.name,
                    opts.duration,
                    if rounds > 1 {
                        format!(", round {round} of {rounds}")
                    } else {
                        String::new()
                    }
                )?;
                let (mut row, e) = run_one(workload, portal, opts)
                    .with_context(|| format!("{} with {portal}", workload.name))?;
                row.round = round;
                rows.push(row);
                env.get_or_insert(e);
            }
        }
    }
    Ok(CompareReport {
        environment: env.context("no workload")?,
        backends: opts
            .backends
            .iter()
            .map(|b| match b {
                ScreenCastPortal::IonChannel => format!("ionchannel ({} build)", profile()),
                ScreenCastPortal::Wlr => format!(
                    "xdg-desktop-portal-wlr {}",
                    package_version("xdg-desktop-portal-wlr")
                ),
            })
            .collect(),
        consumer: if opts.consumer_dmabuf {
            "dmabuf preferred".into()
        } else {
            "shm".into()
        },
        rounds,
        rows,
    })
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

fn run_one(
    workload: &Workload,
    portal: ScreenCastPortal,
    opts: &CompareOptions,
) -> Result<(Row, Environment)> {
    let dir = tempfile::tempdir().context("a scratch directory")?;
    let mut builder = Testbed::builder()
        .screencast_portal(portal)
        .outputs(workload.outputs.clone())
        .keep_logs(opts.keep_logs);
    if portal == ScreenCastPortal::IonChannel {
        // The person picks the outputs in turn, as xdpw's chooser does.
        let answers: Vec<String> = (0..workload.outputs.len())
            .map(|i| {
                format!(
                    r#"{{"allow":true,"outputs":["{}"]}}"#,
                    crate::testbed::headless_name(i)
                )
            })
            .collect();
        let script = dir.path().join("chooser.sh");
        std::fs::write(
            &script,
            outputs_in_turn(&answers, &dir.path().join("chooser.state")),
        )?;
        builder = builder.policy(format!(
            "[dialog]\ncommand = [\"sh\", \"{}\"]\ntimeout = 30\n",
            script.display()
        ));
    }
    let testbed = builder.start().context("starting the testbed")?;
    let probe = testbed.start_probe_with_args(&["--animate", "--animate-area", &workload.area])?;
    let env = environment(&testbed)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("creating the async runtime")?;
    let result = runtime.block_on(measure(
        &testbed,
        probe.events_path(),
        workload,
        portal,
        opts,
    ));
    if result.is_err() && !opts.keep_logs {
        testbed.dump_logs();
    }
    Ok((result?, env))
}

async fn measure(
    testbed: &Testbed,
    probe_events: &std::path::Path,
    workload: &Workload,
    portal: ScreenCastPortal,
    opts: &CompareOptions,
) -> Result<Row> {
    let backend = testbed
        .program_pid(portal.component())
        .with_context(|| format!("{portal} is not running"))?;
    let meter = Meter::new(backend, None, testbed.program_pid(Component::Compositor));
    let client = PortalClient::connect(testbed.bus_address()).await?;

    // The compositor's cost of the workload alone, before anything
    // captures: what it spends per frame the probe draws. The capture's
    // own cost is what a frame costs it on top of that.
    let drawn_in = |from: u64, to: u64| -> Result<usize> {
        Ok(read_records(probe_events)?
            .iter()
            .filter(|r| matches!(r.event, Event::FrameDrawn { .. }) && (from..to).contains(&r.t_us))
            .count())
    };
    let idle_start = meter.read()?;
    let idle_from = monotonic_us();
    std::thread::sleep(opts.duration / 2);
    let idle = meter.since(&idle_start, 1)?;
    let idle_drawn = drawn_in(idle_from, monotonic_us())?;
    let idle_compositor_us_per_frame = if idle_drawn == 0 {
        0.0
    } else {
        idle.compositor_us as f64 / idle_drawn as f64
    };

    let mut sessions = Vec::new();
    let mut consumers = Vec::new();
    let secs = format!("{}", opts.duration.as_secs_f64() + 3.0);
    let mut consumer_args = vec!["--duration", secs.as_str()];
    if opts.consumer_dmabuf {
        consumer_args.push("--prefer-dmabuf");
    }
    for _ in &workload.outputs {
        let (sc, node) = start_monitor_cast(&client).await?;
        consumers.push(testbed.start_consumer(node, false, &consumer_args)?);
        sessions.push(sc);
    }
    check_served_by(testbed, portal)?;
    for c in &consumers {
        c.wait_for("the first frame", Duration::from_secs(15), |f| {
            (!f.is_empty()).then_some(())
        })?;
    }
    std::thread::sleep(Duration::from_millis(300));
    let start = meter.read()?;
    let switches_before = procstat::context_switches(backend)?;
    let t0 = Instant::now();
    let from_us = monotonic_us();
    std::thread::sleep(opts.duration);
    let cpu = meter.since(&start, 1)?;
    let switches = procstat::context_switches(backend)?.saturating_sub(switches_before);
    let seconds = t0.elapsed().as_secs_f64();
    let to_us = monotonic_us();
    let rss_kib = procstat::memory(backend)?.rss_kib;

    let records = read_records(probe_events)?;
    let mut frames_total = 0;
    let mut dmabuf_frames = 0;
    let mut latencies = Vec::new();
    for (index, consumer) in consumers.into_iter().enumerate() {
        let frames: Vec<FrameRecord> = consumer
            .frames()
            .into_iter()
            .filter(|f| (from_us..to_us).contains(&(f.t_ns / 1000)))
            .collect();
        consumer.kill();
        // The probe numbers the outputs in name order, as they are
        // handed out to the sessions.
        let drawn: Vec<(u32, u64)> = records
            .iter()
            .filter_map(|r| match &r.event {
                Event::FrameDrawn {
                    index: i, frame, ..
                } if *i as usize == index => Some((*frame, r.t_us)),
                _ => None,
            })
            .collect();
        latencies.extend(frame_latencies(&frames, &drawn));
        frames_total += frames.len();
        dmabuf_frames += frames.iter().filter(|f| f.dmabuf).count();
    }
    for sc in sessions {
        sc.close().await?;
    }
    let per_frame = |us: u64| {
        if frames_total == 0 {
            0.0
        } else {
            us as f64 / frames_total as f64
        }
    };
    Ok(Row {
        workload: workload.name.clone(),
        portal: portal.to_string(),
        round: 1,
        streams: workload.outputs.len(),
        seconds,
        frames: frames_total,
        fps: frames_total as f64 / seconds / workload.outputs.len().max(1) as f64,
        latency_us: percentiles(latencies),
        portal_cpu_us_per_frame: per_frame(cpu.ionchannel_us),
        portal_switches_per_frame: per_frame(switches),
        compositor_cpu_us_per_frame: per_frame(cpu.compositor_us),
        idle_compositor_us_per_frame,
        portal_rss_kib: rss_kib,
        dmabuf_frames,
    })
}

/// `a / b`, or "-" when it means nothing.
fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() {
        format!("{:.2}", a / b)
    } else {
        "-".into()
    }
}

impl Row {
    /// What capturing cost the compositor per frame: its CPU per frame
    /// with the streams, less its CPU per frame on the workload alone.
    pub fn capture_us_per_frame(&self) -> f64 {
        (self.compositor_cpu_us_per_frame - self.idle_compositor_us_per_frame).max(0.0)
    }
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// One row standing for `rows` (the same workload and backend over the
/// rounds): counts summed, rates and costs their medians, RSS the largest.
fn summarize(rows: &[&Row]) -> Option<Row> {
    let first = rows.first()?;
    let med = |f: &dyn Fn(&Row) -> f64| median(rows.iter().map(|r| f(r)).collect());
    let latency = {
        let known: Vec<Percentiles> = rows.iter().filter_map(|r| r.latency_us).collect();
        let pick = |f: &dyn Fn(&Percentiles) -> u64| {
            median(known.iter().map(|p| f(p) as f64).collect()).round() as u64
        };
        (!known.is_empty()).then(|| Percentiles {
            samples: known.iter().map(|p| p.samples).sum(),
            p50: pick(&|p| p.p50),
            p90: pick(&|p| p.p90),
            p99: pick(&|p| p.p99),
            max: known.iter().map(|p| p.max).max().unwrap_or(0),
        })
    };
    Some(Row {
        workload: first.workload.clone(),
        portal: first.portal.clone(),
        round: rows.len(),
        streams: first.streams,
        seconds: rows.iter().map(|r| r.seconds).sum(),
        frames: rows.iter().map(|r| r.frames).sum(),
        fps: med(&|r| r.fps),
        latency_us: latency,
        portal_cpu_us_per_frame: med(&|r| r.portal_cpu_us_per_frame),
        portal_switches_per_frame: med(&|r| r.portal_switches_per_frame),
        compositor_cpu_us_per_frame: med(&|r| r.compositor_cpu_us_per_frame),
        idle_compositor_us_per_frame: med(&|r| r.idle_compositor_us_per_frame),
        portal_rss_kib: rows.iter().map(|r| r.portal_rss_kib).max().unwrap_or(0),
        dmabuf_frames: rows.iter().map(|r| r.dmabuf_frames).sum(),
    })
}

impl CompareReport {
    /// One row per workload and backend, in the order run: each the
    /// summary of its rounds.
    pub fn summary(&self) -> Vec<Row> {
        let mut keys: Vec<(&str, &str)> = Vec::new();
        for r in &self.rows {
            let key = (r.workload.as_str(), r.portal.as_str());
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys.into_iter()
            .filter_map(|(w, p)| {
                let rows: Vec<&Row> = self
                    .rows
                    .iter()
                    .filter(|r| r.workload == w && r.portal == p)
                    .collect();
                summarize(&rows)
            })
            .collect()
    }

    /// The backend's CPU per frame over the other's, round by round, for
    /// a workload (ionChannel first, as the table's ratio rows).
    fn cpu_ratios_by_round(&self, workload: &str, ion: &str, wlr: &str) -> Vec<f64> {
        (1..=self.rounds)
            .filter_map(|round| {
                let find = |portal: &str| {
                    self.rows
                        .iter()
                        .find(|r| r.workload == workload && r.portal == portal && r.round == round)
                };
                let (a, b) = (find(ion)?, find(wlr)?);
                (b.portal_cpu_us_per_frame > 0.0)
                    .then(|| a.portal_cpu_us_per_frame / b.portal_cpu_us_per_frame)
            })
            .collect()
    }
}

impl std::fmt::Display for CompareReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env = &self.environment;
        writeln!(
            f,
            "ionchannel-lab bench screencast, workloads: {} CPUs, kernel {}, {}, {}",
            env.cpus, env.kernel, env.compositor, env.frontend
        )?;
        writeln!(
            f,
            "backends: {}; consumer: ion-consumer ({}, mapped), one per stream",
            self.backends.join(" and "),
            self.consumer
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<15} {:<24} {:>7} {:>7} {:>16} {:>11} {:>8} {:>11} {:>11} {:>9} {:>7}",
            "workload",
            "backend",
            "frames",
            "fps",
            "latency p50/p99",
            "µs CPU/fr",
            "sw/fr",
            "comp µs/fr",
            "capture µs",
            "RSS KiB",
            "dmabuf"
        )?;
        let ms = |p: &Option<Percentiles>| {
            p.map_or_else(
                || "-".to_owned(),
                |l| format!("{:.1}/{:.1} ms", l.p50 as f64 / 1e3, l.p99 as f64 / 1e3),
            )
        };
        let summary = self.summary();
        let first = summary.first().map(|r| r.workload.as_str());
        let per_workload = summary
            .iter()
            .filter(|r| Some(r.workload.as_str()) == first)
            .count()
            .max(1);
        for group in summary.chunks(per_workload) {
            for r in group {
                writeln!(
                    f,
                    "{:<15} {:<24} {:>7} {:>7.1} {:>16} {:>11.0} {:>8.1} {:>11.0} {:>11.0} {:>9} {:>7}",
                    r.workload,
                    r.portal,
                    r.frames,
                    r.fps,
                    ms(&r.latency_us),
                    r.portal_cpu_us_per_frame,
                    r.portal_switches_per_frame,
                    r.compositor_cpu_us_per_frame,
                    r.capture_us_per_frame(),
                    r.portal_rss_kib,
                    r.dmabuf_frames
                )?;
            }
            if let [ion, wlr] = group {
                let lat = |r: &Row, p99: bool| {
                    r.latency_us
                        .map_or(f64::NAN, |l| (if p99 { l.p99 } else { l.p50 }) as f64)
                };
                writeln!(
                    f,
                    "{:<15} {:<24} {:>7} {:>7} {:>16} {:>11} {:>8} {:>11} {:>11} {:>9}",
                    "",
                    "  ionChannel / xdpw",
                    "",
                    ratio(ion.fps, wlr.fps),
                    format!(
                        "{}/{}",
                        ratio(lat(ion, false), lat(wlr, false)),
                        ratio(lat(ion, true), lat(wlr, true))
                    ),
                    ratio(ion.portal_cpu_us_per_frame, wlr.portal_cpu_us_per_frame),
                    ratio(ion.portal_switches_per_frame, wlr.portal_switches_per_frame),
                    ratio(
                        ion.compositor_cpu_us_per_frame,
                        wlr.compositor_cpu_us_per_frame
                    ),
                    ratio(ion.capture_us_per_frame(), wlr.capture_us_per_frame()),
                    ratio(ion.portal_rss_kib as f64, wlr.portal_rss_kib as f64)
                )?;
                if self.rounds > 1 {
                    let by_round: Vec<String> = self
                        .cpu_ratios_by_round(&ion.workload, &ion.portal, &wlr.portal)
                        .iter()
                        .map(|r| format!("{r:.2}"))
                        .collect();
                    writeln!(
                        f,
                        "{:<15} {:<24} CPU/frame by round: {}",
                        "",
                        "",
                        by_round.join(" ")
                    )?;
                }
            }
        }
        writeln!(f)?;
        if self.rounds > 1 {
            writeln!(
                f,
                "({} rounds, the backends' order alternating: frames summed, the rest medians over the rounds, RSS the largest)",
                self.rounds
            )?;
        }
        writeln!(
            f,
            "(fps per stream; latency: the probe's commit → the consumer holds the frame; CPU and context switches (sw) per frame delivered, all streams;"
        )?;
        writeln!(
            f,
            " capture: the compositor's CPU per frame less what it spent per frame on the workload before anything captured)"
        )?;
        // The issue's second target: a small changing region costs the
        // compositor much less per frame than the whole output.
        for res in ["1080p", "4K"] {
            for portal in ["ionchannel", "xdg-desktop-portal-wlr"] {
                let row = |workload: String| {
                    summary
                        .iter()
                        .find(|r| r.workload == workload && r.portal == portal)
                };
                if let (Some(full), Some(small)) =
                    (row(format!("{res} full")), row(format!("{res} 256x256")))
                {
                    writeln!(
                        f,
                        "{res}, {portal}: a 256x256 region costs the compositor {} times less per frame than the full output, and its capture {} times less",
                        ratio(full.compositor_cpu_us_per_frame, small.compositor_cpu_us_per_frame),
                        ratio(full.capture_us_per_frame(), small.capture_us_per_frame())
                    )?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn row(portal: &str, round: usize, cpu: f64, frames: usize, rss: u64) -> Row {
        Row {
            workload: "1080p full".into(),
            portal: portal.into(),
            round,
            streams: 1,
            seconds: 10.0,
            frames,
            fps: frames as f64 / 10.0,
            latency_us: percentiles(vec![16_000 + round as u64 * 100; 3]),
            portal_cpu_us_per_frame: cpu,
            portal_switches_per_frame: 2.0,
            compositor_cpu_us_per_frame: 1000.0,
            idle_compositor_us_per_frame: 100.0,
            portal_rss_kib: rss,
            dmabuf_frames: 0,
        }
    }

    fn report(rows: Vec<Row>, rounds: usize) -> CompareReport {
        CompareReport {
            environment: Environment {
                cpus: 2,
                kernel: "k".into(),
                compositor: "c".into(),
                frontend: "f".into(),
                ionchannel: "ionchannel".into(),
                profile: "release".into(),
                outputs: Vec::new(),
                rate_limit_per_s: 8000,
                rate_limit_burst: 4000,
            },
            backends: vec!["ionchannel".into(), "xdg-desktop-portal-wlr".into()],
            consumer: "shm".into(),
            rounds,
            rows,
        }
    }

    #[test]
    fn rounds_summarize_to_medians_and_sums_in_the_order_run() {
        let ion = "ionchannel";
        let wlr = "xdg-desktop-portal-wlr";
        // Round 2 ran xdpw first (ABBA): the summary keeps the order of
        // the first round.
        let r = report(
            vec![
                row(ion, 1, 100.0, 600, 11_000),
                row(wlr, 1, 125.0, 590, 7_000),
                row(wlr, 2, 80.0, 610, 7_100),
                row(ion, 2, 96.0, 605, 11_500),
                row(ion, 3, 300.0, 580, 11_200),
                row(wlr, 3, 100.0, 600, 7_050),
            ],
            3,
        );
        let s = r.summary();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].portal.as_str(), s[1].portal.as_str()), (ion, wlr));
        // The median, not the mean: one slow round does not move it.
        assert_eq!(s[0].portal_cpu_us_per_frame, 100.0);
        assert_eq!(s[1].portal_cpu_us_per_frame, 100.0);
        assert_eq!(s[0].frames, 1785);
        assert_eq!(s[0].round, 3);
        assert_eq!(s[0].portal_rss_kib, 11_500);
        assert_eq!(s[0].latency_us.unwrap().p50, 16_200);
        let by_round = r.cpu_ratios_by_round("1080p full", ion, wlr);
        assert_eq!(by_round, [0.8, 1.2, 3.0]);
        let text = r.to_string();
        assert!(
            text.contains("CPU/frame by round: 0.80 1.20 3.00"),
            "{text}"
        );
        assert!(text.contains("3 rounds"), "{text}");
    }

    #[test]
    fn the_median_of_an_even_count_is_the_middle_twos_mean() {
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![5.0]), 5.0);
        assert!(median(Vec::new()).is_nan());
    }
}
