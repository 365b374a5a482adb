//! `ion-consumer`: consumes a PipeWire video node and records every frame
//! as a JSON line (see `ion_lab::consumer`).

use std::io::IsTerminal;

use clap::Parser;
use ion_lab::consumer::{self, ConsumerOptions};

#[derive(Parser)]
#[command(about = "Consume a PipeWire video node; one JSON line per frame")]
struct Cli {
    #[command(flatten)]
    opts: ConsumerOptions,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match consumer::run(&cli.opts) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ion-consumer: error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
