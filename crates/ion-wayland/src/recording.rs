//! A stand-in for the Wayland thread that records what it is told, for the
//! D-Bus layer's in-process tests (ordering, validation, lifecycle). The
//! real thread is tested against real compositors in ion-lab; this one only
//! lets the portal's own logic be tested without one.
//!
//! The clipboard is modelled as the real thread behaves: `SetSelection`
//! makes the session the selection's owner (SelectionChanged with owner
//! Some), `ClearSelection` withdraws it if the session owns it, and
//! `ReadSelection` of a local app's selection writes [`test_payload`] into
//! the fd (or the sized payload given to [`Injector::local_copy_sized`]);
//! a read of a session's own selection becomes SelectionSend with the
//! reader's fd, as the compositor would route it. Tests play the local
//! app through [`Injector`] and hear the events on [`Recording::events`].

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use calloop::channel;

use crate::command_channel::Received;
use calloop::EventLoop;
use tokio::sync::mpsc;

use crate::command::{Command, Event, OutputInfo, SessionId, Snapshot, StreamInfo};
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
    SetSelection {
        session: u64,
        mime_types: Vec<String>,
    },
    ClearSelection {
        session: u64,
    },
    ReadSelection {
        mime_type: String,
    },
    Shutdown,
}

/// The bytes the stand-in writes for a `ReadSelection` of `mime_type`
/// from a local app's selection: fixed, and different for each type, so
/// that a test can tell which type was read.
pub fn test_payload(mime_type: &str) -> Vec<u8> {
    format!("ionChannel recording stand-in: {mime_type}\n").into_bytes()
}

/// `len` bytes: [`test_payload`] repeated and cut at `len` (large
/// transfers in-process).
pub fn test_payload_sized(mime_type: &str, len: usize) -> Vec<u8> {
    test_payload(mime_type)
        .into_iter()
        .cycle()
        .take(len)
        .collect()
}

/// The stand-in started with [`recording_clipboard`]: its handle, its log,
/// the events it sends (as the real thread's `WaylandThread::events`), and
/// the local app's side of the clipboard.
pub struct Recording {
    pub handle: WaylandHandle,
    pub log: Log,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub inject: Injector,
}

/// What a test injects: the local apps' side of the clipboard.
#[derive(Clone)]
pub struct Injector {
    tx: channel::Sender<Injected>,
}

enum Injected {
    Copy {
        mime_types: Vec<String>,
        len: Option<usize>,
        stall: bool,
    },
    Event(Event),
}

impl Injector {
    /// A local app copies: the selection is these types, owned by no
    /// session (SelectionChanged with owner None); a ReadSelection of one
    /// of them gets [`test_payload`].
    pub fn local_copy(&self, mime_types: Vec<String>) {
        let _ = self.tx.send(Injected::Copy {
            mime_types,
            len: None,
            stall: false,
        });
    }

    /// As [`Injector::local_copy`], with `len` bytes of
    /// [`test_payload_sized`] for each type.
    pub fn local_copy_sized(&self, mime_types: Vec<String>, len: usize) {
        let _ = self.tx.send(Injected::Copy {
            mime_types,
            len: Some(len),
            stall: false,
        });
    }

    /// A local app copies and, asked for the data, writes [`STALL_PART`]
    /// and then nothing more, keeping its end open for [`STALL_HOLD`]: an
    /// app that offers data and never finishes writing it.
    pub fn local_copy_stalled(&self, mime_types: Vec<String>) {
        let _ = self.tx.send(Injected::Copy {
            mime_types,
            len: None,
            stall: true,
        });
    }

    /// A local app pastes `mime_type` from the session's selection:
    /// SelectionSend with the write end of a new pipe. Returns the read
    /// end, where what the D-Bus side writes arrives (until it closes).
    pub fn local_paste(&self, session: SessionId, mime_type: &str) -> std::io::Result<OwnedFd> {
        let (read, write) = rustix::pipe::pipe()?;
        self.event(Event::SelectionSend {
            session,
            mime_type: mime_type.to_owned(),
            fd: Arc::new(write),
        });
        Ok(read)
    }

    /// Any event, sent as is (it does not change the stand-in's model).
    pub fn event(&self, event: Event) {
        let _ = self.tx.send(Injected::Event(event));
    }
}

/// The stand-in's clipboard: the selection's types, its owner, and the
/// payload length of a local app's selection.
#[derive(Default)]
struct Selection {
    mime_types: Vec<String>,
    owner: Option<SessionId>,
    len: Option<usize>,
    /// The local app never finishes writing (see `local_copy_stalled`).
    stall: bool,
}

struct StandIn {
    exit: bool,
    selection: Option<Selection>,
    events: mpsc::UnboundedSender<Event>,
}

impl StandIn {
    fn changed(&self) {
        let (mime_types, owner) = match &self.selection {
            Some(s) => (s.mime_types.clone(), s.owner),
            None => (Vec::new(), None),
        };
        let _ = self
            .events
            .send(Event::SelectionChanged { mime_types, owner });
    }

    fn read(&self, mime_type: String, fd: OwnedFd) -> Result<(), String> {
        let Some(sel) = &self.selection else {
            return Err("there is no selection".into());
        };
        if !sel.mime_types.contains(&mime_type) {
            return Err(format!("{mime_type} is not on offer"));
        }
        if let Some(session) = sel.owner {
            // The compositor routes a read of our own selection back to
            // the session's source.
            let _ = self.events.send(Event::SelectionSend {
                session,
                mime_type,
                fd: Arc::new(fd),
            });
            return Ok(());
        }
        let bytes = match sel.len {
            Some(len) => test_payload_sized(&mime_type, len),
            None if sel.stall => STALL_PART.to_vec(),
            None => test_payload(&mime_type),
        };
        let stall = sel.stall;
        // Written on a thread of its own, as a local app would: a reader
        // that is slow (or never reads) must not stall the stand-in.
        let spawned = std::thread::Builder::new()
            .name("recording-paste".into())
            .spawn(move || {
                let mut file = std::fs::File::from(fd);
                if let Err(e) = std::io::Write::write_all(&mut file, &bytes) {
                    tracing::debug!("recording stand-in: the reader left: {e}");
                }
                if stall {
                    std::thread::sleep(STALL_HOLD);
                }
            });
        spawned.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// What a stalled local app writes before it stops (`local_copy_stalled`).
pub const STALL_PART: &[u8] = b"the first part, and then nothing";
/// How long a stalled local app keeps its end open.
pub const STALL_HOLD: std::time::Duration = std::time::Duration::from_secs(60);

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
    let r = recording_clipboard(outputs);
    (r.handle, r.log)
}

/// Starts the stand-in with these outputs, and with its events and the
/// clipboard's [`Injector`] (the stand-in's snapshot names
/// ext-data-control as its clipboard protocol).
pub fn recording_clipboard(outputs: Vec<OutputInfo>) -> Recording {
    let log: Log = Arc::default();
    // Test support only: a machine without eventfds runs no test at all,
    // so failing loudly here is the clearest report.
    let Ok((tx, mut rx)) = crate::command_channel::channel::<Command>() else {
        panic!("the recording stand-in cannot make its command channel (no eventfd)");
    };
    let Ok(rx_fd) = rustix::io::dup(rx.fd()) else {
        panic!("the recording stand-in cannot dup its command channel's eventfd");
    };
    let (inject_tx, inject_rx) = channel::channel::<Injected>();
    let (events_tx, events) = mpsc::unbounded_channel();
    let thread_log = log.clone();
    let keymap = recording_keymap();
    let spawned = std::thread::Builder::new()
        .name("wayland-recording".into())
        .spawn(move || {
            let Ok(mut event_loop) = EventLoop::<StandIn>::try_new() else {
                return;
            };
            let mut with_keyboard = std::collections::HashSet::new();
            let injected =
                event_loop
                    .handle()
                    .insert_source(inject_rx, |ev, _, stand_in: &mut StandIn| match ev {
                        channel::Event::Msg(Injected::Copy {
                            mime_types,
                            len,
                            stall,
                        }) => {
                            stand_in.selection = Some(Selection {
                                mime_types,
                                owner: None,
                                len,
                                stall,
                            });
                            stand_in.changed();
                        }
                        channel::Event::Msg(Injected::Event(event)) => {
                            let _ = stand_in.events.send(event);
                        }
                        channel::Event::Closed => {}
                    });
            if injected.is_err() {
                return;
            }
            let inserted = event_loop.handle().insert_source(
                calloop::generic::Generic::new(
                    rx_fd,
                    calloop::Interest::READ,
                    calloop::Mode::Level,
                ),
                move |_, _, stand_in| {
                    for ev in rx.drain() {
                        let mut log = thread_log.lock().unwrap_or_else(|e| e.into_inner());
                        match ev {
                            Received::Msg(Command::CreateDevices {
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
                            Received::Msg(Command::Input { session, event }) => {
                                log.push(Recorded::Input { session, event });
                            }
                            Received::Msg(Command::ReleaseInput { session }) => {
                                log.push(Recorded::ReleaseInput { session });
                            }
                            Received::Msg(Command::Keymap { session, reply }) => {
                                let text = with_keyboard
                                    .contains(&session)
                                    .then(|| keymap.clone())
                                    .flatten();
                                let _ = reply.send(text);
                            }
                            Received::Msg(Command::DestroyDevices { session, reply }) => {
                                log.push(Recorded::DestroyDevices { session });
                                with_keyboard.remove(&session);
                                if let Some(r) = reply {
                                    let _ = r.send(());
                                }
                            }
                            Received::Msg(Command::Snapshot { reply }) => {
                                let _ = reply.send(Snapshot {
                                    globals: Vec::new(),
                                    outputs: outputs.clone(),
                                    seat: Some("seat0".into()),
                                    keymap_layout: "us".into(),
                                    pipewire: !outputs.is_empty(),
                                    windows: Vec::new(),
                                    window_capture: false,
                                    cursor_metadata: false,
                                    data_control: Some(crate::EXT_DATA_CONTROL.into()),
                                    pointer_path: Some("zwlr_virtual_pointer_v1".into()),
                                    touch: false,
                                    uinput_unusable: Some("the recording stand-in".into()),
                                    dmabuf: Err("the recording stand-in".into()),
                                });
                            }
                            Received::Msg(Command::SetSelection {
                                session,
                                mime_types,
                            }) => {
                                log.push(Recorded::SetSelection {
                                    session,
                                    mime_types: mime_types.clone(),
                                });
                                // As the real thread: no types is a withdrawal.
                                if mime_types.is_empty() {
                                    if stand_in
                                        .selection
                                        .as_ref()
                                        .is_some_and(|s| s.owner == Some(session))
                                    {
                                        stand_in.selection = None;
                                        stand_in.changed();
                                    }
                                } else {
                                    stand_in.selection = Some(Selection {
                                        mime_types,
                                        owner: Some(session),
                                        len: None,
                                        stall: false,
                                    });
                                    stand_in.changed();
                                }
                            }
                            Received::Msg(Command::ClearSelection { session }) => {
                                log.push(Recorded::ClearSelection { session });
                                if stand_in
                                    .selection
                                    .as_ref()
                                    .is_some_and(|s| s.owner == Some(session))
                                {
                                    stand_in.selection = None;
                                    stand_in.changed();
                                }
                            }
                            Received::Msg(Command::ReadSelection {
                                mime_type,
                                fd,
                                reply,
                            }) => {
                                log.push(Recorded::ReadSelection {
                                    mime_type: mime_type.clone(),
                                });
                                let _ = reply.send(stand_in.read(mime_type, fd));
                            }
                            Received::Msg(Command::CreateStreams {
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
                                        outputs.iter().find(|o| &o.name == name).map(|o| {
                                            StreamInfo {
                                                node_id,
                                                source: crate::command::StreamSource::Output(
                                                    o.clone(),
                                                ),
                                            }
                                        })
                                    })
                                    .collect();
                                let _ = reply.send(match made {
                                    Some(streams) if !outputs.is_empty() => Ok(streams),
                                    _ => Err("no PipeWire in the recording stand-in".into()),
                                });
                            }
                            Received::Msg(Command::DestroyStreams { session }) => {
                                log.push(Recorded::DestroyStreams { session });
                            }
                            Received::Msg(Command::Shutdown) | Received::Closed => {
                                log.push(Recorded::Shutdown);
                                stand_in.exit = true;
                            }
                        }
                    }
                    Ok(calloop::PostAction::Continue)
                },
            );
            if inserted.is_err() {
                return;
            }
            let mut stand_in = StandIn {
                exit: false,
                selection: None,
                events: events_tx,
            };
            while !stand_in.exit {
                if event_loop.dispatch(None, &mut stand_in).is_err() {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the recording thread: {e}");
    }
    Recording {
        handle: WaylandHandle::from_sender(tx),
        log,
        events,
        inject: Injector { tx: inject_tx },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    use super::*;

    fn next(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
        let start = Instant::now();
        loop {
            if let Ok(e) = events.try_recv() {
                return e;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "no event");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn read(r: &Recording, mime_type: &str) -> Result<Vec<u8>, String> {
        let (rd, wr) = rustix::pipe::pipe().unwrap();
        let (reply, rx) = tokio::sync::oneshot::channel();
        r.handle
            .send(Command::ReadSelection {
                mime_type: mime_type.into(),
                fd: wr,
                reply,
            })
            .unwrap();
        rx.blocking_recv().unwrap()?;
        let mut v = Vec::new();
        std::fs::File::from(rd).read_to_end(&mut v).unwrap();
        Ok(v)
    }

    /// The stand-in's clipboard behaves as the real thread does, and a
    /// test can play the local app.
    #[test]
    fn the_stand_in_models_the_selection() {
        let mut r = recording_clipboard(Vec::new());
        r.inject.local_copy(vec!["text/plain".into()]);
        assert!(matches!(next(&mut r.events),
            Event::SelectionChanged { mime_types, owner: None } if mime_types == ["text/plain"]));
        assert_eq!(read(&r, "text/plain").unwrap(), test_payload("text/plain"));
        assert!(read(&r, "image/png").unwrap_err().contains("not on offer"));
        r.inject.local_copy_sized(vec!["image/png".into()], 300_000);
        next(&mut r.events);
        assert_eq!(
            read(&r, "image/png").unwrap(),
            test_payload_sized("image/png", 300_000)
        );

        r.handle
            .send(Command::SetSelection {
                session: 3,
                mime_types: vec!["text/html".into()],
            })
            .unwrap();
        assert!(matches!(
            next(&mut r.events),
            Event::SelectionChanged { owner: Some(3), .. }
        ));
        // Another session cannot withdraw it; its owner can.
        r.handle
            .send(Command::ClearSelection { session: 4 })
            .unwrap();
        r.handle
            .send(Command::ClearSelection { session: 3 })
            .unwrap();
        assert!(matches!(next(&mut r.events),
            Event::SelectionChanged { mime_types, owner: None } if mime_types.is_empty()));
        assert!(read(&r, "text/html").unwrap_err().contains("no selection"));

        // A local paste: what the D-Bus side writes arrives at the app.
        let app = r.inject.local_paste(3, "text/html").unwrap();
        let Event::SelectionSend {
            session,
            mime_type,
            fd,
        } = next(&mut r.events)
        else {
            panic!("not a SelectionSend");
        };
        assert_eq!((session, mime_type.as_str()), (3, "text/html"));
        let mut w = std::fs::File::from(std::sync::Arc::try_unwrap(fd).unwrap());
        w.write_all(b"<b>hi</b>").unwrap();
        drop(w);
        let mut got = Vec::new();
        std::fs::File::from(app).read_to_end(&mut got).unwrap();
        assert_eq!(got, b"<b>hi</b>");

        let log = r.log.lock().unwrap().clone();
        assert!(log.contains(&Recorded::SetSelection {
            session: 3,
            mime_types: vec!["text/html".into()]
        }));
        assert!(log.contains(&Recorded::ClearSelection { session: 4 }));
        assert!(log.contains(&Recorded::ReadSelection {
            mime_type: "image/png".into()
        }));
    }
}
