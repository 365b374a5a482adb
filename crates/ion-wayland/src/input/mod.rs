//! Where a session's input goes. The keyboard is the compositor's virtual
//! keyboard; pointer and touch go through one small seam,
//! [`PointerBackend`], with interchangeable back-ends: the virtual-pointer
//! protocol where the compositor has it (wlroots), the kernel's uinput
//! otherwise (cosmic-comp, and touch everywhere). EIS to the compositor
//! joins them when a compositor offers it.

pub mod uinput;
pub mod virtual_keyboard;
pub mod virtual_pointer;

use ion_core::layout::LayoutBox;
use ion_core::InputEvent;

/// Forces a pointer path, for tests and as an escape hatch:
/// `virtual-pointer`, `uinput` or `none`. Unset: the best that works.
pub const POINTER_VAR: &str = "IONCHANNEL_POINTER";

/// A way to move the pointer (and, for some, to touch the screen).
pub trait PointerBackend {
    /// Its name for logs and `doctor`.
    fn name(&self) -> &'static str;
    /// Whether touch events reach a touchscreen through it.
    fn touch(&self) -> bool;
    /// Sends one event (validated and admitted by `HeldInput` before).
    fn send(&mut self, event: &InputEvent, layout: Option<LayoutBox>, time: u32);
    /// Lifts whatever the device itself still holds (touch contacts) after
    /// the session's own releases went out.
    fn lift_all(&mut self, time: u32);
    /// Ends the device: the compositor forgets it.
    fn destroy(&mut self);
}

/// The pointer paths, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerPath {
    VirtualPointer,
    Uinput,
}

impl PointerPath {
    pub fn name(self) -> &'static str {
        match self {
            Self::VirtualPointer => "zwlr_virtual_pointer_v1",
            Self::Uinput => "uinput",
        }
    }
}

/// What [`POINTER_VAR`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerChoice {
    Best,
    Only(PointerPath),
    None,
}

impl PointerChoice {
    /// Reads [`POINTER_VAR`]; an unknown value is said and ignored.
    pub fn from_env() -> Self {
        match std::env::var(POINTER_VAR).as_deref() {
            Err(_) | Ok("") => Self::Best,
            Ok("virtual-pointer") => Self::Only(PointerPath::VirtualPointer),
            Ok("uinput") => Self::Only(PointerPath::Uinput),
            Ok("none") => Self::None,
            Ok(other) => {
                tracing::warn!(
                    "{POINTER_VAR}={other:?} is not virtual-pointer, uinput or none; ignored"
                );
                Self::Best
            }
        }
    }

    /// The path for a pointer, given what works here. The virtual-pointer
    /// protocol first: the compositor knows the device is virtual, and no
    /// device node is needed.
    pub fn pick(self, virtual_pointer: bool, uinput: bool) -> Option<PointerPath> {
        let works = |p: PointerPath| match p {
            PointerPath::VirtualPointer => virtual_pointer,
            PointerPath::Uinput => uinput,
        };
        match self {
            Self::Best => [PointerPath::VirtualPointer, PointerPath::Uinput]
                .into_iter()
                .find(|p| works(*p)),
            Self::Only(p) => works(p).then_some(p),
            Self::None => None,
        }
    }

    /// The path for touch: only uinput has a touchscreen (wlroots has no
    /// virtual-touch protocol).
    pub fn pick_touch(self, uinput: bool) -> bool {
        uinput && matches!(self, Self::Best | Self::Only(PointerPath::Uinput))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_virtual_pointer_comes_first_and_uinput_is_the_fallback() {
        let best = PointerChoice::Best;
        assert_eq!(best.pick(true, true), Some(PointerPath::VirtualPointer));
        assert_eq!(best.pick(false, true), Some(PointerPath::Uinput));
        assert_eq!(best.pick(true, false), Some(PointerPath::VirtualPointer));
        assert_eq!(best.pick(false, false), None);
        let uinput = PointerChoice::Only(PointerPath::Uinput);
        assert_eq!(uinput.pick(true, true), Some(PointerPath::Uinput));
        assert_eq!(uinput.pick(true, false), None, "forced, but not writable");
        assert_eq!(PointerChoice::None.pick(true, true), None);
        assert!(best.pick_touch(true));
        assert!(!best.pick_touch(false));
        assert!(!PointerChoice::Only(PointerPath::VirtualPointer).pick_touch(true));
        assert!(!PointerChoice::None.pick_touch(true));
    }
}
