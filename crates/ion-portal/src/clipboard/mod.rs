//! The clipboard of RemoteDesktop sessions (`org.freedesktop.impl.portal.Clipboard`):
//! the remote side offers a selection and writes what a local paste asks
//! for; it reads what a local app copied. The compositor side is
//! data-control on the Wayland thread (`ion_wayland::clipboard`); the data
//! itself moves through pipes pumped here (`pump.rs`), never whole in
//! memory and never on the Wayland or D-Bus threads.
//!
//! Only the regular selection: the portal's interface has no way to name
//! the primary selection, so it is neither offered nor read.

pub mod iface;
pub mod pump;

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ion_core::clipboard::{check_mime_types, ClipboardError, Transfers};
use ion_wayland::Command;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::ObjectPath;
use zbus::Connection;

use crate::error::PortalError;
use crate::portal::Portal;
use crate::sessions::{SessionEntry, SessionKind};
use pump::{pump, Cancel, PumpEnd};

pub use ion_core::clipboard::{TRANSFER_IDLE, WRITE_WAIT};

/// How long a RemoteDesktop Start waits for a RequestClipboard before it
/// decides. An app calls RequestClipboard, then Start; libportal (Deskflow)
/// sends both without waiting for the first reply, and the frontend, which
/// has accepted the RequestClipboard already, forwards each from a worker
/// thread of its own: Start can reach us first (seen 8 ms apart on the
/// testing stack's labwc, in CI). A RequestClipboard that arrives while
/// Start waits counts as having come before it.
pub const CLIPBOARD_GRACE: std::time::Duration = std::time::Duration::from_millis(50);
/// Finished serials remembered, so a late SelectionWriteDone is no error.
const FINISHED_KEPT: usize = 32;

/// A session's clipboard.
#[derive(Debug, Default)]
pub struct ClipboardSession {
    /// RequestClipboard came before Start decided (see
    /// [`CLIPBOARD_GRACE`]).
    pub requested: bool,
    /// Start has read `requested`: a RequestClipboard now is too late.
    pub decided: bool,
    /// Start granted it and the compositor has data-control.
    pub enabled: bool,
    /// Pastes from the session's selection, by serial.
    pub transfers: Transfers,
    /// The compositor's end of each announced paste, until written.
    fds: HashMap<u32, Arc<OwnedFd>>,
    /// The pumps running for this session, by serial (writes) or not
    /// (reads): set on session end.
    pumps: HashMap<u32, Cancel>,
    reads: Vec<Cancel>,
    finished: VecDeque<u32>,
}

impl ClipboardSession {
    /// Ends every transfer: pumps stop, fds close (the local app pasting
    /// gets what came, then EOF).
    pub fn end(&mut self) {
        for c in self.pumps.values().chain(&self.reads) {
            c.store(true, Ordering::Relaxed);
        }
        self.pumps.clear();
        self.reads.clear();
        self.fds.clear();
        let open: Vec<u32> = self.transfers.open().collect();
        for serial in open {
            let _ = self.transfers.finish(serial);
        }
    }

    fn finished(&mut self, serial: u32) {
        if let Ok(t) = self.transfers.finish(serial) {
            tracing::trace!(serial, mime = %t.mime_type, "paste finished");
        }
        self.fds.remove(&serial);
        self.pumps.remove(&serial);
        self.finished.push_back(serial);
        while self.finished.len() > FINISHED_KEPT {
            self.finished.pop_front();
        }
    }
}

/// The local selection as the compositor reports it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Selection {
    pub mime_types: Vec<String>,
    /// The session whose selection it is, if one of ours.
    pub owner: Option<u64>,
}

fn refused(session: &str, call: &str, e: PortalError) -> PortalError {
    // The frontend forwards SetSelection and SelectionWriteDone without
    // waiting: the app never sees this error, the log does.
    tracing::warn!(session, call, "clipboard call refused: {e}");
    e
}

fn pipe() -> Result<(OwnedFd, OwnedFd), PortalError> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| PortalError::Failed(format!("cannot make a pipe: {e}")))
}

impl Portal {
    /// RequestClipboard: before Start (or while Start waits for it, see
    /// [`CLIPBOARD_GRACE`]), on a RemoteDesktop session.
    pub async fn request_clipboard(
        &self,
        conn: &Connection,
        header: &Header<'_>,
        session: &ObjectPath<'_>,
    ) -> Result<(), PortalError> {
        let path = session.as_str();
        let sender = self.config.trust.check(conn, header).await?;
        let id = self
            .with_session(path, &sender, SessionKind::RemoteDesktop, |e| {
                let in_time = match e.lifecycle.state() {
                    ion_core::SessionState::Created => true,
                    ion_core::SessionState::Starting => !e.clipboard.decided,
                    _ => false,
                };
                if !in_time {
                    return Err(PortalError::Failed(
                        "RequestClipboard must come before Start".into(),
                    ));
                }
                e.clipboard.requested = true;
                Ok(e.id)
            })
            .map_err(|e| refused(path, "RequestClipboard", e))?;
        tracing::info!(session = id, "clipboard requested");
        Ok(())
    }

    /// Whether a Start asks for the clipboard: a RemoteDesktop Start
    /// without a RequestClipboard yet waits up to [`CLIPBOARD_GRACE`] for
    /// one the frontend may still be forwarding, then decides for good.
    pub(crate) async fn clipboard_decision(
        &self,
        path: &str,
        sender: &str,
        kind: SessionKind,
    ) -> bool {
        if kind != SessionKind::RemoteDesktop {
            return false;
        }
        let requested = || {
            self.with_session(path, sender, kind, |e| Ok(e.clipboard.requested))
                .unwrap_or(false)
        };
        let deadline = tokio::time::Instant::now() + CLIPBOARD_GRACE;
        while !requested() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        self.with_session(path, sender, kind, |e| {
            e.clipboard.decided = true;
            Ok(e.clipboard.requested)
        })
        .unwrap_or(false)
    }

    /// The session's id if its clipboard is enabled and `sender` owns it.
    fn clipboard_entry<T>(
        &self,
        path: &str,
        sender: &str,
        call: &str,
        f: impl FnOnce(&mut SessionEntry) -> Result<T, PortalError>,
    ) -> Result<T, PortalError> {
        self.with_session(path, sender, SessionKind::RemoteDesktop, |e| {
            if !e.clipboard.enabled {
                return Err(PortalError::NotAllowed(format!(
                    "the clipboard is not enabled for session {path}"
                )));
            }
            f(e)
        })
        .map_err(|e| refused(path, call, e))
    }

    /// SetSelection: the remote side offers a selection of `mime_types`.
    pub async fn set_selection(
        &self,
        conn: &Connection,
        header: &Header<'_>,
        session: &ObjectPath<'_>,
        mime_types: Option<Vec<String>>,
    ) -> Result<(), PortalError> {
        let path = session.as_str();
        let sender = self.config.trust.check(conn, header).await?;
        let types = mime_types.unwrap_or_default();
        let id = self.clipboard_entry(path, &sender, "SetSelection", |e| {
            check_mime_types(&types)?;
            Ok(e.id)
        })?;
        tracing::info!(session = id, mime_types = ?types, "selection offered");
        self.wayland
            .send(Command::SetSelection {
                session: id,
                mime_types: types,
            })
            .map_err(|e| PortalError::Failed(e.to_string()))
    }

    /// SelectionWrite: the fd the remote side writes the paste's data to.
    pub async fn selection_write(
        self: &Arc<Self>,
        conn: &Connection,
        header: &Header<'_>,
        session: &ObjectPath<'_>,
        serial: u32,
    ) -> Result<OwnedFd, PortalError> {
        let path = session.as_str();
        let sender = self.config.trust.check(conn, header).await?;
        let (read_end, write_end) = pipe()?;
        let (id, target, cancel) = self.clipboard_entry(path, &sender, "SelectionWrite", |e| {
            e.clipboard.transfers.write(serial)?;
            let fd = e
                .clipboard
                .fds
                .remove(&serial)
                .ok_or(ClipboardError::UnknownSerial(serial))?;
            let cancel: Cancel = Arc::new(AtomicBool::new(false));
            e.clipboard.pumps.insert(serial, cancel.clone());
            Ok((e.id, fd, cancel))
        })?;
        let target = Arc::try_unwrap(target)
            .or_else(|shared| shared.try_clone())
            .map_err(|e| PortalError::Failed(format!("cannot keep the paste's fd: {e}")))?;
        let portal = Arc::downgrade(self);
        tokio::task::spawn_blocking(move || {
            let report = pump(read_end, target, TRANSFER_IDLE, &cancel);
            tracing::info!(session = id, serial, bytes = report.bytes, end = ?report.end, "paste written");
            if let Some(p) = portal.upgrade() {
                p.with_entry(id, |e| e.clipboard.finished(serial));
            }
        });
        Ok(write_end)
    }

    /// SelectionWriteDone: the remote side finished (or failed) a paste.
    pub async fn selection_write_done(
        &self,
        conn: &Connection,
        header: &Header<'_>,
        session: &ObjectPath<'_>,
        serial: u32,
        success: bool,
    ) -> Result<(), PortalError> {
        let path = session.as_str();
        let sender = self.config.trust.check(conn, header).await?;
        self.clipboard_entry(path, &sender, "SelectionWriteDone", |e| {
            let c = &mut e.clipboard;
            if c.finished.contains(&serial) {
                return Ok(());
            }
            if !c.transfers.open().any(|s| s == serial) {
                return Err(ClipboardError::UnknownSerial(serial).into());
            }
            if !success {
                // The remote side gave up: the paste ends with what came.
                if let Some(cancel) = c.pumps.get(&serial) {
                    cancel.store(true, Ordering::Relaxed);
                }
                c.finished(serial);
            } else if !c.pumps.contains_key(&serial) {
                // Done without ever writing: nothing to paste.
                c.finished(serial);
            }
            // A running pump finishes the transfer when the data ends.
            Ok(())
        })
    }

    /// SelectionRead: an fd with the local selection's `mime_type` data.
    pub async fn selection_read(
        &self,
        conn: &Connection,
        header: &Header<'_>,
        session: &ObjectPath<'_>,
        mime_type: String,
    ) -> Result<OwnedFd, PortalError> {
        let path = session.as_str();
        let sender = self.config.trust.check(conn, header).await?;
        let offered = self.selection().mime_types;
        let (id, cancel) = self.clipboard_entry(path, &sender, "SelectionRead", |e| {
            if !offered.contains(&mime_type) {
                return Err(PortalError::NotFound(format!(
                    "the selection does not offer {mime_type:?} (it offers {offered:?})"
                )));
            }
            let cancel: Cancel = Arc::new(AtomicBool::new(false));
            e.clipboard.reads.retain(|c| !c.load(Ordering::Relaxed));
            e.clipboard.reads.push(cancel.clone());
            Ok((e.id, cancel))
        })?;
        // The local app writes into `from`; the remote side reads `to`.
        let (from_read, from_write) = pipe()?;
        let (to_read, to_write) = pipe()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.wayland
            .send(Command::ReadSelection {
                mime_type: mime_type.clone(),
                fd: from_write,
                reply,
            })
            .map_err(|e| PortalError::Failed(e.to_string()))?;
        match answer.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(refused(path, "SelectionRead", PortalError::NotFound(e))),
            Err(_) => {
                return Err(PortalError::Failed(
                    "the compositor connection is gone".into(),
                ))
            }
        }
        tokio::task::spawn_blocking(move || {
            let report = pump(from_read, to_write, TRANSFER_IDLE, &cancel);
            cancel.store(true, Ordering::Relaxed);
            tracing::info!(session = id, mime = %mime_type, bytes = report.bytes, end = ?report.end, "selection read");
            if report.end == PumpEnd::TimedOut {
                tracing::warn!(session = id, "the app that owns the selection stopped writing it: the read ended at the timeout");
            }
        });
        Ok(to_read)
    }

    /// The local selection now, as last reported.
    pub fn selection(&self) -> Selection {
        self.selection_state().clone()
    }

    /// The compositor reported a new selection: every session with the
    /// clipboard hears of it.
    pub async fn on_selection_changed(
        &self,
        conn: &Connection,
        mime_types: Vec<String>,
        owner: Option<u64>,
    ) {
        let now = Selection { mime_types, owner };
        {
            let mut current = self.selection_state();
            if *current == now {
                return;
            }
            *current = now.clone();
        }
        tracing::info!(mime_types = ?now.mime_types, owner = ?now.owner, "selection changed");
        for (id, path) in self.clipboard_sessions() {
            self.emit_owner_changed(conn, &path, &now, Some(id) == now.owner)
                .await;
        }
    }

    /// Tells one session about the selection (at Start, and on changes).
    pub(crate) async fn emit_owner_changed(
        &self,
        conn: &Connection,
        path: &str,
        selection: &Selection,
        is_owner: bool,
    ) {
        let Ok(emitter) = SignalEmitter::new(conn, crate::DESKTOP_PATH) else {
            return;
        };
        let Ok(session) = ObjectPath::try_from(path) else {
            return;
        };
        let mut options: HashMap<&str, zbus::zvariant::Value<'_>> = HashMap::new();
        options.insert("mime_types", selection.mime_types.clone().into());
        options.insert("session_is_owner", is_owner.into());
        if let Err(e) = iface::Clipboard::selection_owner_changed(&emitter, session, options).await
        {
            tracing::warn!(path, "cannot emit SelectionOwnerChanged: {e}");
        }
    }

    /// A local app pastes from a session's selection: announce it to the
    /// remote side, keep the compositor's fd until SelectionWrite.
    pub async fn on_selection_send(
        self: &Arc<Self>,
        conn: &Connection,
        session: u64,
        mime_type: String,
        fd: Arc<OwnedFd>,
    ) {
        let announced = self.with_entry(session, |e| {
            if !e.clipboard.enabled {
                return None;
            }
            let serial = e.clipboard.transfers.announce(&mime_type)?;
            e.clipboard.fds.insert(serial, fd);
            Some(serial)
        });
        let (Some(Some(serial)), Some(path)) = (announced, self.path_of(session)) else {
            // The fd closes here: the paste gets nothing.
            tracing::warn!(session, mime = %mime_type, "a paste from a session that cannot answer it (no clipboard, gone, or too many pastes open)");
            return;
        };
        tracing::info!(session, serial, mime = %mime_type, "local paste: SelectionTransfer");
        if let (Ok(emitter), Ok(object)) = (
            SignalEmitter::new(conn, crate::DESKTOP_PATH),
            ObjectPath::try_from(path.as_str()),
        ) {
            if let Err(e) =
                iface::Clipboard::selection_transfer(&emitter, object, &mime_type, serial).await
            {
                tracing::warn!(session, "cannot emit SelectionTransfer: {e}");
            }
        }
        // A remote side that never answers does not keep the paste open.
        let portal = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(WRITE_WAIT).await;
            if let Some(p) = portal.upgrade() {
                p.with_entry(session, |e| {
                    let c = &mut e.clipboard;
                    if c.fds.contains_key(&serial) {
                        tracing::warn!(
                            session,
                            serial,
                            "the remote side never wrote the paste: given up"
                        );
                        c.finished(serial);
                    }
                });
            }
        });
    }
}
