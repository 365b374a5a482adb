//! What became of a session's input, and when to say so in the log.
//!
//! The frontend forwards Notify* calls with "no reply expected", so an app
//! never sees why ionChannel refused one: the log is the only place a person
//! can find out. Every refusal is logged, but per session only the first
//! [`LOGGED_ONE_BY_ONE`] one by one; after that a count by reason at most
//! every [`SUMMARY_EVERY`], so a flood cannot flood the journal. A session
//! that has been quiet for [`QUIET_RESETS`] gets its first few again.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::InputError;

pub const LOGGED_ONE_BY_ONE: u32 = 5;
pub const SUMMARY_EVERY: Duration = Duration::from_secs(5);
pub const QUIET_RESETS: Duration = Duration::from_secs(30);

/// Per-session counts, as `ionchannel status` shows them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InputCounts {
    /// Events handed to the compositor (a repaired tap is two).
    pub injected: u64,
    /// Calls refused: not allowed, invalid, or in the wrong state.
    pub refused: u64,
    /// Calls refused by the rate limit.
    pub rate_limited: u64,
}

/// A short name for why an input call was refused, for logs and counts.
pub fn reason(e: &InputError) -> &'static str {
    match e {
        InputError::WrongState(_) => "not started",
        InputError::DeviceNotGranted(_) => "device not granted",
        InputError::EisActive => "input goes through EIS",
        InputError::NoEis => "no EIS connection",
        InputError::UnknownStream(_) => "unknown stream",
        InputError::NotFinite { .. } | InputError::OutOfRange { .. } => "invalid value",
        InputError::OffLayout { .. } => "off the layout",
        InputError::RateLimited { .. } => "rate limited",
    }
}

/// What to do with one refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Say {
    /// Log this refusal on its own line.
    Now,
    /// Counted, to be said in a summary.
    Later,
}

/// A summary of refusals not logged one by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub total: u64,
    /// Count by reason, in reason order.
    pub by_reason: Vec<(&'static str, u64)>,
    /// Over how long.
    pub over: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} more input call(s) refused in the last {:.1} s:",
            self.total,
            self.over.as_secs_f64()
        )?;
        for (i, (reason, n)) in self.by_reason.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{reason} {n}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Clone)]
pub struct RefusalLog {
    one_by_one: u32,
    pending: BTreeMap<&'static str, u64>,
    since: Duration,
    last: Option<Duration>,
}

impl RefusalLog {
    /// One refusal at `now`: log it, or count it for the next summary.
    pub fn refused(&mut self, reason: &'static str, now: Duration) -> Say {
        if self
            .last
            .is_some_and(|l| now.saturating_sub(l) >= QUIET_RESETS)
            && self.pending.is_empty()
        {
            self.one_by_one = 0;
        }
        self.last = Some(now);
        if self.one_by_one < LOGGED_ONE_BY_ONE {
            self.one_by_one += 1;
            if self.one_by_one == LOGGED_ONE_BY_ONE {
                self.since = now;
            }
            return Say::Now;
        }
        if self.pending.is_empty() && now.saturating_sub(self.since) >= SUMMARY_EVERY {
            self.since = now;
        }
        *self.pending.entry(reason).or_default() += 1;
        Say::Later
    }

    /// A summary, when one is due at `now` (or `force`d: the session ends).
    pub fn summary(&mut self, now: Duration, force: bool) -> Option<Summary> {
        if self.pending.is_empty() {
            return None;
        }
        let over = now.saturating_sub(self.since);
        if !force && over < SUMMARY_EVERY {
            return None;
        }
        let by_reason: Vec<_> = std::mem::take(&mut self.pending).into_iter().collect();
        self.since = now;
        Some(Summary {
            total: by_reason.iter().map(|(_, n)| n).sum(),
            by_reason,
            over,
        })
    }

    /// When a summary will be due, if one is pending.
    pub fn next_deadline(&self) -> Option<Duration> {
        (!self.pending.is_empty()).then_some(self.since + SUMMARY_EVERY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_first_few_then_a_count_every_few_seconds() {
        let mut log = RefusalLog::default();
        let said: Vec<Say> = (0..8)
            .map(|i| log.refused("rate limited", S + Duration::from_millis(i)))
            .collect();
        assert_eq!(said.iter().filter(|s| **s == Say::Now).count(), 5);
        assert_eq!(log.summary(2 * S, false), None, "not yet");
        log.refused("device not granted", 3 * S);
        assert_eq!(
            log.next_deadline(),
            Some(S + Duration::from_millis(4) + SUMMARY_EVERY)
        );
        let sum = log.summary(7 * S, false).expect("due");
        assert_eq!(sum.total, 4);
        assert_eq!(
            sum.by_reason,
            vec![("device not granted", 1), ("rate limited", 3)]
        );
        assert_eq!(
            sum.to_string(),
            "4 more input call(s) refused in the last 6.0 s: device not granted 1, rate limited 3"
        );
        assert_eq!(log.summary(8 * S, true), None, "nothing pending");
        // Still flooding: counted, not logged.
        assert_eq!(log.refused("rate limited", 8 * S), Say::Later);
        assert!(
            log.summary(9 * S, true).is_some(),
            "forced at the session's end"
        );
        // Quiet for half a minute: the first few are logged again.
        assert_eq!(log.refused("rate limited", 60 * S), Say::Now);
    }
}
