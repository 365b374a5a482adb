//! ConnectToEIS in-process: a peer-to-peer connection plays the frontend,
//! the recording stand-in plays the Wayland thread (with two outputs, so
//! sessions get streams), and the lab's reis client plays the application
//! on the socket ConnectToEIS returns. What reaches the stand-in is what
//! the compositor would get.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

mod common;

use common::output;
use ion_core::{Axis, InputEvent, KeyState};
use ion_lab::client::eis::{Capability, EisClient, Ended};
use ion_portal::DESKTOP_PATH;
use ion_wayland::recording::{recording_keymap, recording_with_outputs, Log, Recorded};
use reis::ei::connection::DisconnectReason;
use zbus::message::Message;
use zbus::zvariant::{ObjectPath, OwnedValue, Value};
use zbus::Connection;

const RD: &str = "org.freedesktop.impl.portal.RemoteDesktop";
const SC: &str = "org.freedesktop.impl.portal.ScreenCast";
const WAIT: Duration = Duration::from_secs(5);

const POLICY: &str =
    "[[allow]]\napp_id = \"\"\ndevices = [\"keyboard\", \"pointer\"]\nsources = [\"monitor\"]\n";

struct World {
    client: Connection,
    _server: Connection,
    log: Log,
    _dir: tempfile::TempDir,
}

/// Keyboard, pointer and touchscreen: a daemon that can touch (uinput).
const POLICY_TOUCH: &str = "[[allow]]\napp_id = \"\"\ndevices = [\"keyboard\", \"pointer\", \"touchscreen\"]\nsources = [\"monitor\"]\n";

async fn world() -> World {
    world_with(3).await.0
}

/// A world whose daemon offers `devices` (7: it can touch), and the portal
/// (to tell it what the Wayland thread would).
async fn world_with(devices: u32) -> (World, std::sync::Arc<ion_portal::Portal>) {
    let dir = tempfile::tempdir().unwrap();
    let policy = if devices & 4 != 0 {
        POLICY_TOUCH
    } else {
        POLICY
    };
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    let (handle, log) = recording_with_outputs(vec![
        output(1, "HEADLESS-1", 0, 1920, 1080),
        output(2, "HEADLESS-2", 1920, 1280, 720),
    ]);
    let mut config = common::config(dir.path(), 8000, 4000);
    config.available_devices = ion_core::DeviceTypes::from_bits(devices).unwrap();
    let (client, server, portal) = common::serve_portal(config, handle).await;
    let w = World {
        client,
        _server: server,
        log,
        _dir: dir,
    };
    (w, portal)
}

fn no_opts() -> HashMap<&'static str, Value<'static>> {
    HashMap::new()
}

fn path(s: &str) -> ObjectPath<'_> {
    ObjectPath::try_from(s).unwrap()
}

fn session(name: &str) -> String {
    format!("/org/freedesktop/portal/desktop/session/t/{name}")
}

async fn call<B>(w: &World, iface: &str, method: &str, body: &B) -> zbus::Result<Message>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    w.client
        .call_method(None::<&str>, DESKTOP_PATH, Some(iface), method, body)
        .await
}

async fn response(
    w: &World,
    iface: &str,
    method: &str,
    body: &(impl serde::Serialize + zbus::zvariant::DynamicType),
) -> u32 {
    let (code, _): (u32, HashMap<String, OwnedValue>) = call(w, iface, method, body)
        .await
        .unwrap()
        .body()
        .deserialize()
        .unwrap();
    code
}

async fn create(w: &World, name: &str) {
    create_with(w, name, 3, true).await
}

/// A RemoteDesktop session asking for `devices`, with both outputs as
/// streams when `streams`.
async fn create_with(w: &World, name: &str, devices: u32, streams: bool) {
    let s = session(name);
    let code = response(
        w,
        RD,
        "CreateSession",
        &(path("/r/1"), path(&s), "", no_opts()),
    )
    .await;
    assert_eq!(code, 0);
    let mut o = no_opts();
    o.insert("types", Value::from(devices));
    assert_eq!(
        response(w, RD, "SelectDevices", &(path("/r/2"), path(&s), "", o)).await,
        0
    );
    if !streams {
        return;
    }
    // Both outputs, as RustDesk asks: two streams, two EIS regions.
    let mut o = no_opts();
    o.insert("types", Value::from(1u32));
    o.insert("multiple", Value::from(true));
    assert_eq!(
        response(w, SC, "SelectSources", &(path("/r/3"), path(&s), "", o)).await,
        0
    );
}

async fn start(w: &World, name: &str) {
    let s = session(name);
    assert_eq!(
        response(w, RD, "Start", &(path("/r/4"), path(&s), "", "", no_opts())).await,
        0
    );
}

async fn connect_to_eis(w: &World, name: &str) -> zbus::Result<std::os::fd::OwnedFd> {
    let reply = call(
        w,
        RD,
        "ConnectToEIS",
        &(path(&session(name)), "", no_opts()),
    )
    .await?;
    let fd: zbus::zvariant::OwnedFd = reply.body().deserialize()?;
    Ok(fd.into())
}

/// A started session with an EIS client bound to every capability.
async fn eis_session(w: &World, name: &str) -> EisClient {
    create(w, name).await;
    start(w, name).await;
    let fd = connect_to_eis(w, name).await.unwrap();
    let mut eis = EisClient::connect(fd, "ion-portal test").await.unwrap();
    eis.bind(
        Capability::Pointer
            | Capability::PointerAbsolute
            | Capability::Button
            | Capability::Scroll
            | Capability::Keyboard,
    )
    .await
    .unwrap();
    eis
}

fn error_of(r: zbus::Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(zbus::Error::MethodError(name, msg, _)) => {
            format!("{}: {}", name.as_str(), msg.unwrap_or_default())
        }
        other => panic!("expected a D-Bus error, got {other:?}"),
    }
}

fn recorded(log: &Log) -> Vec<Recorded> {
    log.lock().unwrap().clone()
}

fn inputs(log: &Log) -> Vec<InputEvent> {
    recorded(log)
        .into_iter()
        .filter_map(|r| match r {
            Recorded::Input { event, .. } => Some(event),
            _ => None,
        })
        .collect()
}

/// Waits until the log satisfies `done`.
async fn until(log: &Log, what: &str, done: impl Fn(&[Recorded]) -> bool) {
    for _ in 0..1000 {
        if done(&recorded(log)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{what}: not seen; log: {:#?}", recorded(log));
}

fn session_id(log: &Log) -> u64 {
    recorded(log)
        .iter()
        .find_map(|r| match r {
            Recorded::CreateDevices { session, .. } => Some(*session),
            _ => None,
        })
        .unwrap()
}

#[tokio::test]
async fn connect_to_eis_is_checked() {
    let w = world().await;
    let version: OwnedValue = w
        .client
        .call_method(
            None::<&str>,
            DESKTOP_PATH,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &(RD, "version"),
        )
        .await
        .unwrap()
        .body()
        .deserialize()
        .unwrap();
    assert_eq!(u32::try_from(version).unwrap(), 2);

    create(&w, "a").await;
    let before = error_of(connect_to_eis(&w, "a").await);
    assert!(
        before.contains("Failed") && before.contains("started"),
        "{before}"
    );
    start(&w, "a").await;

    let a = session("a");
    let cases = [
        ("no such session", path("/no/such"), "", "NotFound"),
        ("the root path", path("/"), "", "InvalidArgument"),
        ("another app's id", path(&a), "org.other.App", "NotAllowed"),
    ];
    for (what, s, app, want) in cases {
        let err = error_of(call(&w, RD, "ConnectToEIS", &(s.clone(), app, no_opts())).await);
        assert!(err.contains(want), "{what}: {err}");
    }
    // A ScreenCast session has no input to connect.
    let sc = session("sc");
    assert_eq!(
        response(
            &w,
            SC,
            "CreateSession",
            &(path("/r/9"), path(&sc), "", no_opts())
        )
        .await,
        0
    );
    let err = error_of(connect_to_eis(&w, "sc").await);
    assert!(err.contains("NotAllowed"), "ScreenCast session: {err}");
    // Wrong argument types are refused by the dispatch.
    let err = error_of(
        call(
            &w,
            RD,
            "ConnectToEIS",
            &(path(&session("a")), 7u32, no_opts()),
        )
        .await,
    );
    assert!(
        err.contains("Signature") || err.contains("InvalidArgs"),
        "{err}"
    );

    let fd = connect_to_eis(&w, "a").await.unwrap();
    let twice = error_of(connect_to_eis(&w, "a").await);
    assert!(
        twice.contains("Failed") && twice.contains("once"),
        "{twice}"
    );
    // Unknown options are ignored, as the specification asks; the call
    // still counts as the second one.
    let mut o = no_opts();
    o.insert("future-option", Value::from(1u32));
    let err = error_of(call(&w, RD, "ConnectToEIS", &(path(&session("a")), "", o)).await);
    assert!(err.contains("once"), "{err}");
    drop(fd);
    assert!(inputs(&w.log).is_empty());
}

#[tokio::test]
async fn after_connect_to_eis_notify_is_refused() {
    let w = world().await;
    create(&w, "a").await;
    start(&w, "a").await;
    let s = path(&session("a")).to_owned();
    call(
        &w,
        RD,
        "NotifyPointerMotion",
        &(s.clone(), no_opts(), 1.0f64, 1.0f64),
    )
    .await
    .unwrap();
    let _fd = connect_to_eis(&w, "a").await.unwrap();
    for (method, result) in [
        (
            "NotifyPointerMotion",
            call(
                &w,
                RD,
                "NotifyPointerMotion",
                &(s.clone(), no_opts(), 1.0f64, 1.0f64),
            )
            .await,
        ),
        (
            "NotifyKeyboardKeycode",
            call(
                &w,
                RD,
                "NotifyKeyboardKeycode",
                &(s.clone(), no_opts(), 30i32, 1u32),
            )
            .await,
        ),
        (
            "NotifyPointerMotionAbsolute",
            call(
                &w,
                RD,
                "NotifyPointerMotionAbsolute",
                &(s.clone(), no_opts(), 40u32, 1.0f64, 1.0f64),
            )
            .await,
        ),
    ] {
        let err = error_of(result);
        assert!(
            err.contains("Failed") && err.contains("EIS"),
            "{method}: {err}"
        );
    }
    assert_eq!(inputs(&w.log).len(), 1, "only the call before ConnectToEIS");
}

#[tokio::test]
async fn eis_events_arrive_exactly_and_in_order() {
    let w = world().await;
    let mut eis = eis_session(&w, "a").await;

    // What the session offers: a region per stream, named as Start named
    // the streams, and the virtual keyboard's keymap.
    let regions: Vec<_> = eis
        .regions()
        .into_iter()
        .map(|r| (r.mapping_id, r.x, r.y, r.width, r.height))
        .collect();
    assert_eq!(
        regions,
        vec![
            (Some("ionchannel-HEADLESS-1".into()), 0, 0, 1920, 1080),
            (Some("ionchannel-HEADLESS-2".into()), 1920, 0, 1280, 720),
        ]
    );
    assert_eq!(eis.keymap_text().unwrap(), recording_keymap());
    assert!(
        !eis.devices().any(|d| d.has_capability(Capability::Touch)),
        "no touch path, no touch device"
    );

    eis.motion(1.5, -2.0).unwrap();
    eis.motion_absolute(1930.0, 20.0).unwrap();
    eis.motion_absolute(0.0, 1079.5).unwrap();
    eis.button(0x110, true).unwrap();
    eis.button(0x110, false).unwrap();
    eis.scroll(0.0, 12.5).unwrap();
    eis.scroll(-3.0, 0.0).unwrap();
    eis.scroll_stop().unwrap();
    eis.scroll_discrete(0, 240).unwrap();
    // Half clicks add up to one.
    eis.scroll_discrete(-60, 0).unwrap();
    eis.scroll_discrete(-60, 0).unwrap();
    eis.key(42, true).unwrap();
    eis.key(30, true).unwrap();
    eis.key(30, false).unwrap();
    eis.key(42, false).unwrap();
    eis.stop_emulating().unwrap();

    let want = vec![
        InputEvent::PointerMotion { dx: 1.5, dy: -2.0 },
        InputEvent::PointerMotionAbsolute { x: 1930.0, y: 20.0 },
        InputEvent::PointerMotionAbsolute { x: 0.0, y: 1079.5 },
        InputEvent::PointerButton {
            button: 0x110,
            state: KeyState::Pressed,
        },
        InputEvent::PointerButton {
            button: 0x110,
            state: KeyState::Released,
        },
        InputEvent::PointerAxis {
            dx: 0.0,
            dy: 12.5,
            finish: false,
        },
        InputEvent::PointerAxis {
            dx: -3.0,
            dy: 0.0,
            finish: false,
        },
        InputEvent::PointerAxis {
            dx: 0.0,
            dy: 0.0,
            finish: true,
        },
        InputEvent::PointerAxisDiscrete {
            axis: Axis::Vertical,
            steps: 2,
        },
        InputEvent::PointerAxisDiscrete {
            axis: Axis::Horizontal,
            steps: -1,
        },
        InputEvent::KeyboardKeycode {
            keycode: 42,
            state: KeyState::Pressed,
        },
        InputEvent::KeyboardKeycode {
            keycode: 30,
            state: KeyState::Pressed,
        },
        InputEvent::KeyboardKeycode {
            keycode: 30,
            state: KeyState::Released,
        },
        InputEvent::KeyboardKeycode {
            keycode: 42,
            state: KeyState::Released,
        },
    ];
    let n = want.len();
    until(&w.log, "every event", |r| {
        r.iter()
            .filter(|e| matches!(e, Recorded::Input { .. }))
            .count()
            >= n
    })
    .await;
    assert!(eis.alive(Duration::from_millis(100)).await);
    assert_eq!(inputs(&w.log), want);
    let id = session_id(&w.log);
    assert!(recorded(&w.log)
        .iter()
        .all(|r| !matches!(r, Recorded::Input { session, .. } if *session != id)));
}

/// Ends with `reason`, nothing injected, the session's input released, and
/// the daemon still serving: a second session's EIS works.
async fn abuse_ends_only_that_connection(
    w: &World,
    mut eis: EisClient,
    abuse: impl FnOnce(&mut EisClient),
    reasons: &[DisconnectReason],
) {
    let before = inputs(&w.log).len();
    abuse(&mut eis);
    let ended = eis.ended(WAIT).await.unwrap();
    match &ended {
        Ended::Disconnected { reason, .. } => {
            assert!(
                reasons.contains(reason),
                "{ended:?}, want one of {reasons:?}"
            )
        }
        Ended::Closed(_) => assert!(reasons.is_empty(), "{ended:?}"),
    }
    let id = session_id(&w.log);
    until(&w.log, "ReleaseInput", |r| {
        r.iter()
            .any(|e| matches!(e, Recorded::ReleaseInput { session } if *session == id))
    })
    .await;
    assert_eq!(inputs(&w.log).len(), before, "nothing injected");
    // Still no Notify* on that session, and no second EIS.
    let err = error_of(
        call(
            w,
            RD,
            "NotifyPointerMotion",
            &(path(&session("a")), no_opts(), 1.0f64, 1.0f64),
        )
        .await,
    );
    assert!(err.contains("EIS"), "{err}");
    assert!(error_of(connect_to_eis(w, "a").await).contains("once"));
    // The daemon goes on: another session, another connection.
    let mut other = eis_session(w, "b").await;
    other.motion(2.0, 3.0).unwrap();
    until(&w.log, "the other session's motion", |r| {
        r.iter().any(|e| {
            matches!(e, Recorded::Input { event: InputEvent::PointerMotion { dx, dy }, .. } if *dx == 2.0 && *dy == 3.0)
        })
    })
    .await;
    assert!(other.alive(Duration::from_millis(100)).await);
}

#[tokio::test]
async fn absolute_outside_the_regions_ends_the_connection() {
    let w = world().await;
    let eis = eis_session(&w, "a").await;
    abuse_ends_only_that_connection(
        &w,
        eis,
        |eis| {
            // Right of both outputs (they span x 0..3200).
            eis.motion_absolute(3200.0, 10.0).unwrap();
        },
        &[DisconnectReason::Value],
    )
    .await;
}

#[tokio::test]
async fn absolute_below_a_smaller_output_ends_the_connection() {
    // Inside the layout's bounding box, in no output: HEADLESS-2 is 720
    // high.
    let w = world().await;
    let eis = eis_session(&w, "a").await;
    abuse_ends_only_that_connection(
        &w,
        eis,
        |eis| eis.motion_absolute(2000.0, 900.0).unwrap(),
        &[DisconnectReason::Value],
    )
    .await;
}

#[tokio::test]
async fn garbage_on_the_socket_ends_the_connection() {
    let w = world().await;
    let eis = eis_session(&w, "a").await;
    abuse_ends_only_that_connection(
        &w,
        eis,
        |eis| {
            // A header claiming a 4-byte message: shorter than a header.
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&0xff00_0000_0000_0001u64.to_ne_bytes());
            bytes.extend_from_slice(&4u32.to_ne_bytes());
            bytes.extend_from_slice(&0u32.to_ne_bytes());
            bytes.extend_from_slice(b"\xde\xad\xbe\xef garbage");
            eis.write_raw(&bytes).unwrap();
        },
        &[DisconnectReason::Protocol],
    )
    .await;
}

#[tokio::test]
async fn a_request_for_an_unknown_object_ends_the_connection() {
    let w = world().await;
    let eis = eis_session(&w, "a").await;
    abuse_ends_only_that_connection(
        &w,
        eis,
        |eis| {
            // ei_pointer.motion_relative (opcode 1) on an object id the
            // server never created: a device the client was not given.
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&0xff00_0000_0000_7777u64.to_ne_bytes());
            bytes.extend_from_slice(&24u32.to_ne_bytes());
            bytes.extend_from_slice(&1u32.to_ne_bytes());
            bytes.extend_from_slice(&1.0f32.to_ne_bytes());
            bytes.extend_from_slice(&1.0f32.to_ne_bytes());
            eis.write_raw(&bytes).unwrap();
        },
        &[DisconnectReason::Protocol],
    )
    .await;
}

#[tokio::test]
async fn input_outside_emulation_ends_the_connection() {
    let w = world().await;
    let eis = eis_session(&w, "a").await;
    abuse_ends_only_that_connection(
        &w,
        eis,
        |eis| eis.motion_unannounced(1.0, 1.0).unwrap(),
        &[DisconnectReason::Protocol],
    )
    .await;
}

#[tokio::test]
async fn a_receiver_client_is_refused() {
    let w = world().await;
    create(&w, "a").await;
    start(&w, "a").await;
    let fd = connect_to_eis(&w, "a").await.unwrap();
    let context = reis::ei::Context::new(std::os::unix::net::UnixStream::from(fd)).unwrap();
    let (_conn, mut events) = context
        .handshake_tokio("receiver", reis::ei::handshake::ContextType::Receiver)
        .await
        .unwrap();
    use futures_util::StreamExt;
    let first = tokio::time::timeout(WAIT, events.next()).await.unwrap();
    match first {
        Some(Ok(reis::event::EiEvent::Disconnected(d))) => {
            assert_eq!(d.reason, DisconnectReason::Mode)
        }
        other => panic!("expected a Mode disconnection, got {other:?}"),
    }
}

#[tokio::test]
async fn ending_the_connection_releases_held_keys_and_buttons() {
    for how in ["disconnect", "close the socket"] {
        let w = world().await;
        let mut eis = eis_session(&w, "a").await;
        eis.key(29, true).unwrap();
        eis.button(0x111, true).unwrap();
        until(&w.log, "the presses", |r| {
            r.iter()
                .filter(|e| matches!(e, Recorded::Input { .. }))
                .count()
                >= 2
        })
        .await;
        if how == "disconnect" {
            eis.disconnect().unwrap();
        }
        drop(eis);
        let id = session_id(&w.log);
        until(&w.log, how, |r| {
            r.iter()
                .any(|e| matches!(e, Recorded::ReleaseInput { session } if *session == id))
        })
        .await;
        // The release comes after the last event.
        let log = recorded(&w.log);
        let release = log
            .iter()
            .position(|e| matches!(e, Recorded::ReleaseInput { .. }))
            .unwrap();
        let last_input = log
            .iter()
            .rposition(|e| matches!(e, Recorded::Input { .. }))
            .unwrap();
        assert!(release > last_input, "{how}: {log:#?}");
        // The session itself goes on (its streams may be in use).
        assert!(!log
            .iter()
            .any(|e| matches!(e, Recorded::DestroyDevices { .. })));
    }
}

#[tokio::test]
async fn closing_the_session_closes_the_connection_and_releases() {
    let w = world().await;
    let mut eis = eis_session(&w, "a").await;
    eis.key(42, true).unwrap();
    until(&w.log, "the press", |r| {
        r.iter().any(|e| matches!(e, Recorded::Input { .. }))
    })
    .await;
    w.client
        .call_method(
            None::<&str>,
            path(&session("a")),
            Some("org.freedesktop.impl.portal.Session"),
            "Close",
            &(),
        )
        .await
        .unwrap();
    let ended = eis.ended(WAIT).await.unwrap();
    assert_eq!(
        ended,
        Ended::Disconnected {
            reason: DisconnectReason::Disconnected,
            explanation: None
        }
    );
    let log = recorded(&w.log);
    let destroy = log
        .iter()
        .position(|e| matches!(e, Recorded::DestroyDevices { .. }))
        .expect("devices destroyed, releasing what they hold");
    let last_input = log
        .iter()
        .rposition(|e| matches!(e, Recorded::Input { .. }))
        .unwrap();
    assert!(destroy > last_input);
    // Nothing after the close reaches the compositor side.
    let _ = eis.key(42, false);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(inputs(&w.log).len(), 1);
}

/// Deskflow's shape: RemoteDesktop with keyboard and pointer, no
/// ScreenCast sources, ConnectToEIS. The absolute pointer then has one
/// region per output of the layout (no mapping ids), positions stay
/// global, and the regions follow the outputs when they change.
#[tokio::test]
async fn without_streams_the_absolute_pointer_covers_the_outputs_and_follows_them() {
    let (w, portal) = world_with(3).await;
    let log = w.log.clone();
    create_with(&w, "df", 3, false).await;
    start(&w, "df").await;
    let fd = connect_to_eis(&w, "df").await.unwrap();
    let mut eis = EisClient::connect(fd, "deskflow-like").await.unwrap();
    eis.bind(Capability::Pointer | Capability::PointerAbsolute | Capability::Button)
        .await
        .unwrap();
    let regions = |eis: &EisClient| -> Vec<(u32, u32, u32, u32, Option<String>)> {
        eis.regions()
            .into_iter()
            .map(|r| (r.x, r.y, r.width, r.height, r.mapping_id))
            .collect()
    };
    assert_eq!(
        regions(&eis),
        vec![(0, 0, 1920, 1080, None), (1920, 0, 1280, 720, None)]
    );
    eis.motion_absolute(1930.0, 700.0).unwrap();
    eis.motion_absolute(5.5, 1079.0).unwrap();
    until(&log, "both absolute motions", |r| {
        r.iter()
            .filter(|r| {
                matches!(
                    r,
                    Recorded::Input {
                        event: InputEvent::PointerMotionAbsolute { .. },
                        ..
                    }
                )
            })
            .count()
            >= 2
    })
    .await;
    let abs: Vec<InputEvent> = inputs(&log)
        .into_iter()
        .filter(|e| matches!(e, InputEvent::PointerMotionAbsolute { .. }))
        .collect();
    assert_eq!(
        abs,
        vec![
            InputEvent::PointerMotionAbsolute {
                x: 1930.0,
                y: 700.0
            },
            InputEvent::PointerMotionAbsolute { x: 5.5, y: 1079.0 },
        ]
    );

    // HEADLESS-2 becomes 2560x1440 and moves below HEADLESS-1.
    let mut bigger = output(2, "HEADLESS-2", 0, 2560, 1440);
    bigger.logical.y = 1080;
    portal.outputs_changed(&[output(1, "HEADLESS-1", 0, 1920, 1080), bigger]);
    let want = vec![(0, 0, 1920, 1080, None), (0, 1080, 2560, 1440, None)];
    eis.wait_for(WAIT, |e| regions(e) == want).await.unwrap();
    eis.motion_absolute(2500.0, 2000.0).unwrap();
    until(&log, "motion on the moved output", |r| {
        r.iter().any(|r| matches!(r, Recorded::Input { event: InputEvent::PointerMotionAbsolute { x, .. }, .. } if *x == 2500.0))
    })
    .await;
    // The old place of HEADLESS-2 is no output any more: that motion is
    // dropped, the connection stays.
    assert!(eis.alive(Duration::from_millis(100)).await);
}

/// An EIS client bound to every capability of a session asking for
/// keyboard, pointer and touch (with both outputs as streams, or none).
async fn touch_session(w: &World, name: &str, streams: bool) -> EisClient {
    create_with(w, name, 7, streams).await;
    start(w, name).await;
    let fd = connect_to_eis(w, name).await.unwrap();
    let mut eis = EisClient::connect(fd, "touch test").await.unwrap();
    eis.bind(
        Capability::Pointer
            | Capability::PointerAbsolute
            | Capability::Button
            | Capability::Keyboard
            | Capability::Touch,
    )
    .await
    .unwrap();
    eis
}

/// The resumed touchscreen's regions.
fn touch_regions(eis: &EisClient) -> Vec<(u32, u32, u32, u32, Option<String>)> {
    eis.regions_of(Capability::Touch)
        .into_iter()
        .map(|r| (r.x, r.y, r.width, r.height, r.mapping_id))
        .collect()
}

fn touch_events(log: &Log) -> Vec<InputEvent> {
    inputs(log)
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                InputEvent::TouchDown { .. }
                    | InputEvent::TouchMotion { .. }
                    | InputEvent::TouchUp { .. }
            )
        })
        .collect()
}

/// A daemon that can touch offers an EIS touchscreen with the streams'
/// regions; the client's touch ids (libei counts them up for ever) become
/// the lowest free slots; up and cancel both lift.
#[tokio::test]
async fn eis_touches_become_contacts_in_the_lowest_free_slots() {
    let (w, _portal) = world_with(7).await;
    let mut eis = touch_session(&w, "t", true).await;
    assert_eq!(
        touch_regions(&eis),
        vec![
            (0, 0, 1920, 1080, Some("ionchannel-HEADLESS-1".into())),
            (1920, 0, 1280, 720, Some("ionchannel-HEADLESS-2".into())),
        ]
    );
    eis.touch_down(1000, 1930.0, 20.5).unwrap();
    eis.touch_down(1001, 10.0, 1079.5).unwrap();
    eis.touch_motion(1001, 15.25, 1000.0).unwrap();
    eis.touch_up(1000).unwrap();
    // Slot 0 is free again; this contact moves across to the other
    // output.
    eis.touch_down(1002, 3000.0, 700.0).unwrap();
    eis.touch_motion(1002, 100.0, 100.0).unwrap();
    eis.touch_cancel(1002).unwrap();
    eis.touch_up(1001).unwrap();
    until(&w.log, "three lifts", |_| {
        touch_events(&w.log)
            .iter()
            .filter(|e| matches!(e, InputEvent::TouchUp { .. }))
            .count()
            >= 3
    })
    .await;
    use InputEvent::{TouchDown, TouchMotion, TouchUp};
    assert_eq!(
        touch_events(&w.log),
        vec![
            TouchDown {
                slot: 0,
                x: 1930.0,
                y: 20.5
            },
            TouchDown {
                slot: 1,
                x: 10.0,
                y: 1079.5
            },
            TouchMotion {
                slot: 1,
                x: 15.25,
                y: 1000.0
            },
            TouchUp { slot: 0 },
            TouchDown {
                slot: 0,
                x: 3000.0,
                y: 700.0
            },
            TouchMotion {
                slot: 0,
                x: 100.0,
                y: 100.0
            },
            TouchUp { slot: 0 },
            TouchUp { slot: 1 },
        ]
    );
    // A contact never down: reis drops its motion and up, as libeis
    // does; the connection goes on.
    eis.touch_motion(5, 10.0, 10.0).unwrap();
    eis.touch_up(5).unwrap();
    assert!(eis.alive(Duration::from_millis(100)).await);
    assert_eq!(touch_events(&w.log).len(), 8);
}

/// Without streams (Deskflow's shape) the touchscreen's regions are the
/// outputs and positions stay global.
#[tokio::test]
async fn without_streams_eis_touches_cover_the_outputs() {
    let (w, portal) = world_with(7).await;
    let mut eis = touch_session(&w, "t", false).await;
    assert_eq!(
        touch_regions(&eis),
        vec![(0, 0, 1920, 1080, None), (1920, 0, 1280, 720, None)]
    );
    eis.touch_down(7, 1930.0, 700.0).unwrap();
    eis.touch_motion(7, 5.5, 1079.0).unwrap();
    until(&w.log, "down and motion", |_| {
        touch_events(&w.log).len() >= 2
    })
    .await;
    assert_eq!(
        touch_events(&w.log),
        vec![
            InputEvent::TouchDown {
                slot: 0,
                x: 1930.0,
                y: 700.0
            },
            InputEvent::TouchMotion {
                slot: 0,
                x: 5.5,
                y: 1079.0
            },
        ]
    );
    // The outputs change: the touchscreen is made anew with the new
    // regions, and the contact the old one held is released.
    let id = session_id(&w.log);
    let mut below = output(2, "HEADLESS-2", 0, 1280, 720);
    below.logical.y = 1080;
    portal.outputs_changed(&[output(1, "HEADLESS-1", 0, 1920, 1080), below]);
    let want = vec![(0, 0, 1920, 1080, None), (0, 1080, 1280, 720, None)];
    eis.wait_for(WAIT, |e| touch_regions(e) == want)
        .await
        .unwrap();
    until(&w.log, "the old contact released", |r| {
        r.iter()
            .any(|e| matches!(e, Recorded::ReleaseInput { session } if *session == id))
    })
    .await;
    eis.touch_down(8, 100.0, 1500.0).unwrap();
    until(&w.log, "a contact on the moved output", |_| {
        touch_events(&w.log).len() >= 3
    })
    .await;
    assert_eq!(
        touch_events(&w.log)[2],
        InputEvent::TouchDown {
            slot: 0,
            x: 100.0,
            y: 1500.0
        }
    );
}

/// A daemon that cannot touch offers no touchscreen, even to a session
/// asking for one.
#[tokio::test]
async fn without_a_touch_path_there_is_no_eis_touchscreen() {
    let (w, _portal) = world_with(3).await;
    create_with(&w, "t", 7, true).await;
    start(&w, "t").await;
    let fd = connect_to_eis(&w, "t").await.unwrap();
    let mut eis = EisClient::connect(fd, "touch test").await.unwrap();
    eis.bind_waiting(
        Capability::Pointer | Capability::Keyboard | Capability::Touch,
        Capability::Pointer | Capability::Keyboard,
    )
    .await
    .unwrap();
    assert!(eis.alive(Duration::from_millis(100)).await);
    assert!(!eis.has_device_with(Capability::Touch));
}

#[tokio::test]
async fn touch_abuse_ends_the_connection() {
    type Abuse = fn(&mut EisClient);
    let cases: [(&str, Abuse); 3] = [
        ("a contact outside the regions", |e| {
            e.touch_down(1, 2000.0, 900.0).unwrap()
        }),
        ("the same id down twice", |e| {
            e.touch_down(1, 10.0, 10.0).unwrap();
            e.touch_down(1, 20.0, 20.0).unwrap();
        }),
        ("a contact moved off every output", |e| {
            e.touch_down(1, 10.0, 10.0).unwrap();
            e.touch_motion(1, 10.0, -1.0).unwrap();
        }),
    ];
    for (what, abuse) in cases {
        let (w, _portal) = world_with(7).await;
        let mut eis = touch_session(&w, "a", true).await;
        abuse(&mut eis);
        // reis itself refuses a touch id down twice (a protocol error);
        // the rest is ours (a value error).
        let ended = eis.ended(WAIT).await.unwrap();
        assert!(
            matches!(
                ended,
                Ended::Disconnected {
                    reason: DisconnectReason::Value | DisconnectReason::Protocol,
                    ..
                }
            ),
            "{what}: {ended:?}"
        );
        println!("{what}: {ended:?}");
        let id = session_id(&w.log);
        until(&w.log, what, |r| {
            r.iter()
                .any(|e| matches!(e, Recorded::ReleaseInput { session } if *session == id))
        })
        .await;
        // A contact that was down is lifted by that release; nothing after
        // the abuse got through.
        let downs = touch_events(&w.log)
            .iter()
            .filter(|e| matches!(e, InputEvent::TouchDown { .. }))
            .count();
        assert!(downs <= 1, "{what}: {:?}", touch_events(&w.log));
    }
}
