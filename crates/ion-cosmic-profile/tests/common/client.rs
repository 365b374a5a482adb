//! A test client's state: what the compositor told it, per protocol.

use std::collections::HashMap;
use std::io::Write;

use wayland_client::backend::ObjectId;
use wayland_client::protocol::{
    wl_buffer::WlBuffer, wl_compositor::WlCompositor, wl_keyboard, wl_keyboard::WlKeyboard,
    wl_output, wl_output::WlOutput, wl_pointer::WlPointer, wl_registry, wl_registry::WlRegistry,
    wl_seat, wl_seat::WlSeat, wl_shm::WlShm, wl_shm_pool::WlShmPool, wl_surface::WlSurface,
};
use wayland_client::{
    delegate_noop, event_created_child, Connection, Dispatch, Proxy, QueueHandle, WEnum,
};
use wayland_protocols::ext::data_control::v1::client::{
    ext_data_control_device_v1::{self, ExtDataControlDeviceV1},
    ext_data_control_manager_v1::ExtDataControlManagerV1,
    ext_data_control_offer_v1::{self, ExtDataControlOfferV1},
    ext_data_control_source_v1::{self, ExtDataControlSourceV1},
};
use wayland_protocols::ext::foreign_toplevel_list::v1::client::{
    ext_foreign_toplevel_handle_v1::{self, ExtForeignToplevelHandleV1},
    ext_foreign_toplevel_list_v1::{self, ExtForeignToplevelListV1},
};
use wayland_protocols::ext::image_capture_source::v1::client::{
    ext_foreign_toplevel_image_capture_source_manager_v1::ExtForeignToplevelImageCaptureSourceManagerV1,
    ext_image_capture_source_v1::ExtImageCaptureSourceV1,
    ext_output_image_capture_source_manager_v1::ExtOutputImageCaptureSourceManagerV1,
};
use wayland_protocols::ext::image_copy_capture::v1::client::{
    ext_image_copy_capture_cursor_session_v1::{self, ExtImageCopyCaptureCursorSessionV1},
    ext_image_copy_capture_frame_v1::{self, ExtImageCopyCaptureFrameV1},
    ext_image_copy_capture_manager_v1::ExtImageCopyCaptureManagerV1,
    ext_image_copy_capture_session_v1::{self, ExtImageCopyCaptureSessionV1},
};
use wayland_protocols::xdg::shell::client::{
    xdg_surface::{self, XdgSurface},
    xdg_toplevel::XdgToplevel,
    xdg_wm_base::{self, XdgWmBase},
};
use wayland_protocols_misc::zwp_virtual_keyboard_v1::client::{
    zwp_virtual_keyboard_manager_v1::ZwpVirtualKeyboardManagerV1,
    zwp_virtual_keyboard_v1::ZwpVirtualKeyboardV1,
};
use wayland_protocols_wlr::data_control::v1::client::{
    zwlr_data_control_device_v1::{self, ZwlrDataControlDeviceV1},
    zwlr_data_control_manager_v1::ZwlrDataControlManagerV1,
    zwlr_data_control_offer_v1::{self, ZwlrDataControlOfferV1},
    zwlr_data_control_source_v1::{self, ZwlrDataControlSourceV1},
};
use wayland_protocols_wlr::layer_shell::v1::client::{
    zwlr_layer_shell_v1::ZwlrLayerShellV1,
    zwlr_layer_surface_v1::{self, ZwlrLayerSurfaceV1},
};
use wayland_protocols_wlr::output_management::v1::client::{
    zwlr_output_configuration_head_v1::ZwlrOutputConfigurationHeadV1,
    zwlr_output_configuration_v1::{self, ZwlrOutputConfigurationV1},
    zwlr_output_head_v1::{self, ZwlrOutputHeadV1},
    zwlr_output_manager_v1::{self, ZwlrOutputManagerV1},
    zwlr_output_mode_v1::{self, ZwlrOutputModeV1},
};

#[derive(Debug, Default, Clone)]
pub struct OutputInfo {
    pub name: Option<String>,
    pub transform: Option<i32>,
    pub scale: Option<i32>,
    pub mode: Option<(i32, i32)>,
    pub done: u32,
}

#[derive(Debug, Default, Clone)]
pub struct ToplevelInfo {
    pub identifier: Option<String>,
    pub app_id: Option<String>,
    pub title: Option<String>,
    pub done: bool,
    pub closed: bool,
}

#[derive(Debug, Default, Clone)]
pub struct SessionInfo {
    pub size: Option<(u32, u32)>,
    pub formats: Vec<u32>,
    pub done: u32,
    pub stopped: bool,
}

#[derive(Debug, Default, Clone)]
pub struct FrameInfo {
    pub transform: Option<u32>,
    pub damage: Vec<(i32, i32, i32, i32)>,
    pub presented: bool,
    pub ready: bool,
    pub failed: Option<u32>,
}

#[derive(Debug, Default, Clone)]
pub struct HeadInfo {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub modes: Vec<ObjectId>,
    pub current_mode: Option<ObjectId>,
    pub position: Option<(i32, i32)>,
    pub transform: Option<i32>,
    pub scale: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum KeyboardEvent {
    Keymap(String),
    Enter(ObjectId),
    Leave,
    Key { key: u32, pressed: bool },
}

#[derive(Default)]
pub struct App {
    pub registry: Option<WlRegistry>,
    pub globals: Vec<(u32, String, u32)>,
    pub outputs: Vec<(WlOutput, OutputInfo)>,
    pub seat_name: Option<String>,
    pub seat_caps: Option<u32>,
    pub keyboard: Vec<KeyboardEvent>,
    pub configures: u32,
    pub toplevels: Vec<(ExtForeignToplevelHandleV1, ToplevelInfo)>,
    pub sessions: Vec<SessionInfo>,
    pub frames: Vec<FrameInfo>,
    pub cursor_entered: bool,
    /// Mime types per data-control offer.
    pub offers: HashMap<ObjectId, Vec<String>>,
    /// The latest selection offer (None: cleared or none yet).
    pub selection: Option<ObjectId>,
    pub selection_events: u32,
    pub ext_offers: Vec<ExtDataControlOfferV1>,
    pub wlr_offers: Vec<ZwlrDataControlOfferV1>,
    /// What our data-control source hands out.
    pub clipboard_text: Option<String>,
    pub heads: Vec<(ZwlrOutputHeadV1, HeadInfo)>,
    pub modes: HashMap<ObjectId, (i32, i32, i32)>,
    pub om_serial: Option<u32>,
    pub om_done: u32,
    /// The latest layer-surface configure (width, height).
    pub layer_configured: Option<(u32, u32)>,
    pub layer_closed: bool,
    /// succeeded / failed / cancelled per configuration, in order.
    pub config_results: Vec<&'static str>,
}

impl App {
    /// Binds the global named `interface` (the first one).
    pub fn bind<I, U>(&self, qh: &QueueHandle<App>, interface: &str, version: u32, udata: U) -> I
    where
        I: Proxy + 'static,
        U: Send + Sync + 'static,
        App: Dispatch<I, U>,
    {
        let (name, _, v) = self
            .globals
            .iter()
            .find(|(_, i, _)| i == interface)
            .unwrap_or_else(|| panic!("no {interface}"));
        self.registry
            .as_ref()
            .unwrap()
            .bind(*name, version.min(*v), qh, udata)
    }

    pub fn has(&self, interface: &str) -> bool {
        self.globals.iter().any(|(_, i, _)| i == interface)
    }

    pub fn output_named(&self, name: &str) -> WlOutput {
        self.outputs
            .iter()
            .find(|(_, o)| o.name.as_deref() == Some(name))
            .map(|(w, _)| w.clone())
            .unwrap_or_else(|| panic!("no output {name}"))
    }

    pub fn head_named(&self, name: &str) -> (ZwlrOutputHeadV1, HeadInfo) {
        self.heads
            .iter()
            .find(|(_, h)| h.name.as_deref() == Some(name))
            .cloned()
            .unwrap_or_else(|| panic!("no head {name}"))
    }
}

impl Dispatch<WlRegistry, ()> for App {
    fn event(
        app: &mut Self,
        registry: &WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        app.registry = Some(registry.clone());
        match event {
            wl_registry::Event::Global {
                name,
                interface,
                version,
            } => {
                if interface == "wl_output" {
                    let index = app.outputs.len();
                    let output: WlOutput = registry.bind(name, version.min(4), qh, index);
                    app.outputs.push((output, OutputInfo::default()));
                }
                if interface == "wl_seat" {
                    let _: WlSeat = registry.bind(name, version.min(9), qh, ());
                }
                app.globals.push((name, interface, version));
            }
            wl_registry::Event::GlobalRemove { name } => app.globals.retain(|(n, _, _)| *n != name),
            _ => {}
        }
    }
}

impl Dispatch<WlOutput, usize> for App {
    fn event(
        app: &mut Self,
        _: &WlOutput,
        event: wl_output::Event,
        index: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let o = &mut app.outputs[*index].1;
        match event {
            wl_output::Event::Name { name } => o.name = Some(name),
            wl_output::Event::Geometry { transform, .. } => {
                o.transform = Some(match transform {
                    WEnum::Value(t) => t as i32,
                    WEnum::Unknown(v) => v as i32,
                })
            }
            wl_output::Event::Scale { factor } => o.scale = Some(factor),
            wl_output::Event::Mode {
                flags: WEnum::Value(f),
                width,
                height,
                ..
            } if f.contains(wl_output::Mode::Current) => o.mode = Some((width, height)),
            wl_output::Event::Done => o.done += 1,
            _ => {}
        }
    }
}

impl Dispatch<WlSeat, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_seat::Event::Name { name } => app.seat_name = Some(name),
            wl_seat::Event::Capabilities { capabilities } => {
                app.seat_caps = Some(match capabilities {
                    WEnum::Value(c) => c.bits(),
                    WEnum::Unknown(v) => v,
                })
            }
            _ => {}
        }
    }
}

impl Dispatch<WlKeyboard, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_keyboard::Event::Keymap { fd, size, .. } => {
                let bytes = super::read_fd(&fd, size as usize);
                let text = String::from_utf8_lossy(&bytes)
                    .trim_end_matches('\0')
                    .to_owned();
                app.keyboard.push(KeyboardEvent::Keymap(text));
            }
            wl_keyboard::Event::Enter { surface, .. } => {
                app.keyboard.push(KeyboardEvent::Enter(surface.id()))
            }
            wl_keyboard::Event::Leave { .. } => app.keyboard.push(KeyboardEvent::Leave),
            wl_keyboard::Event::Key { key, state, .. } => app.keyboard.push(KeyboardEvent::Key {
                key,
                pressed: state == WEnum::Value(wl_keyboard::KeyState::Pressed),
            }),
            _ => {}
        }
    }
}

impl Dispatch<XdgWmBase, ()> for App {
    fn event(
        _: &mut Self,
        wm: &XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm.pong(serial);
        }
    }
}

impl Dispatch<XdgSurface, ()> for App {
    fn event(
        app: &mut Self,
        surface: &XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            surface.ack_configure(serial);
            app.configures += 1;
        }
    }
}

impl Dispatch<ExtForeignToplevelListV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ExtForeignToplevelListV1,
        event: ext_foreign_toplevel_list_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let ext_foreign_toplevel_list_v1::Event::Toplevel { toplevel } = event {
            app.toplevels.push((toplevel, ToplevelInfo::default()));
        }
    }

    event_created_child!(App, ExtForeignToplevelListV1, [
        ext_foreign_toplevel_list_v1::EVT_TOPLEVEL_OPCODE => (ExtForeignToplevelHandleV1, ()),
    ]);
}

impl Dispatch<ExtForeignToplevelHandleV1, ()> for App {
    fn event(
        app: &mut Self,
        handle: &ExtForeignToplevelHandleV1,
        event: ext_foreign_toplevel_handle_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some((_, t)) = app.toplevels.iter_mut().find(|(h, _)| h == handle) else {
            return;
        };
        match event {
            ext_foreign_toplevel_handle_v1::Event::Identifier { identifier } => {
                t.identifier = Some(identifier)
            }
            ext_foreign_toplevel_handle_v1::Event::AppId { app_id } => t.app_id = Some(app_id),
            ext_foreign_toplevel_handle_v1::Event::Title { title } => t.title = Some(title),
            ext_foreign_toplevel_handle_v1::Event::Done => t.done = true,
            ext_foreign_toplevel_handle_v1::Event::Closed => t.closed = true,
            _ => {}
        }
    }
}

impl Dispatch<ExtImageCopyCaptureSessionV1, usize> for App {
    fn event(
        app: &mut Self,
        _: &ExtImageCopyCaptureSessionV1,
        event: ext_image_copy_capture_session_v1::Event,
        index: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let s = &mut app.sessions[*index];
        match event {
            ext_image_copy_capture_session_v1::Event::BufferSize { width, height } => {
                s.size = Some((width, height))
            }
            ext_image_copy_capture_session_v1::Event::ShmFormat { format } => {
                s.formats.push(match format {
                    WEnum::Value(f) => f as u32,
                    WEnum::Unknown(v) => v,
                })
            }
            ext_image_copy_capture_session_v1::Event::Done => s.done += 1,
            ext_image_copy_capture_session_v1::Event::Stopped => s.stopped = true,
            _ => {}
        }
    }
}

impl Dispatch<ExtImageCopyCaptureFrameV1, usize> for App {
    fn event(
        app: &mut Self,
        _: &ExtImageCopyCaptureFrameV1,
        event: ext_image_copy_capture_frame_v1::Event,
        index: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let f = &mut app.frames[*index];
        match event {
            ext_image_copy_capture_frame_v1::Event::Transform { transform } => {
                f.transform = Some(match transform {
                    WEnum::Value(t) => t as u32,
                    WEnum::Unknown(v) => v,
                })
            }
            ext_image_copy_capture_frame_v1::Event::Damage {
                x,
                y,
                width,
                height,
            } => f.damage.push((x, y, width, height)),
            ext_image_copy_capture_frame_v1::Event::PresentationTime { .. } => f.presented = true,
            ext_image_copy_capture_frame_v1::Event::Ready => f.ready = true,
            ext_image_copy_capture_frame_v1::Event::Failed { reason } => {
                f.failed = Some(match reason {
                    WEnum::Value(r) => r as u32,
                    WEnum::Unknown(v) => v,
                })
            }
            _ => {}
        }
    }
}

impl Dispatch<ExtImageCopyCaptureCursorSessionV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ExtImageCopyCaptureCursorSessionV1,
        event: ext_image_copy_capture_cursor_session_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let ext_image_copy_capture_cursor_session_v1::Event::Enter = event {
            app.cursor_entered = true;
        }
    }
}

impl Dispatch<ExtDataControlDeviceV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ExtDataControlDeviceV1,
        event: ext_data_control_device_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            ext_data_control_device_v1::Event::DataOffer { id } => {
                app.offers.insert(id.id(), Vec::new());
                app.ext_offers.push(id);
            }
            ext_data_control_device_v1::Event::Selection { id } => {
                app.selection = id.map(|o| o.id());
                app.selection_events += 1;
            }
            _ => {}
        }
    }

    event_created_child!(App, ExtDataControlDeviceV1, [
        ext_data_control_device_v1::EVT_DATA_OFFER_OPCODE => (ExtDataControlOfferV1, ()),
    ]);
}

impl Dispatch<ExtDataControlOfferV1, ()> for App {
    fn event(
        app: &mut Self,
        offer: &ExtDataControlOfferV1,
        event: ext_data_control_offer_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let ext_data_control_offer_v1::Event::Offer { mime_type } = event {
            app.offers.entry(offer.id()).or_default().push(mime_type);
        }
    }
}

impl Dispatch<ExtDataControlSourceV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ExtDataControlSourceV1,
        event: ext_data_control_source_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let ext_data_control_source_v1::Event::Send { fd, .. } = event {
            let mut file = std::fs::File::from(fd);
            let text = app.clipboard_text.clone().unwrap_or_default();
            file.write_all(text.as_bytes()).unwrap();
        }
    }
}

impl Dispatch<ZwlrDataControlDeviceV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwlrDataControlDeviceV1,
        event: zwlr_data_control_device_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwlr_data_control_device_v1::Event::DataOffer { id } => {
                app.offers.insert(id.id(), Vec::new());
                app.wlr_offers.push(id);
            }
            zwlr_data_control_device_v1::Event::Selection { id } => {
                app.selection = id.map(|o| o.id());
                app.selection_events += 1;
            }
            _ => {}
        }
    }

    event_created_child!(App, ZwlrDataControlDeviceV1, [
        zwlr_data_control_device_v1::EVT_DATA_OFFER_OPCODE => (ZwlrDataControlOfferV1, ()),
    ]);
}

impl Dispatch<ZwlrDataControlOfferV1, ()> for App {
    fn event(
        app: &mut Self,
        offer: &ZwlrDataControlOfferV1,
        event: zwlr_data_control_offer_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwlr_data_control_offer_v1::Event::Offer { mime_type } = event {
            app.offers.entry(offer.id()).or_default().push(mime_type);
        }
    }
}

impl Dispatch<ZwlrDataControlSourceV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwlrDataControlSourceV1,
        event: zwlr_data_control_source_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwlr_data_control_source_v1::Event::Send { fd, .. } = event {
            let mut file = std::fs::File::from(fd);
            let text = app.clipboard_text.clone().unwrap_or_default();
            file.write_all(text.as_bytes()).unwrap();
        }
    }
}

impl Dispatch<ZwlrOutputManagerV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwlrOutputManagerV1,
        event: zwlr_output_manager_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwlr_output_manager_v1::Event::Head { head } => {
                app.heads.push((head, HeadInfo::default()))
            }
            zwlr_output_manager_v1::Event::Done { serial } => {
                app.om_serial = Some(serial);
                app.om_done += 1;
            }
            _ => {}
        }
    }

    event_created_child!(App, ZwlrOutputManagerV1, [
        zwlr_output_manager_v1::EVT_HEAD_OPCODE => (ZwlrOutputHeadV1, ()),
    ]);
}

impl Dispatch<ZwlrOutputHeadV1, ()> for App {
    fn event(
        app: &mut Self,
        head: &ZwlrOutputHeadV1,
        event: zwlr_output_head_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some((_, h)) = app.heads.iter_mut().find(|(x, _)| x == head) else {
            return;
        };
        match event {
            zwlr_output_head_v1::Event::Name { name } => h.name = Some(name),
            zwlr_output_head_v1::Event::Enabled { enabled } => h.enabled = Some(enabled != 0),
            zwlr_output_head_v1::Event::Mode { mode } => h.modes.push(mode.id()),
            zwlr_output_head_v1::Event::CurrentMode { mode } => h.current_mode = Some(mode.id()),
            zwlr_output_head_v1::Event::Position { x, y } => h.position = Some((x, y)),
            zwlr_output_head_v1::Event::Transform { transform } => {
                h.transform = Some(match transform {
                    WEnum::Value(t) => t as i32,
                    WEnum::Unknown(v) => v as i32,
                })
            }
            zwlr_output_head_v1::Event::Scale { scale } => h.scale = Some(scale),
            _ => {}
        }
    }

    event_created_child!(App, ZwlrOutputHeadV1, [
        zwlr_output_head_v1::EVT_MODE_OPCODE => (ZwlrOutputModeV1, ()),
    ]);
}

impl Dispatch<ZwlrOutputModeV1, ()> for App {
    fn event(
        app: &mut Self,
        mode: &ZwlrOutputModeV1,
        event: zwlr_output_mode_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let m = app.modes.entry(mode.id()).or_insert((0, 0, 0));
        match event {
            zwlr_output_mode_v1::Event::Size { width, height } => (m.0, m.1) = (width, height),
            zwlr_output_mode_v1::Event::Refresh { refresh } => m.2 = refresh,
            _ => {}
        }
    }
}

impl Dispatch<ZwlrOutputConfigurationV1, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwlrOutputConfigurationV1,
        event: zwlr_output_configuration_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        app.config_results.push(match event {
            zwlr_output_configuration_v1::Event::Succeeded => "succeeded",
            zwlr_output_configuration_v1::Event::Failed => "failed",
            zwlr_output_configuration_v1::Event::Cancelled => "cancelled",
            _ => "unknown",
        });
    }
}

impl Dispatch<ZwlrLayerSurfaceV1, ()> for App {
    fn event(
        app: &mut Self,
        layer: &ZwlrLayerSurfaceV1,
        event: zwlr_layer_surface_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwlr_layer_surface_v1::Event::Configure {
                serial,
                width,
                height,
            } => {
                layer.ack_configure(serial);
                app.layer_configured = Some((width, height));
            }
            zwlr_layer_surface_v1::Event::Closed => app.layer_closed = true,
            _ => {}
        }
    }
}

delegate_noop!(App: ignore ZwlrLayerShellV1);
delegate_noop!(App: ignore WlCompositor);
delegate_noop!(App: ignore WlShm);
delegate_noop!(App: ignore WlShmPool);
delegate_noop!(App: ignore WlBuffer);
delegate_noop!(App: ignore WlSurface);
delegate_noop!(App: ignore WlPointer);
delegate_noop!(App: ignore XdgToplevel);
delegate_noop!(App: ignore ExtImageCopyCaptureManagerV1);
delegate_noop!(App: ignore ExtOutputImageCaptureSourceManagerV1);
delegate_noop!(App: ignore ExtForeignToplevelImageCaptureSourceManagerV1);
delegate_noop!(App: ignore ExtImageCaptureSourceV1);
delegate_noop!(App: ignore ZwpVirtualKeyboardManagerV1);
delegate_noop!(App: ignore ZwpVirtualKeyboardV1);
delegate_noop!(App: ignore ExtDataControlManagerV1);
delegate_noop!(App: ignore ZwlrDataControlManagerV1);
delegate_noop!(App: ignore ZwlrOutputConfigurationHeadV1);
