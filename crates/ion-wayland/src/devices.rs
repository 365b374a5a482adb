//! A session's virtual devices and what they hold down.

use ion_core::held::Admit;
use ion_core::layout::LayoutBox;
use ion_core::{HeldInput, InputEvent};

use crate::input::virtual_keyboard::VirtualKeyboard;
use crate::input::PointerBackend;

pub struct SessionDevices {
    /// Pointer (and, through uinput, touch): the seam's back-end.
    pub pointer: Option<Box<dyn PointerBackend>>,
    pub keyboard: Option<VirtualKeyboard>,
    held: HeldInput,
}

impl SessionDevices {
    pub fn new(
        pointer: Option<Box<dyn PointerBackend>>,
        keyboard: Option<VirtualKeyboard>,
    ) -> Self {
        Self {
            pointer,
            keyboard,
            held: HeldInput::new(),
        }
    }

    /// Sends one validated event to the device it belongs to.
    pub fn apply(&mut self, event: &InputEvent, layout: Option<LayoutBox>, time: u32) {
        if let Admit::Drop(why) = self.held.admit(event) {
            tracing::debug!(event = event.kind(), why, "redundant input dropped");
            return;
        }
        match *event {
            InputEvent::KeyboardKeycode { keycode, state } => match self.keyboard.as_mut() {
                Some(kb) => kb.keycode(keycode, state, time),
                None => tracing::warn!("keyboard event without a virtual keyboard"),
            },
            InputEvent::KeyboardKeysym { keysym, state } => match self.keyboard.as_mut() {
                Some(kb) => {
                    if let Err(e) = kb.keysym(keysym, state, time) {
                        tracing::warn!(
                            keysym = format_args!("{keysym:#x}"),
                            "keysym not typed: {e}"
                        );
                    }
                }
                None => tracing::warn!("keyboard event without a virtual keyboard"),
            },
            InputEvent::TouchDown { .. }
            | InputEvent::TouchMotion { .. }
            | InputEvent::TouchUp { .. } => match self.pointer.as_mut() {
                Some(p) if p.touch() => p.send(event, layout, time),
                _ => tracing::warn!("touch event without a touch device"),
            },
            _ => match self.pointer.as_mut() {
                Some(p) => p.send(event, layout, time),
                None => tracing::warn!("pointer event without a pointer device"),
            },
        }
    }

    /// The keymap the virtual keyboard uses now, as XKB text.
    pub fn keymap_text(&self) -> Option<String> {
        self.keyboard.as_ref().map(|kb| kb.keymap_text().to_owned())
    }

    /// Releases every key, keysym and button held, and clears modifiers;
    /// the devices stay.
    pub fn release_held(&mut self, layout: Option<LayoutBox>, time: u32) {
        let releases = self.held.release_all();
        if !releases.is_empty() {
            tracing::info!(count = releases.len(), "releasing held keys and buttons");
        }
        for ev in releases {
            // Straight to the devices: HeldInput already forgot them.
            match ev {
                InputEvent::KeyboardKeycode { keycode, state } => {
                    if let Some(kb) = self.keyboard.as_mut() {
                        kb.keycode(keycode, state, time);
                    }
                }
                InputEvent::KeyboardKeysym { keysym, state } => {
                    if let Some(kb) = self.keyboard.as_mut() {
                        let _ = kb.keysym(keysym, state, time);
                    }
                }
                _ => {
                    if let Some(p) = self.pointer.as_mut() {
                        p.send(&ev, layout, time);
                    }
                }
            }
        }
        // The device's own account (touch contacts) after the session's.
        if let Some(p) = self.pointer.as_mut() {
            p.lift_all(time);
        }
        // The keyboard's own record is the safety net for anything
        // HeldInput did not see.
        if let Some(kb) = self.keyboard.as_mut() {
            kb.release_all(time);
        }
    }

    /// Releases everything held, then destroys the devices.
    pub fn release_and_destroy(mut self, layout: Option<LayoutBox>, time: u32) {
        self.release_held(layout, time);
        if let Some(kb) = self.keyboard.as_ref() {
            kb.destroy();
        }
        if let Some(p) = self.pointer.as_mut() {
            p.destroy();
        }
    }
}
