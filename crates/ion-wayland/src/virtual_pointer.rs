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
                p.axis_source(wl_pointer::AxisSource::Finger);
                if dy != 0.0 {
                    p.axis(time, wl_pointer::Axis::VerticalScroll, dy);
                }
                if dx != 0.0 {
                    p.axis(time, wl_pointer::Axis::HorizontalScroll, dx);
                }
                if finish {
                    p.axis_stop(time, wl_pointer::Axis::VerticalScroll);
                    p.axis_stop(time, wl_pointer::Axis::HorizontalScroll);
                }
            }
            InputEvent::PointerAxisDiscrete { axis, steps } => {
                p.axis_source(wl_pointer::AxisSource::Wheel);
                p.axis_discrete(time, wl_axis(axis), WHEEL_STEP * f64::from(steps), steps);
            }
            _ => return,
        }
        p.frame();
    }

    pub fn destroy(&self) {
        self.obj.destroy();
    }
}
