//! Benchmarks on the testbed, through the real frontend. They print
//! figures; nothing here asserts on speed.
//!
//! `ionchannel-lab bench input` ([`input::run`]):
//!
//! - **Latency.** `NotifyPointerMotion` (±1 px in turn, the pointer parked
//!   on the probe first) and `NotifyKeyboardKeycode` (press and release in
//!   turn), one call every millisecond, each awaited. A call's latency is
//!   the probe's `t_us` of the event it caused minus CLOCK_MONOTONIC taken
//!   just before the call (the same clock: the probe writes
//!   [`crate::probe::record::monotonic_us`]). Calls and records are matched
//!   in order; when events are lost, no latency is reported.
//! - **Throughput.** Mixed events (motion +1, key press, motion −1, key
//!   release) sent back to back: each call awaited; pipelined (prebuilt
//!   `NoReplyExpected` messages written without waiting); pipelined and
//!   paced just under the daemon's rate limit. Events per second run from
//!   the first send to the probe's last record. Events the daemon's rate
//!   limiter refused are counted from its log.
//! - **Cost.** CPU time (utime + stime from `/proc/PID/stat`) of ionChannel,
//!   the frontend and the compositor during each phase, and ionChannel's resident
//!   memory (`VmRSS`, `VmHWM`) before and after.
//!
//! `ionchannel-lab bench screencast` ([`screencast::run`]) and
//! `ionchannel-lab bench clipboard` ([`clipboard::run`]: a 50 MiB payload
//! each way through the Clipboard portal, its throughput and ionChannel's
//! peak RSS during it) are described in their modules.

pub mod clipboard;
pub mod compare;
pub mod input;
pub mod latency;
pub mod procstat;
mod report;
pub mod screencast;
pub mod send;
pub mod stats;
pub mod tail;
pub mod throughput;

pub use clipboard::{ClipboardBenchOptions, ClipboardReport};
pub use input::{run, InputBenchOptions, InputReport};
pub use screencast::{ScreenCastBenchOptions, ScreenCastReport};
