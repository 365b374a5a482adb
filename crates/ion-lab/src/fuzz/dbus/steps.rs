//! The steps: every call of every interface, with edge values and random
//! options, mostly on sessions an app would have made.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;
use zbus::message::Type as MessageType;
use zbus::zvariant::{StructureBuilder, Value};

use super::world::{Kind, Session};
use super::*;
use crate::fuzz::values::{edge_f64, edge_i32, edge_u32, string, value};

impl World {
    pub(in crate::fuzz) async fn step(&mut self, rng: &mut SmallRng) -> Result<(), String> {
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
    pub(in crate::fuzz) async fn happy_path(&mut self, rng: &mut SmallRng) -> Result<(), String> {
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
    pub(in crate::fuzz) async fn started_remote_desktop(
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
    pub(in crate::fuzz) fn id_of(&self, path: &str) -> Option<u64> {
        self.portal
            .session_paths()
            .into_iter()
            .find(|(_, p)| p == path)
            .map(|(id, _)| id)
    }

    pub(in crate::fuzz) async fn create(&mut self, rng: &mut SmallRng) -> Result<(), String> {
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

    pub(in crate::fuzz) async fn select(&mut self, rng: &mut SmallRng) -> Result<(), String> {
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

    pub(in crate::fuzz) async fn start(&mut self, rng: &mut SmallRng) -> Result<(), String> {
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

    pub(in crate::fuzz) async fn notify_burst(&mut self, rng: &mut SmallRng) -> Result<(), String> {
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

    pub(in crate::fuzz) async fn connect_eis(&mut self, rng: &mut SmallRng) -> Result<(), String> {
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
    pub(in crate::fuzz) fn poke_eis(&mut self, rng: &mut SmallRng) -> Result<(), String> {
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

    pub(in crate::fuzz) async fn clipboard(&mut self, rng: &mut SmallRng) -> Result<(), String> {
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

    pub(in crate::fuzz) async fn close_session(
        &mut self,
        rng: &mut SmallRng,
    ) -> Result<(), String> {
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

    pub(in crate::fuzz) async fn close_request(
        &mut self,
        rng: &mut SmallRng,
    ) -> Result<(), String> {
        let handle = self.handle(rng);
        let sender = SENDERS[rng.random_range(0..2)];
        self.note(format!("{sender} Request.Close {handle}"));
        self.call(sender, &handle, REQUEST, "Close", &(), false)
            .await?;
        Ok(())
    }

    /// Any method of any interface, with a random body: wrong signatures,
    /// unknown members, unknown interfaces.
    pub(in crate::fuzz) async fn junk(&mut self, rng: &mut SmallRng) -> Result<(), String> {
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

    pub(in crate::fuzz) async fn grants_and_status(
        &mut self,
        rng: &mut SmallRng,
    ) -> Result<(), String> {
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

    pub(in crate::fuzz) async fn properties(&mut self, rng: &mut SmallRng) -> Result<(), String> {
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
}
