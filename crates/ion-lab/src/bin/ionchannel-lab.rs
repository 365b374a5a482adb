//! `ionchannel-lab`: bring up the isolated testbed session, run demos and
//! benchmarks in it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use ion_lab::testbed::{self, Component, OutputSpec, Testbed};
use ion_lab::{bench, demo};

#[derive(Debug, Parser)]
#[command(name = "ionchannel-lab", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start an isolated headless session (private bus, PipeWire, a
    /// headless compositor — sway, or labwc with IONLAB_COMPOSITOR=labwc, or
    /// the cosmic-comp stand-in with IONLAB_COMPOSITOR=cosmic-profile —
    /// ionChannel, the portal frontend), print its environment and wait for
    /// Ctrl-C.
    Up(UpArgs),
    /// Run a RemoteDesktop session through the real frontend on a sandboxed
    /// headless compositor, as RustDesk does, and show what the probe client
    /// got.
    Demo(DemoArgs),
    /// Run a benchmark on the sandboxed session and print its figures.
    Bench(BenchArgs),
    /// Fuzz what ionChannel parses and decides (the policy file, the
    /// grants file, restore data), its D-Bus surface and its EIS socket,
    /// with invariants after each iteration; exits 1 on any finding, each
    /// printed with the seed that replays it.
    Fuzz(FuzzArgs),
    /// Open and close sessions in a loop on one daemon (streams, input,
    /// EIS) and sample its RSS, fds and threads; exits 1 if they grow.
    Soak(SoakArgs),
    /// Kill or freeze the compositor, PipeWire, WirePlumber, the frontend,
    /// a consumer or the consent dialog at random moments of sessions and
    /// check the daemon's answer; exits 1 on any failed cycle or growth.
    Faults(FaultsArgs),
    /// Create the unprivileged `ionchannel-lab` user that runs the
    /// compositor when the testbed is started as root (idempotent).
    Setup,
}

#[derive(Debug, Args)]
struct SoakArgs {
    #[arg(long, default_value_t = 2.0)]
    minutes: f64,
    /// Keep the testbed's logs (printed at the end).
    #[arg(long)]
    keep_logs: bool,
    /// Print JSON (every sample) on stdout instead of the summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct FaultsArgs {
    #[arg(long, default_value_t = 50)]
    cycles: usize,
    /// The run's seed (the order of the combinations, the moments)
    /// [default: from the clock].
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Only this target (repeat for several): compositor, pipewire,
    /// wireplumber, frontend, consumer, dialog.
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Leave out killing the compositor (which ends the daemon, as
    /// documented): one daemon lives through every cycle, and its growth
    /// is judged over all of them.
    #[arg(long)]
    survivable: bool,
    #[arg(long)]
    keep_logs: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct FuzzArgs {
    /// Minutes for all the targets, shared equally.
    #[arg(long, default_value_t = 1.0)]
    minutes: f64,
    /// The run's seed, decimal or 0x-hex [default: from the clock].
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Only this target (repeat for several): policy, grants, dbus,
    /// restore-data.
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Run one iteration with this iteration seed (as a finding prints it,
    /// e.g. 0x1f2e…) against the one --target given, and show what it finds.
    #[arg(long, value_parser = parse_seed)]
    replay: Option<u64>,
    /// Print JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// The D-Bus target against a real headless compositor of the testbed
    /// (IONLAB_COMPOSITOR) instead of the recording stand-in: a protocol
    /// error is a finding. With --replay, that iteration.
    #[arg(long)]
    compositor: bool,
}

fn parse_seed(text: &str) -> std::result::Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("not a seed: {e}"))
}

fn fuzz(args: FuzzArgs) -> Result<()> {
    if args.compositor {
        let seed = args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        let report = ion_lab::fuzz::compositor::run(
            Duration::from_secs_f64(args.minutes * 60.0),
            seed,
            args.replay,
            &mut std::io::stderr(),
        )?;
        print_report(&report, args.json)?;
        if !report.clean() {
            bail!("the fuzzer found something (each finding names the seed that replays it)");
        }
        return Ok(());
    }
    if let Some(seed) = args.replay {
        let [name] = args.targets.as_slice() else {
            bail!("--replay needs exactly one --target");
        };
        let target = ion_lab::fuzz::TARGETS
            .iter()
            .find(|t| t.name == name)
            .with_context(|| format!("no fuzz target {name}"))?;
        // Panics on the daemon's threads count as findings (the dbus
        // target), and are printed in full here.
        ion_lab::fuzz::count_panics(true);
        return match ion_lab::fuzz::replay(target, seed) {
            Ok(()) => {
                println!("{name}, seed {seed:#x}: nothing found");
                Ok(())
            }
            Err(finding) => bail!("{name}, seed {seed:#x}: {finding}"),
        };
    }
    if !(args.minutes.is_finite() && args.minutes > 0.0) {
        bail!("--minutes must be a positive number");
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let report = ion_lab::fuzz::run(&ion_lab::fuzz::FuzzOptions {
        duration: Duration::from_secs_f64(args.minutes * 60.0),
        seed,
        targets: args.targets,
    })?;
    print_report(&report, args.json)?;
    if !report.clean() {
        std::io::Write::flush(&mut std::io::stdout()).context("flushing stdout")?;
        bail!("the fuzzer found something (each finding names the seed that replays it)");
    }
    Ok(())
}

#[derive(Debug, Args)]
struct UpArgs {
    /// An output as WxH+X+Y[@scale]; repeat for several
    /// [default: 1920x1080+0+0 1280x720+1920+0]
    #[arg(long = "output", value_name = "WxH+X+Y[@scale]")]
    outputs: Vec<OutputSpec>,
    /// Don't start ionChannel.
    #[arg(long)]
    no_ionchannel: bool,
    /// Don't start the xdg-desktop-portal frontend.
    #[arg(long)]
    no_frontend: bool,
    /// Consent policy file for ionChannel [default: allow everything].
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Print the tail of every log when shutting down.
    #[arg(long)]
    keep_logs: bool,
    /// Keep the temp root (logs, configs) after shutting down.
    #[arg(long)]
    keep_root: bool,
    /// Deadline of each start-up step, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// An output as WxH+X+Y[@scale]; repeat for several
    /// [default: 1920x1080+0+0 1280x720+1920+0]
    #[arg(long = "output", value_name = "WxH+X+Y[@scale]")]
    outputs: Vec<OutputSpec>,
    /// The text to type.
    #[arg(long, default_value = demo::DEMO_TEXT)]
    text: String,
    /// Print the tail of every log when shutting down.
    #[arg(long)]
    keep_logs: bool,
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(subcommand)]
    bench: BenchCmd,
}

#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// Input latency and throughput through the frontend, with ionChannel's
    /// CPU time and memory.
    Input(InputArgs),
    /// ScreenCast on a 1920x1080 output with the probe animating every
    /// frame: fps at the consumer, change → consumer latency, ionChannel's
    /// CPU per frame and on a static screen, memory.
    Screencast(ScreenCastArgs),
    /// A large payload (50 MiB) through the Clipboard portal each way
    /// (wl-copy → SelectionRead, SelectionWrite → wl-paste): MiB/s, a byte
    /// for byte check, ionChannel's peak RSS during each. Needs
    /// xdg-desktop-portal 1.20+ (scripts/bench-testing.sh clipboard).
    Clipboard(ClipboardArgs),
}

#[derive(Debug, Args)]
struct ClipboardArgs {
    /// Payload size: bytes, or with K, M or G (KiB, MiB, GiB; "MB" reads
    /// as MiB too).
    #[arg(long, default_value = "50M", value_parser = parse_size)]
    size: usize,
    /// Print JSON on stdout instead of the table (progress stays on stderr).
    #[arg(long)]
    json: bool,
    /// Print the tail of every log when shutting down.
    #[arg(long)]
    keep_logs: bool,
}

/// `123`, `512K`, `50M`, `50MB`, `1G`, `1GiB`: bytes, binary units.
fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: usize = number
        .parse()
        .map_err(|_| format!("`{text}`: a size is a number with K, M or G"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (K, M, G)")),
    };
    match number.checked_mul(1 << shift) {
        Some(0) | None => Err(format!("`{text}`: not a usable size")),
        Some(n) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("50M"), Ok(50 << 20));
        assert_eq!(parse_size("50MB"), Ok(50 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert!(parse_size("0").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("5T").is_err());
    }
}

#[derive(Debug, Args)]
struct ScreenCastArgs {
    /// Seconds each phase is measured.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// The consumer's frame-rate cap in the capped phase.
    #[arg(long, default_value_t = 30)]
    capped_fps: u32,
    /// The output, as WxH+X+Y[@scale].
    #[arg(long = "output", value_name = "WxH+X+Y[@scale]")]
    output: Option<OutputSpec>,
    /// The output's transform (90, 180, 270, flipped, flipped-90, …): a
    /// turned output's frames are turned upright by ionChannel.
    #[arg(long, value_name = "NAME")]
    transform: Option<String>,
    /// The ScreenCast backend to measure: ionchannel, wlr
    /// (xdg-desktop-portal-wlr; needs xdg-desktop-portal 1.17 or newer,
    /// e.g. the testing stack), or both: each of the standard workloads
    /// (1080p and 4K, full and 256x256, two 1080p outputs) with one and
    /// then the other, side by side, in one run (--output, --area,
    /// --transform and the capped and static phases do not apply).
    #[arg(long, default_value = "ionchannel", value_name = "ionchannel|wlr|both")]
    portal: String,
    /// Run these of the standard workloads (comma-separated names, e.g.
    /// "1080p full,4K 256x256") with the --portal given, or with both;
    /// with --portal both and none given, all of them.
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// With --workloads or --portal both: the consumers offer LINEAR
    /// dmabufs first, as OBS does (needs a DRM device: the VM lab).
    #[arg(long)]
    consumer_dmabuf: bool,
    /// With --workloads or --portal both: run each workload this many
    /// times with each backend, alternating which goes first; the table
    /// shows medians and the CPU ratio of every round.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// What changes every frame besides the probe's 64x8 counter: a WxH
    /// area from the top-left corner, or `full` (the whole output).
    #[arg(long, value_name = "WxH|full")]
    area: Option<String>,
    /// Print JSON on stdout instead of the table (progress stays on stderr).
    #[arg(long)]
    json: bool,
    /// Print the tail of every log when shutting down.
    #[arg(long)]
    keep_logs: bool,
}

#[derive(Debug, Args)]
struct InputArgs {
    /// Calls per latency run (pointer, then keyboard).
    #[arg(long, default_value_t = 2000)]
    latency_events: usize,
    /// Microseconds between two latency calls.
    #[arg(long, default_value_t = 1000)]
    interval_us: u64,
    /// Events per throughput run.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Events per second of the paced pipelined run [default: 95% of the
    /// daemon's limit].
    #[arg(long)]
    paced_rate: Option<u32>,
    /// Print JSON on stdout instead of the table (progress stays on stderr).
    #[arg(long)]
    json: bool,
    /// An output as WxH+X+Y[@scale]; repeat for several.
    #[arg(long = "output", value_name = "WxH+X+Y[@scale]")]
    outputs: Vec<OutputSpec>,
    /// Print the tail of every log when shutting down.
    #[arg(long)]
    keep_logs: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // The fuzzer drives the daemon's code in-process with bad input by the
    // million; each refusal's log line would drown the report (RUST_LOG
    // still turns them on).
    let default_filter = match cli.command {
        Cmd::Fuzz(_) => "off",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Cmd::Up(args) => up(args),
        Cmd::Demo(args) => run_demo(args),
        Cmd::Bench(BenchArgs {
            bench: BenchCmd::Input(args),
        }) => bench_input(args),
        Cmd::Bench(BenchArgs {
            bench: BenchCmd::Screencast(args),
        }) => bench_screencast(args),
        Cmd::Bench(BenchArgs {
            bench: BenchCmd::Clipboard(args),
        }) => bench_clipboard(args),
        Cmd::Fuzz(args) => fuzz(args),
        Cmd::Soak(args) => soak(args),
        Cmd::Faults(args) => faults(args),
        Cmd::Setup => {
            testbed::ensure_lab_user()?;
            match testbed::lookup_user(testbed::LAB_USER)? {
                Some(user) => println!("user {} (uid {}) is ready", user.name, user.uid),
                None => {
                    println!("not root: the compositor runs as the current user, no setup needed")
                }
            }
            Ok(())
        }
    }
}

fn run_demo(args: DemoArgs) -> Result<()> {
    let mut opts = demo::DemoOptions {
        text: args.text,
        keep_logs: args.keep_logs,
        ..demo::DemoOptions::default()
    };
    if !args.outputs.is_empty() {
        opts.outputs = args.outputs;
    }
    let mut stdout = std::io::stdout();
    let report = demo::run(&opts, &mut stdout)?;
    println!();
    print!("{report}");
    println!("{}", report.verdict());
    if !report.ok() {
        // Everything is torn down already; only stdout needs flushing.
        std::io::Write::flush(&mut std::io::stdout()).context("flushing stdout")?;
        std::process::exit(1);
    }
    Ok(())
}

fn bench_input(args: InputArgs) -> Result<()> {
    let mut opts = bench::InputBenchOptions {
        latency_events: args.latency_events,
        interval: Duration::from_micros(args.interval_us),
        throughput_events: args.events,
        keep_logs: args.keep_logs,
        ..bench::InputBenchOptions::default()
    };
    if let Some(rate) = args.paced_rate {
        opts.paced_rate = rate;
    }
    if !args.outputs.is_empty() {
        opts.outputs = args.outputs;
    }
    let report = bench::run(&opts, &mut std::io::stderr())?;
    print_report(&report, args.json)?;
    Ok(())
}

fn bench_screencast(args: ScreenCastArgs) -> Result<()> {
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        bail!("--seconds must be a positive number");
    }
    if args.portal == "both" || !args.workloads.is_empty() {
        return bench_screencast_workloads(&args);
    }
    let mut opts = bench::ScreenCastBenchOptions {
        duration: Duration::from_secs_f64(args.seconds),
        capped_fps: args.capped_fps,
        portal: args.portal.parse()?,
        keep_logs: args.keep_logs,
        area: args.area.clone(),
        ..bench::ScreenCastBenchOptions::default()
    };
    if let Some(o) = args.output {
        opts.output = o;
    }
    if let Some(name) = &args.transform {
        let transform = testbed::Transform::from_name(name);
        if transform.name() != name {
            bail!("--transform: unknown transform `{name}` (normal, 90, 180, 270, flipped, flipped-90, flipped-180, flipped-270)");
        }
        opts.output = opts.output.with_transform(transform);
    }
    let report = bench::screencast::run(&opts, &mut std::io::stderr())?;
    print_report(&report, args.json)?;
    Ok(())
}

/// `bench screencast --portal both` or `--workloads`: the standard
/// workloads with ionChannel and xdpw side by side, or with one of them.
fn bench_screencast_workloads(args: &ScreenCastArgs) -> Result<()> {
    let backends = if args.portal == "both" {
        vec![
            testbed::ScreenCastPortal::IonChannel,
            testbed::ScreenCastPortal::Wlr,
        ]
    } else {
        vec![args.portal.parse()?]
    };
    let mut workloads = bench::compare::standard_workloads();
    if !args.workloads.is_empty() {
        let known: Vec<String> = workloads.iter().map(|w| w.name.clone()).collect();
        for name in &args.workloads {
            if !known.contains(name) {
                bail!(
                    "--workloads: unknown workload `{name}` (known: {})",
                    known.join(", ")
                );
            }
        }
        workloads.retain(|w| args.workloads.contains(&w.name));
    }
    let opts = bench::compare::CompareOptions {
        duration: Duration::from_secs_f64(args.seconds),
        workloads,
        backends,
        consumer_dmabuf: args.consumer_dmabuf,
        rounds: args.rounds,
        keep_logs: args.keep_logs,
    };
    let report = bench::compare::run(&opts, &mut std::io::stderr())?;
    print_report(&report, args.json)?;
    Ok(())
}

fn bench_clipboard(args: ClipboardArgs) -> Result<()> {
    let opts = bench::ClipboardBenchOptions {
        size: args.size,
        keep_logs: args.keep_logs,
    };
    let report = bench::clipboard::run(&opts, &mut std::io::stderr())?;
    print_report(&report, args.json)?;
    if report.transfers.iter().any(|t| !t.identical) {
        std::io::Write::flush(&mut std::io::stdout()).context("flushing stdout")?;
        bail!("the bytes that arrived differ from the payload");
    }
    Ok(())
}

fn up(args: UpArgs) -> Result<()> {
    // Block the shutdown signals before any thread exists, so that every
    // thread inherits the mask and only `wait_for_signal` receives them
    // (children get a clean mask from std::process).
    let signals = ShutdownSignals::block()?;
    let outputs = if args.outputs.is_empty() {
        vec![
            OutputSpec::new(1920, 1080),
            OutputSpec::new(1280, 720).at(1920, 0),
        ]
    } else {
        args.outputs
    };
    let mut builder = Testbed::builder()
        .outputs(outputs)
        .ionchannel(!args.no_ionchannel)
        .frontend(!args.no_frontend)
        .keep_logs(args.keep_logs)
        .keep_root(args.keep_root)
        .timeout(Duration::from_secs(args.timeout));
    if let Some(path) = &args.policy {
        let policy = std::fs::read_to_string(path)
            .with_context(|| format!("reading policy {}", path.display()))?;
        builder = builder.policy(policy);
    }
    eprintln!("ionchannel-lab: starting the testbed…");
    let testbed = builder.start()?;
    println!("# ionchannel-lab testbed is up; in another shell:");
    for (key, value) in testbed.env() {
        println!("export {key}={}", shell_quote(&value));
    }
    println!("# outputs:");
    for output in testbed.outputs()? {
        println!("#   {output}");
    }
    println!("# logs: {}", testbed.log_dir().display());
    println!("# Ctrl-C to tear it down.");
    let mut reported = Vec::new();
    loop {
        if let Some(signal) = signals.wait(Duration::from_secs(1))? {
            eprintln!("ionchannel-lab: got signal {signal}, tearing down…");
            break;
        }
        for (component, state) in testbed.dead_components() {
            if !reported.contains(&component) {
                eprintln!(
                    "ionchannel-lab: {component} exited ({state}); see {}",
                    testbed.log_path(component).display()
                );
                reported.push(component);
            }
        }
        if reported.contains(&Component::Compositor) && reported.contains(&Component::Bus) {
            bail!("the session is gone");
        }
    }
    drop(testbed);
    Ok(())
}

/// SIGINT, SIGTERM and SIGHUP, blocked and received synchronously.
struct ShutdownSignals {
    set: libc::sigset_t,
}

impl ShutdownSignals {
    fn block() -> Result<ShutdownSignals> {
        // SAFETY: sigset_t is plain data initialised by sigemptyset; the
        // pointers passed are valid for each call.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut set, signal);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                bail!(
                    "blocking signals: {}",
                    std::io::Error::from_raw_os_error(rc)
                );
            }
            Ok(ShutdownSignals { set })
        }
    }

    /// The signal received within `timeout`, if any.
    fn wait(&self, timeout: Duration) -> Result<Option<i32>> {
        let ts = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
        };
        // SAFETY: `self.set` is initialised and `ts` is a valid timespec.
        let signal = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &ts) };
        if signal > 0 {
            return Ok(Some(signal));
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
            _ => Err(err).context("waiting for a signal"),
        }
    }
}

fn shell_quote(value: &str) -> String {
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_-.,:=+@".contains(c))
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

/// A benchmark's report on stdout: JSON, or its table.
fn soak(args: SoakArgs) -> Result<()> {
    if !(args.minutes.is_finite() && args.minutes > 0.0) {
        bail!("--minutes must be a positive number");
    }
    let opts = ion_lab::endurance::soak::SoakOptions {
        duration: Duration::from_secs_f64(args.minutes * 60.0),
        keep_logs: args.keep_logs,
    };
    let report = ion_lab::endurance::soak::run(&opts, &mut std::io::stderr())?;
    print_report(&report, args.json)?;
    if !args.json {
        println!();
    }
    if report.grew() {
        bail!("the daemon grew during the soak");
    }
    Ok(())
}

fn faults(args: FaultsArgs) -> Result<()> {
    use ion_lab::endurance::faults::{run, FaultOptions, Target};
    let targets = args
        .targets
        .iter()
        .map(|t| match t.as_str() {
            "compositor" => Ok(Target::Compositor),
            "pipewire" => Ok(Target::PipeWire),
            "wireplumber" => Ok(Target::WirePlumber),
            "frontend" => Ok(Target::Frontend),
            "consumer" => Ok(Target::Consumer),
            "dialog" => Ok(Target::Dialog),
            other => Err(anyhow::anyhow!("no fault target {other}")),
        })
        .collect::<Result<Vec<_>>>()?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let opts = FaultOptions {
        cycles: args.cycles,
        seed,
        targets,
        survivable: args.survivable,
        keep_logs: args.keep_logs,
    };
    let report = run(&opts, &mut std::io::stderr())?;
    print_report(&report, args.json)?;
    if !report.failures().is_empty() || report.grew() {
        bail!("a fault cycle failed or the daemon grew (see above)");
    }
    Ok(())
}

fn print_report<R: serde::Serialize + std::fmt::Display>(report: &R, json: bool) -> Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).context("serializing the report")?
        );
    } else {
        print!("{report}");
    }
    Ok(())
}
