//! Waiting for a condition with a deadline, never for a fixed time.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// How often [`wait_until`] checks its condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Checks `cond` every [`POLL_INTERVAL`] until it returns `Ok(true)`.
///
/// `Ok(false)` means "not yet"; an `Err` from `cond` is final and returned at
/// once (use it for "the process we wait on died"). Past `deadline` the error
/// names `what`. The condition is always checked at least once.
pub fn wait_until(
    deadline: Instant,
    what: &str,
    mut cond: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let started = Instant::now();
    loop {
        match cond() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(err) => return Err(err.context(format!("while waiting for {what}"))),
        }
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "timed out after {:.1} s waiting for {what}",
                (now - started).as_secs_f64()
            );
        }
        thread::sleep(POLL_INTERVAL.min(deadline - now));
    }
}
