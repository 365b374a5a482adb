//! dmabuf capture end to end: the compositor renders with GL on a DRM
//! device (`IONLAB_RENDER_NODE`), ionChannel allocates LINEAR dmabufs with
//! GBM on that device and offers them before shm, a consumer that asks for
//! dmabufs only (`ion-consumer --dmabuf`, as Chromium and OBS ask) gets the
//! probe's picture in them, through ext-image-copy-capture and through
//! wlr-screencopy; a consumer without dmabuf support still gets shm.
//!
//! Needs a DRM device: these machines have none, so these tests run in the
//! VM lab (docs/vm-lab.md, scripts/vm-test.sh: virtio GPU, Mesa llvmpipe)
//! and elsewhere print why they do not.

mod common;

use anyhow::{Context, Result};
use common::*;

use ion_lab::client::RemoteDesktop;
use ion_lab::probe::pattern_pixel;
use ion_lab::testbed::{Component, Testbed};

/// The dmabuf part of ionChannel's "connected to the compositor" line.
fn dmabuf_line(w: &World) -> String {
    let log =
        std::fs::read_to_string(w.testbed.log_path(Component::IonChannel)).unwrap_or_default();
    log.lines()
        .find(|l| l.contains("connected to the compositor"))
        .and_then(|l| l.split(" dmabuf=").nth(1))
        .map(|rest| rest.split(" clipboard=").next().unwrap_or(rest).to_owned())
        .unwrap_or_else(|| "no connect line".into())
}

/// A world on the lab's two outputs (`capture` forces a capture path);
/// None (and why, printed) when ionChannel cannot make dmabufs here.
async fn dmabuf_world(what: &str, env: &[(&str, &str)]) -> Result<Option<World>> {
    dmabuf_world_with_probe(what, env, &["--animate"]).await
}

/// [`dmabuf_world`] with the probe's arguments.
async fn dmabuf_world_with_probe(
    what: &str,
    env: &[(&str, &str)],
    probe_args: &[&str],
) -> Result<Option<World>> {
    let mut builder = Testbed::builder().outputs(two_outputs());
    for (key, value) in env {
        builder = builder.ionchannel_env(*key, *value);
    }
    // The probe redraws its frame counter (top-left 64x8) on every frame:
    // frames keep coming, so a frame read before software rendering
    // finished (no fence in the VM) is followed by complete ones.
    let w = world_with_probe(builder, probe_args).await?;
    let line = dmabuf_line(&w);
    if !line.contains("GBM on") {
        println!(
            "SKIPPED {what}: no dmabuf capture here ({line}). These tests run in the VM lab \
             (docs/vm-lab.md)."
        );
        w.done()?;
        return Ok(None);
    }
    println!("{what}: dmabuf={line}");
    Ok(Some(w))
}

/// The first output's stream, started.
async fn cast(w: &World) -> Result<(RemoteDesktop<'_>, u32)> {
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(3).await?.ok()?;
    rd.select_sources(1, false, 1).await?.ok()?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    let streams = results.map(|r| r.streams).unwrap_or_default();
    Ok((rd, streams.first().context("a stream")?.node_id))
}

/// Points of the probe's picture away from the pointer and the counter.
const POINTS: [(u32, u32); 5] = [(70, 2), (100, 50), (1919, 1079), (1500, 20), (960, 900)];

/// Waits for a frame (of the kind `dmabuf` says) showing the probe's
/// picture; returns its index. Software rendering in the VM attaches no
/// fence to the buffer, so a frame read at once may not be painted yet
/// (docs/research/dmabuf-in-vm.md): the animated probe keeps frames
/// coming (the pointer is moved too).
async fn picture_arrives(
    rd: &RemoteDesktop<'_>,
    node: u32,
    consumer: &ion_lab::testbed::ConsumerHandle,
    dmabuf: bool,
) -> Result<usize> {
    let deadline = std::time::Instant::now() + WAIT * 3;
    let mut x = 900.0;
    while std::time::Instant::now() < deadline {
        let frames = consumer.frames();
        if let Some(i) = frames.iter().enumerate().find_map(|(i, r)| {
            if !r.valid || r.dmabuf != dmabuf {
                return None;
            }
            let rgb = consumer.saved(i, 1920, 1080).ok()?;
            POINTS
                .iter()
                .all(|&(x, y)| {
                    let p = ((y * 1920 + x) * 3) as usize;
                    rgb.get(p..p + 3) == Some(&pattern_pixel(0, x, y)[..])
                })
                .then_some(i)
        }) {
            return Ok(i);
        }
        x = if x > 1000.0 { 900.0 } else { x + 7.0 };
        rd.pointer_motion_absolute(node, x, 500.0).await?;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let frames = consumer.frames();
    anyhow::bail!(
        "no {} frame showed the probe's picture: {} frames, kinds {:?}",
        if dmabuf { "dmabuf" } else { "shm" },
        frames.len(),
        frames
            .iter()
            .map(|f| (f.dmabuf, f.valid))
            .collect::<Vec<_>>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmabuf_frames_show_the_picture_on_both_capture_paths() -> Result<()> {
    for capture in [None, Some("screencopy")] {
        let what = format!(
            "dmabuf through {}",
            capture.unwrap_or("the default capture path")
        );
        let env: Vec<(&str, &str)> = capture
            .map(|c| ("IONCHANNEL_CAPTURE", c))
            .into_iter()
            .collect();
        let Some(w) = dmabuf_world(&what, &env).await? else {
            return Ok(());
        };
        let (rd, node) = cast(&w).await?;
        let consumer = w
            .testbed
            .start_consumer(node, true, &["--dmabuf", "--max-fps", "2"])?;
        let i = picture_arrives(&rd, node, &consumer, true).await?;
        let frames = consumer.frames();
        println!(
            "{what} ({}): the picture in frame {i} of {}; dmabuf frames {}",
            w.capture_path().unwrap_or_default(),
            frames.len(),
            frames.iter().filter(|f| f.dmabuf).count()
        );
        assert!(
            frames.iter().all(|f| f.dmabuf || f.size == 0),
            "a --dmabuf consumer got shm: {frames:?}"
        );
        let log = std::fs::read_to_string(w.testbed.log_path(Component::IonChannel))?;
        assert!(
            log.lines()
                .any(|l| l.contains("consumer format") && l.contains("dmabuf=true")),
            "ionChannel's log names no dmabuf format"
        );
        rd.close().await?;
        w.done()?;
    }
    Ok(())
}

/// Both are offered; a consumer that cannot take dmabufs (GStreamer's
/// pipewiresrc, our consumer without --dmabuf) gets shm frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_without_dmabuf_gets_shm() -> Result<()> {
    let Some(w) = dmabuf_world("shm beside dmabuf", &[]).await? else {
        return Ok(());
    };
    let (rd, node) = cast(&w).await?;
    let consumer = w.testbed.start_consumer(node, true, &["--max-fps", "2"])?;
    picture_arrives(&rd, node, &consumer, false).await?;
    assert!(consumer.frames().iter().all(|f| !f.dmabuf));
    rd.close().await?;
    w.done()
}

/// A consumer that takes either, dmabufs first (as OBS offers them), gets
/// dmabufs; when a dmabuf cannot be made (`IONCHANNEL_FAULT=
/// dmabuf-alloc-fails`: GBM passed its check at connect, every stream
/// buffer then fails), the stream falls back to shm and the same consumer
/// gets the picture there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dmabuf_that_cannot_be_made_falls_back_to_shm() -> Result<()> {
    for fault in [false, true] {
        let env: &[(&str, &str)] = if fault {
            &[("IONCHANNEL_FAULT", "dmabuf-alloc-fails")]
        } else {
            &[]
        };
        let what = if fault {
            "dmabuf allocation failing"
        } else {
            "dmabuf preferred"
        };
        let Some(w) = dmabuf_world(what, env).await? else {
            return Ok(());
        };
        let (rd, node) = cast(&w).await?;
        let consumer =
            w.testbed
                .start_consumer(node, true, &["--prefer-dmabuf", "--max-fps", "2"])?;
        let i = picture_arrives(&rd, node, &consumer, !fault).await?;
        println!("{what}: the picture in frame {i}");
        let log = std::fs::read_to_string(w.testbed.log_path(Component::IonChannel))?;
        assert_eq!(
            log.contains("dmabuf given up"),
            fault,
            "{what}: the fallback is logged exactly when it happens"
        );
        rd.close().await?;
        w.done()?;
    }
    Ok(())
}

/// Whole frames in dmabufs while the stream's buffers rotate (see
/// tests/damage.rs): into a dmabuf, wlroots copies only the rectangles the
/// client names with `damage_buffer` plus what changed since the session's
/// last frame, so a buffer that missed a few frames' changes is right only
/// if ionChannel named all of them. The probe repaints one of nine scattered
/// tiles a frame; the consumer checks every frame. The same check on shm
/// (whole copies) tells the compositor's own picture from our damage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmabuf_frames_stay_whole_under_buffer_rotation() -> Result<()> {
    let what = "buffer rotation";
    let Some(w) =
        dmabuf_world_with_probe(what, &[], &["--animate", "--animate-tiles", "9"]).await?
    else {
        return Ok(());
    };
    let mut failures = Vec::new();
    for dmabuf in [true, false] {
        let kind = if dmabuf { "dmabuf" } else { "shm" };
        let (rd, node) = cast(&w).await?;
        let mut args = vec!["--check-tiles", "9"];
        if dmabuf {
            args.push("--dmabuf");
        }
        let consumer = w.testbed.start_consumer(node, false, &args)?;
        // 100 frames, or enough that stay wrong (each costs the consumer
        // a second of looking again).
        consumer.wait_for(&format!("100 {kind} frames"), WAIT * 9, |f| {
            let ours = f.iter().filter(|r| r.valid && r.dmabuf == dmabuf);
            let wrong = ours
                .clone()
                .filter(|r| {
                    r.check
                        .as_deref()
                        .is_some_and(|c| c != "ok" && !c.starts_with("late: "))
                })
                .count();
            (ours.count() >= 100 || wrong >= 5).then_some(())
        })?;
        let frames = consumer.frames();
        let checked: Vec<_> = frames
            .iter()
            .filter(|r| r.valid && r.dmabuf == dmabuf)
            .collect();
        // A late copy (whole when looked at again within a second: no
        // fence, and llvmpipe renders on the CPU, under TCG) is the VM's,
        // not a missed rectangle: nothing else writes a buffer the
        // consumer holds.
        let late = checked
            .iter()
            .filter(|r| r.check.as_deref().is_some_and(|c| c.starts_with("late: ")))
            .count();
        let wrong: Vec<String> = checked
            .iter()
            .filter_map(|r| {
                r.check
                    .as_deref()
                    .filter(|c| *c != "ok" && !c.starts_with("late: "))
                    .map(|c| format!("{c} (buffer {:?})", r.buffer))
            })
            .collect();
        let buffers: std::collections::BTreeSet<u32> =
            checked.iter().filter_map(|r| r.buffer).collect();
        let counters: Vec<u32> = checked.iter().filter_map(|r| r.counter).collect();
        let steps = counters.windows(2).map(|p| p[1].wrapping_sub(p[0]));
        println!(
            "{what}, {kind} ({}): {} frames checked, {} wrong, {late} whole only when looked at again; {} buffers; counter steps {:?}; wrong: {:?}",
            w.capture_path().unwrap_or_default(),
            checked.len(),
            wrong.len(),
            buffers.len(),
            steps.fold(std::collections::BTreeMap::<u32, u32>::new(), |mut m, s| {
                *m.entry(s).or_default() += 1;
                m
            }),
            &wrong[..wrong.len().min(8)]
        );
        if buffers.len() < 3 {
            failures.push(format!("{kind}: the buffers do not rotate: {buffers:?}"));
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{kind}: {} of {} frames wrong",
                wrong.len(),
                checked.len()
            ));
        }
        rd.close().await?;
        drop(consumer);
    }
    assert!(failures.is_empty(), "{failures:?}");
    w.done()
}
