//! `ionchannel-consent`: the consent dialog the daemon starts for a
//! request (see `ion_core::consent` for the protocol).
//!
//! stdin: one `ConsentRequest` (JSON, read to its end). stdout: one
//! `ConsentAnswer` as a JSON line once the user decided, exit code 0.
//! Stopped by SIGTERM (the frontend closed the request, or the daemon's
//! timeout): no answer, exit code 1, as after any failure to show the
//! dialog. A request that cannot be read: no answer, exit code 2.

mod choice;
mod dialog;
mod request;
mod wording;

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // GTK 4.8 picks its GL renderer by default and fails to draw anything
    // without a GPU (/dev/dri); the cairo renderer draws on the CPU, and a
    // dialog this small does not miss the GPU. Set here, before GTK starts
    // (and while no other thread could read the environment); a user's own
    // choice is kept.
    if std::env::var_os("GSK_RENDERER").is_none() {
        std::env::set_var("GSK_RENDERER", "cairo");
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    let request = match request::read_request(std::io::stdin().lock()) {
        Ok(request) => request,
        Err(err) => {
            eprintln!("ionchannel-consent: {err}");
            return ExitCode::from(2);
        }
    };
    match dialog::run(&request) {
        Ok(Some(answer)) => match print_answer(&answer) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("ionchannel-consent: cannot write the answer: {err}");
                ExitCode::FAILURE
            }
        },
        Ok(None) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("ionchannel-consent: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the answer as one line and flushes it.
fn print_answer(answer: &ion_core::consent::ConsentAnswer) -> std::io::Result<()> {
    let line = serde_json::to_string(answer)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}
