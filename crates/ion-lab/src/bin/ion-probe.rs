//! `ion-probe`: shows a known picture on every output of a wlroots
//! compositor and records the pointer and keyboard events it receives (see
//! `ion_lab::probe`).

use std::io::IsTerminal;

use clap::Parser;
use ion_lab::probe::{self, ProbeOptions};

fn main() -> std::process::ExitCode {
    // Logs go to stderr: stdout may carry the event log.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let opts = ProbeOptions::parse();
    match probe::run(opts) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ion-probe: error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
