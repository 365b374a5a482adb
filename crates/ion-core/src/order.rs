//! Order repair: presses and releases that reach us in another order than
//! the app sent them.
//!
//! The portal frontend handles every method call on a worker thread of its
//! own, so Notify* calls an app sends without waiting for replies (libportal
//! does) leave it reordered: a key's release can overtake its press. Taken
//! as they come, that release is redundant (the key is not down) and the
//! late press then stays down for good. Nothing in a Notify* call says
//! where it stood in the app's sequence (no serial, no timestamp), so the
//! order is repaired from what the calls mean, with one short time window
//! [`REORDER_WINDOW`] that bounds how late a call may come:
//!
//! - **A release that arrives before its press** (the key is not down) is
//!   kept for the window. When the press comes within it, the key is
//!   tapped: press, then release, at once. Otherwise the release was stray
//!   and is forgotten.
//! - **A press of a key that is down**, arriving within the window of the
//!   press that put it down, may be the next tap's press overtaking the
//!   release in between. It is held back, and when a release then finds
//!   the key already up, that press is replayed as a tap. Held back presses
//!   nobody asks for expire with the window. Later presses of a held key
//!   are the app's key repeat and are dropped: the compositor repeats keys
//!   itself.
//! - **A key press that arrives within the window after the same key's
//!   release**, when that key's hold was a program's (shorter than half the
//!   window, or with the app's key repeat) or the press comes sooner than a
//!   person can re-press a key (a third of the window), may be a repeat
//!   that the release overtook (an app sending press, press, release). It
//!   goes through at once, but unless a release follows within the window,
//!   the key is released when the window ends. A person's hold followed by
//!   a person's re-press is left alone.
//!
//! Every event is forwarded the moment it arrives or not at all: the
//! window delays no input, it only decides what a late call means. An app
//! that sends well-formed sequences (each release after its press) ends
//! every burst with exactly what it holds, whatever the order of arrival
//! (see the property tests); what cannot be told apart from content alone
//! always resolves towards *released*, never towards a stuck key.
//!
//! Pointer buttons follow the same rules except the last: mice do not
//! repeat, so a button press is never provisional (a double click followed
//! by a drag keeps its drag).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::input::{InputEvent, KeyState};

/// How late a call may reach us behind one the app sent after it, and still
/// be put back in order. The frontend's reordering is a race between its
/// worker threads: a few milliseconds on an idle machine, up to about 30 ms
/// measured on a loaded two-core one (see ARCHITECTURE). It stays below
/// the shortest common key-repeat delay (200 ms and more), so the app's key
/// repeat is never taken for a press that overtook a release.
pub const REORDER_WINDOW: Duration = Duration::from_millis(100);

/// Keys tracked before a push sweeps out the idle ones.
const SWEEP_AT: usize = 64;

/// A key or button, as order repair tracks it. Keycodes and keysyms are
/// separate: the compositor sees them as different keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyId {
    Button(u32),
    Keycode(u32),
    Keysym(u32),
}

impl KeyId {
    /// The key a press or release is about, and its state.
    pub fn of(event: &InputEvent) -> Option<(Self, KeyState)> {
        match *event {
            InputEvent::PointerButton { button, state } => Some((Self::Button(button), state)),
            InputEvent::KeyboardKeycode { keycode, state } => Some((Self::Keycode(keycode), state)),
            InputEvent::KeyboardKeysym { keysym, state } => Some((Self::Keysym(keysym), state)),
            _ => None,
        }
    }

    fn event(self, state: KeyState) -> InputEvent {
        match self {
            Self::Button(button) => InputEvent::PointerButton { button, state },
            Self::Keycode(keycode) => InputEvent::KeyboardKeycode { keycode, state },
            Self::Keysym(keysym) => InputEvent::KeyboardKeysym { keysym, state },
        }
    }

    fn repeats(self) -> bool {
        !matches!(self, Self::Button(_))
    }
}

/// What order repair did, for `ionchannel status` and the benchmark.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RepairStats {
    /// A release that came before its press, made a tap when the press came.
    pub early_releases: u64,
    /// A press that overtook the release before it, replayed as a tap.
    pub overtaken_presses: u64,
    /// A press right after a release that no release followed: released at
    /// the end of the window.
    pub provisional_releases: u64,
    /// Releases of keys that were not down, with no press in the window.
    pub stray_releases: u64,
    /// Presses of a held key, dropped (the app's key repeat), or held back
    /// and never asked for.
    pub dropped_presses: u64,
    /// The longest time a repaired call came behind its partner.
    pub max_lag: Duration,
}

impl RepairStats {
    /// Press/release pairs put back in order.
    pub fn repaired(&self) -> u64 {
        self.early_releases + self.overtaken_presses + self.provisional_releases
    }
}

#[derive(Debug, Default, Clone)]
struct Track {
    down: bool,
    /// When the press that put the key down arrived.
    down_at: Duration,
    /// The key went down right after its own release: released at this
    /// time unless a release comes first.
    provisional_until: Option<Duration>,
    /// When a release last took the key up, and whether the hold before
    /// it looked like a program's (shorter than half the window, or with
    /// the app's key repeat).
    released_at: Option<Duration>,
    quick: bool,
    /// The app's key repeat was seen during this hold.
    repeated: bool,
    /// Releases that came before their press, the latest at `early_at`.
    early: u32,
    early_at: Duration,
    /// Presses held back while the key was down, the latest at `held_at`.
    held_back: u32,
    held_at: Duration,
    /// Presses that were refused (rate limit): their releases are dropped.
    refused: u32,
    refused_at: Duration,
}

impl Track {
    fn is_idle(&self) -> bool {
        !self.down && self.early == 0 && self.held_back == 0 && self.refused == 0
    }
}

/// Order repair for one session (see the module's documentation). Pure:
/// the caller gives a monotonic clock's reading with every call.
#[derive(Debug, Clone)]
pub struct OrderRepair {
    window: Duration,
    keys: BTreeMap<KeyId, Track>,
    stats: RepairStats,
}

impl Default for OrderRepair {
    fn default() -> Self {
        Self::new(REORDER_WINDOW)
    }
}

impl OrderRepair {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            keys: BTreeMap::new(),
            stats: RepairStats::default(),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    pub fn stats(&self) -> RepairStats {
        self.stats
    }

    /// Whether any key is down (from the compositor's view, as far as the
    /// events given out go).
    pub fn any_down(&self) -> bool {
        self.keys.values().any(|t| t.down)
    }

    /// Takes one validated event arriving at `now` and appends what should
    /// reach the compositor, in order, to `out` (nothing, the event, or a
    /// repaired tap). Motion and scrolling pass through.
    pub fn push(&mut self, event: InputEvent, now: Duration, out: &mut Vec<InputEvent>) {
        let Some((key, state)) = KeyId::of(&event) else {
            out.push(event);
            return;
        };
        self.expire_key(key, now, out);
        if self.keys.len() > SWEEP_AT {
            // Keys nobody touches again are forgotten here: an app cycling
            // through many keysyms cannot make the map grow.
            self.expire(now, out);
        }
        let window = self.window;
        let stats = &mut self.stats;
        let t = self.keys.entry(key).or_default();
        match (state, t.down) {
            (KeyState::Pressed, false) => {
                if t.early > 0 {
                    // Its release came first: a tap.
                    t.early -= 1;
                    stats.early_releases += 1;
                    stats.max_lag = stats.max_lag.max(now.saturating_sub(t.early_at));
                    out.push(key.event(KeyState::Pressed));
                    out.push(key.event(KeyState::Released));
                    t.released_at = Some(now);
                    t.quick = true;
                } else {
                    out.push(event);
                    t.down = true;
                    t.down_at = now;
                    t.repeated = false;
                    // Right after a program's hold, or sooner than a person
                    // can re-press a key (a third of the window).
                    let after = t.released_at.map(|r| now.saturating_sub(r));
                    let provisional = key.repeats()
                        && after.is_some_and(|a| a <= window && (t.quick || a <= window / 3));
                    t.provisional_until = provisional.then_some(now + window);
                }
            }
            (KeyState::Pressed, true) => {
                if now.saturating_sub(t.down_at) <= window {
                    t.held_back += 1;
                    t.held_at = now;
                } else {
                    // The app's key repeat: the compositor repeats itself.
                    stats.dropped_presses += 1;
                    t.repeated = true;
                }
            }
            (KeyState::Released, true) => {
                out.push(event);
                t.down = false;
                t.provisional_until = None;
                // A person's key press lasts longer than half the window
                // and does not repeat: re-pressing it right after is a
                // person's double tap, never provisional.
                t.quick = now.saturating_sub(t.down_at) < window / 2 || t.repeated;
                t.released_at = Some(now);
            }
            (KeyState::Released, false) => {
                if t.held_back > 0 {
                    // A press overtook the release before it: replay it.
                    t.held_back -= 1;
                    stats.overtaken_presses += 1;
                    stats.max_lag = stats.max_lag.max(now.saturating_sub(t.held_at));
                    out.push(key.event(KeyState::Pressed));
                    out.push(key.event(KeyState::Released));
                    t.released_at = Some(now);
                    t.quick = true;
                } else if t.refused > 0 {
                    t.refused -= 1;
                } else {
                    t.early += 1;
                    t.early_at = now;
                }
            }
        }
        if t.is_idle() && t.released_at.is_none_or(|r| now.saturating_sub(r) > window) {
            self.keys.remove(&key);
        }
    }

    /// A press that validation or the rate limit refused: its release,
    /// before or after it, must not reach the compositor either.
    pub fn refused(&mut self, event: &InputEvent, now: Duration) {
        let Some((key, KeyState::Pressed)) = KeyId::of(event) else {
            return;
        };
        let t = self.keys.entry(key).or_default();
        if t.down {
            // A repeat of a held key: its release is the key's own.
            return;
        }
        if t.early > 0 {
            t.early -= 1;
        } else {
            t.refused += 1;
            t.refused_at = now;
        }
        if t.is_idle() && t.released_at.is_none() {
            self.keys.remove(&key);
        }
    }

    /// Ends what the window ran out on at `now`; provisional presses are
    /// released (appended to `out`).
    pub fn expire(&mut self, now: Duration, out: &mut Vec<InputEvent>) {
        let keys: Vec<KeyId> = self.keys.keys().copied().collect();
        for key in keys {
            self.expire_key(key, now, out);
        }
    }

    fn expire_key(&mut self, key: KeyId, now: Duration, out: &mut Vec<InputEvent>) {
        let window = self.window;
        let Some(t) = self.keys.get_mut(&key) else {
            return;
        };
        let over = |at: Duration| now.saturating_sub(at) > window;
        if t.early > 0 && over(t.early_at) {
            self.stats.stray_releases += u64::from(t.early);
            t.early = 0;
        }
        if t.held_back > 0 && over(t.held_at) {
            self.stats.dropped_presses += u64::from(t.held_back);
            t.held_back = 0;
        }
        if t.refused > 0 && over(t.refused_at) {
            t.refused = 0;
        }
        if let Some(until) = t.provisional_until {
            if now >= until && t.down {
                out.push(key.event(KeyState::Released));
                t.down = false;
                t.released_at = Some(now);
                t.quick = true;
                self.stats.provisional_releases += 1;
            }
            if now >= until {
                t.provisional_until = None;
            }
        }
        if t.is_idle() && t.released_at.is_none_or(over) {
            self.keys.remove(&key);
        }
    }

    /// When [`expire`](Self::expire) next has something to do, if ever.
    pub fn next_deadline(&self) -> Option<Duration> {
        let w = self.window;
        self.keys
            .values()
            .flat_map(|t| {
                [
                    t.provisional_until,
                    (t.early > 0).then(|| t.early_at + w),
                    (t.held_back > 0).then(|| t.held_at + w),
                    (t.refused > 0).then(|| t.refused_at + w),
                ]
            })
            .flatten()
            .min()
            // `expire` ends what is strictly older than the window.
            .map(|d| d + Duration::from_micros(1))
    }

    /// Takes one event from a source that keeps its order (EIS: one
    /// socket): nothing is repaired, only redundant presses and releases
    /// are dropped, so that what is down stays known.
    pub fn push_in_order(&mut self, event: InputEvent, out: &mut Vec<InputEvent>) {
        let Some((key, state)) = KeyId::of(&event) else {
            out.push(event);
            return;
        };
        let t = self.keys.entry(key).or_default();
        match (state, t.down) {
            (KeyState::Pressed, false) => {
                t.down = true;
                out.push(event);
            }
            (KeyState::Released, true) => {
                t.down = false;
                out.push(event);
            }
            (KeyState::Pressed, true) => self.stats.dropped_presses += 1,
            // The release of a press the rate limit refused.
            (KeyState::Released, false) if t.refused > 0 => t.refused -= 1,
            (KeyState::Released, false) => self.stats.stray_releases += 1,
        }
        if t.is_idle() && t.released_at.is_none() {
            self.keys.remove(&key);
        }
    }

    /// Forgets everything: the session's devices released all they held.
    pub fn clear(&mut self) {
        self.keys.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    const MS: Duration = Duration::from_millis(1);

    fn key(code: u32, down: bool) -> InputEvent {
        InputEvent::KeyboardKeycode {
            keycode: code,
            state: KeyState::from_bool(down),
        }
    }

    fn button(code: u32, down: bool) -> InputEvent {
        InputEvent::PointerButton {
            button: code,
            state: KeyState::from_bool(down),
        }
    }

    /// Feeds `(ms, event)` and then lets every window run out.
    fn run(events: &[(u64, InputEvent)]) -> (Vec<InputEvent>, OrderRepair) {
        let mut r = OrderRepair::default();
        let mut out = Vec::new();
        for (ms, ev) in events {
            r.push(*ev, MS * (*ms as u32), &mut out);
        }
        r.expire(Duration::from_secs(3600), &mut out);
        (out, r)
    }

    /// The compositor's view: pressed keys, and every press/release valid.
    fn replay(out: &[InputEvent]) -> BTreeSet<KeyId> {
        let mut down = BTreeSet::new();
        for ev in out {
            let (k, s) = KeyId::of(ev).unwrap();
            if s.is_pressed() {
                assert!(down.insert(k), "{k:?} pressed twice in {out:?}");
            } else {
                assert!(down.remove(&k), "{k:?} released while up in {out:?}");
            }
        }
        down
    }

    #[test]
    fn in_order_taps_pass_unchanged() {
        let evs = [
            (0, key(30, true)),
            (0, key(30, false)),
            (0, key(30, true)),
            (0, key(30, false)),
        ];
        let (out, r) = run(&evs);
        assert_eq!(out, evs.map(|e| e.1).to_vec());
        assert_eq!(r.stats().repaired(), 0);
    }

    #[test]
    fn a_release_before_its_press_is_a_tap() {
        let (out, r) = run(&[(0, key(30, false)), (1, key(30, true))]);
        assert_eq!(out, vec![key(30, true), key(30, false)]);
        assert_eq!(r.stats().early_releases, 1);
        assert_eq!(r.stats().max_lag, MS);
    }

    #[test]
    fn a_release_whose_press_never_comes_is_forgotten() {
        let (out, r) = run(&[(0, key(30, false)), (150, key(30, true))]);
        // The press came too late to be that release's: it is a new hold.
        assert_eq!(out, vec![key(30, true)]);
        assert_eq!(r.stats().stray_releases, 1);
    }

    #[test]
    fn a_press_overtaking_the_release_before_it_is_replayed() {
        // "ll": P1 R1 P2 R2 arriving P1 P2 R1 R2.
        let (out, r) = run(&[
            (0, key(38, true)),
            (0, key(38, true)),
            (1, key(38, false)),
            (1, key(38, false)),
        ]);
        assert_eq!(
            out,
            vec![key(38, true), key(38, false), key(38, true), key(38, false)]
        );
        assert_eq!(r.stats().overtaken_presses, 1);
    }

    #[test]
    fn a_long_hold_stays_held_through_the_apps_key_repeat() {
        let mut evs = vec![(0, key(42, true))];
        // Repeats from 600 ms on, every 33 ms, for ten seconds.
        evs.extend((0..300).map(|i| (600 + 33 * i, key(42, true))));
        let mut r = OrderRepair::default();
        let mut out = Vec::new();
        for (ms, ev) in &evs {
            r.push(*ev, MS * *ms as u32, &mut out);
            r.expire(MS * *ms as u32 + 20 * MS, &mut out);
        }
        r.expire(Duration::from_secs(60), &mut out);
        assert_eq!(out, vec![key(42, true)], "held, nothing else");
        assert!(r.any_down());
    }

    #[test]
    fn a_repeat_overtaken_by_the_release_does_not_stick() {
        // P ... P(repeat) R, the last repeat arriving after the release.
        let (out, r) = run(&[
            (0, key(30, true)),
            (600, key(30, false)),
            (601, key(30, true)),
        ]);
        assert!(replay(&out).is_empty(), "{out:?}");
        assert_eq!(r.stats().provisional_releases, 1);
    }

    #[test]
    fn press_press_release_back_to_back_ends_released_in_every_order() {
        for order in [
            [true, true, false],
            [true, false, true],
            [false, true, true],
        ] {
            let evs: Vec<_> = order.iter().map(|d| (0, key(30, *d))).collect();
            let (out, _) = run(&evs);
            assert!(replay(&out).is_empty(), "{order:?} gave {out:?}");
        }
    }

    #[test]
    fn a_key_pressed_again_later_is_a_new_hold() {
        let (out, _) = run(&[
            (0, key(30, true)),
            (5, key(30, false)),
            (200, key(30, true)),
        ]);
        assert_eq!(replay(&out), BTreeSet::from([KeyId::Keycode(30)]));
    }

    #[test]
    fn a_persons_quick_re_press_after_a_real_hold_is_kept() {
        // Shift held 120 ms for a capital, released, pressed again 80 ms
        // later and held for the next one (an app that awaits its calls).
        let (out, _) = run(&[
            (0, key(42, true)),
            (120, key(42, false)),
            (200, key(42, true)),
        ]);
        assert_eq!(replay(&out), BTreeSet::from([KeyId::Keycode(42)]));
    }

    #[test]
    fn a_double_click_then_drag_keeps_its_drag() {
        let (out, _) = run(&[
            (0, button(0x110, true)),
            (1, button(0x110, false)),
            (2, button(0x110, true)),
        ]);
        assert_eq!(replay(&out), BTreeSet::from([KeyId::Button(0x110)]));
    }

    #[test]
    fn in_order_sources_only_lose_redundant_events() {
        let mut r = OrderRepair::default();
        let mut out = Vec::new();
        for ev in [
            key(1, false),
            key(1, true),
            key(1, true),
            key(1, false),
            key(1, true),
        ] {
            r.push_in_order(ev, &mut out);
        }
        assert_eq!(out, vec![key(1, true), key(1, false), key(1, true)]);
        assert!(r.any_down(), "a press right after a release is a hold here");
        assert_eq!(
            (r.stats().stray_releases, r.stats().dropped_presses),
            (1, 1)
        );
    }

    #[test]
    fn the_release_of_a_refused_press_is_dropped() {
        let mut r = OrderRepair::default();
        let mut out = Vec::new();
        r.refused(&key(30, true), Duration::ZERO);
        r.push(key(30, false), MS, &mut out);
        // Its release came first, then the refused press.
        r.push(key(31, false), MS, &mut out);
        r.refused(&key(31, true), MS);
        r.push(key(31, true), 300 * MS, &mut out);
        r.expire(Duration::from_secs(1), &mut out);
        assert_eq!(out, vec![key(31, true)]);
        assert_eq!(r.stats().repaired(), 0);
    }

    #[test]
    fn deadlines_say_when_to_come_back() {
        let mut r = OrderRepair::default();
        let mut out = Vec::new();
        assert_eq!(r.next_deadline(), None);
        r.push(key(30, true), Duration::ZERO, &mut out);
        r.push(key(30, false), MS, &mut out);
        r.push(key(30, true), 2 * MS, &mut out);
        let d = r.next_deadline().unwrap();
        assert!(d > 2 * MS + REORDER_WINDOW - MS && d <= 2 * MS + REORDER_WINDOW + MS);
        out.clear();
        r.expire(d, &mut out);
        assert_eq!(out, vec![key(30, false)]);
        assert_eq!(r.next_deadline(), None);
        // Remembered for one more window (a press right after it is
        // provisional), then forgotten.
        r.expire(d + REORDER_WINDOW + MS, &mut out);
        assert!(r.keys.is_empty(), "nothing kept once idle");
    }

    /// Shuffles `seq` the way a pool of worker threads does: each call may
    /// come behind up to `reach` calls sent after it.
    fn scramble(seq: &[InputEvent], swaps: &[usize], reach: usize) -> Vec<InputEvent> {
        let mut v = seq.to_vec();
        for (i, s) in swaps.iter().enumerate() {
            if v.len() < 2 {
                break;
            }
            let a = i % (v.len() - 1);
            let b = (a + 1 + s % reach).min(v.len() - 1);
            v[a..=b].rotate_left(1);
        }
        v
    }

    proptest! {
        /// Any well-formed typing (taps of a few keys, some held at the
        /// end), sent within the window and arriving in any nearby order:
        /// afterwards exactly the keys the app holds are down, every event
        /// the compositor sees is valid, and every tap arrives as a tap.
        #[test]
        fn any_arrival_order_ends_as_the_app_left_it(
            taps in proptest::collection::vec(0u32..4, 1..60),
            hold in proptest::collection::btree_set(10u32..12, 0..2),
            swaps in proptest::collection::vec(0usize..8, 0..80),
        ) {
            let mut seq = Vec::new();
            for k in &taps {
                seq.push(key(*k, true));
                seq.push(key(*k, false));
            }
            for k in &hold {
                seq.push(key(*k, true));
            }
            let arrived = scramble(&seq, &swaps, 3);
            let mut r = OrderRepair::default();
            let mut out = Vec::new();
            for (i, ev) in arrived.iter().enumerate() {
                // All within one window: a burst.
                r.push(*ev, Duration::from_micros(i as u64 * 100), &mut out);
            }
            r.expire(Duration::from_secs(10), &mut out);
            let down = replay(&out);
            let held: BTreeSet<KeyId> = hold.iter().map(|k| KeyId::Keycode(*k)).collect();
            prop_assert_eq!(down, held);
            // Every tap arrives as a press and a release.
            for k in 0u32..4 {
                let sent = taps.iter().filter(|t| **t == k).count();
                let presses = out.iter().filter(|e| **e == key(k, true)).count();
                let releases = out.iter().filter(|e| **e == key(k, false)).count();
                prop_assert_eq!(presses, sent, "key {} in {:?} → {:?}", k, arrived, out);
                prop_assert_eq!(releases, sent);
            }
        }

        /// Whatever arrives, in whatever order and at whatever times, the
        /// compositor only ever sees valid presses and releases, and once
        /// the windows ran out nothing is down that was released last.
        #[test]
        fn nothing_is_ever_pressed_twice_or_released_while_up(
            ops in proptest::collection::vec((0u32..3, any::<bool>(), 0u64..80), 0..200),
        ) {
            let mut r = OrderRepair::default();
            let mut out = Vec::new();
            let mut t = Duration::ZERO;
            for (code, down, gap) in &ops {
                t += Duration::from_millis(*gap);
                r.expire(t, &mut out);
                r.push(key(*code, *down), t, &mut out);
            }
            r.expire(t + Duration::from_secs(1), &mut out);
            let _ = replay(&out);
        }
    }
}
