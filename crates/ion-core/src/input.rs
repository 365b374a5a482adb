//! The one input event type of ionChannel.
//!
//! The portal's Notify* calls (and later EIS) are validated into these
//! events; the Wayland side turns them into virtual-device requests. Absolute
//! positions are already mapped to the compositor's global logical layout
//! space, so the injecting side knows nothing of streams.

/// Key or button state, as the portal encodes it (0 released, 1 pressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    Released,
    Pressed,
}

impl KeyState {
    /// Pressed when `pressed`, else released.
    pub fn from_bool(pressed: bool) -> Self {
        if pressed {
            Self::Pressed
        } else {
            Self::Released
        }
    }

    pub fn from_portal(state: u32) -> Option<Self> {
        match state {
            0 => Some(Self::Released),
            1 => Some(Self::Pressed),
            _ => None,
        }
    }

    pub fn is_pressed(self) -> bool {
        self == Self::Pressed
    }
}

/// Scroll axis, as the portal encodes it (0 vertical, 1 horizontal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Axis {
    Vertical,
    Horizontal,
}

impl Axis {
    pub fn from_portal(axis: u32) -> Option<Self> {
        match axis {
            0 => Some(Self::Vertical),
            1 => Some(Self::Horizontal),
            _ => None,
        }
    }
}

/// A validated input event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputEvent {
    /// Relative motion in logical pixels.
    PointerMotion {
        dx: f64,
        dy: f64,
    },
    /// Absolute position in the global logical layout space.
    PointerMotionAbsolute {
        x: f64,
        y: f64,
    },
    /// evdev button code (BTN_LEFT = 0x110 ...).
    PointerButton {
        button: u32,
        state: KeyState,
    },
    /// Smooth scroll in logical pixels; `finish` ends the scroll sequence
    /// (kinetic scrolling stops).
    PointerAxis {
        dx: f64,
        dy: f64,
        finish: bool,
    },
    /// Wheel clicks.
    PointerAxisDiscrete {
        axis: Axis,
        steps: i32,
    },
    /// evdev key code (KEY_A = 30 ...).
    KeyboardKeycode {
        keycode: u32,
        state: KeyState,
    },
    /// X keysym; the injecting side finds (or makes) a key for it.
    KeyboardKeysym {
        keysym: u32,
        state: KeyState,
    },
    /// Touch, positions in the global logical layout space.
    TouchDown {
        slot: u32,
        x: f64,
        y: f64,
    },
    TouchMotion {
        slot: u32,
        x: f64,
        y: f64,
    },
    TouchUp {
        slot: u32,
    },
}

impl InputEvent {
    /// Short name for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PointerMotion { .. } => "pointer-motion",
            Self::PointerMotionAbsolute { .. } => "pointer-motion-absolute",
            Self::PointerButton { .. } => "pointer-button",
            Self::PointerAxis { .. } => "pointer-axis",
            Self::PointerAxisDiscrete { .. } => "pointer-axis-discrete",
            Self::KeyboardKeycode { .. } => "keyboard-keycode",
            Self::KeyboardKeysym { .. } => "keyboard-keysym",
            Self::TouchDown { .. } => "touch-down",
            Self::TouchMotion { .. } => "touch-motion",
            Self::TouchUp { .. } => "touch-up",
        }
    }

    /// Whether this event lets go of something held (a release or a touch
    /// up). Such events are never rate limited: dropping one would leave a
    /// key stuck.
    pub fn is_release(&self) -> bool {
        match self {
            Self::PointerButton { state, .. }
            | Self::KeyboardKeycode { state, .. }
            | Self::KeyboardKeysym { state, .. } => !state.is_pressed(),
            Self::TouchUp { .. } => true,
            _ => false,
        }
    }
}
