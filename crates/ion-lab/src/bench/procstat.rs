//! What a process costs: CPU time from the process's CPU-time clock
//! (`clock_getcpuclockid`, nanoseconds; `/proc/PID/stat`'s clock ticks
//! where that clock cannot be read), memory from `/proc/PID/status`.

use anyhow::{anyhow, Context, Result};
use serde::Serialize;

/// User plus system CPU time of `pid` (all its threads), in microseconds:
/// the process's CPU-time clock, which the kernel keeps in nanoseconds.
/// (`/proc/PID/stat` counts clock ticks, usually 10 ms: a 5 s phase of a
/// process using 1 % of a core read as 5 ± 1 ticks, which made per-frame
/// figures vary by ±20 % between runs.) Falls back to the ticks.
pub fn cpu_us(pid: u32) -> Result<u64> {
    if let Some(us) = cpu_clock_us(pid) {
        return Ok(us);
    }
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| ticks.saturating_mul(1_000_000) / clock_ticks_per_second())
        .with_context(|| format!("parsing {path}"))
}

/// Context switches of all of `pid`'s threads so far (voluntary and not,
/// from each `/proc/PID/task/TID/status`): how often it went to sleep or
/// was put aside, so a wakeup count.
pub fn context_switches(pid: u32) -> Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0;
    for task in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let status = std::fs::read_to_string(task?.path().join("status")).unwrap_or_default();
        total += parse_switches(&status);
    }
    Ok(total)
}

/// voluntary_ctxt_switches + nonvoluntary_ctxt_switches of a status file.
fn parse_switches(status: &str) -> u64 {
    status
        .lines()
        .filter(|l| {
            l.starts_with("voluntary_ctxt_switches:")
                || l.starts_with("nonvoluntary_ctxt_switches:")
        })
        .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
        .sum()
}

/// `pid`'s CPU-time clock in microseconds; None where it cannot be read
/// (the process is gone, or not ours to look at).
fn cpu_clock_us(pid: u32) -> Option<u64> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    let mut clock: libc::clockid_t = 0;
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both calls write only through the valid pointers given.
    let ok = unsafe {
        libc::clock_getcpuclockid(pid, &mut clock) == 0 && libc::clock_gettime(clock, &mut now) == 0
    };
    if !ok {
        return None;
    }
    let secs = u64::try_from(now.tv_sec).ok()?;
    let nanos = u64::try_from(now.tv_nsec).ok()?;
    Some(secs * 1_000_000 + nanos / 1000)
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line.
fn parse_cpu_ticks(stat: &str) -> Result<u64> {
    // The command name (field 2) may contain spaces and parentheses: the
    // fields we want are counted from the last ')'.
    let rest = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| anyhow!("no ')' in {stat:?}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    let field = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .ok_or_else(|| anyhow!("field {n} missing"))?
            .parse::<u64>()
            .with_context(|| format!("field {n}"))
    };
    Ok(field(14)? + field(15)?)
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory-safety requirements.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident size so far.
    pub peak_kib: u64,
}

/// `VmRSS` and `VmHWM` of `pid`.
pub fn memory(pid: u32) -> Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_memory(&status).with_context(|| format!("parsing {path}"))
}

fn parse_memory(status: &str) -> Result<Memory> {
    let kib = |key: &str| -> Result<u64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .ok_or_else(|| anyhow!("no {key} line"))?;
        line.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .with_context(|| format!("{key} {line:?}"))
    };
    Ok(Memory {
        rss_kib: kib("VmRSS:")?,
        peak_kib: kib("VmHWM:")?,
    })
}

/// Resets `pid`'s `VmHWM` to its current `VmRSS` (`clear_refs` 5, Linux
/// 4.0+), so that the next [`memory`] reads the peak since now. Needs the
/// right to write `/proc/PID/clear_refs` (the process's owner, or root).
pub fn reset_peak(pid: u32) -> Result<()> {
    let path = format!("/proc/{pid}/clear_refs");
    std::fs::write(&path, "5").with_context(|| format!("writing 5 to {path}"))
}

/// A process's resident memory while something runs: `VmRSS` sampled every
/// few milliseconds on a thread of its own, and `VmHWM` reset at the start
/// where allowed, so the peak is the peak of that stretch alone.
pub struct PeakWatch {
    pid: u32,
    before: Memory,
    hwm_reset: bool,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

/// What a [`PeakWatch`] saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PeakMemory {
    /// `VmRSS` when the watch started.
    pub rss_before_kib: u64,
    /// The highest resident size during the watch: the sampled `VmRSS`, or
    /// `VmHWM` when it could be reset at the start and reads higher.
    pub peak_kib: u64,
    /// `peak_kib − rss_before_kib`.
    pub growth_kib: u64,
    /// `VmRSS` when the watch ended.
    pub rss_after_kib: u64,
    /// Whether `VmHWM` was reset at the start (else only samples count).
    pub hwm_reset: bool,
}

impl PeakWatch {
    pub fn start(pid: u32) -> Result<PeakWatch> {
        let hwm_reset = reset_peak(pid).is_ok();
        let before = memory(pid)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(m) = memory(pid) {
                    peak = peak.max(m.rss_kib);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            peak
        });
        Ok(PeakWatch {
            pid,
            before,
            hwm_reset,
            stop,
            sampler,
        })
    }

    pub fn finish(self) -> Result<PeakMemory> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let sampled = self
            .sampler
            .join()
            .map_err(|_| anyhow!("the memory sampler panicked"))?;
        let after = memory(self.pid)?;
        let mut peak = sampled.max(after.rss_kib).max(self.before.rss_kib);
        if self.hwm_reset {
            peak = peak.max(after.peak_kib);
        }
        Ok(PeakMemory {
            rss_before_kib: self.before.rss_kib,
            peak_kib: peak,
            growth_kib: peak.saturating_sub(self.before.rss_kib),
            rss_after_kib: after.rss_kib,
            hwm_reset: self.hwm_reset,
        })
    }
}

/// CPU readings of the processes a benchmark watches.
#[derive(Debug, Clone)]
pub struct Meter {
    ionchannel: u32,
    frontend: Option<u32>,
    compositor: Option<u32>,
}

/// One reading of a [`Meter`], in CPU microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    ionchannel: u64,
    frontend: u64,
    compositor: u64,
}

/// CPU time spent during a phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cpu {
    /// `ionchannel serve`, user + system, microseconds.
    pub ionchannel_us: u64,
    /// The same per event sent.
    pub ionchannel_us_per_event: f64,
    /// The xdg-desktop-portal frontend, microseconds.
    pub frontend_us: u64,
    /// The compositor, microseconds.
    pub compositor_us: u64,
}

impl Meter {
    pub fn new(ionchannel: u32, frontend: Option<u32>, compositor: Option<u32>) -> Meter {
        Meter {
            ionchannel,
            frontend,
            compositor,
        }
    }

    pub fn ionchannel_pid(&self) -> u32 {
        self.ionchannel
    }

    pub fn read(&self) -> Result<Reading> {
        let optional =
            |pid: Option<u32>| pid.map(cpu_us).transpose().map(Option::unwrap_or_default);
        Ok(Reading {
            ionchannel: cpu_us(self.ionchannel).context("ionchannel's CPU time")?,
            frontend: optional(self.frontend).context("the frontend's CPU time")?,
            compositor: optional(self.compositor).context("the compositor's CPU time")?,
        })
    }

    /// The CPU time spent since `start`, `events` being what was sent.
    pub fn since(&self, start: &Reading, events: usize) -> Result<Cpu> {
        let now = self.read()?;
        let ionchannel_us = now.ionchannel.saturating_sub(start.ionchannel);
        Ok(Cpu {
            ionchannel_us,
            ionchannel_us_per_event: if events == 0 {
                0.0
            } else {
                ionchannel_us as f64 / events as f64
            },
            frontend_us: now.frontend.saturating_sub(start.frontend),
            compositor_us: now.compositor.saturating_sub(start.compositor),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_context_switches() {
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(parse_switches(status), 15);
        let before = context_switches(std::process::id()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(context_switches(std::process::id()).unwrap() > before);
    }

    #[test]
    fn the_cpu_clock_counts_in_microseconds() {
        let pid = std::process::id();
        let before = cpu_clock_us(pid).unwrap();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let spent = cpu_clock_us(pid).unwrap() - before;
        // Busy for 30 ms of wall time: at least 20 ms of CPU.
        assert!((20_000..1_000_000).contains(&spent), "{spent} µs");
        assert_eq!(cpu_clock_us(u32::MAX), None);
    }

    #[test]
    fn reads_utime_and_stime_after_an_odd_name() {
        let stat = "1234 (ion (x) y) S 1 1234 1234 0 -1 4194560 1200 0 0 0 \
                    70 30 0 0 20 0 3 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 100);
        assert!(parse_cpu_ticks("12 (x) S 1").is_err());
    }

    #[test]
    fn reads_rss_and_peak() {
        let status = "Name:\tionchannel\nVmHWM:\t   12345 kB\nVmRSS:\t    9876 kB\n";
        assert_eq!(
            parse_memory(status).unwrap(),
            Memory {
                rss_kib: 9876,
                peak_kib: 12345
            }
        );
    }

    #[test]
    fn watches_this_process_grow() {
        let watch = PeakWatch::start(std::process::id()).unwrap();
        // 64 MiB touched, then freed: the peak holds it.
        let big = vec![1u8; 64 << 20];
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(big.iter().map(|&b| u64::from(b)).sum::<u64>(), 64 << 20);
        drop(big);
        let seen = watch.finish().unwrap();
        // The peak holds the 64 MiB. (Not `growth_kib`: tests on other
        // threads may free what they held when the watch started, so the
        // growth over that start can read below 64 MiB; seen in CI.)
        assert!(seen.peak_kib >= 64 << 10, "{seen:?}");
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        cpu_us(pid).unwrap();
        assert!(memory(pid).unwrap().rss_kib > 0);
    }
}
