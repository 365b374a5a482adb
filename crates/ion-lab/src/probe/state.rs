//! The probe's Wayland state: globals, outputs, the seat, and the work done
//! after every dispatch (indices, surfaces, drawing, the ready and outputs
//! files).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use wayland_client::protocol::{
    wl_buffer::WlBuffer, wl_callback::WlCallback, wl_compositor::WlCompositor,
    wl_display::WlDisplay, wl_output::WlOutput, wl_registry, wl_seat::WlSeat, wl_shm::WlShm,
    wl_shm_pool::WlShmPool,
};
use wayland_client::{Connection, Dispatch, Proxy, QueueHandle};
use wayland_protocols::xdg::xdg_output::zv1::client::zxdg_output_manager_v1::ZxdgOutputManagerV1;
use wayland_protocols_wlr::layer_shell::v1::client::zwlr_layer_shell_v1::ZwlrLayerShellV1;

use super::files::{write_atomic, OutputDesc, OutputsFile, READY_CONTENT};
use super::input::SeatState;
use super::record::{Event, Recorder};
use super::shm::{self, BufferBusy};
use super::surfaces::Output;
use super::ProbeOptions;

/// What a `wl_callback` is for.
#[derive(Debug, Clone)]
pub enum CallbackKind {
    /// A surface's frame callback (output global name).
    Frame(u32),
    /// The round trip after binding an output at run time: its initial
    /// information (name, scale, xdg-output geometry) is complete when it
    /// returns (output global name).
    OutputSync(u32),
    /// The round trip after all first buffers were committed.
    Ready,
    /// The round trip after binding the seat's devices: what the
    /// compositor sends on binding (a pointer enter where the cursor is)
    /// has arrived when it returns, and only then are the capabilities
    /// recorded — so a test that waited for them sees no late enter.
    Capabilities {
        seat: String,
        pointer: bool,
        keyboard: bool,
        touch: bool,
    },
}

/// Everything the probe knows.
pub struct Probe {
    pub(crate) opts: ProbeOptions,
    pub(crate) recorder: Recorder,
    pub(crate) display: WlDisplay,
    pub(crate) compositor: Option<WlCompositor>,
    pub(crate) shm: Option<WlShm>,
    pub(crate) layer_shell: Option<ZwlrLayerShellV1>,
    pub(crate) xdg_output_manager: Option<ZxdgOutputManagerV1>,
    /// Outputs by registry global name.
    pub(crate) outputs: BTreeMap<u32, Output>,
    pub(crate) seat: Option<SeatState>,
    /// Set after the start-up round trips: from then on outputs get indices.
    pub(crate) startup_done: bool,
    next_index: u32,
    ready_written: bool,
    ready_sync_pending: bool,
    last_outputs_json: Option<String>,
    /// First error raised inside an event handler (handlers cannot return
    /// errors); the event loop ends with it.
    pub(crate) fatal: Option<anyhow::Error>,
}

impl Probe {
    /// A probe with no globals yet.
    pub fn new(opts: ProbeOptions, recorder: Recorder, display: WlDisplay) -> Self {
        Probe {
            opts,
            recorder,
            display,
            compositor: None,
            shm: None,
            layer_shell: None,
            xdg_output_manager: None,
            outputs: BTreeMap::new(),
            seat: None,
            startup_done: false,
            next_index: 0,
            ready_written: false,
            ready_sync_pending: false,
            last_outputs_json: None,
            fatal: None,
        }
    }

    /// Records an event; a failure to write is kept as the fatal error.
    pub(crate) fn record(&mut self, event: Event) {
        if let Err(err) = self.recorder.record(event) {
            self.fail(err);
        }
    }

    /// Keeps the first fatal error.
    pub(crate) fn fail(&mut self, err: anyhow::Error) {
        if self.fatal.is_none() {
            self.fatal = Some(err);
        }
    }

    /// Called after the start-up round trips: every output bound so far has
    /// its initial information; from now on outputs get indices (sorted by
    /// name within each batch) and surfaces.
    pub fn finish_startup(&mut self) {
        for o in self.outputs.values_mut() {
            o.known = true;
        }
        self.startup_done = true;
    }

    /// Checks that the globals the probe cannot work without are there.
    pub fn check_globals(&self) -> Result<()> {
        anyhow::ensure!(
            self.compositor.is_some(),
            "the compositor offers no wl_compositor"
        );
        anyhow::ensure!(self.shm.is_some(), "the compositor offers no wl_shm");
        anyhow::ensure!(
            self.layer_shell.is_some(),
            "the compositor offers no zwlr_layer_shell_v1"
        );
        if self.xdg_output_manager.is_none() {
            tracing::warn!("no zxdg_output_manager_v1: output names need wl_output v4");
        }
        Ok(())
    }

    /// The output whose probe surface has id `id`.
    pub(crate) fn output_of_surface(
        &self,
        surface: &wayland_client::protocol::wl_surface::WlSurface,
    ) -> Option<&Output> {
        self.outputs.values().find(|o| {
            o.surface
                .as_ref()
                .is_some_and(|s| s.wl_surface.id() == surface.id())
        })
    }

    /// The name to record for `surface` (its output's name).
    pub(crate) fn output_name_of_surface(
        &self,
        surface: &wayland_client::protocol::wl_surface::WlSurface,
    ) -> String {
        self.output_of_surface(surface)
            .map(Output::name)
            .unwrap_or_else(|| format!("unknown-surface-{}", surface.id().protocol_id()))
    }

    /// Work after each batch of events: give new outputs their index and
    /// surface, draw what needs drawing, update the outputs file and the
    /// ready marker.
    pub fn after_dispatch(&mut self, qh: &QueueHandle<Probe>) -> Result<()> {
        if let Some(err) = self.fatal.take() {
            return Err(err);
        }
        if !self.startup_done {
            return Ok(());
        }
        self.assign_indices(qh)?;
        self.draw_pending(qh)?;
        self.update_outputs_file()?;
        self.check_ready(qh);
        if let Some(err) = self.fatal.take() {
            return Err(err);
        }
        Ok(())
    }

    /// Outputs whose initial information is complete get the next indices,
    /// in output-name order, and a layer surface.
    fn assign_indices(&mut self, qh: &QueueHandle<Probe>) -> Result<()> {
        let mut fresh: Vec<(String, u32)> = self
            .outputs
            .values()
            .filter(|o| o.known && o.index.is_none())
            .map(|o| (o.name(), o.global))
            .collect();
        fresh.sort();
        for (name, global) in fresh {
            let index = self.next_index;
            self.next_index += 1;
            let (Some(compositor), Some(layer_shell)) =
                (self.compositor.as_ref(), self.layer_shell.as_ref())
            else {
                anyhow::bail!("globals missing while creating surfaces");
            };
            if let Some(output) = self.outputs.get_mut(&global) {
                output.index = Some(index);
                output.create_surface(compositor, layer_shell, qh);
                tracing::info!("output {name}: index {index}, layer surface created");
            }
            self.record(Event::OutputAdded {
                output: name,
                index,
            });
        }
        Ok(())
    }

    /// Draws every surface that asked for it.
    fn draw_pending(&mut self, qh: &QueueHandle<Probe>) -> Result<()> {
        let Some(shm) = self.shm.clone() else {
            return Ok(());
        };
        let animate = self.opts.animate;
        let changes = self.opts.changes().map_err(anyhow::Error::msg)?;
        let mut drawn = Vec::new();
        for output in self.outputs.values_mut() {
            if let Some(ev) = output
                .draw_if_needed(&shm, qh, animate, changes)
                .with_context(|| format!("drawing on output {}", output.name()))?
            {
                drawn.push(ev);
            }
        }
        for ev in drawn {
            self.record(ev);
        }
        Ok(())
    }

    /// The outputs as described in the `--outputs` file, in index order.
    pub fn describe_outputs(&self) -> OutputsFile {
        let mut outputs: Vec<OutputDesc> =
            self.outputs.values().filter_map(Output::describe).collect();
        outputs.sort_by_key(|o| o.index);
        OutputsFile { outputs }
    }

    fn update_outputs_file(&mut self) -> Result<()> {
        let Some(path) = self.opts.outputs.clone() else {
            return Ok(());
        };
        let json = serde_json::to_string_pretty(&self.describe_outputs())
            .context("serializing the outputs file")?;
        if self.last_outputs_json.as_deref() != Some(json.as_str()) {
            write_atomic(&path, format!("{json}\n").as_bytes())?;
            self.last_outputs_json = Some(json);
        }
        Ok(())
    }

    /// Whether every current output has its first buffer committed.
    fn all_mapped(&self) -> bool {
        self.outputs.values().all(Output::is_settled)
    }

    fn check_ready(&mut self, qh: &QueueHandle<Probe>) {
        if self.ready_written || self.ready_sync_pending || !self.all_mapped() {
            return;
        }
        // Round-trip once more so the compositor has seen the commits.
        self.ready_sync_pending = true;
        self.display.sync(qh, CallbackKind::Ready);
    }

    fn on_ready_sync(&mut self) {
        self.ready_sync_pending = false;
        if self.ready_written || !self.all_mapped() {
            return; // an output appeared meanwhile: try again later
        }
        self.ready_written = true;
        let mut outs: Vec<(u32, String)> = self
            .outputs
            .values()
            .filter_map(|o| o.index.map(|i| (i, o.name())))
            .collect();
        outs.sort();
        let names: Vec<String> = outs.into_iter().map(|(_, n)| n).collect();
        if names.is_empty() {
            tracing::warn!("ion-probe: ready, but the compositor has no outputs");
        }
        if let Some(path) = self.opts.ready.clone() {
            if let Err(err) = write_atomic(&path, READY_CONTENT.as_bytes()) {
                self.fail(err.context("writing the ready file"));
                return;
            }
        }
        tracing::info!(
            "ion-probe ready: {} output(s) mapped: {}",
            names.len(),
            names.join(", ")
        );
        self.record(Event::Ready { outputs: names });
    }
}

/// Registry: bind what the probe uses, follow outputs and the seat.
impl Dispatch<wl_registry::WlRegistry, ()> for Probe {
    fn event(
        state: &mut Self,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        match event {
            wl_registry::Event::Global {
                name,
                interface,
                version,
            } => match interface.as_str() {
                "wl_compositor" if state.compositor.is_none() => {
                    state.compositor =
                        Some(registry.bind::<WlCompositor, _, _>(name, version.min(4), qh, ()));
                }
                "wl_shm" if state.shm.is_none() => {
                    state.shm = Some(registry.bind::<WlShm, _, _>(name, version.min(1), qh, ()));
                }
                "zwlr_layer_shell_v1" if state.layer_shell.is_none() => {
                    state.layer_shell =
                        Some(registry.bind::<ZwlrLayerShellV1, _, _>(name, version.min(4), qh, ()));
                }
                "zxdg_output_manager_v1" if state.xdg_output_manager.is_none() => {
                    let mgr =
                        registry.bind::<ZxdgOutputManagerV1, _, _>(name, version.min(3), qh, ());
                    for output in state.outputs.values_mut() {
                        output.attach_xdg_output(&mgr, qh);
                    }
                    state.xdg_output_manager = Some(mgr);
                }
                "wl_output" => {
                    let wl_output = registry.bind::<WlOutput, _, _>(name, version.min(4), qh, name);
                    let mut output = Output::new(name, wl_output);
                    if let Some(mgr) = state.xdg_output_manager.as_ref() {
                        output.attach_xdg_output(mgr, qh);
                    }
                    if state.startup_done {
                        // Its information is complete once this round trip
                        // returns (see `surfaces::Output::known`).
                        state.display.sync(qh, CallbackKind::OutputSync(name));
                    }
                    state.outputs.insert(name, output);
                }
                "wl_seat" if state.seat.is_none() => {
                    let seat = registry.bind::<WlSeat, _, _>(name, version.min(9), qh, ());
                    state.seat = Some(SeatState::new(name, seat));
                }
                _ => {}
            },
            wl_registry::Event::GlobalRemove { name } => {
                if let Some(output) = state.outputs.remove(&name) {
                    let out_name = output.name();
                    let index = output.index;
                    output.destroy();
                    tracing::info!("output {out_name} removed");
                    if let Some(index) = index {
                        state.record(Event::OutputRemoved {
                            output: out_name,
                            index,
                        });
                    }
                } else if state.seat.as_ref().is_some_and(|s| s.global == name) {
                    if let Some(seat) = state.seat.take() {
                        seat.destroy();
                    }
                    tracing::warn!("the seat went away");
                }
            }
            _ => {}
        }
    }
}

impl Dispatch<WlCallback, CallbackKind> for Probe {
    fn event(
        state: &mut Self,
        _: &WlCallback,
        event: wayland_client::protocol::wl_callback::Event,
        kind: &CallbackKind,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let wayland_client::protocol::wl_callback::Event::Done { .. } = event else {
            return;
        };
        match kind {
            CallbackKind::Capabilities {
                seat,
                pointer,
                keyboard,
                touch,
            } => state.record(crate::probe::record::Event::Capabilities {
                seat: seat.clone(),
                pointer: *pointer,
                keyboard: *keyboard,
                touch: *touch,
            }),
            &CallbackKind::Frame(global) => {
                if let Some(output) = state.outputs.get_mut(&global) {
                    output.on_frame_done(state.opts.animate);
                }
            }
            &CallbackKind::OutputSync(global) => {
                if let Some(output) = state.outputs.get_mut(&global) {
                    output.known = true;
                }
            }
            CallbackKind::Ready => state.on_ready_sync(),
        }
    }
}

impl Dispatch<WlBuffer, BufferBusy> for Probe {
    fn event(
        _: &mut Self,
        _: &WlBuffer,
        event: wayland_client::protocol::wl_buffer::Event,
        busy: &BufferBusy,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wayland_client::protocol::wl_buffer::Event::Release = event {
            shm::on_release(busy);
        }
    }
}

wayland_client::delegate_noop!(Probe: ignore WlCompositor);
wayland_client::delegate_noop!(Probe: ignore WlShm);
wayland_client::delegate_noop!(Probe: ignore WlShmPool);
wayland_client::delegate_noop!(Probe: ZwlrLayerShellV1);
wayland_client::delegate_noop!(Probe: ZxdgOutputManagerV1);
