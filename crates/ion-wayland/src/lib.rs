//! ionChannel's compositor client.
//!
//! One thread owns the Wayland connection (see [`thread`]): it tracks the
//! globals, the seat and the outputs' layout, and owns each session's
//! virtual pointer and keyboard. The rest of the daemon talks to it with
//! [`Command`]s and hears [`Event`]s.

mod capture;
mod cast_cursor;
mod cast_image_copy;
mod cast_stream;
mod cast_turn;
mod clipboard;
pub mod clock;
pub mod command;
pub mod command_channel;
mod devices;
mod dmabuf;
pub mod fault;
mod image_copy;
pub mod input;
pub mod keymap;
pub mod keymap_file;
mod media_loop;
mod outputs;
#[cfg(feature = "test-support")]
pub mod recording;
mod screencast;
mod state;
pub mod thread;
mod timers;
mod toplevels;

pub use clipboard::{DataControlChoice, DATA_CONTROL_VAR};
pub use command::{
    Command, CursorMode, Event, GlobalInfo, OutputInfo, SessionId, Snapshot, SourceRef, StreamInfo,
    StreamSource, WindowInfo,
};
pub use thread::{spawn, spawn_with, Options, WaylandError, WaylandHandle, WaylandThread};

/// Interface names the daemon looks for.
pub const VIRTUAL_POINTER: &str = "zwlr_virtual_pointer_manager_v1";
pub const VIRTUAL_KEYBOARD: &str = "zwp_virtual_keyboard_manager_v1";
pub const WLR_SCREENCOPY: &str = "zwlr_screencopy_manager_v1";
pub const EXT_IMAGE_COPY_CAPTURE: &str = "ext_image_copy_capture_manager_v1";
pub const EXT_OUTPUT_CAPTURE_SOURCE: &str = "ext_output_image_capture_source_manager_v1";
pub const EXT_TOPLEVEL_CAPTURE_SOURCE: &str =
    "ext_foreign_toplevel_image_capture_source_manager_v1";
pub const EXT_FOREIGN_TOPLEVEL_LIST: &str = "ext_foreign_toplevel_list_v1";
pub const XDG_OUTPUT: &str = "zxdg_output_manager_v1";
pub const LINUX_DMABUF: &str = "zwp_linux_dmabuf_v1";
pub const WL_SHM: &str = "wl_shm";
pub const WL_SEAT: &str = "wl_seat";
pub const EXT_DATA_CONTROL: &str = "ext_data_control_manager_v1";
pub const WLR_DATA_CONTROL: &str = "zwlr_data_control_manager_v1";
