//! The command channel into the media thread: a std mpsc queue and an
//! eventfd that the thread's epoll loop waits on.
//!
//! Written by hand where calloop's `channel` did the same (an mpsc queue
//! and a "ping" eventfd), because the media loop is no longer calloop's
//! (see `media_loop`). Like calloop's, it tells the receiver when the last
//! sender is gone, so the thread can leave when the daemon does.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::Arc;

use rustix::event::{eventfd, EventfdFlags};

/// What the receiver hears.
#[derive(Debug)]
pub enum Received<T> {
    Msg(T),
    /// Every sender was dropped (heard once).
    Closed,
}

/// Wakes the receiver: a write to the eventfd. Dropped with the last
/// sender, it wakes the receiver once more so that it sees the channel
/// closed.
struct Wake {
    fd: Arc<OwnedFd>,
}

impl Wake {
    fn ring(&self) {
        // An eventfd counter only fails to take a write when it would
        // overflow (2^64 - 2 unread pings): the receiver is awake anyway.
        let _ = rustix::io::write(&*self.fd, &1u64.to_ne_bytes());
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        self.ring();
    }
}

struct Inner<T> {
    // Dropped before `wake` (fields drop in order), so the receiver that
    // the final ring wakes finds the queue disconnected.
    tx: mpsc::Sender<T>,
    wake: Wake,
}

/// The sending half; cloning it shares one eventfd.
pub struct Sender<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Sender<T> {
    /// Queues `msg` and wakes the receiver; gives it back if the receiver
    /// is gone.
    pub fn send(&self, msg: T) -> Result<(), T> {
        self.inner.tx.send(msg).map_err(|e| e.0)?;
        self.inner.wake.ring();
        Ok(())
    }
}

/// The receiving half: poll [`Receiver::fd`] for reading, then
/// [`Receiver::drain`].
pub struct Receiver<T> {
    rx: mpsc::Receiver<T>,
    fd: Arc<OwnedFd>,
    closed: bool,
}

impl<T> Receiver<T> {
    /// The eventfd to wait on (readable while messages may be queued).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Every message queued now, in order, then `Closed` once if every
    /// sender is gone. Lazy: input events come thousands a second, and
    /// nothing is collected on their way to the handler.
    pub fn drain(&mut self) -> impl Iterator<Item = Received<T>> + '_ {
        // Clear the eventfd before reading the queue: a message sent after
        // this read rings again, so none is left behind until the next.
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(&*self.fd, &mut counter);
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            match self.rx.try_recv() {
                Ok(msg) => Some(Received::Msg(msg)),
                Err(TryRecvError::Empty) => {
                    done = true;
                    None
                }
                Err(TryRecvError::Disconnected) => {
                    done = true;
                    (!std::mem::replace(&mut self.closed, true)).then_some(Received::Closed)
                }
            }
        })
    }
}

/// A new channel.
pub fn channel<T>() -> std::io::Result<(Sender<T>, Receiver<T>)> {
    let fd = Arc::new(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?);
    let (tx, rx) = mpsc::channel();
    let sender = Sender {
        inner: Arc::new(Inner {
            tx,
            wake: Wake { fd: fd.clone() },
        }),
    };
    Ok((
        sender,
        Receiver {
            rx,
            fd,
            closed: false,
        },
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn readable(fd: BorrowedFd<'_>) -> bool {
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        rustix::event::poll(&mut fds, Some(&zero)).unwrap() == 1
    }

    #[test]
    fn messages_arrive_in_order_and_wake_the_receiver() {
        let (tx, mut rx) = channel::<u32>().unwrap();
        assert!(!readable(rx.fd()));
        tx.send(1).unwrap();
        tx.clone().send(2).unwrap();
        assert!(readable(rx.fd()));
        let got: Vec<u32> = rx
            .drain()
            .map(|r| match r {
                Received::Msg(m) => m,
                Received::Closed => panic!("not closed yet"),
            })
            .collect();
        assert_eq!(got, [1, 2]);
        // Drained: quiet until the next message.
        assert!(!readable(rx.fd()));
        assert!(rx.drain().next().is_none());
    }

    #[test]
    fn the_last_sender_dropped_wakes_the_receiver_once_with_closed() {
        let (tx, mut rx) = channel::<u32>().unwrap();
        let tx2 = tx.clone();
        tx.send(7).unwrap();
        drop(tx);
        drop(tx2);
        assert!(readable(rx.fd()));
        let got: Vec<_> = rx.drain().collect();
        assert!(matches!(
            got.as_slice(),
            [Received::Msg(7), Received::Closed]
        ));
        assert!(rx.drain().next().is_none(), "Closed is heard once");
    }

    #[test]
    fn a_send_to_a_dropped_receiver_gives_the_message_back() {
        let (tx, rx) = channel::<u32>().unwrap();
        drop(rx);
        assert_eq!(tx.send(3), Err(3));
    }
}
