//! xdg-shell and wlr-layer-shell: smithay's handlers, with the window
//! bookkeeping in toplevels.rs and layer surfaces placed on their output's
//! layer map (the probe draws its picture on OVERLAY layer surfaces).

use smithay::desktop::{layer_map_for_output, LayerSurface, WindowSurfaceType};
use smithay::output::Output;
use smithay::reexports::wayland_server::protocol::{
    wl_output::WlOutput, wl_seat, wl_surface::WlSurface,
};
use smithay::utils::Serial;
use smithay::wayland::compositor::with_states;
use smithay::wayland::shell::wlr_layer::{
    Layer, LayerSurface as WlrLayerSurface, LayerSurfaceData, WlrLayerShellHandler,
    WlrLayerShellState,
};
use smithay::wayland::shell::xdg::{
    PopupSurface, PositionerState, ToplevelSurface, XdgShellHandler, XdgShellState,
};
use smithay::{delegate_layer_shell, delegate_xdg_shell};

use crate::state::State;

impl XdgShellHandler for State {
    fn xdg_shell_state(&mut self) -> &mut XdgShellState {
        &mut self.xdg_shell_state
    }

    fn new_toplevel(&mut self, surface: ToplevelSurface) {
        self.new_toplevel_window(surface);
    }

    fn new_popup(&mut self, surface: PopupSurface, positioner: PositionerState) {
        // Popups are not drawn (nothing here opens menus); they still get
        // their configure so a client is not left waiting.
        surface.with_pending_state(|state| {
            state.geometry = positioner.get_geometry();
        });
        if let Err(e) = surface.send_configure() {
            tracing::debug!("popup configure: {e}");
        }
    }

    fn grab(&mut self, _surface: PopupSurface, _seat: wl_seat::WlSeat, _serial: Serial) {}

    fn reposition_request(
        &mut self,
        surface: PopupSurface,
        positioner: PositionerState,
        token: u32,
    ) {
        surface.with_pending_state(|state| {
            state.geometry = positioner.get_geometry();
            state.positioner = positioner;
        });
        surface.send_repositioned(token);
    }

    fn toplevel_destroyed(&mut self, surface: ToplevelSurface) {
        State::toplevel_destroyed(self, &surface);
    }

    fn title_changed(&mut self, surface: ToplevelSurface) {
        self.toplevel_identity_changed(&surface);
    }

    fn app_id_changed(&mut self, surface: ToplevelSurface) {
        self.toplevel_identity_changed(&surface);
    }
}

impl WlrLayerShellHandler for State {
    fn shell_state(&mut self) -> &mut WlrLayerShellState {
        &mut self.layer_shell_state
    }

    fn new_layer_surface(
        &mut self,
        surface: WlrLayerSurface,
        output: Option<WlOutput>,
        _layer: Layer,
        namespace: String,
    ) {
        // No output named: the first enabled one (cosmic-comp takes the
        // active one; there is no pointer or focus to pick by here).
        let output = output
            .as_ref()
            .and_then(Output::from_resource)
            .filter(|o| self.space.outputs().any(|e| e == o))
            .or_else(|| self.space.outputs().next().cloned());
        let Some(output) = output else {
            tracing::info!(%namespace, "layer surface without an output: closed");
            surface.send_close();
            return;
        };
        let layer = LayerSurface::new(surface, namespace.clone());
        let mut map = layer_map_for_output(&output);
        if let Err(e) = map.map_layer(&layer) {
            tracing::warn!(%namespace, "layer surface not mapped: {e}");
            drop(map);
            layer.layer_surface().send_close();
            return;
        }
        tracing::info!(%namespace, output = %output.name(), "layer surface created");
    }

    fn layer_destroyed(&mut self, surface: WlrLayerSurface) {
        for output in self.space.outputs().cloned().collect::<Vec<_>>() {
            let mut map = layer_map_for_output(&output);
            let found = map
                .layers()
                .find(|l| l.layer_surface() == &surface)
                .cloned();
            if let Some(layer) = found {
                map.unmap_layer(&layer);
            }
        }
        self.focus.layer_gone(surface.wl_surface());
        self.refocus();
    }
}

impl State {
    /// A commit on a layer surface: arrange its output (sizes follow the
    /// anchors), the initial configure, and keyboard focus once it shows.
    pub fn layer_commit(&mut self, surface: &WlSurface) {
        let Some(output) = self
            .space
            .outputs()
            .find(|o| {
                layer_map_for_output(o)
                    .layer_for_surface(surface, WindowSurfaceType::TOPLEVEL)
                    .is_some()
            })
            .cloned()
        else {
            return;
        };
        let initial_configure_sent = with_states(surface, |states| {
            states
                .data_map
                .get::<LayerSurfaceData>()
                .and_then(|d| d.lock().ok())
                .map(|d| d.initial_configure_sent)
                .unwrap_or(false)
        });
        let layer = {
            let mut map = layer_map_for_output(&output);
            map.arrange();
            map.layer_for_surface(surface, WindowSurfaceType::TOPLEVEL)
                .cloned()
        };
        let Some(layer) = layer else {
            return;
        };
        if !initial_configure_sent {
            layer.layer_surface().send_configure();
            return;
        }
        self.focus.layer_committed(&layer);
        self.refocus();
    }

    /// An output went away: its layer surfaces are closed (as wlroots
    /// compositors do; clients make new ones on another output).
    pub fn close_layers_of(&mut self, output: &Output) {
        let layers: Vec<LayerSurface> = {
            let mut map = layer_map_for_output(output);
            let layers: Vec<LayerSurface> = map.layers().cloned().collect();
            for l in &layers {
                map.unmap_layer(l);
            }
            layers
        };
        for layer in layers {
            layer.layer_surface().send_close();
            self.focus.layer_gone(layer.wl_surface());
        }
        self.refocus();
    }
}

delegate_xdg_shell!(State);
delegate_layer_shell!(State);
