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
    /// Create one ScreenCast stream per named output; replies once every
    /// node has its PipeWire id.
    CreateStreams {
        session: SessionId,
        outputs: Vec<String>,
        /// Draw the cursor into the frames (cursor_mode embedded).
        cursor_embedded: bool,
        reply: oneshot::Sender<Result<Vec<StreamInfo>, String>>,
    },
    /// Destroy the session's streams.
    DestroyStreams { session: SessionId },
    /// What the compositor offers, for `doctor` and `AvailableDeviceTypes`.
    Snapshot { reply: oneshot::Sender<Snapshot> },
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
    Disconnected { reason: String },
}

/// A stream made for a session, with the output it shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamInfo {
    pub node_id: u32,
    pub output: OutputInfo,
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
    /// Whether a PipeWire daemon is connected (ScreenCast needs it).
    pub pipewire: bool,
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
            if self.has(crate::VIRTUAL_POINTER) {
                d.insert(DeviceType::Pointer);
            }
            if self.has(crate::VIRTUAL_KEYBOARD) {
                d.insert(DeviceType::Keyboard);
            }
        }
        // Touch needs EIS or uinput; neither is wired yet.
        d
    }
}
