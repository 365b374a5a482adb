//! `ionchannel-lab bench input`: brings the testbed up, starts a
//! RemoteDesktop session through the frontend and runs every phase.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::latency::{self, Device, Latency};
use super::procstat::{self, Memory, Meter};
use super::tail::Tail;
use super::throughput::{self, Mode, Throughput};
use crate::client::eis::Capability;
use crate::client::{EisClient, PortalClient, RemoteDesktop, KEYBOARD, POINTER};
use crate::demo::default_outputs;
use crate::expect::ProbeLog;
use crate::probe::record::Event;
use crate::testbed::{find_workspace_bin, Component, OutputSpec, Testbed};

/// ionChannel's default rate limit (`ionchannel serve --rate --burst`),
/// which the testbed runs with.
pub const DAEMON_RATE: u32 = 8000;
pub const DAEMON_BURST: u32 = 4000;

/// How the input benchmark runs.
#[derive(Debug, Clone)]
pub struct InputBenchOptions {
    /// Calls per latency run (pointer, then keyboard).
    pub latency_events: usize,
    /// Time between two latency calls.
    pub interval: Duration,
    /// Events per throughput run.
    pub throughput_events: usize,
    /// Events per second of the paced pipelined run.
    pub paced_rate: u32,
    /// No new probe record for this long: the rest was lost.
    pub quiet: Duration,
    /// The headless outputs.
    pub outputs: Vec<OutputSpec>,
    /// Print the tail of every log at teardown.
    pub keep_logs: bool,
}

impl Default for InputBenchOptions {
    fn default() -> Self {
        InputBenchOptions {
            latency_events: 2000,
            interval: Duration::from_millis(1),
            throughput_events: 20_000,
            paced_rate: DAEMON_RATE / 20 * 19,
            quiet: Duration::from_secs(2),
            outputs: default_outputs(),
            keep_logs: false,
        }
    }
}

/// Where the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub cpus: usize,
    pub kernel: String,
    /// The compositor's `--version` line.
    pub compositor: String,
    pub frontend: String,
    /// The `ionchannel` binary the testbed ran.
    pub ionchannel: String,
    /// "debug" or "release", from that binary's path.
    pub profile: String,
    pub outputs: Vec<String>,
    /// The daemon's rate limit: sustained events per second, and burst.
    pub rate_limit_per_s: u32,
    pub rate_limit_burst: u32,
}

/// Every figure of one run.
#[derive(Debug, Clone, Serialize)]
pub struct InputReport {
    pub environment: Environment,
    pub latency: Vec<Latency>,
    pub throughput: Vec<Throughput>,
    /// Why the EIS phases did not run (the frontend has no ConnectToEIS).
    pub eis_skipped: Option<String>,
    /// ionChannel's memory once the session started, and at the end.
    pub memory_before: Memory,
    pub memory_after: Memory,
}

/// What the phases share.
pub struct Rig<'a> {
    pub rd: RemoteDesktop<'a>,
    /// The session's EIS client, once the EIS phases run: input then goes
    /// through it instead of Notify*.
    pub eis: Option<EisClient>,
    pub tail: Tail,
    pub meter: Meter,
    pub ionchannel_log: PathBuf,
    pub quiet: Duration,
    pub max_wait: Duration,
}

/// Runs the input benchmark, with progress on `progress`.
pub fn run(opts: &InputBenchOptions, progress: &mut dyn Write) -> Result<InputReport> {
    let builder = Testbed::builder();
    writeln!(
        progress,
        "bench: starting a headless {} session with the probe…",
        builder.chosen_compositor()?
    )?;
    let testbed = builder
        .outputs(opts.outputs.clone())
        .keep_logs(opts.keep_logs)
        .start()
        .context("starting the testbed")?;
    let probe = testbed.start_probe()?;
    let environment = environment(&testbed)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("creating the async runtime")?;
    let result = runtime.block_on(phases(&testbed, probe.events_path(), opts, progress));
    if result.is_err() && !opts.keep_logs {
        testbed.dump_logs();
    }
    drop(runtime);
    drop(probe);
    drop(testbed);
    let (latency, throughput, eis_skipped, memory_before, memory_after) = result?;
    Ok(InputReport {
        environment,
        latency,
        throughput,
        eis_skipped,
        memory_before,
        memory_after,
    })
}

type Phases = (
    Vec<Latency>,
    Vec<Throughput>,
    Option<String>,
    Memory,
    Memory,
);

async fn phases(
    testbed: &Testbed,
    events: &std::path::Path,
    opts: &InputBenchOptions,
    progress: &mut dyn Write,
) -> Result<Phases> {
    let ionchannel = testbed
        .program_pid(Component::IonChannel)
        .context("ionchannel is not running")?;
    let meter = Meter::new(
        ionchannel,
        testbed.program_pid(Component::Frontend),
        testbed.program_pid(Component::Compositor),
    );
    let client = PortalClient::connect(testbed.bus_address()).await?;
    let rd = RemoteDesktop::create(&client).await?;
    rd.select_devices(KEYBOARD | POINTER).await?.ok()?;
    let (response, _) = rd.start().await?;
    if response.code != 0 {
        bail!("Start answered {}", response.code);
    }
    ProbeLog::new(events).wait_capabilities(true, true).await?;
    let mut rig = Rig {
        rd,
        eis: None,
        tail: Tail::open(events)?,
        meter,
        ionchannel_log: testbed.log_path(Component::IonChannel),
        quiet: opts.quiet,
        max_wait: Duration::from_secs(120),
    };
    // Park the pointer inside the first output, where ±1 px moves stay on
    // the probe's surface.
    let mark = rig.tail.mark()?;
    rig.rd.pointer_motion(300.0, 300.0).await?;
    let parked = rig
        .tail
        .wait_for(
            mark,
            1,
            |e| matches!(e, Event::Motion { .. } | Event::PointerEnter { .. }),
            Duration::from_secs(10),
            Duration::from_secs(10),
        )
        .await?;
    if parked.is_empty() {
        bail!("the probe never saw the pointer");
    }
    let memory_before = procstat::memory(ionchannel)?;

    let mut latencies = Vec::new();
    for device in [Device::Pointer, Device::Keyboard] {
        writeln!(
            progress,
            "bench: latency, {} × {} every {} µs…",
            opts.latency_events,
            device.method(),
            opts.interval.as_micros()
        )?;
        latencies
            .push(latency::measure(&mut rig, device, opts.latency_events, opts.interval).await?);
    }
    let mut throughputs = Vec::new();
    for mode in [Mode::Awaited, Mode::Pipelined, Mode::Paced(opts.paced_rate)] {
        // Let the daemon's token bucket fill up again (burst / rate < 1 s).
        tokio::time::sleep(Duration::from_secs(1)).await;
        writeln!(
            progress,
            "bench: throughput, {} mixed events, {mode:?}…",
            opts.throughput_events
        )?;
        throughputs.push(throughput::measure(&mut rig, mode, opts.throughput_events).await?);
    }
    rig.rd.close().await?;

    // The same through EIS, on a session of its own: ConnectToEIS refuses
    // Notify* afterwards, and the frontend is then out of the input path.
    let frontend_version = RemoteDesktop::frontend_version(&client).await?;
    let eis_skipped = if frontend_version < 2 {
        let why = format!(
            "the frontend's RemoteDesktop is version {frontend_version}: no ConnectToEIS (xdg-desktop-portal 1.17+)"
        );
        writeln!(progress, "bench: EIS skipped: {why}")?;
        Some(why)
    } else {
        let rd = RemoteDesktop::create(&client).await?;
        rd.select_devices(KEYBOARD | POINTER).await?.ok()?;
        let (response, _) = rd.start().await?;
        if response.code != 0 {
            bail!("Start (EIS session) answered {}", response.code);
        }
        let fd = rd.connect_to_eis().await?;
        let mut eis = EisClient::connect(fd, "ionchannel-lab bench").await?;
        eis.bind(Capability::Pointer | Capability::Keyboard).await?;
        rig.rd = rd;
        rig.eis = Some(eis);
        for device in [Device::Pointer, Device::Keyboard] {
            writeln!(
                progress,
                "bench: latency, {} × {} every {} µs…",
                opts.latency_events,
                device.eis_request(),
                opts.interval.as_micros()
            )?;
            latencies.push(
                latency::measure(&mut rig, device, opts.latency_events, opts.interval).await?,
            );
        }
        for mode in [Mode::Eis, Mode::EisPaced(opts.paced_rate)] {
            tokio::time::sleep(Duration::from_secs(1)).await;
            writeln!(
                progress,
                "bench: throughput, {} mixed events, {mode:?}…",
                opts.throughput_events
            )?;
            throughputs.push(throughput::measure(&mut rig, mode, opts.throughput_events).await?);
        }
        if let Some(mut eis) = rig.eis.take() {
            eis.stop_emulating()?;
            eis.disconnect()?;
        }
        rig.rd.close().await?;
        None
    };
    let memory_after = procstat::memory(ionchannel)?;
    Ok((
        latencies,
        throughputs,
        eis_skipped,
        memory_before,
        memory_after,
    ))
}

pub(crate) fn environment(testbed: &Testbed) -> Result<Environment> {
    let first_line = |program: &std::ffi::OsStr, arg: &str| -> String {
        std::process::Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned())
    };
    // On the testing stack `ionchannel` is a shim that runs
    // `$ION_BIN_DIR/ionchannel` inside the rootfs: that is the build.
    let ionchannel = match std::env::var_os("ION_BIN_DIR") {
        Some(dir) if std::path::Path::new(&dir).join("ionchannel").is_file() => {
            std::path::Path::new(&dir).join("ionchannel")
        }
        _ => find_workspace_bin("ionchannel")?,
    };
    let profile = if ionchannel.components().any(|c| c.as_os_str() == "release") {
        "release"
    } else {
        "debug"
    };
    Ok(Environment {
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        kernel: first_line("uname".as_ref(), "-r"),
        compositor: testbed.compositor_version()?.line.clone(),
        frontend: first_line(&crate::testbed::frontend_program(), "--version"),
        ionchannel: ionchannel.display().to_string(),
        profile: profile.to_owned(),
        outputs: testbed.outputs()?.iter().map(|o| o.to_string()).collect(),
        rate_limit_per_s: DAEMON_RATE,
        rate_limit_burst: DAEMON_BURST,
    })
}
