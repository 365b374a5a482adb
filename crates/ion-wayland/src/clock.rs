//! Timestamps for input events and frames.

/// CLOCK_MONOTONIC in milliseconds, truncated to u32 as the protocols want
/// (it wraps after 49 days, which the protocols allow).
pub fn now_ms() -> u32 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let ms = (t.tv_sec as u64)
        .wrapping_mul(1000)
        .wrapping_add((t.tv_nsec as u64) / 1_000_000);
    ms as u32
}

/// CLOCK_MONOTONIC in nanoseconds: the clock frame timestamps use.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}
