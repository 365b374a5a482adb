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
//!   compositor's wheel events carry;
//! - touches: the client names each contact with a touch id of its own
//!   (libei counts them up for ever); a contact gets the lowest free slot
//!   of the session's touchscreen at `down` and gives it back at `up` or
//!   `cancel`. Positions are found in the regions as the absolute
//!   pointer's are. A cancel lifts the contact: the kernel's touchscreen
//!   (uinput) has no cancel, only a lift.

use std::collections::HashMap;

use ion_core::validate::{NotifyCall, MAX_TOUCH_SLOTS};
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
    #[error("touch id {0} is already down")]
    TouchDown(u32),
    #[error("touch id {0} is not down")]
    NoSuchTouch(u32),
    #[error("more than {MAX_TOUCH_SLOTS} touches down at once")]
    TooManyTouches,
}

/// Per-device scroll remainders, in 120ths of a click, and the contacts
/// down.
#[derive(Debug, Default)]
pub struct Translator {
    remainders: HashMap<u64, (i64, i64)>,
    touches: Contacts,
}

/// The contacts down: (device, the client's touch id) → the session's
/// touch slot, the lowest free one at `down`. (reis already refuses an id
/// down twice and drops motion or up of an id not down, as libeis does;
/// the checks here keep the slot map right whatever reaches it.)
#[derive(Debug, Default)]
pub struct Contacts {
    held: HashMap<(u64, u32), u32>,
}

impl Contacts {
    /// A new contact: its slot.
    pub fn down(&mut self, device: u64, id: u32) -> Result<u32, Untranslatable> {
        if self.held.contains_key(&(device, id)) {
            return Err(Untranslatable::TouchDown(id));
        }
        let slot = (0..MAX_TOUCH_SLOTS)
            .find(|s| !self.held.values().any(|held| held == s))
            .ok_or(Untranslatable::TooManyTouches)?;
        self.held.insert((device, id), slot);
        Ok(slot)
    }

    /// A contact's slot.
    pub fn slot(&self, device: u64, id: u32) -> Result<u32, Untranslatable> {
        self.held
            .get(&(device, id))
            .copied()
            .ok_or(Untranslatable::NoSuchTouch(id))
    }

    /// A contact lifted: its slot, free again.
    pub fn up(&mut self, device: u64, id: u32) -> Result<u32, Untranslatable> {
        self.held
            .remove(&(device, id))
            .ok_or(Untranslatable::NoSuchTouch(id))
    }

    /// Forgets a device's contacts.
    pub fn forget(&mut self, device: u64) {
        self.held.retain(|(d, _), _| *d != device);
    }
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

    /// Forgets a device's remainders and contacts (it is gone; what it
    /// held is released by the caller).
    pub fn forget(&mut self, device: u64) {
        self.remainders.remove(&device);
        self.touches.forget(device);
    }

    /// A contact's position: stream coordinates of the region's stream, or
    /// global ones when the region is an output.
    fn touch_at(
        offer: &EisOffer,
        slot: u32,
        x: f32,
        y: f32,
        down: bool,
    ) -> Result<NotifyCall, Untranslatable> {
        let (x, y) = (f64::from(x), f64::from(y));
        let region = offer
            .region_at(x, y)
            .ok_or(Untranslatable::OutsideRegions { x, y })?;
        let (rx, ry) = (x - f64::from(region.x), y - f64::from(region.y));
        Ok(match (region.stream_id, down) {
            (Some(stream), true) => NotifyCall::TouchDown {
                stream,
                slot,
                x: rx,
                y: ry,
            },
            (Some(stream), false) => NotifyCall::TouchMotion {
                stream,
                slot,
                x: rx,
                y: ry,
            },
            (None, true) => NotifyCall::TouchDownGlobal { slot, x, y },
            (None, false) => NotifyCall::TouchMotionGlobal { slot, x, y },
        })
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
            EisRequest::TouchDown(t) => {
                // Where first: a contact refused here takes no slot.
                let slot = self.touches.down(device, t.touch_id)?;
                match Self::touch_at(offer, slot, t.x, t.y, true) {
                    Ok(call) => vec![call],
                    Err(e) => {
                        let _ = self.touches.up(device, t.touch_id);
                        return Err(e);
                    }
                }
            }
            EisRequest::TouchMotion(t) => {
                let slot = self.touches.slot(device, t.touch_id)?;
                vec![Self::touch_at(offer, slot, t.x, t.y, false)?]
            }
            EisRequest::TouchUp(reis::request::TouchUp { touch_id, .. })
            | EisRequest::TouchCancel(reis::request::TouchCancel { touch_id, .. }) => {
                vec![NotifyCall::TouchUp {
                    slot: self.touches.up(device, *touch_id)?,
                }]
            }
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
    fn contacts_take_the_lowest_free_slot_and_give_it_back() {
        let mut c = Contacts::default();
        // libei's ids count up for ever; slots stay small.
        assert_eq!(c.down(7, 1000), Ok(0));
        assert_eq!(c.down(7, 1001), Ok(1));
        assert_eq!(c.down(8, 1000), Ok(2), "another device's id 1000");
        assert_eq!(c.down(7, 1000), Err(Untranslatable::TouchDown(1000)));
        assert_eq!(c.slot(7, 1001), Ok(1));
        assert_eq!(c.up(7, 1000), Ok(0));
        assert_eq!(c.slot(7, 1000), Err(Untranslatable::NoSuchTouch(1000)));
        assert_eq!(c.up(7, 1000), Err(Untranslatable::NoSuchTouch(1000)));
        assert_eq!(c.down(7, 1002), Ok(0), "slot 0 is free again");
        c.forget(7);
        assert_eq!(c.slot(7, 1001), Err(Untranslatable::NoSuchTouch(1001)));
        assert_eq!(c.slot(8, 1000), Ok(2));
        for id in 0..MAX_TOUCH_SLOTS - 1 {
            assert!(c.down(9, id).is_ok());
        }
        assert_eq!(c.down(9, 99), Err(Untranslatable::TooManyTouches));
    }

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
