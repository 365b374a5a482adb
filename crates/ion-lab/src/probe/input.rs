//! The seat: pointer, keyboard and touch events, recorded one by one.
//!
//! The seat is bound at version <= 9 (axis_value120 needs v8). Pointer and
//! keyboard objects are taken when the capabilities announce them and
//! released when they go away: a compositor may announce them only once the
//! first (virtual) device exists.

use std::collections::HashMap;

use wayland_client::protocol::{
    wl_keyboard, wl_keyboard::WlKeyboard, wl_pointer, wl_pointer::WlPointer, wl_seat,
    wl_seat::WlSeat, wl_touch, wl_touch::WlTouch,
};
use wayland_client::{Connection, Dispatch, Proxy, QueueHandle, WEnum};

use super::keyboard::Xkb;
use super::record::{AxisName, Event, PressState};
use super::state::CallbackKind;
use super::state::Probe;

/// The bound seat and its devices.
pub struct SeatState {
    /// Registry global name.
    pub global: u32,
    seat: WlSeat,
    name: String,
    pointer: Option<WlPointer>,
    keyboard: Option<WlKeyboard>,
    touch: Option<WlTouch>,
    /// The output each touch point went down on, by its id.
    touch_outputs: HashMap<i32, String>,
    /// Output name and last position of the pointer focus.
    pointer_focus: Option<(String, f64, f64)>,
    /// Output name of the keyboard focus.
    keyboard_focus: Option<String>,
    xkb: Xkb,
}

impl SeatState {
    /// A freshly bound seat.
    pub fn new(global: u32, seat: WlSeat) -> Self {
        SeatState {
            global,
            seat,
            name: String::new(),
            pointer: None,
            keyboard: None,
            touch: None,
            touch_outputs: HashMap::new(),
            pointer_focus: None,
            keyboard_focus: None,
            xkb: Xkb::new(),
        }
    }

    /// Releases the devices and the seat.
    pub fn destroy(mut self) {
        self.drop_pointer();
        self.drop_keyboard();
        self.drop_touch();
        if self.seat.version() >= 5 {
            self.seat.release();
        }
    }

    fn drop_pointer(&mut self) {
        if let Some(p) = self.pointer.take() {
            if p.version() >= 3 {
                p.release();
            }
        }
        self.pointer_focus = None;
    }

    fn drop_touch(&mut self) {
        if let Some(t) = self.touch.take() {
            if t.version() >= 3 {
                t.release();
            }
        }
        self.touch_outputs.clear();
    }

    fn drop_keyboard(&mut self) {
        if let Some(k) = self.keyboard.take() {
            if k.version() >= 3 {
                k.release();
            }
        }
        self.keyboard_focus = None;
    }
}

fn axis_name(axis: WEnum<wl_pointer::Axis>) -> AxisName {
    match axis {
        WEnum::Value(wl_pointer::Axis::VerticalScroll) => AxisName::Vertical,
        WEnum::Value(wl_pointer::Axis::HorizontalScroll) => AxisName::Horizontal,
        _ => AxisName::Unknown,
    }
}

fn button_state(state: WEnum<wl_pointer::ButtonState>) -> PressState {
    match state {
        WEnum::Value(wl_pointer::ButtonState::Pressed) => PressState::Pressed,
        WEnum::Value(wl_pointer::ButtonState::Released) => PressState::Released,
        _ => PressState::Unknown,
    }
}

fn key_state(state: WEnum<wl_keyboard::KeyState>) -> PressState {
    match state {
        WEnum::Value(wl_keyboard::KeyState::Pressed) => PressState::Pressed,
        WEnum::Value(wl_keyboard::KeyState::Released) => PressState::Released,
        WEnum::Value(wl_keyboard::KeyState::Repeated) => PressState::Repeated,
        _ => PressState::Unknown,
    }
}

impl Dispatch<WlSeat, ()> for Probe {
    fn event(
        state: &mut Self,
        seat: &WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        let Some(ss) = state.seat.as_mut() else {
            return;
        };
        match event {
            wl_seat::Event::Name { name } => ss.name = name,
            wl_seat::Event::Capabilities { capabilities } => {
                let caps = match capabilities {
                    WEnum::Value(c) => c,
                    WEnum::Unknown(raw) => wl_seat::Capability::from_bits_truncate(raw),
                };
                let has_pointer = caps.contains(wl_seat::Capability::Pointer);
                let has_keyboard = caps.contains(wl_seat::Capability::Keyboard);
                if has_pointer && ss.pointer.is_none() {
                    ss.pointer = Some(seat.get_pointer(qh, ()));
                } else if !has_pointer && ss.pointer.is_some() {
                    ss.drop_pointer();
                }
                let has_touch = caps.contains(wl_seat::Capability::Touch);
                if has_touch && ss.touch.is_none() {
                    ss.touch = Some(seat.get_touch(qh, ()));
                } else if !has_touch && ss.touch.is_some() {
                    ss.drop_touch();
                }
                if has_keyboard && ss.keyboard.is_none() {
                    ss.keyboard = Some(seat.get_keyboard(qh, ()));
                } else if !has_keyboard && ss.keyboard.is_some() {
                    ss.drop_keyboard();
                }
                tracing::info!("seat capabilities: pointer={has_pointer} keyboard={has_keyboard}");
                let kind = CallbackKind::Capabilities {
                    seat: ss.name.clone(),
                    pointer: has_pointer,
                    keyboard: has_keyboard,
                    touch: has_touch,
                };
                state.display.sync(qh, kind);
            }
            _ => {}
        }
    }
}

impl Dispatch<WlPointer, ()> for Probe {
    fn event(
        state: &mut Self,
        pointer: &WlPointer,
        event: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let ev = match event {
            wl_pointer::Event::Enter {
                serial,
                surface,
                surface_x,
                surface_y,
            } => {
                if state.opts.hide_cursor() {
                    pointer.set_cursor(serial, None, 0, 0);
                }
                let output = state.output_name_of_surface(&surface);
                if let Some(ss) = state.seat.as_mut() {
                    ss.pointer_focus = Some((output.clone(), surface_x, surface_y));
                }
                Event::PointerEnter {
                    output,
                    x: surface_x,
                    y: surface_y,
                }
            }
            wl_pointer::Event::Leave { surface, .. } => {
                let focus = state.seat.as_mut().and_then(|ss| ss.pointer_focus.take());
                let (x, y) = focus.as_ref().map_or((0.0, 0.0), |f| (f.1, f.2));
                Event::PointerLeave {
                    output: state.output_name_of_surface(&surface),
                    x,
                    y,
                }
            }
            wl_pointer::Event::Motion {
                time,
                surface_x,
                surface_y,
            } => {
                let output = match state.seat.as_mut().and_then(|ss| ss.pointer_focus.as_mut()) {
                    Some(focus) => {
                        focus.1 = surface_x;
                        focus.2 = surface_y;
                        focus.0.clone()
                    }
                    None => String::new(),
                };
                Event::Motion {
                    output,
                    x: surface_x,
                    y: surface_y,
                    time_ms: time,
                }
            }
            wl_pointer::Event::Button {
                time,
                button,
                state: st,
                ..
            } => Event::Button {
                button,
                state: button_state(st),
                time_ms: time,
            },
            wl_pointer::Event::Axis { time, axis, value } => Event::Axis {
                axis: axis_name(axis),
                value,
                time_ms: time,
            },
            wl_pointer::Event::Frame => Event::PointerFrame,
            wl_pointer::Event::AxisSource { axis_source } => Event::AxisSource {
                source: match axis_source {
                    WEnum::Value(wl_pointer::AxisSource::Wheel) => "wheel",
                    WEnum::Value(wl_pointer::AxisSource::Finger) => "finger",
                    WEnum::Value(wl_pointer::AxisSource::Continuous) => "continuous",
                    WEnum::Value(wl_pointer::AxisSource::WheelTilt) => "wheel_tilt",
                    _ => "unknown",
                }
                .to_owned(),
            },
            wl_pointer::Event::AxisStop { time, axis } => Event::AxisStop {
                axis: axis_name(axis),
                time_ms: time,
            },
            wl_pointer::Event::AxisDiscrete { axis, discrete } => Event::AxisDiscrete {
                axis: axis_name(axis),
                discrete,
            },
            wl_pointer::Event::AxisValue120 { axis, value120 } => Event::AxisValue120 {
                axis: axis_name(axis),
                value120,
            },
            wl_pointer::Event::AxisRelativeDirection { axis, direction } => {
                Event::AxisRelativeDirection {
                    axis: axis_name(axis),
                    direction: match direction {
                        WEnum::Value(wl_pointer::AxisRelativeDirection::Identical) => "identical",
                        WEnum::Value(wl_pointer::AxisRelativeDirection::Inverted) => "inverted",
                        _ => "unknown",
                    }
                    .to_owned(),
                }
            }
            _ => return,
        };
        state.record(ev);
    }
}

impl Dispatch<WlKeyboard, ()> for Probe {
    fn event(
        state: &mut Self,
        _: &WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let ev = match event {
            wl_keyboard::Event::Keymap { format, fd, size } => {
                let Some(ss) = state.seat.as_mut() else {
                    return;
                };
                let (format_name, ok) = match format {
                    WEnum::Value(wl_keyboard::KeymapFormat::XkbV1) => {
                        match ss.xkb.load_from_fd(&fd, size) {
                            Ok(()) => ("xkb_v1", true),
                            Err(err) => {
                                tracing::warn!("keymap of {size} bytes unusable: {err:#}");
                                ("xkb_v1", false)
                            }
                        }
                    }
                    WEnum::Value(wl_keyboard::KeymapFormat::NoKeymap) => {
                        ss.xkb.clear();
                        ("no_keymap", false)
                    }
                    _ => {
                        ss.xkb.clear();
                        ("unknown", false)
                    }
                };
                Event::Keymap {
                    size,
                    format: format_name.to_owned(),
                    ok,
                }
            }
            wl_keyboard::Event::Enter { surface, keys, .. } => {
                let output = state.output_name_of_surface(&surface);
                if let Some(ss) = state.seat.as_mut() {
                    ss.keyboard_focus = Some(output.clone());
                }
                let keys = keys
                    .chunks_exact(4)
                    .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Event::KeyboardEnter { output, keys }
            }
            wl_keyboard::Event::Leave { surface, .. } => {
                if let Some(ss) = state.seat.as_mut() {
                    ss.keyboard_focus = None;
                }
                Event::KeyboardLeave {
                    output: state.output_name_of_surface(&surface),
                }
            }
            wl_keyboard::Event::Key {
                time,
                key,
                state: st,
                ..
            } => {
                let Some(ss) = state.seat.as_ref() else {
                    return;
                };
                let info = ss.xkb.key_info(key);
                Event::Key {
                    keycode: key,
                    state: key_state(st),
                    keysym: info.keysym,
                    keysym_name: info.keysym_name,
                    utf8: info.utf8,
                    mods: info.mods,
                    time_ms: time,
                }
            }
            wl_keyboard::Event::Modifiers {
                mods_depressed,
                mods_latched,
                mods_locked,
                group,
                ..
            } => {
                let Some(ss) = state.seat.as_mut() else {
                    return;
                };
                ss.xkb
                    .update_mask(mods_depressed, mods_latched, mods_locked, group);
                Event::Modifiers {
                    depressed: mods_depressed,
                    latched: mods_latched,
                    locked: mods_locked,
                    group,
                    mods: ss.xkb.active_mods(),
                }
            }
            wl_keyboard::Event::RepeatInfo { rate, delay } => Event::RepeatInfo { rate, delay },
            _ => return,
        };
        state.record(ev);
    }
}

impl Dispatch<WlTouch, ()> for Probe {
    fn event(
        state: &mut Self,
        _: &WlTouch,
        event: wl_touch::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let ev = match event {
            wl_touch::Event::Down {
                surface, id, x, y, ..
            } => {
                let output = state.output_name_of_surface(&surface);
                if let Some(ss) = state.seat.as_mut() {
                    ss.touch_outputs.insert(id, output.clone());
                }
                Event::TouchDown { output, id, x, y }
            }
            wl_touch::Event::Motion { id, x, y, .. } => {
                let output = state
                    .seat
                    .as_ref()
                    .and_then(|ss| ss.touch_outputs.get(&id).cloned())
                    .unwrap_or_default();
                Event::TouchMotion { output, id, x, y }
            }
            wl_touch::Event::Up { id, .. } => {
                let output = state
                    .seat
                    .as_mut()
                    .and_then(|ss| ss.touch_outputs.remove(&id))
                    .unwrap_or_default();
                Event::TouchUp { output, id }
            }
            wl_touch::Event::Cancel => {
                if let Some(ss) = state.seat.as_mut() {
                    ss.touch_outputs.clear();
                }
                Event::TouchCancel
            }
            _ => return,
        };
        state.record(ev);
    }
}
