//! ScreenCast end to end: frames from the real compositor reach a real
//! consumer (GStreamer pipewiresrc) through PipeWire.

mod common;

use anyhow::{Context, Result};
use common::*;
use ion_lab::client::RemoteDesktop;
use ion_lab::probe::pattern_pixel;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_frame_shows_the_probe_picture() -> Result<()> {
    let w = world().await?;
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(3).await?.ok()?;
    rd.select_sources(1, true, 1).await?.ok()?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    let streams = results.map(|r| r.streams).unwrap_or_default();
    let second = streams
        .iter()
        .find(|s| s.position == Some((1920, 0)))
        .context("stream of HEADLESS-2")?;
    let out = w.testbed.paths().root.join("frame.rgb");
    let gst = w
        .testbed
        .command("gst-launch-1.0")
        .args([
            "-q",
            "pipewiresrc",
            &format!("path={}", second.node_id),
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
    let rgb = std::fs::read(&out)?;
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

/// RustDesk's whole flow: RemoteDesktop CreateSession → SelectDevices(7) →
/// ScreenCast SelectSources(monitor) → Start → OpenPipeWireRemote, then a
/// frame through the frontend's restricted PipeWire connection, and an
/// absolute click where the frame shows the point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rustdesk_flow_frames_through_open_pipewire_remote() -> Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    let w = world().await?;
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(7).await?.ok()?;
    rd.select_sources(1, false, 1).await?.ok()?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    let streams = results.map(|r| r.streams).unwrap_or_default();
    assert_eq!(streams.len(), 1, "one monitor without `multiple`");
    let stream = &streams[0];
    assert_eq!(stream.position, Some((0, 0)));
    assert_eq!(stream.size, Some((1920, 1080)));

    let remote = rd.open_pipewire_remote().await?;
    let raw = remote.as_raw_fd();
    let out = w.testbed.paths().root.join("rd-frame.rgb");
    let mut cmd = w.testbed.command("gst-launch-1.0");
    cmd.args([
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
    let rgb = std::fs::read(&out)?;
    assert_eq!(rgb.len(), 1920 * 1080 * 3);
    for (x, y) in [(5u32, 5u32), (1500, 900), (1919, 1079)] {
        let i = ((y * 1920 + x) * 3) as usize;
        assert_eq!(&rgb[i..i + 3], &pattern_pixel(0, x, y), "pixel ({x}, {y})");
    }

    // Absolute input on the stream lands where the frame shows that point.
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
