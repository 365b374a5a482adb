//! The backend's behaviour, shared by its D-Bus interfaces: sessions, their
//! lifecycle, consent, input, and every way a session ends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use ion_core::session::Lifecycle;
use ion_core::validate::{validate, Grant, InputOrigin, NotifyCall};
use ion_core::{DeviceTypes, InputError, InputEvent, RateLimiter, StreamRegion};
use ion_wayland::keymap::keysym_is_known;
use ion_wayland::{OutputInfo, SourceRef, StreamInfo, WaylandHandle};
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};
use zbus::Connection;

use crate::caller::{sender_of, Trust};
use crate::consent::{Approved, Ask, GrantRef, PersistAsk};
use crate::eis::{EisEnd, EisOffer, EisRegion};
use crate::error::PortalError;
use crate::options::SelectSourcesOptions;
use crate::request::RequestGuard;
use crate::session::SessionObject;
use crate::sessions::{
    EisLink, InputBook, SessionEntry, SessionKind, SessionTable, SourceSelection,
};

/// ScreenCast source types and cursor modes.
pub const SOURCE_MONITOR: u32 = 1;
pub const SOURCE_WINDOW: u32 = 2;
pub const SOURCE_VIRTUAL: u32 = 4;
pub const CURSOR_HIDDEN: u32 = 1;
pub const CURSOR_EMBEDDED: u32 = 2;
pub const CURSOR_METADATA: u32 = 4;

/// What a Start asks for: devices, sources, the clipboard.
struct Wanted {
    devices: DeviceTypes,
    sources: Option<SourceSelection>,
    clipboard: bool,
}

/// The grant a started session runs under, and what Start returns for it.
type GrantOutcome = (Option<String>, Option<GrantRef>);

/// persist_mode and restore_data from SelectSources/SelectDevices, checked.
fn persist_ask(
    mode: Option<u32>,
    restore: Option<(String, u32, OwnedValue)>,
) -> Result<PersistAsk, PortalError> {
    let mode = mode.unwrap_or(ion_core::grants::PERSIST_NONE);
    if mode > ion_core::grants::PERSIST_PERSISTENT {
        return Err(PortalError::InvalidArgument(format!(
            "persist_mode {mode}: known are 0 (no), 1 (while the app runs), 2 (until revoked)"
        )));
    }
    Ok(PersistAsk { mode, restore })
}

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
    /// ScreenCast source types (AvailableSourceTypes) and cursor modes.
    pub available_sources: u32,
    pub available_cursor_modes: u32,
    /// Per-session input rate limit: sustained events per second and burst.
    pub rate_per_second: u32,
    pub rate_burst: u32,
    /// Where remembered grants are kept.
    pub grants_path: PathBuf,
    /// The bundled dialog, if installed (`[dialog] command` overrides it).
    pub dialog_program: Option<PathBuf>,
    /// Environment for the dialog (the compositor's WAYLAND_DISPLAY).
    pub dialog_env: Vec<(String, String)>,
    /// Order repair's window (`ion_core::order`).
    pub reorder_window: std::time::Duration,
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
    /// The compositor ended our connection over a request it refused (a
    /// protocol error); the daemon reconnects.
    CompositorError,
    /// The daemon is shutting down.
    Shutdown,
    /// Its streams failed, or PipeWire went away.
    StreamsEnded,
    /// The grant it ran under was revoked.
    Revoked,
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
    pub grants: crate::grant_store::GrantStore,
    sessions: Mutex<SessionTable>,
    next_id: std::sync::atomic::AtomicU64,
    epoch: Instant,
    pub(crate) timekeeper: crate::timekeeper::Timekeeper,
    /// The local selection, as the compositor last reported it.
    selection: Mutex<crate::clipboard::Selection>,
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
            grants: crate::grant_store::GrantStore::new(config.grants_path.clone()),
            config,
            wayland,
            sessions: Mutex::new(SessionTable::default()),
            next_id: std::sync::atomic::AtomicU64::new(1),
            epoch: Instant::now(),
            timekeeper: crate::timekeeper::Timekeeper::default(),
            selection: Mutex::new(crate::clipboard::Selection::default()),
        }
    }

    pub(crate) fn selection_state(&self) -> MutexGuard<'_, crate::clipboard::Selection> {
        self.selection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the session with this id, if it is still there.
    pub(crate) fn with_entry<T>(
        &self,
        id: u64,
        f: impl FnOnce(&mut SessionEntry) -> T,
    ) -> Option<T> {
        self.table().get_mut_by_id(id).map(f)
    }

    pub(crate) fn path_of(&self, id: u64) -> Option<String> {
        self.table().path_of(id)
    }

    /// Sessions whose clipboard is enabled: (id, path).
    pub(crate) fn clipboard_sessions(&self) -> Vec<(u64, String)> {
        self.table().with_clipboard()
    }

    /// Starts the tasks the portal needs besides its interfaces.
    pub(crate) fn start_tasks(self: &std::sync::Arc<Self>) {
        self.timekeeper.start(
            std::sync::Arc::downgrade(self),
            tokio::time::Instant::from_std(self.epoch),
        );
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

    /// What `org.ionchannel.Status1` reports, sessions by id.
    pub fn status(&self) -> crate::status_iface::Status {
        use crate::status_iface::{InputStatus, SessionStatus, Status};
        let table = self.table();
        let mut sessions: Vec<SessionStatus> = table
            .entries()
            .map(|e| {
                let r = e.input.order.stats();
                let c = e.input.counts;
                SessionStatus {
                    id: e.id,
                    kind: e.kind.name().to_owned(),
                    app_id: e.app_id.clone(),
                    state: e.lifecycle.state().to_string(),
                    devices: e.granted_devices.bits(),
                    streams: e.stream_infos.len(),
                    clipboard: e.clipboard.enabled,
                    eis: match e.eis {
                        EisLink::None => "none",
                        EisLink::Connected { .. } => "connected",
                        EisLink::Ended => "ended",
                    }
                    .to_owned(),
                    input: InputStatus {
                        injected: c.injected,
                        refused: c.refused,
                        rate_limited: c.rate_limited,
                        repaired: r.repaired(),
                        early_releases: r.early_releases,
                        overtaken_presses: r.overtaken_presses,
                        provisional_releases: r.provisional_releases,
                        stray_releases: r.stray_releases,
                        dropped_presses: r.dropped_presses,
                        max_lag_us: u64::try_from(r.max_lag.as_micros()).unwrap_or(u64::MAX),
                        held: e.input.order.any_down(),
                    },
                }
            })
            .collect();
        sessions.sort_by_key(|s| s.id);
        Status {
            reorder_window_ms: self.config.reorder_window.as_secs_f64() * 1000.0,
            rate_per_second: self.config.rate_per_second,
            rate_burst: self.config.rate_burst,
            sessions,
        }
    }

    /// Runs `f` on the caller's session, checking that it exists, is of
    /// `kind`, and belongs to `sender`.
    pub(crate) fn with_session<T>(
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

    /// Like `with_session`, for calls valid on both kinds of session.
    fn with_session_any<T>(
        &self,
        path: &str,
        sender: &str,
        f: impl FnOnce(&mut SessionEntry) -> Result<T, PortalError>,
    ) -> Result<T, PortalError> {
        let kind = self
            .table()
            .get(path)
            .map(|e| e.kind)
            .ok_or_else(|| PortalError::NotFound(format!("no session {path}")))?;
        self.with_session(path, sender, kind, f)
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
            sources: None,
            streams: Vec::new(),
            stream_infos: Vec::new(),
            rate: RateLimiter::new(self.config.rate_per_second, self.config.rate_burst),
            eis: EisLink::None,
            persist: PersistAsk::default(),
            grant: None,
            input: InputBook::new(self.config.reorder_window),
            clipboard: Default::default(),
            alive: tokio::sync::watch::Sender::new(()),
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
        options: crate::options::SelectDevicesOptions,
    ) -> Result<(u32, Results), PortalError> {
        let sender = self.config.trust.check(conn, header).await?;
        let handle = check_path("handle", &handle)?;
        let persist = persist_ask(options.persist_mode, options.restore_data)?;
        // Checked before anything changes: a bad mask is the caller's error.
        let types = match options.types {
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
                // RemoteDesktop sessions persist through SelectDevices.
                entry.persist = persist;
                tracing::info!(session = entry.id, devices = %types, "devices selected");
                Ok(())
            },
        );
        request.finish().await;
        result.map(|()| (RESPONSE_SUCCESS, Results::new()))
    }

    /// ScreenCast.SelectSources, on a ScreenCast session or (as the frontend
    /// sends it) on a RemoteDesktop session.
    pub async fn select_sources(
        &self,
        conn: &Connection,
        header: &Header<'_>,
        handle: ObjectPath<'_>,
        session_handle: ObjectPath<'_>,
        options: SelectSourcesOptions,
    ) -> Result<(u32, Results), PortalError> {
        let sender = self.config.trust.check(conn, header).await?;
        let handle = check_path("handle", &handle)?;
        let types = options.types.unwrap_or(SOURCE_MONITOR);
        if types == 0 || types & !(SOURCE_MONITOR | SOURCE_WINDOW | SOURCE_VIRTUAL) != 0 {
            return Err(PortalError::InvalidArgument(format!(
                "source types {types:#x}: known are 1 monitor, 2 window, 4 virtual"
            )));
        }
        if types & self.config.available_sources == 0 {
            return Err(PortalError::InvalidArgument(format!(
                "source types {types:#x} are not available here (AvailableSourceTypes {:#x})",
                self.config.available_sources
            )));
        }
        let cursor_mode = options.cursor_mode.unwrap_or(CURSOR_HIDDEN);
        if !cursor_mode.is_power_of_two() || cursor_mode & self.config.available_cursor_modes == 0 {
            return Err(PortalError::InvalidArgument(format!(
                "cursor mode {cursor_mode} is not available (AvailableCursorModes {:#x})",
                self.config.available_cursor_modes
            )));
        }
        let selection = SourceSelection {
            types: types & self.config.available_sources,
            multiple: options.multiple.unwrap_or(false),
            cursor_mode,
        };
        let persist = persist_ask(options.persist_mode, options.restore_data)?;
        let request = RequestGuard::export(conn, handle, &sender).await?;
        let result = self.with_session_any(session_handle.as_str(), &sender, |entry| {
            entry.lifecycle.select_sources()?;
            entry.sources = Some(selection);
            // A RemoteDesktop session persists through SelectDevices.
            if entry.kind == SessionKind::ScreenCast {
                entry.persist = persist;
            }
            tracing::info!(session = entry.id, ?selection, "sources selected");
            Ok(())
        });
        request.finish().await;
        result.map(|()| (RESPONSE_SUCCESS, Results::new()))
    }

    /// Start of either kind: consent, then the session's virtual devices
    /// (RemoteDesktop) and streams (if sources were selected).
    pub async fn start(
        &self,
        conn: &Connection,
        header: &Header<'_>,
        handle: ObjectPath<'_>,
        session_handle: ObjectPath<'_>,
        kind: SessionKind,
    ) -> Result<(u32, Results), PortalError> {
        let sender = self.config.trust.check(conn, header).await?;
        let handle = check_path("handle", &handle)?;
        let path = session_handle.as_str().to_string();
        let request = RequestGuard::export(conn, handle, &sender).await?;
        let begun = self.with_session(&path, &sender, kind, |entry| {
            if kind == SessionKind::ScreenCast && entry.sources.is_none() {
                return Err(PortalError::Failed(
                    "Start needs SelectSources first".into(),
                ));
            }
            entry.lifecycle.begin_start()?;
            let devices = match kind {
                SessionKind::RemoteDesktop => entry.requested_devices,
                SessionKind::ScreenCast => DeviceTypes::EMPTY,
            };
            Ok((
                entry.id,
                entry.app_id.clone(),
                devices,
                entry.sources,
                entry.persist.try_clone(),
                entry.alive.subscribe(),
            ))
        });
        let (id, app_id, requested, sources, persist, mut alive) = match begun {
            Ok(v) => v,
            Err(e) => {
                request.finish().await;
                return Err(e);
            }
        };
        let clipboard = self.clipboard_decision(&path, &sender, kind).await;
        // The user's answer, unless the frontend closes the request or the
        // session ends first (Session.Close, its app or frontend gone): then
        // the dialog is dropped, which kills it. Found by `ionchannel-lab
        // faults`: a session closed while its dialog was frozen left the
        // dialog on screen, asking about a session that no longer existed.
        let outcome = tokio::select! {
            r = self.grant(id, &app_id, kind, Wanted { devices: requested, sources, clipboard }, &persist) => r,
            () = request.cancelled() => Err(RESPONSE_CANCELLED),
            _ = alive.changed() => Err(RESPONSE_CANCELLED),
        };
        let (devices, streams, grant, clipboard) = match outcome {
            Ok(granted) => granted,
            Err(code) => {
                // Undo whatever was made before the refusal or the close.
                self.release_media(id, true).await;
                self.with_session(&path, &sender, kind, |e| {
                    if code == RESPONSE_CANCELLED && request.is_cancelled() {
                        e.lifecycle.abandon_start();
                    } else {
                        e.lifecycle.finish_start(false)?;
                    }
                    Ok(())
                })
                .ok();
                request.finish().await;
                return Ok((code, Results::new()));
            }
        };
        let started = self.with_session(&path, &sender, kind, |e| {
            e.devices_created = kind == SessionKind::RemoteDesktop;
            e.granted_devices = devices;
            // Absolute input maps onto outputs; a window's place on screen
            // is not known to us, so window streams take none.
            e.streams = streams
                .iter()
                .filter_map(|s| Some(StreamRegion::new(s.node_id, s.output()?.logical.into())))
                .collect();
            e.stream_infos = streams.clone();
            e.grant = grant.0.clone();
            e.clipboard.enabled = clipboard;
            e.lifecycle.finish_start(true)?;
            Ok(())
        });
        request.finish().await;
        if let Err(e) = started {
            // Closed while we were starting: undo.
            self.release_media(id, true).await;
            tracing::info!(session = id, "session ended during Start: {e:?}");
            return Ok((RESPONSE_CANCELLED, Results::new()));
        }
        tracing::info!(session = id, kind = kind.name(), devices = %devices, streams = streams.len(), clipboard, "session started");
        let mut results = Results::new();
        if kind == SessionKind::RemoteDesktop {
            results.insert("devices".into(), OwnedValue::from(devices.bits()));
            results.insert("clipboard_enabled".into(), OwnedValue::from(clipboard));
        }
        if clipboard {
            // The app learns the selection there is now, as it will learn
            // every change.
            let now = self.selection();
            if !now.mime_types.is_empty() {
                self.emit_owner_changed(conn, &path, &now, false).await;
            }
        }
        if sources.is_some() {
            results.insert("streams".into(), streams_value(&streams)?);
        }
        if let Some(g) = grant.1 {
            results.insert("persist_mode".into(), OwnedValue::from(g.persist_mode));
            let data = crate::restore_value::to_value(&g.restore);
            let triple = zbus::zvariant::StructureBuilder::new()
                .add_field(ion_core::grants::RESTORE_VENDOR.to_string())
                .add_field(ion_core::grants::RESTORE_VERSION)
                .append_field(Value::Value(Box::new(Value::from(data))))
                .build()
                .map_err(|e| PortalError::Failed(format!("cannot build restore data: {e}")))?;
            results.insert(
                "restore_data".into(),
                OwnedValue::try_from(Value::from(triple))
                    .map_err(|e| PortalError::Failed(format!("cannot build restore data: {e}")))?,
            );
        }
        Ok((RESPONSE_SUCCESS, results))
    }

    /// Consent, then devices and streams. Err is the response code.
    async fn grant(
        &self,
        id: u64,
        app_id: &str,
        kind: SessionKind,
        wanted: Wanted,
        persist: &PersistAsk,
    ) -> Result<(DeviceTypes, Vec<StreamInfo>, GrantOutcome, bool), u32> {
        let Wanted {
            devices: requested,
            sources,
            clipboard,
        } = wanted;
        let snapshot = match self.wayland.snapshot().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(session = id, "cannot read the compositor's state: {e}");
                return Err(RESPONSE_OTHER);
            }
        };
        let ask = Ask {
            id,
            app_id,
            kind,
            // Only what the compositor can provide is asked about (a
            // touchscreen it cannot inject is never offered to the user).
            devices: requested.intersection(self.config.available_devices),
            sources,
            persist,
            // Asked about only where the compositor has data-control.
            clipboard: clipboard
                && kind == SessionKind::RemoteDesktop
                && snapshot.data_control.is_some(),
        };
        if clipboard && !ask.clipboard {
            tracing::info!(session = id, "clipboard requested, but the compositor offers no data-control protocol: Start answers clipboard_enabled false");
        }
        let approval = self.consent(&ask, &snapshot).await?;
        let granted = approval.devices;
        let mut made = DeviceTypes::EMPTY;
        if kind == SessionKind::RemoteDesktop {
            // Devices are created now, not at the first event: the seat
            // announces the pointer capability only once a pointer exists,
            // and clients bind wl_pointer only after that announcement.
            let wanted = granted.intersection(self.config.available_devices);
            made = match self.wayland.create_devices(id, wanted).await {
                Ok(Ok(made)) => made,
                Ok(Err(e)) => {
                    tracing::error!(session = id, "cannot create virtual devices: {e}");
                    return Err(RESPONSE_OTHER);
                }
                Err(e) => {
                    tracing::error!(session = id, "cannot create virtual devices: {e}");
                    return Err(RESPONSE_OTHER);
                }
            };
        }
        let mut streams = Vec::new();
        if let Some(sel) = sources {
            let chosen = match &approval.sources {
                Approved::Named(named) => named.clone(),
                Approved::ByRule { types, windows, .. } => {
                    choose_sources(&snapshot, *types, windows, sel.multiple)
                }
            };
            if chosen.is_empty() {
                if let Approved::ByRule { types, .. } = &approval.sources {
                    if types & SOURCE_WINDOW != 0 {
                        let listed: Vec<String> = snapshot
                            .windows
                            .iter()
                            .map(|w| {
                                format!("{{ app_id = {:?}, title = {:?} }}", w.app_id, w.title)
                            })
                            .collect();
                        tracing::warn!(
                            session = id,
                            "no window matches the rule's `windows` in {}; open windows: [{}]",
                            self.config.policy_path.display(),
                            listed.join(", ")
                        );
                        return Err(RESPONSE_CANCELLED);
                    }
                }
                tracing::error!(session = id, "no output to share");
                return Err(RESPONSE_OTHER);
            }
            streams = match self
                .wayland
                .create_streams(id, chosen, cursor_mode(sel.cursor_mode))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::error!(session = id, "cannot create streams: {e}");
                    return Err(RESPONSE_OTHER);
                }
                Err(e) => {
                    tracing::error!(session = id, "cannot create streams: {e}");
                    return Err(RESPONSE_OTHER);
                }
            };
        }
        let (mut grant_id, mut grant) = (approval.grant_id, approval.grant);
        if let Approved::ByRule { remember: true, .. } = approval.sources {
            // A rule with `persist`: what it shared is remembered like a
            // user's choice.
            let shared: Vec<SourceRef> = streams
                .iter()
                .map(|s| match &s.source {
                    ion_wayland::StreamSource::Output(o) => SourceRef::Output(o.name.clone()),
                    ion_wayland::StreamSource::Window { window, .. } => {
                        SourceRef::Window(window.identifier.clone())
                    }
                })
                .collect();
            grant = self.remember(&ask, &snapshot, made, approval.clipboard, &shared);
            grant_id = grant.as_ref().map(|g| g.id.clone());
        }
        Ok((
            made,
            streams,
            (grant_id, grant),
            approval.clipboard && ask.clipboard,
        ))
    }

    /// Destroys a session's devices (releasing what they hold) and streams.
    async fn release_media(&self, id: u64, devices: bool) {
        if devices {
            if let Err(e) = self.wayland.destroy_devices(id).await {
                tracing::debug!(session = id, "devices already gone: {e}");
            }
        }
        let _ = self
            .wayland
            .send(ion_wayland::Command::DestroyStreams { session: id });
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
            self.inject(entry, call, InputOrigin::Notify, now)
                .map_err(|e| match e {
                    Injection::Refused(e) => e.into(),
                    Injection::UnknownKeysym(keysym) => PortalError::InvalidArgument(format!(
                        "keysym {keysym:#x} is not a known keysym"
                    )),
                    Injection::WaylandGone(e) => PortalError::Failed(e),
                })
        });
        result
    }

    /// The one input path of Notify* and EIS: validation against the
    /// session, the rate limit, order repair, then the Wayland thread's
    /// channel (never waits). Called with the table locked, so input and a
    /// session's end are ordered on the channel. Every refusal is counted
    /// and logged (the frontend hides them from the app).
    fn inject(
        &self,
        entry: &mut SessionEntry,
        call: NotifyCall,
        origin: InputOrigin,
        now: std::time::Duration,
    ) -> Result<(), Injection> {
        let result = self.inject_checked(entry, call, origin, now);
        if let Err(e) = &result {
            let reason = match e {
                Injection::Refused(e) => ion_core::refusals::reason(e),
                Injection::UnknownKeysym(_) => "unknown keysym",
                Injection::WaylandGone(_) => "compositor gone",
            };
            if matches!(e, Injection::Refused(InputError::RateLimited { .. })) {
                entry.input.counts.rate_limited += 1;
            } else {
                entry.input.counts.refused += 1;
            }
            if entry.input.refusals.refused(reason, now) == ion_core::refusals::Say::Now {
                tracing::warn!(
                    session = entry.id,
                    app_id = %entry.app_id,
                    call = %call_name(&call, origin),
                    ?call,
                    "input refused: {e}"
                );
            }
        }
        self.schedule(entry);
        result
    }

    fn inject_checked(
        &self,
        entry: &mut SessionEntry,
        call: NotifyCall,
        origin: InputOrigin,
        now: std::time::Duration,
    ) -> Result<(), Injection> {
        let grant = Grant {
            state: entry.lifecycle.state(),
            devices: entry.granted_devices,
            streams: &entry.streams,
            layout: &entry.input.layout,
            eis_active: entry.eis.is_used(),
            origin,
        };
        let event = validate(&call, &grant).map_err(Injection::Refused)?;
        if let InputEvent::KeyboardKeysym { keysym, .. } = event {
            if !keysym_is_known(keysym) {
                return Err(Injection::UnknownKeysym(keysym));
            }
        }
        if let Err(e) = entry.rate.admit(now, event.is_release()) {
            // Its release, whenever it comes, must not reach the
            // compositor either.
            entry.input.order.refused(&event, now);
            return Err(Injection::Refused(e));
        }
        let mut out = Vec::with_capacity(2);
        match origin {
            // The frontend reorders calls an app does not await.
            InputOrigin::Notify => entry.input.order.push(event, now, &mut out),
            // One socket: EIS events come in the order they were sent, and
            // a quick re-press there is what the app meant.
            InputOrigin::Eis => entry.input.order.push_in_order(event, &mut out),
        }
        self.send_input(entry, out)
    }

    fn send_input(
        &self,
        entry: &mut SessionEntry,
        events: Vec<InputEvent>,
    ) -> Result<(), Injection> {
        for ev in events {
            self.wayland
                .input(entry.id, ev)
                .map_err(|e| Injection::WaylandGone(e.to_string()))?;
            entry.input.counts.injected += 1;
        }
        Ok(())
    }

    /// Tells the timekeeper when to come back to this session, if it does
    /// not already come back earlier.
    fn schedule(&self, entry: &mut SessionEntry) {
        let Some(next) = entry.input.next_deadline() else {
            return;
        };
        if entry.input.wake_at.is_none_or(|w| next < w) {
            entry.input.wake_at = Some(next);
            self.timekeeper.schedule(entry.id, next);
        }
    }

    /// The timekeeper's visit: releases what order repair's window ran out
    /// on, logs a due summary of refusals. Returns when to come back.
    pub(crate) fn look_at(&self, id: u64) -> Option<std::time::Duration> {
        let now = self.epoch.elapsed();
        let mut table = self.table();
        let entry = table.get_mut_by_id(id)?;
        if entry.input.wake_at.is_some_and(|w| w > now) {
            // An earlier visit already asked for a later one.
            return None;
        }
        entry.input.wake_at = None;
        let mut out = Vec::new();
        entry.input.order.expire(now, &mut out);
        if !out.is_empty() {
            tracing::debug!(
                session = id,
                events = out.len(),
                "order repair: window ended"
            );
            if let Err(Injection::WaylandGone(e)) = self.send_input(entry, out) {
                tracing::debug!(session = id, "cannot send input: {e}");
            }
        }
        if let Some(summary) = entry.input.refusals.summary(now, false) {
            tracing::warn!(session = id, app_id = %entry.app_id, "{summary}");
        }
        let next = entry.input.next_deadline()?;
        entry.input.wake_at = Some(next);
        Some(next)
    }

    /// ConnectToEIS: checks the call like an input call (the session
    /// exists, is the caller's, is started), allows it once, and starts an
    /// EIS connection offering what the session was granted. Returns the
    /// client's end of the socket.
    pub async fn connect_to_eis(
        self: &std::sync::Arc<Self>,
        header: &Header<'_>,
        session: &ObjectPath<'_>,
        app_id: &str,
    ) -> Result<std::os::fd::OwnedFd, PortalError> {
        let sender = sender_of(header);
        let path = check_path("session_handle", session)?;
        // The layout, for a session without streams (its absolute pointer
        // then covers the outputs); read before the table is locked.
        let outputs = match self.wayland.snapshot().await {
            Ok(s) => s.outputs,
            Err(e) => {
                return Err(PortalError::Failed(format!(
                    "cannot read the compositor's outputs: {e}"
                )))
            }
        };
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| PortalError::Failed(format!("cannot make a socket pair: {e}")))?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let connection = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (offer, regions_rx) = self.with_session(
            path.as_str(),
            &sender,
            SessionKind::RemoteDesktop,
            |entry| {
                if entry.app_id != app_id {
                    return Err(PortalError::NotAllowed(format!(
                        "app_id {app_id:?} is not the session's ({:?})",
                        entry.app_id
                    )));
                }
                let state = entry.lifecycle.state();
                if state != ion_core::SessionState::Started {
                    return Err(PortalError::Failed(format!(
                        "ConnectToEIS needs a started session; session {} is {state}",
                        path.as_str()
                    )));
                }
                if entry.eis.is_used() {
                    return Err(PortalError::Failed(format!(
                        "ConnectToEIS was already called on session {}; it is allowed once",
                        path.as_str()
                    )));
                }
                // A touchscreen is granted only where the daemon can touch
                // (uinput): the offer gives it to EIS when there are
                // regions to touch.
                let devices = entry.granted_devices;
                if devices.is_empty() {
                    return Err(PortalError::NotAllowed(format!(
                        "session {} was granted no devices",
                        path.as_str()
                    )));
                }
                // Regions exist for monitor streams only (a window's
                // place on screen is unknown), in the same order.
                let stream_regions: Vec<EisRegion> = entry
                    .streams
                    .iter()
                    .zip(
                        entry
                            .stream_infos
                            .iter()
                            .filter_map(|i| Some((i, i.output()?))),
                    )
                    .map(|(region, (info, output))| EisRegion {
                        stream_id: Some(region.stream_id),
                        mapping_id: Some(info.mapping_id()),
                        x: output.logical.x,
                        y: output.logical.y,
                        width: region.space.0,
                        height: region.space.1,
                        scale: output.scale as f32,
                    })
                    .collect();
                // Without streams (Deskflow and other input-only clients
                // select none), the outputs of the layout are the regions,
                // as on GNOME, and they follow the outputs.
                let (regions, regions_tx, regions_rx) = if entry.stream_infos.is_empty() {
                    entry.input.layout = outputs.iter().map(|o| o.logical.into()).collect();
                    let regions = crate::eis::layout_regions(&outputs);
                    let (tx, rx) = tokio::sync::watch::channel(regions.clone());
                    (regions, Some(tx), Some(rx))
                } else {
                    (stream_regions, None, None)
                };
                entry.eis = EisLink::Connected {
                    id: connection,
                    _stop: stop,
                    regions: regions_tx,
                };
                Ok((
                    EisOffer {
                        path: path.to_string(),
                        session: entry.id,
                        connection,
                        app_id: entry.app_id.clone(),
                        devices,
                        regions,
                    },
                    regions_rx,
                ))
            },
        )?;
        let id = offer.session;
        let regions = offer.regions.len();
        if let Err(e) = crate::eis::spawn(self.clone(), offer, ours, stopped, regions_rx) {
            // The link's sender goes with this: nothing is left running.
            if let Some(entry) = self.table().get_mut(path.as_str()) {
                entry.eis = EisLink::Ended;
            }
            return Err(PortalError::Failed(format!(
                "cannot start the EIS connection: {e}"
            )));
        }
        tracing::info!(
            session = id,
            connection,
            regions,
            "ConnectToEIS: EIS connection handed out; Notify* now refused"
        );
        Ok(theirs.into())
    }

    /// One event from a session's EIS connection, through the Notify* path.
    pub fn eis_input(&self, offer: &EisOffer, call: NotifyCall) -> Result<(), EisRefused> {
        let now = self.epoch.elapsed();
        let mut table = self.table();
        let entry = table
            .get_mut(&offer.path)
            .filter(|e| e.id == offer.session && e.eis.is(offer.connection))
            .ok_or(EisRefused::SessionGone)?;
        self.inject(entry, call, InputOrigin::Eis, now)
            .map_err(|e| match e {
                Injection::Refused(e) => EisRefused::Input(e),
                Injection::UnknownKeysym(keysym) => EisRefused::Input(InputError::OutOfRange {
                    what: "keysym",
                    value: format!("{keysym:#x}"),
                    range: "a known keysym",
                }),
                Injection::WaylandGone(_) => EisRefused::SessionGone,
            })
    }

    /// Releases what a session holds while its EIS connection goes on
    /// (the client closed or re-bound a device).
    pub fn eis_release(&self, offer: &EisOffer) {
        let mut table = self.table();
        if let Some(entry) = table
            .get_mut(&offer.path)
            .filter(|e| e.id == offer.session && e.eis.is(offer.connection))
        {
            let _ = self.wayland.release_input(entry.id);
            entry.input.order.clear();
        }
    }

    /// A session's EIS connection ended: everything the session holds is
    /// released (after every event the connection sent: the same channel).
    /// The session goes on (its streams may be in use) without input. When
    /// the session itself ended, its close already released everything.
    pub fn eis_ended(&self, offer: &EisOffer, end: &EisEnd) {
        let mut table = self.table();
        let Some(entry) = table
            .get_mut(&offer.path)
            .filter(|e| e.id == offer.session && e.eis.is(offer.connection))
        else {
            return;
        };
        entry.eis = EisLink::Ended;
        entry.input.order.clear();
        if let Err(e) = self.wayland.release_input(entry.id) {
            tracing::debug!(session = entry.id, "cannot release input: {e}");
        }
        tracing::info!(
            session = entry.id,
            "EIS connection ended ({end}): input released; the session has no input now"
        );
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
        let now = self.epoch.elapsed();
        if let Some(summary) = entry.input.refusals.summary(now, true) {
            tracing::warn!(session = entry.id, app_id = %entry.app_id, "{summary}");
        }
        if entry.kind == SessionKind::RemoteDesktop {
            let c = entry.input.counts;
            let r = entry.input.order.stats();
            tracing::info!(
                session = entry.id,
                injected = c.injected,
                refused = c.refused,
                rate_limited = c.rate_limited,
                repaired = r.repaired(),
                "session's input"
            );
        }
        // Its transfers end, and a selection it owned is withdrawn: no app
        // pastes from a session that is gone.
        if entry.clipboard.enabled {
            entry.clipboard.end();
            let _ = self
                .wayland
                .send(ion_wayland::Command::ClearSelection { session: entry.id });
        }
        // Input already queued for this session is ahead of this command
        // in the Wayland thread's channel, so the releases come after it.
        self.release_media(entry.id, entry.devices_created).await;
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
        // Unexported from its own task: Close runs inside a call on this
        // very object, and zbus waits for that call's hold on the object
        // before removing it (a deadlock if awaited here).
        let (conn, path, id) = (conn.clone(), path.clone(), entry.id);
        tokio::spawn(async move {
            if let Err(e) = conn.object_server().remove::<SessionObject, _>(&path).await {
                tracing::debug!(session = id, "session object already gone: {e}");
            }
        });
        tracing::info!(session = entry.id, ?reason, "session closed");
    }

    /// Every session's id and object path (what Status1 reports by id),
    /// for checks that compare the table with what a caller was told.
    pub fn session_paths(&self) -> Vec<(u64, String)> {
        let table = self.table();
        table
            .paths()
            .into_iter()
            .filter_map(|p| table.get(&p).map(|e| (e.id, p)))
            .collect()
    }

    /// Sessions running under any of these grants.
    pub fn sessions_under(&self, grants: &[String]) -> Vec<String> {
        self.table().paths_under(grants)
    }

    /// The compositor's outputs changed: streams follow their outputs.
    pub fn outputs_changed(&self, outputs: &[OutputInfo]) {
        self.table().outputs_changed(outputs);
    }

    /// Closes the session with this id (its streams failed).
    pub async fn close_by_id(&self, conn: &Connection, id: u64, reason: CloseReason) {
        let path = self.table().path_of(id);
        if let Some(p) = path.and_then(|p| OwnedObjectPath::try_from(p).ok()) {
            self.close_session(conn, &p, reason).await;
        }
    }

    /// Closes every session that has streams (PipeWire went away).
    pub async fn close_streaming(&self, conn: &Connection, reason: CloseReason) {
        let paths = self.table().paths_with_streams();
        for p in paths {
            if let Ok(path) = OwnedObjectPath::try_from(p) {
                self.close_session(conn, &path, reason.clone()).await;
            }
        }
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

/// What a session shares, until the dialog lets the user choose: the
/// rule's windows when window sources were granted and one matches,
/// otherwise outputs when monitors were granted.
fn choose_sources(
    snapshot: &ion_wayland::Snapshot,
    granted: u32,
    windows: &[ion_core::selection::WindowMatch],
    multiple: bool,
) -> Vec<SourceRef> {
    if granted & SOURCE_WINDOW != 0 && snapshot.window_capture {
        let listed: Vec<ion_core::selection::ListedWindow<'_>> = snapshot
            .windows
            .iter()
            .map(|w| (w.identifier.as_str(), w.app_id.as_str(), w.title.as_str()))
            .collect();
        let chosen = ion_core::selection::choose_windows(windows, &listed, multiple);
        if !chosen.is_empty() {
            return chosen.into_iter().map(SourceRef::Window).collect();
        }
    }
    if granted & SOURCE_MONITOR != 0 {
        return choose_outputs(&snapshot.outputs, multiple)
            .into_iter()
            .map(SourceRef::Output)
            .collect();
    }
    Vec::new()
}

/// The portal's cursor mode bit (checked against AvailableCursorModes in
/// SelectSources) as the media thread's mode.
fn cursor_mode(bit: u32) -> ion_wayland::CursorMode {
    match bit {
        CURSOR_EMBEDDED => ion_wayland::CursorMode::Embedded,
        CURSOR_METADATA => ion_wayland::CursorMode::Metadata,
        _ => ion_wayland::CursorMode::Hidden,
    }
}

/// Which outputs a session shares, until the dialog lets the user choose:
/// all of them with `multiple`, else the one at the layout's origin (the
/// primary, in wlroots' layouts), else the first by position.
pub fn choose_outputs(outputs: &[OutputInfo], multiple: bool) -> Vec<String> {
    let mut sorted: Vec<&OutputInfo> = outputs.iter().collect();
    sorted.sort_by_key(|o| (o.logical.y, o.logical.x, o.name.clone()));
    if multiple {
        return sorted.iter().map(|o| o.name.clone()).collect();
    }
    sorted
        .iter()
        .find(|o| o.logical.x == 0 && o.logical.y == 0)
        .or(sorted.first())
        .map(|o| vec![o.name.clone()])
        .unwrap_or_default()
}

/// The call as the app made it, for logs: the Notify* method, or the EIS
/// event it was translated from.
fn call_name(call: &NotifyCall, origin: InputOrigin) -> String {
    let name = match call {
        NotifyCall::PointerMotion { .. } => "PointerMotion",
        NotifyCall::PointerMotionAbsolute { .. } => "PointerMotionAbsolute",
        NotifyCall::PointerMotionGlobal { .. } => "PointerMotionAbsolute (layout)",
        NotifyCall::PointerButton { .. } => "PointerButton",
        NotifyCall::PointerAxis { .. } => "PointerAxis",
        NotifyCall::PointerAxisDiscrete { .. } => "PointerAxisDiscrete",
        NotifyCall::KeyboardKeycode { .. } => "KeyboardKeycode",
        NotifyCall::KeyboardKeysym { .. } => "KeyboardKeysym",
        NotifyCall::TouchDown { .. } => "TouchDown",
        NotifyCall::TouchMotion { .. } => "TouchMotion",
        NotifyCall::TouchUp { .. } => "TouchUp",
        NotifyCall::TouchDownGlobal { .. } => "TouchDown (layout)",
        NotifyCall::TouchMotionGlobal { .. } => "TouchMotion (layout)",
    };
    match origin {
        InputOrigin::Notify => format!("Notify{name}"),
        InputOrigin::Eis => format!("EIS {name}"),
    }
}

/// Why an input call did not reach the Wayland thread.
enum Injection {
    Refused(InputError),
    UnknownKeysym(u32),
    WaylandGone(String),
}

impl std::fmt::Display for Injection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(e) => e.fmt(f),
            Self::UnknownKeysym(k) => write!(f, "keysym {k:#x} is not a known keysym"),
            Self::WaylandGone(e) => write!(f, "the compositor connection is gone: {e}"),
        }
    }
}

/// Why an EIS event was not injected.
#[derive(Debug)]
pub enum EisRefused {
    /// Validation or the rate limit refused it.
    Input(InputError),
    /// The session, or its link to this connection, is gone.
    SessionGone,
}

/// Start's `streams`: `a(ua{sv})` with position, size (logical),
/// source_type and mapping_id.
fn streams_value(streams: &[StreamInfo]) -> Result<OwnedValue, PortalError> {
    let list: Vec<(u32, HashMap<String, Value<'static>>)> = streams
        .iter()
        .map(|s| {
            let mut props: HashMap<String, Value<'static>> = HashMap::new();
            if let Some(o) = s.output() {
                props.insert("position".into(), Value::from((o.logical.x, o.logical.y)));
            }
            props.insert("size".into(), Value::from(s.size()));
            props.insert("source_type".into(), Value::from(s.source_type()));
            // Matches the EIS region of this stream (ConnectToEIS).
            props.insert("mapping_id".into(), Value::from(s.mapping_id()));
            (s.node_id, props)
        })
        .collect();
    OwnedValue::try_from(Value::from(list))
        .map_err(|e| PortalError::Failed(format!("cannot encode streams: {e}")))
}
