//! Keyboard focus, as sway and labwc do it without input devices: a layer
//! surface on the TOP or OVERLAY layer asking for EXCLUSIVE keyboard
//! interactivity holds the focus while it is mapped (the protocol says
//! so); otherwise the most recently mapped window has it, and when it goes
//! the one mapped before it gets it back. ON_DEMAND layer surfaces would
//! take focus on a click, and nothing clicks here, so they never do.

use smithay::backend::renderer::utils::with_renderer_surface_state;
use smithay::desktop::{LayerSurface, Window};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::Resource;
use smithay::utils::SERIAL_COUNTER;
use smithay::wayland::shell::wlr_layer::{KeyboardInteractivity, Layer};

use crate::state::State;

#[derive(Default)]
pub struct FocusStack {
    /// Windows, oldest first; the last one has focus unless a layer does.
    windows: Vec<Window>,
    /// Mapped layer surfaces holding exclusive focus, oldest first.
    exclusive_layers: Vec<WlSurface>,
}

impl FocusStack {
    pub fn window_mapped(&mut self, window: &Window) {
        self.windows.retain(|w| w != window);
        self.windows.push(window.clone());
    }

    pub fn window_gone(&mut self, window: &Window) {
        self.windows.retain(|w| w != window);
    }

    /// Takes note of a layer surface's current keyboard interactivity and
    /// layer after a commit.
    pub fn layer_committed(&mut self, layer: &LayerSurface) {
        let surface = layer.wl_surface();
        let mapped =
            with_renderer_surface_state(surface, |s| s.buffer().is_some()).unwrap_or(false);
        let exclusive = mapped
            && matches!(layer.layer(), Layer::Top | Layer::Overlay)
            && layer.cached_state().keyboard_interactivity == KeyboardInteractivity::Exclusive;
        let known = self.exclusive_layers.iter().any(|s| s == surface);
        if exclusive && !known {
            self.exclusive_layers.push(surface.clone());
        } else if !exclusive && known {
            self.exclusive_layers.retain(|s| s != surface);
        }
    }

    pub fn layer_gone(&mut self, surface: &WlSurface) {
        self.exclusive_layers.retain(|s| s != surface);
    }

    /// Who should have keyboard focus now.
    pub fn target(&self) -> Option<WlSurface> {
        self.exclusive_layers
            .iter()
            .rev()
            .find(|s| s.is_alive())
            .cloned()
            .or_else(|| {
                self.windows
                    .iter()
                    .rev()
                    .find_map(|w| w.toplevel().map(|t| t.wl_surface().clone()))
            })
    }
}

impl State {
    /// Gives keyboard focus to whoever should have it, if that changed.
    pub fn refocus(&mut self) {
        let Some(keyboard) = self.seat.get_keyboard() else {
            return;
        };
        let target = self.focus.target();
        if keyboard.current_focus() == target {
            return;
        }
        for m in &self.toplevels.mapped {
            let active = m.window.toplevel().map(|t| t.wl_surface()) == target.as_ref();
            if m.window.set_activated(active) {
                if let Some(t) = m.window.toplevel() {
                    t.send_pending_configure();
                }
            }
        }
        tracing::info!(surface = ?target.as_ref().map(|s| s.id()), "keyboard focus to");
        keyboard.set_focus(self, target, SERIAL_COUNTER.next_serial());
    }
}
