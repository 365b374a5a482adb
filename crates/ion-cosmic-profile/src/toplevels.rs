//! Windows (xdg toplevels): when they map and unmap, where they go, and
//! their ext-foreign-toplevel-list handles (which ext-image-copy-capture's
//! toplevel sources refer to).

use smithay::backend::renderer::utils::with_renderer_surface_state;
use smithay::desktop::Window;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Logical, Point};
use smithay::wayland::compositor::with_states;
use smithay::wayland::foreign_toplevel_list::ForeignToplevelHandle;
use smithay::wayland::shell::xdg::{ToplevelSurface, XdgToplevelSurfaceData};

use crate::state::State;

/// A mapped window and its foreign-toplevel handle.
pub struct MappedToplevel {
    pub window: Window,
    pub handle: ForeignToplevelHandle,
}

#[derive(Default)]
pub struct Toplevels {
    /// Toplevels without a buffer yet (or unmapped by a null commit).
    pub pending: Vec<Window>,
    /// Mapped ones, in map order.
    pub mapped: Vec<MappedToplevel>,
}

impl Toplevels {
    pub fn find_mapped(&self, surface: &WlSurface) -> Option<&MappedToplevel> {
        self.mapped.iter().find(|m| {
            m.window
                .toplevel()
                .is_some_and(|t| t.wl_surface() == surface)
        })
    }

    /// The mapped window whose foreign-toplevel identifier this is.
    pub fn by_identifier(&self, identifier: &str) -> Option<&MappedToplevel> {
        self.mapped
            .iter()
            .find(|m| m.handle.identifier() == identifier)
    }
}

/// Title and app id as the client set them.
pub fn title_and_app_id(surface: &WlSurface) -> (String, String) {
    with_states(surface, |states| {
        states
            .data_map
            .get::<XdgToplevelSurfaceData>()
            .and_then(|d| d.lock().ok())
            .map(|d| {
                (
                    d.title.clone().unwrap_or_default(),
                    d.app_id.clone().unwrap_or_default(),
                )
            })
            .unwrap_or_default()
    })
}

fn has_buffer(surface: &WlSurface) -> bool {
    with_renderer_surface_state(surface, |s| s.buffer().is_some()).unwrap_or(false)
}

impl State {
    pub fn new_toplevel_window(&mut self, toplevel: ToplevelSurface) {
        self.toplevels
            .pending
            .push(Window::new_wayland_window(toplevel));
    }

    /// Where a new window goes: the top-left corner of the first enabled
    /// output, as sway and labwc put a fixed-size floating window near
    /// there too; the tests capture windows as toplevel sources, so only
    /// "on an output" matters.
    fn new_window_location(&self) -> Point<i32, Logical> {
        self.space
            .outputs()
            .next()
            .and_then(|o| self.space.output_geometry(o))
            .map(|g| g.loc)
            .unwrap_or_default()
    }

    /// A commit on a toplevel's root surface: the initial configure, the
    /// map on the first buffer, the unmap on a null buffer.
    pub fn toplevel_commit(&mut self, root: &WlSurface) {
        if let Some(i) = self
            .toplevels
            .pending
            .iter()
            .position(|w| w.toplevel().is_some_and(|t| t.wl_surface() == root))
        {
            let window = self.toplevels.pending[i].clone();
            let Some(toplevel) = window.toplevel() else {
                return;
            };
            if !toplevel.is_initial_configure_sent() {
                toplevel.send_configure();
                return;
            }
            window.on_commit();
            if has_buffer(root) {
                self.toplevels.pending.remove(i);
                self.map_window(window);
            }
            return;
        }
        let Some(mapped) = self.toplevels.find_mapped(root) else {
            return;
        };
        let window = mapped.window.clone();
        window.on_commit();
        if !has_buffer(root) {
            self.unmap_window(&window);
            self.toplevels.pending.push(window);
        }
    }

    fn map_window(&mut self, window: Window) {
        let Some(surface) = window.toplevel().map(|t| t.wl_surface().clone()) else {
            return;
        };
        let (title, app_id) = title_and_app_id(&surface);
        let handle = self
            .foreign_toplevel_list_state
            .new_toplevel::<State>(&title, &app_id);
        let loc = self.new_window_location();
        self.space.map_element(window.clone(), loc, false);
        tracing::info!(
            %app_id, %title, identifier = %handle.identifier(),
            "window mapped at {},{} size {}x{}",
            loc.x, loc.y, window.geometry().size.w, window.geometry().size.h
        );
        self.toplevels.mapped.push(MappedToplevel {
            window: window.clone(),
            handle,
        });
        self.focus.window_mapped(&window);
        self.refocus();
    }

    /// Takes a window off the screen and out of the foreign-toplevel list
    /// (ending capture sessions of it).
    pub fn unmap_window(&mut self, window: &Window) {
        let Some(i) = self
            .toplevels
            .mapped
            .iter()
            .position(|m| &m.window == window)
        else {
            return;
        };
        let mapped = self.toplevels.mapped.remove(i);
        self.space.unmap_elem(&mapped.window);
        tracing::info!(identifier = %mapped.handle.identifier(), "window unmapped");
        self.image_copy.toplevel_gone(&mapped.handle.identifier());
        self.foreign_toplevel_list_state
            .remove_toplevel(&mapped.handle);
        self.focus.window_gone(window);
        self.refocus();
    }

    pub fn toplevel_destroyed(&mut self, toplevel: &ToplevelSurface) {
        self.toplevels
            .pending
            .retain(|w| w.toplevel().is_some_and(|t| t != toplevel));
        if let Some(window) = self
            .toplevels
            .mapped
            .iter()
            .find(|m| m.window.toplevel() == Some(toplevel))
            .map(|m| m.window.clone())
        {
            self.unmap_window(&window);
        }
    }

    /// The client changed its title or app id: the foreign-toplevel list
    /// says so.
    pub fn toplevel_identity_changed(&mut self, toplevel: &ToplevelSurface) {
        let Some(mapped) = self.toplevels.find_mapped(toplevel.wl_surface()) else {
            return;
        };
        let (title, app_id) = title_and_app_id(toplevel.wl_surface());
        if mapped.handle.title() != title {
            mapped.handle.send_title(&title);
        }
        if mapped.handle.app_id() != app_id {
            mapped.handle.send_app_id(&app_id);
        }
        mapped.handle.send_done();
    }
}
