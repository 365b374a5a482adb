//! Moving clipboard data from one fd to another without holding it: 64 KiB
//! at a time, on a blocking thread of its own, until the writer closes, the
//! reader goes away, nothing moves for the idle timeout, or the session
//! ends.
//!
//! Why the daemon stands in the middle at all (it could hand the app the
//! compositor's fd): so that a side that never finishes ends at a timeout,
//! and closing a session ends its transfers. A paste never hangs on us.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;

/// How much is read before it is written on.
const CHUNK: usize = 64 * 1024;
/// How often a waiting pump looks at its cancel flag.
const TICK: Duration = Duration::from_millis(100);

/// How a pump ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PumpEnd {
    /// The writer closed its end: everything arrived.
    Complete,
    /// Nothing moved for the idle timeout.
    TimedOut,
    /// The reading side closed first.
    ReaderGone,
    /// The session ended (or the daemon is leaving).
    Cancelled,
    /// Reading or writing failed otherwise.
    Failed(Errno),
}

/// What a pump did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PumpReport {
    pub bytes: u64,
    pub end: PumpEnd,
}

/// Copies `from` into `to` until one of the ends in [`PumpEnd`]. Both fds
/// are closed when it returns, which is what tells the other sides.
pub fn pump(from: OwnedFd, to: OwnedFd, idle: Duration, cancel: &AtomicBool) -> PumpReport {
    let mut bytes = 0u64;
    let end = run(&from, &to, idle, cancel, &mut bytes);
    PumpReport { bytes, end }
}

fn run(
    from: &OwnedFd,
    to: &OwnedFd,
    idle: Duration,
    cancel: &AtomicBool,
    bytes: &mut u64,
) -> PumpEnd {
    // Non-blocking, so that a stuck side is only ever waited for in poll,
    // where the cancel flag and the timeout are seen.
    for fd in [from, to] {
        if let Err(e) = set_nonblocking(fd) {
            return PumpEnd::Failed(e);
        }
    }
    let mut buf = vec![0u8; CHUNK];
    let mut last_progress = Instant::now();
    loop {
        let n = match wait_and(
            from,
            PollFlags::IN,
            idle,
            &mut last_progress,
            cancel,
            |fd| rustix::io::read(fd, &mut buf[..]),
        ) {
            Ok(0) => return PumpEnd::Complete,
            Ok(n) => n,
            Err(end) => return end,
        };
        let mut off = 0;
        while off < n {
            match wait_and(to, PollFlags::OUT, idle, &mut last_progress, cancel, |fd| {
                rustix::io::write(fd, &buf[off..n])
            }) {
                Ok(w) => {
                    off += w;
                    *bytes += w as u64;
                }
                Err(end) => return end,
            }
        }
    }
}

/// Waits until `fd` is ready for `flags`, then runs `op` on it; a result
/// of a positive count, EOF (0 from a read) or the end of the pump.
fn wait_and(
    fd: &OwnedFd,
    flags: PollFlags,
    idle: Duration,
    last_progress: &mut Instant,
    cancel: &AtomicBool,
    mut op: impl FnMut(&OwnedFd) -> Result<usize, Errno>,
) -> Result<usize, PumpEnd> {
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(PumpEnd::Cancelled);
        }
        if last_progress.elapsed() >= idle {
            return Err(PumpEnd::TimedOut);
        }
        match op(fd) {
            Ok(n) => {
                *last_progress = Instant::now();
                return Ok(n);
            }
            Err(Errno::AGAIN) | Err(Errno::INTR) => {}
            Err(Errno::PIPE) => return Err(PumpEnd::ReaderGone),
            Err(e) => return Err(PumpEnd::Failed(e)),
        }
        let tick = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: TICK.as_nanos() as _,
        };
        let mut fds = [PollFd::new(fd, flags)];
        match poll(&mut fds, Some(&tick)) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(PumpEnd::Failed(e)),
        }
        // A reader that went away shows as an error on the write end.
        if flags == PollFlags::OUT && fds[0].revents().contains(PollFlags::ERR) {
            return Err(PumpEnd::ReaderGone);
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) -> Result<(), Errno> {
    let flags = rustix::fs::fcntl_getfl(fd.as_fd())?;
    rustix::fs::fcntl_setfl(fd.as_fd(), flags | rustix::fs::OFlags::NONBLOCK)
}

/// A pump's cancel flag, shared by the session that owns the transfer.
pub type Cancel = Arc<AtomicBool>;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn pipe() -> (OwnedFd, OwnedFd) {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap()
    }

    #[test]
    fn moves_everything_and_ends_at_eof() {
        let (src_r, src_w) = pipe();
        let (dst_r, dst_w) = pipe();
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let expect = data.clone();
        let writer = std::thread::spawn(move || {
            std::fs::File::from(src_w).write_all(&data).unwrap();
        });
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            std::fs::File::from(dst_r).read_to_end(&mut got).unwrap();
            got
        });
        let cancel = AtomicBool::new(false);
        let report = pump(src_r, dst_w, Duration::from_secs(5), &cancel);
        writer.join().unwrap();
        assert_eq!(report.end, PumpEnd::Complete);
        assert_eq!(report.bytes, expect.len() as u64);
        assert_eq!(reader.join().unwrap(), expect);
    }

    #[test]
    fn a_writer_that_stalls_ends_at_the_timeout_with_what_it_wrote() {
        let (src_r, src_w) = pipe();
        let (dst_r, dst_w) = pipe();
        let mut w = std::fs::File::from(src_w);
        w.write_all(b"partial").unwrap();
        let cancel = AtomicBool::new(false);
        let t0 = Instant::now();
        let report = pump(src_r, dst_w, Duration::from_millis(300), &cancel);
        assert_eq!(report.end, PumpEnd::TimedOut);
        assert!(t0.elapsed() < Duration::from_secs(2));
        let mut got = Vec::new();
        std::fs::File::from(dst_r).read_to_end(&mut got).unwrap();
        assert_eq!(
            got, b"partial",
            "the reader gets what was written, then EOF"
        );
        drop(w);
    }

    #[test]
    fn a_reader_that_leaves_ends_the_pump() {
        let (src_r, src_w) = pipe();
        let (dst_r, dst_w) = pipe();
        drop(dst_r);
        std::fs::File::from(src_w).write_all(b"data").unwrap();
        let cancel = AtomicBool::new(false);
        let report = pump(src_r, dst_w, Duration::from_secs(5), &cancel);
        assert_eq!(report.end, PumpEnd::ReaderGone);
    }

    #[test]
    fn cancel_ends_a_waiting_pump_soon() {
        let (src_r, _src_w) = pipe();
        let (_dst_r, dst_w) = pipe();
        let cancel = Arc::new(AtomicBool::new(false));
        let c = cancel.clone();
        let t = std::thread::spawn(move || pump(src_r, dst_w, Duration::from_secs(60), &c));
        std::thread::sleep(Duration::from_millis(150));
        cancel.store(true, Ordering::Relaxed);
        let t0 = Instant::now();
        assert_eq!(t.join().unwrap().end, PumpEnd::Cancelled);
        assert!(t0.elapsed() < Duration::from_secs(1));
    }
}
