//! RemoteDesktop end to end on a headless compositor, through the real
//! xdg-desktop-portal frontend, as RustDesk drives it; the probe client
//! reports what really arrived.

mod common;

use std::time::Duration;

use anyhow::{Context, Result};
use common::*;
use ion_lab::client::{PortalClient, RemoteDesktop, BTN_LEFT, BTN_RIGHT, KEY_A, KEY_LEFTSHIFT};
use ion_lab::probe::record::{AxisName, Event};
use ion_lab::testbed::Component;

/// AvailableDeviceTypes, read through the frontend, is what ionChannel can
/// really inject here: keyboard and pointer where the compositor has a
/// virtual pointer, the keyboard only where it has none (the cosmic-comp
/// stand-in, as cosmic-comp) — and ionChannel's log says why at start. A
/// session that asks for both then gets the keyboard, and keys arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn available_device_types_are_what_the_compositor_can_inject() -> Result<()> {
    let w = world().await?;
    let available = RemoteDesktop::available_device_types(&w.client).await?;
    let version = w.testbed.compositor_version()?.short();
    println!("{version}: AvailableDeviceTypes = {available}");
    assert_eq!(available, injectable(&w.testbed), "on {version}");
    let log = std::fs::read_to_string(w.testbed.log_path(Component::IonChannel))?;
    let why = "pointer not available on this compositor: it offers no \
               zwlr_virtual_pointer_manager_v1";
    if available & 2 == 0 {
        assert_eq!(available, 1, "keyboard only on {version}");
        assert!(log.contains(why), "ionChannel's log must say why:\n{log}");
    } else {
        assert!(!log.contains("not available on this compositor"), "{log}");
    }
    // `started` checks that exactly the injectable part is granted.
    let rd = started(&w, 7).await?;
    let mark = w.log.mark()?;
    rd.keycode(KEY_A, true).await?;
    rd.keycode(KEY_A, false).await?;
    w.log
        .wait_since(mark, WAIT, "a key", |r| (keys(r).len() >= 2).then_some(()))
        .await?;
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_motion_buttons_and_scrolling_arrive() -> Result<()> {
    let w = world().await?;
    if !pointer_runs(&w.testbed, "relative motion, buttons and scrolling") {
        return w.done();
    }
    let rd = started(&w, 7).await?;

    // Relative motion: the first move brings the pointer onto a surface;
    // after that each move must show up as exactly its delta.
    let mark = w.log.mark()?;
    rd.pointer_motion(40.0, 30.0).await?;
    let first = w
        .log
        .wait_since(mark, WAIT, "first motion", |r| motions(r).last().cloned())
        .await?;
    let mark = w.log.mark()?;
    rd.pointer_motion(25.0, -10.5).await?;
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

    let mark = w.log.mark()?;
    rd.pointer_button(BTN_LEFT, true).await?;
    rd.pointer_button(BTN_LEFT, false).await?;
    rd.pointer_button(BTN_RIGHT, true).await?;
    rd.pointer_button(BTN_RIGHT, false).await?;
    let seen = w
        .log
        .wait_since(mark, WAIT, "four button events", |r| {
            let b = buttons(r);
            (b.len() >= 4).then_some(b)
        })
        .await?;
    assert_eq!(
        seen,
        vec![(0x110, true), (0x110, false), (0x111, true), (0x111, false)]
    );

    // Smooth scroll with finish: axis then axis_stop.
    let mark = w.log.mark()?;
    rd.pointer_axis(0.0, 12.5, true).await?;
    let (value, stopped) = w
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
            let stop = r.iter().any(|r| {
                matches!(
                    r.event,
                    Event::AxisStop {
                        axis: AxisName::Vertical,
                        ..
                    }
                )
            });
            stop.then_some((v, stop))
        })
        .await?;
    assert!((value - 12.5).abs() < 1e-6, "axis value {value}");
    assert!(stopped);

    // Discrete scroll: two wheel clicks down, one left.
    let mark = w.log.mark()?;
    rd.pointer_axis_discrete(0, 2).await?;
    rd.pointer_axis_discrete(1, -1).await?;
    let steps = w
        .log
        .wait_since(mark, WAIT, "two discrete scrolls", |r| {
            let d: Vec<(AxisName, i32)> = r
                .iter()
                .filter_map(|r| match r.event {
                    Event::AxisDiscrete { axis, discrete } => Some((axis, discrete)),
                    Event::AxisValue120 { axis, value120 } => Some((axis, value120 / 120)),
                    _ => None,
                })
                .collect();
            (d.len() >= 2).then_some(d)
        })
        .await?;
    assert_eq!(
        steps,
        vec![(AxisName::Vertical, 2), (AxisName::Horizontal, -1)]
    );
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycodes_with_modifiers_and_keysyms_on_and_off_the_layout() -> Result<()> {
    let w = world().await?;
    let rd = started(&w, 3).await?;

    let mark = w.log.mark()?;
    rd.keycode(KEY_LEFTSHIFT, true).await?;
    rd.keycode(KEY_A, true).await?;
    rd.keycode(KEY_A, false).await?;
    rd.keycode(KEY_LEFTSHIFT, false).await?;
    rd.keycode(KEY_A, true).await?;
    rd.keycode(KEY_A, false).await?;
    let typed = w
        .log
        .wait_since(mark, WAIT, "Shift+a then a", |r| {
            let k: Vec<_> = keys(r).into_iter().filter(|k| k.0 == 30 && k.1).collect();
            (k.len() >= 2).then_some(k)
        })
        .await?;
    assert_eq!(typed[0].2, "A", "Shift+a must arrive as A: {typed:?}");
    assert!(typed[0].3.iter().any(|m| m == "Shift"));
    assert_eq!(typed[1].2, "a", "Shift must be released: {typed:?}");

    // Keysyms: on the layout ("a", and "A" which needs Shift), off the us
    // layout ("é", "€"), and a Unicode keysym (U+263A).
    for (keysym, text) in [
        (0x61, "a"),
        (0x41, "A"),
        (0xe9, "é"),
        (0x20ac, "€"),
        (0x0100_263a, "☺"),
    ] {
        let mark = w.log.mark()?;
        rd.keysym(keysym, true).await?;
        rd.keysym(keysym, false).await?;
        let got = w
            .log
            .wait_since(mark, WAIT, &format!("keysym {keysym:#x}"), |r| {
                let k = keys(r);
                let press = k.iter().find(|k| k.1)?.clone();
                k.iter().any(|k| !k.1 && k.0 == press.0).then_some(press)
            })
            .await?;
        assert_eq!(got.2, text, "keysym {keysym:#x}: {got:?}");
        // Whatever modifier the keysym needed is gone afterwards: if the
        // press carried modifiers, a modifiers event after the release
        // clears them.
        if !got.3.is_empty() {
            w.log
                .wait_since(mark, WAIT, &format!("modifiers cleared after {text}"), |r| {
                    let release = r.iter().position(|r| {
                        matches!(&r.event, Event::Key { keycode, state, .. }
                            if *keycode == got.0 && *state == ion_lab::probe::record::PressState::Released)
                    })?;
                    r[release..].iter().find_map(|r| match &r.event {
                        Event::Modifiers { mods, .. } if mods.is_empty() => Some(()),
                        _ => None,
                    })
                })
                .await?;
        }
    }
    w.done()
}

/// Motion events (not enters) the probe saw: (output, x, y).
fn moves_only(recs: &[ion_lab::probe::record::Record]) -> Vec<(String, f64, f64)> {
    recs.iter()
        .filter_map(|r| match &r.event {
            ion_lab::probe::record::Event::Motion { output, x, y, .. } => {
                Some((output.clone(), *x, *y))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_mixed_events_arrive_complete_and_in_order() -> Result<()> {
    let w = world().await?;
    let rd = started(&w, 3).await?;
    if !pointer_runs(
        &w.testbed,
        "the motions among the 1000 events (keys only here)",
    ) {
        a_thousand_keys_arrive_in_order(&w, &rd).await?;
        drop(rd);
        return w.done();
    }
    // Park the pointer well inside the first output.
    let mark = w.log.mark()?;
    rd.pointer_motion(300.0, 300.0).await?;
    w.log
        .wait_since(mark, WAIT, "parking motion", |r| motions(r).last().cloned())
        .await?;

    // 1000 events: 500 motions of +1 px interleaved with 250 key presses
    // and releases cycling through the letter keys.
    const LETTERS: [i32; 10] = [30, 48, 46, 32, 18, 33, 34, 35, 23, 36];
    let mark = w.log.mark()?;
    let mut expected_keys = Vec::new();
    for i in 0..500usize {
        rd.pointer_motion(1.0, if i.is_multiple_of(2) { 1.0 } else { -1.0 })
            .await?;
        let key = LETTERS[(i / 2) % LETTERS.len()];
        let pressed = i.is_multiple_of(2);
        rd.keycode(key, pressed).await?;
        expected_keys.push((key as u32, pressed));
    }
    let recs = w
        .log
        .wait_since(mark, Duration::from_secs(30), "1000 events", |r| {
            let n = moves_only(r).len() + keys(r).len();
            (n >= 1000).then(|| r.to_vec())
        })
        .await?;
    let seen_keys: Vec<(u32, bool)> = keys(&recs).iter().map(|k| (k.0, k.1)).collect();
    assert_eq!(seen_keys, expected_keys);
    // Motions only: a pointer enter the compositor sends late for the
    // parking (seen under load) is not one of the 500.
    let m = moves_only(&recs);
    assert_eq!(m.len(), 500);
    for pair in m.windows(2) {
        assert!(
            (pair[1].1 - pair[0].1 - 1.0).abs() < 1e-6,
            "x steps by 1: {pair:?}"
        );
    }
    // Interleaving: each key event comes right after its motion.
    let kinds: Vec<char> = recs
        .iter()
        .filter_map(|r| match r.event {
            Event::Motion { .. } => Some('m'),
            Event::Key { .. } => Some('k'),
            _ => None,
        })
        .collect();
    assert!(
        kinds.chunks(2).all(|c| c == ['m', 'k']),
        "events interleave in order"
    );
    w.done()
}

/// Without a pointer (the cosmic-comp stand-in): 1000 key events, 500
/// taps cycling through the letter keys, arrive complete and in order.
async fn a_thousand_keys_arrive_in_order(w: &World, rd: &RemoteDesktop<'_>) -> Result<()> {
    const LETTERS: [i32; 10] = [30, 48, 46, 32, 18, 33, 34, 35, 23, 36];
    let mark = w.log.mark()?;
    let mut expected_keys = Vec::new();
    for i in 0..1000usize {
        let key = LETTERS[(i / 2) % LETTERS.len()];
        let pressed = i.is_multiple_of(2);
        rd.keycode(key, pressed).await?;
        expected_keys.push((key as u32, pressed));
    }
    let recs = w
        .log
        .wait_since(mark, Duration::from_secs(30), "1000 key events", |r| {
            (keys(r).len() >= 1000).then(|| r.to_vec())
        })
        .await?;
    let seen_keys: Vec<(u32, bool)> = keys(&recs).iter().map(|k| (k.0, k.1)).collect();
    assert_eq!(seen_keys, expected_keys);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_with_keys_and_buttons_held_releases_them() -> Result<()> {
    let w = world().await?;
    let rd = started(&w, 3).await?;
    // Without a pointer, the keys alone (the button part says why not).
    let pointer = pointer_runs(&w.testbed, "the held button");
    let mark = w.log.mark()?;
    if pointer {
        rd.pointer_motion(50.0, 50.0).await?;
    }
    rd.keycode(KEY_LEFTSHIFT, true).await?;
    rd.keycode(KEY_A, true).await?;
    rd.keysym(0xe9, true).await?;
    if pointer {
        rd.pointer_button(BTN_LEFT, true).await?;
    }
    w.log
        .wait_since(mark, WAIT, "presses", |r| {
            (keys(r).len() >= 3 && (!pointer || !buttons(r).is_empty())).then_some(())
        })
        .await?;
    rd.close().await?;
    let recs = w
        .log
        .wait_since(mark, WAIT, "every release", |r| {
            let k = keys(r);
            let released = |code: u32| k.iter().any(|k| k.0 == code && !k.1);
            let b = buttons(r);
            (released(42)
                && released(30)
                && k.iter().filter(|k| !k.1).count() >= 3
                && (!pointer || b.contains(&(0x110, false))))
            .then(|| r.to_vec())
        })
        .await?;
    let last_mods = recs.iter().rev().find_map(|r| match &r.event {
        Event::Modifiers { mods, .. } => Some(mods.clone()),
        _ => None,
    });
    assert_eq!(last_mods, Some(vec![]), "Shift must not stay active");
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_without_close_leaves_nothing_held() -> Result<()> {
    let w = world().await?;
    let other = PortalClient::connect(w.testbed.bus_address()).await?;
    let rd = RemoteDesktop::create(&other).await?;
    rd.select_devices(3).await?.ok()?;
    assert_eq!(rd.start().await?.0.code, 0);
    // Without a pointer, the key alone (the button part says why not).
    let pointer = pointer_runs(&w.testbed, "the held button");
    w.log.wait_capabilities(pointer, true).await?;
    let mark = w.log.mark()?;
    if pointer {
        rd.pointer_motion(20.0, 20.0).await?;
    }
    rd.keycode(KEY_LEFTSHIFT, true).await?;
    if pointer {
        rd.pointer_button(BTN_RIGHT, true).await?;
    }
    w.log
        .wait_since(mark, WAIT, "presses", |r| {
            (!keys(r).is_empty() && (!pointer || !buttons(r).is_empty())).then_some(())
        })
        .await?;
    drop(rd);
    other.conn.close().await?;
    w.log
        .wait_since(mark, WAIT, "releases after the client vanished", |r| {
            let k = keys(r);
            (k.iter().any(|k| k.0 == 42 && !k.1)
                && (!pointer || buttons(r).contains(&(0x111, false))))
            .then_some(())
        })
        .await?;
    assert!(w.testbed.is_running(Component::IonChannel));
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_shutdown_releases_held_input() -> Result<()> {
    let mut w = world().await?;
    let rd = started(&w, 3).await?;
    let mark = w.log.mark()?;
    rd.keycode(KEY_LEFTSHIFT, true).await?;
    w.log
        .wait_since(mark, WAIT, "shift press", |r| {
            (!keys(r).is_empty()).then_some(())
        })
        .await?;
    w.testbed.stop(Component::IonChannel)?;
    w.log
        .wait_since(mark, WAIT, "shift release at shutdown", |r| {
            keys(r).iter().any(|k| k.0 == 42 && !k.1).then_some(())
        })
        .await?;
    let log = std::fs::read_to_string(w.testbed.log_path(Component::IonChannel))?;
    assert!(!log.contains("panicked"), "{log}");
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compositor_death_ends_sessions_without_a_panic() -> Result<()> {
    let mut w = world().await?;
    let rd = started(&w, 3).await?;
    rd.keycode(KEY_LEFTSHIFT, true).await?;
    w.testbed.kill(Component::Compositor)?;
    let path = w.testbed.log_path(Component::IonChannel);
    w.testbed
        .wait_for("ionchannel to notice the compositor is gone", &[], || {
            Ok(std::fs::read_to_string(&path)?.contains("compositor gone"))
        })?;
    let log = std::fs::read_to_string(&path)?;
    assert!(log.contains("session closed"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_rule_or_a_dialog_start_is_cancelled() -> Result<()> {
    // A kiosk setup: rules only, nobody to ask.
    let w = world_with(
        ion_lab::testbed::Testbed::builder()
            .outputs(two_outputs())
            .policy("# no rules\n[dialog]\nenabled = false\n"),
    )
    .await?;
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(3).await?.ok()?;
    let (resp, _) = rd.start().await?;
    assert_eq!(resp.code, 1, "no rule must answer cancelled");
    let log = std::fs::read_to_string(w.testbed.log_path(Component::IonChannel))?;
    assert!(
        log.contains("there is no dialog to ask") && log.contains("A rule that allows it"),
        "the log must say how to allow it"
    );
    w.done()
}

/// A policy file that other users could have written is not used (its
/// rules could grant anyone's app the screen and input): the session is
/// refused, the log says why and how to fix it, and once fixed the same
/// rule allows the next session, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_file_others_can_write_is_refused_until_fixed() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let w = world().await?;
    let policy = w.testbed.policy_path();
    std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o666))?;
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(3).await?.ok()?;
    let (resp, _) = rd.start().await?;
    assert_eq!(resp.code, 1, "a loose policy file must refuse the session");
    let log = ionchannel_log_once(&w, "can be written by other users (mode 0666)").await?;
    assert!(
        log.contains("can be written by other users (mode 0666)") && log.contains("chmod go-w"),
        "the log must say why and how to fix it: {log}"
    );

    std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o644))?;
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(3).await?.ok()?;
    let (resp, _) = rd.start().await?;
    assert_eq!(resp.code, 0, "the fixed policy file allows again");
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_through_the_frontend_leaves_the_daemon_and_other_sessions_fine() -> Result<()> {
    let w = world().await?;
    let good = started(&w, 3).await?;
    let bad = RemoteDesktop::create(&w.client).await?;
    bad.select_devices(3).await?.ok()?;
    assert_eq!(bad.start().await?.0.code, 0);

    let mark = w.log.mark()?;
    // The frontend passes these on (it checks little); ionChannel refuses
    // each one. None of them may reach the compositor.
    let _ = bad.pointer_motion(f64::NAN, 1.0).await;
    let _ = bad.pointer_motion(1.0, f64::INFINITY).await;
    let _ = bad.pointer_motion(1e12, 0.0).await;
    let _ = bad.pointer_button(30, true).await;
    let _ = bad.pointer_button(-5, true).await;
    let _ = bad.pointer_axis(f64::NEG_INFINITY, 0.0, false).await;
    let _ = bad.pointer_axis_discrete(7, 1).await;
    // Without a pointer the frontend itself refuses the pointer calls (the
    // device was not granted), so ionChannel sees only the keyboard's: two
    // more, first, make the unknown keysym the sixth, which is counted in
    // the summary as on the other compositors.
    let pointer = pointer_runs(&w.testbed, "the bad pointer calls reaching ionChannel");
    if !pointer {
        let _ = bad.keycode(-3, true).await;
        let _ = bad.keycode(0x300, true).await;
    }
    let _ = bad.keycode(0, true).await;
    let _ = bad.keycode(1 << 20, true).await;
    let _ = bad.keysym(-1, true).await;
    let _ = bad.keysym(0x1fff_fff0, true).await;
    let _ = bad.pointer_motion_absolute(12345, 1.0, 1.0).await;

    // The good session still works, and it is the only thing the probe saw.
    good.keycode(KEY_A, true).await?;
    good.keycode(KEY_A, false).await?;
    let recs = w
        .log
        .wait_since(mark, WAIT, "the good session's key", |r| {
            (keys(r).len() >= 2).then(|| r.to_vec())
        })
        .await?;
    assert!(
        motions(&recs).is_empty(),
        "bad motion reached the compositor"
    );
    assert!(
        buttons(&recs).is_empty(),
        "bad button reached the compositor"
    );
    assert_eq!(keys(&recs).len(), 2, "{:?}", keys(&recs));
    assert!(w.testbed.is_running(Component::IonChannel));
    // The first five refusals are logged one by one, the rest counted by
    // reason when the session ends.
    bad.close().await?;
    let log = ionchannel_log_once(&w, "more input call(s) refused").await?;
    let mut reasons = vec![
        "out of range",
        "more input call(s) refused",
        "unknown keysym 1",
    ];
    if pointer {
        reasons.push("not a finite number");
    }
    for reason in reasons {
        assert!(
            log.contains(reason),
            "ionchannel's log must name `{reason}`:\n{log}"
        );
    }
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_frontend_may_call_the_backend() -> Result<()> {
    let w = world().await?;
    // A client calling the backend directly, as if it were the frontend.
    let err = w
        .client
        .conn
        .call_method(
            Some("org.freedesktop.impl.portal.desktop.ionchannel"),
            "/org/freedesktop/portal/desktop",
            Some("org.freedesktop.impl.portal.RemoteDesktop"),
            "CreateSession",
            &(
                zbus::zvariant::ObjectPath::try_from(
                    "/org/freedesktop/portal/desktop/request/x/y",
                )?,
                zbus::zvariant::ObjectPath::try_from(
                    "/org/freedesktop/portal/desktop/session/x/y",
                )?,
                "",
                std::collections::HashMap::<String, zbus::zvariant::Value>::new(),
            ),
        )
        .await
        .expect_err("a non-frontend caller must be refused");
    assert!(err.to_string().contains("NotAllowed"), "{err}");
    // And the frontend still works.
    started(&w, 3).await?;
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_scrolling_on_both_axes_keeps_the_compositor_alive() -> Result<()> {
    // sway 1.7 aborts when one frame carries two axes with different
    // sources: ionChannel must never send such a frame, whatever the
    // client's sequence.
    let w = world().await?;
    if !pointer_runs(&w.testbed, "mixed scrolling") {
        return w.done();
    }
    let rd = started(&w, 3).await?;
    rd.pointer_motion(100.0, 100.0).await?;
    let mark = w.log.mark()?;
    for i in 0..20u8 {
        rd.pointer_axis(3.0 + f64::from(i), -4.0, i.is_multiple_of(3))
            .await?;
        rd.pointer_axis_discrete(u32::from(i % 2), if i.is_multiple_of(2) { 1 } else { -1 })
            .await?;
        rd.pointer_axis(0.0, 0.0, true).await?;
    }
    rd.pointer_button(BTN_LEFT, true).await?;
    rd.pointer_button(BTN_LEFT, false).await?;
    let recs = w
        .log
        .wait_since(mark, WAIT, "the button after the scrolling", |r| {
            (buttons(r).len() >= 2).then(|| r.to_vec())
        })
        .await?;
    let discrete = recs
        .iter()
        .filter(|r| {
            matches!(
                r.event,
                Event::AxisDiscrete { .. } | Event::AxisValue120 { .. }
            )
        })
        .count();
    assert_eq!(discrete, 20);
    assert!(w.testbed.is_running(Component::Compositor));
    w.done()
}

/// RustDesk's full set-up: SelectDevices(7) and SelectSources(monitor,
/// multiple) on one RemoteDesktop session; Start returns a stream per
/// output with its logical position and size.
async fn started_with_streams(
    w: &World,
) -> Result<(RemoteDesktop<'_>, Vec<ion_lab::client::Stream>)> {
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(7).await?.ok()?;
    rd.select_sources(1, true, 1).await?.ok()?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    let mut streams = results.map(|r| r.streams).unwrap_or_default();
    streams.sort_by_key(|s| s.position);
    w.log.wait_capabilities(true, true).await?;
    // Settle the pointer: the probe binds its wl_pointer once it sees the
    // new capability, and the compositor then sends it an enter at the
    // cursor's current place, which may land after a test's mark and pass
    // for the answer to its first motion (seen on sway 1.7 under load).
    // The enter comes before any motion on that pointer, so once the probe
    // saw this motion, nothing is left on its way.
    let first = streams.first().context("Start returned no stream")?;
    let mark = w.log.mark()?;
    rd.pointer_motion_absolute(first.node_id, 10.0, 10.0)
        .await?;
    w.log
        .wait_since(mark, WAIT, "the pointer settled at 10,10", |r| {
            motions(r).into_iter().find(|m| (m.1, m.2) == (10.0, 10.0))
        })
        .await?;
    Ok((rd, streams))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_motion_lands_exactly_on_each_output() -> Result<()> {
    let w = world().await?;
    if !pointer_runs(&w.testbed, "absolute motion") {
        return w.done();
    }
    let (rd, mut streams) = started_with_streams(&w).await?;
    streams.sort_by_key(|s| s.position);
    assert_eq!(streams.len(), 2, "{streams:?}");
    assert_eq!(streams[0].position, Some((0, 0)));
    assert_eq!(streams[0].size, Some((1920, 1080)));
    assert_eq!(streams[1].position, Some((1920, 0)));
    assert_eq!(streams[1].size, Some((1280, 720)));
    assert_ne!(streams[0].node_id, streams[1].node_id);

    // Points on each stream, including edges and fractions; the probe's
    // surface covers its output, so surface coordinates equal stream
    // coordinates.
    let cases = [
        (0usize, 100.0, 200.0, "HEADLESS-1"),
        (0, 1919.0, 1079.0, "HEADLESS-1"),
        (0, 0.0, 0.0, "HEADLESS-1"),
        (1, 640.5, 360.25, "HEADLESS-2"),
        (1, 0.0, 719.0, "HEADLESS-2"),
        (1, 1279.0, 0.0, "HEADLESS-2"),
        (0, 960.0, 540.0, "HEADLESS-1"),
    ];
    for (stream, x, y, output) in cases {
        let mark = w.log.mark()?;
        rd.pointer_motion_absolute(streams[stream].node_id, x, y)
            .await?;
        let seen = w
            .log
            .wait_since(mark, WAIT, &format!("motion to {x},{y} on {output}"), |r| {
                motions(r).last().cloned()
            })
            .await?;
        assert_eq!(seen.0, output, "({x}, {y}) on stream {stream}");
        assert!(
            (seen.1 - x).abs() < 1.0 / 256.0 + 1e-9 && (seen.2 - y).abs() < 1.0 / 256.0 + 1e-9,
            "({x}, {y}) on {output} arrived at ({}, {})",
            seen.1,
            seen.2
        );
    }

    // A click where the pointer is, then relative motion from there.
    let mark = w.log.mark()?;
    rd.pointer_button(BTN_LEFT, true).await?;
    rd.pointer_button(BTN_LEFT, false).await?;
    rd.pointer_motion(10.0, 0.0).await?;
    let seen = w
        .log
        .wait_since(mark, WAIT, "relative after absolute", |r| {
            motions(r).last().cloned()
        })
        .await?;
    assert_eq!(
        (seen.0.as_str(), seen.1, seen.2),
        ("HEADLESS-1", 970.0, 540.0)
    );
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_motion_outside_its_stream_or_on_a_foreign_stream_goes_nowhere() -> Result<()> {
    let w = world().await?;
    if !pointer_runs(&w.testbed, "absolute motion") {
        return w.done();
    }
    let (rd, mut streams) = started_with_streams(&w).await?;
    streams.sort_by_key(|s| s.position);
    let small = streams[1].node_id;
    let mark = w.log.mark()?;
    // Inside the big stream's size but outside the small one's: the
    // frontend lets it through (it checks against *a* stream), ionChannel
    // must refuse it.
    let _ = rd.pointer_motion_absolute(small, 1500.0, 900.0).await;
    // A node id that is not this session's stream.
    let _ = rd.pointer_motion_absolute(small + 1000, 10.0, 10.0).await;
    let _ = rd.pointer_motion_absolute(small, f64::NAN, 1.0).await;
    rd.keycode(KEY_A, true).await?;
    rd.keycode(KEY_A, false).await?;
    let recs = w
        .log
        .wait_since(mark, WAIT, "the key after the refused motions", |r| {
            (keys(r).len() >= 2).then(|| r.to_vec())
        })
        .await?;
    assert!(motions(&recs).is_empty(), "{:?}", motions(&recs));
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_motion_on_a_scaled_output_uses_logical_coordinates() -> Result<()> {
    // HEADLESS-2: a 1280x720 mode at scale 2 is 640x360 logical pixels,
    // placed left of HEADLESS-1 (negative position).
    let w = world_with(ion_lab::testbed::Testbed::builder().outputs(vec![
        ion_lab::testbed::OutputSpec::new(1920, 1080).at(0, 0),
        ion_lab::testbed::OutputSpec::new(1280, 720).at(-640, 200).with_scale(2.0),
    ]))
    .await?;
    if !pointer_runs(&w.testbed, "absolute motion") {
        return w.done();
    }
    let (rd, streams) = started_with_streams(&w).await?;
    let scaled = streams
        .iter()
        .find(|s| s.position == Some((-640, 200)))
        .ok_or_else(|| anyhow::anyhow!("no stream at -640,200: {streams:?}"))?;
    assert_eq!(scaled.size, Some((640, 360)));
    for (x, y) in [(320.5, 180.25), (0.0, 0.0), (639.0, 359.0)] {
        let mark = w.log.mark()?;
        rd.pointer_motion_absolute(scaled.node_id, x, y).await?;
        let seen = w
            .log
            .wait_since(mark, WAIT, &format!("motion to {x},{y}"), |r| {
                motions(r).last().cloned()
            })
            .await?;
        assert_eq!(seen.0, "HEADLESS-2");
        assert!(
            (seen.1 - x).abs() < 1.0 / 256.0 + 1e-9 && (seen.2 - y).abs() < 1.0 / 256.0 + 1e-9,
            "({x}, {y}) arrived at ({}, {})",
            seen.1,
            seen.2
        );
    }
    w.done()
}

/// The frontend answers the app before ionChannel sees a Notify* call, so
/// a refusal is visible only in ionChannel's log (at warn, with session,
/// call and reason) and in `ionchannel status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_input_shows_in_the_log_and_in_status() -> Result<()> {
    let w = world().await?;
    let rd = started(&w, 3).await?;
    let mark = w.log.mark()?;
    // The app sees success for all of these.
    rd.keycode(0x1000, true).await?;
    rd.keysym(0x2000_0000, true).await?;
    rd.keycode(KEY_A, true).await?;
    rd.keycode(KEY_A, false).await?;
    w.log
        .wait_since(mark, WAIT, "the good key", |r| {
            (keys(r).len() >= 2).then_some(())
        })
        .await?;
    let log = std::fs::read_to_string(w.testbed.log_path(Component::IonChannel))?;
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("input refused"))
        .collect();
    assert_eq!(refusals.len(), 2, "{log}");
    assert!(
        refusals[0].contains("NotifyKeyboardKeycode")
            && refusals[0].contains("session=")
            && refusals[0].contains("keycode 4096 is out of range"),
        "{}",
        refusals[0]
    );
    assert!(
        refusals[1].contains("NotifyKeyboardKeysym"),
        "{}",
        refusals[1]
    );

    let bin = ion_lab::testbed::find_workspace_bin("ionchannel")?;
    let out = w
        .testbed
        .command(&bin)
        .args(["status", "--json"])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let session = &status["sessions"][0];
    assert_eq!(session["kind"], "RemoteDesktop", "{status}");
    assert_eq!(session["input"]["refused"], 2, "{status}");
    assert_eq!(session["input"]["injected"], 2, "{status}");
    assert_eq!(session["input"]["held"], false, "{status}");
    let table = w.testbed.command(&bin).arg("status").output()?;
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("RemoteDesktop") && table.contains("REFUSED"),
        "{table}"
    );
    println!("{table}");
    w.done()
}

/// Keys sent back to back without waiting, as libportal sends them,
/// through the real frontend (which reorders them): at the end nothing is
/// held and every tap arrived as a press and a release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unawaited_taps_leave_nothing_held() -> Result<()> {
    let w = world().await?;
    let rd = started(&w, 3).await?;
    let mark = w.log.mark()?;
    let session = rd.session.as_ref();
    let conn = rd.client.conn.clone();
    let mut sent = 0;
    for _burst in 0..10 {
        for keycode in [KEY_A, 48, 46, 32, 18, 33, 34, 35] {
            for pressed in [true, false] {
                let msg = ion_lab::bench::send::keycode_message(&session, keycode, pressed)?;
                conn.send(&msg).await?;
                sent += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let records = w
        .log
        .wait_since(mark, WAIT, "every key event", |r| {
            (keys(r).len() >= sent).then(|| r.to_vec())
        })
        .await?;
    // Order repair's window passes before looking at what is held.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let k = keys(&records);
    let mut down = std::collections::BTreeSet::new();
    for (code, pressed, ..) in &k {
        if *pressed {
            assert!(down.insert(*code), "{code} pressed twice: {k:?}");
        } else {
            assert!(down.remove(code), "{code} released while up: {k:?}");
        }
    }
    assert!(down.is_empty(), "held at the end: {down:?}");
    assert_eq!(k.len(), sent, "every tap arrived");
    let figures = ion_lab::client::status::total(&rd.client.conn).await?;
    println!("{sent} key events sent unawaited: {figures:?}");
    w.done()
}

/// A protocol error is not the end of the daemon. The compositor ends our
/// connection over a request it refuses — here a virtual keyboard given no
/// keymap (the `IONCHANNEL_FAULT` test hook), which is what a smithay
/// compositor did when it could not parse our keymap: the first key is a
/// protocol error on wlroots and smithay alike. Every session is closed
/// with Closed, the log names the object and the request, and ionChannel
/// connects again and serves a new session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_error_closes_sessions_and_the_daemon_reconnects() -> Result<()> {
    let w = world_with(
        ion_lab::testbed::Testbed::builder()
            .outputs(two_outputs())
            .ionchannel_env("IONCHANNEL_FAULT", "no-keymap-once"),
    )
    .await?;
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(3).await?.ok()?;
    let mut closed =
        ion_lab::client::ClosedWatch::subscribe(&w.client, rd.session.as_ref()).await?;
    let (resp, _) = rd.start().await?;
    assert_eq!(resp.code, 0);
    rd.keycode(KEY_A, true).await?;
    closed.wait(WAIT).await?;
    let log = ionchannel_log_once(&w, "reconnected to the compositor").await?;
    assert!(
        log.contains("protocol error") && log.contains("zwp_virtual_keyboard_v1"),
        "the log names the object:\n{log}"
    );
    assert!(log.contains("reconnected to the compositor"), "{log}");
    assert!(w.testbed.is_running(Component::IonChannel));
    for line in log.lines().filter(|l| {
        l.contains("protocol error") || l.contains("reconnect") || l.contains("session closed")
    }) {
        println!("{line}");
    }

    // A new session on the new connection types, and streams (the media
    // thread, PipeWire's connection with it, is new too).
    let mark = w.log.mark()?;
    let again = RemoteDesktop::create(&w.client).await?;
    again.select_devices(3).await?.ok()?;
    again.select_sources(1, false, 1).await?.ok()?;
    let (resp, results) = again.start().await?;
    assert_eq!(resp.code, 0);
    w.log
        .wait_capabilities(injectable(&w.testbed) & 2 != 0, true)
        .await?;
    again.keycode(KEY_A, true).await?;
    again.keycode(KEY_A, false).await?;
    w.log
        .wait_since(mark, WAIT, "a key on the new connection", |r| {
            (keys(r).len() >= 2).then_some(())
        })
        .await?;
    let stream = results
        .map(|r| r.streams)
        .unwrap_or_default()
        .into_iter()
        .next()
        .context("a stream on the new connection")?;
    let consumer = w.testbed.start_consumer(stream.node_id, false, &[])?;
    consumer.wait_for("a frame on the new connection", WAIT, |f| {
        f.iter().find(|r| r.valid).cloned()
    })?;
    w.done()
}

/// A rotated output (transform 90: a 1280x720 mode stands 720x1280 in
/// the layout): its stream has the upright logical size, and absolute
/// motion lands where asked in those upright coordinates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_motion_lands_exactly_on_a_rotated_output() -> Result<()> {
    use ion_lab::testbed::{OutputSpec, Transform};
    let w = world_with(ion_lab::testbed::Testbed::builder().outputs(vec![
        OutputSpec::new(1920, 1080).at(0, 0),
        OutputSpec::new(1280, 720)
            .at(1920, 0)
            .with_transform(Transform::R90),
    ]))
    .await?;
    if !pointer_runs(&w.testbed, "absolute motion on a rotated output") {
        return w.done();
    }
    let (rd, streams) = started_with_streams(&w).await?;
    assert_eq!(streams.len(), 2, "{streams:?}");
    assert_eq!(streams[1].position, Some((1920, 0)));
    assert_eq!(streams[1].size, Some((720, 1280)), "upright logical size");
    for (x, y) in [(700.0, 1270.0), (0.0, 0.0), (360.5, 640.25), (719.0, 10.0)] {
        let mark = w.log.mark()?;
        rd.pointer_motion_absolute(streams[1].node_id, x, y).await?;
        let seen = w
            .log
            .wait_since(mark, WAIT, &format!("motion to {x},{y}"), |r| {
                motions(r).last().cloned()
            })
            .await?;
        assert_eq!(seen.0, "HEADLESS-2", "({x}, {y})");
        assert!(
            (seen.1 - x).abs() < 1.0 / 256.0 + 1e-9 && (seen.2 - y).abs() < 1.0 / 256.0 + 1e-9,
            "({x}, {y}) arrived at ({}, {})",
            seen.1,
            seen.2
        );
    }
    w.done()
}
