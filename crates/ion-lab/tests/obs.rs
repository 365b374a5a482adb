//! OBS Studio (Debian testing's package with `obs-plugins`, unmodified)
//! records a monitor through its "Screen Capture (PipeWire)" source, the
//! real frontend and ionChannel: the recording's frames match the screen
//! (the probe's picture, its counter moving on) within OBS's colour
//! conversion, and with the source's "Show cursor" the cursor OBS draws
//! from the stream's cursor metadata is where the probe says the pointer
//! is. When OBS quits, the portal session ends.
//!
//! OBS comes from the testing rootfs (see `ion_lab::obs`); on the host
//! stack (Debian 12) the test says so and returns.

mod common;

use std::time::Duration;

use anyhow::{Context, Result};
use common::chooser::Chooser;
use common::*;
use ion_lab::obs::{self, Obs, Setup};
use ion_lab::probe::pattern::{decode_counter, pattern_pixel, COUNTER_HEIGHT, COUNTER_WIDTH};
use ion_lab::probe::record::Event;
use ion_lab::testbed::{Component, Picture};

const SHARED: &str = "HEADLESS-2";
const SHARED_SIZE: (u32, u32) = (1280, 720);
/// Where HEADLESS-2 starts in the layout (see `two_outputs`).
const SHARED_X: i32 = 1920;

/// OBS's RGB → YUV 4:4:4 → RGB round trip: the most a channel may differ.
const TOLERANCE: u8 = 8;

/// Where the pointer rests on the shared output (output coordinates).
const POINTER: (u32, u32) = (400, 300);
/// Around the pointer, what the cursor may cover.
const CURSOR_BOX: u32 = 64;

fn channel_diff(a: [u8; 3], b: [u8; 3]) -> u8 {
    (0..3).map(|c| a[c].abs_diff(b[c])).max().unwrap_or(0)
}

fn near_cursor(x: u32, y: u32) -> bool {
    (POINTER.0.saturating_sub(8)..POINTER.0 + CURSOR_BOX).contains(&x)
        && (POINTER.1.saturating_sub(8)..POINTER.1 + CURSOR_BOX).contains(&y)
}

/// The worst difference from the probe's picture on a grid, away from the
/// counter and the cursor.
fn worst_against_probe(frame: &Picture) -> (u8, (u32, u32), [u8; 3], [u8; 3]) {
    let mut worst = (0, (0, 0), [0; 3], [0; 3]);
    for y in (3..frame.height).step_by(23) {
        for x in (5..frame.width).step_by(29) {
            if (x < COUNTER_WIDTH && y < COUNTER_HEIGHT) || near_cursor(x, y) {
                continue;
            }
            let (got, want) = (frame.pixel(x, y), pattern_pixel(1, x, y));
            let d = channel_diff(got, want);
            if d > worst.0 {
                worst = (d, (x, y), got, want);
            }
        }
    }
    worst
}

/// The box of pixels around the pointer that are not the probe's picture
/// (the cursor OBS drew): (left, top, right, bottom).
fn cursor_box(frame: &Picture) -> Option<(u32, u32, u32, u32)> {
    let mut found: Option<(u32, u32, u32, u32)> = None;
    for y in POINTER.1.saturating_sub(8)..POINTER.1 + CURSOR_BOX {
        for x in POINTER.0.saturating_sub(8)..POINTER.0 + CURSOR_BOX {
            if channel_diff(frame.pixel(x, y), pattern_pixel(1, x, y)) > 40 {
                found = Some(match found {
                    None => (x, y, x, y),
                    Some((l, t, r, b)) => (l.min(x), t.min(y), r.max(x), b.max(y)),
                });
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obs_records_a_monitor_with_its_cursor() -> Result<()> {
    let mut w = world_with_probe(
        ion_lab::testbed::Testbed::builder().outputs(two_outputs()),
        &["--animate", "--keep-cursor"],
    )
    .await?;
    if !w.app_runs_here("OBS", obs::missing()) {
        return w.done();
    }
    let (chooser, policy) = Chooser::install(&w.testbed)?;
    w.testbed.set_policy(policy)?;
    chooser.answer(&format!(r#"{{"allow":true,"outputs":["{SHARED}"]}}"#))?;
    println!("OBS {}", obs::version().unwrap_or_default());

    // The pointer rests on the shared output, where the probe sees it
    // (where the compositor has a virtual pointer to put it there).
    let pointer = match w.testbed.virtual_input() {
        Ok(mut input) => {
            input.move_to(SHARED_X + POINTER.0 as i32, POINTER.1 as i32)?;
            w.testbed
                .wait_for("the probe to see the pointer", &[], || {
                    Ok(w.log.records()?.iter().any(|r| {
                        matches!(&r.event, Event::Motion { output, x, y, .. }
                        | Event::PointerEnter { output, x, y }
                        if output == SHARED && (*x - f64::from(POINTER.0)).abs() < 1.0
                            && (*y - f64::from(POINTER.1)).abs() < 1.0)
                    }))
                })?;
            Some(input)
        }
        Err(why) => {
            println!("no pointer to put on the output ({why:#}): the cursor is not checked");
            None
        }
    };

    let recorder = Obs::start(
        &w.testbed,
        Setup {
            width: SHARED_SIZE.0,
            height: SHARED_SIZE.1,
            fps: 30,
            show_cursor: true,
        },
    )?;
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(chooser.asked().len(), 1, "the person is asked once");
    let log = std::fs::read_to_string(w.testbed.log_path(Component::IonChannel))?;
    let session = last_stream(&w.testbed, Some(SHARED))?.session;
    assert!(
        log.lines()
            .any(|l| l.contains("sources selected") && l.contains("cursor_mode: 4")),
        "OBS asks for the cursor as metadata (it draws it itself)"
    );
    let own_log = recorder.own_log().unwrap_or_default();
    let recording = recorder.stop()?;
    println!("recording: {}", recording.path.display());
    let frames = recording.frames(&w.testbed, 5)?;
    let size = frames.first().map(|f| (f.width, f.height));
    assert_eq!(size, Some(SHARED_SIZE), "frames of the output's size");

    // The frames that show the stream: OBS records black until the
    // source's first frame (and may after its last, as it quits); in
    // between every frame must show it.
    let black = |f: &Picture| {
        (0..f.height).step_by(31).all(|y| {
            (0..f.width)
                .step_by(37)
                .all(|x| f.pixel(x, y).iter().all(|&c| c < 16))
        })
    };
    let first = frames
        .iter()
        .position(|f| !black(f))
        .unwrap_or(frames.len());
    let last = frames.iter().rposition(|f| !black(f)).unwrap_or(0);
    let shown: Vec<(usize, &Picture, u32)> = frames
        .iter()
        .enumerate()
        .take(last + 1)
        .skip(first)
        .map(|(i, f)| {
            decode_counter(|x, y| f.pixel(x, y))
                .map(|c| (i, f, c))
                .with_context(|| format!("no counter in frame {i}"))
        })
        .collect::<Result<_>>()?;
    println!(
        "{} frames at 5 a second, {first} black before the stream and {} after, counters {:?}",
        frames.len(),
        frames.len() - 1 - last,
        shown.iter().map(|s| s.2).collect::<Vec<_>>()
    );
    assert!(shown.len() >= 8, "OBS's log:\n{own_log}");
    assert!(
        shown.windows(2).all(|p| p[1].2 > p[0].2),
        "the counter moves on from frame to frame"
    );
    for (i, frame, counter) in &shown {
        let worst = worst_against_probe(frame);
        assert!(
            worst.0 <= TOLERANCE,
            "frame {i} (counter {counter}): {worst:?} from the probe's picture"
        );
    }
    let worst = shown.iter().map(|s| worst_against_probe(s.1).0).max();
    println!("worst difference from the probe's picture: {worst:?}");

    if pointer.is_some() {
        let boxes: Vec<_> = shown.iter().map(|s| cursor_box(s.1)).collect();
        println!(
            "the cursor OBS drew, per frame: {:?}",
            &boxes[..boxes.len().min(3)]
        );
        for (b, (i, ..)) in boxes.iter().zip(&shown) {
            let (left, top, right, bottom) =
                b.with_context(|| format!("no cursor near {POINTER:?} in frame {i}"))?;
            // The arrow's tip is its hotspot: at the pointer, give or take
            // the theme's hotspot offset.
            assert!(
                left.abs_diff(POINTER.0) <= 4 && top.abs_diff(POINTER.1) <= 4,
                "frame {i}: cursor at {left},{top}..{right},{bottom}, pointer at {POINTER:?}"
            );
            assert!(
                right - left >= 4 && bottom - top >= 8,
                "an arrow, not a dot"
            );
        }
    }

    // OBS quit: its portal session ends.
    let closed = format!("session closed session={session} ");
    w.testbed.wait_for("the portal session to close", &[], || {
        let log = std::fs::read_to_string(w.testbed.log_path(Component::IonChannel))?;
        Ok(log.contains(&closed))
    })?;
    w.done()
}
