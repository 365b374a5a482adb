//! Validation of input calls, from the portal (Notify*) or EIS, into
//! [`InputEvent`]s.
//!
//! The frontend checks only a little (state, granted device, and that an
//! absolute position fits *some* stream); everything else reaches the
//! backend as sent. Every argument is checked here against the session.

use crate::device::{DeviceType, DeviceTypes};
use crate::error::InputError;
use crate::input::{Axis, InputEvent, KeyState};
use crate::layout::{Rect, StreamRegion};
use crate::session::SessionState;

/// Largest relative motion accepted in one event, in logical pixels.
pub const MAX_RELATIVE: f64 = 10_000.0;
/// Largest smooth-scroll distance accepted in one event, in logical pixels.
pub const MAX_AXIS: f64 = 10_000.0;
/// Most wheel clicks accepted in one discrete scroll event.
pub const MAX_DISCRETE_STEPS: i32 = 120;
/// Pointer buttons: the evdev BTN_MOUSE block, BTN_LEFT (0x110) to BTN_TASK (0x117).
pub const BUTTONS: std::ops::RangeInclusive<i32> = 0x110..=0x117;
/// Keyboard keys: evdev codes 1 (KEY_ESC) to KEY_MAX (0x2ff).
pub const KEYCODES: std::ops::RangeInclusive<i32> = 1..=0x2ff;
/// Keysyms: 1 to XKB_KEYSYM_MAX. Whether the keysym means anything is
/// checked where the keymap lives.
pub const KEYSYMS: std::ops::RangeInclusive<i32> = 1..=0x1fff_ffff;
/// Touch slots accepted.
pub const MAX_TOUCH_SLOTS: u32 = 16;

/// An input call as it arrives, before any check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NotifyCall {
    PointerMotion {
        dx: f64,
        dy: f64,
    },
    PointerMotionAbsolute {
        stream: u32,
        x: f64,
        y: f64,
    },
    /// An absolute position in the global logical layout, from an EIS
    /// absolute pointer on a session without streams (its regions are the
    /// outputs). Notify* has no such call.
    PointerMotionGlobal {
        x: f64,
        y: f64,
    },
    PointerButton {
        button: i32,
        state: u32,
    },
    PointerAxis {
        dx: f64,
        dy: f64,
        finish: bool,
    },
    PointerAxisDiscrete {
        axis: u32,
        steps: i32,
    },
    KeyboardKeycode {
        keycode: i32,
        state: u32,
    },
    KeyboardKeysym {
        keysym: i32,
        state: u32,
    },
    TouchDown {
        stream: u32,
        slot: u32,
        x: f64,
        y: f64,
    },
    TouchMotion {
        stream: u32,
        slot: u32,
        x: f64,
        y: f64,
    },
    TouchUp {
        slot: u32,
    },
    /// A contact put down at a position in the global logical layout, from
    /// an EIS touchscreen on a session without streams (its regions are the
    /// outputs). Notify* has no such call.
    TouchDownGlobal {
        slot: u32,
        x: f64,
        y: f64,
    },
    /// A contact moved in the global logical layout (EIS only, as above).
    TouchMotionGlobal {
        slot: u32,
        x: f64,
        y: f64,
    },
}

impl NotifyCall {
    /// The device type this call needs.
    pub fn device(&self) -> DeviceType {
        match self {
            Self::PointerMotion { .. }
            | Self::PointerMotionAbsolute { .. }
            | Self::PointerMotionGlobal { .. }
            | Self::PointerButton { .. }
            | Self::PointerAxis { .. }
            | Self::PointerAxisDiscrete { .. } => DeviceType::Pointer,
            Self::KeyboardKeycode { .. } | Self::KeyboardKeysym { .. } => DeviceType::Keyboard,
            Self::TouchDown { .. }
            | Self::TouchMotion { .. }
            | Self::TouchUp { .. }
            | Self::TouchDownGlobal { .. }
            | Self::TouchMotionGlobal { .. } => DeviceType::Touchscreen,
        }
    }
}

/// Where an input call came from. Once a session has called ConnectToEIS
/// its input belongs to that EIS connection alone: Notify* calls are
/// refused, and EIS events are refused on a session without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputOrigin {
    /// A `Notify*` call through the portal.
    Notify,
    /// An event from the session's EIS connection.
    Eis,
}

/// What a session allows, as validation needs it.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    pub state: SessionState,
    pub devices: DeviceTypes,
    pub streams: &'a [StreamRegion],
    /// The outputs' logical rectangles, for positions in the global layout.
    pub layout: &'a [Rect],
    /// Whether ConnectToEIS was called on the session.
    pub eis_active: bool,
    pub origin: InputOrigin,
}

fn finite(what: &'static str, value: f64, max: f64) -> Result<f64, InputError> {
    if !value.is_finite() {
        return Err(InputError::NotFinite { what, value });
    }
    if value.abs() > max {
        return Err(InputError::OutOfRange {
            what,
            value: value.to_string(),
            range: "|value| <= 10000",
        });
    }
    Ok(value)
}

fn in_range(
    what: &'static str,
    value: i32,
    range: &std::ops::RangeInclusive<i32>,
    text: &'static str,
) -> Result<u32, InputError> {
    if !range.contains(&value) {
        return Err(InputError::OutOfRange {
            what,
            value: value.to_string(),
            range: text,
        });
    }
    // The ranges above are all non-negative.
    u32::try_from(value).map_err(|_| InputError::OutOfRange {
        what,
        value: value.to_string(),
        range: text,
    })
}

fn key_state(state: u32) -> Result<KeyState, InputError> {
    KeyState::from_portal(state).ok_or(InputError::OutOfRange {
        what: "state",
        value: state.to_string(),
        range: "0 (released) or 1 (pressed)",
    })
}

fn slot(slot: u32) -> Result<u32, InputError> {
    if slot >= MAX_TOUCH_SLOTS {
        return Err(InputError::OutOfRange {
            what: "slot",
            value: slot.to_string(),
            range: "0..16",
        });
    }
    Ok(slot)
}

fn stream<'a>(grant: &Grant<'a>, id: u32) -> Result<&'a StreamRegion, InputError> {
    grant
        .streams
        .iter()
        .find(|s| s.stream_id == id)
        .ok_or(InputError::UnknownStream(id))
}

/// A position in the global logical layout (EIS only): finite and on one
/// of the outputs.
fn global(grant: &Grant<'_>, x: f64, y: f64) -> Result<(f64, f64), InputError> {
    if grant.origin != InputOrigin::Eis {
        return Err(InputError::OutOfRange {
            what: "call",
            value: "a position in the global layout".into(),
            range: "EIS only",
        });
    }
    let (x, y) = (
        finite("x", x, f64::from(i32::MAX))?,
        finite("y", y, f64::from(i32::MAX))?,
    );
    if !grant.layout.iter().any(|r| r.contains(x, y)) {
        return Err(InputError::OffLayout { x, y });
    }
    Ok((x, y))
}

/// Checks one call against the session and turns it into an event.
pub fn validate(call: &NotifyCall, grant: &Grant<'_>) -> Result<InputEvent, InputError> {
    if grant.state != SessionState::Started {
        return Err(InputError::WrongState(grant.state));
    }
    match (grant.origin, grant.eis_active) {
        (InputOrigin::Notify, true) => return Err(InputError::EisActive),
        (InputOrigin::Eis, false) => return Err(InputError::NoEis),
        _ => {}
    }
    let device = call.device();
    if !grant.devices.contains(device) {
        return Err(InputError::DeviceNotGranted(device));
    }
    Ok(match *call {
        NotifyCall::PointerMotion { dx, dy } => InputEvent::PointerMotion {
            dx: finite("dx", dx, MAX_RELATIVE)?,
            dy: finite("dy", dy, MAX_RELATIVE)?,
        },
        NotifyCall::PointerMotionAbsolute { stream: id, x, y } => {
            let (x, y) = stream(grant, id)?.to_global(x, y)?;
            InputEvent::PointerMotionAbsolute { x, y }
        }
        NotifyCall::PointerMotionGlobal { x, y } => {
            let (x, y) = global(grant, x, y)?;
            InputEvent::PointerMotionAbsolute { x, y }
        }
        NotifyCall::PointerButton { button, state } => InputEvent::PointerButton {
            button: in_range(
                "button",
                button,
                &BUTTONS,
                "evdev BTN_LEFT..BTN_TASK (0x110..=0x117)",
            )?,
            state: key_state(state)?,
        },
        NotifyCall::PointerAxis { dx, dy, finish } => InputEvent::PointerAxis {
            dx: finite("dx", dx, MAX_AXIS)?,
            dy: finite("dy", dy, MAX_AXIS)?,
            finish,
        },
        NotifyCall::PointerAxisDiscrete { axis, steps } => {
            let axis = Axis::from_portal(axis).ok_or(InputError::OutOfRange {
                what: "axis",
                value: axis.to_string(),
                range: "0 (vertical) or 1 (horizontal)",
            })?;
            // unsigned_abs: i32::MIN.abs() overflows (a panic in debug
            // builds; in release it stays negative and passed this check).
            // Found by `ionchannel-lab fuzz --target dbus`.
            if steps == 0 || steps.unsigned_abs() > MAX_DISCRETE_STEPS.unsigned_abs() {
                return Err(InputError::OutOfRange {
                    what: "steps",
                    value: steps.to_string(),
                    range: "-120..=120, not 0",
                });
            }
            InputEvent::PointerAxisDiscrete { axis, steps }
        }
        NotifyCall::KeyboardKeycode { keycode, state } => InputEvent::KeyboardKeycode {
            keycode: in_range("keycode", keycode, &KEYCODES, "evdev 1..=KEY_MAX (0x2ff)")?,
            state: key_state(state)?,
        },
        NotifyCall::KeyboardKeysym { keysym, state } => InputEvent::KeyboardKeysym {
            keysym: in_range("keysym", keysym, &KEYSYMS, "1..=0x1fffffff")?,
            state: key_state(state)?,
        },
        NotifyCall::TouchDown {
            stream: id,
            slot: s,
            x,
            y,
        } => {
            let (x, y) = stream(grant, id)?.to_global(x, y)?;
            InputEvent::TouchDown {
                slot: slot(s)?,
                x,
                y,
            }
        }
        NotifyCall::TouchMotion {
            stream: id,
            slot: s,
            x,
            y,
        } => {
            let (x, y) = stream(grant, id)?.to_global(x, y)?;
            InputEvent::TouchMotion {
                slot: slot(s)?,
                x,
                y,
            }
        }
        NotifyCall::TouchUp { slot: s } => InputEvent::TouchUp { slot: slot(s)? },
        NotifyCall::TouchDownGlobal { slot: s, x, y } => {
            let (x, y) = global(grant, x, y)?;
            InputEvent::TouchDown {
                slot: slot(s)?,
                x,
                y,
            }
        }
        NotifyCall::TouchMotionGlobal { slot: s, x, y } => {
            let (x, y) = global(grant, x, y)?;
            InputEvent::TouchMotion {
                slot: slot(s)?,
                x,
                y,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Rect;

    const STREAMS: [StreamRegion; 2] = [
        StreamRegion {
            stream_id: 40,
            space: (1920, 1080),
            logical: Rect {
                x: 0,
                y: 0,
                width: 1920,
                height: 1080,
            },
        },
        StreamRegion {
            stream_id: 41,
            space: (1280, 720),
            logical: Rect {
                x: 1920,
                y: 0,
                width: 1280,
                height: 720,
            },
        },
    ];

    const LAYOUT: [Rect; 2] = [STREAMS[0].logical, STREAMS[1].logical];

    fn started(devices: u32) -> Grant<'static> {
        Grant {
            state: SessionState::Started,
            devices: DeviceTypes::from_bits(devices).unwrap(),
            streams: &STREAMS,
            layout: &LAYOUT,
            eis_active: false,
            origin: InputOrigin::Notify,
        }
    }

    #[test]
    fn global_positions_are_eis_only_and_on_an_output() {
        let eis = Grant {
            streams: &[],
            eis_active: true,
            origin: InputOrigin::Eis,
            ..started(2)
        };
        let at = |x, y| NotifyCall::PointerMotionGlobal { x, y };
        assert_eq!(
            validate(&at(1930.5, 700.0), &eis),
            Ok(InputEvent::PointerMotionAbsolute {
                x: 1930.5,
                y: 700.0
            })
        );
        // Below the smaller output, past the right edge, NaN: no output.
        for (x, y) in [(1930.0, 720.0), (3200.0, 0.0), (-1.0, 0.0), (f64::NAN, 0.0)] {
            assert!(validate(&at(x, y), &eis).is_err(), "({x}, {y})");
        }
        assert!(
            validate(&at(10.0, 10.0), &started(2)).is_err(),
            "Notify* has none"
        );
    }

    #[test]
    fn global_touches_are_eis_only_on_an_output_and_in_a_slot() {
        let eis = Grant {
            streams: &[],
            eis_active: true,
            origin: InputOrigin::Eis,
            ..started(4)
        };
        let down = |slot, x, y| NotifyCall::TouchDownGlobal { slot, x, y };
        let moved = |slot, x, y| NotifyCall::TouchMotionGlobal { slot, x, y };
        assert_eq!(
            validate(&down(3, 1930.5, 700.0), &eis),
            Ok(InputEvent::TouchDown {
                slot: 3,
                x: 1930.5,
                y: 700.0
            })
        );
        assert_eq!(
            validate(&moved(3, 100.0, 1079.5), &eis),
            Ok(InputEvent::TouchMotion {
                slot: 3,
                x: 100.0,
                y: 1079.5
            })
        );
        for (x, y) in [(1930.0, 720.0), (3200.0, 0.0), (f64::INFINITY, 0.0)] {
            assert!(validate(&down(0, x, y), &eis).is_err(), "({x}, {y})");
            assert!(validate(&moved(0, x, y), &eis).is_err(), "({x}, {y})");
        }
        assert!(validate(&down(MAX_TOUCH_SLOTS, 1.0, 1.0), &eis).is_err());
        // Not without touch granted, and not through Notify*.
        let pointer_only = Grant {
            devices: DeviceTypes::from_bits(2).unwrap(),
            ..eis
        };
        assert_eq!(
            validate(&down(0, 1.0, 1.0), &pointer_only),
            Err(InputError::DeviceNotGranted(DeviceType::Touchscreen))
        );
        assert!(validate(&down(0, 1.0, 1.0), &started(4)).is_err());
    }

    #[test]
    fn good_calls_pass() {
        let g = started(3);
        assert_eq!(
            validate(
                &NotifyCall::PointerMotionAbsolute {
                    stream: 41,
                    x: 10.0,
                    y: 20.0
                },
                &g
            ),
            Ok(InputEvent::PointerMotionAbsolute { x: 1930.0, y: 20.0 })
        );
        assert_eq!(
            validate(
                &NotifyCall::KeyboardKeycode {
                    keycode: 30,
                    state: 1
                },
                &g
            ),
            Ok(InputEvent::KeyboardKeycode {
                keycode: 30,
                state: KeyState::Pressed
            })
        );
        assert!(validate(
            &NotifyCall::PointerButton {
                button: 0x110,
                state: 0
            },
            &g
        )
        .is_ok());
        assert!(validate(&NotifyCall::PointerAxisDiscrete { axis: 1, steps: -2 }, &g).is_ok());
        assert!(validate(
            &NotifyCall::KeyboardKeysym {
                keysym: 0x20ac,
                state: 1
            },
            &g
        )
        .is_ok());
    }

    #[test]
    fn bad_calls_are_refused_with_a_reason() {
        let g = started(3);
        let bad = [
            (
                NotifyCall::PointerMotion {
                    dx: f64::NAN,
                    dy: 0.0,
                },
                "not a finite",
            ),
            (
                NotifyCall::PointerMotion {
                    dx: 0.0,
                    dy: f64::NEG_INFINITY,
                },
                "not a finite",
            ),
            (
                NotifyCall::PointerMotion { dx: 1e9, dy: 0.0 },
                "out of range",
            ),
            (
                NotifyCall::PointerMotionAbsolute {
                    stream: 7,
                    x: 1.0,
                    y: 1.0,
                },
                "unknown stream",
            ),
            (
                NotifyCall::PointerMotionAbsolute {
                    stream: 41,
                    x: 1280.0,
                    y: 1.0,
                },
                "out of range",
            ),
            (
                NotifyCall::PointerMotionAbsolute {
                    stream: 41,
                    x: 1.0,
                    y: f64::NAN,
                },
                "not a finite",
            ),
            (
                NotifyCall::PointerButton {
                    button: 30,
                    state: 1,
                },
                "out of range",
            ),
            (
                NotifyCall::PointerButton {
                    button: -1,
                    state: 1,
                },
                "out of range",
            ),
            (
                NotifyCall::PointerButton {
                    button: 0x110,
                    state: 2,
                },
                "out of range",
            ),
            (
                NotifyCall::PointerAxis {
                    dx: f64::INFINITY,
                    dy: 0.0,
                    finish: false,
                },
                "not a finite",
            ),
            (
                NotifyCall::PointerAxisDiscrete { axis: 2, steps: 1 },
                "out of range",
            ),
            (
                NotifyCall::PointerAxisDiscrete { axis: 0, steps: 0 },
                "out of range",
            ),
            // i32::MIN has no absolute value in i32 (the D-Bus fuzzer's
            // first finding: a panic in debug, accepted in release).
            (
                NotifyCall::PointerAxisDiscrete {
                    axis: 0,
                    steps: i32::MIN,
                },
                "out of range",
            ),
            (
                NotifyCall::PointerAxisDiscrete {
                    axis: 1,
                    steps: -121,
                },
                "out of range",
            ),
            (
                NotifyCall::KeyboardKeycode {
                    keycode: 0,
                    state: 1,
                },
                "out of range",
            ),
            (
                NotifyCall::KeyboardKeycode {
                    keycode: 0x300,
                    state: 1,
                },
                "out of range",
            ),
            (
                NotifyCall::KeyboardKeysym {
                    keysym: -5,
                    state: 1,
                },
                "out of range",
            ),
            (
                NotifyCall::KeyboardKeysym {
                    keysym: 0x2000_0000,
                    state: 1,
                },
                "out of range",
            ),
        ];
        for (call, why) in bad {
            let err = validate(&call, &g).expect_err(&format!("{call:?} must be refused"));
            assert!(err.to_string().contains(why), "{call:?}: {err}");
        }
    }

    #[test]
    fn state_device_and_eis_gate_everything() {
        let mut g = started(2);
        let key = NotifyCall::KeyboardKeycode {
            keycode: 30,
            state: 1,
        };
        assert_eq!(
            validate(&key, &g),
            Err(InputError::DeviceNotGranted(DeviceType::Keyboard))
        );
        let touch = NotifyCall::TouchUp { slot: 0 };
        assert_eq!(
            validate(&touch, &g),
            Err(InputError::DeviceNotGranted(DeviceType::Touchscreen))
        );
        let motion = NotifyCall::PointerMotion { dx: 1.0, dy: 1.0 };
        g.eis_active = true;
        assert_eq!(validate(&motion, &g), Err(InputError::EisActive));
        g.origin = InputOrigin::Eis;
        assert!(validate(&motion, &g).is_ok());
        g.eis_active = false;
        assert_eq!(validate(&motion, &g), Err(InputError::NoEis));
        g.origin = InputOrigin::Notify;
        for state in [
            SessionState::Created,
            SessionState::Starting,
            SessionState::Closed,
        ] {
            g.state = state;
            assert_eq!(validate(&motion, &g), Err(InputError::WrongState(state)));
        }
    }
}
