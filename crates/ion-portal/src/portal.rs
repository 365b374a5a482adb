//! The backend's behaviour, shared by its D-Bus interfaces: sessions, their
//! lifecycle, consent, input, and every way a session ends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use ion_core::policy::Decision;
use ion_core::session::Lifecycle;
use ion_core::validate::{validate, Grant, NotifyCall};
use ion_core::{DeviceTypes, InputEvent, Policy, RateLimiter};
use ion_wayland::keymap::keysym_is_known;
use ion_wayland::WaylandHandle;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue};
use zbus::Connection;

use crate::caller::{sender_of, Trust};
use crate::error::PortalError;
use crate::request::RequestGuard;
use crate::session::SessionObject;
use crate::sessions::{SessionEntry, SessionKind, SessionTable};

/// Portal response codes.
pub const RESPONSE_SUCCESS: u32 = 0;
pub const RESPONSE_CANCELLED: u32 = 1;
pub const RESPONSE_OTHER: u32 = 2;

pub type Results = HashMap<String, OwnedValue>;

#[derive(Debug, Clone)]
pub struct PortalConfig {
    pub trust: Trust,
    /// The consent policy file, read at every Start so edits apply at once.
    pub policy_path: PathBuf,
    /// Device types the compositor can inject (AvailableDeviceTypes).
    pub available_devices: DeviceTypes,
    /// Per-session input rate limit: sustained events per second and burst.
    pub rate_per_second: u32,
    pub rate_burst: u32,
}

/// Why a session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The frontend called Session.Close.
    Requested,
    /// The connection that created it left the bus.
    OwnerVanished,
    /// The compositor went away.
    CompositorGone,
    /// The daemon is shutting down.
    Shutdown,
}

impl CloseReason {
    /// Whether to tell the frontend with the Closed signal (it already knows
    /// when it asked).
    fn emit_closed(&self) -> bool {
        !matches!(self, Self::Requested | Self::OwnerVanished)
    }
}

pub struct Portal {
    pub config: PortalConfig,
    pub wayland: WaylandHandle,
    sessions: Mutex<SessionTable>,
    next_id: std::sync::atomic::AtomicU64,
    epoch: Instant,
}

fn check_path(what: &str, path: &ObjectPath<'_>) -> Result<OwnedObjectPath, PortalError> {
    if path.as_str() == "/" {
        return Err(PortalError::InvalidArgument(format!(
            "{what} must not be /"
        )));
    }
    Ok(path.to_owned().into())
}

impl Portal {
    pub fn new(config: PortalConfig, wayland: WaylandHandle) -> Self {
        Self {
            config,
            wayland,
            sessions: Mutex::new(SessionTable::default()),
            next_id: std::sync::atomic::AtomicU64::new(1),
            epoch: Instant::now(),
        }
    }

    fn table(&self) -> MutexGuard<'_, SessionTable> {
        // A panic while holding the lock cannot leave the table half
        // updated (each step is one insert/remove/field write), so a
        // poisoned lock is still usable.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn session_count(&self) -> usize {
        self.table().len()
    }

    /// Runs `f` on the caller's session, checking that it exists, is of
    /// `kind`, and belongs to `sender`.
    fn with_session<T>(
        &self,
        path: &str,
        sender: &str,
        kind: SessionKind,
        f: impl FnOnce(&mut SessionEntry) -> Result<T, PortalError>,
    ) -> Result<T, PortalError> {
        let mut table = self.table();
        let entry = table
            .get_mut(path)
            .ok_or_else(|| PortalError::NotFound(format!("no session {path}")))?;
        if entry.owner != sender {
            return Err(PortalError::NotAllowed(format!(
                "session {path} belongs to another connection"
            )));
        }
        if entry.kind != kind {
            return Err(PortalError::NotAllowed(format!(
                "session {path} is a {} session, not {}",
                entry.kind.name(),
                kind.name()
            )));
        }
        f(entry)
    }

    pub async fn create_session(
        self: &std::sync::Arc<Self>,
        conn: &Connection,
        header: &Header<'_>,
        handle: ObjectPath<'_>,
        session_handle: ObjectPath<'_>,
        app_id: String,
        kind: SessionKind,
    ) -> Result<(u32, Results), PortalError> {
        let sender = self.config.trust.check(conn, header).await?;
        let handle = check_path("handle", &handle)?;
        let session_path = check_path("session_handle", &session_handle)?;
        let request = RequestGuard::export(conn, handle, &sender).await?;
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entry = SessionEntry {
            id,
            kind,
            owner: sender.clone(),
            app_id: app_id.clone(),
            lifecycle: Lifecycle::new(),
            requested_devices: DeviceTypes::ALL,
            granted_devices: DeviceTypes::EMPTY,
            devices_created: false,
            streams: Vec::new(),
            rate: RateLimiter::new(self.config.rate_per_second, self.config.rate_burst),
            eis_active: false,
        };
        if !self.table().insert(session_path.to_string(), entry) {
            request.finish().await;
            return Err(PortalError::InvalidArgument(format!(
                "session handle {} is already in use",
                session_path.as_str()
            )));
        }
        let object = SessionObject {
            portal: self.clone(),
            path: session_path.clone(),
            owner: sender.clone(),
        };
        if let Err(e) = conn.object_server().at(&session_path, object).await {
            self.table().remove(session_path.as_str());
            request.finish().await;
            return Err(e.into());
        }
        tracing::info!(session = id, kind = kind.name(), %app_id, owner = %sender, "session created");
        request.finish().await;
        Ok((RESPONSE_SUCCESS, Results::new()))
    }

    pub async fn select_devices(
        &self,
        conn: &Connection,
        header: &Header<'_>,
        handle: ObjectPath<'_>,
        session_handle: ObjectPath<'_>,
        types: Option<u32>,
    ) -> Result<(u32, Results), PortalError> {
        let sender = self.config.trust.check(conn, header).await?;
        let handle = check_path("handle", &handle)?;
        // Checked before anything changes: a bad mask is the caller's error.
        let types = match types {
            Some(bits) => DeviceTypes::from_bits(bits)
                .map_err(|e| PortalError::InvalidArgument(e.to_string()))?,
            None => DeviceTypes::ALL,
        };
        let request = RequestGuard::export(conn, handle, &sender).await?;
        let result = self.with_session(
            session_handle.as_str(),
            &sender,
            SessionKind::RemoteDesktop,
            |entry| {
                entry.lifecycle.select_devices()?;
                entry.requested_devices = types;
                tracing::info!(session = entry.id, devices = %types, "devices selected");
                Ok(())
            },
        );
        request.finish().await;
        result.map(|()| (RESPONSE_SUCCESS, Results::new()))
    }

    /// RemoteDesktop.Start: consent, then the session's virtual devices.
    pub async fn start_remote_desktop(
        &self,
        conn: &Connection,
        header: &Header<'_>,
        handle: ObjectPath<'_>,
        session_handle: ObjectPath<'_>,
    ) -> Result<(u32, Results), PortalError> {
        let sender = self.config.trust.check(conn, header).await?;
        let handle = check_path("handle", &handle)?;
        let path = session_handle.as_str().to_string();
        let request = RequestGuard::export(conn, handle, &sender).await?;
        let begun = self.with_session(&path, &sender, SessionKind::RemoteDesktop, |entry| {
            entry.lifecycle.begin_start()?;
            Ok((entry.id, entry.app_id.clone(), entry.requested_devices))
        });
        let (id, app_id, requested) = match begun {
            Ok(v) => v,
            Err(e) => {
                request.finish().await;
                return Err(e);
            }
        };

        let decision = tokio::select! {
            d = self.decide(&app_id, requested, 0) => d,
            () = request.cancelled() => {
                self.with_session(&path, &sender, SessionKind::RemoteDesktop, |e| {
                    e.lifecycle.abandon_start();
                    Ok(())
                }).ok();
                request.finish().await;
                return Ok((RESPONSE_CANCELLED, Results::new()));
            }
        };
        let granted = match decision {
            Decision::Allow { devices, .. } => devices,
            Decision::Deny { reason } => {
                tracing::warn!(
                    session = id,
                    "RemoteDesktop refused: {reason}. To allow it, add to {}:\n{}",
                    self.config.policy_path.display(),
                    Policy::example_rule(&app_id)
                );
                self.with_session(&path, &sender, SessionKind::RemoteDesktop, |e| {
                    Ok(e.lifecycle.finish_start(false)?)
                })
                .ok();
                request.finish().await;
                return Ok((RESPONSE_CANCELLED, Results::new()));
            }
        };

        // Devices are created now, not at the first event: the seat
        // announces the pointer capability only once a pointer exists, and
        // clients bind wl_pointer only after that announcement.
        let wanted = granted.intersection(self.config.available_devices);
        let made = match self.wayland.create_devices(id, wanted).await {
            Ok(Ok(made)) => made,
            Ok(Err(e)) | Err(ion_wayland::WaylandError::Setup(e)) => {
                tracing::error!(session = id, "cannot create virtual devices: {e}");
                request.finish().await;
                return Ok((RESPONSE_OTHER, Results::new()));
            }
            Err(e) => {
                tracing::error!(session = id, "cannot create virtual devices: {e}");
                request.finish().await;
                return Ok((RESPONSE_OTHER, Results::new()));
            }
        };
        let started = self.with_session(&path, &sender, SessionKind::RemoteDesktop, |e| {
            e.devices_created = true;
            e.granted_devices = made;
            e.lifecycle.finish_start(true)?;
            Ok(())
        });
        request.finish().await;
        if let Err(e) = started {
            // Closed while we were creating devices: undo.
            let _ = self.wayland.destroy_devices(id).await;
            tracing::info!(session = id, "session ended during Start: {e:?}");
            return Ok((RESPONSE_CANCELLED, Results::new()));
        }
        tracing::info!(session = id, devices = %made, "RemoteDesktop session started");
        let mut results = Results::new();
        results.insert("devices".into(), OwnedValue::from(made.bits()));
        results.insert("clipboard_enabled".into(), OwnedValue::from(false));
        Ok((RESPONSE_SUCCESS, results))
    }

    async fn decide(&self, app_id: &str, devices: DeviceTypes, sources: u32) -> Decision {
        let path = &self.config.policy_path;
        let text = match tokio::fs::read_to_string(path).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Decision::Deny {
                    reason: format!("cannot read the policy file {}: {e}", path.display()),
                }
            }
        };
        match Policy::parse(&text) {
            Ok(p) => p.decide(app_id, devices, sources),
            Err(e) => Decision::Deny {
                reason: format!("{} is unusable: {e}", path.display()),
            },
        }
    }

    /// One input call: validated, rate limited and queued in arrival order.
    /// Runs inline in the D-Bus dispatch (never awaits).
    pub fn notify(
        &self,
        header: &Header<'_>,
        session: &str,
        call: NotifyCall,
    ) -> Result<(), PortalError> {
        let sender = sender_of(header);
        let now = self.epoch.elapsed();
        let result = self.with_session(session, &sender, SessionKind::RemoteDesktop, |entry| {
            let grant = Grant {
                state: entry.lifecycle.state(),
                devices: entry.granted_devices,
                streams: &entry.streams,
                eis_active: entry.eis_active,
            };
            let event = validate(&call, &grant)?;
            if let InputEvent::KeyboardKeysym { keysym, .. } = event {
                if !keysym_is_known(keysym) {
                    return Err(PortalError::InvalidArgument(format!(
                        "keysym {keysym:#x} is not a known keysym"
                    )));
                }
            }
            entry.rate.admit(now, event.is_release())?;
            self.wayland
                .input(entry.id, event)
                .map_err(|e| PortalError::Failed(e.to_string()))
        });
        if let Err(e) = &result {
            tracing::debug!(%session, ?call, "input refused: {e}");
        }
        result
    }

    /// Ends a session: releases what it holds, destroys its devices,
    /// unexports it, and tells the frontend if it did not ask.
    pub async fn close_session(
        &self,
        conn: &Connection,
        path: &OwnedObjectPath,
        reason: CloseReason,
    ) {
        let Some(mut entry) = self.table().remove(path.as_str()) else {
            return;
        };
        entry.lifecycle.close();
        // Input already queued for this session is ahead of this command
        // in the Wayland thread's channel, so the releases come after it.
        if entry.devices_created {
            if let Err(e) = self.wayland.destroy_devices(entry.id).await {
                tracing::debug!(session = entry.id, "devices already gone: {e}");
            }
        }
        if reason.emit_closed() {
            match SignalEmitter::new(conn, path.clone()) {
                Ok(emitter) => {
                    if let Err(e) = SessionObject::closed(&emitter).await {
                        tracing::warn!(session = entry.id, "cannot emit Closed: {e}");
                    }
                }
                Err(e) => tracing::warn!(session = entry.id, "cannot emit Closed: {e}"),
            }
        }
        if let Err(e) = conn.object_server().remove::<SessionObject, _>(path).await {
            tracing::debug!(session = entry.id, "session object already gone: {e}");
        }
        tracing::info!(session = entry.id, ?reason, "session closed");
    }

    pub async fn close_owned_by(&self, conn: &Connection, owner: &str) {
        let paths = self.table().paths_owned_by(owner);
        for p in paths {
            if let Ok(path) = OwnedObjectPath::try_from(p) {
                self.close_session(conn, &path, CloseReason::OwnerVanished)
                    .await;
            }
        }
    }

    pub async fn close_all(&self, conn: &Connection, reason: CloseReason) {
        let paths = self.table().paths();
        for p in paths {
            if let Ok(path) = OwnedObjectPath::try_from(p) {
                self.close_session(conn, &path, reason.clone()).await;
            }
        }
    }
}
