//! Chromium (Debian testing's package, unmodified) shares the screen
//! through the real frontend and ionChannel, as a page's
//! `getDisplayMedia` does for a video call: a monitor and a window. The
//! page's track has the source's size, its pixels match the screen (a
//! grim screenshot) or the window's known picture within the colour
//! conversion's tolerance, its frames follow the screen, and stopping the
//! track ends the portal session and our PipeWire node.
//!
//! Chromium, driven through its DevTools protocol, comes from the testing
//! rootfs (see `ion_lab::chromium`); on the host stack (Debian 12) the
//! tests say so and return.

mod common;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::chooser::Chooser;
use common::*;
use ion_lab::chromium::{self, Chromium};
use ion_lab::probe::pattern::{decode_counter, pattern_pixel, COUNTER_HEIGHT, COUNTER_WIDTH};
use ion_lab::testbed::{Component, Picture, Testbed};
use ion_lab::window::WINDOW_PATTERN;

/// The output Chromium is given: not the first one, where its own window
/// opens (under the probe's overlay, but not under the stream's eyes).
const SHARED: &str = "HEADLESS-2";
const SHARED_SIZE: (u32, u32) = (1280, 720);

/// Colour conversion on the way (Chromium's capture pipeline and canvas):
/// the most a channel may differ from the screen.
const TOLERANCE: u8 = 8;

const WINDOW_APP_ID: &str = "org.ionchannel.ChromiumTarget";

/// Points to compare: a grid over the frame, clear of the counter.
fn grid(width: u32, height: u32) -> Vec<(u32, u32)> {
    let mut points = Vec::new();
    for y in (3..height).step_by(37) {
        for x in (5..width).step_by(41) {
            if x >= COUNTER_WIDTH || y >= COUNTER_HEIGHT {
                points.push((x, y));
            }
        }
    }
    points.push((width - 1, height - 1));
    points
}

/// The points of the counter strip ([`decode_counter`] reads rows 2..6).
fn counter_points() -> Vec<(u32, u32)> {
    (2..COUNTER_HEIGHT - 2)
        .flat_map(|y| (0..COUNTER_WIDTH).map(move |x| (x, y)))
        .collect()
}

/// The probe's counter in the track's current frame.
fn counter(chromium: &mut Chromium) -> Result<u32> {
    let points = counter_points();
    let sample = chromium.sample(&points)?;
    decode_counter(|x, y| {
        points
            .iter()
            .position(|&p| p == (x, y))
            .map_or([0x80; 3], |i| sample.rgb[i])
    })
    .context("no counter in Chromium's frame")
}

/// The largest channel difference at each point, and the worst one.
fn worst(
    points: &[(u32, u32)],
    got: &[[u8; 3]],
    want: impl Fn(u32, u32) -> [u8; 3],
) -> (u8, (u32, u32), [u8; 3], [u8; 3]) {
    let mut worst = (0, (0, 0), [0; 3], [0; 3]);
    for (&(x, y), &g) in points.iter().zip(got) {
        let e = want(x, y);
        let d = (0..3).map(|c| g[c].abs_diff(e[c])).max().unwrap_or(0);
        if d >= worst.0 {
            worst = (d, (x, y), g, e);
        }
    }
    worst
}

/// Whether PipeWire has a node with this id.
fn node_exists(tb: &Testbed, id: u32) -> Result<bool> {
    let dump: serde_json::Value = serde_json::from_str(&tb.pw_dump()?)?;
    Ok(dump.as_array().is_some_and(|objects| {
        objects
            .iter()
            .any(|o| o["id"] == id && o["type"].as_str().is_some_and(|t| t.ends_with(":Node")))
    }))
}

/// Stops the page's track and waits for the portal session to end and
/// the node to go.
fn stop_and_check_the_end(
    w: &World,
    chromium: &mut Chromium,
    session: &str,
    node: u32,
) -> Result<()> {
    assert!(node_exists(&w.testbed, node)?, "node {node} while sharing");
    chromium.stop_sharing()?;
    let closed = format!("session closed session={session} ");
    w.testbed.wait_for("the portal session to close", &[], || {
        let log = std::fs::read_to_string(w.testbed.log_path(Component::IonChannel))?;
        Ok(log.contains(&closed))
    })?;
    w.testbed.wait_for("the node to go", &[], || {
        Ok(!node_exists(&w.testbed, node)?)
    })?;
    let state = chromium.state()?;
    assert_eq!(state.ready_state, "ended", "{state:?}");
    assert!(chromium.is_running(), "the browser lives on");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shares_a_monitor_that_matches_the_screen() -> Result<()> {
    let mut w = world_with_probe(
        ion_lab::testbed::Testbed::builder().outputs(two_outputs()),
        &["--animate"],
    )
    .await?;
    if !w.app_runs_here("Chromium", chromium::missing()) {
        return w.done();
    }
    let (chooser, policy) = Chooser::install(&w.testbed)?;
    w.testbed.set_policy(policy)?;
    chooser.answer(&format!(r#"{{"allow":true,"outputs":["{SHARED}"]}}"#))?;
    println!("Chromium {}", chromium::version().unwrap_or_default());
    let mut chromium = Chromium::start(&w.testbed)?;

    let track = chromium.grab("monitor")?;
    println!("track: {track:?}");
    let asked = chooser.asked();
    assert_eq!(asked.len(), 1, "the person is asked once: {asked:?}");
    assert_eq!(track.settings.display_surface, "monitor");
    assert_eq!(
        (track.settings.width, track.settings.height),
        SHARED_SIZE,
        "the track has the output's size"
    );
    let LoggedStream { session, node, .. } = last_stream(&w.testbed, Some(SHARED))?;

    // Its pixels are the screen's: a grim screenshot of the output, and
    // the probe's known picture.
    let screen: Picture = w.testbed.output_picture(SHARED)?;
    assert_eq!((screen.width, screen.height), SHARED_SIZE);
    let points = grid(SHARED_SIZE.0, SHARED_SIZE.1);
    let sample = chromium.sample(&points)?;
    assert_eq!((sample.width, sample.height), SHARED_SIZE);
    let vs_screen = worst(&points, &sample.rgb, |x, y| screen.pixel(x, y));
    let vs_probe = worst(&points, &sample.rgb, |x, y| pattern_pixel(1, x, y));
    println!(
        "{} points: worst against grim {vs_screen:?}, against the probe's picture {vs_probe:?}",
        points.len()
    );
    assert!(
        vs_screen.0 <= TOLERANCE,
        "against the screen: {vs_screen:?}"
    );
    assert!(vs_probe.0 <= TOLERANCE, "against the probe: {vs_probe:?}");

    // Its frames follow the screen: the probe's counter moves on in them,
    // and keeps up with what the probe draws.
    let first = counter(&mut chromium)?;
    std::thread::sleep(Duration::from_millis(700));
    let second = counter(&mut chromium)?;
    let drawn = w
        .log
        .records()?
        .iter()
        .filter_map(|r| match &r.event {
            ion_lab::probe::record::Event::FrameDrawn { output, frame, .. } if output == SHARED => {
                Some(*frame)
            }
            _ => None,
        })
        .max()
        .context("the probe drew no frame")?;
    println!("counter in Chromium: {first}, then {second}; the probe's last: {drawn}");
    assert!(second > first, "the frames follow the screen");
    assert!(
        drawn.saturating_sub(second) <= 30,
        "Chromium's frame is {} frames behind",
        drawn - second
    );

    stop_and_check_the_end(&w, &mut chromium, &session, node)?;
    chromium.stop();
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shares_a_window_and_follows_its_size() -> Result<()> {
    let policy = format!(
        "[[allow]]\napp_id = \"\"\nsources = [\"window\"]\nwindows = [{{ app_id = \"{WINDOW_APP_ID}\" }}]\n"
    );
    let w = world_with(
        ion_lab::testbed::Testbed::builder()
            .outputs(two_outputs())
            .policy(policy),
    )
    .await?;
    if !w.app_runs_here("Chromium", chromium::missing()) {
        return w.done();
    }
    let window = w.testbed.start_window(&[
        "--app-id",
        WINDOW_APP_ID,
        "--title",
        "shared with Chromium",
        "--size",
        "400x300",
        "--resize-to",
        "640x360",
    ])?;
    let mut chromium = Chromium::start(&w.testbed)?;
    let track = chromium.grab("window")?;
    println!("track: {track:?}");
    assert_eq!(track.settings.display_surface, "window");
    assert_eq!((track.settings.width, track.settings.height), (400, 300));
    let LoggedStream { session, node, .. } = last_stream(&w.testbed, None)?;

    let check = |chromium: &mut Chromium, (width, height): (u32, u32)| -> Result<()> {
        let points = grid(width, height);
        let sample = chromium.sample(&points)?;
        ensure!(
            (sample.width, sample.height) == (width, height),
            "a {}x{} frame",
            sample.width,
            sample.height
        );
        let vs_window = worst(&points, &sample.rgb, |x, y| {
            pattern_pixel(WINDOW_PATTERN, x, y)
        });
        println!("{width}x{height}: worst against the window's picture {vs_window:?}");
        ensure!(
            vs_window.0 <= TOLERANCE,
            "against the window: {vs_window:?}"
        );
        Ok(())
    };
    check(&mut chromium, (400, 300))?;

    // The window grows: the track follows.
    window.resize(&w.testbed, (640, 360))?;
    let deadline = Instant::now() + WAIT;
    loop {
        let state = chromium.state()?;
        if (state.width, state.height) == (640, 360) {
            break;
        }
        ensure!(Instant::now() < deadline, "the track stayed {state:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    check(&mut chromium, (640, 360))?;

    stop_and_check_the_end(&w, &mut chromium, &session, node)?;
    assert!(window.is_running());
    chromium.stop();
    w.done()
}
