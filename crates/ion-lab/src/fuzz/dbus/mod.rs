//! The D-Bus surface under fuzz (issue 14): random call sequences, with
//! edge values and random `a{sv}` options, against the real `Portal` and
//! its interfaces, served over a peer-to-peer connection whose other end
//! plays the frontend. The Wayland thread is the recording stand-in
//! (`ion_wayland::recording`): a compositor cannot run per iteration, and
//! what the stand-in records is exactly what the compositor would be told.
//!
//! Two frontend connections are played on the one socket by the sender
//! field each message carries (the daemon reads the owner from it, as the
//! bus daemon would set it). Calls from the connection that does not own
//! a session carry marker values no owner's call uses, so input that
//! should have been refused is recognised where it lands.
//!
//! Invariants, after every step:
//! - nothing panicked (the harness counts panics on every thread);
//! - every call that expects a reply gets one;
//! - the session table holds exactly the sessions created and not closed
//!   (a session the daemon ends is announced with `Closed`);
//! - what reaches the stand-in is what a compositor accepts: input only
//!   between a session's CreateDevices and DestroyDevices, every value in
//!   range and finite, positions on an output, and none of the markers;
//!
//! and at the end, after the sessions are closed (by Session.Close, by
//! their connection vanishing, or by shutdown, chosen at random): the table
//! is empty, every device and stream made was destroyed, every EIS socket
//! handed out was hung up, and the grants file still reads.
//!
//! The files: `world.rs` (the daemon on a socket pair, the model of what
//! was made, the checks), `steps.rs` (the calls), `oracle.rs` (what a
//! compositor accepts).

mod oracle;
mod steps;
mod world;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;
use zbus::message::{Message, Type as MessageType};
use zbus::zvariant::ObjectPath;

pub(in crate::fuzz) use world::World;

pub(in crate::fuzz) const RD: &str = "org.freedesktop.impl.portal.RemoteDesktop";
const SC: &str = "org.freedesktop.impl.portal.ScreenCast";
const CB: &str = "org.freedesktop.impl.portal.Clipboard";
const SESSION: &str = "org.freedesktop.impl.portal.Session";
const REQUEST: &str = "org.freedesktop.impl.portal.Request";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// The two frontend connections played here.
pub(in crate::fuzz) const SENDERS: [&str; 2] = [":1.10", ":1.11"];

/// Marker values only calls from a connection that does not own the
/// session carry: relative motion of exactly this, and this keycode.
const FOREIGN_DX: f64 = 7.75;
const FOREIGN_KEY: i32 = 0x1ab;

/// How long a call may take to be answered. Start waits up to 50 ms for a
/// RequestClipboard; nothing else waits.
const REPLY_WAIT: Duration = Duration::from_secs(5);
/// How long the end of an iteration waits for the stand-in and the EIS
/// sockets to show the sessions gone.
const SETTLE: Duration = Duration::from_secs(3);

/// Rules for the host (""), and one sandboxed app with everything; any
/// other app id has no rule, is asked, and (no dialog) refused.
const POLICY: &str = "[[allow]]\napp_id = \"\"\ndevices = [\"keyboard\", \"pointer\"]\nsources = [\"monitor\", \"window\"]\nclipboard = true\n\n[[allow]]\napp_id = \"org.fuzz.A\"\ndevices = [\"keyboard\", \"pointer\", \"touchscreen\"]\nsources = [\"monitor\"]\nclipboard = true\n";

const APP_IDS: &[&str] = &["", "", "org.fuzz.A", "org.fuzz.B"];

/// How far the runs so far got: calls made, sessions started, input
/// events the stand-in was given, EIS sockets handed out.
pub(in crate::fuzz) static CALLS: AtomicU64 = AtomicU64::new(0);
pub(in crate::fuzz) static STARTED: AtomicU64 = AtomicU64::new(0);
pub(in crate::fuzz) static DELIVERED: AtomicU64 = AtomicU64::new(0);
pub(in crate::fuzz) static INJECTED: AtomicU64 = AtomicU64::new(0);
pub(in crate::fuzz) static EIS_SOCKETS: AtomicU64 = AtomicU64::new(0);

pub fn reach() -> String {
    format!(
        "{} calls, {} sessions started, at least {} input events injected ({} seen by the stand-in), {} EIS sockets",
        CALLS.load(Ordering::Relaxed),
        STARTED.load(Ordering::Relaxed),
        INJECTED.load(Ordering::Relaxed),
        DELIVERED.load(Ordering::Relaxed),
        EIS_SOCKETS.load(Ordering::Relaxed)
    )
}

/// One iteration on the recording stand-in: a world, 10–80 random steps,
/// an ending, the checks.
pub fn surface(rng: &mut SmallRng) -> Result<(), String> {
    iteration(rng, None)
}

/// One iteration on the compositor at `socket` (see `fuzz/compositor.rs`).
pub fn on_compositor(rng: &mut SmallRng, socket: &std::path::Path) -> Result<(), String> {
    iteration(rng, Some(socket))
}

fn iteration(rng: &mut SmallRng, socket: Option<&std::path::Path>) -> Result<(), String> {
    super::on_runtime(|panics| async move {
        let mut w = match socket {
            None => World::new().await?,
            Some(socket) => World::on_compositor(socket).await?,
        };
        let run = sequence(&mut w, rng, panics).await;
        let down = w.shut_down().await;
        run.and(down).map_err(|e| w.with_trail(e))
    })
}

async fn sequence(w: &mut World, rng: &mut SmallRng, panics: u64) -> Result<(), String> {
    let steps = rng.random_range(10..80);
    for _ in 0..steps {
        w.step(rng).await?;
        w.check().await?;
        if super::panics() != panics {
            return Err("a panic (see above)".into());
        }
    }
    w.end(rng).await
}

pub(in crate::fuzz) fn other(sender: &'static str) -> &'static str {
    if sender == SENDERS[0] {
        SENDERS[1]
    } else {
        SENDERS[0]
    }
}

pub(in crate::fuzz) fn crate_path() -> &'static str {
    ion_portal::DESKTOP_PATH
}

pub(in crate::fuzz) fn op(path: &str) -> Result<ObjectPath<'_>, String> {
    ObjectPath::try_from(path).map_err(|e| format!("{path}: {e}"))
}

/// The response code of a portal method's `(u, a{sv})` reply.
pub(in crate::fuzz) fn response(reply: Option<&Message>) -> Option<u32> {
    let r = reply?;
    if r.message_type() != MessageType::MethodReturn {
        return None;
    }
    r.body()
        .deserialize::<(u32, HashMap<String, zbus::zvariant::OwnedValue>)>()
        .ok()
        .map(|(code, _)| code)
}
