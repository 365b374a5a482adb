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

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ion_core::InputEvent;
use ion_portal::portal::CloseReason;
use ion_portal::{Portal, PortalConfig};
use ion_wayland::command::LogicalRect;
use ion_wayland::recording::{recording_clipboard, Injector, Log, Recorded};
use ion_wayland::{Event, OutputInfo};
use rand::rngs::SmallRng;
use rand::Rng;
use tokio::sync::mpsc;
use zbus::message::{Flags, Message, Type as MessageType};
use zbus::zvariant::{ObjectPath, StructureBuilder, Value};
use zbus::{Connection, MessageStream};

use super::values::{dict, edge_f64, edge_i32, edge_u32, string, value};

pub(super) const RD: &str = "org.freedesktop.impl.portal.RemoteDesktop";
const SC: &str = "org.freedesktop.impl.portal.ScreenCast";
const CB: &str = "org.freedesktop.impl.portal.Clipboard";
const SESSION: &str = "org.freedesktop.impl.portal.Session";
const REQUEST: &str = "org.freedesktop.impl.portal.Request";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// The two frontend connections played here.
pub(super) const SENDERS: [&str; 2] = [":1.10", ":1.11"];

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

fn outputs() -> Vec<OutputInfo> {
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
enum Kind {
    RemoteDesktop,
    ScreenCast,
}

#[derive(Debug)]
struct Session {
    path: String,
    owner: &'static str,
    kind: Kind,
    started: bool,
    closed: bool,
}

/// What a recorded session id has been given, from the stand-in's log.
#[derive(Debug, Default)]
struct Made {
    devices: bool,
    devices_destroyed: bool,
    streams: bool,
    streams_destroyed: bool,
}

pub(super) struct World {
    pub(super) client: Connection,
    pub(super) server: Connection,
    pub(super) portal: Arc<Portal>,
    pub(super) log: Log,
    /// The stand-in's local apps (None on a real compositor).
    inject: Option<Injector>,
    handle: ion_wayland::WaylandHandle,
    /// The real Wayland thread, joined at the end.
    thread: Option<std::thread::JoinHandle<()>>,
    /// Why the compositor ended our connection, if it did.
    lost: Arc<std::sync::Mutex<Vec<String>>>,
    incoming: mpsc::UnboundedReceiver<Message>,
    dir: tempfile::TempDir,
    sessions: Vec<Session>,
    /// Request handles used so far (some are reused on purpose).
    handles: Vec<String>,
    /// EIS sockets handed out, kept open.
    pub(super) eis: Vec<OwnedFd>,
    /// The stand-in's log read so far, and what each session was given.
    log_seen: usize,
    made: HashMap<u64, Made>,
    next: u64,
    trail: Vec<String>,
}

/// How far the runs so far got: calls made, sessions started, input
/// events the stand-in was given, EIS sockets handed out.
static CALLS: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicU64 = AtomicU64::new(0);
static DELIVERED: AtomicU64 = AtomicU64::new(0);
static INJECTED: AtomicU64 = AtomicU64::new(0);
static EIS_SOCKETS: AtomicU64 = AtomicU64::new(0);

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    let panics = super::panics();
    let result = runtime.block_on(async {
        let mut w = match socket {
            None => World::new().await?,
            Some(socket) => World::on_compositor(socket).await?,
        };
        let run = sequence(&mut w, rng, panics).await;
        let down = w.shut_down().await;
        run.and(down).map_err(|e| w.with_trail(e))
    });
    if super::panics() != panics {
        return Err(format!(
            "{} panic(s) on the daemon's threads",
            super::panics() - panics
        ));
    }
    result
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

impl World {
    /// A world on the recording stand-in.
    pub(super) async fn new() -> Result<World, String> {
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
    pub(super) async fn on_compositor(socket: &std::path::Path) -> Result<World, String> {
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
    async fn serve(
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
    pub(super) async fn shut_down(&mut self) -> Result<(), String> {
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

    fn compositor_kept_us(&self) -> Result<(), String> {
        match self.lost.lock().unwrap_or_else(|e| e.into_inner()).first() {
            Some(e) => Err(format!("the compositor ended our connection: {e}")),
            None => Ok(()),
        }
    }

    pub(super) fn with_trail(&self, finding: String) -> String {
        let from = self.trail.len().saturating_sub(6);
        format!(
            "{finding}\n    after: {}",
            self.trail[from..].join("\n           ")
        )
    }

    pub(super) fn note(&mut self, what: String) {
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
    async fn exchange(&mut self, msg: Message) -> Result<Option<Message>, String> {
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

    fn signal(&mut self, m: &Message) {
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

    fn drain_signals(&mut self) {
        while let Ok(m) = self.incoming.try_recv() {
            self.signal(&m);
        }
    }

    /// A call from `sender`; Ok(Some(reply)) or Ok(None) (no reply asked).
    /// A message zbus will not build (a value it refuses to encode) is no
    /// call at all: Ok(None).
    pub(super) async fn call<B>(
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

    fn fresh(&mut self, what: &str) -> String {
        self.next += 1;
        format!("/org/freedesktop/portal/desktop/{what}/1_10/f{}", self.next)
    }

    fn handle(&mut self, rng: &mut SmallRng) -> String {
        if !self.handles.is_empty() && rng.random_bool(0.1) {
            return self.handles[rng.random_range(0..self.handles.len())].clone();
        }
        let h = self.fresh("request");
        self.handles.push(h.clone());
        h
    }

    /// A session to call on, and who calls: mostly a known session and its
    /// owner; sometimes the other connection, or a path nobody made.
    fn target(&mut self, rng: &mut SmallRng) -> (String, &'static str, Option<Kind>) {
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

    fn mark_started(&mut self, path: &str) {
        for s in &mut self.sessions {
            if s.path == path && !s.closed {
                s.started = true;
            }
        }
    }

    /// Like [`Self::target`], mostly a started session: where input and
    /// EIS go past the state check.
    fn started_target(&mut self, rng: &mut SmallRng) -> (String, &'static str, Option<Kind>) {
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

    fn owns(&self, path: &str, sender: &str) -> bool {
        self.sessions
            .iter()
            .any(|s| s.path == path && s.owner == sender && !s.closed)
    }

    fn options(rng: &mut SmallRng) -> HashMap<String, Value<'static>> {
        let depth = rng.random_range(0..4);
        dict(rng, depth)
    }

    async fn step(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        match rng.random_range(0..100) {
            0..8 => self.create(rng).await,
            8..14 => self.select(rng).await,
            14..18 => self.start(rng).await,
            18..30 => self.happy_path(rng).await,
            30..58 => self.notify_burst(rng).await,
            58..62 => self.connect_eis(rng).await,
            62..65 => self.poke_eis(rng),
            65..72 => self.clipboard(rng).await,
            72..77 => self.close_session(rng).await,
            77..79 => self.close_request(rng).await,
            79..84 => self.junk(rng).await,
            84..88 => self.grants_and_status(rng).await,
            88..90 => {
                let sender = SENDERS[rng.random_range(0..2)];
                self.note(format!("{sender} vanishes"));
                self.portal.close_owned_by(&self.server, sender).await;
                for s in &mut self.sessions {
                    if s.owner == sender {
                        s.closed = true;
                    }
                }
                Ok(())
            }
            90..93 => {
                let types = vec![string(rng), "text/plain".into()];
                if let Some(inject) = self.inject.clone() {
                    self.note(format!("a local app copies {types:?}"));
                    inject.local_copy(types);
                }
                Ok(())
            }
            _ => self.properties(rng).await,
        }
    }

    /// A session as an app makes one, so the later steps find started
    /// sessions with devices, streams, the clipboard: CreateSession,
    /// SelectSources and/or SelectDevices with sensible options, maybe
    /// RequestClipboard, Start.
    async fn happy_path(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        let rd = rng.random_bool(0.75);
        let owner = SENDERS[usize::from(rng.random_bool(0.3))];
        let app = ["", "org.fuzz.A"][rng.random_range(0..2)];
        let path = self.fresh("session");
        self.note(format!("{owner} makes a session {path} (app {app:?})"));
        let iface = if rd { RD } else { SC };
        let h = self.handle(rng);
        let reply = self
            .call(
                owner,
                crate_path(),
                iface,
                "CreateSession",
                &(op(&h)?, op(&path)?, app, HashMap::<String, Value>::new()),
                false,
            )
            .await?;
        if response(reply.as_ref()) != Some(0) {
            return Ok(());
        }
        self.sessions.push(Session {
            path: path.clone(),
            owner,
            kind: if rd {
                Kind::RemoteDesktop
            } else {
                Kind::ScreenCast
            },
            started: false,
            closed: false,
        });
        if !rd || rng.random_bool(0.5) {
            let mut o: HashMap<String, Value> = HashMap::new();
            o.insert("types".into(), Value::from(1u32));
            o.insert("multiple".into(), Value::from(rng.random_bool(0.5)));
            o.insert(
                "cursor_mode".into(),
                Value::from([1u32, 2, 4][rng.random_range(0..3)]),
            );
            let h = self.handle(rng);
            self.call(
                owner,
                crate_path(),
                SC,
                "SelectSources",
                &(op(&h)?, op(&path)?, app, o),
                false,
            )
            .await?;
        }
        if rd {
            let mut o: HashMap<String, Value> = HashMap::new();
            o.insert("types".into(), Value::from(rng.random_range(1u32..8)));
            if rng.random_bool(0.2) {
                o.insert("persist_mode".into(), Value::from(2u32));
            }
            let h = self.handle(rng);
            self.call(
                owner,
                crate_path(),
                RD,
                "SelectDevices",
                &(op(&h)?, op(&path)?, app, o),
                false,
            )
            .await?;
            if rng.random_bool(0.4) {
                self.call(
                    owner,
                    crate_path(),
                    CB,
                    "RequestClipboard",
                    &(op(&path)?, HashMap::<String, Value>::new()),
                    false,
                )
                .await?;
            }
        }
        let h = self.handle(rng);
        let reply = self
            .call(
                owner,
                crate_path(),
                iface,
                "Start",
                &(
                    op(&h)?,
                    op(&path)?,
                    app,
                    "",
                    HashMap::<String, Value>::new(),
                ),
                false,
            )
            .await?;
        if response(reply.as_ref()) == Some(0) {
            STARTED.fetch_add(1, Ordering::Relaxed);
            self.mark_started(&path);
        }
        Ok(())
    }

    /// A started RemoteDesktop session of `owner` with the device `types`,
    /// made the way an app makes one; its path. For targets that fuzz
    /// what comes after (EIS).
    pub(super) async fn started_remote_desktop(
        &mut self,
        owner: &'static str,
        app: &str,
        types: u32,
    ) -> Result<String, String> {
        let path = self.fresh("session");
        let no_opts = HashMap::<String, Value>::new();
        let h = self.fresh("request");
        let r = self
            .call(
                owner,
                crate_path(),
                RD,
                "CreateSession",
                &(op(&h)?, op(&path)?, app, &no_opts),
                false,
            )
            .await?;
        if response(r.as_ref()) != Some(0) {
            return Err(format!("CreateSession {path}: {r:?}"));
        }
        self.sessions.push(Session {
            path: path.clone(),
            owner,
            kind: Kind::RemoteDesktop,
            started: false,
            closed: false,
        });
        let mut o: HashMap<String, Value> = HashMap::new();
        o.insert("types".into(), Value::from(types));
        let h = self.fresh("request");
        self.call(
            owner,
            crate_path(),
            RD,
            "SelectDevices",
            &(op(&h)?, op(&path)?, app, o),
            false,
        )
        .await?;
        let h = self.fresh("request");
        let r = self
            .call(
                owner,
                crate_path(),
                RD,
                "Start",
                &(op(&h)?, op(&path)?, app, "", &no_opts),
                false,
            )
            .await?;
        if response(r.as_ref()) != Some(0) {
            return Err(format!("Start {path}: {r:?}"));
        }
        self.mark_started(&path);
        Ok(path)
    }

    /// The recorded session id of the session at `path`.
    pub(super) fn id_of(&self, path: &str) -> Option<u64> {
        self.portal
            .session_paths()
            .into_iter()
            .find(|(_, p)| p == path)
            .map(|(id, _)| id)
    }

    async fn create(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        let kind = if rng.random_bool(0.6) {
            Kind::RemoteDesktop
        } else {
            Kind::ScreenCast
        };
        let iface = if kind == Kind::RemoteDesktop { RD } else { SC };
        let handle = self.handle(rng);
        // Sometimes a path already in use (live or closed).
        let path = if !self.sessions.is_empty() && rng.random_bool(0.1) {
            self.sessions[rng.random_range(0..self.sessions.len())]
                .path
                .clone()
        } else {
            self.fresh("session")
        };
        let owner = SENDERS[usize::from(rng.random_bool(0.3))];
        let app_id = if rng.random_bool(0.1) {
            string(rng)
        } else {
            APP_IDS[rng.random_range(0..APP_IDS.len())].to_owned()
        };
        let opts = Self::options(rng);
        self.note(format!(
            "{owner} CreateSession {iface} {path} app {app_id:?}"
        ));
        let was_live = self.sessions.iter().any(|s| s.path == path && !s.closed);
        let reply = self
            .call(
                owner,
                crate_path(),
                iface,
                "CreateSession",
                &(op(&handle)?, op(&path)?, app_id, opts),
                false,
            )
            .await?;
        if response(reply.as_ref()) == Some(0) {
            if was_live {
                return Err(format!(
                    "a second session was created at {path}, which is in use"
                ));
            }
            self.sessions.push(Session {
                path,
                owner,
                kind,
                started: false,
                closed: false,
            });
        }
        Ok(())
    }

    async fn select(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        let (path, sender, kind) = self.target(rng);
        let rd = match kind {
            Some(k) => (k == Kind::RemoteDesktop) != rng.random_bool(0.1),
            None => rng.random_bool(0.5),
        };
        let handle = self.handle(rng);
        let mut opts = Self::options(rng);
        // Mostly the keys this call reads, with sensible values.
        if rng.random_bool(0.7) {
            opts.insert("types".into(), Value::from(rng.random_range(0u32..8)));
        }
        if !rd && rng.random_bool(0.5) {
            opts.insert("cursor_mode".into(), Value::from(rng.random_range(0u32..5)));
            opts.insert("multiple".into(), Value::from(rng.random_bool(0.5)));
        }
        if rng.random_bool(0.3) {
            opts.insert(
                "persist_mode".into(),
                Value::from(rng.random_range(0u32..4)),
            );
        }
        if rng.random_bool(0.2) {
            let data = StructureBuilder::new()
                .add_field(if rng.random_bool(0.7) {
                    "ionchannel".to_owned()
                } else {
                    string(rng)
                })
                .add_field(rng.random_range(0u32..3))
                .append_field(Value::Value(Box::new(value(rng, 3))))
                .build()
                .map_err(|e| e.to_string())?;
            opts.insert("restore_data".into(), Value::from(data));
        }
        let (iface, member) = if rd {
            (RD, "SelectDevices")
        } else {
            (SC, "SelectSources")
        };
        self.note(format!("{sender} {member} {path} {opts:?}"));
        self.call(
            sender,
            crate_path(),
            iface,
            member,
            &(op(&handle)?, op(&path)?, "", opts),
            false,
        )
        .await?;
        Ok(())
    }

    async fn start(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        let (path, sender, kind) = self.target(rng);
        let iface = match kind {
            Some(Kind::ScreenCast) => SC,
            Some(Kind::RemoteDesktop) => RD,
            None => [RD, SC][rng.random_range(0..2)],
        };
        let handle = self.handle(rng);
        let opts = Self::options(rng);
        self.note(format!("{sender} Start {path}"));
        let reply = self
            .call(
                sender,
                crate_path(),
                iface,
                "Start",
                &(op(&handle)?, op(&path)?, "", string(rng), opts),
                false,
            )
            .await?;
        if response(reply.as_ref()) == Some(0) {
            STARTED.fetch_add(1, Ordering::Relaxed);
            if self.owns(&path, sender) {
                self.mark_started(&path);
            }
        }
        Ok(())
    }

    async fn notify_burst(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        let (path, sender, _) = self.started_target(rng);
        let foreign = !self.owns(&path, sender);
        let n = rng.random_range(1..24);
        self.note(format!(
            "{sender} {n} Notify calls on {path}{}",
            if foreign { " (not its own)" } else { "" }
        ));
        for _ in 0..n {
            let no_reply = rng.random_bool(0.7);
            let p = op(&path)?;
            let o = if rng.random_bool(0.8) {
                HashMap::new()
            } else {
                Self::options(rng)
            };
            let f = |rng: &mut SmallRng| {
                let v = if rng.random_bool(0.6) {
                    rng.random_range(0.0..1900.0)
                } else {
                    edge_f64(rng)
                };
                if v == FOREIGN_DX {
                    v + 1.0
                } else {
                    v
                }
            };
            let key = |rng: &mut SmallRng| {
                let k = if rng.random_bool(0.7) {
                    rng.random_range(1..0x2ff)
                } else {
                    edge_i32(rng)
                };
                if k == FOREIGN_KEY {
                    k + 1
                } else {
                    k
                }
            };
            let state = |rng: &mut SmallRng| {
                if rng.random_bool(0.9) {
                    rng.random_range(0u32..2)
                } else {
                    edge_u32(rng)
                }
            };
            let stream = |rng: &mut SmallRng| {
                if rng.random_bool(0.8) {
                    rng.random_range(40u32..43)
                } else {
                    edge_u32(rng)
                }
            };
            let r = match rng.random_range(0..11) {
                0 | 1 => {
                    let (dx, dy) = if foreign {
                        (FOREIGN_DX, 0.0)
                    } else {
                        (f(rng), f(rng))
                    };
                    self.call(
                        sender,
                        crate_path(),
                        RD,
                        "NotifyPointerMotion",
                        &(p, o, dx, dy),
                        no_reply,
                    )
                    .await
                }
                2 => {
                    let body = (p, o, stream(rng), f(rng), f(rng));
                    self.call(
                        sender,
                        crate_path(),
                        RD,
                        "NotifyPointerMotionAbsolute",
                        &body,
                        no_reply,
                    )
                    .await
                }
                3 => {
                    let button = if rng.random_bool(0.8) {
                        rng.random_range(0x110..0x118)
                    } else {
                        edge_i32(rng)
                    };
                    let body = (p, o, button, state(rng));
                    self.call(
                        sender,
                        crate_path(),
                        RD,
                        "NotifyPointerButton",
                        &body,
                        no_reply,
                    )
                    .await
                }
                4 => {
                    let body = (p, o, f(rng), f(rng));
                    self.call(
                        sender,
                        crate_path(),
                        RD,
                        "NotifyPointerAxis",
                        &body,
                        no_reply,
                    )
                    .await
                }
                5 => {
                    let body = (p, o, edge_u32(rng) % 3, edge_i32(rng));
                    self.call(
                        sender,
                        crate_path(),
                        RD,
                        "NotifyPointerAxisDiscrete",
                        &body,
                        no_reply,
                    )
                    .await
                }
                6 | 7 => {
                    let k = if foreign { FOREIGN_KEY } else { key(rng) };
                    let body = (p, o, k, state(rng));
                    self.call(
                        sender,
                        crate_path(),
                        RD,
                        "NotifyKeyboardKeycode",
                        &body,
                        no_reply,
                    )
                    .await
                }
                8 => {
                    let sym = if rng.random_bool(0.7) {
                        rng.random_range(0x20..0x7f)
                    } else {
                        edge_i32(rng)
                    };
                    let body = (p, o, sym, state(rng));
                    self.call(
                        sender,
                        crate_path(),
                        RD,
                        "NotifyKeyboardKeysym",
                        &body,
                        no_reply,
                    )
                    .await
                }
                9 => {
                    let slot = rng.random_range(0u32..18);
                    let member = ["NotifyTouchDown", "NotifyTouchMotion"][rng.random_range(0..2)];
                    let body = (p, o, stream(rng), slot, f(rng), f(rng));
                    self.call(sender, crate_path(), RD, member, &body, no_reply)
                        .await
                }
                _ => {
                    let body = (p, o, rng.random_range(0u32..18));
                    self.call(sender, crate_path(), RD, "NotifyTouchUp", &body, no_reply)
                        .await
                }
            };
            r?;
        }
        Ok(())
    }

    async fn connect_eis(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        let (path, sender, _) = self.started_target(rng);
        let opts = Self::options(rng);
        self.note(format!("{sender} ConnectToEIS {path}"));
        let reply = self
            .call(
                sender,
                crate_path(),
                RD,
                "ConnectToEIS",
                &(op(&path)?, string(rng), opts),
                false,
            )
            .await?;
        let Some(reply) = reply else { return Ok(()) };
        if reply.message_type() != MessageType::MethodReturn {
            return Ok(());
        }
        if !self.owns(&path, sender) {
            return Err(format!(
                "{sender} got an EIS socket for {path}, which it does not own"
            ));
        }
        let fd: zbus::zvariant::OwnedFd = reply
            .body()
            .deserialize()
            .map_err(|e| format!("ConnectToEIS's reply: {e}"))?;
        self.eis.push(fd.into());
        EIS_SOCKETS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Random bytes into an EIS socket, or one closed (the EIS target goes
    /// deeper; this mixes it with everything else).
    fn poke_eis(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        if self.eis.is_empty() {
            return Ok(());
        }
        let i = rng.random_range(0..self.eis.len());
        if rng.random_bool(0.3) {
            self.note("an EIS client hangs up".into());
            drop(self.eis.swap_remove(i));
            return Ok(());
        }
        let bytes: Vec<u8> = (0..rng.random_range(1..256))
            .map(|_| rng.random())
            .collect();
        self.note(format!("{} random bytes to an EIS socket", bytes.len()));
        // The daemon may have hung up already; a refused write is fine.
        let _ = rustix::io::write(self.eis[i].as_fd(), &bytes);
        Ok(())
    }

    async fn clipboard(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        let (path, sender, _) = self.target(rng);
        let p = op(&path)?;
        let serial = if rng.random_bool(0.7) {
            rng.random_range(0u32..8)
        } else {
            edge_u32(rng)
        };
        let member = match rng.random_range(0..5) {
            0 => "RequestClipboard",
            1 => "SetSelection",
            2 => "SelectionWrite",
            3 => "SelectionWriteDone",
            _ => "SelectionRead",
        };
        self.note(format!("{sender} {member} {path}"));
        let no_reply = rng.random_bool(0.3);
        match member {
            "RequestClipboard" => {
                let o = Self::options(rng);
                self.call(sender, crate_path(), CB, member, &(p, o), no_reply)
                    .await?;
            }
            "SetSelection" => {
                let mut o = Self::options(rng);
                if rng.random_bool(0.7) {
                    let types: Vec<String> =
                        (0..rng.random_range(0..4)).map(|_| string(rng)).collect();
                    o.insert("mime_types".into(), Value::from(types));
                }
                self.call(sender, crate_path(), CB, member, &(p, o), no_reply)
                    .await?;
            }
            "SelectionWrite" => {
                // The fd in the reply is dropped: the write end closed
                // before anything was written.
                self.call(sender, crate_path(), CB, member, &(p, serial), no_reply)
                    .await?;
            }
            "SelectionWriteDone" => {
                let body = (p, serial, rng.random_bool(0.5));
                self.call(sender, crate_path(), CB, member, &body, no_reply)
                    .await?;
            }
            _ => {
                let mime = if rng.random_bool(0.5) {
                    "text/plain".to_owned()
                } else {
                    string(rng)
                };
                self.call(sender, crate_path(), CB, member, &(p, mime), no_reply)
                    .await?;
            }
        }
        Ok(())
    }

    async fn close_session(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        let (path, sender, _) = self.target(rng);
        let owned = self.owns(&path, sender);
        let was_live = self.sessions.iter().any(|s| s.path == path && !s.closed);
        self.note(format!("{sender} Session.Close {path}"));
        let reply = self
            .call(sender, &path, SESSION, "Close", &(), false)
            .await?;
        let ok = reply
            .as_ref()
            .is_some_and(|r| r.message_type() == MessageType::MethodReturn);
        if owned && ok {
            for s in &mut self.sessions {
                if s.path == path {
                    s.closed = true;
                }
            }
        }
        if !owned && was_live && !self.portal.session_paths().iter().any(|(_, p)| *p == path) {
            return Err(format!(
                "{sender} closed {path}, a session of the other connection"
            ));
        }
        Ok(())
    }

    async fn close_request(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        let handle = self.handle(rng);
        let sender = SENDERS[rng.random_range(0..2)];
        self.note(format!("{sender} Request.Close {handle}"));
        self.call(sender, &handle, REQUEST, "Close", &(), false)
            .await?;
        Ok(())
    }

    /// Any method of any interface, with a random body: wrong signatures,
    /// unknown members, unknown interfaces.
    async fn junk(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        const MEMBERS: &[&str] = &[
            "CreateSession",
            "SelectDevices",
            "SelectSources",
            "Start",
            "NotifyPointerMotion",
            "NotifyKeyboardKeycode",
            "NotifyTouchDown",
            "ConnectToEIS",
            "RequestClipboard",
            "SetSelection",
            "SelectionWrite",
            "SelectionRead",
            "Close",
            "Status",
            "Revoke",
            "Nope",
        ];
        const IFACES: &[&str] = &[
            RD,
            SC,
            CB,
            SESSION,
            REQUEST,
            "org.ionchannel.Grants1",
            "org.example.Nope",
        ];
        let (path, sender, _) = self.target(rng);
        let at = match rng.random_range(0..4) {
            0 => path,
            1 => ion_portal::grants_iface::GRANTS_PATH.to_owned(),
            2 => "/".to_owned(),
            _ => crate_path().to_owned(),
        };
        let iface = IFACES[rng.random_range(0..IFACES.len())];
        let member = MEMBERS[rng.random_range(0..MEMBERS.len())];
        let fields = rng.random_range(0..6);
        self.note(format!(
            "{sender} junk {iface}.{member} at {at} with {fields} fields"
        ));
        let no_reply = rng.random_bool(0.2);
        if fields == 0 {
            let reply = self.call(sender, &at, iface, member, &(), no_reply).await?;
            // Junk that happens to be a real Session.Close.
            let closed = reply
                .as_ref()
                .is_some_and(|r| r.message_type() == MessageType::MethodReturn);
            if iface == SESSION
                && member == "Close"
                && (closed || no_reply)
                && self.owns(&at, sender)
            {
                if no_reply {
                    // No answer to wait for: let the close land.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                for s in &mut self.sessions {
                    if s.path == at {
                        s.closed = true;
                    }
                }
            }
            return Ok(());
        }
        let mut b = StructureBuilder::new();
        for _ in 0..fields {
            let depth = rng.random_range(0..5);
            b = b.append_field(value(rng, depth));
        }
        if let Ok(body) = b.build() {
            self.call(sender, &at, iface, member, &body, no_reply)
                .await?;
        }
        Ok(())
    }

    async fn grants_and_status(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        use ion_portal::grants_iface::{GRANTS_INTERFACE, GRANTS_PATH};
        use ion_portal::status_iface::STATUS_PATH;
        let sender = SENDERS[rng.random_range(0..2)];
        match rng.random_range(0..5) {
            0 => {
                self.note("Status1.Status".into());
                let r = self
                    .call(
                        sender,
                        STATUS_PATH,
                        "org.ionchannel.Status1",
                        "Status",
                        &(),
                        false,
                    )
                    .await?;
                if let Some(r) = r.filter(|r| r.message_type() == MessageType::MethodReturn) {
                    let text: String =
                        r.body().deserialize().map_err(|e| format!("Status: {e}"))?;
                    serde_json::from_str::<ion_portal::status_iface::Status>(&text)
                        .map_err(|e| format!("Status1 answered what it cannot read back: {e}"))?;
                }
            }
            1 => {
                self.note("Grants1.List".into());
                self.call(sender, GRANTS_PATH, GRANTS_INTERFACE, "List", &(), false)
                    .await?;
            }
            2 => {
                let ids: Vec<String> = (0..rng.random_range(0..3)).map(|_| string(rng)).collect();
                self.note(format!("Grants1.Revoke {ids:?}"));
                self.call(
                    sender,
                    GRANTS_PATH,
                    GRANTS_INTERFACE,
                    "Revoke",
                    &(ids,),
                    false,
                )
                .await?;
            }
            3 => {
                let app = APP_IDS[rng.random_range(0..APP_IDS.len())];
                self.note(format!("Grants1.RevokeApp {app:?}"));
                self.call(
                    sender,
                    GRANTS_PATH,
                    GRANTS_INTERFACE,
                    "RevokeApp",
                    &(app,),
                    false,
                )
                .await?;
            }
            _ => {
                self.note("Grants1.RevokeAll".into());
                self.call(
                    sender,
                    GRANTS_PATH,
                    GRANTS_INTERFACE,
                    "RevokeAll",
                    &(),
                    false,
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn properties(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        let iface = [RD, SC, CB, "org.example.Nope", ""][rng.random_range(0..5)];
        let name = [
            "AvailableDeviceTypes",
            "AvailableSourceTypes",
            "AvailableCursorModes",
            "version",
            "Nope",
        ][rng.random_range(0..5)];
        let sender = SENDERS[0];
        match rng.random_range(0..3) {
            0 => {
                self.note(format!("Properties.Get {iface} {name}"));
                self.call(
                    sender,
                    crate_path(),
                    PROPERTIES,
                    "Get",
                    &(iface, name),
                    false,
                )
                .await?
            }
            1 => {
                self.note(format!("Properties.GetAll {iface}"));
                self.call(sender, crate_path(), PROPERTIES, "GetAll", &(iface,), false)
                    .await?
            }
            _ => {
                self.note(format!("Properties.Set {iface} {name}"));
                let v = Value::Value(Box::new(value(rng, 2)));
                self.call(
                    sender,
                    crate_path(),
                    PROPERTIES,
                    "Set",
                    &(iface, name, v),
                    false,
                )
                .await?
            }
        };
        Ok(())
    }

    /// The invariants that hold after every step.
    pub(super) async fn check(&mut self) -> Result<(), String> {
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
    fn check_log(&mut self) -> Result<(), String> {
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
    pub(super) async fn end(&mut self, rng: &mut SmallRng) -> Result<(), String> {
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

fn other(sender: &'static str) -> &'static str {
    if sender == SENDERS[0] {
        SENDERS[1]
    } else {
        SENDERS[0]
    }
}

pub(super) fn crate_path() -> &'static str {
    ion_portal::DESKTOP_PATH
}

pub(super) fn op(path: &str) -> Result<ObjectPath<'_>, String> {
    ObjectPath::try_from(path).map_err(|e| format!("{path}: {e}"))
}

/// The response code of a portal method's `(u, a{sv})` reply.
fn response(reply: Option<&Message>) -> Option<u32> {
    let r = reply?;
    if r.message_type() != MessageType::MethodReturn {
        return None;
    }
    r.body()
        .deserialize::<(u32, HashMap<String, zbus::zvariant::OwnedValue>)>()
        .ok()
        .map(|(code, _)| code)
}

/// What a compositor accepts from a virtual device: the oracle for every
/// event the stand-in is told, whatever path it came by.
fn acceptable(event: &InputEvent, layout: &[LogicalRect]) -> Result<(), String> {
    use ion_core::validate::{
        BUTTONS, KEYCODES, KEYSYMS, MAX_AXIS, MAX_DISCRETE_STEPS, MAX_RELATIVE, MAX_TOUCH_SLOTS,
    };
    let bounded = |v: f64, max: f64| v.is_finite() && v.abs() <= max;
    let on_layout = |x: f64, y: f64| {
        x.is_finite()
            && y.is_finite()
            && layout.iter().any(|r| {
                x >= f64::from(r.x)
                    && x <= f64::from(r.x + r.width)
                    && y >= f64::from(r.y)
                    && y <= f64::from(r.y + r.height)
            })
    };
    let ok = match *event {
        InputEvent::PointerMotion { dx, dy } => {
            if dx == FOREIGN_DX {
                return Err(format!(
                    "motion from the connection that does not own the session reached the compositor: {event:?}"
                ));
            }
            bounded(dx, MAX_RELATIVE) && bounded(dy, MAX_RELATIVE)
        }
        InputEvent::PointerMotionAbsolute { x, y } => on_layout(x, y),
        InputEvent::PointerButton { button, .. } => {
            i32::try_from(button).is_ok_and(|b| BUTTONS.contains(&b))
        }
        InputEvent::PointerAxis { dx, dy, .. } => bounded(dx, MAX_AXIS) && bounded(dy, MAX_AXIS),
        InputEvent::PointerAxisDiscrete { steps, .. } => {
            steps != 0 && steps.unsigned_abs() <= MAX_DISCRETE_STEPS.unsigned_abs()
        }
        InputEvent::KeyboardKeycode { keycode, .. } => {
            if i32::try_from(keycode) == Ok(FOREIGN_KEY) {
                return Err(format!(
                    "a key from the connection that does not own the session reached the compositor: {event:?}"
                ));
            }
            i32::try_from(keycode).is_ok_and(|k| KEYCODES.contains(&k))
        }
        InputEvent::KeyboardKeysym { keysym, .. } => {
            i32::try_from(keysym).is_ok_and(|k| KEYSYMS.contains(&k))
        }
        InputEvent::TouchDown { slot, x, y } | InputEvent::TouchMotion { slot, x, y } => {
            slot < MAX_TOUCH_SLOTS && on_layout(x, y)
        }
        InputEvent::TouchUp { slot } => slot < MAX_TOUCH_SLOTS,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the compositor was told what it would refuse: {event:?}"
        ))
    }
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
