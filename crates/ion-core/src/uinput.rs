//! What ionChannel's uinput devices say: the devices a session gets where
//! no compositor protocol can move the pointer or touch the screen, and each
//! portal input event as one evdev frame (events closed by `SYN_REPORT`).
//!
//! A session gets three devices, as QEMU gives a guest: a relative mouse
//! (motion, buttons, wheels), an absolute pointer (a tablet-like device
//! that libinput reports as absolute pointer motion) and a multitouch
//! screen (protocol B: slots and tracking ids). The compositor picks them up
//! through libinput on its own seat. Pure: the device itself
//! (ion-wayland's `input/uinput.rs`) writes these frames.
//!
//! The type and code numbers are linux/input-event-codes.h's, written here
//! so the core stays free of the kernel bindings; the evdev crate, which
//! makes the devices, names the same numbers.

use crate::layout::LayoutBox;
use crate::{Axis, InputEvent, KeyState};

pub const EV_SYN: u16 = 0x00;
pub const EV_KEY: u16 = 0x01;
pub const EV_REL: u16 = 0x02;
pub const EV_ABS: u16 = 0x03;

pub const SYN_REPORT: u16 = 0x00;

pub const REL_X: u16 = 0x00;
pub const REL_Y: u16 = 0x01;
pub const REL_HWHEEL: u16 = 0x06;
pub const REL_WHEEL: u16 = 0x08;
pub const REL_WHEEL_HI_RES: u16 = 0x0b;
pub const REL_HWHEEL_HI_RES: u16 = 0x0c;

pub const ABS_X: u16 = 0x00;
pub const ABS_Y: u16 = 0x01;
pub const ABS_MT_SLOT: u16 = 0x2f;
pub const ABS_MT_POSITION_X: u16 = 0x35;
pub const ABS_MT_POSITION_Y: u16 = 0x36;
pub const ABS_MT_TRACKING_ID: u16 = 0x39;

pub const BTN_LEFT: u16 = 0x110;
/// The last mouse button (BTN_TASK): BTN_LEFT..=BTN_TASK are the eight
/// buttons a mouse can have.
pub const BTN_TASK: u16 = 0x117;
pub const BTN_TOUCH: u16 = 0x14a;

/// `INPUT_PROP_DIRECT`: the touchscreen's positions are on the screen
/// itself (libinput then treats it as a touchscreen, not a touchpad).
pub const INPUT_PROP_DIRECT: u16 = 0x01;

/// The absolute pointer's and the touchscreen's axes run over
/// `0..=ABS_MAX`, spread over the whole output layout (the compositor maps
/// an absolute device onto its layout's bounding box, as it does
/// `motion_absolute`). A fixed range keeps the devices when outputs change;
/// 65536 steps give ~1/17 logical pixel on a 3840-wide layout.
pub const ABS_MAX: i32 = 65535;

/// Contacts the touchscreen tracks at once (slots).
pub const MAX_CONTACTS: usize = 10;

/// The highest tracking id before it wraps (the kernel's ABS_MT_TRACKING_ID
/// range is set to 0..=TRACKING_ID_MAX).
pub const TRACKING_ID_MAX: i32 = 65535;

/// One wheel click in hi-res units (the kernel's REL_WHEEL_HI_RES: 120 per
/// detent).
pub const HI_RES_PER_CLICK: i32 = 120;

/// Logical pixels of smooth scroll per wheel click: a click is 15 in
/// wl_pointer.axis units (libinput's 15 degrees), as the virtual pointer
/// path uses (`WHEEL_STEP`).
pub const PIXELS_PER_CLICK: f64 = 15.0;

/// One evdev event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ev {
    pub kind: u16,
    pub code: u16,
    pub value: i32,
}

impl Ev {
    pub const fn new(kind: u16, code: u16, value: i32) -> Self {
        Self { kind, code, value }
    }

    const fn syn() -> Self {
        Self::new(EV_SYN, SYN_REPORT, 0)
    }
}

/// Which of a session's uinput devices a frame is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Mouse,
    Absolute,
    Touch,
}

/// What a device is made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    pub device: Device,
    pub name: &'static str,
    pub keys: Vec<u16>,
    pub rel_axes: Vec<u16>,
    /// (code, min, max)
    pub abs_axes: Vec<(u16, i32, i32)>,
    pub props: Vec<u16>,
}

/// The three devices' specifications.
pub fn specs() -> [DeviceSpec; 3] {
    [
        DeviceSpec {
            device: Device::Mouse,
            name: "ionChannel pointer",
            keys: (BTN_LEFT..=BTN_TASK).collect(),
            rel_axes: vec![
                REL_X,
                REL_Y,
                REL_WHEEL,
                REL_HWHEEL,
                REL_WHEEL_HI_RES,
                REL_HWHEEL_HI_RES,
            ],
            abs_axes: Vec::new(),
            props: Vec::new(),
        },
        DeviceSpec {
            device: Device::Absolute,
            name: "ionChannel absolute pointer",
            // A button makes libinput see a pointer, not a joystick or an
            // unknown device (QEMU's usb-tablet has them too); ionChannel
            // presses buttons on the mouse.
            keys: vec![BTN_LEFT],
            rel_axes: Vec::new(),
            abs_axes: vec![(ABS_X, 0, ABS_MAX), (ABS_Y, 0, ABS_MAX)],
            props: Vec::new(),
        },
        DeviceSpec {
            device: Device::Touch,
            name: "ionChannel touchscreen",
            keys: vec![BTN_TOUCH],
            rel_axes: Vec::new(),
            abs_axes: vec![
                (ABS_X, 0, ABS_MAX),
                (ABS_Y, 0, ABS_MAX),
                (ABS_MT_SLOT, 0, MAX_CONTACTS as i32 - 1),
                (ABS_MT_TRACKING_ID, 0, TRACKING_ID_MAX),
                (ABS_MT_POSITION_X, 0, ABS_MAX),
                (ABS_MT_POSITION_Y, 0, ABS_MAX),
            ],
            props: vec![INPUT_PROP_DIRECT],
        },
    ]
}

/// Events for one device, closed by `SYN_REPORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub device: Device,
    pub events: Vec<Ev>,
}

/// Why an event cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unwritable {
    #[error("no output layout to place an absolute position on")]
    NoLayout,
    #[error("button {0:#x} is not a mouse button (BTN_LEFT..=BTN_TASK)")]
    NotAMouseButton(u32),
    #[error("all {MAX_CONTACTS} touch contacts are down")]
    TooManyContacts,
    #[error("touch slot {0} is not down")]
    NoSuchContact(u32),
    #[error("touch slot {0} is already down")]
    ContactDown(u32),
    #[error("{0} events do not go to uinput")]
    NotPointerOrTouch(&'static str),
}

/// Turns portal events into frames, keeping what must persist between
/// them: which kernel slot each portal touch slot holds, the next tracking
/// id, and the fractions of relative motion and scroll not sent yet (the
/// kernel's axes are integers; a run of small motions must add up).
#[derive(Debug, Default)]
pub struct FrameWriter {
    /// The portal slot each kernel slot holds.
    contacts: [Option<u32>; MAX_CONTACTS],
    next_tracking_id: i32,
    rel_rest: (f64, f64),
    scroll_rest: (f64, f64),
    /// The absolute pointer's last position written: the kernel drops an
    /// ABS event whose value did not change, so a second motion to the
    /// same place (after the mouse or a hand moved the pointer away) would
    /// reach nobody.
    last_abs: Option<(i32, i32)>,
}

/// A global logical position as `0..=ABS_MAX` on each axis of the layout
/// box; libinput gives the compositor `(v - min) / (max - min + 1)` of the
/// box, so `v` is the position's share of the box times `ABS_MAX + 1`.
pub fn to_abs(layout: LayoutBox, x: f64, y: f64) -> Option<(i32, i32)> {
    let r = layout.0;
    if r.width <= 0 || r.height <= 0 {
        return None;
    }
    let steps = f64::from(ABS_MAX) + 1.0;
    let ax = ((x - f64::from(r.x)) / f64::from(r.width) * steps).round();
    let ay = ((y - f64::from(r.y)) / f64::from(r.height) * steps).round();
    // Clamped into the axis range: the casts cannot truncate.
    let clamp = |v: f64| v.clamp(0.0, f64::from(ABS_MAX)) as i32;
    Some((clamp(ax), clamp(ay)))
}

/// The inverse of [`to_abs`], as libinput and the compositor compute it.
pub fn from_abs(layout: LayoutBox, ax: i32, ay: i32) -> (f64, f64) {
    let r = layout.0;
    let steps = f64::from(ABS_MAX) + 1.0;
    (
        f64::from(r.x) + f64::from(ax) / steps * f64::from(r.width),
        f64::from(r.y) + f64::from(ay) / steps * f64::from(r.height),
    )
}

/// The whole part of `rest + value`, keeping the fraction in `rest`.
fn whole(rest: &mut f64, value: f64) -> i32 {
    let total = *rest + value;
    // A hair towards the far side: ten steps of 0.3 sum to 2.9999999999999996
    // in floating point, and must move 3.
    let whole = (total + total.signum() * 1e-9).trunc();
    *rest = total - whole;
    // Portal values are validated finite and bounded upstream; the clamp
    // keeps even a wild one inside i32.
    whole.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
}

impl FrameWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether any touch contact is down.
    pub fn touching(&self) -> bool {
        self.contacts.iter().any(Option::is_some)
    }

    /// The frames for one event (none when it moves nothing, e.g. a motion
    /// smaller than a pixel whose rest waits for the next).
    pub fn frames(
        &mut self,
        event: &InputEvent,
        layout: Option<LayoutBox>,
    ) -> Result<Vec<Frame>, Unwritable> {
        let mouse = |events: Vec<Ev>| Frame {
            device: Device::Mouse,
            events,
        };
        Ok(match *event {
            InputEvent::PointerMotion { dx, dy } => {
                let x = whole(&mut self.rel_rest.0, dx);
                let y = whole(&mut self.rel_rest.1, dy);
                let mut events = Vec::new();
                if x != 0 {
                    events.push(Ev::new(EV_REL, REL_X, x));
                }
                if y != 0 {
                    events.push(Ev::new(EV_REL, REL_Y, y));
                }
                if events.is_empty() {
                    return Ok(Vec::new());
                }
                events.push(Ev::syn());
                vec![mouse(events)]
            }
            InputEvent::PointerMotionAbsolute { x, y } => {
                let (ax, ay) = layout
                    .and_then(|l| to_abs(l, x, y))
                    .ok_or(Unwritable::NoLayout)?;
                let mut frames = Vec::with_capacity(2);
                if self.last_abs == Some((ax, ay)) {
                    // Where the device already is: one step aside first
                    // (1/20 px on a 3200-wide layout), so the kernel has a
                    // change to pass on and the pointer comes back here.
                    let aside = if ax < ABS_MAX { ax + 1 } else { ax - 1 };
                    frames.push(Frame {
                        device: Device::Absolute,
                        events: vec![Ev::new(EV_ABS, ABS_X, aside), Ev::syn()],
                    });
                }
                self.last_abs = Some((ax, ay));
                frames.push(Frame {
                    device: Device::Absolute,
                    events: vec![
                        Ev::new(EV_ABS, ABS_X, ax),
                        Ev::new(EV_ABS, ABS_Y, ay),
                        Ev::syn(),
                    ],
                });
                frames
            }
            InputEvent::PointerButton { button, state } => {
                let code = u16::try_from(button)
                    .ok()
                    .filter(|b| (BTN_LEFT..=BTN_TASK).contains(b))
                    .ok_or(Unwritable::NotAMouseButton(button))?;
                let value = i32::from(state == KeyState::Pressed);
                vec![mouse(vec![Ev::new(EV_KEY, code, value), Ev::syn()])]
            }
            InputEvent::PointerAxis { dx, dy, .. } => {
                // Smooth scroll in logical pixels, as hi-res wheel units.
                // The kernel's wheel has no "finger lifted" (axis_stop):
                // `finish` has nothing to say here. Up is positive on the
                // wheel and negative in wl_pointer's axis; right is
                // positive in both.
                let per_pixel = f64::from(HI_RES_PER_CLICK) / PIXELS_PER_CLICK;
                let v = whole(&mut self.scroll_rest.1, -dy * per_pixel);
                let h = whole(&mut self.scroll_rest.0, dx * per_pixel);
                let mut events = Vec::new();
                if v != 0 {
                    events.push(Ev::new(EV_REL, REL_WHEEL_HI_RES, v));
                }
                if h != 0 {
                    events.push(Ev::new(EV_REL, REL_HWHEEL_HI_RES, h));
                }
                if events.is_empty() {
                    return Ok(Vec::new());
                }
                events.push(Ev::syn());
                vec![mouse(events)]
            }
            InputEvent::PointerAxisDiscrete { axis, steps } => {
                // Both the legacy and the hi-res wheel, as a real hi-res
                // mouse reports a click (the kernel expects both).
                let (code, hi_res, clicks) = match axis {
                    Axis::Vertical => (REL_WHEEL, REL_WHEEL_HI_RES, -steps),
                    Axis::Horizontal => (REL_HWHEEL, REL_HWHEEL_HI_RES, steps),
                };
                vec![mouse(vec![
                    Ev::new(EV_REL, code, clicks),
                    Ev::new(EV_REL, hi_res, clicks.saturating_mul(HI_RES_PER_CLICK)),
                    Ev::syn(),
                ])]
            }
            InputEvent::TouchDown { slot, x, y } => {
                if self.kernel_slot(slot).is_some() {
                    return Err(Unwritable::ContactDown(slot));
                }
                let (ax, ay) = layout
                    .and_then(|l| to_abs(l, x, y))
                    .ok_or(Unwritable::NoLayout)?;
                let free = self
                    .contacts
                    .iter()
                    .position(Option::is_none)
                    .ok_or(Unwritable::TooManyContacts)?;
                let first = !self.touching();
                self.contacts[free] = Some(slot);
                let id = self.next_tracking_id;
                self.next_tracking_id = if id >= TRACKING_ID_MAX { 0 } else { id + 1 };
                let mut events = vec![
                    Ev::new(EV_ABS, ABS_MT_SLOT, free as i32),
                    Ev::new(EV_ABS, ABS_MT_TRACKING_ID, id),
                    Ev::new(EV_ABS, ABS_MT_POSITION_X, ax),
                    Ev::new(EV_ABS, ABS_MT_POSITION_Y, ay),
                ];
                if first {
                    events.push(Ev::new(EV_KEY, BTN_TOUCH, 1));
                }
                self.single_touch(free, ax, ay, &mut events);
                events.push(Ev::syn());
                vec![Frame {
                    device: Device::Touch,
                    events,
                }]
            }
            InputEvent::TouchMotion { slot, x, y } => {
                let k = self
                    .kernel_slot(slot)
                    .ok_or(Unwritable::NoSuchContact(slot))?;
                let (ax, ay) = layout
                    .and_then(|l| to_abs(l, x, y))
                    .ok_or(Unwritable::NoLayout)?;
                let mut events = vec![
                    Ev::new(EV_ABS, ABS_MT_SLOT, k as i32),
                    Ev::new(EV_ABS, ABS_MT_POSITION_X, ax),
                    Ev::new(EV_ABS, ABS_MT_POSITION_Y, ay),
                ];
                self.single_touch(k, ax, ay, &mut events);
                events.push(Ev::syn());
                vec![Frame {
                    device: Device::Touch,
                    events,
                }]
            }
            InputEvent::TouchUp { slot } => {
                let k = self
                    .kernel_slot(slot)
                    .ok_or(Unwritable::NoSuchContact(slot))?;
                self.contacts[k] = None;
                let mut events = vec![
                    Ev::new(EV_ABS, ABS_MT_SLOT, k as i32),
                    Ev::new(EV_ABS, ABS_MT_TRACKING_ID, -1),
                ];
                if !self.touching() {
                    events.push(Ev::new(EV_KEY, BTN_TOUCH, 0));
                }
                events.push(Ev::syn());
                vec![Frame {
                    device: Device::Touch,
                    events,
                }]
            }
            InputEvent::KeyboardKeycode { .. } | InputEvent::KeyboardKeysym { .. } => {
                return Err(Unwritable::NotPointerOrTouch(event.kind()));
            }
        })
    }

    /// Lifts every contact still down (a session's end): the frames, in
    /// kernel slot order. [`crate::HeldInput`] lifts what the portal side
    /// knows of; this is the device's own account, so nothing stays down
    /// even if the two ever disagree.
    pub fn lift_all(&mut self) -> Vec<Frame> {
        let down: Vec<u32> = self.contacts.iter().flatten().copied().collect();
        down.into_iter()
            .filter_map(|slot| self.frames(&InputEvent::TouchUp { slot }, None).ok())
            .flatten()
            .collect()
    }

    fn kernel_slot(&self, portal_slot: u32) -> Option<usize> {
        self.contacts.iter().position(|c| *c == Some(portal_slot))
    }

    /// The legacy single-touch axes follow the lowest contact down, as a
    /// kernel driver's input_mt_report_pointer_emulation does.
    fn single_touch(&self, kernel_slot: usize, ax: i32, ay: i32, events: &mut Vec<Ev>) {
        if self.contacts.iter().position(Option::is_some) == Some(kernel_slot) {
            events.push(Ev::new(EV_ABS, ABS_X, ax));
            events.push(Ev::new(EV_ABS, ABS_Y, ay));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::layout::Rect;
    use proptest::prelude::*;

    /// Two outputs side by side, the second smaller and lower: 1920x1080 at
    /// 0,0 and 1280x720 at 1920,200 (box 3200x1080).
    fn layout() -> LayoutBox {
        LayoutBox::from_outputs(&[Rect::new(0, 0, 1920, 1080), Rect::new(1920, 200, 1280, 720)])
            .unwrap()
    }

    fn only(frames: Vec<Frame>) -> Frame {
        assert_eq!(frames.len(), 1, "{frames:?}");
        frames.into_iter().next().unwrap()
    }

    #[test]
    fn every_frame_ends_with_one_syn_report() {
        let mut w = FrameWriter::new();
        let l = Some(layout());
        let events = [
            InputEvent::PointerMotion { dx: 3.0, dy: -2.0 },
            InputEvent::PointerMotionAbsolute { x: 10.0, y: 10.0 },
            InputEvent::PointerButton {
                button: 0x110,
                state: KeyState::Pressed,
            },
            InputEvent::PointerAxis {
                dx: 0.0,
                dy: 15.0,
                finish: true,
            },
            InputEvent::PointerAxisDiscrete {
                axis: Axis::Horizontal,
                steps: 2,
            },
            InputEvent::TouchDown {
                slot: 7,
                x: 5.0,
                y: 5.0,
            },
            InputEvent::TouchMotion {
                slot: 7,
                x: 6.0,
                y: 5.0,
            },
            InputEvent::TouchUp { slot: 7 },
        ];
        for e in events {
            let f = only(w.frames(&e, l).unwrap());
            assert_eq!(f.events.last(), Some(&Ev::syn()), "{e:?}");
            assert_eq!(f.events.iter().filter(|e| e.kind == EV_SYN).count(), 1);
        }
    }

    #[test]
    fn small_relative_motions_add_up() {
        let mut w = FrameWriter::new();
        let mut x = 0;
        for _ in 0..10 {
            for f in w
                .frames(&InputEvent::PointerMotion { dx: 0.3, dy: 0.0 }, None)
                .unwrap()
            {
                x += f
                    .events
                    .iter()
                    .filter(|e| e.code == REL_X && e.kind == EV_REL)
                    .map(|e| e.value)
                    .sum::<i32>();
            }
        }
        assert_eq!(x, 3, "ten motions of 0.3 px move 3 px");
        // Negative motion keeps its own rest.
        let f = only(
            w.frames(&InputEvent::PointerMotion { dx: -2.5, dy: 1.0 }, None)
                .unwrap(),
        );
        assert_eq!(f.events[0], Ev::new(EV_REL, REL_X, -2));
        assert_eq!(f.events[1], Ev::new(EV_REL, REL_Y, 1));
    }

    #[test]
    fn absolute_positions_land_on_the_layout_box() {
        let l = layout();
        // Corners, and a point on the second, lower output.
        for (x, y) in [
            (0.0, 0.0),
            (3199.0, 1079.0),
            (2000.5, 300.25),
            (1919.0, 540.0),
        ] {
            let (ax, ay) = to_abs(l, x, y).unwrap();
            let (bx, by) = from_abs(l, ax, ay);
            assert!(
                (bx - x).abs() <= 0.05 && (by - y).abs() <= 0.05,
                "({x},{y}) → ({bx},{by})"
            );
        }
        // Outside the box is clamped to its edge.
        assert_eq!(to_abs(l, -50.0, 5000.0).unwrap(), (0, ABS_MAX));
        let mut w = FrameWriter::new();
        assert_eq!(
            w.frames(&InputEvent::PointerMotionAbsolute { x: 1.0, y: 1.0 }, None),
            Err(Unwritable::NoLayout)
        );
    }

    /// The kernel drops an ABS event whose value did not change: a second
    /// motion to where the device already is (the mouse moved the pointer
    /// in between) first steps aside, so the pointer does come back. Found
    /// in the VM lab: relative motions after "back to (500, 500)" added up.
    #[test]
    fn an_absolute_motion_to_the_same_place_still_moves() {
        let mut w = FrameWriter::new();
        let l = Some(layout());
        let at = InputEvent::PointerMotionAbsolute { x: 500.0, y: 500.0 };
        let first = only(w.frames(&at, l).unwrap());
        let (ax, ay) = to_abs(layout(), 500.0, 500.0).unwrap();
        assert_eq!(
            first.events,
            [
                Ev::new(EV_ABS, ABS_X, ax),
                Ev::new(EV_ABS, ABS_Y, ay),
                Ev::syn()
            ]
        );
        let again = w.frames(&at, l).unwrap();
        assert_eq!(again.len(), 2, "{again:?}");
        assert_eq!(again[0].events, [Ev::new(EV_ABS, ABS_X, ax + 1), Ev::syn()]);
        assert_eq!(again[1], first);
        // At the right edge the step goes left.
        let edge = InputEvent::PointerMotionAbsolute { x: 3200.0, y: 0.0 };
        w.frames(&edge, l).unwrap();
        let again = w.frames(&edge, l).unwrap();
        assert_eq!(again[0].events[0], Ev::new(EV_ABS, ABS_X, ABS_MAX - 1));
        // Somewhere else: one frame.
        only(
            w.frames(&InputEvent::PointerMotionAbsolute { x: 1.0, y: 1.0 }, l)
                .unwrap(),
        );
    }

    proptest! {
        /// Any position in the box comes back within 1/16 logical pixel.
        #[test]
        fn abs_round_trip(x in 0.0f64..3200.0, y in 0.0f64..1080.0) {
            let l = layout();
            let (ax, ay) = to_abs(l, x, y).unwrap();
            let (bx, by) = from_abs(l, ax, ay);
            prop_assert!((bx - x).abs() <= 1.0 / 16.0);
            prop_assert!((by - y).abs() <= 1.0 / 16.0);
        }
    }

    #[test]
    fn buttons_are_mouse_buttons_only() {
        let mut w = FrameWriter::new();
        let f = only(
            w.frames(
                &InputEvent::PointerButton {
                    button: 0x111,
                    state: KeyState::Released,
                },
                None,
            )
            .unwrap(),
        );
        assert_eq!(f.device, Device::Mouse);
        assert_eq!(f.events[0], Ev::new(EV_KEY, 0x111, 0));
        for bad in [0x10f, 0x118, 30, u32::MAX] {
            assert_eq!(
                w.frames(
                    &InputEvent::PointerButton {
                        button: bad,
                        state: KeyState::Pressed
                    },
                    None
                ),
                Err(Unwritable::NotAMouseButton(bad))
            );
        }
    }

    #[test]
    fn scrolling_uses_the_hi_res_wheel_with_the_kernels_signs() {
        let mut w = FrameWriter::new();
        // One click down (wl axis +15): wheel -1, hi-res -120.
        let f = only(
            w.frames(
                &InputEvent::PointerAxisDiscrete {
                    axis: Axis::Vertical,
                    steps: 1,
                },
                None,
            )
            .unwrap(),
        );
        assert_eq!(
            f.events,
            [
                Ev::new(EV_REL, REL_WHEEL, -1),
                Ev::new(EV_REL, REL_WHEEL_HI_RES, -120),
                Ev::syn()
            ]
        );
        // Smooth: 15 px down is one click's hi-res units; right is positive.
        let f = only(
            w.frames(
                &InputEvent::PointerAxis {
                    dx: 7.5,
                    dy: 15.0,
                    finish: false,
                },
                None,
            )
            .unwrap(),
        );
        assert_eq!(
            f.events,
            [
                Ev::new(EV_REL, REL_WHEEL_HI_RES, -120),
                Ev::new(EV_REL, REL_HWHEEL_HI_RES, 60),
                Ev::syn()
            ]
        );
        // Tiny smooth scrolls add up to whole hi-res units.
        let mut total = 0;
        for _ in 0..16 {
            for f in w
                .frames(
                    &InputEvent::PointerAxis {
                        dx: 0.0,
                        dy: -0.1,
                        finish: false,
                    },
                    None,
                )
                .unwrap()
            {
                total += f
                    .events
                    .iter()
                    .filter(|e| e.code == REL_WHEEL_HI_RES)
                    .map(|e| e.value)
                    .sum::<i32>();
            }
        }
        assert_eq!(
            total, 12,
            "16 × 0.1 px up = 1.6 px = 12.8 hi-res units, 12 sent"
        );
    }

    #[test]
    fn touch_contacts_get_slots_tracking_ids_and_btn_touch() {
        let mut w = FrameWriter::new();
        let l = Some(layout());
        let down = |slot, x| InputEvent::TouchDown { slot, x, y: 100.0 };
        let a = only(w.frames(&down(42, 10.0), l).unwrap());
        assert_eq!(a.device, Device::Touch);
        assert_eq!(a.events[0], Ev::new(EV_ABS, ABS_MT_SLOT, 0));
        assert_eq!(a.events[1], Ev::new(EV_ABS, ABS_MT_TRACKING_ID, 0));
        assert!(a.events.contains(&Ev::new(EV_KEY, BTN_TOUCH, 1)));
        assert!(
            a.events.iter().any(|e| e.kind == EV_ABS && e.code == ABS_X),
            "single-touch axes follow the first contact"
        );
        let b = only(w.frames(&down(3, 20.0), l).unwrap());
        assert_eq!(b.events[0], Ev::new(EV_ABS, ABS_MT_SLOT, 1));
        assert_eq!(b.events[1], Ev::new(EV_ABS, ABS_MT_TRACKING_ID, 1));
        assert!(
            !b.events.iter().any(|e| e.code == BTN_TOUCH),
            "BTN_TOUCH once, for the first contact"
        );
        assert!(!b.events.iter().any(|e| e.kind == EV_ABS && e.code == ABS_X));
        // The same portal slot twice is refused; motion of one not down too.
        assert_eq!(w.frames(&down(3, 1.0), l), Err(Unwritable::ContactDown(3)));
        assert_eq!(
            w.frames(
                &InputEvent::TouchMotion {
                    slot: 9,
                    x: 1.0,
                    y: 1.0
                },
                l
            ),
            Err(Unwritable::NoSuchContact(9))
        );
        // Lifting the first keeps BTN_TOUCH down; the last lifts it.
        let up = only(w.frames(&InputEvent::TouchUp { slot: 42 }, l).unwrap());
        assert_eq!(
            up.events[..2],
            [
                Ev::new(EV_ABS, ABS_MT_SLOT, 0),
                Ev::new(EV_ABS, ABS_MT_TRACKING_ID, -1)
            ]
        );
        assert!(!up.events.iter().any(|e| e.code == BTN_TOUCH));
        // Kernel slot 0 is free again: a new contact takes it, with a new id.
        let c = only(w.frames(&down(5, 30.0), l).unwrap());
        assert_eq!(
            c.events[..2],
            [
                Ev::new(EV_ABS, ABS_MT_SLOT, 0),
                Ev::new(EV_ABS, ABS_MT_TRACKING_ID, 2)
            ]
        );
        let lifted = w.lift_all();
        assert_eq!(lifted.len(), 2);
        assert!(!w.touching());
        assert!(lifted
            .last()
            .unwrap()
            .events
            .contains(&Ev::new(EV_KEY, BTN_TOUCH, 0)));
        assert!(w.lift_all().is_empty());
    }

    #[test]
    fn at_most_ten_contacts() {
        let mut w = FrameWriter::new();
        let l = Some(layout());
        for slot in 0..MAX_CONTACTS as u32 {
            w.frames(
                &InputEvent::TouchDown {
                    slot,
                    x: 1.0,
                    y: 1.0,
                },
                l,
            )
            .unwrap();
        }
        assert_eq!(
            w.frames(
                &InputEvent::TouchDown {
                    slot: 99,
                    x: 1.0,
                    y: 1.0
                },
                l
            ),
            Err(Unwritable::TooManyContacts)
        );
        assert_eq!(w.lift_all().len(), MAX_CONTACTS);
    }

    #[test]
    fn tracking_ids_wrap_within_their_range() {
        let mut w = FrameWriter {
            next_tracking_id: TRACKING_ID_MAX,
            ..FrameWriter::default()
        };
        let l = Some(layout());
        let a = only(
            w.frames(
                &InputEvent::TouchDown {
                    slot: 1,
                    x: 1.0,
                    y: 1.0,
                },
                l,
            )
            .unwrap(),
        );
        assert_eq!(
            a.events[1],
            Ev::new(EV_ABS, ABS_MT_TRACKING_ID, TRACKING_ID_MAX)
        );
        let b = only(
            w.frames(
                &InputEvent::TouchDown {
                    slot: 2,
                    x: 1.0,
                    y: 1.0,
                },
                l,
            )
            .unwrap(),
        );
        assert_eq!(b.events[1], Ev::new(EV_ABS, ABS_MT_TRACKING_ID, 0));
    }

    #[test]
    fn the_specs_cover_every_code_the_frames_use() {
        let specs = specs();
        let spec = |d: Device| specs.iter().find(|s| s.device == d).unwrap();
        let mut w = FrameWriter::new();
        let l = Some(layout());
        let events = [
            InputEvent::PointerMotion { dx: 3.0, dy: 3.0 },
            InputEvent::PointerMotionAbsolute { x: 1.0, y: 1.0 },
            InputEvent::PointerButton {
                button: BTN_TASK as u32,
                state: KeyState::Pressed,
            },
            InputEvent::PointerAxis {
                dx: 20.0,
                dy: 20.0,
                finish: false,
            },
            InputEvent::PointerAxisDiscrete {
                axis: Axis::Vertical,
                steps: 1,
            },
            InputEvent::PointerAxisDiscrete {
                axis: Axis::Horizontal,
                steps: 1,
            },
            InputEvent::TouchDown {
                slot: 1,
                x: 1.0,
                y: 1.0,
            },
            InputEvent::TouchMotion {
                slot: 1,
                x: 2.0,
                y: 1.0,
            },
            InputEvent::TouchUp { slot: 1 },
        ];
        for e in events {
            for f in w.frames(&e, l).unwrap() {
                let s = spec(f.device);
                for ev in f.events {
                    let ok = match ev.kind {
                        EV_SYN => true,
                        EV_KEY => s.keys.contains(&ev.code),
                        EV_REL => s.rel_axes.contains(&ev.code),
                        EV_ABS => s.abs_axes.iter().any(|(c, min, max)| {
                            *c == ev.code
                                && (ev.code == ABS_MT_TRACKING_ID && ev.value == -1
                                    || (*min..=*max).contains(&ev.value))
                        }),
                        _ => false,
                    };
                    assert!(ok, "{:?} on {:?} is not in its spec", ev, f.device);
                }
            }
        }
    }

    #[test]
    fn keyboard_events_are_not_for_uinput() {
        let mut w = FrameWriter::new();
        assert!(matches!(
            w.frames(
                &InputEvent::KeyboardKeycode {
                    keycode: 30,
                    state: KeyState::Pressed
                },
                None
            ),
            Err(Unwritable::NotPointerOrTouch(_))
        ));
    }
}
