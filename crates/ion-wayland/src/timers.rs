//! The media loop's timers: what the loop must do later, and when.
//!
//! A handful are ever pending (at most one of each kind per stream), so a
//! plain list scanned at each turn beats a heap or a timer wheel. The loop
//! sleeps until the earliest, on a timerfd (see `media_loop`). A timer of a stream that
//! has gone fires once and finds nothing to do.

use std::time::{Duration, Instant};

use ion_pipewire::StreamKey;

/// What comes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Trigger a stream whose consumer has not started it yet;
    /// `attempts` more after this one.
    Nudge { key: StreamKey, attempts: u32 },
    /// Try the stream's capture again (frame-rate cap, back-off, a
    /// consumer holding every buffer).
    Capture(StreamKey),
    /// Send the stream's cursor metadata.
    Cursor(StreamKey),
}

#[derive(Debug, Default)]
pub struct Timers {
    due: Vec<(Instant, Wake)>,
}

impl Timers {
    /// `wake` after `wait` (zero: at the loop's next turn, before it
    /// sleeps).
    pub fn after(&mut self, wait: Duration, wake: Wake) {
        self.due.push((Instant::now() + wait, wake));
    }

    /// When the earliest pending timer is due: None while nothing is
    /// pending.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.iter().map(|(at, _)| *at).min()
    }

    /// Takes what is due at `now`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<Wake> {
        if !self.due.iter().any(|(at, _)| *at <= now) {
            return Vec::new();
        }
        let mut due: Vec<(Instant, Wake)> = Vec::new();
        self.due.retain(|&(at, wake)| {
            if at <= now {
                due.push((at, wake));
                false
            } else {
                true
            }
        });
        due.sort_by_key(|(at, _)| *at);
        due.into_iter().map(|(_, wake)| wake).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_come_out_earliest_first_and_once() {
        let mut t = Timers::default();
        let now = Instant::now();
        t.after(Duration::from_millis(30), Wake::Capture(1));
        t.after(Duration::ZERO, Wake::Cursor(2));
        t.after(Duration::from_millis(10), Wake::Capture(3));
        assert!(t.next_due().unwrap() <= Instant::now());
        let later = now + Duration::from_millis(20);
        assert_eq!(t.take_due(later), [Wake::Cursor(2), Wake::Capture(3)]);
        assert!(t.take_due(later).is_empty());
        let next = t.next_due().unwrap();
        assert!(next > later && next <= later + Duration::from_millis(11));
        assert_eq!(t.take_due(next), [Wake::Capture(1)]);
        assert_eq!(t.next_due(), None);
    }
}
