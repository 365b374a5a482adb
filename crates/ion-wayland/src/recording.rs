//! A stand-in for the Wayland thread that records what it is told, for the
//! D-Bus layer's in-process tests (ordering, validation, lifecycle). The
//! real thread is tested against real compositors in ion-lab; this one only
//! lets the portal's own logic be tested without one.

use std::sync::{Arc, Mutex};

use calloop::channel;
use calloop::EventLoop;

use crate::command::{Command, Snapshot};
use crate::thread::WaylandHandle;

/// What the stand-in has been told, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    CreateDevices {
        session: u64,
        devices: u32,
    },
    Input {
        session: u64,
        event: ion_core::InputEvent,
    },
    DestroyDevices {
        session: u64,
    },
    Shutdown,
}

pub type Log = Arc<Mutex<Vec<Recorded>>>;

/// Starts the stand-in; it grants every device asked for.
pub fn recording() -> (WaylandHandle, Log) {
    let log: Log = Arc::default();
    let (tx, rx) = channel::channel::<Command>();
    let thread_log = log.clone();
    let spawned = std::thread::Builder::new()
        .name("wayland-recording".into())
        .spawn(move || {
            let Ok(mut event_loop) = EventLoop::<bool>::try_new() else {
                return;
            };
            let inserted = event_loop.handle().insert_source(rx, move |ev, _, exit| {
                let mut log = thread_log.lock().unwrap_or_else(|e| e.into_inner());
                match ev {
                    channel::Event::Msg(Command::CreateDevices {
                        session,
                        devices,
                        reply,
                    }) => {
                        log.push(Recorded::CreateDevices {
                            session,
                            devices: devices.bits(),
                        });
                        let _ = reply.send(Ok(devices));
                    }
                    channel::Event::Msg(Command::Input { session, event }) => {
                        log.push(Recorded::Input { session, event });
                    }
                    channel::Event::Msg(Command::DestroyDevices { session, reply }) => {
                        log.push(Recorded::DestroyDevices { session });
                        if let Some(r) = reply {
                            let _ = r.send(());
                        }
                    }
                    channel::Event::Msg(Command::Snapshot { reply }) => {
                        let _ = reply.send(Snapshot {
                            globals: Vec::new(),
                            outputs: Vec::new(),
                            seat: Some("seat0".into()),
                            keymap_layout: "us".into(),
                            pipewire: false,
                            windows: Vec::new(),
                            window_capture: false,
                            cursor_metadata: false,
                        });
                    }
                    channel::Event::Msg(Command::CreateStreams { reply, .. }) => {
                        let _ = reply.send(Err("no PipeWire in the recording stand-in".into()));
                    }
                    channel::Event::Msg(Command::DestroyStreams { .. }) => {}
                    channel::Event::Msg(Command::Shutdown) | channel::Event::Closed => {
                        log.push(Recorded::Shutdown);
                        *exit = true;
                    }
                }
            });
            if inserted.is_err() {
                return;
            }
            let mut exit = false;
            while !exit {
                if event_loop.dispatch(None, &mut exit).is_err() {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the recording thread: {e}");
    }
    (WaylandHandle::from_sender(tx), log)
}
