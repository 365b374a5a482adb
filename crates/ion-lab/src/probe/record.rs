//! The probe's event log: one JSON object per line.
//!
//! Every line is a [`Record`]: `"t_us"` (CLOCK_MONOTONIC microseconds when
//! the probe handled the event) and `"type"` plus the fields of the
//! [`Event`] variant, e.g.
//!
//! ```text
//! {"t_us":1234567,"type":"motion","output":"HEADLESS-1","x":10.5,"y":20.0,"time_ms":99}
//! {"t_us":1234600,"type":"key","keycode":30,"state":"pressed","keysym":97,"keysym_name":"a","utf8":"a","mods":[],"time_ms":100}
//! ```
//!
//! Tests read the log back with [`Record::parse_line`] or [`read_records`];
//! the same types are used to write it, so the two cannot drift apart.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// CLOCK_MONOTONIC now, in microseconds.
pub fn monotonic_us() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (ts.tv_sec as u64).saturating_mul(1_000_000) + (ts.tv_nsec as u64) / 1_000
}

/// One line of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// CLOCK_MONOTONIC microseconds when the probe handled the event.
    pub t_us: u64,
    /// What happened (serialized flat, with its `"type"` tag).
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    /// Parses one line of the log.
    pub fn parse_line(line: &str) -> Result<Record> {
        serde_json::from_str(line).with_context(|| format!("parsing probe record {line:?}"))
    }
}

/// Reads a whole event log (empty lines are skipped; a partial last line,
/// as can be seen while the probe is still writing, is ignored).
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        if !line.ends_with('\n') {
            break; // still being written
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        out.push(Record::parse_line(trimmed)?);
    }
    Ok(out)
}

/// Pressed or released (buttons and keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PressState {
    /// Pressed.
    Pressed,
    /// Released.
    Released,
    /// Key repeated by the compositor (wl_keyboard v10; not bound today).
    Repeated,
    /// A value this probe does not know.
    Unknown,
}

/// A scroll axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AxisName {
    /// Vertical scroll.
    Vertical,
    /// Horizontal scroll.
    Horizontal,
    /// A value this probe does not know.
    Unknown,
}

/// The events the probe records. Serialized with `"type"` set to the
/// variant name in snake_case (`PointerEnter` -> `"pointer_enter"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The probe is connected and about to set up its globals.
    Started {
        /// Process id of the probe.
        pid: u32,
        /// Whether `--animate` is on.
        animate: bool,
    },
    /// An output got its index and surface.
    OutputAdded {
        /// Output name (wl_output v4 `name`, else xdg-output name).
        output: String,
        /// The probe's index for it (picks the pattern's blue bits).
        index: u32,
    },
    /// An output went away (its surface is destroyed).
    OutputRemoved {
        /// Output name.
        output: String,
        /// Its index.
        index: u32,
    },
    /// The seat's capabilities (sent at bind and on every change).
    Capabilities {
        /// Seat name if known.
        seat: String,
        /// The seat has a pointer.
        pointer: bool,
        /// The seat has a keyboard.
        keyboard: bool,
        /// The seat has touch.
        touch: bool,
    },
    /// wl_pointer.enter (x, y: surface-local logical coordinates).
    PointerEnter {
        /// Output of the entered surface.
        output: String,
        /// Surface-local x.
        x: f64,
        /// Surface-local y.
        y: f64,
    },
    /// wl_pointer.leave (x, y: the last known position on that surface).
    PointerLeave {
        /// Output of the left surface.
        output: String,
        /// Last known surface-local x.
        x: f64,
        /// Last known surface-local y.
        y: f64,
    },
    /// wl_pointer.motion.
    Motion {
        /// Output of the focused surface.
        output: String,
        /// Surface-local x.
        x: f64,
        /// Surface-local y.
        y: f64,
        /// The event's compositor timestamp (ms).
        time_ms: u32,
    },
    /// wl_pointer.button.
    Button {
        /// evdev button code (BTN_LEFT = 272).
        button: u32,
        /// Pressed or released.
        state: PressState,
        /// The event's compositor timestamp (ms).
        time_ms: u32,
    },
    /// wl_touch.down (x, y: surface-local logical coordinates).
    TouchDown {
        /// Output of the touched surface.
        output: String,
        /// The touch point's id.
        id: i32,
        x: f64,
        y: f64,
    },
    /// wl_touch.motion.
    TouchMotion {
        /// Output the point went down on.
        output: String,
        id: i32,
        x: f64,
        y: f64,
    },
    /// wl_touch.up.
    TouchUp {
        /// Output the point went down on.
        output: String,
        id: i32,
    },
    /// wl_touch.cancel: the compositor took every point.
    TouchCancel,
    /// wl_pointer.axis.
    Axis {
        /// Which axis.
        axis: AxisName,
        /// Scroll amount (surface-local units).
        value: f64,
        /// The event's compositor timestamp (ms).
        time_ms: u32,
    },
    /// wl_pointer.axis_source.
    AxisSource {
        /// "wheel", "finger", "continuous", "wheel_tilt" or "unknown".
        source: String,
    },
    /// wl_pointer.axis_stop.
    AxisStop {
        /// Which axis.
        axis: AxisName,
        /// The event's compositor timestamp (ms).
        time_ms: u32,
    },
    /// wl_pointer.axis_discrete (seat v5..v7).
    AxisDiscrete {
        /// Which axis.
        axis: AxisName,
        /// Wheel steps.
        discrete: i32,
    },
    /// wl_pointer.axis_value120 (seat v8+).
    AxisValue120 {
        /// Which axis.
        axis: AxisName,
        /// Wheel steps times 120.
        value120: i32,
    },
    /// wl_pointer.axis_relative_direction (seat v9+).
    AxisRelativeDirection {
        /// Which axis.
        axis: AxisName,
        /// "identical", "inverted" or "unknown".
        direction: String,
    },
    /// wl_pointer.frame.
    PointerFrame,
    /// wl_keyboard.enter.
    KeyboardEnter {
        /// Output of the focused surface.
        output: String,
        /// evdev keycodes already pressed.
        keys: Vec<u32>,
    },
    /// wl_keyboard.leave.
    KeyboardLeave {
        /// Output of the surface that lost focus.
        output: String,
    },
    /// wl_keyboard.keymap (the xkb keymap is rebuilt every time).
    Keymap {
        /// Size in bytes as announced.
        size: u32,
        /// "xkb_v1", "no_keymap" or "unknown".
        format: String,
        /// Whether xkbcommon compiled it.
        ok: bool,
    },
    /// wl_keyboard.key. `keysym`, `keysym_name`, `utf8` and `mods` come from
    /// the xkb state as it was when the key arrived (the state is only
    /// changed by `modifiers` events, as the protocol intends).
    Key {
        /// evdev keycode as received (xkb keycode minus 8).
        keycode: u32,
        /// Pressed or released.
        state: PressState,
        /// `xkb_state_key_get_one_sym(keycode + 8)`, 0 without keymap.
        keysym: u32,
        /// The keysym's xkb name ("a", "A", "Return", "NoSymbol", ...).
        keysym_name: String,
        /// `xkb_state_key_get_utf8(keycode + 8)`.
        utf8: String,
        /// Names of the active (effective) modifiers, e.g. ["Shift"].
        mods: Vec<String>,
        /// The event's compositor timestamp (ms).
        time_ms: u32,
    },
    /// wl_keyboard.modifiers (after applying it to the xkb state).
    Modifiers {
        /// Depressed modifier mask.
        depressed: u32,
        /// Latched modifier mask.
        latched: u32,
        /// Locked modifier mask.
        locked: u32,
        /// Effective layout group.
        group: u32,
        /// Names of the active (effective) modifiers.
        mods: Vec<String>,
    },
    /// wl_keyboard.repeat_info.
    RepeatInfo {
        /// Keys per second.
        rate: i32,
        /// Delay in ms.
        delay: i32,
    },
    /// `--animate`: a buffer showing `frame` was committed.
    FrameDrawn {
        /// Output of the surface.
        output: String,
        /// Output index.
        index: u32,
        /// The counter value drawn into the buffer.
        frame: u32,
        /// Buffer size.
        width: u32,
        /// Buffer size.
        height: u32,
    },
    /// The ready file was written.
    Ready {
        /// Outputs covered, in index order.
        outputs: Vec<String>,
    },
}

/// Writes [`Record`]s as JSON lines, flushing after each.
pub struct Recorder {
    out: Box<dyn Write>,
}

impl Recorder {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        Recorder {
            out: Box::new(std::io::stdout()),
        }
    }

    /// Creates (truncates) `path`.
    pub fn to_file(path: &Path) -> Result<Self> {
        let file =
            File::create(path).with_context(|| format!("creating event log {}", path.display()))?;
        Ok(Recorder {
            out: Box::new(file),
        })
    }

    /// Any writer (tests).
    pub fn to_writer(out: Box<dyn Write>) -> Self {
        Recorder { out }
    }

    /// Records `event` now.
    pub fn record(&mut self, event: Event) -> Result<()> {
        let rec = Record {
            t_us: monotonic_us(),
            event,
        };
        let mut line = serde_json::to_vec(&rec).context("serializing probe record")?;
        line.push(b'\n');
        self.out
            .write_all(&line)
            .and_then(|()| self.out.flush())
            .context("writing the event log")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn format_is_flat_and_tagged() {
        let rec = Record {
            t_us: 42,
            event: Event::Key {
                keycode: 30,
                state: PressState::Pressed,
                keysym: 0x61,
                keysym_name: "a".into(),
                utf8: "a".into(),
                mods: vec!["Shift".into()],
                time_ms: 7,
            },
        };
        let v: serde_json::Value = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["type"], "key");
        assert_eq!(v["t_us"], 42);
        assert_eq!(v["state"], "pressed");
        assert_eq!(v["mods"][0], "Shift");
        let line = serde_json::to_string(&rec).unwrap();
        assert_eq!(Record::parse_line(&line).unwrap(), rec);

        let frame = Record {
            t_us: 1,
            event: Event::PointerFrame,
        };
        let line = serde_json::to_string(&frame).unwrap();
        assert_eq!(line, r#"{"t_us":1,"type":"pointer_frame"}"#);
        assert_eq!(Record::parse_line(&line).unwrap(), frame);

        let m = Record::parse_line(
            r#"{"t_us":5,"type":"motion","output":"HEADLESS-1","x":1.5,"y":2,"time_ms":3}"#,
        )
        .unwrap();
        assert_eq!(
            m.event,
            Event::Motion {
                output: "HEADLESS-1".into(),
                x: 1.5,
                y: 2.0,
                time_ms: 3
            }
        );
    }

    #[test]
    fn recorder_writes_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut r = Recorder::to_file(&path).unwrap();
        r.record(Event::PointerFrame).unwrap();
        r.record(Event::Button {
            button: 272,
            state: PressState::Released,
            time_ms: 1,
        })
        .unwrap();
        let recs = read_records(&path).unwrap();
        assert_eq!(recs.len(), 2);
        assert!(recs[0].t_us <= recs[1].t_us);
        assert!(recs[0].t_us > 0);
        assert_eq!(recs[0].event, Event::PointerFrame);
    }
}
