//! The frame clock. Headless outputs have no vblank, so a timer at the
//! outputs' 60 Hz stands in for it: each tick sends the frame callbacks of
//! every surface shown on an output (one tick serves all outputs: they all
//! run at the same rate) and completes capture frames waiting for damage.

use std::time::Duration;

use smithay::desktop::layer_map_for_output;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};

use crate::state::{LoopData, State};

/// 60 Hz.
pub const FRAME_INTERVAL: Duration = Duration::from_micros(16_667);

pub fn start(state: &State) -> anyhow::Result<()> {
    state
        .loop_handle
        .insert_source(
            Timer::from_duration(FRAME_INTERVAL),
            |_, _, data: &mut LoopData| {
                data.state.frame_tick();
                TimeoutAction::ToDuration(FRAME_INTERVAL)
            },
        )
        .map_err(|e| anyhow::anyhow!("the frame timer: {e}"))?;
    Ok(())
}

impl State {
    fn frame_tick(&mut self) {
        let now = self.now();
        let outputs = self.enabled_outputs();
        for window in self.space.elements() {
            // A window's callbacks come from the first output it is on.
            let Some(output) = self
                .space
                .outputs_for_element(window)
                .into_iter()
                .next()
                .or_else(|| outputs.first().cloned())
            else {
                continue;
            };
            window.send_frame(&output, now, None, |_, _| Some(output.clone()));
        }
        for output in &outputs {
            let map = layer_map_for_output(output);
            for layer in map.layers() {
                layer.send_frame(output, now, None, |_, _| Some(output.clone()));
            }
        }
        self.space.refresh();
        for output in &outputs {
            layer_map_for_output(output).cleanup();
        }
        self.process_captures();
    }
}
