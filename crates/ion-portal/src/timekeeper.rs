//! The one task that comes back to a session when nothing else will: when
//! order repair's window ends on a provisional press (which must then be
//! released even if no further input arrives) and when a summary of
//! refused input is due.
//!
//! Input calls run inline in the D-Bus dispatch and never wait, so they
//! only note a deadline here (through an unbounded channel, without
//! blocking); this task sleeps until the earliest one and asks the portal
//! to look at that session. An idle daemon has no deadlines and so no
//! wake-ups.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::portal::Portal;

/// A session id and when to look at it (on the portal's clock).
type Deadline = (Duration, u64);

pub struct Timekeeper {
    tx: mpsc::UnboundedSender<Deadline>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Deadline>>>,
}

impl Default for Timekeeper {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

impl Timekeeper {
    /// Asks for `session` to be looked at once `at` has passed.
    pub fn schedule(&self, session: u64, at: Duration) {
        // Fails only once the task is gone: the daemon is stopping.
        let _ = self.tx.send((at, session));
    }

    /// Starts the task (once; later calls do nothing). It ends with the
    /// portal.
    pub fn start(&self, portal: Weak<Portal>, epoch: tokio::time::Instant) {
        let Some(mut rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        tokio::spawn(async move {
            let mut heap: BinaryHeap<Reverse<Deadline>> = BinaryHeap::new();
            loop {
                let next = heap.peek().map(|Reverse((at, _))| epoch + *at);
                tokio::select! {
                    got = rx.recv() => match got {
                        Some(d) => heap.push(Reverse(d)),
                        None => return,
                    },
                    () = sleep_until(next) => {
                        let Some(Reverse((_, session))) = heap.pop() else { continue };
                        let Some(portal) = portal.upgrade() else { return };
                        if let Some(again) = portal.look_at(session) {
                            heap.push(Reverse((again, session)));
                        }
                    }
                }
            }
        });
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
