//! Outputs and their place in the layout: wl_output for mode, scale,
//! transform and name; xdg-output for the logical rectangle (which already
//! accounts for scale and transform). A change is committed on `done`.

use wayland_client::protocol::wl_output::{self, WlOutput};
use wayland_client::{Connection, Dispatch, Proxy, QueueHandle, WEnum};
use wayland_protocols::xdg::xdg_output::zv1::client::zxdg_output_v1::{self, ZxdgOutputV1};

use crate::command::{LogicalRect, OutputInfo};
use crate::state::State;

/// One wl_output and what we know of it.
pub struct TrackedOutput {
    pub global: u32,
    pub wl: WlOutput,
    pub xdg: Option<ZxdgOutputV1>,
    pending: OutputInfo,
    /// The last complete description, once `done` arrived.
    pub info: Option<OutputInfo>,
    /// xdg-output v1/v2 send their own `done`; v3 relies on wl_output's.
    xdg_done_needed: bool,
    xdg_seen: bool,
}

impl TrackedOutput {
    pub fn new(global: u32, wl: WlOutput, xdg: Option<ZxdgOutputV1>, xdg_version: u32) -> Self {
        let pending = OutputInfo {
            global,
            name: String::new(),
            description: String::new(),
            logical: LogicalRect {
                x: 0,
                y: 0,
                width: 0,
                height: 0,
            },
            mode_width: 0,
            mode_height: 0,
            scale: 1,
            transform: 0,
        };
        Self {
            global,
            wl,
            xdg_done_needed: xdg.is_some() && xdg_version < 3,
            xdg,
            pending,
            info: None,
            xdg_seen: false,
        }
    }

    fn commit(&mut self) -> bool {
        // Without xdg-output, derive the logical size from mode and scale
        // (no transform support then; doctor reports xdg-output missing).
        if self.xdg.is_none() {
            let s = self.pending.scale.max(1);
            self.pending.logical.width = self.pending.mode_width / s;
            self.pending.logical.height = self.pending.mode_height / s;
        } else if !self.xdg_seen {
            return false;
        }
        let changed = self.info.as_ref() != Some(&self.pending);
        self.info = Some(self.pending.clone());
        changed
    }

    pub fn release(&self) {
        if let Some(x) = &self.xdg {
            x.destroy();
        }
        if self.wl.version() >= 3 {
            self.wl.release();
        }
    }
}

impl State {
    fn output_mut(&mut self, global: u32) -> Option<&mut TrackedOutput> {
        self.outputs.iter_mut().find(|o| o.global == global)
    }
}

impl Dispatch<WlOutput, u32> for State {
    fn event(
        state: &mut Self,
        _: &WlOutput,
        event: wl_output::Event,
        global: &u32,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(out) = state.output_mut(*global) else {
            return;
        };
        let p = &mut out.pending;
        match event {
            wl_output::Event::Geometry {
                transform, x, y, ..
            } => {
                p.transform = match transform {
                    WEnum::Value(t) => t as i32,
                    WEnum::Unknown(t) => t as i32,
                };
                if out.xdg.is_none() {
                    p.logical.x = x;
                    p.logical.y = y;
                }
            }
            wl_output::Event::Mode {
                flags,
                width,
                height,
                ..
            } => {
                let current = match flags {
                    WEnum::Value(f) => f.contains(wl_output::Mode::Current),
                    WEnum::Unknown(_) => false,
                };
                if current {
                    p.mode_width = width;
                    p.mode_height = height;
                }
            }
            wl_output::Event::Scale { factor } => p.scale = factor,
            wl_output::Event::Name { name } => p.name = name,
            wl_output::Event::Description { description } => p.description = description,
            wl_output::Event::Done if out.commit() => state.outputs_dirty = true,
            _ => {}
        }
    }
}

impl Dispatch<ZxdgOutputV1, u32> for State {
    fn event(
        state: &mut Self,
        _: &ZxdgOutputV1,
        event: zxdg_output_v1::Event,
        global: &u32,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(out) = state.output_mut(*global) else {
            return;
        };
        let p = &mut out.pending;
        match event {
            zxdg_output_v1::Event::LogicalPosition { x, y } => {
                p.logical.x = x;
                p.logical.y = y;
                out.xdg_seen = true;
            }
            zxdg_output_v1::Event::LogicalSize { width, height } => {
                p.logical.width = width;
                p.logical.height = height;
                out.xdg_seen = true;
            }
            // wl_output v4 names win; xdg-output's are the fallback.
            zxdg_output_v1::Event::Name { name } if p.name.is_empty() => p.name = name,
            zxdg_output_v1::Event::Description { description } if p.description.is_empty() => {
                p.description = description
            }
            zxdg_output_v1::Event::Done if out.xdg_done_needed && out.commit() => {
                state.outputs_dirty = true
            }
            _ => {}
        }
    }
}
