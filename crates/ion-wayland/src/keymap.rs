//! The virtual keyboard's keymap: the user's layout, how to type any keysym
//! with it, and how to extend it when a keysym is not on it.
//!
//! The portal's `NotifyKeyboardKeysym` names a symbol, not a key. We look
//! the keysym up in the layout (layout 0, every level) and press the key with
//! the modifiers that select that level. A keysym the layout lacks (an "é"
//! on a US layout) is bound to a key that has no symbols in the layout, and
//! the extended keymap is sent to the compositor before the key is pressed:
//! the same technique as wtype and wayvnc, which also write keymaps.

use std::collections::HashMap;

use xkbcommon::xkb;

/// RMLVO names of the layout to use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeymapNames {
    pub rules: String,
    pub model: String,
    pub layout: String,
    pub variant: String,
    pub options: Option<String>,
}

impl KeymapNames {
    /// The user's layout from the usual XKB settings: the `XKB_DEFAULT_*`
    /// variables (what compositors read), then Debian's
    /// `/etc/default/keyboard`; empty fields fall back to libxkbcommon's
    /// defaults (evdev, pc105, us).
    pub fn from_environment() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut names = Self {
            rules: env("XKB_DEFAULT_RULES").unwrap_or_default(),
            model: env("XKB_DEFAULT_MODEL").unwrap_or_default(),
            layout: env("XKB_DEFAULT_LAYOUT").unwrap_or_default(),
            variant: env("XKB_DEFAULT_VARIANT").unwrap_or_default(),
            options: env("XKB_DEFAULT_OPTIONS"),
        };
        if names.layout.is_empty() {
            if let Ok(text) = std::fs::read_to_string("/etc/default/keyboard") {
                names.fill_from_default_keyboard(&text);
            }
        }
        names
    }

    /// Reads the shell-style `XKBLAYOUT="de"` lines of /etc/default/keyboard.
    pub fn fill_from_default_keyboard(&mut self, text: &str) {
        for line in text.lines() {
            let Some((key, value)) = line.trim().split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"').to_string();
            if value.is_empty() {
                continue;
            }
            match key.trim() {
                "XKBMODEL" => self.model = value,
                "XKBLAYOUT" => self.layout = value,
                "XKBVARIANT" => self.variant = value,
                "XKBOPTIONS" => self.options = Some(value),
                _ => {}
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("cannot compile an XKB keymap for {0:?} (is xkb-data installed?)")]
    Compile(KeymapNames),
    #[error("the extended keymap did not compile")]
    Extend,
    #[error("keysym {0:#x} has no name: not a keysym")]
    UnknownKeysym(u32),
    #[error("no free key left to bind keysym {0:#x}")]
    NoFreeKey(u32),
}

/// How to produce a keysym: press `keycode` (evdev) with `mods` depressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPlan {
    pub keycode: u32,
    pub mods: xkb::ModMask,
}

/// Whether `keysym` is a real keysym: it has a name, or is a Unicode keysym.
pub fn keysym_is_known(keysym: u32) -> bool {
    if keysym == 0 {
        return false;
    }
    if (0x0100_0100..=0x0110_ffff).contains(&keysym) {
        return true;
    }
    let name = xkb::keysym_get_name(xkb::Keysym::new(keysym));
    // Unnamed keysyms come back as a hex literal.
    !name.is_empty() && !name.starts_with("0x")
}

const EVDEV_OFFSET: u32 = 8;

pub struct Keymap {
    context: xkb::Context,
    keymap: xkb::Keymap,
    /// The layout's own keymap text, which extensions are added to.
    base: String,
    /// The text of the current keymap, sent to the compositor.
    text: String,
    /// Keycodes (xkb) that the layout leaves empty, free to bind.
    free: Vec<u32>,
    /// Keysyms we bound ourselves, with their key, in binding order.
    bound: Vec<(u32, u32)>,
    /// Memo of lookups on the current keymap.
    plans: HashMap<u32, KeyPlan>,
}

impl Keymap {
    pub fn new(names: &KeymapNames) -> Result<Self, KeymapError> {
        let context = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
        let keymap = xkb::Keymap::new_from_names(
            &context,
            &names.rules,
            &names.model,
            &names.layout,
            &names.variant,
            names.options.clone(),
            xkb::KEYMAP_COMPILE_NO_FLAGS,
        )
        .ok_or_else(|| KeymapError::Compile(names.clone()))?;
        let text = keymap.get_as_string(xkb::KEYMAP_FORMAT_TEXT_V1);
        let free = free_keycodes(&keymap);
        Ok(Self {
            context,
            keymap,
            base: text.clone(),
            text,
            free,
            bound: Vec::new(),
            plans: HashMap::new(),
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn xkb(&self) -> &xkb::Keymap {
        &self.keymap
    }

    /// How to type `keysym` with the current keymap, if it is on it.
    pub fn lookup(&mut self, keysym: u32) -> Option<KeyPlan> {
        if let Some(plan) = self.plans.get(&keysym) {
            return Some(*plan);
        }
        let plan = find_key(&self.keymap, keysym)?;
        self.plans.insert(keysym, plan);
        Some(plan)
    }

    /// Binds `keysym` to a free key and recompiles. The caller must send
    /// [`Self::text`] to the compositor before pressing the key. Keys in
    /// `busy` (held down now) are not reused.
    pub fn extend(&mut self, keysym: u32, busy: &[u32]) -> Result<KeyPlan, KeymapError> {
        let name = xkb::keysym_get_name(xkb::Keysym::new(keysym));
        if !keysym_is_known(keysym) {
            return Err(KeymapError::UnknownKeysym(keysym));
        }
        let keycode = match self.free.pop() {
            Some(k) => k,
            None => {
                // Reuse the oldest binding whose key is not held.
                let pos = self
                    .bound
                    .iter()
                    .position(|(k, _)| !busy.contains(&(k - EVDEV_OFFSET)))
                    .ok_or(KeymapError::NoFreeKey(keysym))?;
                self.bound.remove(pos).0
            }
        };
        self.bound.push((keycode, keysym));
        let text = self.compose_text();
        let keymap = xkb::Keymap::new_from_string(
            &self.context,
            text,
            xkb::KEYMAP_FORMAT_TEXT_V1,
            xkb::KEYMAP_COMPILE_NO_FLAGS,
        )
        .ok_or(KeymapError::Extend)?;
        tracing::debug!(keysym = %name, keycode, "extended keymap");
        self.text = keymap.get_as_string(xkb::KEYMAP_FORMAT_TEXT_V1);
        self.keymap = keymap;
        self.plans.clear();
        self.lookup(keysym).ok_or(KeymapError::Extend)
    }

    /// The base keymap's text with our bindings added to its symbols
    /// section. Rewritten from the base each time so reused keys do not
    /// collect stale lines.
    fn compose_text(&self) -> String {
        // The xkb_symbols section ends with the first "\n};" after its
        // header; the compiled text always has this shape.
        let base = &self.base;
        let lines: String = self
            .bound
            .iter()
            .filter_map(|(keycode, keysym)| {
                let key = self.keymap.key_get_name(xkb::Keycode::new(*keycode))?;
                let sym = xkb::keysym_get_name(xkb::Keysym::new(*keysym));
                Some(format!("\tkey <{key}> {{ [ {sym} ] }};\n"))
            })
            .collect();
        let Some(start) = base.find("xkb_symbols") else {
            return base.clone();
        };
        let Some(end) = base[start..].find("\n};") else {
            return base.clone();
        };
        let at = start + end + 1;
        let mut out = String::with_capacity(base.len() + lines.len());
        out.push_str(&base[..at]);
        out.push_str(&lines);
        out.push_str(&base[at..]);
        out
    }
}

/// Keys with a name but no symbol in any layout: free to bind. Only
/// X11-legal keycodes (<= 255), since XWayland clients see the keymap too.
fn free_keycodes(keymap: &xkb::Keymap) -> Vec<u32> {
    let min = keymap.min_keycode().raw().max(EVDEV_OFFSET + 1);
    let max = keymap.max_keycode().raw().min(255);
    let mut free: Vec<u32> = (min..=max)
        .filter(|&k| {
            let kc = xkb::Keycode::new(k);
            keymap.key_get_name(kc).is_some() && keymap.num_layouts_for_key(kc) == 0
        })
        .collect();
    // Popped from the end: hand out high keycodes first, far from real keys.
    free.sort_unstable();
    free
}

/// The key and modifiers producing `keysym` in layout 0, preferring the
/// fewest modifiers and never relying on locks (Caps Lock, Num Lock).
/// Only X11-legal keycodes (<= 255) count: XWayland clients never see the
/// others (evdev's KEY_EURO is one), so such keysyms get a bound key instead.
fn find_key(keymap: &xkb::Keymap, keysym: u32) -> Option<KeyPlan> {
    let lock = mod_bit(keymap, xkb::MOD_NAME_CAPS);
    let num = mod_bit(keymap, xkb::MOD_NAME_NUM);
    let mut best: Option<(u32, KeyPlan)> = None;
    let min = keymap.min_keycode().raw();
    let max = keymap.max_keycode().raw().min(255);
    for k in min..=max {
        let kc = xkb::Keycode::new(k);
        if keymap.num_layouts_for_key(kc) == 0 || k < EVDEV_OFFSET {
            continue;
        }
        for level in 0..keymap.num_levels_for_key(kc, 0) {
            let syms = keymap.key_get_syms_by_level(kc, 0, level);
            if syms.len() != 1 || syms[0].raw() != keysym {
                continue;
            }
            let mut masks = [0 as xkb::ModMask; 16];
            let n = keymap.key_get_mods_for_level(kc, 0, level, &mut masks);
            for &mask in masks.iter().take(n) {
                if mask & (lock | num) != 0 {
                    continue;
                }
                let score = mask.count_ones();
                let plan = KeyPlan {
                    keycode: k - EVDEV_OFFSET,
                    mods: mask,
                };
                if best.is_none_or(|(s, _)| score < s) {
                    best = Some((score, plan));
                }
            }
        }
    }
    best.map(|(_, plan)| plan)
}

fn mod_bit(keymap: &xkb::Keymap, name: &str) -> xkb::ModMask {
    let idx = keymap.mod_get_index(name);
    if idx == xkb::MOD_INVALID {
        0
    } else {
        1 << idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Keymap {
        Keymap::new(&KeymapNames {
            layout: "us".into(),
            ..Default::default()
        })
        .expect("us keymap (xkb-data installed)")
    }

    const KEY_A: u32 = 30;
    const KEY_E: u32 = 18;

    #[test]
    fn plain_and_shifted_keysyms() {
        let mut km = us();
        let shift = mod_bit(km.xkb(), xkb::MOD_NAME_SHIFT);
        let a = km.lookup(xkb::keysyms::KEY_a).unwrap();
        assert_eq!(
            a,
            KeyPlan {
                keycode: KEY_A,
                mods: 0
            }
        );
        let big_a = km.lookup(xkb::keysyms::KEY_A).unwrap();
        assert_eq!(
            big_a,
            KeyPlan {
                keycode: KEY_A,
                mods: shift
            }
        );
        assert!(km.lookup(xkb::keysyms::KEY_eacute).is_none());
    }

    #[test]
    fn altgr_levels_on_a_german_layout() {
        let mut km = Keymap::new(&KeymapNames {
            layout: "de".into(),
            ..Default::default()
        })
        .unwrap();
        let level3 = mod_bit(km.xkb(), xkb::MOD_NAME_ISO_LEVEL3_SHIFT);
        let euro = km.lookup(xkb::keysyms::KEY_EuroSign).unwrap();
        assert_eq!(
            euro,
            KeyPlan {
                keycode: KEY_E,
                mods: level3
            }
        );
    }

    #[test]
    fn missing_keysyms_are_bound_to_free_keys() {
        let mut km = us();
        let before = km.text().len();
        let e = km.extend(xkb::keysyms::KEY_eacute, &[]).unwrap();
        assert_eq!(e.mods, 0);
        assert!(km.text().len() > before);
        let euro = km.extend(xkb::keysyms::KEY_EuroSign, &[]).unwrap();
        assert_ne!(euro.keycode, e.keycode);
        // Both stay bound, and the base layout is intact.
        assert_eq!(km.lookup(xkb::keysyms::KEY_eacute), Some(e));
        assert_eq!(
            km.lookup(xkb::keysyms::KEY_a).map(|p| p.keycode),
            Some(KEY_A)
        );
        // A Unicode keysym (U+1F600) works too.
        assert!(km.extend(0x0101_f600, &[]).is_ok());
    }

    #[test]
    fn bindings_are_recycled_when_keys_run_out() {
        let mut km = us();
        km.free.truncate(2);
        let one = km.extend(0x0100_0101, &[]).unwrap();
        let _two = km.extend(0x0100_0102, &[]).unwrap();
        // The oldest binding's key is held: the next one must take another.
        let three = km.extend(0x0100_0103, &[one.keycode]).unwrap();
        assert_ne!(three.keycode, one.keycode);
        assert!(km.lookup(0x0100_0101).is_some());
    }

    #[test]
    fn keysym_names() {
        assert!(keysym_is_known(xkb::keysyms::KEY_a));
        assert!(keysym_is_known(0x0100_20ac));
        assert!(!keysym_is_known(0));
        assert!(!keysym_is_known(0x1fff_fff0));
    }

    #[test]
    fn default_keyboard_file() {
        let mut n = KeymapNames::default();
        n.fill_from_default_keyboard(
            "XKBMODEL=\"pc105\"\nXKBLAYOUT=\"fr\"\nXKBVARIANT=\"\"\nXKBOPTIONS=\"\"\n",
        );
        assert_eq!((n.model.as_str(), n.layout.as_str()), ("pc105", "fr"));
        assert_eq!(n.options, None);
    }
}
