//! A per-session token bucket that protects the compositor from input
//! floods without touching normal fast input.
//!
//! The default allows 8,000 events per second sustained with bursts of
//! 4,000: a 1000 Hz mouse plus fast typing uses an eighth of it. Releases
//! are never limited (a dropped release is a stuck key), and they are bounded
//! by the presses that were let through anyway.

use std::time::Duration;

use crate::error::InputError;

#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: u32,
    burst: u32,
    tokens: f64,
    last: Duration,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(8_000, 4_000)
    }
}

impl RateLimiter {
    /// `per_second` sustained, `burst` at most at once. Times are a
    /// monotonic clock's reading given by the caller, so the limiter is pure.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second,
            burst,
            tokens: f64::from(burst),
            last: Duration::ZERO,
        }
    }

    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Takes a token for one event at `now`, or refuses it.
    pub fn admit(&mut self, now: Duration, is_release: bool) -> Result<(), InputError> {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens =
            (self.tokens + elapsed * f64::from(self.per_second)).min(f64::from(self.burst));
        if is_release {
            return Ok(());
        }
        if self.tokens < 1.0 {
            return Err(InputError::RateLimited {
                limit: self.per_second,
            });
        }
        self.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_hz(hz: u32, i: u32) -> Duration {
        Duration::from_nanos(u64::from(i) * 1_000_000_000 / u64::from(hz))
    }

    #[test]
    fn a_1000hz_mouse_plus_typing_passes() {
        let mut r = RateLimiter::default();
        // 10 seconds of 1000 Hz motion, with a key press+release every 20 ms.
        for i in 0..10_000 {
            let now = at_hz(1000, i);
            r.admit(now, false).unwrap();
            if i % 20 == 0 {
                r.admit(now, false).unwrap();
                r.admit(now, true).unwrap();
            }
        }
    }

    #[test]
    fn a_flood_is_cut_but_releases_pass() {
        let mut r = RateLimiter::new(1000, 100);
        let now = Duration::from_secs(5);
        let passed = (0..1000).filter(|_| r.admit(now, false).is_ok()).count();
        assert_eq!(passed, 100);
        assert!(r.admit(now, true).is_ok());
        // After 50 ms, 50 more tokens.
        let later = now + Duration::from_millis(50);
        let passed = (0..1000).filter(|_| r.admit(later, false).is_ok()).count();
        assert_eq!(passed, 50);
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let mut r = RateLimiter::new(10, 1);
        assert!(r.admit(Duration::from_secs(10), false).is_ok());
        assert!(r.admit(Duration::from_secs(9), false).is_err());
    }
}
