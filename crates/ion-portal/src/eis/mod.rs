//! RemoteDesktop's `ConnectToEIS`: an EIS server (libei's protocol, through
//! the `reis` crate) per session, on the D-Bus side's tokio runtime.
//!
//! Why here and not on the media thread: every EIS event must pass the
//! same checks as a `Notify*` call (the session table, validation, the
//! rate limit), and those live on this side; the media thread only ever
//! sees validated `Command::Input`s, in order, exactly as from Notify*.
//! One task owns one connection (its socket, its reis state, its devices);
//! the session table holds only the link that ends it.
//!
//! - [`offer`]: what a session's connection offers (devices, regions).
//! - [`connection`]: the task — socket I/O, handshake, seat, devices,
//!   emulation state, and every way a connection ends.
//! - [`translate`]: EIS requests → the portal's input calls.
//! - [`keymap_fd`]: the keyboard's keymap as a sealed memfd.

pub mod connection;
pub mod keymap_fd;
pub mod offer;
pub mod translate;

pub use connection::{spawn, EisEnd};
pub use offer::{layout_regions, EisOffer, EisRegion};
