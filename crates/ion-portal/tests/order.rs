//! Input as real clients send it, in-process: Notify* calls reaching the
//! backend in another order than the app sent them (as the frontend's
//! worker threads deliver libportal's un-awaited calls), refusals counted
//! and shown by `org.ionchannel.Status1`. A peer-to-peer connection plays
//! the frontend and sends the calls in exactly the scrambled order given,
//! each awaited, so every run is the same; the recording stand-in shows
//! what the compositor would get.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use ion_core::{InputEvent, KeyState};
use ion_portal::status_iface::{SessionStatus, Status, STATUS_INTERFACE, STATUS_PATH};
use ion_wayland::recording::{recording, Log, Recorded};
use zbus::message::Message;
use zbus::zvariant::{ObjectPath, OwnedValue, Value};
use zbus::Connection;

const RD: &str = "org.freedesktop.impl.portal.RemoteDesktop";
const ALLOW_HOST: &str = "[[allow]]\napp_id = \"\"\ndevices = [\"keyboard\", \"pointer\"]\n";
const S: &str = "/org/freedesktop/portal/desktop/session/t/a";

struct World {
    client: Connection,
    _server: Connection,
    log: Log,
    _dir: tempfile::TempDir,
}

async fn world(rate: u32, burst: u32) -> World {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), ALLOW_HOST).unwrap();
    let (handle, log) = recording();
    let (client, server) = common::serve(common::config(dir.path(), rate, burst), handle).await;
    let w = World {
        client,
        _server: server,
        log,
        _dir: dir,
    };
    for (method, body) in [("CreateSession", 0), ("SelectDevices", 3), ("Start", 0)] {
        let mut o: HashMap<&str, Value<'_>> = HashMap::new();
        let reply = match method {
            "CreateSession" => call(&w, method, &(path("/r/1"), path(S), "", o)).await,
            "SelectDevices" => {
                o.insert("types", Value::from(body as u32));
                call(&w, method, &(path("/r/2"), path(S), "", o)).await
            }
            _ => call(&w, method, &(path("/r/3"), path(S), "", "", o)).await,
        };
        let (code, _): (u32, HashMap<String, OwnedValue>) =
            reply.unwrap().body().deserialize().unwrap();
        assert_eq!(code, 0, "{method}");
    }
    w
}

fn path(s: &str) -> ObjectPath<'_> {
    ObjectPath::try_from(s).unwrap()
}

async fn call<B>(w: &World, method: &str, body: &B) -> zbus::Result<Message>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    common::call(&w.client, RD, method, body).await
}

/// A keysym press or release, sent as libportal sends it.
async fn keysym(w: &World, keysym: u32, down: bool) -> zbus::Result<Message> {
    let opts: HashMap<&str, Value<'_>> = HashMap::new();
    call(
        w,
        "NotifyKeyboardKeysym",
        &(path(S), opts, keysym as i32, u32::from(down)),
    )
    .await
}

fn keysyms(log: &Log) -> Vec<(u32, bool)> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|r| match r {
            Recorded::Input {
                event: InputEvent::KeyboardKeysym { keysym, state },
                ..
            } => Some((*keysym, *state == KeyState::Pressed)),
            _ => None,
        })
        .collect()
}

/// The compositor's view after `got`: what is down. Panics on a press of
/// a key already down or a release of one that is up.
fn down_after(got: &[(u32, bool)]) -> BTreeSet<u32> {
    let mut down = BTreeSet::new();
    for (k, pressed) in got {
        if *pressed {
            assert!(down.insert(*k), "{k:#x} pressed twice: {got:?}");
        } else {
            assert!(down.remove(k), "{k:#x} released while up: {got:?}");
        }
    }
    down
}

async fn status(w: &World) -> SessionStatus {
    let reply = w
        .client
        .call_method(
            None::<&str>,
            STATUS_PATH,
            Some(STATUS_INTERFACE),
            "Status",
            &(),
        )
        .await
        .unwrap();
    let text: String = reply.body().deserialize().unwrap();
    let status: Status = serde_json::from_str(&text).unwrap();
    status.sessions.into_iter().next().unwrap()
}

/// Waits until the stand-in has recorded `n` keysym events.
async fn settle(log: &Log, n: usize) -> Vec<(u32, bool)> {
    for _ in 0..400 {
        let got = keysyms(log);
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    keysyms(log)
}

/// "hello" as P/R pairs of keysyms, then scrambled the way the frontend's
/// worker threads scrambled libportal's calls: a release overtaking its
/// press, a press overtaking the release before it.
#[tokio::test]
async fn a_burst_in_any_order_leaves_nothing_held_and_taps_stay_taps() {
    let w = world(8000, 4000).await;
    let (h, e, l, o) = (0x68, 0x65, 0x6c, 0x6f);
    // Sent: h↓ h↑ e↓ e↑ l↓ l↑ l↓ l↑ o↓ o↑. Arrived:
    let arrived = [
        (h, false), // h's release overtook its press
        (h, true),
        (e, true),
        (l, true), // the first l's press overtook e's release
        (e, false),
        (l, true), // the second l's press overtook the first l's release
        (l, false),
        (l, false),
        (o, false),
        (o, true),
    ];
    for (k, down) in arrived {
        keysym(&w, k, down).await.unwrap();
    }
    let got = settle(&w.log, 10).await;
    assert!(down_after(&got).is_empty(), "stuck: {got:?}");
    // Every tap arrived, as a press then its release.
    let presses: Vec<u32> = got.iter().filter(|(_, d)| *d).map(|(k, _)| *k).collect();
    assert_eq!(presses, vec![h, e, l, l, o], "{got:?}");
    let s = status(&w).await;
    assert_eq!(s.input.early_releases, 2, "{s:?}"); // h, o
    assert_eq!(s.input.overtaken_presses, 1, "{s:?}"); // the second l
    assert_eq!(s.input.repaired, 3);
    assert_eq!(s.input.injected, 10);
    assert!(!s.input.held);
}

/// press, press, release (a client's key repeat) arriving as press,
/// release, press: the late press would stay down; it is released when
/// the window ends, with no further input to trigger it.
#[tokio::test]
async fn a_repeat_overtaken_by_its_release_is_released_after_the_window() {
    let w = world(8000, 4000).await;
    for down in [true, false, true] {
        keysym(&w, 0x61, down).await.unwrap();
    }
    let got = settle(&w.log, 4).await;
    assert_eq!(
        got,
        vec![(0x61, true), (0x61, false), (0x61, true), (0x61, false)],
        "the provisional press is released by the timekeeper"
    );
    let s = status(&w).await;
    assert_eq!(s.input.provisional_releases, 1);
    assert!(!s.input.held);
}

/// A key held for a long time stays held, through the app's key repeat.
#[tokio::test]
async fn a_long_hold_stays_held() {
    let w = world(8000, 4000).await;
    keysym(&w, 0xffe1, true).await.unwrap(); // Shift_L
                                             // The app's key repeat: after 250 ms, every 40 ms.
    for i in 0..5 {
        let gap = if i == 0 { 250 } else { 40 };
        tokio::time::sleep(Duration::from_millis(gap)).await;
        keysym(&w, 0xffe1, true).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(keysyms(&w.log), vec![(0xffe1, true)]);
    assert!(status(&w).await.input.held);
    keysym(&w, 0xffe1, false).await.unwrap();
    let got = settle(&w.log, 2).await;
    assert!(down_after(&got).is_empty());
    assert_eq!(status(&w).await.input.dropped_presses, 5);
}

/// Refusals are counted by kind (and logged); the rate limit's separately.
#[tokio::test]
async fn refusals_and_the_rate_limit_are_counted() {
    // 10 events at once, then 10 a second: the burst below outruns it.
    let w = world(10, 10).await;
    let opts = || -> HashMap<&str, Value<'_>> { HashMap::new() };
    for _ in 0..3 {
        // A keycode out of range, an unknown stream: refused.
        assert!(call(
            &w,
            "NotifyKeyboardKeycode",
            &(path(S), opts(), 0x1000i32, 1u32)
        )
        .await
        .is_err());
        assert!(call(
            &w,
            "NotifyPointerMotionAbsolute",
            &(path(S), opts(), 7u32, 1.0f64, 1.0f64)
        )
        .await
        .is_err());
    }
    // A burst of 10 passes; the rest of 30 are rate limited.
    for _ in 0..30 {
        let _ = call(
            &w,
            "NotifyPointerMotion",
            &(path(S), opts(), 1.0f64, 0.0f64),
        )
        .await;
    }
    let s = status(&w).await;
    assert_eq!(s.input.refused, 6, "{s:?}");
    assert!(s.input.rate_limited >= 15, "{s:?}");
    assert_eq!(s.input.injected + s.input.rate_limited, 30, "{s:?}");
}
