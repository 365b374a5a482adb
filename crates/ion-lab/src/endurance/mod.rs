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

/// Keys and buttons the probe's client believes are down at the end of
/// `records`: pressed and not released, with a keyboard or pointer leave
/// (the compositor then forgets them for the client) clearing its kind.
pub fn held_keys(records: &[Record]) -> Vec<String> {
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
            Event::KeyboardEnter { keys: down, .. } => {
                keys = down.iter().copied().collect();
            }
            Event::KeyboardLeave { .. } => keys.clear(),
            Event::PointerLeave { .. } => buttons.clear(),
            _ => {}
        }
    }
    keys.iter()
        .map(|k| format!("key {k}"))
        .chain(buttons.iter().map(|b| format!("button {b:#x}")))
        .collect()
}
