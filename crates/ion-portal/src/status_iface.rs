//! `org.ionchannel.Status1` at `/org/ionchannel/Status`: what
//! `ionchannel status` shows about a running daemon — its sessions and what
//! became of their input (injected, refused, rate limited, repaired). The
//! frontend never shows an app why its input was refused; this and the log
//! are where a person finds out.
//!
//! Any host client of the user's session bus may call it, as it may call
//! Grants1: it shows app ids and counts, nothing the app sent. Sandboxed
//! apps (Flatpak, Snap) are refused, as for Grants1 (`sandbox.rs`): which
//! other apps are controlling the desktop is not theirs to know.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zbus::message::Header;
use zbus::{interface, Connection};

use crate::portal::Portal;

pub const STATUS_PATH: &str = "/org/ionchannel/Status";
pub const STATUS_INTERFACE: &str = "org.ionchannel.Status1";

/// The daemon as `ionchannel status --json` prints it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    /// Order repair's window, in milliseconds.
    pub reorder_window_ms: f64,
    /// Per-session rate limit: sustained events per second, and burst.
    pub rate_per_second: u32,
    pub rate_burst: u32,
    pub sessions: Vec<SessionStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionStatus {
    pub id: u64,
    pub kind: String,
    pub app_id: String,
    pub state: String,
    /// Granted device types, as the portal's bit mask.
    pub devices: u32,
    pub streams: usize,
    /// The clipboard is on (RequestClipboard, granted, data-control).
    #[serde(default)]
    pub clipboard: bool,
    /// "none", "connected" or "ended".
    pub eis: String,
    pub input: InputStatus,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InputStatus {
    /// Events handed to the compositor (a repaired tap is two).
    pub injected: u64,
    /// Calls refused (not allowed, invalid, wrong state).
    pub refused: u64,
    pub rate_limited: u64,
    /// Press/release pairs put back in order (the three kinds below).
    pub repaired: u64,
    pub early_releases: u64,
    pub overtaken_presses: u64,
    pub provisional_releases: u64,
    /// Releases of keys that were not down, with no press in the window.
    pub stray_releases: u64,
    /// Presses of held keys (the app's key repeat) dropped.
    pub dropped_presses: u64,
    /// The latest a repaired call came behind its partner, microseconds.
    pub max_lag_us: u64,
    /// Keys and buttons down now.
    pub held: bool,
}

pub struct StatusIface {
    pub portal: Arc<Portal>,
}

#[interface(name = "org.ionchannel.Status1")]
impl StatusIface {
    /// The daemon's status as JSON ([`Status`]).
    async fn status(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> zbus::fdo::Result<String> {
        crate::sandbox::refuse_sandboxed(conn, &header, "the daemon's status").await?;
        serde_json::to_string(&self.portal.status())
            .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))
    }
}
