//! `ionchannel-lab`: bring up the isolated testbed session, run demos and
//! benchmarks in it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use ion_lab::testbed::{self, Component, OutputSpec, Testbed};

#[derive(Debug, Parser)]
#[command(name = "ionchannel-lab", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start an isolated headless session (private bus, PipeWire, headless
    /// sway, ionChannel, the portal frontend), print its environment and wait
    /// for Ctrl-C.
    Up(UpArgs),
    /// Run a demo scenario (not yet written).
    Demo,
    /// Run the benchmarks (not yet written).
    Bench,
    /// Create the unprivileged `ionchannel-lab` user that runs sway when the
    /// testbed is started as root (idempotent).
    Setup,
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

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Cmd::Up(args) => up(args),
        Cmd::Demo => bail!("not yet"),
        Cmd::Bench => bail!("not yet"),
        Cmd::Setup => {
            testbed::ensure_lab_user()?;
            match testbed::lookup_user(testbed::LAB_USER)? {
                Some(user) => println!("user {} (uid {}) is ready", user.name, user.uid),
                None => println!("not root: sway runs as the current user, no setup needed"),
            }
            Ok(())
        }
    }
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
        if reported.contains(&Component::Sway) && reported.contains(&Component::Bus) {
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
