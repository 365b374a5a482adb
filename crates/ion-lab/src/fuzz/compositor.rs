//! The D-Bus fuzz target against a real compositor (issue 14's "no
//! Wayland protocol error"): the same call sequences as `dbus.rs`, but
//! the portal drives the daemon's own Wayland thread connected to a
//! headless compositor of the testbed (with its PipeWire), so every
//! request that reaches the compositor is judged by the compositor itself.
//! A protocol error (the compositor ending our connection over a request)
//! is a finding, as are panics, missing replies and an inconsistent
//! session table. One testbed serves the whole run; each iteration makes a
//! new Wayland connection, as a new daemon would.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::{count_panics, iteration_seed, FuzzReport, TargetReport};
use crate::testbed::{OutputSpec, Testbed};

/// Runs for `duration`; with `replay`, one iteration of that iteration
/// seed (as a finding prints it).
pub fn run(
    duration: Duration,
    seed: u64,
    replay: Option<u64>,
    progress: &mut dyn Write,
) -> Result<FuzzReport> {
    let testbed = Testbed::builder()
        .outputs([
            OutputSpec::new(1920, 1080).at(0, 0),
            OutputSpec::new(1280, 720).at(1920, 0),
        ])
        .without_ionchannel()
        .without_frontend()
        .start()
        .context("starting the testbed")?;
    let name = testbed
        .compositor_version()
        .map_or_else(|_| testbed.compositor().to_string(), |v| v.short());
    writeln!(
        progress,
        "fuzz: the D-Bus surface on {name} for {duration:?}"
    )?;
    // PipeWire's client library finds the testbed's daemon through these
    // (the Wayland socket is passed by path). Set before any thread of
    // ours reads the environment.
    std::env::set_var("XDG_RUNTIME_DIR", testbed.runtime_dir());
    std::env::set_var("PIPEWIRE_RUNTIME_DIR", testbed.runtime_dir());
    let socket = testbed.runtime_dir().join(testbed.wayland_display());
    let hook = std::panic::take_hook();
    count_panics(false);
    let started = Instant::now();
    let mut report = TargetReport {
        name: format!("dbus on {name}"),
        iterations: 0,
        seconds: 0.0,
        findings: Vec::new(),
        finding_count: 0,
        reach: String::new(),
    };
    while started.elapsed() < duration || (replay.is_some() && report.iterations == 0) {
        let s = replay.unwrap_or_else(|| iteration_seed(seed, report.iterations));
        let mut rng = SmallRng::seed_from_u64(s);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            super::dbus::on_compositor(&mut rng, &socket)
        }));
        let finding = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("panicked".to_owned()),
        };
        if let Some(f) = finding {
            report.finding_count += 1;
            if report.findings.len() < 10 {
                report.findings.push(format!("seed {s:#x}: {f}"));
            }
        }
        report.iterations += 1;
        if replay.is_some() {
            break;
        }
        if !testbed.dead_components().is_empty() {
            report.findings.push(format!(
                "the stack lost a component: {:?}",
                testbed.dead_components()
            ));
            report.finding_count += 1;
            break;
        }
    }
    std::panic::set_hook(hook);
    report.seconds = started.elapsed().as_secs_f64();
    report.reach = super::dbus::reach();
    Ok(FuzzReport {
        seed,
        targets: vec![report],
    })
}
