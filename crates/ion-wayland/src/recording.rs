//! A stand-in for the Wayland thread that records what it is told, for the
//! D-Bus layer's in-process tests (ordering, validation, lifecycle). The
//! real thread is tested against real compositors in ion-lab; this one only
//! lets the portal's own logic be tested without one.

use std::sync::{Arc, Mutex};

use calloop::channel;
use calloop::EventLoop;

use crate::command::{Command, OutputInfo, Snapshot, StreamInfo};
use crate::keymap::{Keymap, KeymapNames};
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
    ReleaseInput {
        session: u64,
    },
    DestroyDevices {
        session: u64,
    },
    CreateStreams {
        session: u64,
        sources: Vec<crate::command::SourceRef>,
    },
    DestroyStreams {
        session: u64,
    },
    Shutdown,
}

pub type Log = Arc<Mutex<Vec<Recorded>>>;

/// The first stream's PipeWire node id in the stand-in; the next ones
/// count up.
pub const FIRST_NODE_ID: u32 = 40;

/// Starts the stand-in; it grants every device asked for and has no
/// PipeWire (CreateStreams fails).
pub fn recording() -> (WaylandHandle, Log) {
    recording_with_outputs(Vec::new())
}

/// The keymap text the stand-in's keyboards use: the default layout, as the
/// real thread compiles it (None if xkb-data is missing).
pub fn recording_keymap() -> Option<String> {
    Keymap::new(&KeymapNames::default())
        .ok()
        .map(|k| k.text().to_owned())
}

/// Starts the stand-in with these outputs: CreateStreams succeeds for
/// them, with node ids from [`FIRST_NODE_ID`] in the order asked.
pub fn recording_with_outputs(outputs: Vec<OutputInfo>) -> (WaylandHandle, Log) {
    let log: Log = Arc::default();
    let (tx, rx) = channel::channel::<Command>();
    let thread_log = log.clone();
    let keymap = recording_keymap();
    let spawned = std::thread::Builder::new()
        .name("wayland-recording".into())
        .spawn(move || {
            let Ok(mut event_loop) = EventLoop::<bool>::try_new() else {
                return;
            };
            let mut with_keyboard = std::collections::HashSet::new();
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
                        if devices.contains(ion_core::DeviceType::Keyboard) {
                            with_keyboard.insert(session);
                        }
                        let _ = reply.send(Ok(devices));
                    }
                    channel::Event::Msg(Command::Input { session, event }) => {
                        log.push(Recorded::Input { session, event });
                    }
                    channel::Event::Msg(Command::ReleaseInput { session }) => {
                        log.push(Recorded::ReleaseInput { session });
                    }
                    channel::Event::Msg(Command::Keymap { session, reply }) => {
                        let text = with_keyboard
                            .contains(&session)
                            .then(|| keymap.clone())
                            .flatten();
                        let _ = reply.send(text);
                    }
                    channel::Event::Msg(Command::DestroyDevices { session, reply }) => {
                        log.push(Recorded::DestroyDevices { session });
                        with_keyboard.remove(&session);
                        if let Some(r) = reply {
                            let _ = r.send(());
                        }
                    }
                    channel::Event::Msg(Command::Snapshot { reply }) => {
                        let _ = reply.send(Snapshot {
                            globals: Vec::new(),
                            outputs: outputs.clone(),
                            seat: Some("seat0".into()),
                            keymap_layout: "us".into(),
                            pipewire: !outputs.is_empty(),
                            windows: Vec::new(),
                            window_capture: false,
                            cursor_metadata: false,
                        });
                    }
                    channel::Event::Msg(Command::CreateStreams {
                        session,
                        sources,
                        reply,
                        ..
                    }) => {
                        log.push(Recorded::CreateStreams {
                            session,
                            sources: sources.clone(),
                        });
                        let made: Option<Vec<StreamInfo>> = sources
                            .iter()
                            .zip(FIRST_NODE_ID..)
                            .map(|(source, node_id)| {
                                let crate::command::SourceRef::Output(name) = source else {
                                    return None;
                                };
                                outputs
                                    .iter()
                                    .find(|o| &o.name == name)
                                    .map(|o| StreamInfo {
                                        node_id,
                                        source: crate::command::StreamSource::Output(o.clone()),
                                    })
                            })
                            .collect();
                        let _ = reply.send(match made {
                            Some(streams) if !outputs.is_empty() => Ok(streams),
                            _ => Err("no PipeWire in the recording stand-in".into()),
                        });
                    }
                    channel::Event::Msg(Command::DestroyStreams { session }) => {
                        log.push(Recorded::DestroyStreams { session });
                    }
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
