//! `ionchannel-lab fuzz`: random and mutated inputs against what
//! ionChannel parses and decides, with invariants checked after each
//! (issue 14). Each iteration has its own seed, printed with anything it
//! finds, so a finding replays with `--seed`.
//!
//! Targets so far: the policy file, the grants file and restore data
//! (`files.rs`). CI runs each for a few seconds (`tests/fuzz.rs`); the
//! command runs them as long as asked.

pub mod files;
pub mod mutate;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::Serialize;

/// One fuzz target: an iteration from a seeded generator; Err is a
/// finding (an invariant broken), a panic is one too.
pub struct Target {
    pub name: &'static str,
    pub what: &'static str,
    pub run: fn(&mut SmallRng) -> Result<(), String>,
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "policy",
        what: "mutated policy files: parse or refuse, never allow beyond a rule and the ask",
        run: files::policy,
    },
    Target {
        name: "grants",
        what: "mutated grants files and restore requests: a restore stays within its grant and the ask",
        run: files::grants,
    },
    Target {
        name: "restore-data",
        what: "random variant trees as restore data: read back exactly or not at all",
        run: files::restore_data,
    },
];

#[derive(Debug, Clone)]
pub struct FuzzOptions {
    /// Time for all the targets, shared equally.
    pub duration: Duration,
    pub seed: u64,
    /// Target names; empty: all.
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub name: String,
    pub iterations: u64,
    pub seconds: f64,
    /// The first findings (at most 10): the iteration's seed and what broke.
    pub findings: Vec<String>,
    pub finding_count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FuzzReport {
    pub seed: u64,
    pub targets: Vec<TargetReport>,
}

impl FuzzReport {
    pub fn clean(&self) -> bool {
        self.targets.iter().all(|t| t.finding_count == 0)
    }
}

/// The generator of iteration `i` under `seed` (what `--seed` replays).
fn iteration_seed(seed: u64, i: u64) -> u64 {
    // splitmix64 of (seed, i): neighbouring iterations get unrelated
    // streams.
    let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs one iteration of `target` with the generator `seed`.
pub fn replay(target: &Target, seed: u64) -> Result<(), String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    match catch_unwind(AssertUnwindSafe(|| (target.run)(&mut rng))) {
        Ok(result) => result,
        Err(panic) => Err(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        )),
    }
}

pub fn run(opts: &FuzzOptions) -> anyhow::Result<FuzzReport> {
    let targets: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| opts.targets.is_empty() || opts.targets.iter().any(|n| n == t.name))
        .collect();
    if targets.is_empty() {
        let known: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        anyhow::bail!("no such fuzz target (known: {})", known.join(", "));
    }
    let share = opts.duration / targets.len() as u32;
    // Panics are findings here, reported with their seed: keep the default
    // hook from printing each one.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut reports = Vec::new();
    for target in targets {
        let started = Instant::now();
        let mut report = TargetReport {
            name: target.name.to_owned(),
            iterations: 0,
            seconds: 0.0,
            findings: Vec::new(),
            finding_count: 0,
        };
        while started.elapsed() < share {
            let seed = iteration_seed(opts.seed, report.iterations);
            if let Err(finding) = replay(target, seed) {
                report.finding_count += 1;
                if report.findings.len() < 10 {
                    report.findings.push(format!("seed {seed:#x}: {finding}"));
                }
            }
            report.iterations += 1;
        }
        report.seconds = started.elapsed().as_secs_f64();
        reports.push(report);
    }
    std::panic::set_hook(hook);
    Ok(FuzzReport {
        seed: opts.seed,
        targets: reports,
    })
}

impl fmt::Display for FuzzReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ionchannel-lab fuzz, seed {:#x}", self.seed)?;
        writeln!(
            f,
            "{:<14} {:>12} {:>9} {:>10}",
            "target", "iterations", "seconds", "findings"
        )?;
        for t in &self.targets {
            writeln!(
                f,
                "{:<14} {:>12} {:>9.1} {:>10}",
                t.name, t.iterations, t.seconds, t.finding_count
            )?;
            for finding in &t.findings {
                writeln!(f, "  {finding}")?;
            }
        }
        Ok(())
    }
}
