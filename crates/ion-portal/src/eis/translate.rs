//! EIS requests → the portal's input calls.
//!
//! An EIS event becomes the `NotifyCall` a portal client would have sent
//! for it, and then takes exactly the Notify* path: validation against the
//! session, the rate limit, the Wayland thread's channel. What is special
//! to EIS is decided here:
//! - absolute positions are global logical coordinates inside one of the
//!   offered regions; a position in no region is refused (the connection
//!   ends), otherwise it becomes stream coordinates of that region's stream,
//!   or stays global when the region is an output (no streams);
//! - discrete scrolling comes in 120ths of a wheel click; remainders are
//!   kept per device until they make whole clicks, which is what the
//!   compositor's wheel events carry.

use std::collections::HashMap;

use ion_core::validate::NotifyCall;
use reis::eis;
use reis::request::EisRequest;

use super::offer::EisOffer;

/// One wheel click in `ei_scroll.scroll_discrete` units.
pub const CLICK: i64 = 120;

/// Why an event cannot be translated: the client misbehaved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Untranslatable {
    #[error("absolute position ({x}, {y}) is in none of the offered regions")]
    OutsideRegions { x: f64, y: f64 },
    #[error("{what} {value} is out of range")]
    OutOfRange { what: &'static str, value: u64 },
    #[error("{0} events are not offered")]
    NotOffered(&'static str),
}

/// Per-device scroll remainders, in 120ths of a click.
#[derive(Debug, Default)]
pub struct Translator {
    remainders: HashMap<u64, (i64, i64)>,
}

/// Adds `value` (120ths of a click) to the remainder `rem` and takes out
/// the whole clicks, rounding toward zero: the sign of what is left is the
/// sign of the scrolling, so a change of direction cancels part of it.
pub fn whole_clicks(rem: &mut i64, value: i32) -> i64 {
    let total = *rem + i64::from(value);
    *rem = total % CLICK;
    total / CLICK
}

fn signed(what: &'static str, value: u32) -> Result<i32, Untranslatable> {
    i32::try_from(value).map_err(|_| Untranslatable::OutOfRange {
        what,
        value: u64::from(value),
    })
}

fn key_state(state: eis::keyboard::KeyState) -> u32 {
    match state {
        eis::keyboard::KeyState::Released => 0,
        eis::keyboard::KeyState::Press => 1,
    }
}

fn button_state(state: eis::button::ButtonState) -> u32 {
    match state {
        eis::button::ButtonState::Released => 0,
        eis::button::ButtonState::Press => 1,
    }
}

impl Translator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets a device's remainders (it is gone, or stopped emulating).
    pub fn forget(&mut self, device: u64) {
        self.remainders.remove(&device);
    }

    /// The calls one input request stands for (none, one or two). Requests
    /// that are not input give none.
    pub fn translate(
        &mut self,
        device: u64,
        request: &EisRequest,
        offer: &EisOffer,
    ) -> Result<Vec<NotifyCall>, Untranslatable> {
        Ok(match request {
            EisRequest::PointerMotion(m) => vec![NotifyCall::PointerMotion {
                dx: f64::from(m.dx),
                dy: f64::from(m.dy),
            }],
            EisRequest::PointerMotionAbsolute(m) => {
                let (x, y) = (f64::from(m.dx_absolute), f64::from(m.dy_absolute));
                let region = offer
                    .region_at(x, y)
                    .ok_or(Untranslatable::OutsideRegions { x, y })?;
                match region.stream_id {
                    Some(stream) => vec![NotifyCall::PointerMotionAbsolute {
                        stream,
                        x: x - f64::from(region.x),
                        y: y - f64::from(region.y),
                    }],
                    // An output's region: the position is already global.
                    None => vec![NotifyCall::PointerMotionGlobal { x, y }],
                }
            }
            EisRequest::Button(b) => vec![NotifyCall::PointerButton {
                button: signed("button", b.button)?,
                state: button_state(b.state),
            }],
            EisRequest::ScrollDelta(s) => {
                if s.dx == 0.0 && s.dy == 0.0 {
                    Vec::new()
                } else {
                    vec![NotifyCall::PointerAxis {
                        dx: f64::from(s.dx),
                        dy: f64::from(s.dy),
                        finish: false,
                    }]
                }
            }
            // The compositor's protocol has no cancel: both end the
            // scroll sequence (kinetic scrolling stops).
            EisRequest::ScrollStop(reis::request::ScrollStop { x, y, .. })
            | EisRequest::ScrollCancel(reis::request::ScrollCancel { x, y, .. }) => {
                if *x || *y {
                    self.forget(device);
                    vec![NotifyCall::PointerAxis {
                        dx: 0.0,
                        dy: 0.0,
                        finish: true,
                    }]
                } else {
                    Vec::new()
                }
            }
            EisRequest::ScrollDiscrete(s) => {
                let rem = self.remainders.entry(device).or_default();
                let mut calls = Vec::new();
                // Vertical first, as the portal's smooth scroll is sent.
                for (axis, value, rem) in [
                    (0, s.discrete_dy, &mut rem.1),
                    (1, s.discrete_dx, &mut rem.0),
                ] {
                    let clicks = whole_clicks(rem, value);
                    if clicks != 0 {
                        // Beyond i32 the validation's range check refuses it.
                        let steps = i32::try_from(clicks).unwrap_or(i32::MAX);
                        calls.push(NotifyCall::PointerAxisDiscrete { axis, steps });
                    }
                }
                calls
            }
            EisRequest::KeyboardKey(k) => vec![NotifyCall::KeyboardKeycode {
                keycode: signed("key", k.key)?,
                state: key_state(k.state),
            }],
            EisRequest::TouchDown(_)
            | EisRequest::TouchMotion(_)
            | EisRequest::TouchUp(_)
            | EisRequest::TouchCancel(_) => return Err(Untranslatable::NotOffered("touch")),
            EisRequest::TextKeysym(_) | EisRequest::TextUtf8(_) => {
                return Err(Untranslatable::NotOffered("text"))
            }
            EisRequest::Disconnect
            | EisRequest::Bind(_)
            | EisRequest::DeviceClosed(_)
            | EisRequest::RequestDevice(_)
            | EisRequest::Frame(_)
            | EisRequest::Ready(_)
            | EisRequest::DeviceStartEmulating(_)
            | EisRequest::DeviceStopEmulating(_) => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_eighths_add_up_to_clicks() {
        let mut rem = 0;
        assert_eq!(whole_clicks(&mut rem, 240), 2);
        assert_eq!(rem, 0);
        // Hi-res wheels send 15/120 per notch: eight make a click.
        let clicks: i64 = (0..8).map(|_| whole_clicks(&mut rem, 15)).sum();
        assert_eq!((clicks, rem), (1, 0));
        assert_eq!(whole_clicks(&mut rem, -60), 0);
        assert_eq!(whole_clicks(&mut rem, -60), -1);
        assert_eq!(whole_clicks(&mut rem, 100), 0);
        assert_eq!(whole_clicks(&mut rem, -100), 0);
        assert_eq!(rem, 0);
        // Beyond i32 in one event is not possible; the extremes stay exact.
        assert_eq!(whole_clicks(&mut rem, i32::MIN), i64::from(i32::MIN) / 120);
    }
}
