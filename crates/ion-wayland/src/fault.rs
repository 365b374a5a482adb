//! Faults the end-to-end tests inject into the real daemon, named in
//! `IONCHANNEL_FAULT` (a test hook: nothing sets it in normal use).
//!
//! - `no-keymap-once`: the first virtual keyboard is made without sending
//!   its keymap, so its first key is a protocol error on every compositor
//!   (wlroots and smithay both refuse `key` before `keymap`) — the failure a
//!   smithay compositor showed when it could not parse our keymap, on any
//!   compositor the testbed runs.
//! - `dmabuf-alloc-fails`: GBM passes its check at connect, then every
//!   stream buffer's dmabuf fails, as when a device runs out of memory or
//!   refuses the consumer's choice: the stream must fall back to shm.

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

/// Whether every stream dmabuf allocation must fail.
pub fn dmabuf_alloc_fails() -> bool {
    static SET: OnceLock<bool> = OnceLock::new();
    *SET.get_or_init(|| std::env::var(FAULT_VAR).is_ok_and(|v| v == "dmabuf-alloc-fails"))
}
