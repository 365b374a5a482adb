//! The uinput path end to end: ionChannel forced onto uinput
//! (`IONCHANNEL_POINTER=uinput`) even where the compositor has a virtual
//! pointer, its kernel devices picked up by the compositor through libinput
//! on its seat, and the probe seeing pointer motion, buttons and touch
//! exactly where the portal asked. Needs a writable /dev/uinput: these
//! machines have none, so these tests run in the virtual-machine lab
//! (docs/vm-lab.md) and elsewhere print why they do not.

mod common;

use std::time::Duration;

use anyhow::{Context, Result};
use common::*;
use ion_lab::client::eis::{Capability, EisClient};
use ion_lab::client::RemoteDesktop;
use ion_lab::probe::record::{Event, Record};
use ion_lab::testbed::{Component, Compositor, OutputSpec, Testbed};

const POINTER_TOUCH_KEYBOARD: u32 = 7;
/// How far a position may land from where it was asked: the devices'
/// 0..=65535 axes over a 3200-wide layout are 1/20 px apart.
const TOLERANCE: f64 = 0.06;

/// Mixed sizes and scales, and a layout that is no rectangle: a 2560x1440
/// output at scale 2 (1280x720 logical) and a 1920x1080 one at 1.5 (also
/// 1280x720 logical), 200 px lower. The layout box is 2560x920 logical, and
/// its corners below the first output and above the second are no output.
fn scaled_outputs() -> Vec<OutputSpec> {
    vec![
        OutputSpec::new(2560, 1440).at(0, 0).with_scale(2.0),
        OutputSpec::new(1920, 1080).at(1280, 200).with_scale(1.5),
    ]
}

/// A world whose ionChannel uses uinput, on the lab's two outputs; None
/// (and why, printed) when uinput cannot be used here.
async fn uinput_world(what: &str) -> Result<Option<World>> {
    uinput_world_on(what, two_outputs()).await
}

async fn uinput_world_on(what: &str, outputs: Vec<OutputSpec>) -> Result<Option<World>> {
    let w = world_with(
        Testbed::builder()
            .outputs(outputs)
            .ionchannel_env("IONCHANNEL_POINTER", "uinput"),
    )
    .await?;
    let available = RemoteDesktop::available_device_types(&w.client).await?;
    if available & 4 == 0 {
        let log = std::fs::read_to_string(w.testbed.log_path(Component::IonChannel))?;
        let why = log
            .lines()
            .find(|l| l.contains("connected to the compositor"))
            .and_then(|l| l.split("uinput=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("see ionchannel's log");
        println!(
            "SKIPPED {what}: uinput cannot be used here ({why}); AvailableDeviceTypes = \
             {available}. These tests run in the VM lab (docs/vm-lab.md)."
        );
        w.done()?;
        return Ok(None);
    }
    assert_eq!(available, POINTER_TOUCH_KEYBOARD);
    Ok(Some(w))
}

/// RemoteDesktop with pointer, keyboard and touch, and a stream per output.
async fn started(w: &World) -> Result<(RemoteDesktop<'_>, Vec<ion_lab::client::Stream>)> {
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(POINTER_TOUCH_KEYBOARD).await?.ok()?;
    rd.select_sources(1, true, 1).await?.ok()?;
    let mark = w.log.mark()?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    let results = results.context("Start's results")?;
    assert_eq!(results.devices, POINTER_TOUCH_KEYBOARD, "devices granted");
    let mut streams = results.streams;
    streams.sort_by_key(|s| s.position);
    w.log.wait_capabilities(true, true).await?;
    // The seat has a pointer and keyboard before (QEMU's own, in the VM);
    // touch only comes with ionChannel's touchscreen, once libinput added
    // it (after this Start: the last session's went away with it). A touch
    // before the probe bound wl_touch would reach nobody.
    w.log
        .wait_since(mark, WAIT, "the touchscreen on the seat", |r| {
            r.iter().rev().find_map(|r| {
                matches!(r.event, Event::Capabilities { touch: true, .. }).then_some(())
            })
        })
        .await?;
    Ok((rd, streams))
}

/// Puts the pointer on the first output (a button goes to the surface
/// under it) and waits until the probe saw it there.
async fn pointer_on(w: &World, rd: &RemoteDesktop<'_>, stream: u32) -> Result<()> {
    let mark = w.log.mark()?;
    rd.pointer_motion_absolute(stream, 600.0, 400.0).await?;
    w.log
        .wait_since(mark, WAIT, "the pointer at 600,400", |r| {
            motions(r)
                .into_iter()
                .find(|m| near(m.1, 600.0) && near(m.2, 400.0))
        })
        .await?;
    Ok(())
}

fn touches(recs: &[Record]) -> Vec<Event> {
    recs.iter()
        .filter(|r| {
            matches!(
                r.event,
                Event::TouchDown { .. }
                    | Event::TouchMotion { .. }
                    | Event::TouchUp { .. }
                    | Event::TouchCancel
            )
        })
        .map(|r| r.event.clone())
        .collect()
}

/// Waits for one contact's down, motion and up since `mark`, and checks
/// it came down on `output` at `down` and moved to `moved` (output
/// pixels).
async fn one_touch(
    w: &World,
    mark: usize,
    output: &str,
    down: (f64, f64),
    moved: (f64, f64),
) -> Result<()> {
    let seen = w
        .log
        .wait_since(mark, WAIT, &format!("a touch on {output}"), |r| {
            let t = touches(r);
            t.iter()
                .any(|e| matches!(e, Event::TouchUp { .. }))
                .then_some(t)
        })
        .await?;
    match &seen[..] {
        [Event::TouchDown {
            output: o,
            x: dx,
            y: dy,
            ..
        }, Event::TouchMotion { x: mx, y: my, .. }, Event::TouchUp { .. }] => {
            assert_eq!(o, output);
            assert!(
                near(*dx, down.0) && near(*dy, down.1),
                "down at ({dx}, {dy}), asked {down:?}"
            );
            assert!(
                near(*mx, moved.0) && near(*my, moved.1),
                "moved to ({mx}, {my}), asked {moved:?}"
            );
        }
        other => panic!("a touch on {output}: {other:?}"),
    }
    Ok(())
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOLERANCE
}

/// ionChannel's uinput devices the kernel still has.
fn our_devices() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/sys/devices/virtual/input") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("name")).ok())
        .map(|n| n.trim().to_owned())
        .filter(|n| n.starts_with("ionChannel"))
        .collect()
}

/// Pointer motion and a touch (down, motion, up) at corners and the
/// middle of every stream's output land where the portal asked, in the
/// output's logical pixels.
async fn lands_exactly(
    w: &World,
    rd: &RemoteDesktop<'_>,
    streams: &[ion_lab::client::Stream],
) -> Result<()> {
    for (s, output) in streams.iter().zip(["HEADLESS-1", "HEADLESS-2"]) {
        let (sw, sh) = s.size.context("stream size")?;
        println!("{output}: stream {sw}x{sh} at {:?}", s.position);
        for (x, y) in [
            (10.0, 10.0),
            (f64::from(sw) / 2.0 + 0.5, f64::from(sh) / 3.0),
            (f64::from(sw) - 1.0, f64::from(sh) - 1.0),
        ] {
            let mark = w.log.mark()?;
            rd.pointer_motion_absolute(s.node_id, x, y).await?;
            let seen = w
                .log
                .wait_since(mark, WAIT, &format!("pointer at {x},{y}"), |r| {
                    motions(r)
                        .into_iter()
                        .find(|m| m.0 == output && near(m.1, x) && near(m.2, y))
                })
                .await;
            assert!(
                seen.is_ok(),
                "{output}: pointer motion to ({x}, {y}): {seen:?}"
            );

            let mark = w.log.mark()?;
            rd.touch_down(s.node_id, 3, x, y).await?;
            rd.touch_motion(s.node_id, 3, x - 5.0, y - 5.0).await?;
            rd.touch_up(3).await?;
            one_touch(w, mark, output, (x, y), (x - 5.0, y - 5.0)).await?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pointer_and_touch_land_exactly_on_each_output() -> Result<()> {
    let Some(w) = uinput_world("uinput pointer and touch").await? else {
        return Ok(());
    };
    let (rd, streams) = started(&w).await?;
    assert_eq!(our_devices().len(), 3, "{:?}", our_devices());
    lands_exactly(&w, &rd, &streams).await?;
    // Two contacts at once (a pinch): two slots, two ids, one surface.
    // (Across two outputs sway 1.12 drops the second contact while the
    // first is down, where labwc delivers it: a compositor's choice, not
    // asserted here.)
    let mark = w.log.mark()?;
    rd.touch_down(streams[0].node_id, 0, 100.0, 100.0).await?;
    rd.touch_down(streams[0].node_id, 1, 200.0, 150.0).await?;
    rd.touch_motion(streams[0].node_id, 1, 220.0, 150.0).await?;
    rd.touch_up(0).await?;
    rd.touch_up(1).await?;
    let seen = w
        .log
        .wait_since(mark, WAIT, "two contacts", |r| {
            let t = touches(r);
            (t.iter()
                .filter(|e| matches!(e, Event::TouchUp { .. }))
                .count()
                == 2)
                .then_some(t)
        })
        .await?;
    let downs: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::TouchDown { output, id, x, y } => Some((output.clone(), *id, *x, *y)),
            _ => None,
        })
        .collect();
    assert_eq!(downs.len(), 2, "{seen:?}");
    assert_ne!(downs[0].1, downs[1].1, "two contacts, two ids: {seen:?}");
    assert!(
        near(downs[0].2, 100.0) && near(downs[1].2, 200.0),
        "{seen:?}"
    );

    // Buttons and relative motion go through the uinput mouse. The
    // compositor's pointer acceleration applies to it as to any mouse:
    // the distance is printed, the direction asserted.
    let mark = w.log.mark()?;
    rd.pointer_motion_absolute(streams[0].node_id, 500.0, 500.0)
        .await?;
    rd.pointer_motion(40.0, -30.0).await?;
    rd.pointer_button(0x110, true).await?;
    rd.pointer_button(0x110, false).await?;
    let recs = w
        .log
        .wait_since(mark, WAIT, "a click", |r| {
            (buttons(r).len() >= 2).then(|| r.to_vec())
        })
        .await?;
    assert_eq!(buttons(&recs), [(0x110, true), (0x110, false)]);
    let last = motions(&recs).last().cloned().context("no motion")?;
    println!(
        "relative motion (40, -30) from (500, 500) arrived at ({}, {})",
        last.1, last.2
    );
    assert!(last.1 > 500.0 && last.2 < 500.0, "{last:?}");

    // What README tells a user who wants relative motion exact (as the
    // virtual-pointer path gives it): a flat acceleration profile in the
    // compositor's input settings for ionChannel's mouse, named as README
    // names it. Both compositors take it at run time.
    let version = w.testbed.compositor_version()?.short();
    match w.testbed.compositor() {
        Compositor::Sway => {
            w.testbed.swaymsg(&[
                "input",
                "7452:1:ionChannel_pointer",
                "accel_profile",
                "flat",
            ])?;
        }
        Compositor::Labwc => w.testbed.labwc_reconfigure(
            "<libinput><device category=\"ionChannel pointer\">\
             <accelProfile>flat</accelProfile></device></libinput>",
        )?,
        _ => {}
    }
    // labwc answers nothing: motions are sent until one lands exactly.
    let mut exact = None;
    let mut arrived = Vec::new();
    for _ in 0..20 {
        let mark = w.log.mark()?;
        rd.pointer_motion_absolute(streams[0].node_id, 500.0, 500.0)
            .await?;
        rd.pointer_motion(40.0, -30.0).await?;
        let seen = w
            .log
            .wait_since(mark, Duration::from_millis(500), "a relative motion", |r| {
                motions(r)
                    .into_iter()
                    .find(|m| !(near(m.1, 500.0) && near(m.2, 500.0)))
            })
            .await;
        if let Ok(m) = seen {
            arrived.push((m.1, m.2));
            if near(m.1, 540.0) && near(m.2, 470.0) {
                exact = Some(m);
                break;
            }
        }
    }
    assert!(
        exact.is_some(),
        "{version}: (40, -30) not exact with a flat profile; arrived at {arrived:?}"
    );
    println!("{version}, accel profile flat: (40, -30) from (500, 500) arrived at (540, 470)");
    rd.close().await?;
    w.done()
}

/// The same on outputs of mixed scales, in a layout that is no rectangle:
/// wlroots spreads an absolute device over the layout's bounding box in
/// logical pixels, as ionChannel does, whatever the outputs' scales.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pointer_and_touch_land_exactly_on_scaled_and_offset_outputs() -> Result<()> {
    let Some(w) = uinput_world_on("uinput on scaled outputs", scaled_outputs()).await? else {
        return Ok(());
    };
    let (rd, streams) = started(&w).await?;
    let sizes: Vec<_> = streams.iter().map(|s| (s.position, s.size)).collect();
    assert_eq!(
        sizes,
        [
            (Some((0, 0)), Some((1280, 720))),
            (Some((1280, 200)), Some((1280, 720)))
        ],
        "logical sizes and positions"
    );
    lands_exactly(&w, &rd, &streams).await?;
    rd.close().await?;
    w.done()
}

/// EIS touch through uinput: ConnectToEIS offers a touchscreen with one
/// region per stream; libei-style touch ids (large, counting up) become
/// the kernel touchscreen's slots; a contact lands where the client put it
/// on each output; a contact down when the client goes is lifted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eis_touches_reach_the_compositor_as_contacts() -> Result<()> {
    let Some(w) = uinput_world("EIS touch through uinput").await? else {
        return Ok(());
    };
    let (rd, _streams) = started(&w).await?;
    let fd = rd.connect_to_eis().await?;
    let mut eis = EisClient::connect(fd, "ion-lab uinput").await?;
    eis.bind(Capability::Touch | Capability::Pointer | Capability::Button)
        .await?;
    let regions = eis.regions_of(Capability::Touch);
    assert_eq!(regions.len(), 2, "{regions:?}");
    let mut id = 1000;
    for (r, output) in regions.iter().zip(["HEADLESS-1", "HEADLESS-2"]) {
        let (x0, y0) = (r.x as f32, r.y as f32);
        let (x, y) = (x0 + r.width as f32 / 2.0 + 0.5, y0 + r.height as f32 / 3.0);
        let mark = w.log.mark()?;
        eis.touch_down(id, x0 + 10.0, y0 + 10.0)?;
        eis.touch_motion(id, x, y)?;
        eis.touch_up(id)?;
        id += 1;
        let moved = (f64::from(x - x0), f64::from(y - y0));
        one_touch(&w, mark, output, (10.0, 10.0), moved).await?;
    }

    // Two contacts at once, then the client goes with one still down.
    let (x0, y0) = (regions[0].x as f32, regions[0].y as f32);
    let mark = w.log.mark()?;
    eis.touch_down(id, x0 + 100.0, y0 + 100.0)?;
    eis.touch_down(id + 1, x0 + 300.0, y0 + 100.0)?;
    eis.touch_up(id)?;
    let seen = w
        .log
        .wait_since(mark, WAIT, "two contacts, one lifted", |r| {
            let t = touches(r);
            let downs = t
                .iter()
                .filter(|e| matches!(e, Event::TouchDown { .. }))
                .count();
            let ups = t
                .iter()
                .filter(|e| matches!(e, Event::TouchUp { .. }))
                .count();
            (downs == 2 && ups == 1).then_some(t)
        })
        .await?;
    let ids: Vec<i32> = seen
        .iter()
        .filter_map(|e| match e {
            Event::TouchDown { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_ne!(ids[0], ids[1], "two contacts, two ids: {seen:?}");
    eis.disconnect()?;
    drop(eis);
    w.log
        .wait_since(
            mark,
            WAIT,
            "the last contact lifted when the client went",
            |r| {
                let ups = touches(r)
                    .iter()
                    .filter(|e| matches!(e, Event::TouchUp { .. } | Event::TouchCancel))
                    .count();
                (ups == 2).then_some(())
            },
        )
        .await?;
    rd.close().await?;
    assert!(devices_gone(), "devices left: {:?}", our_devices());
    w.done()
}

/// Waits until the kernel has no ionChannel device left.
fn devices_gone() -> bool {
    (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        our_devices().is_empty()
    })
}

/// A button held, then the session closed: the release reaches the app.
/// (A touch takes the pointer's focus away, so buttons and contacts are
/// held in two sessions, one after the other.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_session_releases_buttons_lifts_contacts_and_removes_the_devices() -> Result<()>
{
    let Some(w) = uinput_world("uinput session end").await? else {
        return Ok(());
    };
    let (rd, streams) = started(&w).await?;
    pointer_on(&w, &rd, streams[0].node_id).await?;
    let mark = w.log.mark()?;
    rd.pointer_button(0x111, true).await?;
    w.log
        .wait_since(mark, WAIT, "the button down", |r| {
            buttons(r).contains(&(0x111, true)).then_some(())
        })
        .await?;
    rd.close().await?;
    w.log
        .wait_since(mark, WAIT, "the button released at close", |r| {
            buttons(r).contains(&(0x111, false)).then_some(())
        })
        .await?;
    assert!(devices_gone(), "devices left: {:?}", our_devices());

    let (rd, streams) = started(&w).await?;
    let mark = w.log.mark()?;
    rd.touch_down(streams[0].node_id, 0, 300.0, 300.0).await?;
    rd.touch_down(streams[0].node_id, 1, 400.0, 300.0).await?;
    w.log
        .wait_since(mark, WAIT, "two contacts down", |r| {
            let downs = touches(r)
                .iter()
                .filter(|e| matches!(e, Event::TouchDown { .. }))
                .count();
            (downs == 2).then_some(())
        })
        .await?;
    rd.close().await?;
    let recs = w
        .log
        .wait_since(mark, WAIT, "both contacts lifted at close", |r| {
            let t = touches(r);
            let lifted = t
                .iter()
                .filter(|e| matches!(e, Event::TouchUp { .. }))
                .count()
                == 2
                || t.iter().any(|e| matches!(e, Event::TouchCancel));
            lifted.then(|| r.to_vec())
        })
        .await?;
    println!("at close: {:?}", touches(&recs));
    assert!(devices_gone(), "devices left: {:?}", our_devices());
    w.done()
}

/// The kernel removes a uinput device when its fd closes: a SIGKILLed
/// daemon leaves no device, and the button it held is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_leaves_no_device_and_no_button_held() -> Result<()> {
    let Some(mut w) = uinput_world("uinput after SIGKILL (button)").await? else {
        return Ok(());
    };
    let (rd, streams) = started(&w).await?;
    pointer_on(&w, &rd, streams[0].node_id).await?;
    let mark = w.log.mark()?;
    rd.pointer_button(0x110, true).await?;
    w.log
        .wait_since(mark, WAIT, "the button down", |r| {
            buttons(r).contains(&(0x110, true)).then_some(())
        })
        .await?;
    w.testbed.kill(Component::IonChannel)?;
    w.log
        .wait_since(mark, WAIT, "the button released after SIGKILL", |r| {
            buttons(r).contains(&(0x110, false)).then_some(())
        })
        .await?;
    assert!(
        devices_gone(),
        "devices left after SIGKILL: {:?}",
        our_devices()
    );
    w.done()
}

/// The same for a contact: a SIGKILLed daemon leaves no finger down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_leaves_no_contact_down() -> Result<()> {
    let Some(mut w) = uinput_world("uinput after SIGKILL (touch)").await? else {
        return Ok(());
    };
    let (rd, streams) = started(&w).await?;
    let mark = w.log.mark()?;
    rd.touch_down(streams[0].node_id, 0, 300.0, 300.0).await?;
    w.log
        .wait_since(mark, WAIT, "a contact down", |r| {
            (!touches(r).is_empty()).then_some(())
        })
        .await?;
    w.testbed.kill(Component::IonChannel)?;
    assert!(
        devices_gone(),
        "devices left after SIGKILL: {:?}",
        our_devices()
    );
    let ended = w
        .log
        .wait_since(mark, WAIT, "the contact ended after SIGKILL", |r| {
            touches(r)
                .iter()
                .any(|e| matches!(e, Event::TouchUp { .. } | Event::TouchCancel))
                .then(|| r.to_vec())
        })
        .await;
    let version = w.testbed.compositor_version()?.short();
    match ended {
        Ok(recs) => println!("{version}, after SIGKILL: {:?}", touches(&recs)),
        // labwc 0.20 does not end the touch points of a touchscreen that
        // goes away (sway cancels them): the kernel removed the device, and
        // nothing is left on ionChannel's side after a SIGKILL. When labwc
        // starts ending them, this passes the other way and the known
        // issue goes.
        Err(_) if version.starts_with("labwc") => println!(
            "KNOWN ISSUE {version}: a removed touchscreen's contact is not ended \
             (ARCHITECTURE, known issues)"
        ),
        Err(e) => return Err(e),
    }
    w.done()
}
