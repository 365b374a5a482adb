//! The Clipboard backend in-process: a peer-to-peer connection plays the
//! frontend (frontend 1.16, on the host stack, has no Clipboard, so this is
//! where every stack tests the backend's side), and the recording stand-in
//! plays the compositor and its local apps (`Injector`: a local copy, a
//! local paste). Data moves through real pipes.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ion_portal::Portal;
use ion_wayland::recording::{
    recording_clipboard, test_payload, Injector, Log, Recorded, STALL_PART,
};
use ion_wayland::Event;
use zbus::message::Message;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};
use zbus::{Connection, MessageStream};

const RD: &str = "org.freedesktop.impl.portal.RemoteDesktop";
const CB: &str = "org.freedesktop.impl.portal.Clipboard";
const POLICY: &str =
    "[[allow]]\napp_id = \"\"\ndevices = [\"keyboard\", \"pointer\"]\nclipboard = true\n";

struct World {
    client: Connection,
    _server: Connection,
    signals: tokio::sync::mpsc::UnboundedReceiver<Message>,
    inject: Injector,
    log: Log,
    _portal: Arc<Portal>,
    _dir: tempfile::TempDir,
}

fn path(s: &str) -> ObjectPath<'_> {
    ObjectPath::try_from(s).unwrap()
}

async fn world() -> World {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("ion_portal=trace,ion_wayland=debug")
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    let mut rec = recording_clipboard(vec![common::output(1, "HEADLESS-1", 0, 1920, 1080)]);
    let (client, server, portal) =
        common::serve_portal(common::config(dir.path(), 1000, 1000), rec.handle).await;
    // What `service::serve` does with the Wayland thread's events.
    let (p, conn) = (portal.clone(), server.clone());
    tokio::spawn(async move {
        while let Some(ev) = rec.events.recv().await {
            match ev {
                Event::SelectionChanged { mime_types, owner } => {
                    p.on_selection_changed(&conn, mime_types, owner).await
                }
                Event::SelectionSend {
                    session,
                    mime_type,
                    fd,
                } => p.on_selection_send(&conn, session, mime_type, fd).await,
                _ => {}
            }
        }
    });
    // Every message the client gets, drained at once: the signals go on,
    // everything else (method replies, with the fds they carry) is dropped
    // here. A stream left unread would keep those fds open (a pipe's write
    // end kept there never lets its reader see the end).
    let (tx, signals) = tokio::sync::mpsc::unbounded_channel();
    let mut all = MessageStream::from(&client);
    tokio::spawn(async move {
        while let Some(Ok(m)) = all.next().await {
            if m.message_type() == zbus::message::Type::Signal && tx.send(m).is_err() {
                break;
            }
        }
    });
    World {
        client,
        _server: server,
        signals,
        inject: rec.inject,
        log: rec.log,
        _portal: portal,
        _dir: dir,
    }
}

/// CreateSession and SelectDevices(keyboard).
async fn create_with_keyboard(w: &World, session: &str) {
    let o = || HashMap::<&str, Value<'_>>::new();
    let reply = rd(w, "CreateSession", &(path("/r/1"), path(session), "", o())).await;
    let (code, _): (u32, HashMap<String, OwnedValue>) =
        reply.unwrap().body().deserialize().unwrap();
    assert_eq!(code, 0);
    let mut types = o();
    types.insert("types", Value::from(1u32));
    rd(
        w,
        "SelectDevices",
        &(path("/r/2"), path(session), "", types),
    )
    .await
    .unwrap();
}

/// [`create_with_keyboard`], RequestClipboard if `clipboard`, Start;
/// returns Start's results.
async fn start(w: &World, session: &str, clipboard: bool) -> HashMap<String, OwnedValue> {
    let o = || HashMap::<&str, Value<'_>>::new();
    create_with_keyboard(w, session).await;
    if clipboard {
        cb(w, "RequestClipboard", &(path(session), o()))
            .await
            .unwrap();
    }
    let reply = rd(w, "Start", &(path("/r/3"), path(session), "", "", o())).await;
    let (code, results): (u32, HashMap<String, OwnedValue>) =
        reply.unwrap().body().deserialize().unwrap();
    assert_eq!(code, 0);
    results
}

async fn rd<B>(w: &World, method: &str, body: &B) -> zbus::Result<Message>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    common::call(&w.client, RD, method, body).await
}

async fn cb<B>(w: &World, method: &str, body: &B) -> zbus::Result<Message>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    common::call(&w.client, CB, method, body).await
}

fn enabled(results: &HashMap<String, OwnedValue>) -> bool {
    results
        .get("clipboard_enabled")
        .and_then(|v| bool::try_from(v).ok())
        .unwrap()
}

async fn set_selection(w: &World, session: &str, types: &[&str]) -> zbus::Result<Message> {
    let mut o: HashMap<&str, Value<'_>> = HashMap::new();
    o.insert("mime_types", Value::from(types.to_vec()));
    cb(w, "SetSelection", &(path(session), o)).await
}

async fn fd_reply(reply: zbus::Result<Message>) -> zbus::Result<OwnedFd> {
    let fd: zbus::zvariant::OwnedFd = reply?.body().deserialize()?;
    Ok(fd.into())
}

/// The next signal named `member`, as its body.
async fn signal<T>(w: &mut World, member: &str) -> T
where
    T: for<'de> serde::Deserialize<'de> + zbus::zvariant::Type,
{
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let m = w.signals.recv().await.unwrap();
            if m.header().member().is_some_and(|n| n.as_str() == member) {
                return m.body().deserialize::<T>().unwrap();
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {member} signal"))
}

fn read_all(fd: OwnedFd) -> Vec<u8> {
    let mut v = Vec::new();
    std::fs::File::from(fd).read_to_end(&mut v).unwrap();
    v
}

const S: &str = "/org/freedesktop/portal/desktop/session/t/a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_copy_and_paste_both_ways() {
    let mut w = world().await;
    assert!(enabled(&start(&w, S, true).await));

    // A local app copies: the session hears of it (not its own) and reads it.
    w.inject
        .local_copy(vec!["text/plain".into(), "image/png".into()]);
    let (session, opts): (OwnedObjectPath, HashMap<String, OwnedValue>) =
        signal(&mut w, "SelectionOwnerChanged").await;
    assert_eq!(session.as_str(), S);
    assert_eq!(
        Vec::<String>::try_from(opts["mime_types"].try_clone().unwrap()).unwrap(),
        ["text/plain", "image/png"]
    );
    assert!(!bool::try_from(&opts["session_is_owner"]).unwrap());
    let fd = fd_reply(cb(&w, "SelectionRead", &(path(S), "image/png")).await)
        .await
        .unwrap();
    assert_eq!(read_all(fd), test_payload("image/png"));

    // The session offers a selection: it owns it, and a local paste is
    // announced, written and arrives whole.
    set_selection(&w, S, &["text/html", "text/plain"])
        .await
        .unwrap();
    let (_, opts): (OwnedObjectPath, HashMap<String, OwnedValue>) =
        signal(&mut w, "SelectionOwnerChanged").await;
    assert!(bool::try_from(&opts["session_is_owner"]).unwrap());
    let paste = w.inject.local_paste(1, "text/html").unwrap();
    let (session, mime, serial): (OwnedObjectPath, String, u32) =
        signal(&mut w, "SelectionTransfer").await;
    assert_eq!((session.as_str(), mime.as_str()), (S, "text/html"));
    let write = fd_reply(cb(&w, "SelectionWrite", &(path(S), serial)).await)
        .await
        .unwrap();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    let expect = data.clone();
    std::thread::spawn(move || std::fs::File::from(write).write_all(&data).unwrap());
    let got = tokio::task::spawn_blocking(move || read_all(paste))
        .await
        .unwrap();
    assert_eq!(got.len(), expect.len());
    assert!(got == expect);
    cb(&w, "SelectionWriteDone", &(path(S), serial, true))
        .await
        .unwrap();
    assert!(w
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|r| matches!(r, Recorded::SetSelection { session: 1, mime_types } if mime_types == &["text/html", "text/plain"])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_bad_input_gets_a_clear_error_and_changes_nothing() {
    let mut w = world().await;
    assert!(enabled(&start(&w, S, true).await));
    let err = |r: zbus::Result<Message>| match r {
        Err(zbus::Error::MethodError(name, msg, _)) => {
            format!("{name}: {}", msg.unwrap_or_default())
        }
        other => panic!("expected an error, got {other:?}"),
    };
    // SetSelection: no types, bad types, too many.
    let none: HashMap<&str, Value<'_>> = HashMap::new();
    assert!(err(cb(&w, "SetSelection", &(path(S), none)).await).contains("InvalidArgument"));
    assert!(err(set_selection(&w, S, &["text plain"]).await).contains("InvalidArgument"));
    let many: Vec<String> = (0..65).map(|i| format!("text/x-{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(err(set_selection(&w, S, &many).await).contains("at most 64"));
    let mut wrong: HashMap<&str, Value<'_>> = HashMap::new();
    wrong.insert("mime_types", Value::from(7u32));
    assert!(err(cb(&w, "SetSelection", &(path(S), wrong)).await).contains("array of strings"));
    assert!(
        !w.log
            .lock()
            .unwrap()
            .iter()
            .any(|r| matches!(r, Recorded::SetSelection { .. })),
        "a refused SetSelection reached the compositor"
    );
    // A serial never announced; a second write of one that was.
    assert!(err(cb(&w, "SelectionWrite", &(path(S), 77u32)).await).contains("NotFound"));
    assert!(err(cb(&w, "SelectionWriteDone", &(path(S), 77u32, true)).await).contains("NotFound"));
    set_selection(&w, S, &["text/plain"]).await.unwrap();
    let _paste = w.inject.local_paste(1, "text/plain").unwrap();
    let (_, _, serial): (OwnedObjectPath, String, u32) = signal(&mut w, "SelectionTransfer").await;
    let _fd = fd_reply(cb(&w, "SelectionWrite", &(path(S), serial)).await)
        .await
        .unwrap();
    assert!(err(cb(&w, "SelectionWrite", &(path(S), serial)).await).contains("already written"));
    // A type the selection does not offer (the session's own offers
    // text/plain only).
    assert!(err(cb(&w, "SelectionRead", &(path(S), "image/png")).await).contains("does not offer"));
    // RequestClipboard after Start.
    let none: HashMap<&str, Value<'_>> = HashMap::new();
    assert!(err(cb(&w, "RequestClipboard", &(path(S), none)).await).contains("before Start"));
    // A session without the clipboard, and one that does not exist.
    let other = "/org/freedesktop/portal/desktop/session/t/b";
    assert!(!enabled(&start(&w, other, false).await));
    assert!(err(set_selection(&w, other, &["text/plain"]).await).contains("not enabled"));
    assert!(
        err(cb(&w, "SelectionRead", &(path(other), "text/plain")).await).contains("not enabled")
    );
    let gone = "/org/freedesktop/portal/desktop/session/t/zz";
    assert!(err(set_selection(&w, gone, &["text/plain"]).await).contains("NotFound"));
    // The first session still works.
    set_selection(&w, S, &["text/html"]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_closing_mid_transfer_ends_it_and_withdraws_the_selection() {
    let mut w = world().await;
    assert!(enabled(&start(&w, S, true).await));
    set_selection(&w, S, &["text/plain"]).await.unwrap();
    let paste = w.inject.local_paste(1, "text/plain").unwrap();
    let (_, _, serial): (OwnedObjectPath, String, u32) = signal(&mut w, "SelectionTransfer").await;
    let write = fd_reply(cb(&w, "SelectionWrite", &(path(S), serial)).await)
        .await
        .unwrap();
    // The remote side writes a little and keeps its fd open.
    let mut write = std::fs::File::from(write);
    write.write_all(b"half of it").unwrap();
    let reader = tokio::task::spawn_blocking(move || {
        let t0 = Instant::now();
        (read_all(paste), t0.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.client
        .call_method(
            None::<&str>,
            S,
            Some("org.freedesktop.impl.portal.Session"),
            "Close",
            &(),
        )
        .await
        .unwrap();
    let (got, waited) = reader.await.unwrap();
    assert_eq!(got, b"half of it", "the paste gets what came, then EOF");
    assert!(
        waited < Duration::from_secs(3),
        "the paste ended {waited:?} after it began"
    );
    let log = w.log.lock().unwrap();
    assert!(
        log.iter()
            .any(|r| matches!(r, Recorded::ClearSelection { session: 1 })),
        "the selection was not withdrawn: {log:?}"
    );
    drop(write);
}

/// A remote side that never answers a paste, and one that stops writing
/// half-way: the local paste ends at the timeouts, with what came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_a_paste_never_hangs() {
    let mut w = world().await;
    assert!(enabled(&start(&w, S, true).await));
    set_selection(&w, S, &["text/plain", "text/html"])
        .await
        .unwrap();
    let unanswered = w.inject.local_paste(1, "text/plain").unwrap();
    let (_, _, _ignored): (OwnedObjectPath, String, u32) =
        signal(&mut w, "SelectionTransfer").await;
    let stalled = w.inject.local_paste(1, "text/html").unwrap();
    let (_, _, serial): (OwnedObjectPath, String, u32) = signal(&mut w, "SelectionTransfer").await;
    let write = fd_reply(cb(&w, "SelectionWrite", &(path(S), serial)).await)
        .await
        .unwrap();
    let mut write = std::fs::File::from(write);
    write.write_all(b"<b>unfinis").unwrap();
    let t0 = Instant::now();
    let a = tokio::task::spawn_blocking(move || read_all(unanswered));
    let b = tokio::task::spawn_blocking(move || read_all(stalled));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let waited = t0.elapsed();
    assert_eq!(a, b"", "an unanswered paste gets nothing");
    assert_eq!(b, b"<b>unfinis", "a stalled paste gets what came");
    let limit = ion_portal::clipboard::WRITE_WAIT.max(ion_portal::clipboard::TRANSFER_IDLE);
    assert!(
        waited < limit + Duration::from_secs(3),
        "the pastes ended after {waited:?}"
    );
    // The session goes on: a new paste works.
    let paste = w.inject.local_paste(1, "text/plain").unwrap();
    let (_, _, serial): (OwnedObjectPath, String, u32) = signal(&mut w, "SelectionTransfer").await;
    let fd = fd_reply(cb(&w, "SelectionWrite", &(path(S), serial)).await)
        .await
        .unwrap();
    std::fs::File::from(fd).write_all(b"fine").unwrap();
    assert_eq!(
        tokio::task::spawn_blocking(move || read_all(paste))
            .await
            .unwrap(),
        b"fine"
    );
    drop(write);
}

/// A local app that offers data and stops writing it: SelectionRead's fd
/// gets what came and ends at the idle timeout, long before the app lets
/// go (a minute), and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_a_read_from_a_stalled_app_ends_at_the_timeout() {
    let mut w = world().await;
    assert!(enabled(&start(&w, S, true).await));
    w.inject.local_copy_stalled(vec!["text/plain".into()]);
    let _: (OwnedObjectPath, HashMap<String, OwnedValue>) =
        signal(&mut w, "SelectionOwnerChanged").await;
    let fd = fd_reply(cb(&w, "SelectionRead", &(path(S), "text/plain")).await)
        .await
        .unwrap();
    let t0 = Instant::now();
    let got = tokio::task::spawn_blocking(move || read_all(fd))
        .await
        .unwrap();
    let waited = t0.elapsed();
    assert_eq!(got, STALL_PART);
    let idle = ion_portal::clipboard::TRANSFER_IDLE;
    assert!(
        waited >= idle - Duration::from_secs(1) && waited < idle + Duration::from_secs(3),
        "the read ended after {waited:?}"
    );
    set_selection(&w, S, &["text/plain"]).await.unwrap();
}

/// libportal sends RequestClipboard and then Start without waiting, and the
/// frontend forwards each from a worker thread of its own, so Start can
/// come first (Deskflow on labwc, in CI). A RequestClipboard that arrives
/// while Start waits for it counts; one after Start has decided does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_a_request_clipboard_overtaken_by_start_still_counts() {
    let w = world().await;
    let o = || HashMap::<&str, Value<'static>>::new();
    let session = "/org/freedesktop/portal/desktop/session/t/late";
    create_with_keyboard(&w, session).await;
    // Start first, RequestClipboard 10 ms after it.
    let client = w.client.clone();
    let pending = tokio::spawn(async move {
        let empty = HashMap::<&str, Value<'static>>::new();
        common::call(
            &client,
            RD,
            "Start",
            &(path("/r/3"), path(session), "", "", empty),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    cb(&w, "RequestClipboard", &(path(session), o()))
        .await
        .unwrap();
    let (code, results): (u32, HashMap<String, OwnedValue>) = pending
        .await
        .unwrap()
        .unwrap()
        .body()
        .deserialize()
        .unwrap();
    assert_eq!(code, 0);
    assert!(enabled(&results), "the overtaken RequestClipboard counts");

    // After Start has decided, it is too late: refused, and the session
    // without the clipboard stays so.
    let other = "/org/freedesktop/portal/desktop/session/t/later";
    let results = start(&w, other, false).await;
    assert!(!enabled(&results));
    match cb(&w, "RequestClipboard", &(path(other), o())).await {
        Err(zbus::Error::MethodError(_, msg, _)) => {
            assert!(msg.unwrap_or_default().contains("before Start"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
