//! `ionchannel-lab demo`: a RemoteDesktop session through the real
//! xdg-desktop-portal frontend, as RustDesk runs one, on a sandboxed
//! a headless compositor, with the probe client reporting what really arrived.
//!
//! [`run`] brings the testbed up (two outputs, the permissive test policy),
//! starts the probe, then: CreateSession → SelectDevices(keyboard, pointer,
//! touchscreen) → Start, relative pointer motion, clicks, smooth and wheel
//! scrolling, typing [`DEMO_TEXT`] (keycodes with Shift where the US layout
//! has the character, keysyms for the rest), holding a button and Ctrl, and
//! Close. It then reads the probe's log and checks every step; the
//! [`DemoReport`] says what was seen and what, if anything, did not match.
//! The testbed is torn down before [`run`] returns.
//!
//! On a compositor that has no virtual pointer (cosmic-comp, and the
//! tests' stand-in for it: AvailableDeviceTypes is the keyboard alone),
//! Start grants the keyboard only; the demo says so, with the frontend's
//! AvailableDeviceTypes, leaves the pointer steps out and runs the rest.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::client::{
    PortalClient, RemoteDesktop, BTN_LEFT, BTN_RIGHT, KEYBOARD, KEY_LEFTSHIFT, POINTER, TOUCHSCREEN,
};
use crate::expect::ProbeLog;
use crate::probe::record::{AxisName, Event, PressState, Record};
use crate::testbed::{OutputSpec, Testbed};

/// What the demo types.
pub const DEMO_TEXT: &str = "Hello, Wayland! é€";

const KEY_LEFTCTRL: i32 = 29;

/// The first move brings the pointer onto the probe's surface; the path
/// after it must arrive exactly.
const PARK: (f64, f64) = (200.0, 150.0);
const PATH: [(f64, f64); 8] = [
    (15.0, 10.0),
    (15.0, 10.0),
    (15.0, 10.0),
    (15.0, 10.0),
    (-5.0, 20.0),
    (-5.0, 20.0),
    (30.0, -7.5),
    (2.5, 0.25),
];

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The headless outputs (default: 1920x1080+0+0 and 1280x720+1920+0).
    pub outputs: Vec<OutputSpec>,
    /// The text to type (default [`DEMO_TEXT`]); no control characters.
    pub text: String,
    /// How long to wait for the probe to see each step.
    pub wait: Duration,
    /// Print the tail of every log at teardown.
    pub keep_logs: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            outputs: default_outputs(),
            text: DEMO_TEXT.to_owned(),
            wait: Duration::from_secs(10),
            keep_logs: false,
        }
    }
}

/// Two outputs of different sizes side by side.
pub fn default_outputs() -> Vec<OutputSpec> {
    vec![
        OutputSpec::new(1920, 1080).at(0, 0),
        OutputSpec::new(1280, 720).at(1920, 0),
    ]
}

/// How one character is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    /// An evdev keycode of the US layout, with Shift held around it or not.
    Key { code: i32, shift: bool },
    /// A keysym (the daemon finds or binds a key for it).
    Keysym(i32),
}

/// The US layout: (unshifted, shifted, evdev keycode).
const US_LAYOUT: &[(char, char, i32)] = &[
    ('1', '!', 2),
    ('2', '@', 3),
    ('3', '#', 4),
    ('4', '$', 5),
    ('5', '%', 6),
    ('6', '^', 7),
    ('7', '&', 8),
    ('8', '*', 9),
    ('9', '(', 10),
    ('0', ')', 11),
    ('-', '_', 12),
    ('=', '+', 13),
    ('q', 'Q', 16),
    ('w', 'W', 17),
    ('e', 'E', 18),
    ('r', 'R', 19),
    ('t', 'T', 20),
    ('y', 'Y', 21),
    ('u', 'U', 22),
    ('i', 'I', 23),
    ('o', 'O', 24),
    ('p', 'P', 25),
    ('[', '{', 26),
    (']', '}', 27),
    ('a', 'A', 30),
    ('s', 'S', 31),
    ('d', 'D', 32),
    ('f', 'F', 33),
    ('g', 'G', 34),
    ('h', 'H', 35),
    ('j', 'J', 36),
    ('k', 'K', 37),
    ('l', 'L', 38),
    (';', ':', 39),
    ('\'', '"', 40),
    ('`', '~', 41),
    ('\\', '|', 43),
    ('z', 'Z', 44),
    ('x', 'X', 45),
    ('c', 'C', 46),
    ('v', 'V', 47),
    ('b', 'B', 48),
    ('n', 'N', 49),
    ('m', 'M', 50),
    (',', '<', 51),
    ('.', '>', 52),
    ('/', '?', 53),
    (' ', ' ', 57),
];

/// The stroke for `c`: its US key (with Shift for capitals and shifted
/// punctuation), else its keysym (Latin-1 keysyms are the code point, `€` is
/// `EuroSign`, anything else the Unicode keysym `0x01000000 + code point`).
pub fn stroke_for(c: char) -> Stroke {
    for &(plain, shifted, code) in US_LAYOUT {
        if c == plain {
            return Stroke::Key { code, shift: false };
        }
        if c == shifted {
            return Stroke::Key { code, shift: true };
        }
    }
    let cp = u32::from(c);
    let keysym = match cp {
        0xa0..=0xff => cp,
        0x20ac => 0x20ac,
        _ => 0x0100_0000 | cp,
    };
    // Code points end at 0x10ffff, so the keysym fits an i32.
    Stroke::Keysym(i32::try_from(keysym).unwrap_or(i32::MAX))
}

/// What the demo saw, checked.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DemoReport {
    /// The outputs the compositor reported.
    pub outputs: Vec<String>,
    /// Device types granted by Start (1 keyboard, 2 pointer, 4 touchscreen).
    pub granted_devices: u32,
    /// Why the pointer steps were left out (the compositor cannot inject
    /// pointer input), or `None` when they ran.
    pub pointer_left_out: Option<String>,
    /// Pointer enters: (output, x, y).
    pub pointer_enters: Vec<(String, f64, f64)>,
    /// Motion events after the pointer was parked.
    pub motions: usize,
    /// Where the path started and ended: (output, x, y).
    pub path_from: Option<(String, f64, f64)>,
    pub path_to: Option<(String, f64, f64)>,
    /// The path's sum of deltas as sent.
    pub path_sent: (f64, f64),
    /// Buttons: (evdev code, pressed).
    pub buttons: Vec<(u32, bool)>,
    /// Scroll events, readable.
    pub scrolls: Vec<String>,
    /// The text asked for and the text reassembled from the key presses.
    pub expected_text: String,
    pub typed_text: String,
    /// Every modifier state the probe was told about while typing.
    pub modifier_states: Vec<Vec<String>>,
    /// Keymaps the probe received while typing (the daemon extends its
    /// keymap for keysyms the layout lacks).
    pub keymaps: usize,
    /// What was released after Close (key and button names).
    pub released_at_close: Vec<String>,
    /// The modifiers after Close.
    pub modifiers_after_close: Option<Vec<String>>,
    /// Every record the probe wrote from Start to the end.
    pub events: usize,
    /// What did not match; empty when the demo succeeded.
    pub problems: Vec<String>,
}

impl DemoReport {
    /// Whether everything arrived as sent.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The one-line verdict.
    pub fn verdict(&self) -> String {
        if self.ok() {
            format!(
                "demo: OK — probe received {} events; typed text matches",
                self.events
            )
        } else {
            format!(
                "demo: FAILED — {} problem(s): {}",
                self.problems.len(),
                self.problems.join("; ")
            )
        }
    }
}

/// Names of device type bits.
pub fn device_names(types: u32) -> String {
    let names: Vec<&str> = [
        (KEYBOARD, "keyboard"),
        (POINTER, "pointer"),
        (TOUCHSCREEN, "touchscreen"),
    ]
    .iter()
    .filter(|(bit, _)| types & bit != 0)
    .map(|(_, name)| *name)
    .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn key_name(code: u32) -> String {
    match code {
        29 => "KEY_LEFTCTRL".to_owned(),
        42 => "KEY_LEFTSHIFT".to_owned(),
        0x110 => "BTN_LEFT".to_owned(),
        0x111 => "BTN_RIGHT".to_owned(),
        other => format!("key {other}"),
    }
}

fn pos(p: &Option<(String, f64, f64)>) -> String {
    match p {
        Some((output, x, y)) => format!("({x}, {y}) on {output}"),
        None => "nowhere".to_owned(),
    }
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "what the probe saw:")?;
        if let Some(why) = &self.pointer_left_out {
            writeln!(f, "  pointer: left out: {why}")?;
        } else {
            for (output, x, y) in &self.pointer_enters {
                writeln!(f, "  pointer entered {output} at ({x}, {y})")?;
            }
            writeln!(
                f,
                "  pointer: {} motions, {} → {}; moved ({}, {}), sent ({}, {})",
                self.motions,
                pos(&self.path_from),
                pos(&self.path_to),
                moved(&self.path_from, &self.path_to).0,
                moved(&self.path_from, &self.path_to).1,
                self.path_sent.0,
                self.path_sent.1
            )?;
            let buttons: Vec<String> = self
                .buttons
                .iter()
                .map(|(b, p)| format!("{} {}", key_name(*b), if *p { "down" } else { "up" }))
                .collect();
            writeln!(f, "  buttons: {}", buttons.join(", "))?;
            writeln!(f, "  scrolls: {}", self.scrolls.join(", "))?;
        }
        writeln!(
            f,
            "  typed:    {:?} (utf8 of the key presses; {} keymap update(s) for keysyms off the layout)",
            self.typed_text, self.keymaps
        )?;
        writeln!(f, "  expected: {:?}", self.expected_text)?;
        let states: Vec<String> = self
            .modifier_states
            .iter()
            .map(|m| {
                if m.is_empty() {
                    "none".to_owned()
                } else {
                    m.join("+")
                }
            })
            .collect();
        let shifted = self
            .modifier_states
            .iter()
            .filter(|m| m.iter().any(|n| n == "Shift"))
            .count();
        writeln!(
            f,
            "  modifiers while typing: {} changes, Shift held {} times: {}",
            states.len(),
            shifted,
            if states.len() > 12 {
                format!(
                    "{} → … ({} more)",
                    states[..12].join(" → "),
                    states.len() - 12
                )
            } else {
                states.join(" → ")
            }
        )?;
        writeln!(
            f,
            "  released at Close: {}; modifiers after Close: {}",
            self.released_at_close.join(", "),
            match &self.modifiers_after_close {
                Some(m) if m.is_empty() => "none".to_owned(),
                Some(m) => m.join("+"),
                None => "not reported".to_owned(),
            }
        )?;
        for problem in &self.problems {
            writeln!(f, "  PROBLEM: {problem}")?;
        }
        Ok(())
    }
}

fn moved(from: &Option<(String, f64, f64)>, to: &Option<(String, f64, f64)>) -> (f64, f64) {
    match (from, to) {
        (Some((_, x0, y0)), Some((_, x1, y1))) => (x1 - x0, y1 - y0),
        _ => (0.0, 0.0),
    }
}

/// Brings up the testbed, runs the demo session, prints each step to `out`,
/// tears everything down and returns what was seen.
pub fn run(opts: &DemoOptions, out: &mut dyn Write) -> Result<DemoReport> {
    if let Some(c) = opts.text.chars().find(|c| c.is_control()) {
        bail!("the demo cannot type the control character {c:?}");
    }
    let builder = Testbed::builder();
    writeln!(
        out,
        "demo: starting a headless {} session with the probe…",
        builder.chosen_compositor()?
    )?;
    let testbed = builder
        .outputs(opts.outputs.clone())
        .keep_logs(opts.keep_logs)
        .start()
        .context("starting the testbed")?;
    let outputs: Vec<String> = testbed.outputs()?.iter().map(|o| o.to_string()).collect();
    for output in &outputs {
        writeln!(out, "  output {output}")?;
    }
    let probe = testbed.start_probe()?;
    let log = ProbeLog::new(probe.events_path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("creating the async runtime")?;
    let result = runtime.block_on(session(&testbed, &log, opts, out));
    // The probe's log is complete: read it before the teardown.
    let records = log.records();
    if result.is_err() && !opts.keep_logs {
        testbed.dump_logs();
    }
    drop(runtime);
    drop(probe);
    drop(testbed);
    let marks = result?;
    let mut report = analyse(&records?, &marks, opts);
    report.outputs = outputs;
    Ok(report)
}

/// Where each step starts in the probe's log, and what was sent.
#[derive(Debug, Clone, Default)]
struct Marks {
    granted: u32,
    /// Why the pointer steps were left out, if they were.
    pointer_left_out: Option<String>,
    start: usize,
    path: usize,
    buttons: usize,
    scroll: usize,
    typing: usize,
    hold: usize,
    close: usize,
}

async fn session(
    testbed: &Testbed,
    log: &ProbeLog,
    opts: &DemoOptions,
    out: &mut dyn Write,
) -> Result<Marks> {
    let wait = opts.wait;
    let client = PortalClient::connect(testbed.bus_address()).await?;
    let mut marks = Marks {
        start: log.mark()?,
        ..Marks::default()
    };
    let rd = RemoteDesktop::create(&client).await?;
    writeln!(out, "CreateSession → {}", rd.session.as_str())?;
    let types = KEYBOARD | POINTER | TOUCHSCREEN;
    rd.select_devices(types).await?.ok()?;
    writeln!(out, "SelectDevices(types {types}: {})", device_names(types))?;
    let (response, results) = rd.start().await?;
    if response.code != 0 {
        bail!(
            "Start answered {} (1 cancelled, 2 other error); ionchannel's log, printed \
             at teardown, says why",
            response.code
        );
    }
    marks.granted = results.map(|r| r.devices).unwrap_or(0);
    writeln!(
        out,
        "Start → granted devices {} ({})",
        marks.granted,
        device_names(marks.granted)
    )?;
    // Without a pointer on offer (AvailableDeviceTypes), the keyboard alone
    // is right; a pointer on offer but not granted is a failure.
    let available = RemoteDesktop::available_device_types(&client).await?;
    let pointer = marks.granted & POINTER != 0;
    if marks.granted & KEYBOARD == 0 || (!pointer && available & POINTER != 0) {
        bail!(
            "Start granted {} of {} on offer (AvailableDeviceTypes {available})",
            device_names(marks.granted),
            device_names(available)
        );
    }
    log.wait_capabilities(pointer, true).await?;
    if pointer {
        pointer_steps(&rd, log, &mut marks, wait, out).await?;
    } else {
        let why = format!(
            "the pointer is not available on this compositor (AvailableDeviceTypes {available}: \
             {}; ionChannel's log and `ionchannel doctor` say why)",
            device_names(available)
        );
        writeln!(out, "pointer steps left out: {why}")?;
        marks.pointer_left_out = Some(why);
        let mark = log.mark()?;
        (marks.path, marks.buttons, marks.scroll) = (mark, mark, mark);
    }
    typing_and_close(&rd, log, &mut marks, opts, out).await?;
    Ok(marks)
}

/// Relative motion along a path, clicks, scrolling.
async fn pointer_steps(
    rd: &RemoteDesktop<'_>,
    log: &ProbeLog,
    marks: &mut Marks,
    wait: Duration,
    out: &mut dyn Write,
) -> Result<()> {
    // Pointer: park, then a path that must arrive exactly.
    let mark = log.mark()?;
    rd.pointer_motion(PARK.0, PARK.1).await?;
    log.wait_since(mark, wait, "the parking motion", |r| {
        r.iter()
            .any(|r| matches!(r.event, Event::Motion { .. } | Event::PointerEnter { .. }))
            .then_some(())
    })
    .await?;
    marks.path = log.mark()?;
    for (dx, dy) in PATH {
        rd.pointer_motion(dx, dy).await?;
    }
    log.wait_since(marks.path, wait, "the pointer path", |r| {
        (count(r, |e| matches!(e, Event::Motion { .. })) >= PATH.len()).then_some(())
    })
    .await?;
    writeln!(out, "NotifyPointerMotion × {} (relative)", PATH.len() + 1)?;

    // Clicks.
    marks.buttons = log.mark()?;
    for (button, pressed) in [
        (BTN_LEFT, true),
        (BTN_LEFT, false),
        (BTN_RIGHT, true),
        (BTN_RIGHT, false),
    ] {
        rd.pointer_button(button, pressed).await?;
    }
    log.wait_since(marks.buttons, wait, "four button events", |r| {
        (count(r, |e| matches!(e, Event::Button { .. })) >= 4).then_some(())
    })
    .await?;
    writeln!(out, "NotifyPointerButton: left click, right click")?;

    // Scrolling: smooth with finish, then wheel clicks on both axes.
    marks.scroll = log.mark()?;
    rd.pointer_axis(0.0, 12.5, true).await?;
    rd.pointer_axis_discrete(0, 2).await?;
    rd.pointer_axis_discrete(1, -1).await?;
    log.wait_since(marks.scroll, wait, "the scrolling", |r| {
        let discrete = count(r, |e| {
            matches!(e, Event::AxisDiscrete { .. } | Event::AxisValue120 { .. })
        });
        let stop = count(r, |e| matches!(e, Event::AxisStop { .. }));
        (discrete >= 2 && stop >= 1).then_some(())
    })
    .await?;
    writeln!(
        out,
        "NotifyPointerAxis(0, 12.5, finish), NotifyPointerAxisDiscrete: 2 down, 1 left"
    )?;
    Ok(())
}

/// Typing the text, then holding Ctrl (and a button, with a pointer) and
/// closing: everything held must be released.
async fn typing_and_close(
    rd: &RemoteDesktop<'_>,
    log: &ProbeLog,
    marks: &mut Marks,
    opts: &DemoOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let wait = opts.wait;
    let pointer = marks.pointer_left_out.is_none();
    // Typing.
    marks.typing = log.mark()?;
    let mut keysyms = 0;
    for c in opts.text.chars() {
        match stroke_for(c) {
            Stroke::Key { code, shift } => {
                if shift {
                    rd.keycode(KEY_LEFTSHIFT, true).await?;
                }
                rd.keycode(code, true).await?;
                rd.keycode(code, false).await?;
                if shift {
                    rd.keycode(KEY_LEFTSHIFT, false).await?;
                }
            }
            Stroke::Keysym(keysym) => {
                keysyms += 1;
                rd.keysym(keysym, true).await?;
                rd.keysym(keysym, false).await?;
            }
        }
    }
    let chars = opts.text.chars().count();
    log.wait_since(marks.typing, wait, "the typed text", |r| {
        let presses = count(r, |e| is_key(e, PressState::Pressed));
        let releases = count(r, |e| is_key(e, PressState::Released));
        let text = count(
            r,
            |e| matches!(e, Event::Key { state: PressState::Pressed, utf8, .. } if !utf8.is_empty()),
        );
        (text >= chars && releases >= presses).then_some(())
    })
    .await?;
    // The modifiers event of the last Shift release may follow its key
    // event a moment later; if it never comes, the analysis says so.
    let cleared = log
        .wait_since(
            marks.typing,
            Duration::from_secs(2),
            "modifiers cleared",
            |r| {
                r.iter()
                    .rev()
                    .find_map(|r| match &r.event {
                        Event::Modifiers { mods, .. } => Some(mods.is_empty()),
                        _ => None,
                    })
                    .unwrap_or(true)
                    .then_some(())
            },
        )
        .await;
    if cleared.is_err() {
        writeln!(out, "  (modifiers still active after typing)")?;
    }
    writeln!(
        out,
        "NotifyKeyboardKeycode/Keysym: typed {:?} ({} keysyms)",
        opts.text, keysyms
    )?;

    // Hold a button and Ctrl, then Close: the daemon must release both.
    marks.hold = log.mark()?;
    if pointer {
        rd.pointer_button(BTN_LEFT, true).await?;
    }
    rd.keycode(KEY_LEFTCTRL, true).await?;
    log.wait_since(marks.hold, wait, "the held button and Ctrl", |r| {
        let button = count(r, |e| matches!(e, Event::Button { .. }));
        let key = count(r, |e| is_key(e, PressState::Pressed));
        ((button >= 1 || !pointer) && key >= 1).then_some(())
    })
    .await?;
    if pointer {
        writeln!(out, "holding BTN_LEFT and KEY_LEFTCTRL, then Session.Close")?;
    } else {
        writeln!(out, "holding KEY_LEFTCTRL, then Session.Close")?;
    }
    marks.close = log.mark()?;
    rd.close().await?;
    log.wait_since(marks.close, wait, "the releases after Close", |r| {
        let button = count(r, |e| {
            matches!(
                e,
                Event::Button {
                    button: 0x110,
                    state: PressState::Released,
                    ..
                }
            )
        });
        let ctrl = count(r, |e| {
            matches!(
                e,
                Event::Key {
                    keycode: 29,
                    state: PressState::Released,
                    ..
                }
            )
        });
        let mods = r.iter().rev().find_map(|r| match &r.event {
            Event::Modifiers { mods, .. } => Some(mods.is_empty()),
            _ => None,
        });
        ((button >= 1 || !pointer) && ctrl >= 1 && mods == Some(true)).then_some(())
    })
    .await?;
    Ok(())
}

fn count(records: &[Record], f: impl Fn(&Event) -> bool) -> usize {
    records.iter().filter(|r| f(&r.event)).count()
}

fn is_key(e: &Event, want: PressState) -> bool {
    matches!(e, Event::Key { state, .. } if *state == want)
}

fn window(records: &[Record], from: usize, to: usize) -> &[Record] {
    records.get(from..to.max(from)).unwrap_or(&[])
}

fn last_position(records: &[Record]) -> Option<(String, f64, f64)> {
    records.iter().rev().find_map(|r| match &r.event {
        Event::Motion { output, x, y, .. } | Event::PointerEnter { output, x, y } => {
            Some((output.clone(), *x, *y))
        }
        _ => None,
    })
}

fn axis(a: AxisName) -> &'static str {
    match a {
        AxisName::Vertical => "vertical",
        AxisName::Horizontal => "horizontal",
        AxisName::Unknown => "unknown axis",
    }
}

/// Reads the probe's records against what was sent.
fn analyse(records: &[Record], marks: &Marks, opts: &DemoOptions) -> DemoReport {
    let mut report = DemoReport {
        granted_devices: marks.granted,
        pointer_left_out: marks.pointer_left_out.clone(),
        expected_text: opts.text.clone(),
        events: records.len().saturating_sub(marks.start),
        ..DemoReport::default()
    };
    let all = records.get(marks.start..).unwrap_or(&[]);
    report.pointer_enters = all
        .iter()
        .filter_map(|r| match &r.event {
            Event::PointerEnter { output, x, y } => Some((output.clone(), *x, *y)),
            _ => None,
        })
        .collect();

    if report.pointer_left_out.is_none() {
        analyse_pointer(records, marks, &mut report);
    }

    // Typing.
    let typing = window(records, marks.typing, marks.hold);
    for r in typing {
        match &r.event {
            Event::Key {
                state: PressState::Pressed,
                utf8,
                ..
            } => report.typed_text.push_str(utf8),
            Event::Modifiers { mods, .. } => report.modifier_states.push(mods.clone()),
            Event::Keymap { .. } => report.keymaps += 1,
            _ => {}
        }
    }
    if report.typed_text != report.expected_text {
        report.problems.push(format!(
            "typed {:?}, expected {:?}",
            report.typed_text, report.expected_text
        ));
    }
    if report.modifier_states.last().is_some_and(|m| !m.is_empty()) {
        report
            .problems
            .push("a modifier stayed active after typing".to_owned());
    }

    // Close.
    for r in records.get(marks.close..).unwrap_or(&[]) {
        match &r.event {
            Event::Key {
                keycode,
                state: PressState::Released,
                ..
            } => report.released_at_close.push(key_name(*keycode)),
            Event::Button {
                button,
                state: PressState::Released,
                ..
            } => report.released_at_close.push(key_name(*button)),
            Event::Modifiers { mods, .. } => report.modifiers_after_close = Some(mods.clone()),
            _ => {}
        }
    }
    let held: &[&str] = if report.pointer_left_out.is_none() {
        &["BTN_LEFT", "KEY_LEFTCTRL"]
    } else {
        &["KEY_LEFTCTRL"]
    };
    for &held in held {
        if !report.released_at_close.iter().any(|r| r == held) {
            report
                .problems
                .push(format!("{held} was not released at Close"));
        }
    }
    if report
        .modifiers_after_close
        .as_ref()
        .is_some_and(|m| !m.is_empty())
    {
        report
            .problems
            .push("modifiers stayed active after Close".to_owned());
    }
    report
}

/// The pointer steps of [`analyse`]: path, buttons, scrolling.
fn analyse_pointer(records: &[Record], marks: &Marks, report: &mut DemoReport) {
    let path = window(records, marks.path, marks.buttons);
    report.motions = count(path, |e| matches!(e, Event::Motion { .. }));
    report.path_from = last_position(window(records, marks.start, marks.path));
    report.path_to = last_position(path);
    report.path_sent = PATH
        .iter()
        .fold((0.0, 0.0), |(x, y), (dx, dy)| (x + dx, y + dy));
    let got = moved(&report.path_from, &report.path_to);
    let same_output = match (&report.path_from, &report.path_to) {
        (Some(a), Some(b)) => a.0 == b.0,
        _ => false,
    };
    if report.motions != PATH.len() {
        report.problems.push(format!(
            "{} pointer motions for {} sent",
            report.motions,
            PATH.len()
        ));
    }
    if !same_output
        || (got.0 - report.path_sent.0).abs() > 1e-6
        || (got.1 - report.path_sent.1).abs() > 1e-6
    {
        report.problems.push(format!(
            "the pointer moved ({}, {}) from {} to {}, sent ({}, {})",
            got.0,
            got.1,
            pos(&report.path_from),
            pos(&report.path_to),
            report.path_sent.0,
            report.path_sent.1
        ));
    }

    // Buttons.
    report.buttons = window(records, marks.buttons, marks.scroll)
        .iter()
        .filter_map(|r| match r.event {
            Event::Button { button, state, .. } => Some((button, state == PressState::Pressed)),
            _ => None,
        })
        .collect();
    let want = [(0x110, true), (0x110, false), (0x111, true), (0x111, false)];
    if report.buttons != want {
        report
            .problems
            .push(format!("buttons {:?}, sent {want:?}", report.buttons));
    }

    // Scrolling.
    let mut smooth = None;
    let mut steps = Vec::new();
    for r in window(records, marks.scroll, marks.typing) {
        match &r.event {
            Event::Axis { axis: a, value, .. } => {
                smooth.get_or_insert((*a, *value));
                report.scrolls.push(format!("{} {value}", axis(*a)));
            }
            Event::AxisStop { axis: a, .. } => report.scrolls.push(format!("{} stop", axis(*a))),
            Event::AxisDiscrete { axis: a, discrete } => {
                steps.push((*a, *discrete));
                report
                    .scrolls
                    .push(format!("{} wheel {discrete:+}", axis(*a)));
            }
            Event::AxisValue120 { axis: a, value120 } => {
                steps.push((*a, value120 / 120));
                report
                    .scrolls
                    .push(format!("{} wheel {value120:+}/120", axis(*a)));
            }
            _ => {}
        }
    }
    if smooth != Some((AxisName::Vertical, 12.5)) {
        report
            .problems
            .push(format!("smooth scroll {smooth:?}, sent vertical 12.5"));
    }
    let want_steps = vec![(AxisName::Vertical, 2), (AxisName::Horizontal, -1)];
    if steps != want_steps {
        report
            .problems
            .push(format!("wheel steps {steps:?}, sent {want_steps:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_text_types_with_shift_and_keysyms() {
        let strokes: Vec<Stroke> = DEMO_TEXT.chars().map(stroke_for).collect();
        assert_eq!(
            strokes[0],
            Stroke::Key {
                code: 35,
                shift: true
            }
        );
        assert_eq!(
            strokes[1],
            Stroke::Key {
                code: 18,
                shift: false
            }
        );
        assert_eq!(
            strokes[5],
            Stroke::Key {
                code: 51,
                shift: false
            }
        );
        assert_eq!(
            strokes[14],
            Stroke::Key {
                code: 2,
                shift: true
            }
        );
        assert_eq!(strokes[16], Stroke::Keysym(0xe9));
        assert_eq!(strokes[17], Stroke::Keysym(0x20ac));
        assert_eq!(stroke_for('☺'), Stroke::Keysym(0x0100_263a));
    }

    #[test]
    fn device_names_read_the_bits() {
        assert_eq!(device_names(3), "keyboard, pointer");
        assert_eq!(device_names(0), "none");
        assert_eq!(device_names(7), "keyboard, pointer, touchscreen");
    }
}
