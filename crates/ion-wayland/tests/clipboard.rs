//! The clipboard against real compositors: ion-wayland's thread (as the
//! daemon runs it) on one side, wl-clipboard's `wl-copy` and `wl-paste`
//! (Debian's wl-clipboard 2.1) as the local app on the other.
//!
//! - The cosmic-comp stand-in (`target/debug/ion-cosmic-profile`, built by
//!   `cargo build -p ion-cosmic-profile`; smithay's data control, both
//!   protocols): once with our thread on ext-data-control-v1 (the
//!   default), once on zwlr-data-control-v1 (the `DataControlChoice::Wlr`
//!   test hook, as `IONCHANNEL_DATA_CONTROL=wlr`). wl-clipboard 2.1 knows
//!   only wlr-data-control, so on the ext run the local app and we speak
//!   different protocols and the compositor carries the selection across:
//!   what it proves for ext is our side of ext.
//! - Headless sway 1.7 (wlroots 0.15: zwlr-data-control v2 only), run as
//!   the testbed's unprivileged user when we are root (sway refuses root).
//!
//! Each run: a selection copied before we connect is the first
//! SelectionChanged (owner None) and reads back byte for byte (5 MB); a type not
//! on offer is refused; a session's selection (two types) is announced
//! with its owner, and `wl-paste` gets 5 MB of one type and a few bytes of
//! the other byte for byte through SelectionSend; a session reading its own
//! selection is routed back to it; another session's ClearSelection
//! changes nothing; the owner's withdraws it (`wl-paste` finds no
//! selection, a read is refused) and no SelectionChanged repeats.
//! A compositor that is not there (binary not built, sway not installed,
//! root without the lab user) is skipped with the reason printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ion_wayland::command::Command as WlCommand;
use ion_wayland::{DataControlChoice, Event, Options, WaylandThread};
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(15);
const LAB_USER: &str = "ionchannel-lab";

/// A headless compositor in a private XDG_RUNTIME_DIR.
struct Display {
    name: &'static str,
    child: Child,
    _dir: tempfile::TempDir,
    runtime: PathBuf,
    socket: PathBuf,
    log: PathBuf,
}

fn workspace_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn private_dir(prefix: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let runtime = dir.path().join("run");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    (dir, runtime)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// uid and gid of `name`, from `id` (no NSS bindings in this crate).
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, name]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

impl Display {
    fn cosmic_profile() -> Option<Display> {
        let bin = workspace_target().join("debug/ion-cosmic-profile");
        if !bin.exists() {
            eprintln!(
                "SKIP cosmic-comp stand-in: {} is not built (cargo build -p ion-cosmic-profile)",
                bin.display()
            );
            return None;
        }
        let (dir, runtime) = private_dir("ion-wayland-clipboard-cosmic");
        let log = dir.path().join("compositor.log");
        let child = Command::new(&bin)
            .args(["--outputs", "1"])
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("WAYLAND_DISPLAY", "wayland-nonexistent")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        // Ready once it says where it listens.
        let socket = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("listening on WAYLAND_DISPLAY=").nth(1) {
                let name: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                break runtime.join(name);
            }
            assert!(start.elapsed() < WAIT, "the stand-in did not start: {text}");
            std::thread::sleep(Duration::from_millis(20));
        };
        Some(Display {
            name: "cosmic-comp stand-in",
            child,
            _dir: dir,
            runtime,
            socket,
            log,
        })
    }

    /// Headless sway with the pixman renderer and an empty config; as the
    /// lab user when we are root.
    fn sway() -> Option<Display> {
        if Command::new("sway").arg("--version").output().is_err() {
            eprintln!("SKIP sway: not installed");
            return None;
        }
        let user = if is_root() {
            match user_ids(LAB_USER) {
                Some(ids) => Some(ids),
                None => {
                    eprintln!(
                        "SKIP sway: we are root, sway refuses root, and the lab user \
                         {LAB_USER} does not exist (scripts/setup.sh creates it)"
                    );
                    return None;
                }
            }
        } else {
            None
        };
        let (dir, runtime) = private_dir("ion-wayland-clipboard-sway");
        let config = dir.path().join("config");
        std::fs::write(&config, "").unwrap();
        let log = dir.path().join("compositor.log");
        let mut command = match user {
            Some((uid, gid)) => {
                // The lab user must reach its runtime dir and the config.
                std::fs::set_permissions(
                    dir.path(),
                    std::os::unix::fs::PermissionsExt::from_mode(0o755),
                )
                .unwrap();
                std::os::unix::fs::chown(&runtime, Some(uid), Some(gid)).unwrap();
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--init-groups")
                    .arg("--pdeathsig=SIGKILL")
                    .arg("--")
                    .arg("sway");
                c
            }
            None => Command::new("sway"),
        };
        let child = command
            .arg("-c")
            .arg(&config)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DISPLAY")
            .env("WLR_BACKENDS", "headless")
            .env("WLR_RENDERER", "pixman")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut display = Display {
            name: "sway",
            child,
            _dir: dir,
            runtime: runtime.clone(),
            socket: runtime.join("wayland-1"),
            log,
        };
        // Ready once its socket exists and a client gets the globals.
        let start = Instant::now();
        loop {
            if let Some(status) = display.child.try_wait().unwrap() {
                panic!("sway exited ({status}): {}", display.log());
            }
            if display.socket.exists() {
                let probe = display.command("wl-paste").arg("--list-types").output();
                if probe.is_ok_and(|o| {
                    !String::from_utf8_lossy(&o.stderr).contains("Failed to connect")
                }) {
                    break;
                }
            }
            assert!(
                start.elapsed() < WAIT,
                "sway did not start: {}",
                display.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(display)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A local app on this display.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("XDG_RUNTIME_DIR", &self.runtime)
            .env("WAYLAND_DISPLAY", self.socket.file_name().unwrap());
        c
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{} log:\n{}", self.name, self.log());
        }
    }
}

/// The thread's events, with those a test did not ask for yet kept in
/// order.
struct Events {
    thread: WaylandThread,
    pending: VecDeque<Event>,
}

impl Events {
    /// The first event `want` picks (others stay pending, in order).
    fn take<T>(&mut self, what: &str, mut want: impl FnMut(&Event) -> Option<T>) -> T {
        if let Some(i) = self.pending.iter().position(|e| want(e).is_some()) {
            let e = self.pending.remove(i).unwrap();
            return want(&e).unwrap();
        }
        let start = Instant::now();
        loop {
            match self.thread.events.try_recv() {
                Ok(e) => match want(&e) {
                    Some(t) => return t,
                    None => self.pending.push_back(e),
                },
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                    assert!(
                        start.elapsed() < WAIT,
                        "timed out waiting for {what}; other events: {:?}",
                        self.pending
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("waiting for {what}: the thread is gone ({e})"),
            }
        }
    }

    /// The next SelectionChanged (whatever it says: each one counts).
    fn selection_changed(&mut self) -> (Vec<String>, Option<u64>) {
        self.take("SelectionChanged", |e| match e {
            Event::SelectionChanged { mime_types, owner } => Some((mime_types.clone(), *owner)),
            _ => None,
        })
    }

    /// The next SelectionSend.
    fn selection_send(&mut self) -> (u64, String, Arc<OwnedFd>) {
        self.take("SelectionSend", |e| match e {
            Event::SelectionSend {
                session,
                mime_type,
                fd,
            } => Some((*session, mime_type.clone(), fd.clone())),
            _ => None,
        })
    }

    /// No SelectionChanged arrives within `d`.
    fn no_selection_change(&mut self, d: Duration) {
        std::thread::sleep(d);
        while let Ok(e) = self.thread.events.try_recv() {
            self.pending.push_back(e);
        }
        let changes: Vec<_> = self
            .pending
            .iter()
            .filter(|e| matches!(e, Event::SelectionChanged { .. }))
            .collect();
        assert!(changes.is_empty(), "unexpected: {changes:?}");
    }

    fn send(&self, cmd: WlCommand) {
        self.thread.handle.send(cmd).unwrap();
    }

    fn read_selection(&self, mime_type: &str) -> Result<OwnedFd, String> {
        let (read, write) = rustix::pipe::pipe().unwrap();
        let (reply, rx) = oneshot::channel();
        self.send(WlCommand::ReadSelection {
            mime_type: mime_type.into(),
            fd: write,
            reply,
        });
        rx.blocking_recv().unwrap().map(|()| read)
    }

    fn data_control(&self) -> Option<String> {
        let (reply, rx) = oneshot::channel();
        self.send(WlCommand::Snapshot { reply });
        rx.blocking_recv().unwrap().data_control
    }
}

/// Writes `bytes` into the SelectionSend fd (the only reference to it
/// once the event is taken) and closes it, as the D-Bus side does.
fn answer(fd: Arc<OwnedFd>, bytes: &[u8]) {
    let fd = Arc::try_unwrap(fd).expect("the event's fd is ours alone");
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes).unwrap();
}

fn read_all(fd: OwnedFd) -> Vec<u8> {
    let mut v = Vec::new();
    std::fs::File::from(fd).read_to_end(&mut v).unwrap();
    v
}

/// `wl-paste` of `mime_type`, its output collected on a thread.
fn paste(display: &Display, mime_type: &str) -> std::thread::JoinHandle<(bool, Vec<u8>)> {
    let mut child = display
        .command("wl-paste")
        .args(["--no-newline", "--type", mime_type])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).unwrap();
        (child.wait().unwrap().success(), v)
    })
}

/// Bytes that are not text and differ along the way (a shifted byte
/// would show).
fn big_payload(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn round_trip(display: &Display, choice: DataControlChoice, interface: &str) {
    eprintln!("{}: our side on {interface}", display.name);
    // A local app copies before we connect.
    // Text that is not quite text, then 5 MB (wl-copy passes bytes as is).
    let mut copied = b"copied by wl-copy: \xc3\xbc, a NUL \0 and \xff".to_vec();
    copied.extend(big_payload(5 * 1024 * 1024).iter().rev());
    let mut wl_copy = display
        .command("wl-copy")
        .args(["--foreground", "--type", "text/plain"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    wl_copy.stdin.take().unwrap().write_all(&copied).unwrap();
    let start = Instant::now();
    while !display
        .command("wl-paste")
        .arg("--list-types")
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(start.elapsed() < WAIT, "wl-copy's selection never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }

    let thread = ion_wayland::spawn_with(Options {
        keymap_names: Default::default(),
        data_control: choice,
        socket: Some(display.socket.clone()),
    })
    .unwrap();
    let mut ev = Events {
        thread,
        pending: VecDeque::new(),
    };
    assert_eq!(ev.data_control().as_deref(), Some(interface));

    // (a) The selection that was there is the first SelectionChanged; it
    // reads back byte for byte.
    let (types, owner) = ev.selection_changed();
    assert!(types.iter().any(|t| t == "text/plain"), "{types:?}");
    assert_eq!(owner, None);
    let read = ev.read_selection("text/plain").unwrap();
    let got = read_all(read);
    assert_eq!(got.len(), copied.len());
    assert!(got == copied, "wl-copy's 5 MB differ");
    // (d) A type not on offer is refused.
    let err = ev.read_selection("image/png").unwrap_err();
    assert!(err.contains("not on offer"), "{err}");

    // (b) A session's selection: announced with its owner; wl-copy loses
    // the selection and leaves.
    let session = 7;
    ev.send(WlCommand::SetSelection {
        session,
        mime_types: vec!["text/plain".into(), "image/png".into()],
    });
    assert_eq!(
        ev.selection_changed(),
        (vec!["text/plain".into(), "image/png".into()], Some(session))
    );
    let start = Instant::now();
    while wl_copy.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < WAIT, "wl-copy kept its selection");
        std::thread::sleep(Duration::from_millis(20));
    }
    // wl-paste gets 5 MB of image/png byte for byte, through SelectionSend.
    let big = big_payload(5 * 1024 * 1024);
    let pasting = paste(display, "image/png");
    let (s, mime, fd) = ev.selection_send();
    assert_eq!((s, mime.as_str()), (session, "image/png"));
    answer(fd, &big);
    let (ok, got) = pasting.join().unwrap();
    assert!(ok, "wl-paste failed");
    assert_eq!(got.len(), big.len());
    assert!(got == big, "the 5 MB differ");
    // ... and the other type its own bytes.
    let pasting = paste(display, "text/plain");
    let (s, mime, fd) = ev.selection_send();
    assert_eq!((s, mime.as_str()), (session, "text/plain"));
    answer(fd, b"the session's text");
    assert_eq!(
        pasting.join().unwrap(),
        (true, b"the session's text".to_vec())
    );
    // A session reading its own selection is routed back to it.
    let read = ev.read_selection("text/plain").unwrap();
    let (s, mime, fd) = ev.selection_send();
    assert_eq!((s, mime.as_str()), (session, "text/plain"));
    answer(fd, b"own");
    assert_eq!(read_all(read), b"own");

    // Another session's ClearSelection changes nothing.
    ev.send(WlCommand::ClearSelection { session: 8 });
    ev.no_selection_change(Duration::from_millis(300));
    assert!(display
        .command("wl-paste")
        .arg("--list-types")
        .output()
        .unwrap()
        .status
        .success());

    // (c) The owner's withdraws it: no selection for anyone.
    ev.send(WlCommand::ClearSelection { session });
    assert_eq!(ev.selection_changed(), (Vec::new(), None));
    let listed = display
        .command("wl-paste")
        .arg("--list-types")
        .output()
        .unwrap();
    assert!(
        !listed.status.success() && listed.stdout.is_empty(),
        "wl-paste still lists {:?}",
        String::from_utf8_lossy(&listed.stdout)
    );
    let err = ev.read_selection("text/plain").unwrap_err();
    assert!(err.contains("no selection"), "{err}");
    // The compositor's own `selection(null)` that follows is no change.
    ev.no_selection_change(Duration::from_millis(300));

    ev.send(WlCommand::Shutdown);
    let Events { thread, .. } = ev;
    thread.join.join().unwrap();
}

#[test]
fn clipboard_on_the_cosmic_comp_stand_in_with_ext_data_control() {
    let Some(display) = Display::cosmic_profile() else {
        return;
    };
    round_trip(
        &display,
        DataControlChoice::Ext,
        ion_wayland::EXT_DATA_CONTROL,
    );
}

#[test]
fn clipboard_on_the_cosmic_comp_stand_in_with_wlr_data_control() {
    let Some(display) = Display::cosmic_profile() else {
        return;
    };
    round_trip(
        &display,
        DataControlChoice::Wlr,
        ion_wayland::WLR_DATA_CONTROL,
    );
}

#[test]
fn clipboard_on_sway_with_wlr_data_control() {
    let Some(display) = Display::sway() else {
        return;
    };
    // sway 1.7 has no ext-data-control: the default choice falls back.
    round_trip(
        &display,
        DataControlChoice::Ext,
        ion_wayland::WLR_DATA_CONTROL,
    );
}
