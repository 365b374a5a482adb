//! The world an iteration runs in: the real `Portal` served on one end of
//! a socket pair, the fuzzer on the other playing two frontend
//! connections, the Wayland side (the recording stand-in or the daemon's
//! own thread on a compositor), and the model of what was made, checked
//! after every step and at the end.

use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ion_portal::portal::CloseReason;
use ion_portal::{Portal, PortalConfig};
use ion_wayland::command::LogicalRect;
use ion_wayland::recording::{recording_clipboard, Injector, Log, Recorded};
use ion_wayland::{Event, OutputInfo};
use rand::rngs::SmallRng;
use rand::Rng;
use tokio::sync::mpsc;
use zbus::message::{Flags, Message, Type as MessageType};
use zbus::zvariant::Value;
use zbus::{Connection, MessageStream};

use super::oracle::acceptable;
use super::*;
use crate::fuzz::values::dict;

pub(in crate::fuzz) fn outputs() -> Vec<OutputInfo> {
    [
        (1u32, "HEADLESS-1", 0, 1920, 1080),
        (2, "HEADLESS-2", 1920, 1280, 720),
    ]
    .into_iter()
    .map(|(global, name, x, width, height)| OutputInfo {
        global,
        name: name.into(),
        description: format!("Headless output {global}"),
        logical: LogicalRect {
            x,
            y: 0,
            width,
            height,
        },
        mode_width: width,
        mode_height: height,
        scale: 1,
        transform: 0,
    })
    .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::fuzz) enum Kind {
    RemoteDesktop,
    ScreenCast,
}

#[derive(Debug)]
pub(in crate::fuzz) struct Session {
    pub(in crate::fuzz) path: String,
    pub(in crate::fuzz) owner: &'static str,
    pub(in crate::fuzz) kind: Kind,
    pub(in crate::fuzz) started: bool,
    pub(in crate::fuzz) closed: bool,
}

/// What a recorded session id has been given, from the stand-in's log.
#[derive(Debug, Default)]
pub(in crate::fuzz) struct Made {
    devices: bool,
    devices_destroyed: bool,
    streams: bool,
    streams_destroyed: bool,
}

pub(in crate::fuzz) struct World {
    pub(in crate::fuzz) client: Connection,
    pub(in crate::fuzz) server: Connection,
    pub(in crate::fuzz) portal: Arc<Portal>,
    pub(in crate::fuzz) log: Log,
    /// The stand-in's local apps (None on a real compositor).
    pub(in crate::fuzz) inject: Option<Injector>,
    pub(in crate::fuzz) handle: ion_wayland::WaylandHandle,
    /// The real Wayland thread, joined at the end.
    pub(in crate::fuzz) thread: Option<std::thread::JoinHandle<()>>,
    /// Why the compositor ended our connection, if it did.
    pub(in crate::fuzz) lost: Arc<std::sync::Mutex<Vec<String>>>,
    pub(in crate::fuzz) incoming: mpsc::UnboundedReceiver<Message>,
    pub(in crate::fuzz) dir: tempfile::TempDir,
    pub(in crate::fuzz) sessions: Vec<Session>,
    /// Request handles used so far (some are reused on purpose).
    pub(in crate::fuzz) handles: Vec<String>,
    /// EIS sockets handed out, kept open.
    pub(in crate::fuzz) eis: Vec<OwnedFd>,
    /// The stand-in's log read so far, and what each session was given.
    pub(in crate::fuzz) log_seen: usize,
    pub(in crate::fuzz) made: HashMap<u64, Made>,
    pub(in crate::fuzz) next: u64,
    pub(in crate::fuzz) trail: Vec<String>,
}

impl World {
    /// A world on the recording stand-in.
    pub(in crate::fuzz) async fn new() -> Result<World, String> {
        let rec = recording_clipboard(outputs());
        let devices = ion_core::DeviceTypes::from_bits(7).map_err(|e| e.to_string())?;
        let mut w = World::serve(rec.handle, rec.events, devices, 3, 7).await?;
        w.log = rec.log;
        w.inject = Some(rec.inject);
        Ok(w)
    }

    /// A world on a real compositor: the daemon's own Wayland thread on
    /// `socket`, offering what the compositor offers (as `ionchannel
    /// serve` works it out). Nothing is recorded: the compositor is the
    /// oracle, and ending our connection over a request (a protocol
    /// error) is a finding.
    pub(in crate::fuzz) async fn on_compositor(socket: &std::path::Path) -> Result<World, String> {
        let thread = ion_wayland::spawn_with(ion_wayland::Options {
            keymap_names: ion_wayland::keymap::KeymapNames::default(),
            data_control: ion_wayland::DataControlChoice::from_env(),
            socket: Some(socket.to_path_buf()),
        })
        .map_err(|e| format!("cannot connect to the compositor: {e}"))?;
        let snapshot = thread
            .handle
            .snapshot()
            .await
            .map_err(|e| format!("the compositor's globals: {e}"))?;
        let capture = snapshot.pipewire
            && (snapshot.has(ion_wayland::WLR_SCREENCOPY)
                || snapshot.has(ion_wayland::EXT_IMAGE_COPY_CAPTURE));
        let sources = match (capture, snapshot.window_capture) {
            (true, true) => 3,
            (true, false) => 1,
            (false, _) => 0,
        };
        let cursor_modes = if snapshot.cursor_metadata { 7 } else { 3 };
        let mut w = World::serve(
            thread.handle,
            thread.events,
            snapshot.available_devices(),
            sources,
            cursor_modes,
        )
        .await?;
        w.thread = Some(thread.join);
        Ok(w)
    }

    /// The portal on `handle`, served over a socket pair; the Wayland
    /// thread's events handled as `service::serve` handles them.
    pub(in crate::fuzz) async fn serve(
        handle: ion_wayland::WaylandHandle,
        mut events: mpsc::UnboundedReceiver<Event>,
        devices: ion_core::DeviceTypes,
        sources: u32,
        cursor_modes: u32,
    ) -> Result<World, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("policy.toml"), POLICY).map_err(|e| e.to_string())?;
        let config = PortalConfig {
            trust: ion_portal::caller::Trust::Peer,
            policy_path: dir.path().join("policy.toml"),
            available_devices: devices,
            available_sources: sources,
            available_cursor_modes: cursor_modes,
            rate_per_second: 8000,
            rate_burst: 4000,
            grants_path: dir.path().join("data/grants.json"),
            dialog_program: None,
            dialog_env: vec![],
            reorder_window: ion_core::order::REORDER_WINDOW,
        };
        let portal = Arc::new(Portal::new(config, handle.clone()));
        let (a, b) = tokio::net::UnixStream::pair().map_err(|e| e.to_string())?;
        let server = ion_portal::service::with_interfaces(
            zbus::connection::Builder::unix_stream(a)
                .server(zbus::Guid::generate())
                .map_err(|e| e.to_string())?
                .p2p(),
            &portal,
        )
        .map_err(|e| e.to_string())?
        .build();
        let client = zbus::connection::Builder::unix_stream(b).p2p().build();
        let (server, client) = tokio::try_join!(server, client).map_err(|e| e.to_string())?;
        let lost: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let (p, conn, gone) = (portal.clone(), server.clone(), lost.clone());
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                match ev {
                    Event::OutputsChanged(outputs) => p.outputs_changed(&outputs),
                    Event::StreamsFailed { session } => {
                        p.close_by_id(&conn, session, CloseReason::StreamsEnded)
                            .await
                    }
                    Event::PipeWireGone { .. } => {
                        p.close_streaming(&conn, CloseReason::StreamsEnded).await
                    }
                    Event::SelectionChanged { mime_types, owner } => {
                        p.on_selection_changed(&conn, mime_types, owner).await
                    }
                    Event::SelectionSend {
                        session,
                        mime_type,
                        fd,
                    } => p.on_selection_send(&conn, session, mime_type, fd).await,
                    Event::Disconnected {
                        reason,
                        protocol_error,
                    } => {
                        gone.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(protocol_error.unwrap_or(reason));
                        p.close_all(&conn, CloseReason::CompositorError).await;
                    }
                }
            }
        });
        // Everything the client receives, read at once: a reply left in
        // the stream would keep the fds it carries open. Calls the daemon
        // makes to the bus are answered here, as the bus would.
        let (tx, incoming) = mpsc::unbounded_channel();
        let mut all = MessageStream::from(&client);
        let bus = client.clone();
        tokio::spawn(async move {
            use futures_util::StreamExt;
            while let Some(Ok(m)) = all.next().await {
                if m.message_type() == MessageType::MethodCall {
                    answer_as_the_bus(&bus, &m).await;
                } else if tx.send(m).is_err() {
                    break;
                }
            }
        });
        Ok(World {
            client,
            server,
            portal,
            log: Log::default(),
            inject: None,
            handle,
            thread: None,
            lost,
            incoming,
            dir,
            sessions: Vec::new(),
            handles: Vec::new(),
            eis: Vec::new(),
            log_seen: 0,
            made: HashMap::new(),
            next: 0,
            trail: Vec::new(),
        })
    }

    /// Ends the real Wayland thread (nothing for the stand-in) and says
    /// whether the compositor ended our connection at any point.
    pub(in crate::fuzz) async fn shut_down(&mut self) -> Result<(), String> {
        if let Some(join) = self.thread.take() {
            let _ = self.handle.send(ion_wayland::Command::Shutdown);
            let joined = tokio::task::spawn_blocking(move || join.join());
            match tokio::time::timeout(SETTLE, joined).await {
                Ok(Ok(Ok(()))) => {}
                Ok(_) => return Err("the Wayland thread panicked".into()),
                Err(_) => return Err("the Wayland thread did not end".into()),
            }
        }
        self.compositor_kept_us()
    }

    pub(in crate::fuzz) fn compositor_kept_us(&self) -> Result<(), String> {
        match self.lost.lock().unwrap_or_else(|e| e.into_inner()).first() {
            Some(e) => Err(format!("the compositor ended our connection: {e}")),
            None => Ok(()),
        }
    }

    pub(in crate::fuzz) fn with_trail(&self, finding: String) -> String {
        let from = self.trail.len().saturating_sub(6);
        format!(
            "{finding}\n    after: {}",
            self.trail[from..].join("\n           ")
        )
    }

    pub(in crate::fuzz) fn note(&mut self, what: String) {
        let mut what = what;
        if what.len() > 160 {
            let mut cut = 160;
            while !what.is_char_boundary(cut) {
                cut -= 1;
            }
            what.truncate(cut);
            what.push('…');
        }
        self.trail.push(what);
    }

    /// Sends `msg`; with a reply expected, waits for it. Signals met on
    /// the way are applied to the model (`Closed`).
    pub(in crate::fuzz) async fn exchange(
        &mut self,
        msg: Message,
    ) -> Result<Option<Message>, String> {
        let serial = msg.primary_header().serial_num();
        let no_reply = msg
            .primary_header()
            .flags()
            .contains(Flags::NoReplyExpected);
        self.client
            .send(&msg)
            .await
            .map_err(|e| format!("cannot send: {e}"))?;
        if no_reply {
            return Ok(None);
        }
        let deadline = tokio::time::Instant::now() + REPLY_WAIT;
        loop {
            let m = tokio::time::timeout_at(deadline, self.incoming.recv())
                .await
                .map_err(|_| {
                    format!(
                        "no reply to {} within {REPLY_WAIT:?}",
                        msg.header().member().map(|m| m.as_str()).unwrap_or("?")
                    )
                })?
                .ok_or("the daemon's connection closed")?;
            if m.header().reply_serial() == Some(serial) {
                return Ok(Some(m));
            }
            self.signal(&m);
        }
    }

    pub(in crate::fuzz) fn signal(&mut self, m: &Message) {
        if m.message_type() != MessageType::Signal {
            return;
        }
        let h = m.header();
        if h.member().map(|m| m.as_str()) == Some("Closed")
            && h.interface().map(|i| i.as_str()) == Some(SESSION)
        {
            if let Some(path) = h.path() {
                for s in &mut self.sessions {
                    if s.path == path.as_str() {
                        s.closed = true;
                    }
                }
            }
        }
    }

    pub(in crate::fuzz) fn drain_signals(&mut self) {
        while let Ok(m) = self.incoming.try_recv() {
            self.signal(&m);
        }
    }

    /// A call from `sender`; Ok(Some(reply)) or Ok(None) (no reply asked).
    /// A message zbus will not build (a value it refuses to encode) is no
    /// call at all: Ok(None).
    pub(in crate::fuzz) async fn call<B>(
        &mut self,
        sender: &str,
        path: &str,
        iface: &str,
        member: &str,
        body: &B,
        no_reply: bool,
    ) -> Result<Option<Message>, String>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        let mut b = Message::method_call(path, member)
            .and_then(|b| b.interface(iface))
            .and_then(|b| b.sender(sender))
            .map_err(|e| format!("cannot address {iface}.{member} at {path}: {e}"))?;
        if no_reply {
            b = b
                .with_flags(Flags::NoReplyExpected)
                .map_err(|e| e.to_string())?;
        }
        let Ok(msg) = b.build(body) else {
            return Ok(None);
        };
        CALLS.fetch_add(1, Ordering::Relaxed);
        self.exchange(msg).await
    }

    pub(in crate::fuzz) fn fresh(&mut self, what: &str) -> String {
        self.next += 1;
        format!("/org/freedesktop/portal/desktop/{what}/1_10/f{}", self.next)
    }

    pub(in crate::fuzz) fn handle(&mut self, rng: &mut SmallRng) -> String {
        if !self.handles.is_empty() && rng.random_bool(0.1) {
            return self.handles[rng.random_range(0..self.handles.len())].clone();
        }
        let h = self.fresh("request");
        self.handles.push(h.clone());
        h
    }

    /// A session to call on, and who calls: mostly a known session and its
    /// owner; sometimes the other connection, or a path nobody made.
    pub(in crate::fuzz) fn target(
        &mut self,
        rng: &mut SmallRng,
    ) -> (String, &'static str, Option<Kind>) {
        if self.sessions.is_empty() || rng.random_bool(0.08) {
            let p = self.fresh("session");
            return (p, SENDERS[rng.random_range(0..2)], None);
        }
        // Prefer live sessions: that is where the states are.
        let live: Vec<usize> = (0..self.sessions.len())
            .filter(|i| !self.sessions[*i].closed)
            .collect();
        let i = if !live.is_empty() && rng.random_bool(0.85) {
            live[rng.random_range(0..live.len())]
        } else {
            rng.random_range(0..self.sessions.len())
        };
        let s = &self.sessions[i];
        let sender = if rng.random_bool(0.12) {
            other(s.owner)
        } else {
            s.owner
        };
        (s.path.clone(), sender, Some(s.kind))
    }

    pub(in crate::fuzz) fn mark_started(&mut self, path: &str) {
        for s in &mut self.sessions {
            if s.path == path && !s.closed {
                s.started = true;
            }
        }
    }

    /// Like [`Self::target`], mostly a started session: where input and
    /// EIS go past the state check.
    pub(in crate::fuzz) fn started_target(
        &mut self,
        rng: &mut SmallRng,
    ) -> (String, &'static str, Option<Kind>) {
        let started: Vec<usize> = (0..self.sessions.len())
            .filter(|i| self.sessions[*i].started && !self.sessions[*i].closed)
            .collect();
        if started.is_empty() || rng.random_bool(0.3) {
            return self.target(rng);
        }
        let s = &self.sessions[started[rng.random_range(0..started.len())]];
        let sender = if rng.random_bool(0.1) {
            other(s.owner)
        } else {
            s.owner
        };
        (s.path.clone(), sender, Some(s.kind))
    }

    pub(in crate::fuzz) fn owns(&self, path: &str, sender: &str) -> bool {
        self.sessions
            .iter()
            .any(|s| s.path == path && s.owner == sender && !s.closed)
    }

    pub(in crate::fuzz) fn options(rng: &mut SmallRng) -> HashMap<String, Value<'static>> {
        let depth = rng.random_range(0..4);
        dict(rng, depth)
    }
}

impl World {
    pub(in crate::fuzz) async fn check(&mut self) -> Result<(), String> {
        self.drain_signals();
        self.check_log()?;
        self.compositor_kept_us()?;
        let mut table: HashSet<String> = self
            .portal
            .session_paths()
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        for path in &table {
            if !self.sessions.iter().any(|s| &s.path == path && !s.closed) {
                return Err(format!(
                    "the session table has {path}, which no CreateSession made or which was closed"
                ));
            }
        }
        let mut missing: Vec<String> = self
            .sessions
            .iter()
            .filter(|s| !s.closed && !table.contains(&s.path))
            .map(|s| s.path.clone())
            .collect();
        if !missing.is_empty() {
            // Its Closed signal may still be on the way.
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.drain_signals();
            table = self
                .portal
                .session_paths()
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            missing.retain(|p| {
                self.sessions.iter().any(|s| &s.path == p && !s.closed) && !table.contains(p)
            });
            if let Some(p) = missing.first() {
                return Err(format!(
                    "{p} left the session table without a Closed signal"
                ));
            }
        }
        Ok(())
    }

    /// Reads what the stand-in was told since the last look.
    pub(in crate::fuzz) fn check_log(&mut self) -> Result<(), String> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let layout: Vec<LogicalRect> = outputs().iter().map(|o| o.logical).collect();
        for r in &log[self.log_seen..] {
            match r {
                Recorded::CreateDevices { session, .. } => {
                    let m = self.made.entry(*session).or_default();
                    if m.devices && !m.devices_destroyed {
                        return Err(format!("session {session} got devices twice"));
                    }
                    m.devices = true;
                }
                Recorded::DestroyDevices { session } => {
                    self.made.entry(*session).or_default().devices_destroyed = true;
                }
                Recorded::CreateStreams { session, .. } => {
                    self.made.entry(*session).or_default().streams = true;
                }
                Recorded::DestroyStreams { session } => {
                    self.made.entry(*session).or_default().streams_destroyed = true;
                }
                Recorded::Input { session, event } => {
                    DELIVERED.fetch_add(1, Ordering::Relaxed);
                    let m = self.made.entry(*session).or_default();
                    if !m.devices || m.devices_destroyed {
                        return Err(format!(
                            "input for session {session} outside its devices' life: {event:?}"
                        ));
                    }
                    acceptable(event, &layout).map_err(|e| format!("session {session}: {e}"))?;
                }
                _ => {}
            }
        }
        self.log_seen = log.len();
        Ok(())
    }

    /// Ends every session one of three ways, then checks that nothing is
    /// left: table, devices, streams, EIS sockets, the grants file.
    pub(in crate::fuzz) async fn end(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        let injected: u64 = self
            .portal
            .status()
            .sessions
            .iter()
            .map(|s| s.input.injected)
            .sum();
        INJECTED.fetch_add(injected, Ordering::Relaxed);
        match rng.random_range(0..3) {
            0 => {
                self.note("every session closed by its owner".into());
                let live: Vec<(String, &'static str)> = self
                    .sessions
                    .iter()
                    .filter(|s| !s.closed)
                    .map(|s| (s.path.clone(), s.owner))
                    .collect();
                for (path, owner) in live {
                    self.call(owner, &path, SESSION, "Close", &(), false)
                        .await?;
                }
            }
            1 => {
                self.note("both frontend connections vanish".into());
                for sender in SENDERS {
                    self.portal.close_owned_by(&self.server, sender).await;
                }
            }
            _ => {
                self.note("the daemon shuts down".into());
                self.portal
                    .close_all(&self.server, CloseReason::Shutdown)
                    .await;
            }
        }
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            self.check_log()?;
            let left = self.portal.session_count();
            let undone: Vec<u64> = self
                .made
                .iter()
                .filter(|(_, m)| {
                    (m.devices && !m.devices_destroyed) || (m.streams && !m.streams_destroyed)
                })
                .map(|(id, _)| *id)
                .collect();
            if left == 0 && undone.is_empty() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "after every session was closed: {left} left in the table; devices or streams never destroyed for sessions {undone:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for fd in std::mem::take(&mut self.eis) {
            hung_up(fd, SETTLE).await?;
        }
        let grants = self.dir.path().join("data/grants.json");
        if let Ok(text) = std::fs::read_to_string(&grants) {
            ion_core::grants::GrantFile::parse(&text)
                .map_err(|e| format!("the grants file no longer reads: {e}"))?;
        }
        Ok(())
    }
}

/// The bus daemon's side of the calls the daemon makes on a peer-to-peer
/// connection that carries senders (a stand-in for dbus-daemon): the first
/// frontend connection is this process (not sandboxed); the bus cannot
/// say who the second is (the daemon must then refuse, failing closed).
async fn answer_as_the_bus(bus: &Connection, call: &Message) {
    let h = call.header();
    let asked = call.body().deserialize::<String>().ok();
    let answered = match h.member().map(|m| m.as_str()) {
        Some("GetConnectionUnixProcessID") if asked.as_deref() == Some(SENDERS[0]) => {
            bus.reply(&h, &std::process::id()).await
        }
        Some("GetNameOwner") => bus.reply(&h, &asked.unwrap_or_default()).await,
        _ => {
            bus.reply_error(
                &h,
                "org.freedesktop.DBus.Error.NameHasNoOwner",
                &"the stand-in bus does not know",
            )
            .await
        }
    };
    // The daemon's connection may be gone at the end of an iteration.
    let _ = answered;
}

/// The daemon's end of an EIS socket is closed within `wait`: reads reach
/// the end (after whatever the server had sent) or the connection resets.
async fn hung_up(fd: OwnedFd, wait: Duration) -> Result<(), String> {
    use rustix::io::Errno;
    let flags = rustix::fs::fcntl_getfl(&fd).map_err(|e| e.to_string())?;
    rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK)
        .map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(&fd, &mut buf) {
            Ok(0) | Err(Errno::CONNRESET) => return Ok(()),
            Ok(_) => continue,
            Err(Errno::AGAIN) => {}
            Err(e) => return Err(format!("reading an EIS socket: {e}")),
        }
        if tokio::time::Instant::now() > deadline {
            return Err(
                "an EIS socket of a closed session is still open on the daemon's side".into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
