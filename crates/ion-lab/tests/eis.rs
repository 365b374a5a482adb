//! RemoteDesktop.ConnectToEIS end to end: through the real frontend
//! (1.17 and later; 1.16 has no ConnectToEIS, and these tests say so and
//! return), ionChannel's EIS server, the compositor, and the probe client,
//! with the lab's reis client playing Deskflow's part. On a compositor
//! without a virtual pointer (the cosmic-comp stand-in) the session gets
//! the keyboard only, the EIS seat offers only a keyboard, and the tests
//! run their keyboard part and say which pointer part does not run, and
//! why.

mod common;

use std::time::Duration;

use anyhow::{Context, Result};
use common::*;
use ion_lab::client::eis::{Capability, EisClient, Ended};
use ion_lab::client::{RemoteDesktop, BTN_LEFT, BTN_RIGHT, KEY_A, KEY_LEFTSHIFT};
use ion_lab::probe::record::{AxisName, Event};
use ion_lab::testbed::Component;
use reis::ei::connection::DisconnectReason;

const KEY_LEFTCTRL: u32 = 29;

/// Whether the frontend has ConnectToEIS; prints why not.
async fn has_eis(w: &World) -> Result<bool> {
    let version = RemoteDesktop::frontend_version(&w.client).await?;
    if version < 2 {
        println!(
            "skipped: the frontend's RemoteDesktop is version {version}; ConnectToEIS needs 2 (xdg-desktop-portal 1.17+; run on the testing stack)"
        );
    }
    Ok(version >= 2)
}

/// RustDesk's set-up (keyboard, pointer, both outputs), then ConnectToEIS
/// and a client bound to every capability offered. Without a virtual
/// pointer the session has the keyboard only, and so has the EIS seat.
async fn eis_session(
    w: &World,
) -> Result<(RemoteDesktop<'_>, Vec<ion_lab::client::Stream>, EisClient)> {
    let pointer = injectable(&w.testbed) & 2 != 0;
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(3).await?.ok()?;
    rd.select_sources(1, true, 1).await?.ok()?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    let devices = results.as_ref().map_or(0, |r| r.devices);
    anyhow::ensure!(
        devices & 3 == injectable(&w.testbed),
        "granted devices {devices}"
    );
    let mut streams = results.map(|r| r.streams).unwrap_or_default();
    streams.sort_by_key(|s| s.position);
    w.log.wait_capabilities(pointer, true).await?;
    let fd = rd.connect_to_eis().await?;
    let mut eis = EisClient::connect(fd, "ion-lab e2e").await?;
    let pointers =
        Capability::Pointer | Capability::PointerAbsolute | Capability::Button | Capability::Scroll;
    if pointer {
        eis.bind(pointers | Capability::Keyboard).await?;
    } else {
        // Asked for everything, given a keyboard only: no pointer device
        // comes, even after a round trip.
        eis.bind_waiting(pointers | Capability::Keyboard, Capability::Keyboard.into())
            .await?;
        anyhow::ensure!(eis.alive(Duration::from_millis(200)).await, "EIS ended");
        for cap in pointers.iter() {
            anyhow::ensure!(
                !eis.has_device_with(cap),
                "an EIS device with {cap:?} without a pointer: {:?}",
                eis.devices().collect::<Vec<_>>()
            );
        }
    }
    Ok((rd, streams, eis))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eis_pointer_scroll_and_keys_arrive_exactly() -> Result<()> {
    let w = world().await?;
    if !has_eis(&w).await? {
        return w.done();
    }
    let (rd, streams, mut eis) = eis_session(&w).await?;
    let pointer = pointer_runs(
        &w.testbed,
        "EIS pointer, absolute motion, buttons and scrolling (keys only here)",
    );
    let keymap = eis.keymap_text()?.context("the keyboard has a keymap")?;
    assert!(keymap.contains("xkb_keymap"), "{keymap:.80}");
    if pointer {
        eis_pointer_arrives_exactly(&w, &rd, &streams, &mut eis).await?;
    }

    // After ConnectToEIS, Notify* keys are refused (by the frontend, and
    // by us): the first key after them is the EIS client's.
    let mark = w.log.mark()?;
    let _ = rd.keycode(KEY_A, true).await;
    let _ = rd.keycode(KEY_A, false).await;
    // Keys with the layout: Shift+a is "A", then "a".
    for (key, pressed) in [
        (KEY_LEFTSHIFT, true),
        (KEY_A, true),
        (KEY_A, false),
        (KEY_LEFTSHIFT, false),
        (KEY_A, true),
        (KEY_A, false),
    ] {
        eis.key(key as u32, pressed)?;
    }
    let typed = w
        .log
        .wait_since(mark, WAIT, "Shift+a then a", |r| {
            let k: Vec<_> = keys(r).into_iter().filter(|k| k.0 == 30 && k.1).collect();
            (k.len() >= 2).then_some(k)
        })
        .await?;
    assert_eq!(typed[0].2, "A", "{typed:?}");
    assert_eq!(typed[1].2, "a", "{typed:?}");
    let since = w.log.records()?;
    let first = keys(since.get(mark..).unwrap_or(&[])).first().cloned();
    assert_eq!(
        first.map(|k| (k.0, k.1)),
        Some((KEY_LEFTSHIFT as u32, true)),
        "a Notify* key after ConnectToEIS arrived"
    );

    // Leaving with Ctrl (and a button) held: both are released.
    let mark = w.log.mark()?;
    eis.key(KEY_LEFTCTRL, true)?;
    if pointer {
        eis.button(BTN_RIGHT as u32, true)?;
    }
    w.log
        .wait_since(mark, WAIT, "presses", |r| {
            (!keys(r).is_empty() && (!pointer || !buttons(r).is_empty())).then_some(())
        })
        .await?;
    eis.disconnect()?;
    drop(eis);
    w.log
        .wait_since(mark, WAIT, "releases after the EIS client left", |r| {
            let k = keys(r);
            (k.iter().any(|k| k.0 == KEY_LEFTCTRL && !k.1)
                && (!pointer || buttons(r).contains(&(0x111, false))))
            .then_some(())
        })
        .await?;
    assert!(w.testbed.is_running(Component::IonChannel));
    rd.close().await?;
    w.done()
}

/// The pointer part of `eis_pointer_scroll_and_keys_arrive_exactly`.
async fn eis_pointer_arrives_exactly(
    w: &World,
    rd: &RemoteDesktop<'_>,
    streams: &[ion_lab::client::Stream],
    eis: &mut EisClient,
) -> Result<()> {
    // One region per stream, where Start put the stream.
    let regions: Vec<_> = eis
        .regions()
        .into_iter()
        .map(|r| ((r.x as i32, r.y as i32), (r.width as i32, r.height as i32)))
        .collect();
    let announced: Vec<_> = streams
        .iter()
        .map(|s| (s.position.unwrap_or_default(), s.size.unwrap_or_default()))
        .collect();
    assert_eq!(regions, announced);
    assert_eq!(
        regions,
        vec![((0, 0), (1920, 1080)), ((1920, 0), (1280, 720))]
    );

    // After ConnectToEIS, Notify* is refused (by the frontend, and by us).
    assert!(rd.pointer_motion(1.0, 1.0).await.is_err());

    // Relative motion: the first move brings the pointer onto a surface;
    // after that a move arrives as exactly its delta.
    let mark = w.log.mark()?;
    eis.motion(40.0, 30.0)?;
    let first = w
        .log
        .wait_since(mark, WAIT, "first motion", |r| motions(r).last().cloned())
        .await?;
    let mark = w.log.mark()?;
    eis.motion(25.0, -10.5)?;
    let second = w
        .log
        .wait_since(mark, WAIT, "second motion", |r| motions(r).last().cloned())
        .await?;
    assert_eq!(second.0, first.0);
    assert!(
        (second.1 - first.1 - 25.0).abs() < 1e-6,
        "{first:?} → {second:?}"
    );
    assert!(
        (second.2 - first.2 + 10.5).abs() < 1e-6,
        "{first:?} → {second:?}"
    );

    // Absolute motion in the global layout lands on the right output, at
    // the right place (to wl_fixed precision).
    for (x, y, output, ox, oy) in [
        (2560.5f32, 360.25f32, "HEADLESS-2", 640.5, 360.25),
        (100.0, 200.0, "HEADLESS-1", 100.0, 200.0),
        (3199.0, 719.0, "HEADLESS-2", 1279.0, 719.0),
    ] {
        let mark = w.log.mark()?;
        eis.motion_absolute(x, y)?;
        let seen = w
            .log
            .wait_since(mark, WAIT, &format!("absolute {x},{y}"), |r| {
                motions(r).last().cloned()
            })
            .await?;
        assert_eq!(seen.0, output, "({x}, {y})");
        assert!(
            (seen.1 - ox).abs() < 1.0 / 256.0 + 1e-9 && (seen.2 - oy).abs() < 1.0 / 256.0 + 1e-9,
            "({x}, {y}) arrived at {seen:?}"
        );
    }

    let mark = w.log.mark()?;
    eis.button(BTN_LEFT as u32, true)?;
    eis.button(BTN_LEFT as u32, false)?;
    eis.button(BTN_RIGHT as u32, true)?;
    eis.button(BTN_RIGHT as u32, false)?;
    let seen = w
        .log
        .wait_since(mark, WAIT, "four buttons", |r| {
            let b = buttons(r);
            (b.len() >= 4).then_some(b)
        })
        .await?;
    assert_eq!(
        seen,
        vec![(0x110, true), (0x110, false), (0x111, true), (0x111, false)]
    );

    // Smooth scrolling, then its end.
    let mark = w.log.mark()?;
    eis.scroll(0.0, 12.5)?;
    eis.scroll_stop()?;
    let value = w
        .log
        .wait_since(mark, WAIT, "axis and axis_stop", |r| {
            let v = r.iter().find_map(|r| match r.event {
                Event::Axis {
                    axis: AxisName::Vertical,
                    value,
                    ..
                } => Some(value),
                _ => None,
            })?;
            r.iter()
                .any(|r| {
                    matches!(
                        r.event,
                        Event::AxisStop {
                            axis: AxisName::Vertical,
                            ..
                        }
                    )
                })
                .then_some(v)
        })
        .await?;
    assert!((value - 12.5).abs() < 1e-6, "axis value {value}");

    // Wheel clicks in 120ths: two down, then two halves make one left.
    let mark = w.log.mark()?;
    eis.scroll_discrete(0, 240)?;
    eis.scroll_discrete(-60, 0)?;
    eis.scroll_discrete(-60, 0)?;
    let steps = w
        .log
        .wait_since(mark, WAIT, "two discrete scrolls", |r| {
            let d = scrolls(r);
            (d.len() >= 2).then_some(d)
        })
        .await?;
    assert_eq!(
        steps,
        vec![(AxisName::Vertical, 2), (AxisName::Horizontal, -1)]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eis_abuse_ends_the_connection_not_the_daemon() -> Result<()> {
    let w = world().await?;
    if !has_eis(&w).await? {
        return w.done();
    }
    // Out of every region (without a pointer: a key out of range), with
    // Shift held: the connection ends with "invalid value", Shift is
    // released, nothing else arrives.
    let pointer = pointer_runs(
        &w.testbed,
        "the out-of-region motion (a key out of range instead)",
    );
    let (_rd1, _, mut first) = eis_session(&w).await?;
    let mark = w.log.mark()?;
    first.key(KEY_LEFTSHIFT as u32, true)?;
    w.log
        .wait_since(mark, WAIT, "shift press", |r| {
            (!keys(r).is_empty()).then_some(())
        })
        .await?;
    let mark = w.log.mark()?;
    if pointer {
        first.motion_absolute(2000.0, 900.0)?;
    } else {
        first.key(0x1000, true)?;
    }
    match first.ended(WAIT).await? {
        Ended::Disconnected { reason, .. } => assert_eq!(reason, DisconnectReason::Value),
        other => panic!("out of region: {other:?}"),
    }
    w.log
        .wait_since(mark, WAIT, "shift released", |r| {
            keys(r).iter().any(|k| k.0 == 42 && !k.1).then_some(())
        })
        .await?;

    // Garbage on a second session's socket.
    let (_rd2, _, mut second) = eis_session(&w).await?;
    second.write_raw(&[0xff; 64])?;
    let ended = second.ended(WAIT).await?;
    assert!(
        matches!(
            ended,
            Ended::Disconnected {
                reason: DisconnectReason::Protocol,
                ..
            } | Ended::Closed(_)
        ),
        "{ended:?}"
    );

    // A third session's client still gets its input through, and the
    // motion (or key press) it sends is the first since the abuse: nothing
    // the others sent was injected.
    let (rd3, _, mut third) = eis_session(&w).await?;
    if pointer {
        third.motion_absolute(500.0, 400.0)?;
        let seen = w
            .log
            .wait_since(mark, WAIT, "the third client's motion", |r| {
                motions(r).first().cloned()
            })
            .await?;
        assert_eq!(
            (seen.0.as_str(), seen.1, seen.2),
            ("HEADLESS-1", 500.0, 400.0)
        );
    } else {
        third.key(KEY_A as u32, true)?;
        third.key(KEY_A as u32, false)?;
        let first_press = w
            .log
            .wait_since(mark, WAIT, "the third client's key", |r| {
                keys(r).into_iter().find(|k| k.1)
            })
            .await?;
        assert_eq!(first_press.0, 30, "{first_press:?}");
    }
    assert!(third.alive(Duration::from_millis(200)).await);
    assert!(w.testbed.is_running(Component::IonChannel));

    // Closing the session closes its EIS connection.
    rd3.close().await?;
    match third.ended(WAIT).await? {
        Ended::Disconnected { reason, .. } => {
            assert_eq!(reason, DisconnectReason::Disconnected)
        }
        other => panic!("session close: {other:?}"),
    }
    w.done()
}
