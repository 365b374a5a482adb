//! Faults the end-to-end tests inject into the real daemon, named in
//! `IONCHANNEL_FAULT` (a test hook: nothing sets it in normal use).
//!
//! - `no-keymap-once`: the first virtual keyboard is made without sending
//!   its keymap, so its first key is a protocol error on every compositor
//!   (wlroots and smithay both refuse `key` before `keymap`) — the failure a
//!   smithay compositor showed when it could not parse our keymap, on any
//!   compositor the testbed runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

pub const FAULT_VAR: &str = "IONCHANNEL_FAULT";

fn no_keymap_pending() -> &'static AtomicBool {
    static PENDING: OnceLock<AtomicBool> = OnceLock::new();
    PENDING.get_or_init(|| {
        AtomicBool::new(std::env::var(FAULT_VAR).is_ok_and(|v| v == "no-keymap-once"))
    })
}

/// Whether this virtual keyboard must skip its keymap (true once at most).
pub fn take_no_keymap() -> bool {
    no_keymap_pending().swap(false, Ordering::Relaxed)
}
