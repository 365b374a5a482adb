//! What a compositor accepts from a virtual device: the oracle for every
//! event the stand-in is told.

use ion_core::InputEvent;
use ion_wayland::command::LogicalRect;

use super::{FOREIGN_DX, FOREIGN_KEY};

/// What a compositor accepts from a virtual device: the oracle for every
/// event the stand-in is told, whatever path it came by.
pub(super) fn acceptable(event: &InputEvent, layout: &[LogicalRect]) -> Result<(), String> {
    use ion_core::validate::{
        BUTTONS, KEYCODES, KEYSYMS, MAX_AXIS, MAX_DISCRETE_STEPS, MAX_RELATIVE, MAX_TOUCH_SLOTS,
    };
    let bounded = |v: f64, max: f64| v.is_finite() && v.abs() <= max;
    let on_layout = |x: f64, y: f64| {
        x.is_finite()
            && y.is_finite()
            && layout.iter().any(|r| {
                x >= f64::from(r.x)
                    && x <= f64::from(r.x + r.width)
                    && y >= f64::from(r.y)
                    && y <= f64::from(r.y + r.height)
            })
    };
    let ok = match *event {
        InputEvent::PointerMotion { dx, dy } => {
            if dx == FOREIGN_DX {
                return Err(format!(
                    "motion from the connection that does not own the session reached the compositor: {event:?}"
                ));
            }
            bounded(dx, MAX_RELATIVE) && bounded(dy, MAX_RELATIVE)
        }
        InputEvent::PointerMotionAbsolute { x, y } => on_layout(x, y),
        InputEvent::PointerButton { button, .. } => {
            i32::try_from(button).is_ok_and(|b| BUTTONS.contains(&b))
        }
        InputEvent::PointerAxis { dx, dy, .. } => bounded(dx, MAX_AXIS) && bounded(dy, MAX_AXIS),
        InputEvent::PointerAxisDiscrete { steps, .. } => {
            steps != 0 && steps.unsigned_abs() <= MAX_DISCRETE_STEPS.unsigned_abs()
        }
        InputEvent::KeyboardKeycode { keycode, .. } => {
            if i32::try_from(keycode) == Ok(FOREIGN_KEY) {
                return Err(format!(
                    "a key from the connection that does not own the session reached the compositor: {event:?}"
                ));
            }
            i32::try_from(keycode).is_ok_and(|k| KEYCODES.contains(&k))
        }
        InputEvent::KeyboardKeysym { keysym, .. } => {
            i32::try_from(keysym).is_ok_and(|k| KEYSYMS.contains(&k))
        }
        InputEvent::TouchDown { slot, x, y } | InputEvent::TouchMotion { slot, x, y } => {
            slot < MAX_TOUCH_SLOTS && on_layout(x, y)
        }
        InputEvent::TouchUp { slot } => slot < MAX_TOUCH_SLOTS,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the compositor was told what it would refuse: {event:?}"
        ))
    }
}
