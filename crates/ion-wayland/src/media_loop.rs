//! The media thread's loop: one epoll set over the compositor's socket,
//! PipeWire's loop, the command channel and a timerfd for the timers. It
//! owns all Wayland and stream state ([`State`]).
//!
//! Written by hand where calloop (with calloop-wayland-source) did the
//! same, because of what a wakeup cost there. Measured on the ScreenCast
//! benchmark (issue 13, `perf trace -s`), each of the two wakeups a frame
//! made, besides the wait itself: a `timerfd_settime`, two `epoll_ctl`
//! and a `read` of the `polling` crate re-arming its timer and notifier;
//! a `futex` from cancelling wayland-rs's read guard whenever the
//! compositor had sent nothing; and a `recvmsg` that found nothing. Here a
//! wakeup is one `epoll_wait`, the socket is read only when epoll says it
//! is readable, and the timerfd is set only when the earliest timer
//! changes.

use std::io::ErrorKind;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use wayland_client::backend::WaylandError;
use wayland_client::{Connection, EventQueue};

use crate::command::Command;
use crate::command_channel::{Received, Receiver};
use crate::state::State;

const WAYLAND: u64 = 0;
const PIPEWIRE: u64 = 1;
const COMMANDS: u64 = 2;
const TIMER: u64 = 3;

/// Why the loop ended.
pub enum Ended {
    /// The thread was told to leave.
    Exit,
    /// The compositor connection failed (the reason, for the log and the
    /// Disconnected event).
    Lost(String),
}

pub struct MediaLoop {
    epoll: OwnedFd,
    conn: Connection,
    queue: EventQueue<State>,
    commands: Receiver<Command>,
    /// PipeWire's loop descriptor (ScreenCast available), kept open while
    /// it is watched.
    pipewire: Option<OwnedFd>,
    /// Rings when the earliest timer is due.
    timer: OwnedFd,
    /// What the timerfd is set for.
    armed: Option<Instant>,
    /// Whether the socket is also watched for writing (a flush that would
    /// have blocked is waiting for room).
    want_write: bool,
}

fn lost(what: &str, e: impl std::fmt::Display) -> Ended {
    Ended::Lost(format!("compositor connection lost: {what}: {e}"))
}

impl MediaLoop {
    pub fn new(
        conn: Connection,
        queue: EventQueue<State>,
        commands: Receiver<Command>,
        pipewire: Option<OwnedFd>,
    ) -> std::io::Result<Self> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        epoll::add(
            &epoll,
            conn.backend().poll_fd(),
            EventData::new_u64(WAYLAND),
            EventFlags::IN,
        )?;
        epoll::add(
            &epoll,
            commands.fd(),
            EventData::new_u64(COMMANDS),
            EventFlags::IN,
        )?;
        if let Some(fd) = &pipewire {
            epoll::add(&epoll, fd, EventData::new_u64(PIPEWIRE), EventFlags::IN)?;
        }
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
        )?;
        epoll::add(&epoll, &timer, EventData::new_u64(TIMER), EventFlags::IN)?;
        Ok(Self {
            epoll,
            conn,
            queue,
            commands,
            pipewire,
            timer,
            armed: None,
            want_write: false,
        })
    }

    /// Runs until the thread must leave or the connection fails.
    pub fn run(&mut self, state: &mut State) -> Ended {
        let mut events = [Event {
            flags: EventFlags::empty(),
            data: EventData::new_u64(0),
        }; 8];
        loop {
            // Everything that is ready is handled before the loop sleeps:
            // due timers (which may queue requests and events), events
            // already read, output changes they committed; then what was
            // sent goes out.
            for wake in state.timers.take_due(Instant::now()) {
                state.fire(wake);
            }
            if let Err(e) = self.queue.dispatch_pending(state) {
                return lost("dispatch", e);
            }
            state.flush_output_changes();
            if state.exit {
                return Ended::Exit;
            }
            if let Err(e) = self.flush() {
                return e;
            }
            let timeout = match self.arm(state.timers.next_due()) {
                Ok(t) => t,
                Err(e) => return Ended::Lost(format!("the media loop cannot set its timer: {e}")),
            };
            let n = match epoll::wait(&self.epoll, &mut events[..], timeout.as_ref()) {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Ended::Lost(format!("the media loop cannot wait: {e}")),
            };
            for ev in &events[..n] {
                let (flags, token) = (ev.flags, ev.data.u64());
                match token {
                    WAYLAND => {
                        if flags.intersects(EventFlags::OUT) {
                            if let Err(e) = self.flush() {
                                return e;
                            }
                        }
                        if flags.intersects(EventFlags::IN | EventFlags::ERR | EventFlags::HUP) {
                            if let Err(e) = self.read() {
                                return e;
                            }
                        }
                    }
                    PIPEWIRE => state.dispatch_pipewire(),
                    TIMER => {
                        // Fired and disarmed; what is due runs at the top.
                        let mut count = [0u8; 8];
                        let _ = rustix::io::read(&self.timer, &mut count);
                        self.armed = None;
                    }
                    COMMANDS => {
                        for msg in self.commands.drain() {
                            match msg {
                                Received::Msg(cmd) => state.handle(cmd),
                                // Every handle dropped: the daemon is leaving.
                                Received::Closed => state.handle(Command::Shutdown),
                            }
                        }
                        if let Some(fd) = state.new_pipewire_fd.take() {
                            if let Err(e) = self.watch_pipewire(fd) {
                                return Ended::Lost(format!(
                                    "the media loop cannot watch PipeWire: {e}"
                                ));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Watches PipeWire's new loop descriptor (after a reconnection)
    /// instead of the old one.
    fn watch_pipewire(&mut self, fd: OwnedFd) -> std::io::Result<()> {
        if let Some(old) = self.pipewire.take() {
            // Already gone from the set if PipeWire's loop was closed.
            let _ = epoll::delete(&self.epoll, &old);
        }
        epoll::add(
            &self.epoll,
            &fd,
            EventData::new_u64(PIPEWIRE),
            EventFlags::IN,
        )?;
        self.pipewire = Some(fd);
        Ok(())
    }

    /// Reads what the compositor sent into the queue (dispatched at the
    /// top of the loop). Only this thread reads the connection, so the
    /// read guard is taken once epoll has said the socket is readable.
    fn read(&mut self) -> Result<(), Ended> {
        // None: events are queued already; they are dispatched first.
        let Some(guard) = self.queue.prepare_read() else {
            return Ok(());
        };
        match guard.read() {
            Ok(_) => Ok(()),
            Err(WaylandError::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(lost("read", e)),
        }
    }

    /// Sends what is buffered. A full socket is not an error: the rest
    /// goes when epoll says there is room.
    fn flush(&mut self) -> Result<(), Ended> {
        let blocked = match self.conn.flush() {
            Ok(()) => false,
            Err(WaylandError::Io(e)) if e.kind() == ErrorKind::WouldBlock => true,
            Err(e) => return Err(lost("flush", e)),
        };
        if blocked != self.want_write {
            let flags = if blocked {
                tracing::debug!("the compositor's socket is full; waiting for room");
                EventFlags::IN | EventFlags::OUT
            } else {
                EventFlags::IN
            };
            epoll::modify(
                &self.epoll,
                self.conn.backend().poll_fd(),
                EventData::new_u64(WAYLAND),
                flags,
            )
            .map_err(|e| Ended::Lost(format!("the media loop cannot watch the socket: {e}")))?;
            self.want_write = blocked;
        }
        Ok(())
    }

    /// Sets the timerfd for the earliest timer, if that changed; returns
    /// epoll's timeout: zero when a timer is due already, else none (the
    /// timerfd wakes the loop, to the nanosecond, which epoll's
    /// millisecond timeout would not).
    fn arm(&mut self, next: Option<Instant>) -> std::io::Result<Option<Timespec>> {
        let now = Instant::now();
        if next.is_some_and(|at| at <= now) {
            return Ok(Some(Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }));
        }
        if next != self.armed {
            // Relative to now: `Instant` is CLOCK_MONOTONIC, but std does
            // not expose its timespec.
            let value = next.map_or(Duration::ZERO, |at| at - now);
            let spec = Itimerspec {
                it_interval: Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: Timespec {
                    tv_sec: value.as_secs() as i64,
                    // Never zero for a timer (zero disarms).
                    tv_nsec: i64::from(value.subsec_nanos().max(u32::from(next.is_some()))),
                },
            };
            timerfd_settime(&self.timer, TimerfdTimerFlags::empty(), &spec)?;
            self.armed = next;
        }
        Ok(None)
    }

    /// The connection, for the last round trip at shutdown and the
    /// protocol error after a failure.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}
