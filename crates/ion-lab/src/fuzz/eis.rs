//! The EIS socket under fuzz (issue 14): what an app writes to the socket
//! ConnectToEIS hands it, the daemon's EIS server reads. Each iteration
//! starts two RemoteDesktop sessions on the recording stand-in (as the
//! D-Bus target does), connects to EIS for the first, and writes one of:
//! - random bytes, in random pieces;
//! - a real client's stream, mutated: what the lab's reis client sent for
//!   a whole session (handshake, bind, keys, buttons, motion, scroll,
//!   touch), recorded once through a relay, with 1–3 of its writes
//!   mutated and the rest as they were;
//! - that stream's first writes as they were, then messages with the
//!   protocol's header (object id, length, opcode) and random contents,
//!   aimed at the objects the real client used.
//!
//! Invariants: nothing panics; the other session's input still arrives
//! (only that connection is dropped); when the daemon hangs up on the
//! socket, what the session held is released; every event the stand-in
//! was told is one a compositor accepts (the D-Bus target's oracle); and
//! at the end nothing is left (the D-Bus target's end checks).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use ion_wayland::recording::Recorded;
use rand::rngs::SmallRng;
use rand::Rng;
use reis::enumflags2::BitFlags;
use zbus::zvariant::Value;

use super::dbus::{crate_path, op, World, RD, SENDERS};
use super::mutate::mutate;
use crate::client::eis::{Capability, EisClient};

/// The writes a real client made for a whole session, recorded once.
static RECORDED: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

/// How far the runs got: connections the daemon hung up on, and those
/// whose session received input from the fuzzed stream.
static HUNG_UP: AtomicU64 = AtomicU64::new(0);
static WITH_INPUT: AtomicU64 = AtomicU64::new(0);
static DELIVERED: AtomicU64 = AtomicU64::new(0);

pub fn reach() -> String {
    format!(
        "{} connections hung up on by the daemon, {} delivered input ({} events)",
        HUNG_UP.load(Ordering::Relaxed),
        WITH_INPUT.load(Ordering::Relaxed),
        DELIVERED.load(Ordering::Relaxed)
    )
}

/// The header of every ei message: object id (u64), length (u32, the
/// whole message), opcode (u32).
const HEADER: usize = 16;

pub fn socket(rng: &mut SmallRng) -> Result<(), String> {
    super::on_runtime(|_| async move {
        if RECORDED.get().is_none() {
            let chunks = record().await?;
            let _ = RECORDED.set(chunks);
        }
        let recorded = RECORDED.get().ok_or("no recording")?;
        let mut w = World::new().await?;
        let r = iteration(&mut w, rng, recorded).await;
        r.map_err(|e| w.with_trail(e))
    })
}

/// ConnectToEIS for a session of "org.fuzz.A".
async fn connect_to_eis(w: &mut World, path: &str, owner: &str) -> Result<OwnedFd, String> {
    let reply = w
        .call(
            owner,
            crate_path(),
            RD,
            "ConnectToEIS",
            &(
                op(path)?,
                "org.fuzz.A",
                std::collections::HashMap::<String, Value>::new(),
            ),
            false,
        )
        .await?
        .ok_or("ConnectToEIS: no reply")?;
    if reply.message_type() != zbus::message::Type::MethodReturn {
        let why: String = reply.body().deserialize().unwrap_or_default();
        return Err(format!("ConnectToEIS refused: {why}"));
    }
    let fd: zbus::zvariant::OwnedFd = reply
        .body()
        .deserialize()
        .map_err(|e| format!("ConnectToEIS: {e} ({reply:?})"))?;
    Ok(fd.into())
}

async fn iteration(w: &mut World, rng: &mut SmallRng, recorded: &[Vec<u8>]) -> Result<(), String> {
    let a = w
        .started_remote_desktop(SENDERS[0], "org.fuzz.A", 7)
        .await?;
    let b = w.started_remote_desktop(SENDERS[1], "", 3).await?;
    let a_id = w.id_of(&a).ok_or("no id for the first session")?;
    let b_id = w.id_of(&b).ok_or("no id for the second session")?;
    let fd = connect_to_eis(w, &a, SENDERS[0]).await?;
    let writes: Vec<Vec<u8>> = match rng.random_range(0..3) {
        0 => {
            w.note("random bytes".into());
            (0..rng.random_range(1..8))
                .map(|_| {
                    (0..rng.random_range(1..2048))
                        .map(|_| rng.random())
                        .collect()
                })
                .collect()
        }
        1 => {
            let mut writes = recorded.to_vec();
            let n = rng.random_range(1..=3);
            let mut which = Vec::new();
            for _ in 0..n {
                let i = rng.random_range(0..writes.len());
                writes[i] = mutate(rng, &writes[i], &[]);
                which.push(i);
            }
            w.note(format!("a real client's stream, writes {which:?} mutated"));
            writes
        }
        _ => {
            let keep = rng.random_range(0..=recorded.len());
            let ids = object_ids(recorded);
            let mut writes = recorded[..keep].to_vec();
            for _ in 0..rng.random_range(1..16) {
                writes.push(message(rng, &ids));
            }
            w.note(format!(
                "a real client's first {keep} writes, then made-up messages"
            ));
            writes
        }
    };
    for piece in &writes {
        // The daemon may hang up at any point; writes after that fail.
        if rustix::io::write(fd.as_fd(), piece).is_err() {
            break;
        }
        drain(fd.as_fd());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    w.check().await?;
    // The other session is untouched: its input still arrives.
    for state in [1u32, 0] {
        w.call(
            SENDERS[1],
            crate_path(),
            RD,
            "NotifyKeyboardKeycode",
            &(
                op(&b)?,
                std::collections::HashMap::<String, Value>::new(),
                30i32,
                state,
            ),
            false,
        )
        .await?;
    }
    let arrived = |log: &[Recorded]| {
        log.iter().any(|r| {
            matches!(r, Recorded::Input { session, event: ion_core::InputEvent::KeyboardKeycode { keycode: 30, state: ion_core::KeyState::Released } } if *session == b_id)
        })
    };
    wait_for(w, Duration::from_secs(2), arrived)
        .await
        .map_err(|_| "the other session's input stopped arriving".to_owned())?;
    let from_a = w
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|r| matches!(r, Recorded::Input { session, .. } if *session == a_id))
        .count() as u64;
    if from_a > 0 {
        WITH_INPUT.fetch_add(1, Ordering::Relaxed);
        DELIVERED.fetch_add(from_a, Ordering::Relaxed);
    }
    // If the daemon hung up, what the session held is released after its
    // last input.
    if hung_up(fd.as_fd()) {
        HUNG_UP.fetch_add(1, Ordering::Relaxed);
        let released = |log: &[Recorded]| {
            let last_input = log
                .iter()
                .rposition(|r| matches!(r, Recorded::Input { session, .. } if *session == a_id));
            let last_release = log.iter().rposition(|r| {
                matches!(r, Recorded::ReleaseInput { session } | Recorded::DestroyDevices { session } if *session == a_id)
            });
            match (last_input, last_release) {
                (None, _) => true,
                (Some(i), Some(r)) => r > i,
                (Some(_), None) => false,
            }
        };
        wait_for(w, Duration::from_secs(2), released)
            .await
            .map_err(|_| {
                "the daemon hung up on the EIS client, and what it held was not released".to_owned()
            })?;
    }
    w.check().await?;
    w.eis.push(fd);
    w.end(rng).await
}

async fn wait_for(w: &World, wait: Duration, done: impl Fn(&[Recorded]) -> bool) -> Result<(), ()> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if done(&w.log.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads (and drops) what the server sent, so its writes never block.
fn drain(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = rustix::net::recv(fd, &mut buf, rustix::net::RecvFlags::DONTWAIT) {
        if n.0 == 0 {
            break;
        }
    }
}

/// Whether the server has closed its end (after draining what it sent).
fn hung_up(fd: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 8192];
    loop {
        match rustix::net::recv(fd, &mut buf, rustix::net::RecvFlags::DONTWAIT) {
            Ok((0, _)) => return true,
            Ok(_) => continue,
            Err(rustix::io::Errno::AGAIN) => return false,
            Err(_) => return true,
        }
    }
}

/// The object ids the recorded client addressed (the first 8 bytes of each
/// message, little-endian as on this machine), walking the length fields.
fn object_ids(writes: &[Vec<u8>]) -> Vec<u64> {
    let stream: Vec<u8> = writes.concat();
    let mut ids = Vec::new();
    let mut at = 0;
    while at + HEADER <= stream.len() {
        let id = u64::from_ne_bytes(stream[at..at + 8].try_into().unwrap_or_default());
        let len = u32::from_ne_bytes(stream[at + 8..at + 12].try_into().unwrap_or_default());
        if !ids.contains(&id) {
            ids.push(id);
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len < HEADER {
            break;
        }
        at = at.saturating_add(len);
    }
    ids
}

/// A message with the protocol's header and random contents: a known
/// object (or 0, or any), an opcode near the real ones, a length that
/// mostly matches and sometimes lies.
fn message(rng: &mut SmallRng, ids: &[u64]) -> Vec<u8> {
    let id = match rng.random_range(0..10) {
        0 => 0,
        1 => rng.random(),
        _ if ids.is_empty() => 1,
        _ => ids[rng.random_range(0..ids.len())],
    };
    let body: Vec<u8> = (0..rng.random_range(0..12) * 4)
        .map(|_| rng.random())
        .collect();
    let len = match rng.random_range(0..10) {
        0 => rng.random::<u32>(),
        1 => rng.random_range(0..HEADER as u32),
        _ => (HEADER + body.len()) as u32,
    };
    let opcode = if rng.random_bool(0.9) {
        rng.random_range(0u32..12)
    } else {
        rng.random()
    };
    let mut m = Vec::with_capacity(HEADER + body.len());
    m.extend_from_slice(&id.to_ne_bytes());
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&opcode.to_ne_bytes());
    m.extend_from_slice(&body);
    m
}

/// Records what the lab's reis client writes for a whole session, through
/// a relay that passes the server's fds (the keymap) on.
async fn record() -> Result<Vec<Vec<u8>>, String> {
    let mut w = World::new().await?;
    let a = w
        .started_remote_desktop(SENDERS[0], "org.fuzz.A", 7)
        .await?;
    let daemon = connect_to_eis(&mut w, &a, SENDERS[0]).await?;
    let (app, relay_end) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| format!("socketpair: {e}"))?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let relay = {
        let stop = stop.clone();
        std::thread::spawn(move || relay(relay_end, daemon, &stop))
    };
    let script = async {
        let mut eis = EisClient::connect(app, "ionchannel-lab fuzz recording")
            .await
            .map_err(|e| format!("{e:#}"))?;
        let caps: BitFlags<Capability> = Capability::Pointer
            | Capability::PointerAbsolute
            | Capability::Button
            | Capability::Scroll
            | Capability::Keyboard
            | Capability::Touch;
        eis.bind(caps).await.map_err(|e| format!("{e:#}"))?;
        let e = |r: anyhow::Result<()>| r.map_err(|e| format!("{e:#}"));
        e(eis.key(42, true))?;
        e(eis.key(30, true))?;
        e(eis.key(30, false))?;
        e(eis.key(42, false))?;
        e(eis.motion(3.0, -4.0))?;
        e(eis.motion_absolute(100.0, 200.0))?;
        e(eis.button(0x110, true))?;
        e(eis.button(0x110, false))?;
        e(eis.scroll(0.0, 12.5))?;
        e(eis.scroll_discrete(0, 120))?;
        e(eis.scroll_stop())?;
        e(eis.touch_down(0, 10.0, 10.0))?;
        e(eis.touch_motion(0, 20.0, 20.0))?;
        e(eis.touch_up(0))?;
        e(eis.stop_emulating())?;
        e(eis.flush())?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        e(eis.disconnect())?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<(), String>(())
    };
    let scripted = script.await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let writes = relay.join().map_err(|_| "the relay panicked")?;
    scripted?;
    if writes.is_empty() {
        return Err("the recording is empty".into());
    }
    // Its input reached the stand-in: the recording is of a working
    // session.
    let delivered = w
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|r| matches!(r, Recorded::Input { .. }))
        .count();
    if delivered < 8 {
        return Err(format!(
            "the recorded client's input did not arrive ({delivered} events)"
        ));
    }
    Ok(writes)
}

/// Copies between the app's end and the daemon's socket both ways, fds
/// included (SCM_RIGHTS); returns the app's writes as they came.
fn relay(app: OwnedFd, daemon: OwnedFd, stop: &std::sync::atomic::AtomicBool) -> Vec<Vec<u8>> {
    use rustix::event::{poll, PollFd, PollFlags};
    use rustix::net::{
        recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags,
        SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
    };
    let mut writes = Vec::new();
    let mut buf = vec![0u8; 65536];
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let mut fds = [
            PollFd::new(&app, PollFlags::IN),
            PollFd::new(&daemon, PollFlags::IN),
        ];
        let timeout = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 10_000_000,
        };
        if poll(&mut fds, Some(&timeout)).is_err() {
            break;
        }
        let ready = [!fds[0].revents().is_empty(), !fds[1].revents().is_empty()];
        for (i, is_ready) in ready.into_iter().enumerate() {
            if !is_ready {
                continue;
            }
            let (from, to) = if i == 0 {
                (&app, &daemon)
            } else {
                (&daemon, &app)
            };
            let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let got = recvmsg(
                from,
                &mut [std::io::IoSliceMut::new(&mut buf)],
                &mut control,
                RecvFlags::DONTWAIT,
            );
            let n = match got {
                Ok(m) if m.bytes > 0 => m.bytes,
                Ok(_) => return writes,
                Err(rustix::io::Errno::AGAIN) => continue,
                Err(_) => return writes,
            };
            let passed: Vec<OwnedFd> = control
                .drain()
                .flat_map(|m| match m {
                    RecvAncillaryMessage::ScmRights(fds) => fds.collect::<Vec<_>>(),
                    _ => Vec::new(),
                })
                .collect();
            let borrowed: Vec<BorrowedFd<'_>> = passed.iter().map(|f| f.as_fd()).collect();
            let mut out_space =
                [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
            let mut out = SendAncillaryBuffer::new(&mut out_space);
            if !borrowed.is_empty() {
                out.push(SendAncillaryMessage::ScmRights(&borrowed));
            }
            if sendmsg(
                to,
                &[std::io::IoSlice::new(&buf[..n])],
                &mut out,
                SendFlags::empty(),
            )
            .is_err()
            {
                return writes;
            }
            if i == 0 {
                writes.push(buf[..n].to_vec());
            }
        }
    }
    writes
}
