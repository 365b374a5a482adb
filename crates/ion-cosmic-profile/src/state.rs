//! The compositor's state: every protocol's smithay state, the space the
//! windows live in, the outputs, and the capture and output-management
//! bookkeeping of our own.

use std::time::Duration;

use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::desktop::{Space, Window};
use smithay::input::{keyboard::XkbConfig, Seat, SeatState};
use smithay::reexports::calloop::{LoopHandle, LoopSignal};
use smithay::reexports::wayland_server::backend::{ClientData, ClientId, DisconnectReason};
use smithay::reexports::wayland_server::protocol::wl_shm;
use smithay::reexports::wayland_server::{Display, DisplayHandle};
use smithay::utils::{Clock, Monotonic};
use smithay::wayland::compositor::{CompositorClientState, CompositorState};
use smithay::wayland::foreign_toplevel_list::ForeignToplevelListState;
use smithay::wayland::output::OutputManagerState;
use smithay::wayland::selection::data_device::DataDeviceState;
use smithay::wayland::selection::ext_data_control::DataControlState as ExtDataControlState;
use smithay::wayland::selection::primary_selection::PrimarySelectionState;
use smithay::wayland::selection::wlr_data_control::DataControlState as WlrDataControlState;
use smithay::wayland::shell::wlr_layer::WlrLayerShellState;
use smithay::wayland::shell::xdg::XdgShellState;
use smithay::wayland::shm::ShmState;
use smithay::wayland::virtual_keyboard::VirtualKeyboardManagerState;

use crate::focus::FocusStack;
use crate::image_copy::ImageCopyState;
use crate::output::HeadlessOutput;
use crate::output_management::OutputManagementState;
use crate::toplevels::Toplevels;

/// Key repeat as cosmic-comp's default config has it (600 ms, 25 Hz).
const REPEAT_DELAY_MS: i32 = 600;
const REPEAT_RATE: i32 = 25;

/// What the event loop's callbacks get: the state and the display that
/// dispatches into it (apart, so one can borrow the other mutably).
pub struct LoopData {
    pub state: State,
    pub display: Display<State>,
}

pub struct State {
    pub dh: DisplayHandle,
    pub loop_handle: LoopHandle<'static, LoopData>,
    pub loop_signal: LoopSignal,
    pub clock: Clock<Monotonic>,

    pub compositor_state: CompositorState,
    pub xdg_shell_state: XdgShellState,
    pub layer_shell_state: WlrLayerShellState,
    pub shm_state: ShmState,
    pub seat_state: SeatState<State>,
    // Held for their globals' sake; nothing asks them anything later.
    #[allow(dead_code)]
    pub output_manager_state: OutputManagerState,
    pub data_device_state: DataDeviceState,
    pub primary_selection_state: PrimarySelectionState,
    pub ext_data_control_state: ExtDataControlState,
    pub wlr_data_control_state: WlrDataControlState,
    #[allow(dead_code)]
    pub virtual_keyboard_state: VirtualKeyboardManagerState,
    pub foreign_toplevel_list_state: ForeignToplevelListState,
    pub output_management: OutputManagementState,
    pub image_copy: ImageCopyState,

    pub seat: Seat<State>,
    pub space: Space<Window>,
    pub outputs: Vec<HeadlessOutput>,
    pub toplevels: Toplevels,
    pub focus: FocusStack,
    pub renderer: PixmanRenderer,
}

impl State {
    /// Creates every global cosmic-comp offers that matters here, and no
    /// other (no virtual pointer, no wlr-screencopy: cosmic-comp has
    /// neither).
    pub fn new(
        display: &Display<State>,
        loop_handle: LoopHandle<'static, LoopData>,
        loop_signal: LoopSignal,
    ) -> anyhow::Result<State> {
        let dh = display.handle();
        let compositor_state = CompositorState::new::<State>(&dh);
        let xdg_shell_state = XdgShellState::new::<State>(&dh);
        let layer_shell_state = WlrLayerShellState::new::<State>(&dh);
        // Argb8888 and Xrgb8888 are always there; cosmic-comp also takes
        // the byte-swapped pair (its captures prefer them).
        let shm_state = ShmState::new::<State>(
            &dh,
            vec![wl_shm::Format::Abgr8888, wl_shm::Format::Xbgr8888],
        );
        let output_manager_state = OutputManagerState::new_with_xdg_output::<State>(&dh);
        let mut seat_state = SeatState::new();
        let mut seat = seat_state.new_wl_seat(&dh, "seat0");
        seat.add_keyboard(XkbConfig::default(), REPEAT_DELAY_MS, REPEAT_RATE)
            .map_err(|e| anyhow::anyhow!("the seat's keyboard: {e:?}"))?;
        // cosmic-comp's seat always has a pointer (the capability is there
        // before any device); nothing moves it here.
        seat.add_pointer();
        let data_device_state = DataDeviceState::new::<State>(&dh);
        let primary_selection_state = PrimarySelectionState::new::<State>(&dh);
        let ext_data_control_state =
            ExtDataControlState::new::<State, _>(&dh, Some(&primary_selection_state), |_| true);
        let wlr_data_control_state =
            WlrDataControlState::new::<State, _>(&dh, Some(&primary_selection_state), |_| true);
        let virtual_keyboard_state = VirtualKeyboardManagerState::new::<State, _>(&dh, |_| true);
        let foreign_toplevel_list_state = ForeignToplevelListState::new::<State>(&dh);
        let output_management = OutputManagementState::new(&dh);
        let image_copy = ImageCopyState::new(&dh);
        let renderer =
            PixmanRenderer::new().map_err(|e| anyhow::anyhow!("the pixman renderer: {e}"))?;

        Ok(State {
            dh,
            loop_handle,
            loop_signal,
            clock: Clock::new(),
            compositor_state,
            xdg_shell_state,
            layer_shell_state,
            shm_state,
            seat_state,
            output_manager_state,
            data_device_state,
            primary_selection_state,
            ext_data_control_state,
            wlr_data_control_state,
            virtual_keyboard_state,
            foreign_toplevel_list_state,
            output_management,
            image_copy,
            seat,
            space: Space::default(),
            outputs: Vec::new(),
            toplevels: Toplevels::default(),
            focus: FocusStack::default(),
            renderer,
        })
    }

    /// The monotonic clock, for frame callbacks and presentation times.
    pub fn now(&self) -> Duration {
        Duration::from(self.clock.now())
    }
}

/// Per-client data: smithay's compositor state, and logging of the
/// client's coming and going (a protocol error shows here).
#[derive(Default)]
pub struct ClientState {
    pub compositor_state: CompositorClientState,
}

impl ClientData for ClientState {
    fn initialized(&self, client_id: ClientId) {
        tracing::info!(?client_id, "client connected");
    }

    fn disconnected(&self, client_id: ClientId, reason: DisconnectReason) {
        match reason {
            DisconnectReason::ConnectionClosed => {
                tracing::info!(?client_id, "client disconnected");
            }
            DisconnectReason::ProtocolError(err) => {
                tracing::warn!(
                    ?client_id,
                    "client disconnected after a protocol error: {}@{}: {} (code {})",
                    err.object_interface,
                    err.object_id,
                    err.message,
                    err.code
                );
            }
        }
    }
}
