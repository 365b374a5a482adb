//! The uinput back-end: a session's relative mouse, absolute pointer and
//! touchscreen as kernel input devices (the evdev crate makes them), which
//! the compositor picks up through libinput on its own seat. What they say
//! is `ion_core::uinput`'s; this file only makes the devices and writes.
//!
//! The kernel removes a uinput device when its fd closes, so a daemon that
//! dies leaves no device behind; a contact or button it held goes with the
//! device (libinput sees the device removed and ends what it had down).

use std::collections::HashMap;
use std::io;

use evdev::uinput::VirtualDevice;
use evdev::{
    AbsInfo, AbsoluteAxisCode, AttributeSet, BusType, InputEvent as KernelEvent, InputId, KeyCode,
    PropType, RelativeAxisCode, UinputAbsSetup,
};
use ion_core::layout::LayoutBox;
use ion_core::uinput::{specs, Device, DeviceSpec, Frame, FrameWriter, EV_SYN};
use ion_core::InputEvent;

use super::PointerBackend;

pub const UINPUT_PATH: &str = "/dev/uinput";

/// The devices' bus and ids: BUS_VIRTUAL, so `libinput list-devices` and
/// udev tell them from hardware. The vendor and product are ours, not a
/// registered USB pair (the bus is not USB).
const ID: (u16, u16, u16) = (0x1d1c, 0x0001, 1);

/// Whether this process can make uinput devices: `/dev/uinput` opened for
/// writing, or why not, in words for `doctor` and the log.
pub fn access() -> Result<(), String> {
    match std::fs::OpenOptions::new().write(true).open(UINPUT_PATH) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!(
            "{UINPUT_PATH} does not exist (load the module: modprobe uinput)"
        )),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(format!(
            "{UINPUT_PATH} is not writable by this user (a udev rule can give the seat's user \
             access: KERNEL==\"uinput\", TAG+=\"uaccess\")"
        )),
        Err(e) => Err(format!("{UINPUT_PATH}: {e}")),
    }
}

pub struct UinputPointer {
    devices: HashMap<Device, VirtualDevice>,
    writer: FrameWriter,
}

fn make(spec: &DeviceSpec) -> io::Result<VirtualDevice> {
    let mut builder = VirtualDevice::builder()?
        .name(spec.name)
        .input_id(InputId::new(BusType::BUS_VIRTUAL, ID.0, ID.1, ID.2));
    if !spec.keys.is_empty() {
        let keys: AttributeSet<KeyCode> = spec.keys.iter().map(|k| KeyCode(*k)).collect();
        builder = builder.with_keys(&keys)?;
    }
    if !spec.rel_axes.is_empty() {
        let axes: AttributeSet<RelativeAxisCode> =
            spec.rel_axes.iter().map(|a| RelativeAxisCode(*a)).collect();
        builder = builder.with_relative_axes(&axes)?;
    }
    for &(code, min, max) in &spec.abs_axes {
        let info = AbsInfo::new(0, min, max, 0, 0, 0);
        builder = builder.with_absolute_axis(&UinputAbsSetup::new(AbsoluteAxisCode(code), info))?;
    }
    if !spec.props.is_empty() {
        let props: AttributeSet<PropType> = spec.props.iter().map(|p| PropType(*p)).collect();
        builder = builder.with_properties(&props)?;
    }
    builder.build()
}

impl UinputPointer {
    /// Makes the session's three devices; all or none.
    pub fn create() -> io::Result<Self> {
        let mut devices = HashMap::new();
        for spec in specs() {
            devices.insert(spec.device, make(&spec)?);
        }
        Ok(Self {
            devices,
            writer: FrameWriter::new(),
        })
    }

    fn write(&mut self, frame: Frame) {
        let Some(dev) = self.devices.get_mut(&frame.device) else {
            return;
        };
        // `emit` closes the batch with its own SYN_REPORT.
        let events: Vec<KernelEvent> = frame
            .events
            .iter()
            .filter(|e| e.kind != EV_SYN)
            .map(|e| KernelEvent::new(e.kind, e.code, e.value))
            .collect();
        if let Err(e) = dev.emit(&events) {
            tracing::warn!(device = ?frame.device, "uinput write failed: {e}");
        }
    }
}

impl PointerBackend for UinputPointer {
    fn name(&self) -> &'static str {
        "uinput"
    }

    fn touch(&self) -> bool {
        true
    }

    fn send(&mut self, event: &InputEvent, layout: Option<LayoutBox>, _time: u32) {
        match self.writer.frames(event, layout) {
            Ok(frames) => {
                for frame in frames {
                    self.write(frame);
                }
            }
            Err(e) => tracing::warn!(event = event.kind(), "not sent through uinput: {e}"),
        }
    }

    fn lift_all(&mut self, _time: u32) {
        for frame in self.writer.lift_all() {
            self.write(frame);
        }
    }

    fn destroy(&mut self) {
        // Closing the fds is what removes the devices.
        self.devices.clear();
    }
}
