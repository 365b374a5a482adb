//! `ion-consumer`: a PipeWire video consumer of our own, for tests and
//! benchmarks. It does what a screen-sharing app does (connect to a node,
//! negotiate raw video, map the buffers) and records every frame as one
//! JSON line: when it arrived (CLOCK_MONOTONIC, comparable with the probe's
//! commit times), its size and format, the header's sequence number and
//! timestamp, the damage regions, and the probe's frame counter if the
//! picture carries one.
//!
//! GStreamer's pipewiresrc (0.3.65) stays the reference consumer in the
//! tests; this one exists because pipewiresrc of that version does not
//! follow a format change mid-stream (the PipeWire `video-play` example
//! does, and so do browsers and OBS), and because the benchmark needs
//! per-frame arrival times without a pipeline in between.
//!
//! ```text
//! ion-consumer --node 42 --out frames.jsonl [--fd 3] [--max-fps 30]
//!              [--save DIR] [--duration 5]
//! ```

mod stream;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use stream::run;

/// What to consume and what to keep.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsumerOptions {
    /// The PipeWire node to consume (a portal stream's node id).
    #[arg(long)]
    pub node: u32,
    /// A connected PipeWire socket to use instead of the environment's
    /// daemon (the fd OpenPipeWireRemote returned, inherited).
    #[arg(long)]
    pub fd: Option<i32>,
    /// JSON lines, one per frame.
    #[arg(long)]
    pub out: PathBuf,
    /// Ask the source for at most this many frames per second.
    #[arg(long)]
    pub max_fps: Option<u32>,
    /// Save every frame's pixels as they came (4 bytes a pixel, rows
    /// packed) in this directory, named `NNNNN-WxH.<format>` (`.bgrx`).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Stop after this many seconds (default: until killed).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Take LINEAR dmabufs only (as Chromium and OBS ask for them): the
    /// stream fails if the source offers none. Each frame is read through
    /// a mapping of the dmabuf, with DMA_BUF_IOCTL_SYNC around it.
    #[arg(long)]
    pub dmabuf: bool,
    /// Offer LINEAR dmabufs first and shm after them, as OBS does: the
    /// source picks; a source that stops offering dmabufs gets shm.
    #[arg(long, conflicts_with = "dmabuf")]
    pub prefer_dmabuf: bool,
    /// The formats to accept, preferred first (SPA names: BGRx, BGRA,
    /// RGBx, RGBA); default all four, BGRx first. Chromium and OBS put
    /// BGRA first.
    #[arg(long, value_delimiter = ',')]
    pub formats: Vec<String>,
    /// Check every frame against the probe's `--animate-tiles N` picture
    /// (counter, every tile, the pattern around them; see
    /// `probe::tiles::check_frame`) and record the verdict: "ok", what is
    /// wrong, or for a dmabuf that becomes whole when looked at again
    /// (within a second), "late: " and what was wrong at first.
    #[arg(long, value_name = "N")]
    pub check_tiles: Option<u32>,
}

impl ConsumerOptions {
    pub fn duration(&self) -> Option<Duration> {
        self.duration
            .filter(|d| d.is_finite() && *d > 0.0)
            .map(Duration::from_secs_f64)
    }
}

/// One frame as the consumer received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// CLOCK_MONOTONIC when `process` handed the buffer over, in ns.
    pub t_ns: u64,
    pub width: u32,
    pub height: u32,
    /// SPA name of the pixel format (BGRx, RGBA, ...).
    pub format: String,
    /// Bytes of pixel data in the chunk.
    pub size: u32,
    /// From the header meta, if the source sent one.
    pub seq: Option<u64>,
    pub pts_ns: Option<i64>,
    /// Damage regions (x, y, width, height); `None` without the meta.
    pub damage: Option<Vec<(i32, i32, u32, u32)>>,
    /// The probe's frame counter at the top-left corner, if readable.
    pub counter: Option<u32>,
    /// The first bytes' worth of the picture is there (not a corrupted or
    /// empty chunk).
    pub valid: bool,
    /// Why a buffer of picture size is not valid (a test report's clue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
    /// Cursor metadata, when the buffer carried it (cursor mode metadata).
    #[serde(default)]
    pub cursor: Option<CursorRecord>,
    /// The frame came in a dmabuf.
    #[serde(default)]
    pub dmabuf: bool,
    /// Which of the stream's buffers carried it (numbered as first seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer: Option<u32>,
    /// With `--check-tiles`: "ok", what is wrong with the picture, or
    /// "late: …" (see the option).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

/// What a buffer's SPA_META_Cursor said.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CursorRecord {
    /// 0: no cursor over the source.
    pub id: u32,
    pub x: i32,
    pub y: i32,
    pub hotspot_x: i32,
    pub hotspot_y: i32,
    /// A new image came with this buffer: its size and how many of its
    /// pixels are not fully transparent.
    pub bitmap: Option<(u32, u32)>,
    pub bitmap_opaque: Option<u32>,
    /// A digest of the new image's pixels (equal images, equal digests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitmap_digest: Option<u64>,
}

/// Reads a consumer's JSON lines (a torn last line is skipped).
pub fn read_records(path: &std::path::Path) -> std::io::Result<Vec<FrameRecord>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// Packed RGB (3 bytes a pixel) from a saved frame of a 32-bit `format`
/// (BGRx, BGRA, RGBx, RGBA).
pub fn to_rgb(raw: &[u8], format: &str) -> Vec<u8> {
    let [r, g, b] = match format {
        "RGBx" | "RGBA" => [0, 1, 2],
        _ => [2, 1, 0],
    };
    raw.chunks_exact(4)
        .flat_map(|p| [p[r], p[g], p[b]])
        .collect()
}
