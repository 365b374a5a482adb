//! One layer-shell surface per output, showing the known picture.
//!
//! Each output gets a `zwlr_layer_surface_v1` on the OVERLAY layer anchored
//! to all four edges with size 0x0 (the compositor picks the output's size)
//! and exclusive zone -1. Only the surface of the output with index 0 asks
//! for EXCLUSIVE keyboard interactivity, so keyboard focus is deterministic.
//! Buffers are `wl_shm` XRGB8888 at buffer scale = the output's integer
//! scale, so the buffer is the configured logical size times the scale.

use anyhow::Result;
use wayland_client::protocol::{
    wl_compositor::WlCompositor, wl_output, wl_output::WlOutput, wl_shm::WlShm,
    wl_surface::WlSurface,
};
use wayland_client::{Connection, Dispatch, Proxy, QueueHandle, WEnum};
use wayland_protocols::xdg::xdg_output::zv1::client::{
    zxdg_output_manager_v1::ZxdgOutputManagerV1, zxdg_output_v1, zxdg_output_v1::ZxdgOutputV1,
};
use wayland_protocols_wlr::layer_shell::v1::client::{
    zwlr_layer_shell_v1::{Layer, ZwlrLayerShellV1},
    zwlr_layer_surface_v1::{self, Anchor, KeyboardInteractivity, ZwlrLayerSurfaceV1},
};

use super::files::OutputDesc;
use super::pattern::{
    encode_counter_xrgb8888, fill_area_xrgb8888, fill_pattern_xrgb8888, COUNTER_HEIGHT,
    COUNTER_WIDTH,
};
use super::record::Event;
use super::shm::ShmBuffer;
use super::state::{CallbackKind, Probe};
use super::tiles;
use super::Changes;

/// Namespace of the probe's layer surfaces.
pub const LAYER_NAMESPACE: &str = "ion-probe";

/// At most this many buffers per surface (animate mode double/triple
/// buffers; a static picture needs one).
const MAX_BUFFERS: usize = 3;

/// One `wl_output` and the probe's surface on it.
pub struct Output {
    /// Registry global name.
    pub global: u32,
    wl_output: WlOutput,
    xdg_output: Option<ZxdgOutputV1>,
    /// wl_output v4 name.
    wl_name: Option<String>,
    /// xdg-output name.
    xdg_name: Option<String>,
    /// wl_output.scale (integer, >= 1).
    scale: i32,
    /// Current mode in physical pixels.
    mode: (i32, i32),
    /// wl_output.geometry position.
    geometry_pos: (i32, i32),
    /// xdg-output logical position.
    logical_pos: Option<(i32, i32)>,
    /// xdg-output logical size.
    logical_size: Option<(i32, i32)>,
    /// Its initial information (name, scale, geometry) has arrived.
    pub known: bool,
    /// The probe's index for it, fixed once given.
    pub index: Option<u32>,
    /// The layer surface, once created.
    pub surface: Option<ProbeSurface>,
    /// The compositor closed the layer surface (it is not recreated).
    pub closed: bool,
}

/// A probe layer surface and its buffers.
pub struct ProbeSurface {
    /// The wl_surface.
    pub wl_surface: WlSurface,
    layer: ZwlrLayerSurfaceV1,
    /// Logical size from the last configure.
    configured: Option<(u32, u32)>,
    buffers: Vec<ShmBuffer>,
    /// Something changed: draw at the next chance.
    needs_draw: bool,
    /// The next draw must damage the whole buffer.
    full_damage: bool,
    /// A frame callback is outstanding.
    frame_pending: bool,
    /// The first buffer was committed.
    first_commit: bool,
    /// Counter value of the next frame (animate mode).
    next_frame: u32,
    /// Buffer size and scale of the last commit.
    committed: Option<(u32, u32, i32)>,
}

impl Output {
    /// A freshly bound output.
    pub fn new(global: u32, wl_output: WlOutput) -> Self {
        Output {
            global,
            wl_output,
            xdg_output: None,
            wl_name: None,
            xdg_name: None,
            scale: 1,
            mode: (0, 0),
            geometry_pos: (0, 0),
            logical_pos: None,
            logical_size: None,
            known: false,
            index: None,
            surface: None,
            closed: false,
        }
    }

    /// Creates its `zxdg_output_v1` (once).
    pub fn attach_xdg_output(&mut self, mgr: &ZxdgOutputManagerV1, qh: &QueueHandle<Probe>) {
        if self.xdg_output.is_none() {
            self.xdg_output = Some(mgr.get_xdg_output(&self.wl_output, qh, self.global));
        }
    }

    /// The output's name: wl_output v4 `name`, else the xdg-output name,
    /// else `wl_output-<global>`.
    pub fn name(&self) -> String {
        self.wl_name
            .clone()
            .or_else(|| self.xdg_name.clone())
            .unwrap_or_else(|| format!("wl_output-{}", self.global))
    }

    fn scale(&self) -> i32 {
        self.scale.max(1)
    }

    /// Logical size from xdg-output, else mode / scale.
    fn logical_size(&self) -> (i32, i32) {
        self.logical_size
            .unwrap_or((self.mode.0 / self.scale(), self.mode.1 / self.scale()))
    }

    /// Creates the layer surface (commits it without a buffer; drawing
    /// starts at the first configure).
    pub fn create_surface(
        &mut self,
        compositor: &WlCompositor,
        layer_shell: &ZwlrLayerShellV1,
        qh: &QueueHandle<Probe>,
    ) {
        if self.surface.is_some() || self.closed {
            return;
        }
        let wl_surface = compositor.create_surface(qh, ());
        let layer = layer_shell.get_layer_surface(
            &wl_surface,
            Some(&self.wl_output),
            Layer::Overlay,
            LAYER_NAMESPACE.to_owned(),
            qh,
            self.global,
        );
        layer.set_size(0, 0);
        layer.set_anchor(Anchor::Top | Anchor::Bottom | Anchor::Left | Anchor::Right);
        layer.set_exclusive_zone(-1);
        layer.set_keyboard_interactivity(if self.index == Some(0) {
            KeyboardInteractivity::Exclusive
        } else {
            KeyboardInteractivity::None
        });
        wl_surface.set_buffer_scale(self.scale());
        wl_surface.commit();
        self.surface = Some(ProbeSurface {
            wl_surface,
            layer,
            configured: None,
            buffers: Vec::new(),
            needs_draw: false,
            full_damage: true,
            frame_pending: false,
            first_commit: false,
            next_frame: 0,
            committed: None,
        });
    }

    /// Whether this output no longer holds up the ready marker: its surface
    /// has its first buffer committed (or was closed by the compositor).
    pub fn is_settled(&self) -> bool {
        self.closed
            || (self.known
                && self.index.is_some()
                && self.surface.as_ref().is_some_and(|s| s.first_commit))
    }

    /// Frame callback done: in animate mode, draw the next frame.
    pub fn on_frame_done(&mut self, animate: bool) {
        if let Some(s) = self.surface.as_mut() {
            s.frame_pending = false;
            if animate {
                s.needs_draw = true;
            }
        }
    }

    /// Draws and commits if the surface asked for it and a buffer is free.
    /// Returns the `frame_drawn` event to record in animate mode.
    pub fn draw_if_needed(
        &mut self,
        shm: &WlShm,
        qh: &QueueHandle<Probe>,
        animate: bool,
        changes: Changes,
    ) -> Result<Option<Event>> {
        let scale = self.scale();
        let fallback = self.logical_size();
        let name = self.name();
        let (Some(index), Some(s)) = (self.index, self.surface.as_mut()) else {
            return Ok(None);
        };
        if !s.needs_draw {
            return Ok(None);
        }
        let Some((cw, ch)) = s.configured else {
            return Ok(None);
        };
        let (lw, lh) = if cw == 0 || ch == 0 {
            (fallback.0.max(1) as u32, fallback.1.max(1) as u32)
        } else {
            (cw, ch)
        };
        let (bw, bh) = (lw * scale as u32, lh * scale as u32);

        // Drop idle buffers of another size.
        let mut kept = Vec::with_capacity(s.buffers.len());
        for b in s.buffers.drain(..) {
            if (b.width, b.height) != (bw, bh) && !b.is_busy() {
                b.destroy();
            } else {
                kept.push(b);
            }
        }
        s.buffers = kept;

        let slot = match s
            .buffers
            .iter()
            .position(|b| !b.is_busy() && (b.width, b.height) == (bw, bh))
        {
            Some(i) => i,
            None if s.buffers.len() < MAX_BUFFERS => {
                let mut b = ShmBuffer::new(shm, qh, bw, bh)?;
                let stride = b.stride;
                fill_pattern_xrgb8888(b.bytes_mut(), bw, bh, stride, index);
                s.buffers.push(b);
                s.buffers.len() - 1
            }
            // All buffers held by the compositor: retry after a release.
            None => return Ok(None),
        };
        let frame = s.next_frame;
        let buf = &mut s.buffers[slot];
        // The area repainted every frame (at least the counter).
        let (aw, ah) = match changes {
            Changes::Area(w, h) if animate => (w.min(bw), h.min(bh)),
            _ => (COUNTER_WIDTH.min(bw), COUNTER_HEIGHT.min(bh)),
        };
        if animate {
            let stride = buf.stride;
            match changes {
                Changes::Area(..) => fill_area_xrgb8888(buf.bytes_mut(), stride, aw, ah, frame),
                // Every tile, so that each of the probe's own buffers is
                // whole; only the changed one is damaged below.
                Changes::Tiles(n) => {
                    tiles::paint_xrgb8888(buf.bytes_mut(), stride, bw, bh, n, frame)
                }
                Changes::Counter => {}
            }
            encode_counter_xrgb8888(buf.bytes_mut(), bw, bh, stride, frame);
        }
        s.wl_surface.attach(Some(&buf.buffer), 0, 0);
        s.wl_surface.set_buffer_scale(scale);
        if s.full_damage || s.committed != Some((bw, bh, scale)) {
            s.wl_surface.damage_buffer(0, 0, bw as i32, bh as i32);
        } else {
            s.wl_surface.damage_buffer(0, 0, aw as i32, ah as i32);
            if let (true, Changes::Tiles(n)) = (animate, changes) {
                let (x, y, w, h) = tiles::tile_rect(tiles::changed_tile(n, frame), n, bw, bh);
                s.wl_surface
                    .damage_buffer(x as i32, y as i32, w as i32, h as i32);
            }
        }
        if animate && !s.frame_pending {
            s.wl_surface.frame(qh, CallbackKind::Frame(self.global));
            s.frame_pending = true;
        }
        s.wl_surface.commit();
        buf.set_busy();
        s.full_damage = false;
        s.needs_draw = false;
        s.committed = Some((bw, bh, scale));
        if !s.first_commit {
            s.first_commit = true;
            tracing::info!("output {name}: first buffer {bw}x{bh} (scale {scale}) committed");
        }
        if animate {
            s.next_frame = s.next_frame.wrapping_add(1);
            return Ok(Some(Event::FrameDrawn {
                output: name,
                index,
                frame,
                width: bw,
                height: bh,
            }));
        }
        Ok(None)
    }

    /// The output as written to the `--outputs` file (once it has an index).
    pub fn describe(&self) -> Option<OutputDesc> {
        let index = self.index?;
        let (x, y) = self.logical_pos.unwrap_or(self.geometry_pos);
        let (width, height) = self.logical_size();
        let (buffer_width, buffer_height) = self
            .surface
            .as_ref()
            .and_then(|s| s.committed)
            .map_or((0, 0), |(w, h, _)| (w, h));
        let (surface_width, surface_height) = self
            .surface
            .as_ref()
            .and_then(|s| s.configured)
            .unwrap_or((0, 0));
        Some(OutputDesc {
            name: self.name(),
            index,
            x,
            y,
            width,
            height,
            scale: self.scale(),
            buffer_width,
            buffer_height,
            surface_width,
            surface_height,
            mapped: self.surface.as_ref().is_some_and(|s| s.first_commit),
        })
    }

    /// Destroys the surface, buffers and output objects.
    pub fn destroy(mut self) {
        if let Some(s) = self.surface.take() {
            s.destroy();
        }
        if let Some(x) = self.xdg_output.take() {
            x.destroy();
        }
        if self.wl_output.version() >= 3 {
            self.wl_output.release();
        }
    }

    /// Scale or geometry changed: redraw at the new size.
    fn invalidate(&mut self) {
        if let Some(s) = self.surface.as_mut() {
            s.needs_draw = true;
            s.full_damage = true;
        }
    }
}

impl ProbeSurface {
    fn destroy(self) {
        self.layer.destroy();
        self.wl_surface.destroy();
        for b in self.buffers {
            b.destroy();
        }
    }
}

impl Dispatch<WlOutput, u32> for Probe {
    fn event(
        state: &mut Self,
        _: &WlOutput,
        event: wl_output::Event,
        global: &u32,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(o) = state.outputs.get_mut(global) else {
            return;
        };
        match event {
            wl_output::Event::Geometry { x, y, .. } => o.geometry_pos = (x, y),
            wl_output::Event::Mode {
                flags,
                width,
                height,
                ..
            } => {
                let current =
                    matches!(flags, WEnum::Value(f) if f.contains(wl_output::Mode::Current));
                if current {
                    o.mode = (width, height);
                }
            }
            wl_output::Event::Scale { factor } if factor != o.scale => {
                o.scale = factor;
                o.invalidate();
            }
            wl_output::Event::Name { name } => o.wl_name = Some(name),
            wl_output::Event::Done => {}
            _ => {}
        }
    }
}

impl Dispatch<ZxdgOutputV1, u32> for Probe {
    fn event(
        state: &mut Self,
        _: &ZxdgOutputV1,
        event: zxdg_output_v1::Event,
        global: &u32,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(o) = state.outputs.get_mut(global) else {
            return;
        };
        match event {
            zxdg_output_v1::Event::LogicalPosition { x, y } => o.logical_pos = Some((x, y)),
            zxdg_output_v1::Event::LogicalSize { width, height } => {
                o.logical_size = Some((width, height))
            }
            zxdg_output_v1::Event::Name { name } => o.xdg_name = Some(name),
            _ => {}
        }
    }
}

impl Dispatch<ZwlrLayerSurfaceV1, u32> for Probe {
    fn event(
        state: &mut Self,
        layer: &ZwlrLayerSurfaceV1,
        event: zwlr_layer_surface_v1::Event,
        global: &u32,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(o) = state.outputs.get_mut(global) else {
            return;
        };
        let name = o.name();
        let Some(s) = o.surface.as_mut() else {
            return;
        };
        match event {
            zwlr_layer_surface_v1::Event::Configure {
                serial,
                width,
                height,
            } => {
                layer.ack_configure(serial);
                if s.configured != Some((width, height)) {
                    tracing::debug!("output {name}: layer surface configured {width}x{height}");
                    s.full_damage = true;
                }
                s.configured = Some((width, height));
                // Every configure must be followed by a commit.
                s.needs_draw = true;
            }
            zwlr_layer_surface_v1::Event::Closed => {
                tracing::warn!("output {name}: the compositor closed the layer surface");
                if let Some(s) = o.surface.take() {
                    s.destroy();
                }
                // Keep the index (it is never given again); a closed output
                // no longer holds up the ready marker.
                o.closed = true;
            }
            _ => {}
        }
    }
}

wayland_client::delegate_noop!(Probe: ignore WlSurface);
