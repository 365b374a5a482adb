//! `ionchannel-lab fuzz`: random and mutated inputs against what
//! ionChannel parses and decides, with invariants checked after each
//! (issue 14). Each iteration has its own seed, printed with anything it
//! finds, so a finding replays with `--seed`.
//!
//! Targets so far: the policy file, the grants file and restore data
//! (`files.rs`). CI runs each for a few seconds (`tests/fuzz.rs`); the
//! command runs them as long as asked.

pub mod compositor;
pub mod dbus;
pub mod eis;
pub mod files;
pub mod mutate;
pub mod values;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// How deep the run got (states reached, events delivered), for the
    /// report: a fuzzer that never gets past the first call proves little.
    pub reach: fn() -> String,
}

/// For targets whose every iteration reaches all of their code.
pub fn no_reach() -> String {
    String::new()
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "policy",
        what: "mutated policy files: parse or refuse, never allow beyond a rule and the ask",
        run: files::policy,
        reach: no_reach,
    },
    Target {
        name: "grants",
        what: "mutated grants files and restore requests: a restore stays within its grant and the ask",
        run: files::grants,
        reach: no_reach,
    },
    Target {
        name: "dbus",
        what: "random call sequences with edge values and random options on two frontend connections, against the portal on the recording stand-in",
        run: dbus::surface,
        reach: dbus::reach,
    },
    Target {
        name: "eis",
        what: "random bytes, a real client's stream mutated, and made-up messages on an EIS socket",
        run: eis::socket,
        reach: eis::reach,
    },
    Target {
        name: "restore-data",
        what: "random variant trees as restore data: read back exactly or not at all",
        run: files::restore_data,
        reach: no_reach,
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
    pub reach: String,
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

/// Panics seen on any thread since the run began: a target whose code
/// runs on other threads (the daemon's tasks) cannot catch them itself.
static PANICS: AtomicU64 = AtomicU64::new(0);

pub fn panics() -> u64 {
    PANICS.load(Ordering::SeqCst)
}

/// Counts every panic from now on; `print` keeps the default report (for
/// a replay, where the message and backtrace are what one wants).
pub fn count_panics(print: bool) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        if print {
            previous(info);
        }
    }));
}

/// Runs one iteration of an in-process target on a fresh current-thread
/// runtime (the daemon's flavour). Panics on any thread meanwhile (the
/// daemon's tasks catch theirs, so only the count shows them) are a
/// finding; `panics_before` is passed to `body` for checks between steps.
pub(crate) fn on_runtime<F>(body: impl FnOnce(u64) -> F) -> Result<(), String>
where
    F: std::future::Future<Output = Result<(), String>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    let before = panics();
    let result = runtime.block_on(body(before));
    if panics() != before {
        return Err(format!(
            "{} panic(s) on the daemon's threads",
            panics() - before
        ));
    }
    result
}

/// The generator of iteration `i` under `seed` (what `--seed` replays).
pub(crate) fn iteration_seed(seed: u64, i: u64) -> u64 {
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
    count_panics(false);
    let mut reports = Vec::new();
    for target in targets {
        let started = Instant::now();
        let mut report = TargetReport {
            name: target.name.to_owned(),
            iterations: 0,
            seconds: 0.0,
            findings: Vec::new(),
            finding_count: 0,
            reach: String::new(),
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
        report.reach = (target.reach)();
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
            if !t.reach.is_empty() {
                writeln!(f, "  reached: {}", t.reach)?;
            }
            for finding in &t.findings {
                writeln!(f, "  {finding}")?;
            }
        }
        Ok(())
    }
}
