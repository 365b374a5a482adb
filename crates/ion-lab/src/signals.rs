//! Signals as a file descriptor: the lab's Wayland clients poll them with
//! their connection instead of installing handlers.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use anyhow::{Context, Result};

/// Signals blocked and delivered through a signalfd, to poll beside a
/// Wayland connection.
pub struct Signals {
    fd: OwnedFd,
}

impl Signals {
    /// Blocks `signals` on this thread and reads them from a signalfd.
    pub fn new(signals: &[i32]) -> Result<Self> {
        // SAFETY: plain libc calls on a local, initialised sigset; the
        // returned fd is checked and owned right away. Callers run no
        // other threads that would need these signals.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &sig in signals {
                libc::sigaddset(&mut set, sig);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(std::io::Error::from_raw_os_error(rc)).context("blocking signals");
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
            if fd < 0 {
                return Err(std::io::Error::last_os_error()).context("signalfd");
            }
            Ok(Signals {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }

    /// The signal that arrived, if any.
    pub fn read(&self) -> Option<u32> {
        let mut buf = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        match rustix::io::read(&self.fd, &mut buf) {
            Ok(n) if n == buf.len() => Some(u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]])),
            _ => None,
        }
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
