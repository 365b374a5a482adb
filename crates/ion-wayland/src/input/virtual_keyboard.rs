//! Keyboard injection through `zwp_virtual_keyboard_v1`, with a real XKB
//! keymap (the user's layout) and keysym typing.
//!
//! We keep a mirror of the compositor's XKB state for our keyboard so that
//! we know which modifiers are down. A keysym that needs modifiers (Shift
//! for "A", AltGr for "€" on a German layout) gets them through the
//! `modifiers` request while its key is held, and they are released with it.
//!
//! Keysyms that share a key ("d" and "D") can be down together when an app
//! types them close together and the frontend reorders its calls: the
//! later press takes the key over (the key is released and pressed again
//! at the new level, so the compositor never sees a key pressed twice),
//! and the modifiers are always those of the latest keysym pressed (a "b"
//! pressed while an "A" is still down is a "b").

use std::os::fd::AsFd;

use ion_core::KeyState;
use wayland_client::protocol::wl_keyboard;
use wayland_protocols_misc::zwp_virtual_keyboard_v1::client::zwp_virtual_keyboard_v1::ZwpVirtualKeyboardV1;
use xkbcommon::xkb;

use crate::keymap::{KeyPlan, Keymap, KeymapError};

const EVDEV_OFFSET: u32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum KeyboardError {
    #[error(transparent)]
    Keymap(#[from] KeymapError),
    #[error("cannot share the keymap with the compositor: {0}")]
    Io(#[from] std::io::Error),
}

pub struct VirtualKeyboard {
    obj: ZwpVirtualKeyboardV1,
    keymap: Keymap,
    /// Mirror of the compositor's state for this keyboard.
    xkb_state: xkb::State,
    /// evdev keycodes down, in press order.
    down: Vec<u32>,
    /// Held keysyms and the key/modifiers used for each, in press order.
    keysyms: Vec<(u32, KeyPlan)>,
    sent_mods: Option<[u32; 4]>,
}

impl VirtualKeyboard {
    pub fn new(obj: ZwpVirtualKeyboardV1, keymap: Keymap) -> Result<Self, KeyboardError> {
        let xkb_state = xkb::State::new(keymap.xkb());
        let kb = Self {
            obj,
            keymap,
            xkb_state,
            down: Vec::new(),
            keysyms: Vec::new(),
            sent_mods: None,
        };
        // The compositor refuses key events before a keymap: send it now.
        if crate::fault::take_no_keymap() {
            tracing::warn!(
                "test fault {}=no-keymap-once: this virtual keyboard gets no keymap",
                crate::fault::FAULT_VAR
            );
        } else {
            kb.upload_keymap()?;
        }
        Ok(kb)
    }

    fn upload_keymap(&self) -> Result<(), KeyboardError> {
        // A size every compositor accepts: see keymap_file.
        let file = crate::keymap_file::keymap_file(self.keymap.text())?;
        self.obj.keymap(
            wl_keyboard::KeymapFormat::XkbV1.into(),
            file.fd.as_fd(),
            file.size,
        );
        Ok(())
    }

    fn press_raw(&mut self, keycode: u32, state: KeyState, time: u32) {
        let dir = match state {
            KeyState::Pressed => {
                self.down.push(keycode);
                xkb::KeyDirection::Down
            }
            KeyState::Released => {
                if !self.down.contains(&keycode) {
                    // Taken over by a keysym on the same key, and released
                    // with it already.
                    return;
                }
                self.down.retain(|k| *k != keycode);
                xkb::KeyDirection::Up
            }
        };
        self.xkb_state
            .update_key(xkb::Keycode::new(keycode + EVDEV_OFFSET), dir);
        let wl_state = match state {
            KeyState::Pressed => wl_keyboard::KeyState::Pressed,
            KeyState::Released => wl_keyboard::KeyState::Released,
        };
        self.obj.key(time, keycode, wl_state.into());
    }

    /// Sends the modifier state: what the held keys set, plus what the
    /// latest held keysym needs (a key is read at the level of the
    /// modifiers when it is pressed, and repeats with the current ones).
    fn sync_mods(&mut self) {
        let extra = self.keysyms.last().map_or(0, |(_, p)| p.mods);
        let mods = [
            self.xkb_state.serialize_mods(xkb::STATE_MODS_DEPRESSED) | extra,
            self.xkb_state.serialize_mods(xkb::STATE_MODS_LATCHED),
            self.xkb_state.serialize_mods(xkb::STATE_MODS_LOCKED),
            self.xkb_state.serialize_layout(xkb::STATE_LAYOUT_EFFECTIVE),
        ];
        if self.sent_mods != Some(mods) {
            self.obj.modifiers(mods[0], mods[1], mods[2], mods[3]);
            self.sent_mods = Some(mods);
        }
    }

    pub fn keycode(&mut self, keycode: u32, state: KeyState, time: u32) {
        self.press_raw(keycode, state, time);
        self.sync_mods();
    }

    pub fn keysym(&mut self, keysym: u32, state: KeyState, time: u32) -> Result<(), KeyboardError> {
        match state {
            KeyState::Pressed => {
                let plan = match self.keymap.lookup(keysym) {
                    Some(plan) => plan,
                    None => {
                        let plan = self.keymap.extend(keysym, &self.down)?;
                        self.rebuild_state();
                        self.upload_keymap()?;
                        // The compositor resets modifiers with a new keymap.
                        self.sent_mods = None;
                        plan
                    }
                };
                if self.down.contains(&plan.keycode) {
                    // Another keysym (or the app's keycode) holds the key:
                    // this press takes it over.
                    self.keysyms.retain(|(_, p)| p.keycode != plan.keycode);
                    self.press_raw(plan.keycode, KeyState::Released, time);
                }
                self.keysyms.retain(|(k, _)| *k != keysym);
                self.keysyms.push((keysym, plan));
                // Modifiers first, so the key is read at the right level.
                self.sync_mods();
                self.press_raw(plan.keycode, KeyState::Pressed, time);
            }
            KeyState::Released => {
                let Some(i) = self.keysyms.iter().position(|(k, _)| *k == keysym) else {
                    return Ok(());
                };
                let (_, plan) = self.keysyms.remove(i);
                self.press_raw(plan.keycode, KeyState::Released, time);
                self.sync_mods();
            }
        }
        Ok(())
    }

    /// A new keymap: a fresh mirror state with the held keys replayed, as
    /// wlroots does on its side.
    fn rebuild_state(&mut self) {
        self.xkb_state = xkb::State::new(self.keymap.xkb());
        for k in &self.down {
            self.xkb_state
                .update_key(xkb::Keycode::new(k + EVDEV_OFFSET), xkb::KeyDirection::Down);
        }
    }

    /// Lets go of every key still down (keysyms first, they set modifiers)
    /// and clears the modifiers.
    pub fn release_all(&mut self, time: u32) {
        let syms: Vec<u32> = self.keysyms.iter().rev().map(|(k, _)| *k).collect();
        for s in syms {
            let _ = self.keysym(s, KeyState::Released, time);
        }
        let keys: Vec<u32> = self.down.iter().rev().copied().collect();
        for k in keys {
            self.press_raw(k, KeyState::Released, time);
        }
        self.sync_mods();
    }

    /// The keymap the compositor has for this keyboard now.
    pub fn keymap_text(&self) -> &str {
        self.keymap.text()
    }

    pub fn destroy(&self) {
        self.obj.destroy();
    }
}
