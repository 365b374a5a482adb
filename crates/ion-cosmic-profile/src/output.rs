//! Headless outputs: created at start like wlroots' headless backend
//! (HEADLESS-1.., 1920x1080@60, side by side), changed through
//! wlr-output-management (output_management.rs) as cosmic-randr and
//! wlr-randr do it.

use std::time::Duration;

use smithay::desktop::layer_map_for_output;
use smithay::output::{Mode, Output, PhysicalProperties, Scale, Subpixel};
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::wayland_server::backend::GlobalId;
use smithay::utils::{Logical, Point, Transform};

use crate::state::State;

/// How long a disabled output's wl_output global stays (disabled) before
/// it is removed.
const GLOBAL_REMOVAL_DELAY: Duration = Duration::from_secs(5);

/// The mode every headless output starts with (refresh in mHz).
pub fn default_mode() -> Mode {
    Mode {
        size: (1920, 1080).into(),
        refresh: 60_000,
    }
}

pub struct HeadlessOutput {
    pub output: Output,
    /// The wl_output global while the output is enabled.
    pub global: Option<GlobalId>,
}

impl HeadlessOutput {
    pub fn enabled(&self) -> bool {
        self.global.is_some()
    }
}

/// One output's wanted state, as a wlr-output-management configuration
/// asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputConfig {
    pub mode: Mode,
    pub position: Point<i32, Logical>,
    pub transform: Transform,
    pub scale: f64,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("no output named {0}")]
    UnknownOutput(String),
    #[error("{0}: mode {1}x{2} is not possible")]
    BadMode(String, i32, i32),
    #[error("{0}: scale {1} is not possible")]
    BadScale(String, f64),
    #[error("disabling every output is refused")]
    NoOutputLeft,
}

/// wlr-randr's name for a transform (for logs).
pub fn transform_name(t: Transform) -> &'static str {
    match t {
        Transform::Normal => "normal",
        Transform::_90 => "90",
        Transform::_180 => "180",
        Transform::_270 => "270",
        Transform::Flipped => "flipped",
        Transform::Flipped90 => "flipped-90",
        Transform::Flipped180 => "flipped-180",
        Transform::Flipped270 => "flipped-270",
    }
}

impl State {
    /// Creates `count` outputs, HEADLESS-1..HEADLESS-count, left to right.
    pub fn create_headless_outputs(&mut self, count: u32, transforms: &[(String, Transform)]) {
        for (name, _) in transforms {
            let known = name
                .strip_prefix("HEADLESS-")
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| (1..=count).contains(&n));
            if !known {
                tracing::warn!("--transform names {name}, which is not one of the outputs");
            }
        }
        let mut x = 0;
        for i in 1..=count {
            let name = format!("HEADLESS-{i}");
            let output = Output::new(
                name.clone(),
                PhysicalProperties {
                    size: (0, 0).into(),
                    subpixel: Subpixel::Unknown,
                    make: "ionChannel".into(),
                    model: "cosmic-profile headless".into(),
                },
            );
            let mode = default_mode();
            output.add_mode(mode);
            output.set_preferred(mode);
            let transform = transforms
                .iter()
                .rev()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| *t)
                .unwrap_or(Transform::Normal);
            output.change_current_state(
                Some(mode),
                Some(transform),
                Some(Scale::Integer(1)),
                Some((x, 0).into()),
            );
            let global = output.create_global::<State>(&self.dh);
            self.space.map_output(&output, (x, 0));
            tracing::info!(
                "output {name}: 1920x1080@60 at {x},0 scale 1 transform {}",
                transform_name(transform)
            );
            // Side by side in logical pixels (a rotated output is taller
            // than wide).
            x += transform.transform_size(mode.size).w;
            self.outputs.push(HeadlessOutput {
                output,
                global: Some(global),
            });
        }
    }

    pub fn output_by_name(&self, name: &str) -> Option<&HeadlessOutput> {
        self.outputs.iter().find(|o| o.output.name() == name)
    }

    /// Checks a configuration: every change is possible and an output is
    /// left on.
    pub fn check_output_configs(
        &self,
        configs: &[(String, Option<OutputConfig>)],
    ) -> Result<(), ConfigError> {
        for (name, config) in configs {
            if self.output_by_name(name).is_none() {
                return Err(ConfigError::UnknownOutput(name.clone()));
            }
            if let Some(c) = config {
                let (w, h) = (c.mode.size.w, c.mode.size.h);
                if !(1..=16384).contains(&w) || !(1..=16384).contains(&h) {
                    return Err(ConfigError::BadMode(name.clone(), w, h));
                }
                if !(c.scale.is_finite() && (0.25..=10.0).contains(&c.scale)) {
                    return Err(ConfigError::BadScale(name.clone(), c.scale));
                }
            }
        }
        let left_on = self.outputs.iter().any(|o| {
            let name = o.output.name();
            match configs.iter().find(|(n, _)| *n == name) {
                Some((_, c)) => c.is_some(),
                None => o.enabled(),
            }
        });
        if !left_on {
            return Err(ConfigError::NoOutputLeft);
        }
        Ok(())
    }

    /// Applies a checked configuration: `None` disables an output.
    pub fn apply_output_configs(
        &mut self,
        configs: Vec<(String, Option<OutputConfig>)>,
    ) -> Result<(), ConfigError> {
        self.check_output_configs(&configs)?;
        for (name, config) in configs {
            let Some(i) = self.outputs.iter().position(|o| o.output.name() == name) else {
                continue;
            };
            match config {
                None => self.disable_output(i),
                Some(c) => self.configure_output(i, c),
            }
        }
        self.output_management_changed();
        Ok(())
    }

    fn disable_output(&mut self, i: usize) {
        let Some(global) = self.outputs[i].global.take() else {
            return;
        };
        let output = self.outputs[i].output.clone();
        // Disabled first, removed a little later: a client binding it in
        // the meantime is not hit by a dead global (libwayland's advice).
        self.dh.disable_global::<State>(global.clone());
        let timer = Timer::from_duration(GLOBAL_REMOVAL_DELAY);
        if let Err(e) = self.loop_handle.insert_source(timer, move |_, _, data| {
            data.state.dh.remove_global::<State>(global.clone());
            TimeoutAction::Drop
        }) {
            tracing::warn!("removing the wl_output global later: {e}");
        }
        self.close_layers_of(&output);
        self.space.unmap_output(&output);
        self.image_copy.output_gone(&output);
        tracing::info!("output config applied: {} disabled", output.name());
    }

    fn configure_output(&mut self, i: usize, c: OutputConfig) {
        let output = self.outputs[i].output.clone();
        let unchanged = self.outputs[i].enabled()
            && output.current_mode() == Some(c.mode)
            && output.current_transform() == c.transform
            && output.current_location() == c.position
            && output.current_scale().fractional_scale() == c.scale;
        if unchanged {
            return;
        }
        if !output.modes().contains(&c.mode) {
            // A custom mode becomes one of the output's modes (it then shows
            // in wlr-output-management's mode list too).
            output.add_mode(c.mode);
        }
        // Integer scales go to clients as such; others are fractional.
        let scale = if c.scale.fract() == 0.0 {
            Scale::Integer(c.scale as i32)
        } else {
            Scale::Fractional(c.scale)
        };
        output.change_current_state(
            Some(c.mode),
            Some(c.transform),
            Some(scale),
            Some(c.position),
        );
        if self.outputs[i].global.is_none() {
            self.outputs[i].global = Some(output.create_global::<State>(&self.dh));
        }
        self.space.map_output(&output, c.position);
        layer_map_for_output(&output).arrange();
        self.image_copy.output_changed(&output);
        tracing::info!(
            "output config applied: {} {}x{}@{}.{:03} at {},{} scale {} transform {}",
            output.name(),
            c.mode.size.w,
            c.mode.size.h,
            c.mode.refresh / 1000,
            c.mode.refresh % 1000,
            c.position.x,
            c.position.y,
            c.scale,
            transform_name(c.transform)
        );
    }

    /// Outputs that are on (mapped in the space).
    pub fn enabled_outputs(&self) -> Vec<Output> {
        self.space.outputs().cloned().collect()
    }
}
