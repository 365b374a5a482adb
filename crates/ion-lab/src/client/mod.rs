//! A portal client that drives xdg-desktop-portal the way RustDesk does:
//! through the frontend (`org.freedesktop.portal.Desktop`), with Request
//! objects and their `Response` signals.

mod clipboard;
pub mod eis;
mod remote_desktop;
mod request;
mod screen_cast;
mod session;
pub mod status;

pub use clipboard::{Clipboard, OwnerChange, TransferAsk};
pub use eis::EisClient;
pub use remote_desktop::RemoteDesktop;
pub use request::{PortalClient, Response};
pub use screen_cast::ScreenCast;
pub use session::{ClosedWatch, Persist, StartResults, Stream};

/// Device type bits of the RemoteDesktop portal.
pub const KEYBOARD: u32 = 1;
pub const POINTER: u32 = 2;
pub const TOUCHSCREEN: u32 = 4;

/// evdev codes the scenarios use.
pub const BTN_LEFT: i32 = 0x110;
pub const BTN_RIGHT: i32 = 0x111;
pub const KEY_LEFTSHIFT: i32 = 42;
pub const KEY_A: i32 = 30;
pub const KEY_B: i32 = 48;
