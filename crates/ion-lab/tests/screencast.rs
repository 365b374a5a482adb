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
