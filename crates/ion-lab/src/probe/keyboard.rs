//! xkb keymap and state for the recorded keyboard events.
//!
//! The keymap is rebuilt on every `wl_keyboard.keymap` event (a sender may
//! extend its keymap at run time). The state follows the compositor's
//! `wl_keyboard.modifiers` events through `update_mask` only; key events do
//! not change it, so a key's keysym is looked up with the modifiers that were
//! current when it arrived.

use std::os::fd::OwnedFd;

use anyhow::{bail, Context, Result};
use xkbcommon::xkb;

/// The keyboard's xkb context, keymap and state.
pub struct Xkb {
    context: xkb::Context,
    keymap: Option<(xkb::Keymap, xkb::State)>,
}

/// What the xkb state says about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The keysym value (0 = NoSymbol).
    pub keysym: u32,
    /// xkb's name for it.
    pub keysym_name: String,
    /// UTF-8 text the key produces.
    pub utf8: String,
    /// Active modifier names.
    pub mods: Vec<String>,
}

impl Default for Xkb {
    fn default() -> Self {
        Self::new()
    }
}

impl Xkb {
    /// A context without keymap.
    pub fn new() -> Self {
        Xkb {
            context: xkb::Context::new(xkb::CONTEXT_NO_FLAGS),
            keymap: None,
        }
    }

    /// Whether a keymap is loaded.
    pub fn has_keymap(&self) -> bool {
        self.keymap.is_some()
    }

    /// Drops the keymap (e.g. on an unusable keymap event).
    pub fn clear(&mut self) {
        self.keymap = None;
    }

    /// Replaces the keymap by the text in `fd` (`size` bytes, usually
    /// NUL-terminated), mapped privately as wl_keyboard v7+ requires.
    pub fn load_from_fd(&mut self, fd: &OwnedFd, size: u32) -> Result<()> {
        let text = read_keymap_fd(fd, size as usize)?;
        self.load_from_string(text)
    }

    /// Replaces the keymap by an xkb text keymap.
    pub fn load_from_string(&mut self, text: String) -> Result<()> {
        self.keymap = None;
        // `new_from_string` panics on an interior NUL: cut at the first one.
        let text = match text.find('\0') {
            Some(pos) => text[..pos].to_owned(),
            None => text,
        };
        let Some(keymap) = xkb::Keymap::new_from_string(
            &self.context,
            text,
            xkb::KEYMAP_FORMAT_TEXT_V1,
            xkb::KEYMAP_COMPILE_NO_FLAGS,
        ) else {
            bail!("xkbcommon could not compile the keymap");
        };
        let state = xkb::State::new(&keymap);
        self.keymap = Some((keymap, state));
        Ok(())
    }

    /// Applies a `wl_keyboard.modifiers` event.
    pub fn update_mask(&mut self, depressed: u32, latched: u32, locked: u32, group: u32) {
        if let Some((_, state)) = self.keymap.as_mut() {
            state.update_mask(depressed, latched, locked, 0, 0, group);
        }
    }

    /// Names of the active (effective) modifiers, in keymap order.
    pub fn active_mods(&self) -> Vec<String> {
        let Some((keymap, state)) = self.keymap.as_ref() else {
            return Vec::new();
        };
        (0..keymap.num_mods())
            .filter(|&idx| state.mod_index_is_active(idx, xkb::STATE_MODS_EFFECTIVE))
            .map(|idx| keymap.mod_get_name(idx).to_owned())
            .collect()
    }

    /// Looks up evdev keycode `keycode` (xkb keycode minus 8) in the current
    /// state without changing it.
    pub fn key_info(&self, keycode: u32) -> KeyInfo {
        let Some((_, state)) = self.keymap.as_ref() else {
            return KeyInfo {
                keysym: 0,
                keysym_name: "NoSymbol".to_owned(),
                utf8: String::new(),
                mods: Vec::new(),
            };
        };
        let code = xkb::Keycode::new(keycode.saturating_add(8));
        let sym = state.key_get_one_sym(code);
        KeyInfo {
            keysym: sym.raw(),
            keysym_name: xkb::keysym_get_name(sym),
            utf8: state.key_get_utf8(code),
            mods: self.active_mods(),
        }
    }
}

/// Maps `size` bytes of a keymap fd privately and returns them as text.
fn read_keymap_fd(fd: &OwnedFd, size: usize) -> Result<String> {
    use rustix::mm::{mmap, munmap, MapFlags, ProtFlags};
    if size == 0 {
        bail!("keymap of size 0");
    }
    // SAFETY: a fresh private read-only mapping of `size` bytes of `fd`; it
    // is only read as bytes below and unmapped before returning.
    let ptr = unsafe {
        mmap(
            std::ptr::null_mut(),
            size,
            ProtFlags::READ,
            MapFlags::PRIVATE,
            fd,
            0,
        )
    }
    .context("mapping the keymap fd")?;
    // SAFETY: `ptr` points to `size` readable bytes (mapped above).
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), size) };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(size);
    let text = String::from_utf8_lossy(&bytes[..end]).into_owned();
    // SAFETY: unmapping exactly what was mapped; `bytes` is not used after.
    unsafe { munmap(ptr, size) }.context("unmapping the keymap")?;
    Ok(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A minimal keymap: keycode 38 (evdev 30, KEY_A) = a/A, 50 (evdev 42) =
    /// Shift_L.
    const KEYMAP: &str = r#"xkb_keymap {
  xkb_keycodes "test" { minimum = 8; maximum = 255; <AC01> = 38; <LFSH> = 50; };
  xkb_types "test" {
    virtual_modifiers NumLock;
    type "ONE_LEVEL" { modifiers = none; level_name[Level1] = "Any"; };
    type "TWO_LEVEL" { modifiers = Shift; map[Shift] = Level2; level_name[Level1] = "Base"; level_name[Level2] = "Shift"; };
    type "ALPHABETIC" { modifiers = Shift+Lock; map[Shift] = Level2; map[Lock] = Level2; level_name[Level1] = "Base"; level_name[Level2] = "Caps"; };
  };
  xkb_compatibility "test" {
    interpret Shift_L { action = SetMods(modifiers=Shift); };
  };
  xkb_symbols "test" {
    key <AC01> { [ a, A ] };
    key <LFSH> { [ Shift_L ] };
    modifier_map Shift { <LFSH> };
  };
};
"#;

    fn memfd_with(text: &[u8]) -> OwnedFd {
        let fd = rustix::fs::memfd_create("keymap-test", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        rustix::io::write(&fd, text).unwrap();
        fd
    }

    #[test]
    fn keymap_from_fd_and_modifiers() {
        let mut text = KEYMAP.as_bytes().to_vec();
        text.push(0);
        let fd = memfd_with(&text);
        let mut xkb = Xkb::new();
        xkb.load_from_fd(&fd, text.len() as u32).unwrap();
        assert!(xkb.has_keymap());
        let a = xkb.key_info(30);
        assert_eq!(a.keysym, 0x61);
        assert_eq!(a.keysym_name, "a");
        assert_eq!(a.utf8, "a");
        assert!(a.mods.is_empty());
        // Shift is real modifier 0.
        xkb.update_mask(1, 0, 0, 0);
        let a = xkb.key_info(30);
        assert_eq!(a.keysym, 0x41);
        assert_eq!(a.keysym_name, "A");
        assert_eq!(a.utf8, "A");
        assert_eq!(a.mods, vec!["Shift".to_owned()]);
        let unknown = xkb.key_info(200);
        assert_eq!(unknown.keysym, 0);
        assert_eq!(unknown.keysym_name, "NoSymbol");
    }

    #[test]
    fn bad_keymap_is_an_error() {
        let mut xkb = Xkb::new();
        assert!(xkb.load_from_string("garbage\0more".into()).is_err());
        assert!(!xkb.has_keymap());
        let fd = memfd_with(b"x");
        assert!(xkb.load_from_fd(&fd, 0).is_err());
        assert_eq!(xkb.key_info(30).keysym, 0);
    }
}
