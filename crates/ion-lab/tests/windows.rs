//! Window sources end to end (ScreenCast `types` 2): ext-foreign-toplevel-
//! list names the window, ext-image-copy-capture captures it, a real
//! consumer sees its pixels; the stream follows a resize and ends when the
//! window closes. Needs a compositor with both protocols (Debian testing's
//! sway 1.12 and labwc 0.20, and the cosmic-comp stand-in); elsewhere the
//! test says so and returns. Where the compositor has
//! ext-image-copy-capture, window capture must be on offer: these tests
//! then never return early.

mod common;

use anyhow::{Context, Result};
use common::*;
use ion_lab::client::ScreenCast;
use ion_lab::probe::pattern_pixel;
use ion_lab::window::WINDOW_PATTERN;

const APP_ID: &str = "org.ionchannel.TestWindow";

fn policy() -> String {
    format!(
        "[[allow]]\napp_id = \"\"\nsources = [\"window\"]\nwindows = [{{ app_id = \"{APP_ID}\" }}]\n"
    )
}

/// Whether window sources are offered; prints why not. A compositor with
/// ext-image-copy-capture here (sway 1.12, labwc 0.20, the cosmic-comp
/// stand-in) has the toplevel list and capture source too: there,
/// missing window capture is a failure, not a skip.
async fn window_capture(w: &World) -> Result<bool> {
    let types = available_source_types(w).await?;
    if types & 2 != 0 {
        return Ok(true);
    }
    let version = w.testbed.compositor_version()?;
    anyhow::ensure!(
        !version.has_ext_image_copy_capture(),
        "{} has ext-image-copy-capture but AvailableSourceTypes is {types:#x}: no window capture",
        version.short()
    );
    eprintln!(
        "SKIPPED: {} offers no window capture (AvailableSourceTypes {types:#x}; needs ext-foreign-toplevel-list + ext-image-copy-capture)",
        version.short()
    );
    Ok(false)
}

/// AvailableSourceTypes as the frontend reports it.
async fn available_source_types(w: &World) -> Result<u32> {
    let reply = w
        .client
        .conn
        .call_method(
            Some("org.freedesktop.portal.Desktop"),
            "/org/freedesktop/portal/desktop",
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.freedesktop.portal.ScreenCast", "AvailableSourceTypes"),
        )
        .await?;
    let value: zbus::zvariant::OwnedValue = reply.body().deserialize()?;
    Ok(u32::try_from(value)?)
}

fn assert_window_pixels(rgb: &[u8], width: u32, height: u32) {
    for (x, y) in [(0, 0), (width / 2, height / 3), (width - 1, height - 1)] {
        let i = ((y * width + x) * 3) as usize;
        assert_eq!(
            &rgb[i..i + 3],
            &pattern_pixel(WINDOW_PATTERN, x, y),
            "window pixel ({x}, {y}) of {width}x{height}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_is_shared_follows_its_resizes_and_ends_when_it_closes() -> Result<()> {
    let w = world_with(
        ion_lab::testbed::Testbed::builder()
            .outputs(two_outputs())
            .policy(policy()),
    )
    .await?;
    if !window_capture(&w).await? {
        return w.done();
    }
    let window = w.testbed.start_window(&[
        "--app-id",
        APP_ID,
        "--title",
        "shared window",
        "--size",
        "400x300",
        "--resize-to",
        "640x360",
    ])?;
    // Another window that must not be chosen.
    let _other = w
        .testbed
        .start_window(&["--app-id", "org.example.Other", "--size", "200x100"])?;

    let sc = ScreenCast::create(&w.client).await?;
    sc.select_sources(2, false, 1).await?.ok()?;
    let (resp, results) = sc.start().await?;
    assert_eq!(resp.code, 0, "Start");
    let streams = results.context("Start results")?.streams;
    assert_eq!(streams.len(), 1, "{streams:?}");
    let stream = &streams[0];
    assert_eq!(stream.source_type, Some(2), "window");
    assert_eq!(stream.size, Some((400, 300)));
    assert_eq!(stream.position, None, "a window has no place in the layout");

    let consumer = w.testbed.start_consumer(stream.node_id, true, &[])?;
    let first = consumer.wait_for("a window frame", WAIT, |f| f.iter().position(|r| r.valid))?;
    let frames = consumer.frames();
    assert_eq!((frames[first].width, frames[first].height), (400, 300));
    assert_window_pixels(&consumer.saved(first, 400, 300)?, 400, 300);

    // The window grows: the stream renegotiates and the consumer gets
    // frames of the new size.
    window.resize(&w.testbed, (640, 360))?;
    let bigger = consumer.wait_for("a 640x360 frame", WAIT, |f| {
        f.iter()
            .position(|r| r.valid && r.width == 640 && r.height == 360)
    })?;
    assert_window_pixels(&consumer.saved(bigger, 640, 360)?, 640, 360);

    // The window closes: its stream ends (the consumer sees the node go)
    // and the session, left without streams, is closed.
    window.close();
    let testbed = &w.testbed;
    testbed.wait_for("the consumer to end with the stream", &[], || {
        Ok(!consumer.is_running())
    })?;
    testbed.wait_for("the session to close", &[], || {
        let log =
            std::fs::read_to_string(testbed.log_path(ion_lab::testbed::Component::IonChannel))?;
        Ok(log.contains("capture source gone") && log.contains("session closed"))
    })?;
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_matching_window_cancels_with_the_open_windows_in_the_log() -> Result<()> {
    let w = world_with(
        ion_lab::testbed::Testbed::builder()
            .outputs(two_outputs())
            .policy(policy()),
    )
    .await?;
    if !window_capture(&w).await? {
        return w.done();
    }
    let _other = w
        .testbed
        .start_window(&["--app-id", "org.example.Other", "--title", "not me"])?;
    let sc = ScreenCast::create(&w.client).await?;
    sc.select_sources(2, false, 1).await?.ok()?;
    let (resp, _) = sc.start().await?;
    assert_eq!(resp.code, 1, "no window matches: cancelled");
    let log = std::fs::read_to_string(w.testbed.log_path(ion_lab::testbed::Component::IonChannel))?;
    assert!(
        log.contains("org.example.Other") && log.contains("not me"),
        "the log names the open windows: {log}"
    );
    w.done()
}
