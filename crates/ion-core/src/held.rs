//! What a session holds down, so that every way a session ends can let go
//! of it.
//!
//! The injecting side feeds every event through [`HeldInput::admit`] before
//! sending it: presses are recorded, releases forget, and events that would
//! put the compositor's view out of step with ours (a second press of a held
//! key, a release of a key not held, motion of a touch that is not down) are
//! dropped. When the session ends, [`HeldInput::release_all`] gives the
//! events that return everything to rest.

use std::collections::BTreeSet;

use crate::input::{InputEvent, KeyState};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeldInput {
    buttons: BTreeSet<u32>,
    keycodes: BTreeSet<u32>,
    keysyms: BTreeSet<u32>,
    touches: BTreeSet<u32>,
}

/// Whether an event should reach the compositor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Forward,
    /// Redundant: the compositor already has this state.
    Drop(&'static str),
}

fn press_or_release(set: &mut BTreeSet<u32>, code: u32, state: KeyState) -> Admit {
    match state {
        KeyState::Pressed if !set.insert(code) => Admit::Drop("already pressed"),
        KeyState::Released if !set.remove(&code) => Admit::Drop("not pressed"),
        _ => Admit::Forward,
    }
}

impl HeldInput {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn admit(&mut self, event: &InputEvent) -> Admit {
        match *event {
            InputEvent::PointerButton { button, state } => {
                press_or_release(&mut self.buttons, button, state)
            }
            InputEvent::KeyboardKeycode { keycode, state } => {
                press_or_release(&mut self.keycodes, keycode, state)
            }
            InputEvent::KeyboardKeysym { keysym, state } => {
                press_or_release(&mut self.keysyms, keysym, state)
            }
            InputEvent::TouchDown { slot, .. } => {
                if self.touches.insert(slot) {
                    Admit::Forward
                } else {
                    Admit::Drop("touch slot already down")
                }
            }
            InputEvent::TouchMotion { slot, .. } => {
                if self.touches.contains(&slot) {
                    Admit::Forward
                } else {
                    Admit::Drop("touch slot not down")
                }
            }
            InputEvent::TouchUp { slot } => {
                if self.touches.remove(&slot) {
                    Admit::Forward
                } else {
                    Admit::Drop("touch slot not down")
                }
            }
            _ => Admit::Forward,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buttons.is_empty()
            && self.keycodes.is_empty()
            && self.keysyms.is_empty()
            && self.touches.is_empty()
    }

    pub fn keycodes(&self) -> impl Iterator<Item = u32> + '_ {
        self.keycodes.iter().copied()
    }

    pub fn keysyms(&self) -> impl Iterator<Item = u32> + '_ {
        self.keysyms.iter().copied()
    }

    /// The events that release everything held, and forgets it all.
    /// Keysyms go first (they may have set modifiers), then keys, buttons
    /// and touches.
    pub fn release_all(&mut self) -> Vec<InputEvent> {
        let released = KeyState::Released;
        let mut out = Vec::new();
        out.extend(std::mem::take(&mut self.keysyms).into_iter().map(|keysym| {
            InputEvent::KeyboardKeysym {
                keysym,
                state: released,
            }
        }));
        out.extend(
            std::mem::take(&mut self.keycodes)
                .into_iter()
                .map(|keycode| InputEvent::KeyboardKeycode {
                    keycode,
                    state: released,
                }),
        );
        out.extend(std::mem::take(&mut self.buttons).into_iter().map(|button| {
            InputEvent::PointerButton {
                button,
                state: released,
            }
        }));
        out.extend(
            std::mem::take(&mut self.touches)
                .into_iter()
                .map(|slot| InputEvent::TouchUp { slot }),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(code: u32, down: bool) -> InputEvent {
        InputEvent::KeyboardKeycode {
            keycode: code,
            state: KeyState::from_bool(down),
        }
    }

    #[test]
    fn duplicates_are_dropped_and_all_is_released() {
        let mut h = HeldInput::new();
        assert_eq!(h.admit(&key(42, true)), Admit::Forward);
        assert_eq!(h.admit(&key(42, true)), Admit::Drop("already pressed"));
        assert_eq!(h.admit(&key(30, false)), Admit::Drop("not pressed"));
        let b = InputEvent::PointerButton {
            button: 0x110,
            state: KeyState::Pressed,
        };
        assert_eq!(h.admit(&b), Admit::Forward);
        let rel = h.release_all();
        assert_eq!(
            rel,
            vec![
                key(42, false),
                InputEvent::PointerButton {
                    button: 0x110,
                    state: KeyState::Released
                }
            ]
        );
        assert!(h.is_empty());
    }

    proptest! {
        /// Whatever sequence was admitted, forwarding it and then
        /// release_all leaves nothing pressed from the compositor's view.
        #[test]
        fn release_all_always_returns_to_rest(ops in proptest::collection::vec((0u32..6, any::<bool>(), 0u32..3), 0..200)) {
            let mut h = HeldInput::new();
            let mut compositor: BTreeSet<(u32, u32)> = BTreeSet::new();
            let apply = |ev: &InputEvent, c: &mut BTreeSet<(u32, u32)>| match *ev {
                InputEvent::KeyboardKeycode { keycode, state } => { if state.is_pressed() { prop_assert!(c.insert((0, keycode))); } else { prop_assert!(c.remove(&(0, keycode))); } Ok(()) }
                InputEvent::PointerButton { button, state } => { if state.is_pressed() { prop_assert!(c.insert((1, button))); } else { prop_assert!(c.remove(&(1, button))); } Ok(()) }
                InputEvent::KeyboardKeysym { keysym, state } => { if state.is_pressed() { prop_assert!(c.insert((2, keysym))); } else { prop_assert!(c.remove(&(2, keysym))); } Ok(()) }
                _ => Ok(()),
            };
            for (code, down, kind) in ops {
                let state = if down { KeyState::Pressed } else { KeyState::Released };
                let ev = match kind {
                    0 => InputEvent::KeyboardKeycode { keycode: code, state },
                    1 => InputEvent::PointerButton { button: code, state },
                    _ => InputEvent::KeyboardKeysym { keysym: code, state },
                };
                if h.admit(&ev) == Admit::Forward {
                    apply(&ev, &mut compositor)?;
                }
            }
            for ev in h.release_all() {
                apply(&ev, &mut compositor)?;
            }
            prop_assert!(compositor.is_empty());
            prop_assert!(h.is_empty());
        }
    }
}
