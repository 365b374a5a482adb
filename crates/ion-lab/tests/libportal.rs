//! RemoteDesktop end to end with the real libportal (Debian's
//! `gir1.2-xdp-1.0`, driven from Python GI by
//! `crates/ion-lab/scripts/libportal-client.py`), through the real frontend,
//! ionChannel and the compositor to the probe client.
//!
//! libportal sends every Notify* call without waiting for its reply, and
//! xdg-desktop-portal (1.16 and 1.22 alike) handles each call on a worker
//! thread of its own, so a burst reaches ionChannel reordered. These tests
//! send bursts the way an application does and check what arrives: every
//! key tap (as many presses and releases per keycode as the text has),
//! nothing left held; typing order across keys is measured and printed, not
//! asserted (it cannot always be recovered). Pointer: absolute and relative
//! motion, buttons, a burst of clicks, smooth and wheel scrolling.
//! ConnectToEIS through libportal: the fd is handed to the lab's libei
//! client, which handshakes and types.
//!
//! Where libportal comes from: on the testing stack (`IONLAB_STACK=testing`)
//! the script runs inside the rootfs through `scripts/in-testing.sh`, with
//! the rootfs's python3-gi and libportal 0.11; on the host it runs with the
//! host's python3 if its GI finds `Xdp 1.0` (Debian 12's libportal 0.6 has
//! no ConnectToEIS), and otherwise the tests print why and return.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use common::*;
use ion_lab::client::eis::{Capability, EisClient, Ended};
use ion_lab::client::RemoteDesktop;
use ion_lab::expect::ProbeLog;
use ion_lab::probe::record::{AxisName, Event, PressState, Record};
use ion_lab::testbed::{Component, Testbed};
use reis::ei::connection::DisconnectReason;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// The Python module check: GI finds libportal's typelib.
const IMPORT_CHECK: &str =
    "import gi; gi.require_version('Xdp', '1.0'); from gi.repository import Xdp";

/// How the script runs on this stack.
#[derive(Debug, Clone)]
enum Runner {
    /// The host's python3.
    Host,
    /// python3 inside the testing rootfs, through this `in-testing.sh`.
    Testing(PathBuf),
}

impl Runner {
    fn testing_stack() -> bool {
        std::env::var("IONLAB_STACK").is_ok_and(|s| s == "testing")
    }

    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/libportal-client.py")
    }

    /// A command running python3 with `args`: with the testbed's
    /// environment when one is given.
    fn python(&self, testbed: Option<&Testbed>) -> std::process::Command {
        let program: &std::ffi::OsStr = match self {
            // The system's python3, where Debian's python3-gi is (not
            // one a version manager put first in PATH).
            Runner::Host if Path::new("/usr/bin/python3").exists() => "/usr/bin/python3".as_ref(),
            Runner::Host => "python3".as_ref(),
            Runner::Testing(wrapper) => wrapper.as_os_str(),
        };
        let mut command = match testbed {
            Some(tb) => tb.command(program),
            None => std::process::Command::new(program),
        };
        if let Runner::Testing(_) = self {
            command.arg("python3");
        }
        command
    }

    /// The runner for this stack, or `None` (with the reason printed) when
    /// the host has no libportal for Python. On the testing stack a
    /// missing libportal is an error: the rootfs's package list has it.
    fn find() -> Result<Option<Runner>> {
        let runner = if Self::testing_stack() {
            Runner::Testing(Self::workspace().join("scripts/in-testing.sh"))
        } else {
            Runner::Host
        };
        let out = runner
            .python(None)
            .args(["-c", IMPORT_CHECK])
            .stdin(Stdio::null())
            .output()
            .context("running python3")?;
        if out.status.success() {
            return Ok(Some(runner));
        }
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().last().unwrap_or_default();
        if let Runner::Testing(_) = runner {
            bail!("the testing rootfs has no libportal for Python (python3-gi, gir1.2-xdp-1.0): {why}");
        }
        println!(
            "skipped: the host's python3 cannot load libportal through GI ({why}); install gir1.2-xdp-1.0 and python3-gi, or run on the testing stack"
        );
        Ok(None)
    }
}

/// The running script: commands in on stdin, JSON events out on stdout.
struct Libportal {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// The `started` event.
    started: Value,
}

impl Libportal {
    /// Starts the script with `args` and waits for its session to start.
    async fn start(runner: &Runner, tb: &Testbed, args: &[&str]) -> Result<Self> {
        let log = tb.log_dir().join("libportal-client.log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut command = runner.python(Some(tb));
        command
            .arg(Runner::script())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(true);
        let mut child = command.spawn().context("starting libportal-client.py")?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut me = Libportal {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            started: Value::Null,
        };
        me.started = me.expect("started", Duration::from_secs(40)).await?;
        Ok(me)
    }

    async fn send(&mut self, command: &str) -> Result<()> {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .context("writing to libportal-client.py")?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// Reads events until one named `event`; an `error` event fails.
    async fn expect(&mut self, event: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match tokio::time::timeout(left, self.lines.next_line()).await {
                Err(_) => bail!("libportal-client.py: no {event:?} within {timeout:?}"),
                Ok(line) => line.context("reading libportal-client.py")?,
            };
            let Some(line) = line else {
                let status = self.child.wait().await?;
                bail!("libportal-client.py exited ({status}) before {event:?}");
            };
            let value: Value = serde_json::from_str(&line)
                .with_context(|| format!("libportal-client.py printed {line:?}"))?;
            match value["event"].as_str() {
                Some(e) if e == event => return Ok(value),
                Some("error") => bail!("libportal-client.py: {value}"),
                _ => {}
            }
        }
    }

    /// Sends an input command and waits until libportal queued it.
    async fn input(&mut self, command: &str) -> Result<Value> {
        self.send(command).await?;
        self.expect("sent", WAIT).await
    }

    /// Waits until everything libportal queued is written to the bus.
    async fn flush(&mut self) -> Result<()> {
        self.send("flush").await?;
        self.expect("flushed", WAIT).await.map(drop)
    }

    /// Closes the session; the script must exit cleanly.
    async fn close(mut self) -> Result<()> {
        self.send("close").await?;
        self.expect("closed", WAIT).await?;
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .context("libportal-client.py did not exit after close")??;
        ensure!(status.success(), "libportal-client.py exited with {status}");
        Ok(())
    }
}

/// A world with the probe, and the libportal runner, or `None` when this
/// stack has no libportal (printed).
async fn libportal_world() -> Result<Option<(World, Runner)>> {
    let Some(runner) = Runner::find()? else {
        return Ok(None);
    };
    Ok(Some((world().await?, runner)))
}

// ---------------------------------------------------------------------
// Keyboard bursts

/// evdev keycodes of the modifier keys.
const MODIFIER_KEYS: [u32; 8] = [29, 42, 54, 56, 97, 100, 125, 126];

/// The evdev keycode of a character on the us layout (the testbed's), for
/// the characters the bursts use.
fn us_keycode(c: char) -> Option<u32> {
    const ROWS: [(&str, u32); 4] = [
        ("1234567890", 2),
        ("qwertyuiop", 16),
        ("asdfghjkl", 30),
        ("zxcvbnm", 44),
    ];
    let lower = c.to_ascii_lowercase();
    for (row, first) in ROWS {
        if let Some(i) = row.find(lower) {
            return Some(first + i as u32);
        }
    }
    match c {
        ' ' => Some(57),
        ',' => Some(51),
        '.' => Some(52),
        _ => None,
    }
}

/// Burst texts: letters (a fifth of them capitals), digits, spaces, commas
/// and periods, from a fixed seed.
fn burst_texts(count: usize, len: usize, seed: u64) -> Vec<String> {
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let lower = b"abcdefghijklmnopqrstuvwxyz";
    (0..count)
        .map(|_| {
            (0..len)
                .map(|_| {
                    let r = next();
                    let pick = |set: &[u8]| set[((r >> 8) % set.len() as u64) as usize] as char;
                    match r % 100 {
                        0..55 => pick(lower),
                        55..75 => pick(lower).to_ascii_uppercase(),
                        75..85 => pick(b"0123456789"),
                        85..95 => ' ',
                        95..98 => ',',
                        _ => '.',
                    }
                })
                .collect()
        })
        .collect()
}

/// The keys one burst is sent as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KeyMode {
    /// `type`: a keysym press and release per character (ionChannel adds
    /// Shift for capitals itself).
    Keysyms,
    /// `keys`: keycodes, capitals between a Shift press and release.
    Keycodes,
}

impl KeyMode {
    fn command(self, text: &str) -> String {
        match self {
            KeyMode::Keysyms => format!("type {}", Value::from(text)),
            KeyMode::Keycodes => {
                let mut spec = String::from("keys");
                for c in text.chars() {
                    let code = us_keycode(c).unwrap_or(0);
                    let shift = c.is_ascii_uppercase();
                    if shift {
                        spec.push_str(" c42+");
                    }
                    spec.push_str(&format!(" c{code}+ c{code}-"));
                    if shift {
                        spec.push_str(" c42-");
                    }
                }
                spec
            }
        }
    }
}

/// Presses and releases per keycode.
#[derive(Debug, Default)]
struct Tally {
    presses: BTreeMap<u32, usize>,
    releases: BTreeMap<u32, usize>,
}

impl Tally {
    fn of(recs: &[Record]) -> Tally {
        let mut t = Tally::default();
        for r in recs {
            if let Event::Key { keycode, state, .. } = &r.event {
                match state {
                    PressState::Pressed => *t.presses.entry(*keycode).or_default() += 1,
                    PressState::Released => *t.releases.entry(*keycode).or_default() += 1,
                    _ => {}
                }
            }
        }
        t
    }

    fn count(map: &BTreeMap<u32, usize>, modifiers: bool) -> usize {
        map.iter()
            .filter(|(k, _)| MODIFIER_KEYS.contains(k) == modifiers)
            .map(|(_, n)| n)
            .sum()
    }

    /// Keys pressed and released unequally often.
    fn unbalanced(&self) -> Vec<(u32, usize, usize)> {
        let keys: BTreeSet<u32> = self
            .presses
            .keys()
            .chain(self.releases.keys())
            .copied()
            .collect();
        keys.into_iter()
            .map(|k| {
                let p = self.presses.get(&k).copied().unwrap_or(0);
                let r = self.releases.get(&k).copied().unwrap_or(0);
                (k, p, r)
            })
            .filter(|(_, p, r)| p != r)
            .collect()
    }
}

/// The last modifier state the probe saw: depressed, latched, locked,
/// and the active modifiers' names.
type Mods = Option<(u32, u32, u32, Vec<String>)>;

/// The probe's keyboard as the whole log leaves it: keys down, and the
/// last modifier state (depressed, latched, locked, names).
fn keyboard_state(recs: &[Record]) -> (BTreeSet<u32>, Mods) {
    let mut held = BTreeSet::new();
    let mut mods = None;
    for r in recs {
        match &r.event {
            Event::KeyboardEnter { keys, .. } => held = keys.iter().copied().collect(),
            Event::KeyboardLeave { .. } => held.clear(),
            Event::Key {
                keycode,
                state: PressState::Pressed,
                ..
            } => {
                held.insert(*keycode);
            }
            Event::Key {
                keycode,
                state: PressState::Released,
                ..
            } => {
                held.remove(keycode);
            }
            Event::Modifiers {
                depressed,
                latched,
                locked,
                mods: names,
                ..
            } => mods = Some((*depressed, *latched, *locked, names.clone())),
            _ => {}
        }
    }
    (held, mods)
}

fn mods_clear(mods: &Mods) -> bool {
    mods.as_ref()
        .is_none_or(|(d, l, k, names)| *d == 0 && *l == 0 && *k == 0 && names.is_empty())
}

/// The text of the presses of non-modifier keys (the utf8 the probe's xkb
/// state gave each), in arrival order.
fn typed_text(recs: &[Record]) -> String {
    recs.iter()
        .filter_map(|r| match &r.event {
            Event::Key {
                keycode,
                state: PressState::Pressed,
                utf8,
                ..
            } if !MODIFIER_KEYS.contains(keycode) => Some(utf8.as_str()),
            _ => None,
        })
        .collect()
}

/// Waits until a burst of `expected` taps has arrived with nothing left
/// held, or until the probe has seen nothing new for a second (something
/// was lost or stays held); returns the burst's records.
async fn settle(log: &ProbeLog, since: usize, expected: usize) -> Result<(Vec<Record>, bool)> {
    const QUIET: Duration = Duration::from_secs(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last_len = usize::MAX;
    let mut last_change = Instant::now();
    loop {
        let all = log.records()?;
        let tail = all.get(since..).unwrap_or(&[]);
        let tally = Tally::of(tail);
        let (held, mods) = keyboard_state(&all);
        let complete = Tally::count(&tally.presses, false) >= expected
            && Tally::count(&tally.releases, false) >= expected
            && held.is_empty()
            && mods_clear(&mods);
        if complete {
            return Ok((tail.to_vec(), true));
        }
        if tail.len() != last_len {
            last_len = tail.len();
            last_change = Instant::now();
        } else if last_change.elapsed() >= QUIET || Instant::now() > deadline {
            return Ok((tail.to_vec(), false));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The length of the longest common subsequence.
fn lcs(a: &[char], b: &[char]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for ca in a {
        let mut diag = 0;
        for (j, cb) in b.iter().enumerate() {
            let next = if ca == cb {
                diag + 1
            } else {
                row[j].max(row[j + 1])
            };
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The character of the same key without Shift, on the us layout.
fn unshifted(c: char) -> char {
    match "!@#$%^&*()<>".find(c) {
        Some(i) => "1234567890,.".as_bytes()[i] as char,
        None => c.to_ascii_lowercase(),
    }
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// What one burst looked like at the probe.
#[derive(Debug)]
struct BurstResult {
    sent: String,
    typed: String,
    /// Arrived complete with nothing held, before the probe went quiet.
    settled: bool,
    /// Non-modifier keys whose presses differ from the text's taps:
    /// (keycode, expected, pressed, released).
    missing: Vec<(u32, usize, usize, usize)>,
    /// Keys (modifiers included) pressed and released unequally often.
    unbalanced: Vec<(u32, usize, usize)>,
    /// Keys down and modifier state after the burst.
    held: BTreeSet<u32>,
    mods: Mods,
}

impl BurstResult {
    fn exact(&self) -> bool {
        self.sent == self.typed
    }

    /// Characters out of place: the sent ones outside the longest common
    /// subsequence of sent and typed text; and of those, the ones that
    /// arrived in their place but on the wrong Shift level (a capital for
    /// a small letter, `!` for `1`, or the other way round). The rest were
    /// moved (or lost).
    fn out_of_place(&self) -> (usize, usize) {
        let sent: Vec<char> = self.sent.chars().collect();
        let typed: Vec<char> = self.typed.chars().collect();
        let out = sent.len() - lcs(&sent, &typed);
        let base = |t: &[char]| t.iter().map(|c| unshifted(*c)).collect::<Vec<_>>();
        let moved = sent.len() - lcs(&base(&sent), &base(&typed));
        (out, out.saturating_sub(moved))
    }

    /// For the keys whose taps went wrong: the characters of that key
    /// the burst sent (both Shift levels of one key are two keysyms but
    /// one keycode).
    fn shift_levels(&self) -> String {
        let per_key: Vec<String> = self
            .missing
            .iter()
            .map(|(code, ..)| {
                let chars: BTreeSet<char> = self
                    .sent
                    .chars()
                    .filter(|c| us_keycode(*c) == Some(*code))
                    .collect();
                format!(
                    "keycode {code} sent as {:?}",
                    chars.into_iter().collect::<String>()
                )
            })
            .collect();
        per_key.join(", ")
    }

    fn edits(&self) -> usize {
        let sent: Vec<char> = self.sent.chars().collect();
        let typed: Vec<char> = self.typed.chars().collect();
        levenshtein(&sent, &typed)
    }
}

/// ionChannel's line about a session's input (logged when the session
/// ends: calls injected, refused, repaired), once it is there.
async fn ionchannel_session_stats(w: &World) -> Option<String> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let log = std::fs::read_to_string(w.testbed.log_path(Component::IonChannel)).ok()?;
        if let Some(line) = log.lines().find(|l| l.contains("session's input")) {
            let at = line.find("session's input").unwrap_or(0);
            return Some(line[at..].to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Sends each text as one burst (without waiting, as libportal does), lets
/// it settle, and reports what arrived.
async fn run_bursts(
    w: &World,
    lp: &mut Libportal,
    mode: KeyMode,
    texts: &[String],
) -> Result<Vec<BurstResult>> {
    let mut results = Vec::new();
    for text in texts {
        let mark = w.log.mark()?;
        let sent = lp.input(&mode.command(text)).await?;
        ensure!(sent["calls"].as_u64().unwrap_or(0) > 0, "{sent}");
        lp.flush().await?;
        let (recs, settled) = settle(&w.log, mark, text.chars().count()).await?;
        let tally = Tally::of(&recs);
        let mut expected: BTreeMap<u32, usize> = BTreeMap::new();
        for c in text.chars() {
            *expected
                .entry(us_keycode(c).context("a burst character off the us layout")?)
                .or_default() += 1;
        }
        let keys: BTreeSet<u32> = expected
            .keys()
            .chain(tally.presses.keys())
            .chain(tally.releases.keys())
            .copied()
            .filter(|k| !MODIFIER_KEYS.contains(k))
            .collect();
        let missing = keys
            .into_iter()
            .map(|k| {
                (
                    k,
                    expected.get(&k).copied().unwrap_or(0),
                    tally.presses.get(&k).copied().unwrap_or(0),
                    tally.releases.get(&k).copied().unwrap_or(0),
                )
            })
            .filter(|(_, e, p, r)| p != e || r != e)
            .collect();
        let (held, mods) = keyboard_state(&w.log.records()?);
        results.push(BurstResult {
            sent: text.clone(),
            typed: typed_text(&recs),
            settled,
            missing,
            unbalanced: tally.unbalanced(),
            held,
            mods,
        });
    }
    Ok(results)
}

/// Prints the figures of a run of bursts.
fn report(label: &str, results: &[BurstResult]) {
    let chars: usize = results.iter().map(|r| r.sent.chars().count()).sum();
    let exact = results.iter().filter(|r| r.exact()).count();
    let (out, level) = results.iter().fold((0, 0), |(o, l), r| {
        let (ro, rl) = r.out_of_place();
        (o + ro, l + rl)
    });
    let edits: usize = results.iter().map(BurstResult::edits).sum();
    let lost: usize = results
        .iter()
        .flat_map(|r| &r.missing)
        .map(|(_, e, p, _)| e.saturating_sub(*p))
        .sum();
    let unbalanced = results.iter().filter(|r| !r.unbalanced.is_empty()).count();
    let held_after = results
        .iter()
        .filter(|r| !r.held.is_empty() || !mods_clear(&r.mods))
        .count();
    let unsettled = results.iter().filter(|r| !r.settled).count();
    println!(
        "libportal {label}: {} bursts of {} characters sent without waiting: {exact} arrived exact, {} differ; \
         {out} of {chars} characters out of place ({level} only on the wrong Shift level, {} moved or lost); \
         edit distance {edits}; taps lost {lost}; bursts with a key pressed and released unequally often {unbalanced}; \
         bursts leaving something held {held_after}; bursts that never settled {unsettled}",
        results.len(),
        results.first().map(|r| r.sent.chars().count()).unwrap_or(0),
        results.len() - exact,
        out - level,
    );
    for (i, r) in results.iter().enumerate() {
        if r.exact() && r.missing.is_empty() && r.held.is_empty() && mods_clear(&r.mods) {
            continue;
        }
        println!("  burst {i}: sent  {:?}", r.sent);
        println!("  burst {i}: typed {:?}", r.typed);
        if !r.missing.is_empty() {
            println!(
                "  burst {i}: taps (keycode, expected, pressed, released): {:?}; {}",
                r.missing,
                r.shift_levels()
            );
        }
        if !r.held.is_empty() || !mods_clear(&r.mods) {
            println!(
                "  burst {i}: held after it: keys {:?}, modifiers {:?}",
                r.held, r.mods
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_bursts_arrive_tap_for_tap_and_nothing_stays_held() -> Result<()> {
    let Some((w, runner)) = libportal_world().await? else {
        return Ok(());
    };
    let mut lp = Libportal::start(&runner, &w.testbed, &["--devices", "keyboard"]).await?;
    w.log.wait_capabilities(false, true).await?;
    // The keyboard's keymap and focus reach the probe after the
    // capability: keys sent before would miss it.
    w.log
        .wait_since(0, WAIT, "keyboard focus", |r| {
            r.iter()
                .any(|r| matches!(r.event, Event::KeyboardEnter { .. }))
                .then_some(())
        })
        .await?;

    // Keysyms, as most libportal apps type text; then keycodes with Shift
    // around capitals. IONLAB_LIBPORTAL_BURSTS sets how many keysym bursts
    // (default 20; half as many keycode bursts), for measuring.
    let bursts: usize = std::env::var("IONLAB_LIBPORTAL_BURSTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let keysyms = run_bursts(
        &w,
        &mut lp,
        KeyMode::Keysyms,
        &burst_texts(bursts, 40, 0x1b9d),
    )
    .await?;
    let keycodes = run_bursts(
        &w,
        &mut lp,
        KeyMode::Keycodes,
        &burst_texts(bursts.div_ceil(2), 40, 0x5eed),
    )
    .await?;
    report("keysyms", &keysyms);
    report("keycodes", &keycodes);

    // Before Close (which releases everything): what is held.
    let all = w.log.records()?;
    let (held, mods) = keyboard_state(&all);
    let tally = Tally::of(&all);
    println!(
        "libportal keyboard: after every burst: keys down {held:?}, modifiers {mods:?}; {} presses, {} releases",
        tally.presses.values().sum::<usize>(),
        tally.releases.values().sum::<usize>()
    );
    let mut failures = Vec::new();
    for (label, results) in [("keysyms", &keysyms), ("keycodes", &keycodes)] {
        for (i, r) in results.iter().enumerate() {
            if !r.missing.is_empty() {
                failures.push(format!(
                    "{label} burst {i}: not every tap arrived (keycode, expected, pressed, released): {:?} ({})\n    sent  {:?}\n    typed {:?}",
                    r.missing, r.shift_levels(), r.sent, r.typed
                ));
            }
        }
    }
    if !held.is_empty() {
        failures.push(format!("keys left held: {held:?}"));
    }
    if !mods_clear(&mods) {
        failures.push(format!("modifiers left active: {mods:?}"));
    }
    if !tally.unbalanced().is_empty() {
        failures.push(format!(
            "keys pressed and released unequally often (keycode, pressed, released): {:?}",
            tally.unbalanced()
        ));
    }
    lp.close().await?;
    // ionChannel's own account of the session (order repair included),
    // logged when it ended.
    let stats = ionchannel_session_stats(&w).await;
    if let Some(stats) = stats {
        println!("libportal keyboard: ionChannel: {stats}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    w.done()
}

// ---------------------------------------------------------------------
// Pointer

fn smooth(recs: &[Record]) -> Vec<(AxisName, f64)> {
    recs.iter()
        .filter_map(|r| match r.event {
            Event::Axis { axis, value, .. } => Some((axis, value)),
            _ => None,
        })
        .collect()
}

fn axis_stops(recs: &[Record]) -> Vec<AxisName> {
    recs.iter()
        .filter_map(|r| match r.event {
            Event::AxisStop { axis, .. } => Some(axis),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pointer_motion_buttons_and_scrolling_arrive() -> Result<()> {
    let Some((w, runner)) = libportal_world().await? else {
        return Ok(());
    };
    if !pointer_runs(&w.testbed, "libportal's pointer") {
        return w.done();
    }
    // With both outputs shared (ScreenCast sources), for absolute motion.
    let mut lp = Libportal::start(
        &runner,
        &w.testbed,
        &["--devices", "pointer", "--outputs", "monitor", "--multiple"],
    )
    .await?;
    w.log.wait_capabilities(true, false).await?;
    // (node, position, size) of each stream.
    type Stream = (u64, (i64, i64), (i64, i64));
    let mut streams: Vec<Stream> = lp.started["streams"]
        .as_array()
        .context("started: streams")?
        .iter()
        .map(|s| {
            let pair = |v: &Value| (v[0].as_i64().unwrap_or(-1), v[1].as_i64().unwrap_or(-1));
            (
                s["node"].as_u64().unwrap_or(0),
                pair(&s["position"]),
                pair(&s["size"]),
            )
        })
        .collect();
    streams.sort_by_key(|s| s.1);
    assert_eq!(
        streams.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>(),
        vec![((0, 0), (1920, 1080)), ((1920, 0), (1280, 720))],
        "the streams libportal reports: {}",
        lp.started
    );

    // Absolute motion, one call at a time; the first also settles the
    // pointer (its enter comes before any motion on it).
    for (stream, x, y, output) in [
        (0usize, 10.0, 10.0, "HEADLESS-1"),
        (0, 100.5, 200.25, "HEADLESS-1"),
        (1, 640.5, 360.25, "HEADLESS-2"),
        (0, 960.0, 540.0, "HEADLESS-1"),
    ] {
        let mark = w.log.mark()?;
        lp.input(&format!("position {} {x} {y}", streams[stream].0))
            .await?;
        let seen = w
            .log
            .wait_since(mark, WAIT, &format!("absolute {x},{y} on {output}"), |r| {
                motions(r).into_iter().find(|m| {
                    (m.1 - x).abs() < 1.0 / 256.0 + 1e-9 && (m.2 - y).abs() < 1.0 / 256.0 + 1e-9
                })
            })
            .await?;
        assert_eq!(seen.0, output, "({x}, {y}) on stream {stream}");
    }

    // Relative motion: exactly its delta.
    let mark = w.log.mark()?;
    lp.input("motion 25 -10.5").await?;
    let seen = w
        .log
        .wait_since(mark, WAIT, "relative motion", |r| {
            motions(r).last().cloned()
        })
        .await?;
    assert_eq!(
        (seen.0.as_str(), seen.1, seen.2),
        ("HEADLESS-1", 985.0, 529.5)
    );

    // A burst of 100 relative motions sent without waiting: the order
    // does not matter, the sum does.
    let mark = w.log.mark()?;
    lp.input("repeat 100 motion 1 -0.5").await?;
    let seen = w
        .log
        .wait_since(mark, WAIT, "100 motions", |r| {
            let m: Vec<_> = r
                .iter()
                .filter(|r| matches!(r.event, Event::Motion { .. }))
                .collect();
            (m.len() >= 100)
                .then(|| motions(r).last().cloned())
                .flatten()
        })
        .await?;
    assert_eq!(
        (seen.0.as_str(), seen.1, seen.2),
        ("HEADLESS-1", 1085.0, 479.5)
    );

    // Buttons, one call at a time: exactly in order.
    let mark = w.log.mark()?;
    for command in [
        "button 272 1",
        "button 272 0",
        "button 273 1",
        "button 273 0",
    ] {
        let before = buttons(&w.log.records()?[mark..]).len();
        lp.input(command).await?;
        w.log
            .wait_since(mark, WAIT, command, |r| {
                (buttons(r).len() > before).then_some(())
            })
            .await?;
    }
    assert_eq!(
        buttons(&w.log.records()?[mark..]),
        vec![(0x110, true), (0x110, false), (0x111, true), (0x111, false)]
    );

    // Smooth scrolling with its end, on each axis.
    for (command, axis, value) in [
        ("axis 0 12.5 finish", AxisName::Vertical, 12.5),
        ("axis -7.5 0 finish", AxisName::Horizontal, -7.5),
    ] {
        let mark = w.log.mark()?;
        lp.input(command).await?;
        let (v, stops) = w
            .log
            .wait_since(mark, WAIT, command, |r| {
                let v = smooth(r).into_iter().find(|a| a.0 == axis)?;
                let stops = axis_stops(r);
                stops.contains(&axis).then_some((v, stops))
            })
            .await?;
        assert!((v.1 - value).abs() < 1e-6, "{command}: {v:?}");
        assert!(stops.contains(&axis), "{command}: {stops:?}");
    }

    // Wheel steps, by the portal's numbering (0 vertical, 1 horizontal).
    let mark = w.log.mark()?;
    lp.input("axis-discrete 0 2").await?;
    w.log
        .wait_since(mark, WAIT, "vertical steps", |r| {
            (!scrolls(r).is_empty()).then_some(())
        })
        .await?;
    lp.input("axis-discrete 1 -1").await?;
    let steps = w
        .log
        .wait_since(mark, WAIT, "horizontal steps", |r| {
            let s = scrolls(r);
            (s.len() >= 2).then_some(s)
        })
        .await?;
    assert_eq!(
        steps,
        vec![(AxisName::Vertical, 2), (AxisName::Horizontal, -1)]
    );
    // libportal names those numbers the other way round.
    let names = &lp.started["discrete_axis"];
    if names["VERTICAL_SCROLL"] != 0 {
        println!(
            "libportal pointer: note: libportal's XdpDiscreteAxis is {names}: XDP_AXIS_VERTICAL_SCROLL is the portal's horizontal axis, so an app asking libportal for vertical wheel steps scrolls horizontally (on any backend that follows the portal's documentation)"
        );
    }

    // 50 clicks sent without waiting: every click arrives and the button
    // ends up released.
    let mark = w.log.mark()?;
    lp.input("repeat 50 click 272").await?;
    lp.flush().await?;
    let mut last_len = 0;
    let mut last_change = Instant::now();
    let clicks = loop {
        let recs = w.log.records()?;
        let b = buttons(recs.get(mark..).unwrap_or(&[]));
        let presses = b.iter().filter(|b| b.1).count();
        let releases = b.len() - presses;
        if (presses >= 50 && releases >= 50) || last_change.elapsed() > Duration::from_secs(1) {
            break b;
        }
        if b.len() != last_len {
            last_len = b.len();
            last_change = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let presses = clicks.iter().filter(|b| b.1).count();
    let releases = clicks.len() - presses;
    let in_order = clicks
        .chunks(2)
        .all(|c| c == [(0x110, true), (0x110, false)]);
    println!(
        "libportal pointer: 50 clicks sent without waiting: {presses} presses, {releases} releases arrived; alternating press/release: {in_order}; last {:?}",
        clicks.last()
    );
    assert_eq!((presses, releases), (50, 50), "every click arrives");
    assert_eq!(
        clicks.last(),
        Some(&(0x110, false)),
        "the button ends released"
    );

    lp.close().await?;
    w.done()
}

// ---------------------------------------------------------------------
// ConnectToEIS

/// Receives one fd sent with SCM_RIGHTS on `stream`.
fn receive_fd(stream: &std::os::unix::net::UnixStream) -> Result<OwnedFd> {
    let mut data = [0u8; 16];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for one SCM_RIGHTS message with a few fds, aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at live buffers of the sizes it states.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error()).context("recvmsg");
    }
    ensure!(
        msg.msg_flags & libc::MSG_CTRUNC == 0,
        "control data truncated"
    );
    // SAFETY: walking the control messages recvmsg just filled in.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg points into `control`, as CMSG_FIRSTHDR/NXTHDR give.
        let header = unsafe { &*cmsg };
        if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: an SCM_RIGHTS payload holds at least one int fd,
            // now ours.
            let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>()) };
            // SAFETY: the kernel installed this fd for us; nobody else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        // SAFETY: as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    bail!("no fd in the message ({n} bytes)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_eis_through_libportal_hands_over_a_working_socket() -> Result<()> {
    let Some((w, runner)) = libportal_world().await? else {
        return Ok(());
    };
    let version = RemoteDesktop::frontend_version(&w.client).await?;
    if version < 2 {
        println!(
            "skipped: the frontend's RemoteDesktop is version {version}; ConnectToEIS needs 2 (xdg-desktop-portal 1.17+; run on the testing stack)"
        );
        return w.done();
    }
    let mut lp = Libportal::start(&runner, &w.testbed, &[]).await?;
    // Asked for both; granted what the compositor can inject (the
    // keyboard alone without a virtual pointer: the pointer part below
    // then says why it does not run).
    let pointer = pointer_runs(&w.testbed, "the EIS pointer through libportal");
    let granted = if pointer {
        serde_json::json!(["keyboard", "pointer"])
    } else {
        serde_json::json!(["keyboard"])
    };
    assert_eq!(lp.started["devices"], granted, "{}", lp.started);
    w.log.wait_capabilities(pointer, true).await?;

    // libportal's ConnectToEIS; the script checks the fd and hands it to
    // us over a unix socket.
    let path = w.testbed.paths().tmp.join("libportal-eis.sock");
    let listener = tokio::net::UnixListener::bind(&path)
        .with_context(|| format!("binding {}", path.display()))?;
    lp.send(&format!("eis {}", path.display())).await?;
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .context("the script never connected to hand the fd over")??;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(WAIT))?;
    let fd = receive_fd(&stream)?;
    let info = lp.expect("eis", WAIT).await?;
    println!("libportal ConnectToEIS: {info}");
    assert_eq!(info["socket"], true, "{info}");
    assert_eq!(info["stream"], true, "{info}");
    assert_eq!(info["family"], "unix", "{info}");
    assert!(
        info["peeked"].as_u64().unwrap_or(0) > 0,
        "the server spoke first: {info}"
    );
    let log = std::fs::read_to_string(w.testbed.log_path(Component::IonChannel))?;
    assert!(
        log.contains("EIS connection handed out"),
        "ionChannel logged the EIS connection"
    );

    // A real libei client on it: handshake, bind, input at the probe.
    let mut eis = EisClient::connect(fd, "ion-lab libportal e2e").await?;
    if pointer {
        eis.bind(Capability::Pointer | Capability::Button | Capability::Keyboard)
            .await?;
        let mark = w.log.mark()?;
        eis.motion(30.0, 20.0)?;
        w.log
            .wait_since(mark, WAIT, "EIS motion", |r| motions(r).last().cloned())
            .await?;
    } else {
        eis.bind_waiting(
            Capability::Pointer | Capability::Button | Capability::Keyboard,
            Capability::Keyboard.into(),
        )
        .await?;
    }
    let mark = w.log.mark()?;
    eis.key(30, true)?;
    eis.key(30, false)?;
    let typed = w
        .log
        .wait_since(mark, WAIT, "EIS key a", |r| {
            let k = keys(r);
            (k.len() >= 2).then_some(k)
        })
        .await?;
    assert_eq!(
        typed
            .iter()
            .map(|k| (k.0, k.1, k.2.as_str()))
            .collect::<Vec<_>>(),
        vec![(30, true, "a"), (30, false, "a")]
    );

    // Closing the session through libportal ends the EIS connection.
    lp.close().await?;
    match eis.ended(WAIT).await? {
        Ended::Disconnected { reason, .. } => {
            assert_eq!(reason, DisconnectReason::Disconnected)
        }
        other => panic!("session closed through libportal: {other:?}"),
    }
    w.done()
}
