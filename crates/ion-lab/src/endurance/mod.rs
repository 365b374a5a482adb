//! Long runs against the real stack (issue 14): the soak (`soak.rs`) and
//! fault injection (`faults.rs`), with the daemon's memory, fds and
//! threads sampled from /proc (`sample.rs`).

pub mod faults;
pub mod sample;
pub mod soak;

use crate::probe::record::{Event, PressState, Record};

/// The probe's key events in order: (evdev keycode, pressed).
pub fn key_events(records: &[Record]) -> impl Iterator<Item = (u32, bool)> + '_ {
    records.iter().filter_map(|r| match &r.event {
        Event::Key { keycode, state, .. } => match state {
            PressState::Pressed => Some((*keycode, true)),
            PressState::Released => Some((*keycode, false)),
            _ => None,
        },
        _ => None,
    })
}

/// Keys and buttons pressed in `records` and never released by an event
/// of their own. A compositor that loses a virtual keyboard with keys down
/// may re-enter the client with an empty key set rather than send the
/// releases (sway does): the client then believes nothing is held, but
/// only an explicit release shows that the daemon released what its
/// session held, so enter and leave events do not count here.
pub fn unreleased(records: &[Record]) -> Vec<String> {
    held(records, false)
}

/// Keys and buttons the probe's client believes are down at the end of
/// `records`: pressed and not released, with a keyboard or pointer leave
/// (the compositor then forgets them for the client) clearing its kind.
pub fn held_keys(records: &[Record]) -> Vec<String> {
    held(records, true)
}

fn held(records: &[Record], focus_resets: bool) -> Vec<String> {
    let mut keys = std::collections::BTreeSet::new();
    let mut buttons = std::collections::BTreeSet::new();
    for r in records {
        match &r.event {
            Event::Key { keycode, state, .. } => match state {
                PressState::Pressed => {
                    keys.insert(*keycode);
                }
                PressState::Released => {
                    keys.remove(keycode);
                }
                _ => {}
            },
            Event::Button { button, state, .. } => match state {
                PressState::Pressed => {
                    buttons.insert(*button);
                }
                PressState::Released => {
                    buttons.remove(button);
                }
                _ => {}
            },
            Event::KeyboardEnter { keys: down, .. } if focus_resets => {
                keys = down.iter().copied().collect();
            }
            Event::KeyboardLeave { .. } if focus_resets => keys.clear(),
            Event::PointerLeave { .. } if focus_resets => buttons.clear(),
            _ => {}
        }
    }
    keys.iter()
        .map(|k| format!("key {k}"))
        .chain(buttons.iter().map(|b| format!("button {b:#x}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(keycode: u32, state: PressState) -> Record {
        Record {
            t_us: 0,
            event: Event::Key {
                keycode,
                state,
                keysym: 0,
                keysym_name: String::new(),
                utf8: String::new(),
                mods: Vec::new(),
                time_ms: 0,
            },
        }
    }

    fn enter(keys: Vec<u32>) -> Record {
        Record {
            t_us: 0,
            event: Event::KeyboardEnter {
                output: "HEADLESS-1".into(),
                keys,
            },
        }
    }

    #[test]
    fn only_an_explicit_release_counts_as_released() {
        let shift_left_down = [
            key(42, PressState::Pressed),
            key(30, PressState::Pressed),
            key(30, PressState::Released),
            // The compositor lost the keyboard and re-entered the client
            // with nothing held, without a release of Shift.
            enter(Vec::new()),
        ];
        assert_eq!(unreleased(&shift_left_down), vec!["key 42".to_owned()]);
        assert!(held_keys(&shift_left_down).is_empty());
        let released = [key(42, PressState::Pressed), key(42, PressState::Released)];
        assert!(unreleased(&released).is_empty());
        assert_eq!(
            key_events(&released).collect::<Vec<_>>(),
            vec![(42, true), (42, false)]
        );
    }
}
