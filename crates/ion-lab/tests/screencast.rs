//! ScreenCast end to end: frames from the real compositor reach a real
//! consumer (GStreamer pipewiresrc) through PipeWire.

mod common;

use anyhow::{Context, Result};
use common::*;
use ion_lab::client::RemoteDesktop;
use ion_lab::probe::pattern_pixel;

/// A consumer that never gets its frame fails the test instead of hanging
/// it (`timeout`'s limit, seconds).
const GST_TIMEOUT: &str = "30";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_frame_shows_the_probe_picture() -> Result<()> {
    let w = world().await?;
    let (_rd, streams) = cast(&w, 3, true, 1).await?;
    let second = streams
        .iter()
        .find(|s| s.position == Some((1920, 0)))
        .context("stream of HEADLESS-2")?;
    let rgb = first_frame(&w.testbed, second.node_id, "frame.rgb")?;
    assert_eq!(rgb.len(), 1280 * 720 * 3, "frame size");
    // The probe's picture on output index 1, checked at a grid of points
    // away from the cursor.
    for (x, y) in [
        (0u32, 0u32),
        (100, 50),
        (640, 360),
        (1279, 719),
        (1000, 700),
    ] {
        let i = ((y * 1280 + x) * 3) as usize;
        assert_eq!(&rgb[i..i + 3], &pattern_pixel(1, x, y), "pixel ({x}, {y})");
    }
    w.done()
}

/// Where the compositor has both capture protocols, ext-image-copy-capture
/// is chosen, and wlr-screencopy (forced with IONCHANNEL_CAPTURE) still
/// gives the same picture: the fallback stays tested on the newer stack.
/// (The cosmic-comp stand-in has no wlr-screencopy: the forced run says so
/// and stops.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_capture_paths_give_the_same_picture() -> Result<()> {
    for forced in [None, Some("screencopy")] {
        let Some(w) = world_capturing(
            ion_lab::testbed::Testbed::builder().outputs(two_outputs()),
            forced,
            &[],
        )
        .await?
        else {
            return Ok(());
        };
        let (_rd, streams) = cast(&w, 3, false, 1).await?;
        let node = streams.first().context("a stream")?.node_id;
        // The probe's picture arrives (sway 1.7's screencopy may hand over
        // the output as it was just before the probe's first buffers were
        // composited; the second whole frame then shows them). Points away
        // from the output's middle, where a software cursor may be drawn.
        let consumer = w.testbed.start_consumer(node, true, &[])?;
        let points = [(0u32, 0u32), (100, 50), (1919, 1079), (1500, 20)];
        let shown = consumer.wait_for("the probe's picture", WAIT, |f| {
            f.iter().enumerate().find_map(|(i, r)| {
                let rgb = consumer.saved(i, 1920, 1080).ok().filter(|_| r.valid)?;
                points
                    .iter()
                    .all(|&(x, y)| {
                        let p = ((y * 1920 + x) * 3) as usize;
                        rgb.get(p..p + 3) == Some(&pattern_pixel(0, x, y)[..])
                    })
                    .then_some(i)
            })
        })?;
        assert!(shown < 3, "the picture came only with frame {shown}");
        let path = w.capture_path();
        match (forced, w.testing_stack()) {
            (Some(_), _) | (None, false) => {
                assert_eq!(path.as_deref(), Some("wlr-screencopy"))
            }
            (None, true) => assert_eq!(path.as_deref(), Some("ext-image-copy-capture")),
        }
        w.done()?;
    }
    Ok(())
}

/// RustDesk's whole flow: RemoteDesktop CreateSession → SelectDevices(7) →
/// ScreenCast SelectSources(monitor) → Start → OpenPipeWireRemote, then a
/// frame through the frontend's restricted PipeWire connection, and an
/// absolute click where the frame shows the point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rustdesk_flow_frames_through_open_pipewire_remote() -> Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    let w = world().await?;
    let (rd, streams) = cast(&w, 7, false, 1).await?;
    assert_eq!(streams.len(), 1, "one monitor without `multiple`");
    let stream = &streams[0];
    assert_eq!(stream.position, Some((0, 0)));
    assert_eq!(stream.size, Some((1920, 1080)));

    let out = w.testbed.paths().root.join("rd-frame.rgb");
    for attempt in 1.. {
        let before = w.testbed.pipewire_memoryless_buffers();
        let remote = rd.open_pipewire_remote().await?;
        let raw = remote.as_raw_fd();
        let mut cmd = w.testbed.command("timeout");
        cmd.args([
            GST_TIMEOUT,
            "gst-launch-1.0",
            "-q",
            "pipewiresrc",
            "fd=3",
            &format!("path={}", stream.node_id),
            "num-buffers=1",
            "!",
            "videoconvert",
            "!",
            "video/x-raw,format=RGB",
            "!",
            "filesink",
            &format!("location={}", out.display()),
        ]);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(raw, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let gst = tokio::task::spawn_blocking(move || cmd.output()).await??;
        drop(remote);
        anyhow::ensure!(
            gst.status.success(),
            "gst-launch: {}",
            String::from_utf8_lossy(&gst.stderr)
        );
        if !memoryless_link(&w.testbed, before, attempt) {
            break;
        }
    }
    let rgb = std::fs::read(&out)?;
    assert_eq!(rgb.len(), 1920 * 1080 * 3);
    for (x, y) in [(5u32, 5u32), (1500, 900), (1919, 1079)] {
        let i = ((y * 1920 + x) * 3) as usize;
        assert_eq!(&rgb[i..i + 3], &pattern_pixel(0, x, y), "pixel ({x}, {y})");
    }

    // Absolute input on the stream lands where the frame shows that point.
    if !pointer_runs(&w.testbed, "the absolute motion onto the frame") {
        return w.done();
    }
    w.log.wait_capabilities(true, true).await?;
    let mark = w.log.mark()?;
    rd.pointer_motion_absolute(stream.node_id, 1500.0, 900.0)
        .await?;
    let seen = w
        .log
        .wait_since(mark, WAIT, "motion to the point in the frame", |r| {
            motions(r).last().cloned()
        })
        .await?;
    assert_eq!(
        (seen.0.as_str(), seen.1, seen.2),
        ("HEADLESS-1", 1500.0, 900.0)
    );
    w.done()
}

/// Runs a pipewiresrc consumer for `window` with `caps` after the source
/// (e.g. a max-framerate) and returns when each buffer arrived, relative
/// to the consumer's start.
fn frame_times(
    testbed: &ion_lab::testbed::Testbed,
    node: u32,
    caps: &str,
    window: std::time::Duration,
) -> Result<Vec<std::time::Duration>> {
    use std::io::BufRead;
    let start = std::time::Instant::now();
    // Line-buffered: gst-launch writes to a pipe, and a killed process
    // loses a block buffer's worth of lines.
    let mut child = testbed
        .command("stdbuf")
        .args([
            "-oL",
            "gst-launch-1.0",
            "-v",
            "pipewiresrc",
            &format!("path={node}"),
            "!",
        ])
        .args(caps.split(' '))
        .args(["!", "fakesink", "silent=false"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("gst stdout")?;
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.contains("chain"))
            .map(|_| start.elapsed())
            .collect::<Vec<_>>()
    });
    std::thread::sleep(window);
    let _ = child.kill();
    let _ = child.wait();
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader thread panicked"))
}

/// RemoteDesktop with monitor sources, started: the session and its streams.
async fn cast(
    w: &World,
    devices: u32,
    multiple: bool,
    cursor_mode: u32,
) -> Result<(RemoteDesktop<'_>, Vec<ion_lab::client::Stream>)> {
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(devices).await?.ok()?;
    rd.select_sources(1, multiple, cursor_mode).await?.ok()?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    Ok((rd, results.map(|r| r.streams).unwrap_or_default()))
}

async fn cast_first_output(w: &World) -> Result<u32> {
    let (_, streams) = cast(w, 3, false, 1).await?;
    Ok(streams.first().context("a stream")?.node_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_screen_sends_one_frame_changing_screen_sends_more_within_the_cap() -> Result<()> {
    // A static picture: the first frame, then nothing.
    let w = world().await?;
    let node = cast_first_output(&w).await?;
    let window = std::time::Duration::from_secs(2);
    let still = frame_times(&w.testbed, node, "video/x-raw", window * 2)?;
    assert!(!still.is_empty(), "the first frame must come");
    // The first frame, and whatever the compositor repaints while the
    // consumer starts; then nothing while nothing changes.
    let late: Vec<_> = still.iter().filter(|t| t.as_secs_f64() > 1.5).collect();
    assert!(
        late.is_empty(),
        "a static screen must cost nothing: frames at {still:?}"
    );
    // A consumer that comes back gets a first frame again.
    let again = frame_times(&w.testbed, node, "video/x-raw", window)?;
    assert!(
        !again.is_empty(),
        "a reconnecting consumer must get a frame"
    );
    w.done()?;

    // An animated picture (the probe redraws every frame): frames flow,
    // and a consumer's max-framerate of 10 holds.
    let w = world_with_probe(
        ion_lab::testbed::Testbed::builder().outputs(two_outputs()),
        &["--animate"],
    )
    .await?;
    let node = cast_first_output(&w).await?;
    let free = frame_times(&w.testbed, node, "video/x-raw", window)?.len();
    assert!(
        free > 10,
        "an animated screen must stream ({free} frames in {window:?})"
    );
    let capped = frame_times(&w.testbed, node, "video/x-raw,max-framerate=10/1", window)?.len();
    // 10 fps over the window, plus the first frame and one of slack for
    // where the window's edges fall.
    assert!(
        capped <= 22,
        "max-framerate 10 must hold ({capped} frames in {window:?})"
    );
    assert!(capped >= 5, "capped stream still streams ({capped})");
    w.done()
}

/// One frame of `node` as RGB bytes.
fn first_frame(testbed: &ion_lab::testbed::Testbed, node: u32, name: &str) -> Result<Vec<u8>> {
    let out = testbed.paths().root.join(name);
    for attempt in 1.. {
        let before = testbed.pipewire_memoryless_buffers();
        let gst = testbed
            .command("timeout")
            .args([
                GST_TIMEOUT,
                "gst-launch-1.0",
                "-q",
                "pipewiresrc",
                &format!("path={node}"),
                "num-buffers=1",
                "!",
                "videoconvert",
                "!",
                "video/x-raw,format=RGB",
                "!",
                "filesink",
                &format!("location={}", out.display()),
            ])
            .output()?;
        anyhow::ensure!(
            gst.status.success(),
            "gst-launch: {}",
            String::from_utf8_lossy(&gst.stderr)
        );
        if !memoryless_link(testbed, before, attempt) {
            break;
        }
    }
    Ok(std::fs::read(&out)?)
}

/// Whether the consumer that ran since `before` got buffers without memory
/// from PipeWire 0.3.65 (an upstream fault, see
/// `Testbed::pipewire_memoryless_buffers`): then it saw no picture, and the
/// caller runs it again (at most twice more; a third time fails).
fn memoryless_link(testbed: &ion_lab::testbed::Testbed, before: usize, attempt: u32) -> bool {
    let now = testbed.pipewire_memoryless_buffers();
    if now == before {
        return false;
    }
    assert!(
        attempt < 3,
        "PipeWire gave the consumer buffers without memory {attempt} times in a row"
    );
    eprintln!(
        "PipeWire gave gst-launch {} buffers without memory (the 0.3.65 allocation race, not ionChannel's): run it again",
        now - before
    );
    true
}

/// Pixels around (cx, cy) on output 0 that differ from the probe's picture.
fn differing_near(rgb: &[u8], width: u32, cx: u32, cy: u32) -> usize {
    let mut n = 0;
    for y in cy..cy + 24 {
        for x in cx..cx + 24 {
            let i = ((y * width + x) * 3) as usize;
            if rgb[i..i + 3] != pattern_pixel(0, x, y) {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_cursor_is_in_the_frame() -> Result<()> {
    // The probe keeps the compositor's cursor over its surfaces.
    let w = world_with_probe(
        ion_lab::testbed::Testbed::builder().outputs(two_outputs()),
        &["--keep-cursor"],
    )
    .await?;
    // The pointer puts the cursor where the test looks for it.
    if !pointer_runs(
        &w.testbed,
        "the embedded cursor (it is placed with the pointer)",
    ) {
        return w.done();
    }
    let mut counts = Vec::new();
    // Each session moves the pointer somewhere new (a move to where it
    // already is sends no event).
    for (cursor_mode, cx, cy) in [(2u32, 500u32, 400u32), (1, 700, 300)] {
        let rd = RemoteDesktop::create(&w.client).await?;
        rd.select_devices(3).await?.ok()?;
        rd.select_sources(1, false, cursor_mode).await?.ok()?;
        let (resp, results) = rd.start().await?;
        anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
        let node = results
            .map(|r| r.streams)
            .unwrap_or_default()
            .first()
            .context("stream")?
            .node_id;
        w.log.wait_capabilities(true, true).await?;
        let mark = w.log.mark()?;
        let (fx, fy) = (f64::from(cx), f64::from(cy));
        rd.pointer_motion_absolute(node, fx, fy).await?;
        w.log
            .wait_since(mark, WAIT, "the pointer at its new place", |r| {
                motions(r)
                    .last()
                    .filter(|m| m.1 == fx && m.2 == fy)
                    .cloned()
            })
            .await?;
        let rgb = first_frame(&w.testbed, node, &format!("cursor-{cursor_mode}.rgb"))?;
        // Away from the cursor the picture is exact in both modes.
        assert_eq!(differing_near(&rgb, 1920, 1200, 800), 0);
        counts.push(differing_near(&rgb, 1920, cx, cy));
        rd.close().await?;
    }
    assert!(
        counts[0] > 20,
        "embedded: the cursor must be drawn at the pointer ({} pixels differ)",
        counts[0]
    );
    let labwc = w.testbed.compositor() == ion_lab::testbed::Compositor::Labwc;
    match w.capture_path().as_deref() {
        // labwc 0.20 hands its output's rendered picture to
        // ext-image-copy-capture, software cursor included, whatever
        // paint_cursors says (measured: the same pixels differ in both
        // modes). A compositor limit, documented; sway honours it.
        Some("ext-image-copy-capture") if labwc => eprintln!(
            "hidden mode on labwc: pixels differing at the pointer: {} (labwc paints its software cursor into captures; not checked)",
            counts[1]
        ),
        Some("ext-image-copy-capture") => assert_eq!(
            counts[1], 0,
            "hidden: ext-image-copy-capture without paint_cursors must leave the cursor out"
        ),
        // Hidden cannot be shown with wlr-screencopy on headless wlroots:
        // it has no cursor plane, so the cursor is drawn into the output
        // itself and overlay_cursor=0 cannot leave it out. Documented in
        // docs/ARCHITECTURE.md.
        path => eprintln!(
            "hidden mode with {path:?}: pixels differing at the pointer: {} (not checked)",
            counts[1]
        ),
    }
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_while_frames_flow_ends_the_consumer_cleanly() -> Result<()> {
    let w = world_with_probe(
        ion_lab::testbed::Testbed::builder().outputs(two_outputs()),
        &["--animate"],
    )
    .await?;
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(3).await?.ok()?;
    rd.select_sources(1, false, 1).await?.ok()?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    let node = results
        .map(|r| r.streams)
        .unwrap_or_default()
        .first()
        .context("stream")?
        .node_id;
    let mut gst = w
        .testbed
        .command("gst-launch-1.0")
        .args([
            "-q",
            "pipewiresrc",
            &format!("path={node}"),
            "!",
            "fakesink",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    assert!(
        w.testbed
            .pw_dump()?
            .contains("\"node.name\": \"ionchannel-"),
        "the stream's node is in the graph while the session lives"
    );
    // Let frames flow, then close the session under the consumer.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    rd.close().await?;
    // The node leaves the graph (the consumer, pipewiresrc, then waits for
    // a node that will not come back: what it does is its own business).
    // (Node ids are reused at once, so look for our node's name.)
    let _ = node;
    w.testbed
        .wait_for("the stream's node to leave PipeWire", &[], || {
            Ok(!w
                .testbed
                .pw_dump()?
                .contains("\"node.name\": \"ionchannel-"))
        })?;
    let _ = gst.kill();
    let _ = gst.wait();
    // The daemon goes on: a new session streams again.
    assert!(w
        .testbed
        .is_running(ion_lab::testbed::Component::IonChannel));
    let again = RemoteDesktop::create(&w.client).await?;
    again.select_devices(3).await?.ok()?;
    again.select_sources(1, false, 1).await?.ok()?;
    let (resp, results) = again.start().await?;
    assert_eq!(resp.code, 0);
    let node = results
        .map(|r| r.streams)
        .unwrap_or_default()
        .first()
        .context("stream")?
        .node_id;
    let rgb = first_frame(&w.testbed, node, "after-close.rgb")?;
    assert_eq!(rgb.len(), 1920 * 1080 * 3);
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipewire_going_away_closes_streaming_sessions_not_the_daemon() -> Result<()> {
    let mut w = world().await?;
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(3).await?.ok()?;
    rd.select_sources(1, false, 1).await?.ok()?;
    assert_eq!(rd.start().await?.0.code, 0);
    w.testbed.kill(ion_lab::testbed::Component::PipeWire)?;
    let path = w.testbed.log_path(ion_lab::testbed::Component::IonChannel);
    w.testbed
        .wait_for("ionchannel to close the streaming session", &[], || {
            let log = std::fs::read_to_string(&path)?;
            Ok(log.contains("PipeWire went away") && log.contains("session closed"))
        })?;
    let log = std::fs::read_to_string(&path)?;
    assert!(!log.contains("panicked"), "{log}");
    assert!(w
        .testbed
        .is_running(ion_lab::testbed::Component::IonChannel));
    // Input-only sessions still work without PipeWire.
    started(&w, 3).await?;
    w.done()
}

/// The output's mode changes while a consumer streams: the stream
/// renegotiates to the new size (the consumer keeps running and gets the
/// picture at 1280x720), and absolute input in the size Start announced
/// is scaled onto the output's new extent; then its scale changes: same
/// pixels, input follows the new logical size. (The consumer is ours:
/// pipewiresrc 0.3.65 does not follow a format change.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_change_renegotiates_and_input_follows() -> Result<()> {
    use ion_lab::testbed::OutputSpec;
    let w = world().await?;
    let (rd, streams) = cast(&w, 3, false, 1).await?;
    let stream = streams.first().context("a stream")?;
    assert_eq!(stream.size, Some((1920, 1080)));

    let consumer = w.testbed.start_consumer(stream.node_id, true, &[])?;
    consumer.wait_for("a 1920x1080 frame", WAIT, |f| {
        f.iter().find(|r| r.valid && r.width == 1920).cloned()
    })?;
    w.testbed
        .set_output("HEADLESS-1", &OutputSpec::new(1280, 720).at(0, 0))?;
    // The probe redraws at the new size; wait for its whole picture.
    let rgb = consumer.wait_for("the probe's picture at 1280x720", WAIT, |frames| {
        frames
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, r)| r.valid && (r.width, r.height) == (1280, 720))
            .filter_map(|(i, _)| consumer.saved(i, 1280, 720).ok())
            .find(|rgb| {
                [
                    (0u32, 0u32),
                    (640, 360),
                    (1279, 719),
                    (100, 50),
                    (1000, 700),
                ]
                .iter()
                .all(|&(x, y)| {
                    let i = ((y * 1280 + x) * 3) as usize;
                    rgb.get(i..i + 3) == Some(&pattern_pixel(0, x, y)[..])
                })
            })
    })?;
    assert_eq!(rgb.len(), 1280 * 720 * 3);
    assert!(
        consumer.is_running(),
        "the consumer must survive the renegotiation"
    );

    // Input in Start's 1920x1080 space lands on the 1280x720 output.
    let pointer = pointer_runs(&w.testbed, "the absolute input after the mode changes");
    if pointer {
        w.log.wait_capabilities(true, true).await?;
    }
    if pointer {
        let mark = w.log.mark()?;
        rd.pointer_motion_absolute(stream.node_id, 960.0, 540.0)
            .await?;
        let seen = w
            .log
            .wait_since(mark, WAIT, "motion scaled onto the new mode", |r| {
                motions(r).last().cloned()
            })
            .await?;
        assert_eq!(
            (seen.0.as_str(), seen.1, seen.2),
            ("HEADLESS-1", 640.0, 360.0)
        );
    }

    // Scale 2: the same pixels (no renegotiation, frames keep coming at
    // 1280x720), half the logical size; input follows the logical extent.
    let before = consumer.frames().len();
    w.testbed.set_output(
        "HEADLESS-1",
        &OutputSpec::new(1280, 720).at(0, 0).with_scale(2.0),
    )?;
    let after = consumer.wait_for("a frame after the scale change", WAIT, |f| {
        f.get(before..)
            .and_then(|new| new.iter().find(|r| r.valid).cloned())
    })?;
    assert_eq!((after.width, after.height), (1280, 720));
    if pointer {
        let mark = w.log.mark()?;
        rd.pointer_motion_absolute(stream.node_id, 960.0, 540.0)
            .await?;
        let seen = w
            .log
            .wait_since(mark, WAIT, "motion scaled onto the new scale", |r| {
                motions(r)
                    .into_iter()
                    .rfind(|m| m.0 == "HEADLESS-1" && (m.1, m.2) == (320.0, 180.0))
            })
            .await?;
        assert_eq!((seen.1, seen.2), (320.0, 180.0));
    }
    w.done()
}

/// Starts `ion-consumer` on `node` through a frontend PipeWire remote (as
/// sandboxed apps must), saving frames.
fn consume_via_remote(
    testbed: &ion_lab::testbed::Testbed,
    node: u32,
    remote: std::os::fd::OwnedFd,
) -> Result<ion_lab::testbed::ConsumerHandle> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let raw = remote.as_raw_fd();
    let handle = testbed.start_consumer_with(node, true, &["--fd", "3"], move |cmd| {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(raw, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })?;
    // The child has its own copy now.
    drop(remote);
    Ok(handle)
}

/// A ScreenCast-only session (OBS, a browser): CreateSession on the
/// ScreenCast interface, `multiple` monitors, two streams with their
/// source type, each consumed through OpenPipeWireRemote and showing its
/// own output's picture, with header and damage metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screencast_session_with_two_monitors_through_the_frontend() -> Result<()> {
    use ion_lab::client::ScreenCast;
    let w = world().await?;
    let sc = ScreenCast::create(&w.client).await?;
    sc.select_sources(1, true, 1).await?.ok()?;
    let (resp, results) = sc.start().await?;
    assert_eq!(resp.code, 0, "Start");
    let results = results.context("Start results")?;
    assert_eq!(results.devices, 0, "a ScreenCast session has no devices");
    let mut streams = results.streams;
    streams.sort_by_key(|s| s.position);
    assert_eq!(streams.len(), 2, "{streams:?}");
    for (s, (pos, size)) in streams
        .iter()
        .zip([((0, 0), (1920, 1080)), ((1920, 0), (1280, 720))])
    {
        assert_eq!((s.position, s.size), (Some(pos), Some(size)));
        assert_eq!(s.source_type, Some(1), "monitor");
    }
    let mut consumers = Vec::new();
    for s in &streams {
        let remote = sc.open_pipewire_remote().await?;
        consumers.push(consume_via_remote(&w.testbed, s.node_id, remote)?);
    }
    for (index, (c, (width, height))) in consumers
        .iter()
        .zip([(1920u32, 1080u32), (1280, 720)])
        .enumerate()
    {
        let first = c.wait_for("a frame", WAIT, |f| f.iter().find(|r| r.valid).cloned())?;
        assert_eq!((first.width, first.height), (width, height));
        assert_eq!(first.format, "BGRx");
        // PipeWire may drop a frame sent before the consumer's node runs;
        // whichever comes first carries its metadata.
        assert!(first.seq.is_some_and(|s| s >= 1), "header meta");
        assert!(first.pts_ns.is_some_and(|p| p > 0), "timestamp");
        assert!(
            first.damage.as_ref().is_some_and(|d| !d.is_empty()),
            "damage meta"
        );
        let rgb = c.saved(0, width, height)?;
        for (x, y) in [(0, 0), (width / 2, height / 3), (width - 1, height - 1)] {
            let i = ((y * width + x) * 3) as usize;
            assert_eq!(
                &rgb[i..i + 3],
                &pattern_pixel(index as u32, x, y),
                "output {index} pixel ({x}, {y})"
            );
        }
    }
    // Input calls on a ScreenCast session are refused by the frontend.
    let refused = w
        .client
        .conn
        .call_method(
            Some("org.freedesktop.portal.Desktop"),
            "/org/freedesktop/portal/desktop",
            Some("org.freedesktop.portal.RemoteDesktop"),
            "NotifyPointerMotion",
            &(
                &sc.session,
                std::collections::HashMap::<&str, zbus::zvariant::Value>::new(),
                1.0f64,
                1.0f64,
            ),
        )
        .await;
    assert!(refused.is_err(), "input on a ScreenCast session");
    sc.close().await?;
    for c in &consumers {
        c.wait_for("the stream to end with the session", WAIT, |_| {
            (!c.is_running()).then_some(())
        })?;
    }
    w.done()
}

/// With the picture changing every frame, frames carry increasing
/// sequence numbers and timestamps, and damage covering what changed (the
/// probe's 64x8 counter) rather than the whole output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_frames_carry_their_damage_and_order() -> Result<()> {
    let w = world_with_probe(
        ion_lab::testbed::Testbed::builder().outputs(two_outputs()),
        &["--animate"],
    )
    .await?;
    let node = cast_first_output(&w).await?;
    let consumer = w.testbed.start_consumer(node, false, &[])?;
    let frames = consumer.wait_for("30 frames", WAIT, |f| (f.len() >= 30).then(|| f.to_vec()))?;
    let seqs: Vec<u64> = frames.iter().filter_map(|f| f.seq).collect();
    assert_eq!(seqs.len(), frames.len(), "every frame has a header");
    assert!(
        seqs.windows(2).all(|p| p[1] > p[0]),
        "seq increases: {seqs:?}"
    );
    let pts: Vec<i64> = frames.iter().filter_map(|f| f.pts_ns).collect();
    assert!(pts.windows(2).all(|p| p[1] > p[0]), "pts increases");
    // The first two frames are whole copies (taken at once, not waiting
    // for damage; the second makes sure a consumer gets a picture); each
    // may hand over the picture the compositor already gave once more.
    // Otherwise every frame is new.
    let counters: Vec<u32> = frames.iter().filter_map(|f| f.counter).collect();
    let repeats = counters.windows(2).filter(|p| p[1] == p[0]).count();
    assert!(
        counters.len() >= 25 && counters.windows(2).all(|p| p[1] >= p[0]) && repeats <= 2,
        "the probe's counter advances frame by frame: {counters:?}"
    );
    // After the first frames, the damage is the counter strip (the
    // cursor is hidden over the probe).
    let small = frames
        .iter()
        .skip(5)
        .filter(|f| {
            f.damage.as_ref().is_some_and(|d| {
                !d.is_empty()
                    && d.iter()
                        .all(|&(x, y, w, h)| x < 64 && y < 8 && w * h <= 64 * 8)
            })
        })
        .count();
    assert!(
        small * 10 >= (frames.len() - 5) * 9,
        "damage should be the counter strip: {:?}",
        frames.iter().map(|f| &f.damage).collect::<Vec<_>>()
    );
    w.done()
}

/// The compositor dies while frames flow: the session closes, the
/// consumer's stream ends, the daemon leaves without a panic, PipeWire
/// stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compositor_death_mid_stream_ends_the_stream_cleanly() -> Result<()> {
    use ion_lab::testbed::Component;
    let mut w = world_with_probe(
        ion_lab::testbed::Testbed::builder().outputs(two_outputs()),
        &["--animate"],
    )
    .await?;
    let node = cast_first_output(&w).await?;
    let consumer = w.testbed.start_consumer(node, false, &[])?;
    consumer.wait_for("frames flowing", WAIT, |f| (f.len() >= 10).then_some(()))?;
    w.testbed.kill(Component::Compositor)?;
    consumer.wait_for("the consumer to see the stream end", WAIT, |_| {
        (!consumer.is_running()).then_some(())
    })?;
    let path = w.testbed.log_path(Component::IonChannel);
    w.testbed
        .wait_for("ionchannel to notice the compositor is gone", &[], || {
            Ok(std::fs::read_to_string(&path)?.contains("compositor gone"))
        })?;
    let log = std::fs::read_to_string(&path)?;
    assert!(log.contains("session closed"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(w.testbed.is_running(Component::PipeWire));
    w.done()
}

/// AvailableCursorModes as the frontend reports it.
async fn available_cursor_modes(client: &ion_lab::client::PortalClient) -> Result<u32> {
    let reply = client
        .conn
        .call_method(
            Some("org.freedesktop.portal.Desktop"),
            "/org/freedesktop/portal/desktop",
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.freedesktop.portal.ScreenCast", "AvailableCursorModes"),
        )
        .await?;
    let value: zbus::zvariant::OwnedValue = reply.body().deserialize()?;
    Ok(u32::try_from(value)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_metadata_follows_the_pointer_and_sends_its_image_once() -> Result<()> {
    // The probe keeps the compositor's cursor over its surfaces.
    let w = world_with_probe(
        ion_lab::testbed::Testbed::builder().outputs(two_outputs()),
        &["--keep-cursor"],
    )
    .await?;
    let modes = available_cursor_modes(&w.client).await?;
    if modes & 4 == 0 {
        eprintln!(
            "SKIPPED: no cursor metadata here (AvailableCursorModes {modes:#x}; needs ext-image-copy-capture cursor sessions)"
        );
        return w.done();
    }
    // The cursor is moved with the pointer.
    if !pointer_runs(
        &w.testbed,
        "cursor metadata (the cursor is moved with the pointer)",
    ) {
        return w.done();
    }
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(3).await?.ok()?;
    rd.select_sources(1, false, 4).await?.ok()?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    let node = results
        .map(|r| r.streams)
        .unwrap_or_default()
        .first()
        .context("stream")?
        .node_id;
    w.log.wait_capabilities(true, true).await?;
    let consumer = w.testbed.start_consumer(node, false, &[])?;
    consumer.wait_for("a first frame", WAIT, |f| {
        f.iter().find(|r| r.valid).cloned()
    })?;

    for (x, y) in [(500, 400), (700, 300), (701, 300)] {
        let before = consumer.frames().len();
        rd.pointer_motion_absolute(node, f64::from(x), f64::from(y))
            .await?;
        let at = consumer.wait_for(&format!("cursor metadata at {x},{y}"), WAIT, |f| {
            f.get(before..)?
                .iter()
                .filter_map(|r| r.cursor.clone())
                .find(|c| c.id != 0 && (c.x, c.y) == (x, y))
        })?;
        assert!(at.hotspot_x >= 0 && at.hotspot_y >= 0, "{at:?}");
    }
    // The image (the compositor's default cursor: some opaque pixels) went
    // out with the whole frames a new consumer gets first; the moves of
    // the same cursor did not send it again.
    let frames = consumer.frames();
    let images: Vec<_> = frames
        .iter()
        .filter_map(|r| {
            let c = r.cursor.as_ref()?;
            Some((r.seq, r.valid, c.bitmap?, c.bitmap_opaque))
        })
        .collect();
    assert!(!images.is_empty(), "no cursor image was sent");
    assert!(
        images.iter().all(|&(_, valid, _, _)| valid),
        "the image came again with a move: {images:?}"
    );
    let (_, _, (bw, bh), opaque) = images[0];
    assert!(
        bw > 0 && bh > 0 && opaque.is_some_and(|o| o > 0),
        "cursor image {images:?}"
    );
    // A pointer move over a static screen sends picture-less buffers,
    // not frames.
    let moves = frames
        .iter()
        .filter(|r| !r.valid && r.size == 0 && r.cursor.is_some())
        .count();
    assert!(moves >= 3, "cursor-only updates: {moves}");
    rd.close().await?;
    w.done()
}

/// Outputs unplugged under a ScreenCast session with two monitors: the
/// first unplug ends that output's stream only (its consumer sees the node
/// go, the other stream still serves a new consumer, no Closed); the
/// second leaves the session without streams, and the client gets
/// Session.Closed through the frontend. The daemon lives on and streams an
/// output plugged in afterwards to a new session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugging_outputs_ends_their_streams_then_the_session() -> Result<()> {
    use ion_lab::client::ScreenCast;
    use ion_lab::testbed::{Capability, Component, OutputSpec};
    let w = world().await?;
    if let Err(why) = w.testbed.supports(Capability::RemoveOutput) {
        eprintln!("skipped: {why}");
        return w.done();
    }
    let sc = ScreenCast::create(&w.client).await?;
    sc.select_sources(1, true, 1).await?.ok()?;
    let (resp, results) = sc.start().await?;
    assert_eq!(resp.code, 0, "Start");
    let mut streams = results.context("Start results")?.streams;
    streams.sort_by_key(|s| s.position);
    assert_eq!(streams.len(), 2, "{streams:?}");
    let mut closed = sc.watch_closed().await?;
    let mut consumers = Vec::new();
    for s in &streams {
        let remote = sc.open_pipewire_remote().await?;
        let c = consume_via_remote(&w.testbed, s.node_id, remote)?;
        c.wait_for("a first frame", WAIT, |f| {
            f.iter().find(|r| r.valid).cloned()
        })?;
        consumers.push(c);
    }
    let node_of = |output: &str| -> Result<bool> {
        Ok(w.testbed.pw_dump()?.contains(&format!("-{output}\"")))
    };
    assert!(node_of("HEADLESS-1")? && node_of("HEADLESS-2")?);

    // HEADLESS-2 goes: its stream ends, the session stays.
    w.testbed.remove_output("HEADLESS-2")?;
    consumers[1].wait_for("HEADLESS-2's consumer to see its node go", WAIT, |_| {
        (!consumers[1].is_running()).then_some(())
    })?;
    w.testbed
        .wait_for("HEADLESS-2's node to leave PipeWire", &[], || {
            Ok(!node_of("HEADLESS-2")?)
        })?;
    assert!(node_of("HEADLESS-1")?, "the other stream stays");
    assert!(consumers[0].is_running(), "the other consumer keeps going");
    assert!(!closed.arrived().await?, "the session must stay open");
    // …and still serves: a consumer that comes back to HEADLESS-1 gets a
    // frame.
    let first = consumers.remove(0);
    first.kill();
    let remote = sc.open_pipewire_remote().await?;
    let again = consume_via_remote(&w.testbed, streams[0].node_id, remote)?;
    let frame = again.wait_for("a frame of the remaining stream", WAIT, |f| {
        f.iter().find(|r| r.valid).cloned()
    })?;
    assert_eq!((frame.width, frame.height), (1920, 1080));

    // HEADLESS-1 goes too: no stream is left, the session closes. (Not
    // where the compositor refuses to disable its last output: there the
    // session is closed by the client, and HEADLESS-2 comes back.)
    let replug = match w.testbed.supports(Capability::RemoveLastOutput) {
        Ok(()) => {
            w.testbed.remove_output("HEADLESS-1")?;
            closed.wait(WAIT).await?;
            again.wait_for("the last consumer to see its stream end", WAIT, |_| {
                (!again.is_running()).then_some(())
            })?;
            w.testbed
                .wait_for("every stream node to leave PipeWire", &[], || {
                    Ok(!w
                        .testbed
                        .pw_dump()?
                        .contains("\"node.name\": \"ionchannel-"))
                })?;
            ("HEADLESS-1", OutputSpec::new(1280, 720))
        }
        Err(why) => {
            eprintln!(
                "SKIPPED unplugging the last output (the session closing when no stream is \
                 left): {why}"
            );
            sc.close().await?;
            ("HEADLESS-2", OutputSpec::new(1280, 720).at(1920, 0))
        }
    };

    // The daemon goes on: an output plugged in now streams to a new session.
    assert!(w.testbed.is_running(Component::IonChannel));
    let (replugged, spec) = replug;
    let name = w.testbed.replug_output(replugged, &spec)?;
    let fresh = ScreenCast::create(&w.client).await?;
    fresh.select_sources(1, true, 1).await?.ok()?;
    let (resp, results) = fresh.start().await?;
    assert_eq!(resp.code, 0, "Start after the unplugs");
    let stream = results
        .context("Start results")?
        .streams
        .into_iter()
        .find(|s| s.position == Some((spec.x, spec.y)))
        .context("a stream of the plugged output")?;
    assert_eq!(stream.size, Some((1280, 720)), "the stream of {name}");
    let remote = fresh.open_pipewire_remote().await?;
    let c = consume_via_remote(&w.testbed, stream.node_id, remote)?;
    let frame = c.wait_for("a frame of the new output", WAIT, |f| {
        f.iter().find(|r| r.valid).cloned()
    })?;
    assert_eq!((frame.width, frame.height), (1280, 720));
    fresh.close().await?;
    w.done()
}

/// A second consumer joining a stream that already streams a static
/// screen to another still gets a picture (nothing in the stream's own
/// state changes for it; the link appearing in the graph is the sign).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_consumer_of_a_static_screen_gets_a_picture() -> Result<()> {
    let w = world().await?;
    let node = cast_first_output(&w).await?;
    let first = w.testbed.start_consumer(node, false, &[])?;
    first.wait_for("the first consumer's frame", WAIT, |f| {
        (f.iter().filter(|r| r.valid).count() >= 2).then_some(())
    })?;
    // Both whole frames a new consumer gets are out; from now on nothing
    // changes on screen, so nothing is captured.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let second = w.testbed.start_consumer(node, true, &[])?;
    let index = second.wait_for("the second consumer's frame", WAIT, |f| {
        f.iter().position(|r| r.valid)
    })?;
    let rgb = second.saved(index, 1920, 1080)?;
    for (x, y) in [(0u32, 0u32), (100, 50), (1919, 1079)] {
        let i = ((y * 1920 + x) * 3) as usize;
        assert_eq!(&rgb[i..i + 3], &pattern_pixel(0, x, y), "pixel ({x}, {y})");
    }
    // The first consumer kept its stream.
    assert!(first.is_running(), "the first consumer stays");
    w.done()
}

/// A rotated or mirrored output streams the picture its user sees: the
/// stream has the upright size and every pixel where the probe drew it,
/// not the compositor's buffer orientation (a portrait output used to
/// stream sideways). HEADLESS-2 starts at transform 90 and is then turned
/// through the other seven while its stream runs, so each change
/// renegotiates (or not, for 180 and the mirrors) mid-stream. Both capture
/// paths where the compositor has both. grim, which undoes transforms
/// itself, takes the same picture: the frames must equal its screenshot
/// (where grim can read the screen: it speaks wlr-screencopy only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transformed_outputs_stream_the_upright_picture() -> Result<()> {
    use ion_lab::testbed::{Capability, OutputSpec, Transform};
    let paths: &[Option<&str>] = if std::env::var("IONLAB_STACK").is_ok_and(|s| s == "testing") {
        &[None, Some("screencopy")]
    } else {
        &[None]
    };
    let second = OutputSpec::new(1280, 720).at(1920, 0);
    for &forced in paths {
        let mut builder = ion_lab::testbed::Testbed::builder().outputs(vec![
            OutputSpec::new(1920, 1080).at(0, 0),
            second.with_transform(Transform::R90),
        ]);
        if let Some(path) = forced {
            builder = builder.ionchannel_env("IONCHANNEL_CAPTURE", path);
        }
        let w = world_with(builder).await?;
        let screencopy = w.testbed.supports(Capability::WlrScreencopy);
        if let (Some(_), Err(why)) = (forced, &screencopy) {
            eprintln!("SKIPPED the forced wlr-screencopy run: {why}");
            w.done()?;
            continue;
        }
        if let Err(why) = &screencopy {
            eprintln!("SKIPPED the comparison with grim's screenshot (grim 1.4 needs wlr-screencopy): {why}");
        }
        let (_rd, streams) = cast(&w, 3, true, 1).await?;
        let stream = streams
            .iter()
            .find(|s| s.position == Some((1920, 0)))
            .context("stream of HEADLESS-2")?;
        assert_eq!(stream.size, Some((720, 1280)), "Start's upright size");
        let path = w.capture_path().unwrap_or_default();
        for t in [
            Transform::R90,
            Transform::Flipped90,
            Transform::R180,
            Transform::Flipped180,
            Transform::R270,
            Transform::Flipped,
            Transform::Flipped270,
            Transform::Normal,
        ] {
            if t != Transform::R90 {
                w.testbed
                    .set_output("HEADLESS-2", &second.with_transform(t))?;
            }
            let (uw, uh) = t.upright_size(1280, 720);
            let points = [
                (0, 0),
                (uw - 1, 0),
                (0, uh - 1),
                (uw - 1, uh - 1),
                (100, 50),
                (uw / 2 + 7, uh / 3),
                (uw - 300, uh - 200),
            ];
            let consumer = w.testbed.start_consumer(stream.node_id, true, &[])?;
            let mut last = String::from("no frame");
            let found = consumer.wait_for(
                &format!("an upright frame of HEADLESS-2 at transform {}", t.name()),
                WAIT,
                |f| {
                    f.iter().enumerate().rev().find_map(|(i, r)| {
                        if !r.valid || (r.width, r.height) != (uw, uh) {
                            last = format!("a {}x{} frame", r.width, r.height);
                            return None;
                        }
                        let rgb = consumer.saved(i, uw, uh).ok()?;
                        let at = |x: u32, y: u32| {
                            let p = ((y * uw + x) * 3) as usize;
                            rgb.get(p..p + 3).map(<[u8]>::to_vec)
                        };
                        let wrong: Vec<_> = points
                            .iter()
                            .filter(|&&(x, y)| {
                                at(x, y).as_deref() != Some(&pattern_pixel(1, x, y)[..])
                            })
                            .collect();
                        if wrong.is_empty() {
                            return Some(rgb);
                        }
                        // R and G of the probe's picture are x and y mod
                        // 256: what (0, 0) shows says which corner landed there.
                        last =
                            format!("frame {i}: wrong at {wrong:?}; (0, 0) shows {:?}", at(0, 0));
                        None
                    })
                },
            );
            let frame = found.with_context(|| format!("{path}, transform {}: {last}", t.name()))?;
            if screencopy.is_err() {
                eprintln!("{path}: transform {} streams {uw}x{uh} upright", t.name());
                drop(consumer);
                continue;
            }
            // grim takes the same picture (it undoes the transform itself).
            let shot = w
                .testbed
                .paths()
                .root
                .join(format!("grim-{}.ppm", t.name()));
            let mut grim = w.testbed.command("grim");
            grim.args(["-o", "HEADLESS-2", "-t", "ppm"]).arg(&shot);
            anyhow::ensure!(grim.status()?.success(), "grim failed");
            let ppm = std::fs::read(&shot)?;
            let (gw, gh, pixels) = read_ppm(&ppm)?;
            assert_eq!((gw, gh), (uw, uh), "grim's picture size at {}", t.name());
            let differing = frame
                .chunks(3)
                .zip(pixels.chunks(3))
                .filter(|(a, b)| a != b)
                .count();
            // A software cursor may be in grim's picture (never in a
            // stream with the cursor hidden): at most a cursor's worth.
            assert!(
                differing <= 48 * 48,
                "{path}, transform {}: {differing} pixels differ from grim's picture",
                t.name()
            );
            eprintln!(
                "{path}: transform {} streams {uw}x{uh} upright; {differing} pixels differ from grim",
                t.name()
            );
            drop(consumer);
        }
        w.done()?;
    }
    Ok(())
}

/// A binary PPM (P6, 8 bits): width, height and its RGB bytes.
fn read_ppm(bytes: &[u8]) -> Result<(u32, u32, &[u8])> {
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        let start = at;
        while bytes.get(at).is_some_and(|b| !b.is_ascii_whitespace()) {
            at += 1;
        }
        anyhow::ensure!(at > start, "a short PPM header");
        fields.push(std::str::from_utf8(&bytes[start..at])?.to_owned());
    }
    anyhow::ensure!(
        fields[0] == "P6" && fields[3] == "255",
        "not an 8-bit P6 PPM: {fields:?}"
    );
    let (w, h): (u32, u32) = (fields[1].parse()?, fields[2].parse()?);
    let pixels = bytes.get(at + 1..).context("no PPM pixels")?;
    anyhow::ensure!(
        pixels.len() == (w * h * 3) as usize,
        "PPM of {w}x{h} has {} bytes",
        pixels.len()
    );
    Ok((w, h, pixels))
}

/// On a transformed output only what changed is turned upright, and the
/// stream stays exact: the animated probe redraws just its 64x8 frame
/// counter, the compositor reports that damage (in its buffer
/// orientation), and every frame the consumer gets is the probe's whole
/// picture, pixel for pixel, with a counter that reads and rises. A damage
/// rectangle mapped to the wrong place, or a stream buffer that missed an
/// earlier frame's change, shows as wrong pixels or a stale counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transformed_outputs_turn_only_what_changed() -> Result<()> {
    use ion_lab::probe::pattern::animated_pixel;
    use ion_lab::testbed::{OutputSpec, Transform};
    let paths: &[Option<&str>] = if std::env::var("IONLAB_STACK").is_ok_and(|s| s == "testing") {
        &[None, Some("screencopy")]
    } else {
        &[None]
    };
    for &forced in paths {
        for t in [Transform::R90, Transform::Flipped180] {
            let Some(w) = world_capturing(
                ion_lab::testbed::Testbed::builder().outputs(vec![
                    OutputSpec::new(1920, 1080).at(0, 0),
                    OutputSpec::new(1280, 720).at(1920, 0).with_transform(t),
                ]),
                forced,
                &["--animate"],
            )
            .await?
            else {
                continue;
            };
            let (_rd, streams) = cast(&w, 3, true, 1).await?;
            let node = streams
                .iter()
                .find(|s| s.position == Some((1920, 0)))
                .context("stream of HEADLESS-2")?
                .node_id;
            let path = w.capture_path().unwrap_or_default();
            let (uw, uh) = t.upright_size(1280, 720);
            // 30 fps: two of the probe's commits between captures. A
            // smithay compositor (cosmic-comp, its stand-in) keeps a
            // surface's damage for 4 commits only and reports the whole
            // output after more (smithay 0.7 MAX_DAMAGE_AGE): at 8 fps
            // every frame there is whole.
            let consumer = w.testbed.start_consumer(node, true, &["--max-fps", "30"])?;
            let frames =
                consumer.wait_for("12 frames", WAIT, |f| (f.len() >= 12).then(|| f.to_vec()))?;
            let mut partial = 0;
            let mut last_counter = None;
            for (i, r) in frames.iter().enumerate() {
                anyhow::ensure!(
                    (r.width, r.height) == (uw, uh) && r.valid,
                    "{path}, {}: frame {i} is {}x{} (valid {})",
                    t.name(),
                    r.width,
                    r.height,
                    r.valid
                );
                let damage = r.damage.clone().unwrap_or_default();
                if damage.iter().all(|d| d.2 < uw || d.3 < uh) && !damage.is_empty() {
                    partial += 1;
                }
                let counter = r.counter.with_context(|| {
                    format!("{path}, {}: frame {i} has no readable counter", t.name())
                })?;
                if let Some(before) = last_counter {
                    // Never back (the repeated first whole frame may show
                    // the same count).
                    anyhow::ensure!(
                        counter >= before,
                        "{path}, {}: counter {counter} after {before}",
                        t.name()
                    );
                }
                last_counter = Some(counter);
                let rgb = consumer.saved(i, uw, uh)?;
                let wrong = (0..uh)
                    .flat_map(|y| (0..uw).map(move |x| (x, y)))
                    .filter(|&(x, y)| {
                        let p = ((y * uw + x) * 3) as usize;
                        rgb[p..p + 3] != animated_pixel(1, counter, x, y)
                    })
                    .collect::<Vec<_>>();
                anyhow::ensure!(
                    wrong.is_empty(),
                    "{path}, {}: frame {i} (counter {counter}, damage {damage:?}) has {} wrong pixels, first {:?}",
                    t.name(),
                    wrong.len(),
                    &wrong[..wrong.len().min(5)]
                );
            }
            eprintln!(
                "{path}, transform {}: {} frames exact, {partial} of them partial",
                t.name(),
                frames.len()
            );
            let counters: Vec<u32> = frames.iter().filter_map(|r| r.counter).collect();
            assert!(
                counters.windows(2).filter(|p| p[1] > p[0]).count() >= counters.len() / 2,
                "{path}, {}: the counter hardly moves: {counters:?}",
                t.name()
            );
            assert!(
                partial > 0,
                "{path}, {}: no frame with partial damage",
                t.name()
            );
            drop(consumer);
            w.done()?;
        }
    }
    Ok(())
}

/// Cursor metadata on a rotated output is upright like its frames: the
/// pointer moved to an upright position of the stream is reported there,
/// and the cursor image is the same picture (size, hotspot) as on an
/// output that is not turned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_metadata_on_a_rotated_output_is_upright() -> Result<()> {
    use ion_lab::testbed::{OutputSpec, Transform};
    let w = world_with_probe(
        ion_lab::testbed::Testbed::builder().outputs(vec![
            OutputSpec::new(1920, 1080).at(0, 0),
            OutputSpec::new(1280, 720)
                .at(1920, 0)
                .with_transform(Transform::R90),
        ]),
        &["--keep-cursor"],
    )
    .await?;
    let modes = available_cursor_modes(&w.client).await?;
    if modes & 4 == 0 {
        eprintln!("SKIPPED: no cursor metadata here (AvailableCursorModes {modes:#x})");
        return w.done();
    }
    if !pointer_runs(&w.testbed, "cursor metadata on a rotated output") {
        return w.done();
    }
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(3).await?.ok()?;
    rd.select_sources(1, true, 4).await?.ok()?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    let streams = results.map(|r| r.streams).unwrap_or_default();
    w.log.wait_capabilities(true, true).await?;
    let mut seen = Vec::new();
    let mut images = Vec::new();
    for position in [(0, 0), (1920, 0)] {
        let node = streams
            .iter()
            .find(|s| s.position == Some(position))
            .context("a stream per output")?
            .node_id;
        let consumer = w.testbed.start_consumer(node, false, &[])?;
        consumer.wait_for("a first frame", WAIT, |f| {
            f.iter().find(|r| r.valid).cloned()
        })?;
        for (x, y) in [(500, 400), (100, 1000), (700, 30)] {
            let before = consumer.frames().len();
            rd.pointer_motion_absolute(node, f64::from(x), f64::from(y))
                .await?;
            let at = consumer.wait_for(
                &format!("cursor metadata at {x},{y} of the output at {position:?}"),
                WAIT,
                |f| {
                    f.get(before..)?
                        .iter()
                        .filter_map(|r| r.cursor.clone())
                        .find(|c| c.id != 0 && (c.x, c.y) == (x, y))
                },
            )?;
            eprintln!("output at {position:?}: pointer at {x},{y}: {at:?}");
            seen.push((position, at.hotspot_x, at.hotspot_y));
        }
        let image = consumer
            .frames()
            .iter()
            .rev()
            .find_map(|r| Some((r.cursor.as_ref()?.bitmap?, r.cursor.as_ref()?.bitmap_digest)));
        eprintln!("output at {position:?}: cursor image {image:?}");
        images.push(image);
    }
    // Same hotspot, same image, whichever way the output is turned.
    let first = seen.first().map(|s| (s.1, s.2));
    assert!(
        seen.iter().all(|s| Some((s.1, s.2)) == first),
        "hotspots differ: {seen:?}"
    );
    assert!(
        images.len() == 2 && images[0].is_some() && images[0] == images[1],
        "the cursor image differs on the rotated output: {images:?}"
    );
    rd.close().await?;
    w.done()
}

/// A consumer negotiates once per stream: the first EnumFormat already
/// holds only what the compositor will deliver (ext-image-copy-capture's
/// first constraints, or a wlr-screencopy frame's offers, both read before
/// Start is answered), so whatever the consumer prefers (Chromium and OBS
/// put BGRA first) there is no second format. Before, a BGRA-first
/// consumer negotiated twice on sway 1.12 and labwc 0.20.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_negotiates_once_at_start() -> Result<()> {
    let orders = [
        "BGRA,BGRx,RGBA,RGBx",
        "BGRx,BGRA,RGBx,RGBA",
        "RGBA,RGBx,BGRA,BGRx",
    ];
    let runs = [None, Some("screencopy")]
        .into_iter()
        .flat_map(|capture| orders.into_iter().map(move |formats| (capture, formats)));
    for (capture, formats) in runs {
        let Some(w) = world_capturing(
            ion_lab::testbed::Testbed::builder().outputs(two_outputs()),
            capture,
            &[],
        )
        .await?
        else {
            return Ok(());
        };
        let node = cast_first_output(&w).await?;
        let consumer = w
            .testbed
            .start_consumer(node, false, &["--formats", formats])?;
        consumer.wait_for("a frame", WAIT, |f| f.iter().position(|r| r.valid))?;
        // A late second negotiation would come right after the first frame.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let log =
            std::fs::read_to_string(w.testbed.log_path(ion_lab::testbed::Component::IonChannel))?;
        let negotiated: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("consumer format"))
            .collect();
        let kinds: std::collections::BTreeSet<String> =
            consumer.frames().into_iter().map(|f| f.format).collect();
        println!(
            "{}: consumer preferring {formats}: {} negotiation(s), frames in {kinds:?}",
            w.capture_path().unwrap_or_default(),
            negotiated.len()
        );
        assert_eq!(negotiated.len(), 1, "{formats}: {negotiated:#?}");
        w.done()?;
    }
    Ok(())
}

/// Two streams of one output, one of them slow: when the screen stops
/// changing, both end on its last picture. wlroots keeps wlr-screencopy's
/// damage per manager binding and output, so streams sharing a binding
/// took each other's damage, and a capture started after the other
/// stream's copy waited for a change that never came
/// (docs/research/buffer-damage.md). Each stream has its own binding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_streams_of_one_output_both_get_the_last_picture() -> Result<()> {
    use ion_lab::probe::record::Event;
    let paths: &[Option<&str>] = if std::env::var("IONLAB_STACK").is_ok_and(|s| s == "testing") {
        &[None, Some("screencopy")]
    } else {
        &[None]
    };
    for &forced in paths {
        let Some(w) = world_capturing(
            ion_lab::testbed::Testbed::builder().outputs(two_outputs()),
            forced,
            &["--animate"],
        )
        .await?
        else {
            continue;
        };
        let fast_node = cast_first_output(&w).await?;
        let slow_node = cast_first_output(&w).await?;
        let fast = w.testbed.start_consumer(fast_node, false, &[])?;
        let slow = w
            .testbed
            .start_consumer(slow_node, false, &["--max-fps", "4"])?;
        for c in [&fast, &slow] {
            c.wait_for("frames", WAIT, |f| (f.len() >= 3).then_some(()))?;
        }
        // The animation stops: its last frame is the picture to end on.
        w.probe.signal(libc::SIGSTOP);
        std::thread::sleep(std::time::Duration::from_millis(200));
        let last = w
            .log
            .records()?
            .iter()
            .rev()
            .find_map(|r| match &r.event {
                Event::FrameDrawn {
                    index: 0, frame, ..
                } => Some(*frame),
                _ => None,
            })
            .context("the probe drew frames")?;
        let path = w.capture_path().unwrap_or_default();
        for (name, c) in [("fast", &fast), ("slow", &slow)] {
            let seen = c.wait_for(&format!("{name} stream's last picture"), WAIT, |f| {
                f.iter()
                    .rev()
                    .find_map(|r| r.counter)
                    .filter(|&n| n == last)
            });
            assert!(
                seen.is_ok(),
                "{path}: the {name} stream never showed counter {last}: its last is {:?}",
                c.frames().iter().rev().find_map(|r| r.counter)
            );
        }
        w.probe.signal(libc::SIGCONT);
        w.done()?;
    }
    Ok(())
}
