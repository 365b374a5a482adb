//! What a long run watches in the daemon: resident memory, open file
//! descriptors and threads, read from /proc, and whether they grow.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Seconds since the run began.
    pub t: f64,
    pub rss_kib: u64,
    /// The part of the RSS a leak grows: anonymous memory (the heap) and
    /// shared memory (memfd buffers mapped). The rest is file-backed: the
    /// binary's and libraries' pages, faulted in as code paths first run,
    /// which grows for a while in any long run without being a leak.
    pub private_kib: u64,
    pub fds: u64,
    pub threads: u64,
}

/// Reads `pid`'s RSS and thread count (/proc/PID/status) and its open fds
/// (/proc/PID/fd).
pub fn sample(pid: u32, t: f64) -> Result<Sample> {
    let proc = Path::new("/proc").join(pid.to_string());
    let status = std::fs::read_to_string(proc.join("status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    let fds = std::fs::read_dir(proc.join("fd"))
        .with_context(|| format!("listing /proc/{pid}/fd"))?
        .count() as u64;
    Ok(Sample {
        t,
        rss_kib: field("VmRSS:")?,
        private_kib: field("RssAnon:")? + field("RssShmem:")?,
        fds,
        threads: field("Threads:")?,
    })
}

/// Least-squares slope of `points` (per unit of x); 0 with fewer than two.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return 0.0;
    }
    points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Whether a run's samples grew, and the slopes per hour.
#[derive(Debug, Clone, Serialize)]
pub struct Growth {
    pub samples: usize,
    pub rss_kib_per_hour: f64,
    pub private_kib_per_hour: f64,
    pub fds_per_hour: f64,
    pub threads_per_hour: f64,
    /// Medians of the second and the last quarter of the samples.
    pub rss_kib: (u64, u64),
    pub private_kib: (u64, u64),
    pub fds: (u64, u64),
    pub threads: (u64, u64),
    /// What grew, in words; empty: nothing did.
    pub grew: Vec<String>,
}

/// The first quarter is warm-up (allocator pools, PipeWire's and the
/// compositor's first buffers); the second quarter is the baseline, the
/// last quarter is compared with it. A leak of one fd or thread per cycle,
/// or of memory that adds up to more than 1 MiB and 5 %, shows; slopes
/// alone would flag noise in a short run.
pub fn growth(samples: &[Sample]) -> Growth {
    let q = samples.len() / 4;
    let (base, last) = if q == 0 {
        (samples, samples)
    } else {
        (&samples[q..2 * q], &samples[samples.len() - q..])
    };
    let warm = &samples[q..];
    let per_hour = |f: fn(&Sample) -> u64| {
        slope(&warm.iter().map(|s| (s.t, f(s) as f64)).collect::<Vec<_>>()) * 3600.0
    };
    let pair = |f: fn(&Sample) -> u64| {
        (
            median(base.iter().map(f).collect()),
            median(last.iter().map(f).collect()),
        )
    };
    let rss_kib = pair(|s| s.rss_kib);
    let private_kib = pair(|s| s.private_kib);
    let fds = pair(|s| s.fds);
    let threads = pair(|s| s.threads);
    let mut grew = Vec::new();
    if fds.1 > fds.0 + 2 {
        grew.push(format!("open fds grew from {} to {}", fds.0, fds.1));
    }
    if threads.1 > threads.0 + 1 {
        grew.push(format!("threads grew from {} to {}", threads.0, threads.1));
    }
    if private_kib.1 > private_kib.0 + (private_kib.0 / 10).max(512) {
        grew.push(format!(
            "anonymous and shared memory grew from {} to {} KiB",
            private_kib.0, private_kib.1
        ));
    }
    Growth {
        samples: samples.len(),
        rss_kib_per_hour: per_hour(|s| s.rss_kib),
        private_kib_per_hour: per_hour(|s| s.private_kib),
        fds_per_hour: per_hour(|s| s.fds),
        threads_per_hour: per_hour(|s| s.threads),
        rss_kib,
        private_kib,
        fds,
        threads,
        grew,
    }
}

impl std::fmt::Display for Growth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<10} {:>12} {:>12} {:>14}",
            "KiB, n", "baseline", "last", "slope per hour"
        )?;
        writeln!(
            f,
            "{:<10} {:>12} {:>12} {:>14.0}",
            "RSS", self.rss_kib.0, self.rss_kib.1, self.rss_kib_per_hour
        )?;
        writeln!(
            f,
            "{:<10} {:>12} {:>12} {:>14.0}",
            "anon+shm", self.private_kib.0, self.private_kib.1, self.private_kib_per_hour
        )?;
        writeln!(
            f,
            "{:<10} {:>12} {:>12} {:>14.1}",
            "fds", self.fds.0, self.fds.1, self.fds_per_hour
        )?;
        writeln!(
            f,
            "{:<10} {:>12} {:>12} {:>14.1}",
            "threads", self.threads.0, self.threads.1, self.threads_per_hour
        )?;
        if self.grew.is_empty() {
            write!(f, "no growth over {} samples", self.samples)
        } else {
            write!(f, "GROWTH: {}", self.grew.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl Fn(usize) -> (u64, u64, u64)) -> Vec<Sample> {
        (0..40)
            .map(|i| {
                let (private_kib, fds, threads) = f(i);
                Sample {
                    t: i as f64 * 2.0,
                    // The file-backed part grows with code paging; only
                    // the private part is judged.
                    rss_kib: private_kib + 20_000 + i as u64 * 50,
                    private_kib,
                    fds,
                    threads,
                }
            })
            .collect()
    }

    #[test]
    fn a_steady_run_after_warm_up_does_not_grow() {
        // Warm-up climbs, then noise around a level.
        let g = growth(&run(|i| {
            if i < 10 {
                (2000 + i as u64 * 100, 20 + i as u64, 9)
            } else {
                (3000 + (i as u64 % 3) * 100, 30 + (i as u64 % 2), 10)
            }
        }));
        assert!(g.grew.is_empty(), "{g}");
    }

    #[test]
    fn a_leak_of_one_fd_a_cycle_or_a_thread_or_memory_shows() {
        let fds = growth(&run(|i| (10_000, 20 + i as u64, 9)));
        assert!(fds.grew.iter().any(|g| g.contains("fds")), "{fds}");
        assert!(fds.fds_per_hour > 1000.0);
        let threads = growth(&run(|i| (10_000, 20, 9 + i as u64 / 4)));
        assert!(
            threads.grew.iter().any(|g| g.contains("threads")),
            "{threads}"
        );
        let heap = growth(&run(|i| (3000 + i as u64 * 40, 20, 9)));
        assert!(heap.grew.iter().any(|g| g.contains("memory")), "{heap}");
    }

    #[test]
    fn slope_of_a_line() {
        let s = slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]);
        assert!((s - 2.0).abs() < 1e-9);
        assert_eq!(slope(&[(0.0, 1.0)]), 0.0);
    }
}
