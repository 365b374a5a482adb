//! What the rest of ionChannel says to the Wayland thread, and what it
//! hears back. Every request that needs an answer carries its own reply
//! sender; input carries none, so the D-Bus side never waits on it.

use ion_core::{DeviceTypes, InputEvent, Rect};
use serde::Serialize;
use tokio::sync::oneshot;

/// A session's id on the Wayland side (the D-Bus side's numbering).
pub type SessionId = u64;

#[derive(Debug)]
pub enum Command {
    /// Create the virtual devices a started session was granted. Replies
    /// with the devices that exist now (a subset if the compositor lacks
    /// one).
    CreateDevices {
        session: SessionId,
        devices: DeviceTypes,
        reply: oneshot::Sender<Result<DeviceTypes, String>>,
    },
    /// One validated event, in order.
    Input {
        session: SessionId,
        event: InputEvent,
    },
    /// Release everything the session holds and keep its devices (its EIS
    /// connection ended; the session, and its streams, go on).
    ReleaseInput { session: SessionId },
    /// The text of the XKB keymap the session's virtual keyboard uses now
    /// (None without a keyboard), for the EIS keyboard device.
    Keymap {
        session: SessionId,
        reply: oneshot::Sender<Option<String>>,
    },
    /// Release everything the session holds, then destroy its devices.
    DestroyDevices {
        session: SessionId,
        reply: Option<oneshot::Sender<()>>,
    },
    /// Create one ScreenCast stream per source; replies once every node
    /// has its PipeWire id (and a window's size is known).
    CreateStreams {
        session: SessionId,
        sources: Vec<SourceRef>,
        /// How the pointer appears: not at all, drawn into the frames, or
        /// as metadata beside them.
        cursor: CursorMode,
        reply: oneshot::Sender<Result<Vec<StreamInfo>, String>>,
    },
    /// Destroy the session's streams.
    DestroyStreams { session: SessionId },
    /// What the compositor offers, for `doctor` and `AvailableDeviceTypes`.
    Snapshot { reply: oneshot::Sender<Snapshot> },
    /// The session offers a selection of these MIME types (replaces any it offered before).
    SetSelection {
        session: SessionId,
        mime_types: Vec<String>,
    },
    /// Withdraw the selection if this session owns it (session ended or clipboard turned off).
    ClearSelection { session: SessionId },
    /// Ask the current selection's owner to write `mime_type` into `fd` (the write end of a pipe; closed by us after the request is sent). Err if there is no selection or it does not offer that type.
    ReadSelection {
        mime_type: String,
        fd: std::os::fd::OwnedFd,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Release all input of all sessions and leave the thread.
    Shutdown,
}

#[derive(Debug, Clone)]
pub enum Event {
    /// The outputs changed (added, removed, moved, resized, rescaled).
    OutputsChanged(Vec<OutputInfo>),
    /// A session's streams failed (PipeWire error): it must end.
    StreamsFailed { session: SessionId },
    /// The PipeWire daemon is gone: every session with streams must end.
    PipeWireGone { reason: String },
    /// The compositor connection is gone; every session must end.
    /// `protocol_error` says the compositor ended it over a request it
    /// refused (it is still there: a new connection may serve); None when
    /// the socket itself went away.
    Disconnected {
        reason: String,
        protocol_error: Option<String>,
    },
    /// The selection changed: its MIME types (empty: no selection), and the session whose source it is, if any of ours.
    SelectionChanged {
        mime_types: Vec<String>,
        owner: Option<SessionId>,
    },
    /// A local app pastes from the session's selection: the data of `mime_type` must be written to `fd`, then it is closed.
    SelectionSend {
        session: SessionId,
        mime_type: String,
        fd: std::sync::Arc<std::os::fd::OwnedFd>,
    },
}

/// ScreenCast cursor modes (the portal's 1, 2, 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CursorMode {
    Hidden,
    Embedded,
    Metadata,
}

/// What a stream is asked to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    /// An output, by connector name.
    Output(String),
    /// A toplevel window, by its ext-foreign-toplevel identifier.
    Window(String),
}

/// A stream made for a session, with what it shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamInfo {
    pub node_id: u32,
    pub source: StreamSource,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum StreamSource {
    Output(OutputInfo),
    /// A window, with its size in buffer pixels when the stream started.
    Window {
        window: WindowInfo,
        width: u32,
        height: u32,
    },
}

impl StreamInfo {
    /// The output shown, for a monitor stream.
    pub fn output(&self) -> Option<&OutputInfo> {
        match &self.source {
            StreamSource::Output(o) => Some(o),
            StreamSource::Window { .. } => None,
        }
    }

    /// The portal's source_type: 1 monitor, 2 window.
    pub fn source_type(&self) -> u32 {
        match &self.source {
            StreamSource::Output(_) => 1,
            StreamSource::Window { .. } => 2,
        }
    }

    /// The id that names this stream's region to input clients (Start's
    /// `mapping_id`, the EIS region's mapping id).
    pub fn mapping_id(&self) -> String {
        match &self.source {
            StreamSource::Output(o) => format!("ionchannel-{}", o.name),
            StreamSource::Window { window, .. } => {
                format!("ionchannel-window-{}", window.identifier)
            }
        }
    }

    /// Start's `size`: logical size of the output, or the window's.
    pub fn size(&self) -> (i32, i32) {
        match &self.source {
            StreamSource::Output(o) => (o.logical.width, o.logical.height),
            StreamSource::Window { width, height, .. } => (
                i32::try_from(*width).unwrap_or(i32::MAX),
                i32::try_from(*height).unwrap_or(i32::MAX),
            ),
        }
    }
}

/// A toplevel window as ext-foreign-toplevel-list names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowInfo {
    /// Unique for the compositor's lifetime, never reused.
    pub identifier: String,
    pub app_id: String,
    pub title: String,
}

/// One output as the layout sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputInfo {
    /// The registry name of the wl_output global.
    pub global: u32,
    /// The connector name (HEADLESS-1, DP-2).
    pub name: String,
    pub description: String,
    /// Position and size in the global logical layout (xdg-output).
    pub logical: LogicalRect,
    /// Current mode in physical pixels.
    pub mode_width: i32,
    pub mode_height: i32,
    pub scale: i32,
    pub transform: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogicalRect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

impl From<LogicalRect> for Rect {
    fn from(r: LogicalRect) -> Self {
        Rect::new(r.x, r.y, r.width, r.height)
    }
}

/// A global the compositor advertises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GlobalInfo {
    pub interface: String,
    pub version: u32,
}

/// What the compositor offers now.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub globals: Vec<GlobalInfo>,
    pub outputs: Vec<OutputInfo>,
    pub seat: Option<String>,
    pub keymap_layout: String,
    /// Toplevel windows (ext-foreign-toplevel-list), when listed.
    pub windows: Vec<WindowInfo>,
    /// Windows can be captured (toplevel list, toplevel capture source
    /// and ext-image-copy-capture all bound).
    pub window_capture: bool,
    /// Cursor metadata can be captured (ext-image-copy-capture's cursor
    /// sessions; needs a seat).
    pub cursor_metadata: bool,
    /// Whether a PipeWire daemon is connected (ScreenCast needs it).
    pub pipewire: bool,
    /// The data-control interface the clipboard uses
    /// (`ext_data_control_manager_v1` or `zwlr_data_control_manager_v1`);
    /// None when the compositor offers neither (or there is no seat).
    pub data_control: Option<String>,
    /// The path a session's pointer takes (`zwlr_virtual_pointer_v1` or
    /// `uinput`); None: no pointer here.
    pub pointer_path: Option<String>,
    /// Whether a session can touch the screen (uinput's touchscreen).
    pub touch: bool,
    /// Why uinput devices cannot be made here; None: they can.
    pub uinput_unusable: Option<String>,
    /// Whether ScreenCast can offer dmabufs: the GBM node in use, or why
    /// not.
    pub dmabuf: Result<String, String>,
}

impl Snapshot {
    pub fn has(&self, interface: &str) -> bool {
        self.globals.iter().any(|g| g.interface == interface)
    }

    pub fn version_of(&self, interface: &str) -> Option<u32> {
        self.globals
            .iter()
            .filter(|g| g.interface == interface)
            .map(|g| g.version)
            .max()
    }

    /// The device types this compositor can really inject.
    pub fn available_devices(&self) -> DeviceTypes {
        use ion_core::DeviceType;
        let mut d = DeviceTypes::EMPTY;
        if self.seat.is_some() {
            if self.pointer_path.is_some() {
                d.insert(DeviceType::Pointer);
            }
            if self.has(crate::VIRTUAL_KEYBOARD) {
                d.insert(DeviceType::Keyboard);
            }
            if self.touch {
                d.insert(DeviceType::Touchscreen);
            }
        }
        d
    }
}
