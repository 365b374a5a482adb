//! `ion-window`: a toplevel window with a known picture (see
//! `ion_lab::window`).

use clap::Parser;
use ion_lab::window::{self, WindowOptions};

#[derive(Parser)]
#[command(about = "A test toplevel: known app id, title and picture; SIGUSR1 resizes")]
struct Cli {
    #[command(flatten)]
    opts: WindowOptions,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match window::run(Cli::parse().opts) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ion-window: error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
