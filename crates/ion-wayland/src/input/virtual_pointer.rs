//! Pointer injection through `zwlr_virtual_pointer_v1`.
//!
//! Each portal event becomes one group of requests closed by `frame`, so the
//! compositor delivers it to clients as one wl_pointer frame.

use ion_core::layout::LayoutBox;
use ion_core::{Axis, InputEvent, KeyState};
use wayland_client::protocol::wl_pointer;
use wayland_protocols_wlr::virtual_pointer::v1::client::zwlr_virtual_pointer_v1::ZwlrVirtualPointerV1;

/// Scroll distance of one wheel click, in the units wl_pointer.axis uses
/// (libinput's default of 15 degrees per click, which compositors pass on).
pub const WHEEL_STEP: f64 = 15.0;

pub struct VirtualPointer {
    obj: ZwlrVirtualPointerV1,
}

fn wl_axis(axis: Axis) -> wl_pointer::Axis {
    match axis {
        Axis::Vertical => wl_pointer::Axis::VerticalScroll,
        Axis::Horizontal => wl_pointer::Axis::HorizontalScroll,
    }
}

impl VirtualPointer {
    pub fn new(obj: ZwlrVirtualPointerV1) -> Self {
        Self { obj }
    }

    /// Sends one pointer event. `layout` is the current bounding box of the
    /// outputs, needed for absolute motion.
    pub fn send(&self, event: &InputEvent, layout: Option<LayoutBox>, time: u32) {
        let p = &self.obj;
        match *event {
            InputEvent::PointerMotion { dx, dy } => p.motion(time, dx, dy),
            InputEvent::PointerMotionAbsolute { x, y } => {
                let Some(pos) = layout.and_then(|l| l.to_extent(x, y)) else {
                    tracing::warn!(x, y, "absolute motion dropped: no output layout");
                    return;
                };
                p.motion_absolute(time, pos.x, pos.y, pos.x_extent, pos.y_extent);
            }
            InputEvent::PointerButton { button, state } => {
                let state = match state {
                    KeyState::Pressed => wl_pointer::ButtonState::Pressed,
                    KeyState::Released => wl_pointer::ButtonState::Released,
                };
                p.button(time, button, state);
            }
            InputEvent::PointerAxis { dx, dy, finish } => {
                // Smooth scroll from the portal is finger scrolling (what
                // mutter makes of it too): `finish` becomes axis_stop so
                // clients end kinetic scrolling.
                for (axis, value) in [
                    (wl_pointer::Axis::VerticalScroll, dy),
                    (wl_pointer::Axis::HorizontalScroll, dx),
                ] {
                    if value != 0.0 {
                        p.axis(time, axis, value);
                        self.source_and_frame(wl_pointer::AxisSource::Finger);
                    }
                }
                if finish {
                    for axis in [
                        wl_pointer::Axis::VerticalScroll,
                        wl_pointer::Axis::HorizontalScroll,
                    ] {
                        p.axis_stop(time, axis);
                        self.source_and_frame(wl_pointer::AxisSource::Finger);
                    }
                }
                return;
            }
            InputEvent::PointerAxisDiscrete { axis, steps } => {
                p.axis_discrete(time, wl_axis(axis), WHEEL_STEP * f64::from(steps), steps);
                self.source_and_frame(wl_pointer::AxisSource::Wheel);
                return;
            }
            _ => return,
        }
        p.frame();
    }

    /// Closes one axis event: its source, then the frame.
    ///
    /// wlroots 0.16 (sway 1.7) applies `axis_source` to the axis named by
    /// the *last* axis request and keeps one pending event per axis until
    /// `frame`; two axes with different sources in one frame abort sway
    /// (an assertion in wlr_seat_pointer_send_axis), and an axis_stop in
    /// the same frame overwrites the axis value. So each axis event gets
    /// its own frame, with its source set after the axis request.
    fn source_and_frame(&self, source: wl_pointer::AxisSource) {
        self.obj.axis_source(source);
        self.obj.frame();
    }
}

impl super::PointerBackend for VirtualPointer {
    fn name(&self) -> &'static str {
        "zwlr_virtual_pointer_v1"
    }

    fn touch(&self) -> bool {
        false
    }

    fn send(&mut self, event: &InputEvent, layout: Option<LayoutBox>, time: u32) {
        VirtualPointer::send(self, event, layout, time);
    }

    fn lift_all(&mut self, _time: u32) {}

    fn destroy(&mut self) {
        self.obj.destroy();
    }
}
