//! ext-image-copy-capture: output and window frames show the window's
//! pixels where they belong, in buffer orientation with the output's
//! transform; damage, constraints, `failed` and `stopped`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use wayland_client::protocol::wl_shm;
use wayland_client::EventQueue;
use wayland_protocols::ext::foreign_toplevel_list::v1::client::ext_foreign_toplevel_list_v1::ExtForeignToplevelListV1;
use wayland_protocols::ext::image_capture_source::v1::client::{
    ext_foreign_toplevel_image_capture_source_manager_v1::ExtForeignToplevelImageCaptureSourceManagerV1,
    ext_output_image_capture_source_manager_v1::ExtOutputImageCaptureSourceManagerV1,
};
use wayland_protocols::ext::image_copy_capture::v1::client::{
    ext_image_copy_capture_manager_v1::{ExtImageCopyCaptureManagerV1, Options},
    ext_image_copy_capture_session_v1::ExtImageCopyCaptureSessionV1,
};
use wayland_protocols_wlr::output_management::v1::client::zwlr_output_manager_v1::ZwlrOutputManagerV1;

const XRGB: u32 = 1;
const ARGB: u32 = 0;
const XBGR: u32 = 0x3432_4258;
const ABGR: u32 = 0x3432_4241;

const WINDOW: (u32, u32) = (200, 100);

/// An output capture session on `name`; waits for its constraints.
fn output_session(
    queue: &mut EventQueue<App>,
    app: &mut App,
    name: &str,
) -> (ExtImageCopyCaptureSessionV1, usize) {
    let qh = queue.handle();
    let sources: ExtOutputImageCaptureSourceManagerV1 =
        app.bind(&qh, "ext_output_image_capture_source_manager_v1", 1, ());
    let manager: ExtImageCopyCaptureManagerV1 =
        app.bind(&qh, "ext_image_copy_capture_manager_v1", 1, ());
    let source = sources.create_source(&app.output_named(name), &qh, ());
    let index = app.sessions.len();
    app.sessions.push(Default::default());
    let session = manager.create_session(&source, Options::empty(), &qh, index);
    dispatch_until(queue, app, "session constraints", |a| {
        a.sessions[index].done > 0
    });
    (session, index)
}

/// Checks a whole 1920x1080 output frame: every buffer pixel is the
/// window's where its upright position is in the window (at 0,0), black
/// elsewhere; `transform` as ionChannel reads it (ion-core).
fn assert_output_frame(bytes: &[u8], transform: u32) {
    assert_output_frame_with_paint(bytes, transform, (0, 0, 0, 0));
}

/// The same with a white rectangle painted on the window.
fn assert_output_frame_with_paint(bytes: &[u8], transform: u32, white: (u32, u32, u32, u32)) {
    let t = ion_core::transform::Transform::from_wl(transform).unwrap();
    let (w, h) = (1920, 1080);
    let mut wrong = Vec::new();
    for by in 0..h {
        for bx in 0..w {
            let (ux, uy) = t.upright_point(w, h, bx, by);
            let painted = (white.0..white.0 + white.2).contains(&ux)
                && (white.1..white.1 + white.3).contains(&uy);
            let want = if painted {
                [255, 255, 255]
            } else if ux < WINDOW.0 && uy < WINDOW.1 {
                window_pixel(ux, uy)
            } else {
                [0, 0, 0]
            };
            let got = CaptureBuffer::rgb_xrgb(bytes, w, bx, by);
            if got != want && wrong.len() < 5 {
                wrong.push(format!(
                    "buffer ({bx},{by}) upright ({ux},{uy}): {got:?} != {want:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "transform {transform}: {wrong:#?}");
}

#[test]
fn output_and_window_frames_show_the_window() {
    let compositor = Compositor::start(&["--outputs", "1"]);
    let (_wconn, mut wq, mut wapp) = compositor.connect();
    let mut window = TestWindow::map(&mut wq, &mut wapp, "org.test.Capture", WINDOW);

    let (_conn, mut q, mut app) = compositor.connect();
    let qh = q.handle();

    // The output: 1920x1080 with cosmic-comp's formats.
    let (session, s) = output_session(&mut q, &mut app, "HEADLESS-1");
    assert_eq!(app.sessions[s].size, Some((1920, 1080)));
    for f in [XBGR, ABGR, XRGB, ARGB] {
        assert!(
            app.sessions[s].formats.contains(&f),
            "{:?}",
            app.sessions[s]
        );
    }
    let buf = CaptureBuffer::new(&q, &app, (1920, 1080), wl_shm::Format::Xrgb8888);
    let (f, i) = capture(&mut q, &mut app, &session, &buf.buffer);
    wait_frame(&mut q, &mut app, i);
    f.destroy();
    let frame = app.frames[i].clone();
    assert!(frame.ready, "{frame:?}");
    assert_eq!(frame.transform, Some(0));
    assert!(frame.presented);
    assert_eq!(
        frame.damage,
        vec![(0, 0, 1920, 1080)],
        "first frame: full damage"
    );
    assert_output_frame(&buf.bytes(), 0);

    // A buffer of the wrong size fails with buffer_constraints.
    let small = CaptureBuffer::new(&q, &app, (100, 100), wl_shm::Format::Xrgb8888);
    let (f, i) = capture(&mut q, &mut app, &session, &small.buffer);
    wait_frame(&mut q, &mut app, i);
    f.destroy();
    assert_eq!(app.frames[i].failed, Some(1), "buffer_constraints");

    // The next frame waits for a change, then reports what changed.
    let (f, i) = capture(&mut q, &mut app, &session, &buf.buffer);
    dispatch_for(&mut q, &mut app, Duration::from_millis(200));
    assert!(
        !app.frames[i].ready && app.frames[i].failed.is_none(),
        "nothing changed: the frame waits ({:?})",
        app.frames[i]
    );
    window.paint((10, 20, 30, 40), [255, 255, 255]);
    wq.flush().unwrap();
    wait_frame(&mut q, &mut app, i);
    f.destroy();
    let frame = app.frames[i].clone();
    assert!(frame.ready, "{frame:?}");
    let covers = |x: i32, y: i32| {
        frame
            .damage
            .iter()
            .any(|&(dx, dy, dw, dh)| x >= dx && y >= dy && x < dx + dw && y < dy + dh)
    };
    assert!(
        covers(10, 20) && covers(39, 59),
        "damage {:?}",
        frame.damage
    );
    let area: i32 = frame.damage.iter().map(|d| d.2 * d.3).sum();
    assert!(
        area < 1920 * 1080 / 4,
        "damage is the change, not everything: {:?}",
        frame.damage
    );
    let bytes = buf.bytes();
    assert_eq!(
        CaptureBuffer::rgb_xrgb(&bytes, 1920, 15, 25),
        [255, 255, 255]
    );
    assert_eq!(
        CaptureBuffer::rgb_xrgb(&bytes, 1920, 50, 50),
        window_pixel(50, 50)
    );

    // The window as a toplevel source: just its pixels, in ABGR.
    let list: ExtForeignToplevelListV1 = app.bind(&qh, "ext_foreign_toplevel_list_v1", 1, ());
    let _ = &list;
    dispatch_until(&mut q, &mut app, "the window in the toplevel list", |a| {
        a.toplevels
            .iter()
            .any(|(_, t)| t.done && t.app_id.as_deref() == Some("org.test.Capture"))
    });
    let (handle, info) = app
        .toplevels
        .iter()
        .find(|(_, t)| t.app_id.as_deref() == Some("org.test.Capture"))
        .cloned()
        .unwrap();
    assert!(info.identifier.is_some_and(|i| !i.is_empty()));
    let sources: ExtForeignToplevelImageCaptureSourceManagerV1 = app.bind(
        &qh,
        "ext_foreign_toplevel_image_capture_source_manager_v1",
        1,
        (),
    );
    let manager: ExtImageCopyCaptureManagerV1 =
        app.bind(&qh, "ext_image_copy_capture_manager_v1", 1, ());
    let source = sources.create_source(&handle, &qh, ());
    let ts = app.sessions.len();
    app.sessions.push(Default::default());
    let tsession = manager.create_session(&source, Options::empty(), &qh, ts);
    dispatch_until(&mut q, &mut app, "window session constraints", |a| {
        a.sessions[ts].done > 0
    });
    assert_eq!(app.sessions[ts].size, Some(WINDOW));
    let wbuf = CaptureBuffer::new(&q, &app, WINDOW, wl_shm::Format::Abgr8888);
    let (f, i) = capture(&mut q, &mut app, &tsession, &wbuf.buffer);
    wait_frame(&mut q, &mut app, i);
    f.destroy();
    assert!(app.frames[i].ready, "{:?}", app.frames[i]);
    assert_eq!(app.frames[i].transform, Some(0));
    let bytes = wbuf.bytes();
    for y in 0..WINDOW.1 {
        for x in 0..WINDOW.0 {
            let want = if (10..40).contains(&x) && (20..60).contains(&y) {
                [255, 255, 255]
            } else {
                window_pixel(x, y)
            };
            assert_eq!(
                CaptureBuffer::rgb_xbgr(&bytes, WINDOW.0, x, y),
                want,
                "({x},{y})"
            );
            assert_eq!(bytes[((y * WINDOW.0 + x) * 4 + 3) as usize], 0xff, "opaque");
        }
    }

    // The window grows: new constraints, frames of the new size.
    window.resize(&wq, &wapp, (300, 150));
    wq.flush().unwrap();
    dispatch_until(&mut q, &mut app, "the window's new constraints", |a| {
        a.sessions[ts].done > 1
    });
    assert_eq!(app.sessions[ts].size, Some((300, 150)));
    let wbuf = CaptureBuffer::new(&q, &app, (300, 150), wl_shm::Format::Xbgr8888);
    let (f, i) = capture(&mut q, &mut app, &tsession, &wbuf.buffer);
    wait_frame(&mut q, &mut app, i);
    f.destroy();
    assert!(app.frames[i].ready, "{:?}", app.frames[i]);
    let bytes = wbuf.bytes();
    for (x, y) in [(0, 0), (299, 149), (150, 75), (250, 20)] {
        assert_eq!(
            CaptureBuffer::rgb_xbgr(&bytes, 300, x, y),
            window_pixel(x, y),
            "({x},{y})"
        );
    }

    // The window closes: the waiting frame fails with `stopped`, the
    // session is stopped.
    let (f, i) = capture(&mut q, &mut app, &tsession, &wbuf.buffer);
    dispatch_for(&mut q, &mut app, Duration::from_millis(100));
    window.close();
    wq.flush().unwrap();
    wait_frame(&mut q, &mut app, i);
    f.destroy();
    assert_eq!(app.frames[i].failed, Some(2), "stopped");
    dispatch_until(&mut q, &mut app, "the session stopped", |a| {
        a.sessions[ts].stopped
    });
    assert!(!app.sessions[s].stopped, "the output session goes on");
    dispatch_until(&mut q, &mut app, "the toplevel closed", |a| {
        a.toplevels.iter().any(|(h, t)| *h == handle && t.closed)
    });
    assert!(compositor.log().contains("capture session stopped"));
}

#[test]
fn frames_come_in_buffer_orientation_with_the_outputs_transform() {
    // Flipped-180 from the start, as cosmic-comp's winit output has it.
    let compositor =
        Compositor::start(&["--outputs", "1", "--transform", "HEADLESS-1=flipped-180"]);
    let (_wconn, mut wq, mut wapp) = compositor.connect();
    let window = TestWindow::map(&mut wq, &mut wapp, "org.test.Flipped", WINDOW);
    let (_conn, mut q, mut app) = compositor.connect();
    let qh = q.handle();
    dispatch_until(&mut q, &mut app, "output info", |a| a.outputs[0].1.done > 0);
    assert_eq!(
        app.outputs[0].1.transform,
        Some(6),
        "wl_output says flipped-180"
    );

    let (session, s) = output_session(&mut q, &mut app, "HEADLESS-1");
    assert_eq!(
        app.sessions[s].size,
        Some((1920, 1080)),
        "buffer size = mode"
    );
    let buf = CaptureBuffer::new(&q, &app, (1920, 1080), wl_shm::Format::Xrgb8888);
    let (f, i) = capture(&mut q, &mut app, &session, &buf.buffer);
    wait_frame(&mut q, &mut app, i);
    f.destroy();
    assert!(app.frames[i].ready, "{:?}", app.frames[i]);
    assert_eq!(
        app.frames[i].transform,
        Some(6),
        "the frame carries Flipped180"
    );
    assert_output_frame(&buf.bytes(), 6);
    // Concretely: the window's top-left pixel is at the buffer's
    // bottom-left.
    assert_eq!(
        CaptureBuffer::rgb_xrgb(&buf.bytes(), 1920, 0, 1079),
        window_pixel(0, 0)
    );

    // Turned to 90 through wlr-output-management: new constraints (same
    // buffer size: the mode's), frames carry 90.
    let manager: ZwlrOutputManagerV1 = app.bind(&qh, "zwlr_output_manager_v1", 4, ());
    dispatch_until(&mut q, &mut app, "heads", |a| a.om_serial.is_some());
    let (head, _) = app.head_named("HEADLESS-1");
    let config = manager.create_configuration(app.om_serial.unwrap(), &qh, ());
    let ch = config.enable_head(&head, &qh, ());
    ch.set_transform(wayland_client::protocol::wl_output::Transform::_90);
    config.apply();
    dispatch_until(&mut q, &mut app, "the configuration's answer", |a| {
        !a.config_results.is_empty()
    });
    assert_eq!(app.config_results, ["succeeded"]);
    dispatch_until(&mut q, &mut app, "new constraints", |a| {
        a.sessions[s].done > 1
    });
    assert_eq!(app.sessions[s].size, Some((1920, 1080)));
    let (f, i) = capture(&mut q, &mut app, &session, &buf.buffer);
    wait_frame(&mut q, &mut app, i);
    f.destroy();
    assert!(app.frames[i].ready, "{:?}", app.frames[i]);
    assert_eq!(app.frames[i].transform, Some(1), "the frame carries 90");
    assert_output_frame(&buf.bytes(), 1);
    dispatch_until(&mut q, &mut app, "wl_output transform 90", |a| {
        a.outputs[0].1.transform == Some(1)
    });

    // A change reports just its damage, in buffer coordinates.
    let (f, i) = capture(&mut q, &mut app, &session, &buf.buffer);
    dispatch_for(&mut q, &mut app, Duration::from_millis(100));
    assert!(!app.frames[i].ready, "nothing changed: {:?}", app.frames[i]);
    window.paint((10, 20, 30, 40), [255, 255, 255]);
    wq.flush().unwrap();
    wait_frame(&mut q, &mut app, i);
    f.destroy();
    let frame = app.frames[i].clone();
    assert!(frame.ready, "{frame:?}");
    let t = ion_core::transform::Transform::from_wl(1).unwrap();
    let (bx, by, bw, bh) = t.buffer_rect(1920, 1080, (10, 20, 30, 40));
    let covered = |x: u32, y: u32| {
        frame.damage.iter().any(|&(dx, dy, dw, dh)| {
            (x as i32) >= dx && (y as i32) >= dy && (x as i32) < dx + dw && (y as i32) < dy + dh
        })
    };
    assert!(
        covered(bx, by) && covered(bx + bw - 1, by + bh - 1),
        "damage {:?} covers buffer rect {:?}",
        frame.damage,
        (bx, by, bw, bh)
    );
    let area: i32 = frame.damage.iter().map(|d| d.2 * d.3).sum();
    assert!(area < 1920 * 1080 / 4, "partial damage: {:?}", frame.damage);
    assert_output_frame_with_paint(&buf.bytes(), 1, (10, 20, 30, 40));
}

#[test]
fn cursor_sessions_report_no_cursor() {
    let compositor = Compositor::start(&["--outputs", "1"]);
    let (_conn, mut q, mut app) = compositor.connect();
    let qh = q.handle();
    let seat: wayland_client::protocol::wl_seat::WlSeat = app.bind(&qh, "wl_seat", 9, ());
    let pointer = seat.get_pointer(&qh, ());
    let sources: ExtOutputImageCaptureSourceManagerV1 =
        app.bind(&qh, "ext_output_image_capture_source_manager_v1", 1, ());
    let manager: ExtImageCopyCaptureManagerV1 =
        app.bind(&qh, "ext_image_copy_capture_manager_v1", 1, ());
    let source = sources.create_source(&app.output_named("HEADLESS-1"), &qh, ());
    let cursor = manager.create_pointer_cursor_session(&source, &pointer, &qh, ());
    let s = app.sessions.len();
    app.sessions.push(Default::default());
    let session = cursor.get_capture_session(&qh, s);
    dispatch_until(&mut q, &mut app, "cursor constraints", |a| {
        a.sessions[s].done > 0
    });
    let (w, h) = app.sessions[s].size.unwrap();
    assert!(w > 0 && h > 0);
    let buf = CaptureBuffer::new(&q, &app, (w, h), wl_shm::Format::Argb8888);
    let (f, i) = capture(&mut q, &mut app, &session, &buf.buffer);
    wait_frame(&mut q, &mut app, i);
    f.destroy();
    assert!(app.frames[i].ready, "{:?}", app.frames[i]);
    assert!(
        buf.bytes().iter().all(|b| *b == 0),
        "no cursor: transparent"
    );
    assert!(!app.cursor_entered, "the pointer never enters");
}
