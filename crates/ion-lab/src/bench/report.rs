//! The input benchmark's figures as a table for people.

use std::fmt;

use super::input::InputReport;
use super::stats::Percentiles;

fn pct(p: &Option<Percentiles>, f: fn(&Percentiles) -> u64) -> String {
    p.as_ref()
        .map_or_else(|| "-".to_owned(), |p| f(p).to_string())
}

impl fmt::Display for InputReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env = &self.environment;
        writeln!(
            f,
            "ionchannel-lab bench input: {} CPUs, kernel {}, {}, {}, ionchannel {} build",
            env.cpus, env.kernel, env.compositor, env.frontend, env.profile
        )?;
        writeln!(
            f,
            "outputs: {}; daemon rate limit {}/s, burst {}",
            env.outputs.join(", "),
            env.rate_limit_per_s,
            env.rate_limit_burst
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<28} {:>6} {:>5} {:>6} {:>6} {:>6} {:>6}  {:>23}",
            "latency, call → probe (µs)",
            "sent",
            "lost",
            "p50",
            "p90",
            "p99",
            "max",
            "ionchannel CPU µs/event"
        )?;
        for l in &self.latency {
            writeln!(
                f,
                "  {:<26} {:>6} {:>5} {:>6} {:>6} {:>6} {:>6}  {:>23.1}",
                l.method,
                l.sent,
                l.lost,
                pct(&l.latency_us, |p| p.p50),
                pct(&l.latency_us, |p| p.p90),
                pct(&l.latency_us, |p| p.p99),
                pct(&l.latency_us, |p| p.max),
                l.cpu.ionchannel_us_per_event
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<31} {:>6} {:>7} {:>8} {:>7} {:>8} {:>14} {:>8} {:>12}",
            "throughput, mixed motion/key",
            "sent",
            "arrived",
            "events/s",
            "send ms",
            "total ms",
            "ionchannel CPU",
            "µs/event",
            "frontend CPU"
        )?;
        for t in &self.throughput {
            writeln!(
                f,
                "  {:<29} {:>6} {:>7} {:>8.0} {:>7.0} {:>8.0} {:>11.0} ms {:>8.1} {:>9.0} ms",
                t.mode,
                t.sent,
                t.arrived,
                t.events_per_s,
                t.send_ms,
                t.total_ms,
                t.cpu.ionchannel_us as f64 / 1e3,
                t.cpu.ionchannel_us_per_event,
                t.cpu.frontend_us as f64 / 1e3
            )?;
            let order = if t.in_order {
                "in order"
            } else {
                "NOT in order"
            };
            if t.lost == 0 {
                writeln!(f, "    none lost, {order}")?;
            } else {
                let mut why = Vec::new();
                if t.rate_limited > 0 {
                    why.push(format!("{} refused by the rate limiter", t.rate_limited));
                }
                if t.stray_releases + t.dropped_presses > 0 {
                    why.push(format!(
                        "{} stray releases and {} repeated presses dropped by order repair",
                        t.stray_releases, t.dropped_presses
                    ));
                }
                if t.dropped_redundant > 0 {
                    why.push(format!(
                        "{} presses/releases dropped as redundant by the devices",
                        t.dropped_redundant
                    ));
                }
                if why.is_empty() {
                    why.push("cause unknown".to_owned());
                }
                let label = if t.rate_limited > 0 {
                    "rate limited"
                } else {
                    "LOST"
                };
                writeln!(
                    f,
                    "    {label}: {} of {} passed, {order}; {}",
                    t.arrived,
                    t.sent,
                    why.join(", ")
                )?;
            }
            writeln!(
                f,
                "    held at the end: {}; repaired pairs: {} (latest {:.1} ms behind its partner)",
                t.held_at_end,
                t.repaired,
                t.max_lag_us as f64 / 1e3
            )?;
        }
        if self
            .throughput
            .iter()
            .any(|t| t.repaired > 0 || !t.in_order)
        {
            writeln!(
                f,
                "  note: calls that are not awaited can reach ionChannel out of order: the\n  \
                 frontend handles method calls on worker threads. Order repair makes a\n  \
                 release that overtook its press a tap when the press comes, and replays a\n  \
                 press that overtook the release before it; key events keep their own order,\n  \
                 motion between them may not."
            )?;
        }
        if let Some(why) = &self.eis_skipped {
            writeln!(f, "  EIS not measured: {why}")?;
        }
        for l in self.latency.iter().filter(|l| l.lost > 0) {
            writeln!(
                f,
                "  {}: LOST {} of {}, latencies not matched",
                l.method, l.lost, l.sent
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "ionchannel memory: RSS {} KiB after Start, {} KiB at the end (peak {} KiB)",
            self.memory_before.rss_kib, self.memory_after.rss_kib, self.memory_after.peak_kib
        )
    }
}
