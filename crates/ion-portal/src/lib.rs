//! ionChannel's D-Bus side: the `org.freedesktop.impl.portal.*` backend
//! interfaces at `/org/freedesktop/portal/desktop`, their Request and
//! Session objects, who may call them, and consent.
//!
//! Threading: everything here runs on one tokio runtime. Long calls
//! (CreateSession, SelectDevices, Start) run as their own tasks; input calls
//! (Notify*) run inline in the connection's dispatch, in arrival order (see
//! [`ordered`]), and hand validated events to the Wayland thread through
//! its channel without waiting.

pub mod asker;
pub mod caller;
pub mod clipboard;
pub mod consent;
pub mod eis;
pub mod error;
pub mod grant_store;
pub mod grants_iface;
pub mod options;
pub mod ordered;
pub mod policy_file;
pub mod portal;
pub mod remote_desktop;
pub mod request;
pub mod restore_value;
pub mod sandbox;
pub mod screen_cast;
pub mod service;
pub mod session;
pub mod sessions;
pub mod status_iface;
pub mod timekeeper;

pub use error::PortalError;
pub use portal::{Portal, PortalConfig};
pub use service::{serve, ServeOptions};

/// The object path every backend interface lives at.
pub const DESKTOP_PATH: &str = "/org/freedesktop/portal/desktop";
/// ionChannel's bus name.
pub const BUS_NAME: &str = "org.freedesktop.impl.portal.desktop.ionchannel";
/// The frontend's bus name: the only legitimate caller.
pub const FRONTEND_NAME: &str = "org.freedesktop.portal.Desktop";
