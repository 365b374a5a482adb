//! The probe client, `ion-probe`: a Wayland client that shows a known
//! picture on every output and records every pointer and keyboard event it
//! receives.
//!
//! # Running it
//!
//! ```text
//! ion-probe --events events.jsonl --ready ready --outputs outputs.json [--animate]
//! ```
//!
//! with `WAYLAND_DISPLAY`/`XDG_RUNTIME_DIR` pointing at the compositor.
//! Build the arguments with [`ProbeOptions::to_args`], start the binary
//! (`env!("CARGO_BIN_EXE_ion-probe")` in this crate's integration tests),
//! wait for the ready file with [`wait_for_file`], drive input, then read
//! the log with [`read_records`]. SIGTERM/SIGINT end the probe with exit
//! status 0; a compositor disconnect or protocol error ends it with status 1
//! and a message on stderr.
//!
//! # What it shows
//!
//! On every `wl_output` (also outputs added later; a removed output's
//! surface is destroyed) a wlr layer-shell surface on the OVERLAY layer,
//! anchored to all edges, exclusive zone -1, filled with
//! [`pattern::pattern_pixel`] at buffer scale = the output's integer scale.
//! The surface of the output with index 0 takes EXCLUSIVE keyboard
//! interactivity, the others NONE, so keyboard focus lands on output 0.
//! The pointer cursor is hidden over the probe's surfaces unless
//! `--keep-cursor` is given, so captures show the bare pattern.
//!
//! # Output indices
//!
//! The outputs present at start-up get indices 0, 1, ... in order of their
//! names (wl_output v4 `name`, else the xdg-output name). Outputs that
//! appear later get the next unused index (several at once: again in name
//! order); an index is never reused. The `--outputs` file and the
//! `output_added` records tell which output got which index.
//!
//! # Readiness
//!
//! The `--ready` file (content `ready\n`, written atomically) appears once
//! every current output has a configured layer surface with its first
//! buffer committed and a round trip to the compositor completed after
//! that; a `ready` record and a line on stderr go with it.
//!
//! # The event log
//!
//! One JSON object per line, see [`record`] for every type and field.

mod event_loop;
pub mod files;
mod input;
pub mod keyboard;
pub mod pattern;
pub mod record;
pub mod shm;
mod state;
mod surfaces;
pub mod tiles;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

pub use event_loop::run;
pub use files::{OutputDesc, OutputsFile};
pub use pattern::{decode_counter, decode_counter_packed, pattern_pixel};
pub use record::{read_records, Event, Record};
pub use surfaces::LAYER_NAMESPACE;

/// The probe's options (also its command line).
#[derive(Debug, Clone, Default, PartialEq, clap::Parser)]
#[command(
    name = "ion-probe",
    about = "Shows a known picture on every output and records the input it receives"
)]
pub struct ProbeOptions {
    /// Event log (JSON lines); standard output when absent or "-".
    #[arg(long, value_name = "PATH")]
    pub events: Option<PathBuf>,
    /// File to create (content "ready\n") once every output shows the
    /// picture.
    #[arg(long, value_name = "PATH")]
    pub ready: Option<PathBuf>,
    /// File describing the outputs (JSON), rewritten when they change.
    #[arg(long, value_name = "PATH")]
    pub outputs: Option<PathBuf>,
    /// Redraw on every frame callback with a frame counter in the top-left
    /// 64x8 pixels.
    #[arg(long)]
    pub animate: bool,
    /// With --animate, also repaint this area from the top-left corner on
    /// every frame, in a colour that changes (`WxH`, or `full` for the
    /// whole output): the benchmark's workloads, from a 64x8 counter to a
    /// full-screen animation.
    #[arg(long, value_name = "WxH|full")]
    pub animate_area: Option<String>,
    /// With --animate, repaint one of N small tiles spread over the output
    /// on every frame (see [`tiles`]): scattered small changes.
    #[arg(long, value_name = "N", conflicts_with = "animate_area")]
    pub animate_tiles: Option<u32>,
    /// Keep the compositor's cursor over the probe (default: hide it).
    #[arg(long)]
    pub keep_cursor: bool,
    /// Exit (status 0) after this many seconds, a safety net for tests.
    #[arg(long, value_name = "SECONDS")]
    pub max_runtime: Option<f64>,
}

/// What an animated frame repaints besides the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changes {
    /// The counter only.
    Counter,
    /// An area from the top-left corner (`u32::MAX`: the whole output).
    Area(u32, u32),
    /// One of this many tiles ([`tiles`]).
    Tiles(u32),
}

impl ProbeOptions {
    /// What changes on each frame: `--animate-area` as a size (`full`: as
    /// large as any output), `--animate-tiles`, or only the counter.
    pub fn changes(&self) -> Result<Changes, String> {
        if let Some(n) = self.animate_tiles {
            if n == 0 {
                return Err("--animate-tiles needs at least one tile".into());
            }
            return Ok(Changes::Tiles(n));
        }
        let Some(text) = self.animate_area.as_deref() else {
            return Ok(Changes::Counter);
        };
        if text == "full" {
            return Ok(Changes::Area(u32::MAX, u32::MAX));
        }
        text.split_once('x')
            .and_then(|(w, h)| Some(Changes::Area(w.parse().ok()?, h.parse().ok()?)))
            .ok_or_else(|| format!("--animate-area {text}: expected WxH or full"))
    }

    /// Whether the cursor is hidden over the probe's surfaces.
    pub fn hide_cursor(&self) -> bool {
        !self.keep_cursor
    }

    /// The command-line arguments that give these options (without the
    /// program name).
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        let mut path = |flag: &str, p: &Option<PathBuf>| {
            if let Some(p) = p {
                args.push(OsString::from(flag));
                args.push(p.clone().into_os_string());
            }
        };
        path("--events", &self.events);
        path("--ready", &self.ready);
        path("--outputs", &self.outputs);
        if self.animate {
            args.push("--animate".into());
        }
        if let Some(a) = &self.animate_area {
            args.push("--animate-area".into());
            args.push(a.into());
        }
        if let Some(n) = self.animate_tiles {
            args.push("--animate-tiles".into());
            args.push(n.to_string().into());
        }
        if self.keep_cursor {
            args.push("--keep-cursor".into());
        }
        if let Some(s) = self.max_runtime {
            args.push("--max-runtime".into());
            args.push(s.to_string().into());
        }
        args
    }
}

/// Waits until `path` exists (polling every 20 ms), e.g. the ready file.
pub fn wait_for_file(path: &Path, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    while !path.exists() {
        if start.elapsed() >= timeout {
            anyhow::bail!("{} did not appear within {timeout:?}", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn args_roundtrip() {
        let opts = ProbeOptions {
            events: Some("/tmp/e.jsonl".into()),
            ready: Some("/tmp/ready".into()),
            outputs: None,
            animate: true,
            animate_area: Some("256x256".into()),
            animate_tiles: None,
            keep_cursor: false,
            max_runtime: Some(2.5),
        };
        let mut argv = vec![OsString::from("ion-probe")];
        argv.extend(opts.to_args());
        assert_eq!(ProbeOptions::try_parse_from(argv).unwrap(), opts);
        let none = ProbeOptions::try_parse_from(["ion-probe"]).unwrap();
        assert_eq!(none, ProbeOptions::default());
        assert!(none.hide_cursor());
    }
}
