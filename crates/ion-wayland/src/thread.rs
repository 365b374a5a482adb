//! The Wayland thread (the media thread): one compositor connection and
//! one loop (`media_loop`) that owns all Wayland and stream state.
//! Commands arrive on a channel the loop waits on (so input is handled the
//! moment it arrives, in order); events leave on a tokio channel.

use std::thread::JoinHandle;

use ion_core::{DeviceTypes, InputEvent};
use tokio::sync::{mpsc, oneshot};
use wayland_client::globals::registry_queue_init;
use wayland_client::protocol::wl_output::WlOutput;
use wayland_client::protocol::wl_seat::WlSeat;
use wayland_client::{Connection, Proxy};

use crate::clipboard::protocol::Manager as DataControlManager;
use crate::clipboard::{Clipboard, DataControlChoice};
use crate::command::{Command, Event, SessionId, Snapshot};
use crate::command_channel::Sender;
use crate::keymap::KeymapNames;
use crate::media_loop::{Ended, MediaLoop};
use crate::state::State;

#[derive(Debug, thiserror::Error)]
pub enum WaylandError {
    #[error("cannot connect to the Wayland compositor (is WAYLAND_DISPLAY set?): {0}")]
    Connect(String),
    #[error("the Wayland thread is gone (compositor disconnected)")]
    Gone,
    #[error("cannot start the Wayland thread: {0}")]
    Setup(String),
}

/// The handle the rest of the daemon uses to talk to the Wayland thread.
#[derive(Clone)]
pub struct WaylandHandle {
    /// Shared by every clone, so that after a reconnection (a new thread,
    /// see [`WaylandHandle::replace`]) every holder talks to the new one.
    tx: std::sync::Arc<std::sync::Mutex<Sender<Command>>>,
}

pub struct WaylandThread {
    pub handle: WaylandHandle,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub join: JoinHandle<()>,
}

impl WaylandHandle {
    /// A handle on any command receiver (the test stand-in uses it).
    pub fn from_sender(tx: Sender<Command>) -> Self {
        Self {
            tx: std::sync::Arc::new(std::sync::Mutex::new(tx)),
        }
    }

    pub fn send(&self, cmd: Command) -> Result<(), WaylandError> {
        // Held only for the send (a channel push): never poisoned by it.
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        tx.send(cmd).map_err(|_| WaylandError::Gone)
    }

    /// Points this handle, and every clone of it, at a new Wayland thread
    /// (after the compositor ended the old connection).
    pub fn replace(&self, new: &WaylandHandle) {
        let tx = new.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        *self.tx.lock().unwrap_or_else(|e| e.into_inner()) = tx;
    }

    /// Queues one input event; never waits.
    pub fn input(&self, session: SessionId, event: InputEvent) -> Result<(), WaylandError> {
        self.send(Command::Input { session, event })
    }

    /// Releases what the session holds, keeping its devices; never waits.
    pub fn release_input(&self, session: SessionId) -> Result<(), WaylandError> {
        self.send(Command::ReleaseInput { session })
    }

    /// The XKB keymap text the session's virtual keyboard uses now.
    pub async fn keymap(&self, session: SessionId) -> Result<Option<String>, WaylandError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Keymap { session, reply })?;
        rx.await.map_err(|_| WaylandError::Gone)
    }

    pub async fn snapshot(&self) -> Result<Snapshot, WaylandError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Snapshot { reply })?;
        rx.await.map_err(|_| WaylandError::Gone)
    }

    pub async fn create_devices(
        &self,
        session: SessionId,
        devices: DeviceTypes,
    ) -> Result<Result<DeviceTypes, String>, WaylandError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::CreateDevices {
            session,
            devices,
            reply,
        })?;
        rx.await.map_err(|_| WaylandError::Gone)
    }

    pub async fn create_streams(
        &self,
        session: SessionId,
        sources: Vec<crate::command::SourceRef>,
        cursor: crate::command::CursorMode,
    ) -> Result<Result<Vec<crate::command::StreamInfo>, String>, WaylandError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::CreateStreams {
            session,
            sources,
            cursor,
            reply,
        })?;
        rx.await.map_err(|_| WaylandError::Gone)
    }

    /// Releases what the session holds and destroys its devices; waits
    /// until the Wayland thread has sent the releases.
    pub async fn destroy_devices(&self, session: SessionId) -> Result<(), WaylandError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::DestroyDevices {
            session,
            reply: Some(reply),
        })?;
        rx.await.map_err(|_| WaylandError::Gone)
    }
}

/// How the thread connects and what it binds.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub keymap_names: KeymapNames,
    /// Which data-control protocol the clipboard uses where both exist.
    pub data_control: DataControlChoice,
    /// The compositor's socket; None: from the environment
    /// (`WAYLAND_DISPLAY`), as the daemon does. Tests that run several
    /// compositors in one process name theirs here.
    pub socket: Option<std::path::PathBuf>,
}

/// Connects to the compositor (from the environment) and starts the thread.
/// Returns once the registry, seat and outputs are known.
pub fn spawn(keymap_names: KeymapNames) -> Result<WaylandThread, WaylandError> {
    spawn_with(Options {
        keymap_names,
        data_control: DataControlChoice::from_env(),
        socket: None,
    })
}

/// [`spawn`] with every option named.
pub fn spawn_with(options: Options) -> Result<WaylandThread, WaylandError> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (events_tx, events) = mpsc::unbounded_channel();
    let join = std::thread::Builder::new()
        .name("wayland".into())
        .spawn(move || run(options, events_tx, ready_tx))
        .map_err(|e| WaylandError::Setup(e.to_string()))?;
    let tx = ready_rx
        .recv()
        .map_err(|_| WaylandError::Setup("the Wayland thread died during setup".into()))??;
    Ok(WaylandThread {
        handle: WaylandHandle::from_sender(tx),
        events,
        join,
    })
}

type Ready = std::sync::mpsc::Sender<Result<Sender<Command>, WaylandError>>;

fn run(options: Options, events: mpsc::UnboundedSender<Event>, ready: Ready) {
    let setup = setup(options, events.clone());
    let (mut media, mut state, tx) = match setup {
        Ok(parts) => parts,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(tx));
    let reason = match media.run(&mut state) {
        Ended::Exit => {
            // Make sure the releases sent during shutdown reached the
            // compositor before the connection closes.
            let _ = media.connection().roundtrip();
            tracing::info!("wayland thread stopped");
            return;
        }
        Ended::Lost(reason) => reason,
    };
    // A protocol error names the object whose request the compositor
    // refused, and its message names the request.
    let protocol_error = media.connection().protocol_error().map(|e| {
        format!(
            "{}@{} error {}: {}",
            e.object_interface, e.object_id, e.code, e.message
        )
    });
    match &protocol_error {
        Some(e) => {
            tracing::error!("the compositor ended our connection with a protocol error: {e}")
        }
        None => tracing::warn!("{reason}"),
    }
    let _ = events.send(Event::Disconnected {
        reason,
        protocol_error,
    });
}

type Setup = (MediaLoop, State, Sender<Command>);

/// The variable that forces the older capture protocol where both exist
/// (`IONCHANNEL_CAPTURE=screencopy`): to compare them, and a way out if a
/// compositor's ext-image-copy-capture misbehaves.
pub const CAPTURE_VAR: &str = "IONCHANNEL_CAPTURE";

fn bind_image_copy(
    globals: &wayland_client::globals::GlobalList,
    qh: &wayland_client::QueueHandle<State>,
) -> Option<crate::image_copy::ImageCopy> {
    if std::env::var(CAPTURE_VAR).is_ok_and(|v| v == "screencopy") {
        tracing::info!("{CAPTURE_VAR}=screencopy: ext-image-copy-capture not used");
        return None;
    }
    // Both globals or neither: a manager without an output source cannot
    // capture a monitor.
    let manager = globals.bind(qh, 1..=1, ()).ok()?;
    match globals.bind(qh, 1..=1, ()) {
        Ok(outputs) => Some(crate::image_copy::ImageCopy { manager, outputs }),
        Err(_) => {
            let manager: wayland_protocols::ext::image_copy_capture::v1::client::ext_image_copy_capture_manager_v1::ExtImageCopyCaptureManagerV1 = manager;
            manager.destroy();
            None
        }
    }
}

/// The toplevel list and the toplevel capture source manager, both or
/// neither.
fn bind_window_capture(
    globals: &wayland_client::globals::GlobalList,
    qh: &wayland_client::QueueHandle<State>,
) -> Option<crate::toplevels::WindowCapture> {
    use wayland_protocols::ext::foreign_toplevel_list::v1::client::ext_foreign_toplevel_list_v1::ExtForeignToplevelListV1;
    let sources = globals.bind(qh, 1..=1, ()).ok()?;
    let list: ExtForeignToplevelListV1 = match globals.bind(qh, 1..=1, ()) {
        Ok(list) => list,
        Err(_) => {
            let sources: wayland_protocols::ext::image_capture_source::v1::client::ext_foreign_toplevel_image_capture_source_manager_v1::ExtForeignToplevelImageCaptureSourceManagerV1 = sources;
            sources.destroy();
            return None;
        }
    };
    Some(crate::toplevels::WindowCapture { list, sources })
}

fn connect(socket: Option<&std::path::Path>) -> Result<Connection, WaylandError> {
    match socket {
        None => Connection::connect_to_env().map_err(|e| WaylandError::Connect(e.to_string())),
        Some(path) => {
            let stream = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| WaylandError::Connect(format!("{}: {e}", path.display())))?;
            Connection::from_socket(stream).map_err(|e| WaylandError::Connect(e.to_string()))
        }
    }
}

fn setup(options: Options, events: mpsc::UnboundedSender<Event>) -> Result<Setup, WaylandError> {
    let Options {
        keymap_names,
        data_control,
        socket,
    } = options;
    let conn = connect(socket.as_deref())?;
    let (globals, mut queue) =
        registry_queue_init::<State>(&conn).map_err(|e| WaylandError::Connect(e.to_string()))?;
    let qh = queue.handle();
    let seat: Option<WlSeat> = globals.bind(&qh, 1..=8, ()).ok();
    let mut state = State {
        qh: qh.clone(),
        registry: globals.registry().clone(),
        globals: globals
            .contents()
            .clone_list()
            .into_iter()
            .map(|g| {
                (
                    g.name,
                    crate::command::GlobalInfo {
                        interface: g.interface,
                        version: g.version,
                    },
                )
            })
            .collect(),
        seat,
        seat_name: None,
        pointer: None,
        xdg_output_manager: globals.bind(&qh, 1..=3, ()).ok(),
        pointer_manager: globals.bind(&qh, 1..=2, ()).ok(),
        pointer_choice: crate::input::PointerChoice::from_env(),
        uinput: crate::input::uinput::access(),
        keyboard_manager: globals.bind(&qh, 1..=1, ()).ok(),
        outputs: Vec::new(),
        outputs_dirty: false,
        sessions: Default::default(),
        events,
        keymap_names,
        casts: crate::screencast::ScreenCasts::new(None),
        shm: globals.bind(&qh, 1..=1, ()).ok(),
        screencopy: globals.bind(&qh, 1..=3, ()).ok(),
        image_copy: bind_image_copy(&globals, &qh),
        dmabuf: crate::dmabuf::Dmabuf::bind(&globals, &qh),
        window_capture: bind_window_capture(&globals, &qh),
        toplevels: Default::default(),
        clipboard: None,
        timers: Default::default(),
        exit: false,
        new_pipewire_fd: None,
    };
    state.clipboard = Clipboard::new(
        DataControlManager::bind(&globals, &qh, data_control),
        state.seat.as_ref(),
        &qh,
    );
    for g in globals.contents().clone_list() {
        if g.interface == WlOutput::interface().name {
            state.bind_output(g.name, g.version);
        }
    }
    // Two round trips: one for the bound objects' first events, one for
    // the xdg-output events that the first made us request.
    for _ in 0..2 {
        queue
            .roundtrip(&mut state)
            .map_err(|e| WaylandError::Connect(e.to_string()))?;
    }
    state.outputs_dirty = false;
    // A selection that exists already is the first SelectionChanged.
    if let Some(c) = state.clipboard.as_mut() {
        c.publish(&state.events);
    }
    let snap = state.snapshot();
    tracing::info!(
        outputs = state.outputs.len(),
        seat = ?state.seat_name,
        virtual_pointer = state.pointer_manager.is_some(),
        virtual_keyboard = state.keyboard_manager.is_some(),
        pointer = snap.pointer_path.as_deref().unwrap_or("none"),
        touch = snap.touch,
        uinput = state.uinput.as_ref().err().map_or("usable", String::as_str),
        capture = if state.image_copy.is_some() {
            "ext-image-copy-capture"
        } else if state.screencopy.is_some() {
            "wlr-screencopy"
        } else {
            "none"
        },
        clipboard = state.clipboard.as_ref().map_or("none", |c| c.protocol()),
        dmabuf = %state.dmabuf_text(),
        "connected to the compositor"
    );

    // PipeWire's loop is polled by this thread's loop: streams and capture
    // share the thread. Without PipeWire, RemoteDesktop still works.
    let pipewire_fd =
        match ion_pipewire::PipeWire::connect().and_then(|pw| pw.poll_fd().map(|fd| (pw, fd))) {
            Ok((pw, fd)) => {
                state.casts = crate::screencast::ScreenCasts::new(Some(pw));
                Some(fd)
            }
            Err(e) => {
                tracing::warn!("ScreenCast unavailable: {e}");
                None
            }
        };
    let (tx, rx) = crate::command_channel::channel::<Command>()
        .map_err(|e| WaylandError::Setup(e.to_string()))?;
    let media = MediaLoop::new(conn, queue, rx, pipewire_fd)
        .map_err(|e| WaylandError::Setup(e.to_string()))?;
    Ok((media, state, tx))
}
