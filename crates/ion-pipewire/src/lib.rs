//! ionChannel's PipeWire side.
//!
//! PipeWire's loop is not run on a thread of its own: its file descriptor
//! is polled by the media thread's calloop loop (the Wayland thread), which
//! calls [`PipeWire::iterate`] when it is readable. Capture (Wayland) and
//! streams (PipeWire) then live on one thread, so a stream's buffer can be
//! handed to the compositor to copy into without locks or cross-thread
//! hand-offs — the design xdg-desktop-portal-wlr uses too.
//!
//! PipeWire's callbacks run inside `iterate`; they only queue
//! [`StreamEvent`]s, which the owner drains afterwards. That keeps the
//! callbacks free of borrows of the owner's state.

mod connection;
pub mod format;
mod stream;

pub use connection::{PipeWire, PipeWireError};
pub use format::{ShmFormat, VideoParams, MOD_LINEAR};
pub use stream::{
    cursor_meta_size, CursorBitmap, CursorMeta, Dmabuf, DmabufAllocator, DmabufLayout, Frame,
    StreamEvent, StreamKey, VideoStream, MAX_CURSOR_SIZE,
};
