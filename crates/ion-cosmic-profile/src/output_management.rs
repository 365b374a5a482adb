//! wlr-output-management (`zwlr_output_manager_v1`, version 4), which
//! cosmic-comp offers and cosmic-randr and wlr-randr use: every output is
//! a head with its modes; a configuration enables or disables heads and
//! sets mode (or a custom mode), position, transform and scale, applied
//! atomically. smithay 0.7 has no implementation of it, so this is ours.

use std::sync::{Arc, Mutex};

use smithay::output::{Mode, Output};
use smithay::reexports::wayland_protocols_wlr::output_management::v1::server::{
    zwlr_output_configuration_head_v1::{self, ZwlrOutputConfigurationHeadV1},
    zwlr_output_configuration_v1::{self, ZwlrOutputConfigurationV1},
    zwlr_output_head_v1::{self, ZwlrOutputHeadV1},
    zwlr_output_manager_v1::{self, ZwlrOutputManagerV1},
    zwlr_output_mode_v1::{self, ZwlrOutputModeV1},
};
use smithay::reexports::wayland_server::protocol::wl_output;
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource, WEnum,
};
use smithay::utils::Transform;

use crate::output::OutputConfig;
use crate::state::State;

const VERSION: u32 = 4;
/// zwlr_output_mode_v1 stops at version 3.
const MODE_VERSION: u32 = 3;

pub struct OutputManagementState {
    /// Sent with `done`; a configuration made for an older one is
    /// cancelled.
    serial: u32,
    managers: Vec<ZwlrOutputManagerV1>,
}

/// A manager's heads (one per output, by name).
#[derive(Default)]
pub struct ManagerData {
    heads: Mutex<Vec<ZwlrOutputHeadV1>>,
}

pub struct HeadData {
    output: Output,
    /// The mode objects this head announced, with their modes.
    modes: Mutex<Vec<(ZwlrOutputModeV1, Mode)>>,
}

pub struct ModeData {
    mode: Mode,
}

/// A configuration in the making.
pub struct ConfigurationData {
    serial: u32,
    inner: Mutex<Configuration>,
}

#[derive(Default)]
struct Configuration {
    /// Sent apply or test already.
    used: bool,
    /// Per output: the enabled head's settings, or None for disabled.
    heads: Vec<(Output, Option<Arc<Mutex<HeadSettings>>>)>,
}

#[derive(Default)]
pub struct HeadSettings {
    mode: Option<Mode>,
    position: Option<(i32, i32)>,
    transform: Option<Transform>,
    scale: Option<f64>,
    adaptive_sync: bool,
}

impl OutputManagementState {
    pub fn new(dh: &DisplayHandle) -> Self {
        dh.create_global::<State, ZwlrOutputManagerV1, _>(VERSION, ());
        Self {
            serial: 1,
            managers: Vec::new(),
        }
    }
}

fn wl_transform(t: Transform) -> wl_output::Transform {
    match t {
        Transform::Normal => wl_output::Transform::Normal,
        Transform::_90 => wl_output::Transform::_90,
        Transform::_180 => wl_output::Transform::_180,
        Transform::_270 => wl_output::Transform::_270,
        Transform::Flipped => wl_output::Transform::Flipped,
        Transform::Flipped90 => wl_output::Transform::Flipped90,
        Transform::Flipped180 => wl_output::Transform::Flipped180,
        Transform::Flipped270 => wl_output::Transform::Flipped270,
    }
}

pub fn transform_from_wl(t: wl_output::Transform) -> Transform {
    match t {
        wl_output::Transform::_90 => Transform::_90,
        wl_output::Transform::_180 => Transform::_180,
        wl_output::Transform::_270 => Transform::_270,
        wl_output::Transform::Flipped => Transform::Flipped,
        wl_output::Transform::Flipped90 => Transform::Flipped90,
        wl_output::Transform::Flipped180 => Transform::Flipped180,
        wl_output::Transform::Flipped270 => Transform::Flipped270,
        _ => Transform::Normal,
    }
}

pub fn wl_transform_of(t: Transform) -> wl_output::Transform {
    wl_transform(t)
}

impl State {
    /// Sends a head's mode objects it has not announced yet, then its
    /// current state.
    fn send_head_state(&self, dh: &DisplayHandle, head: &ZwlrOutputHeadV1) {
        let Some(data) = head.data::<HeadData>() else {
            return;
        };
        let output = &data.output;
        let Ok(client) = dh.get_client(head.id()) else {
            return;
        };
        let Ok(mut modes) = data.modes.lock() else {
            return;
        };
        let preferred = output.preferred_mode();
        for mode in output.modes() {
            if modes.iter().any(|(_, m)| *m == mode) {
                continue;
            }
            let version = head.version().min(MODE_VERSION);
            let Ok(res) = client.create_resource::<ZwlrOutputModeV1, _, State>(
                dh,
                version,
                ModeData { mode },
            ) else {
                continue;
            };
            head.mode(&res);
            res.size(mode.size.w, mode.size.h);
            res.refresh(mode.refresh);
            if preferred == Some(mode) {
                res.preferred();
            }
            modes.push((res, mode));
        }
        let enabled = self
            .outputs
            .iter()
            .any(|o| &o.output == output && o.enabled());
        head.enabled(i32::from(enabled));
        if enabled {
            if let Some(current) = output.current_mode() {
                if let Some((res, _)) = modes.iter().find(|(_, m)| *m == current) {
                    head.current_mode(res);
                }
            }
            let loc = output.current_location();
            head.position(loc.x, loc.y);
            head.transform(wl_transform(output.current_transform()));
            head.scale(output.current_scale().fractional_scale());
        }
        if head.version() >= 4 {
            head.adaptive_sync(zwlr_output_head_v1::AdaptiveSyncState::Disabled);
        }
    }

    /// A new head for `output` on a manager.
    fn announce_head(&self, dh: &DisplayHandle, manager: &ZwlrOutputManagerV1, output: &Output) {
        let Ok(client) = dh.get_client(manager.id()) else {
            return;
        };
        let Ok(head) = client.create_resource::<ZwlrOutputHeadV1, _, State>(
            dh,
            manager.version(),
            HeadData {
                output: output.clone(),
                modes: Mutex::new(Vec::new()),
            },
        ) else {
            return;
        };
        manager.head(&head);
        head.name(output.name());
        head.description(output.description());
        let physical = output.physical_properties();
        head.physical_size(physical.size.w, physical.size.h);
        if head.version() >= 2 {
            head.make(physical.make.clone());
            head.model(physical.model.clone());
            head.serial_number("0".into());
        }
        self.send_head_state(dh, &head);
        if let Some(data) = manager.data::<ManagerData>() {
            if let Ok(mut heads) = data.heads.lock() {
                heads.push(head);
            }
        }
    }

    /// The outputs changed: every manager hears the new state, then `done`
    /// with a new serial.
    pub fn output_management_changed(&mut self) {
        self.output_management.serial = self.output_management.serial.wrapping_add(1);
        let serial = self.output_management.serial;
        self.output_management.managers.retain(|m| m.is_alive());
        for manager in &self.output_management.managers {
            let heads = manager
                .data::<ManagerData>()
                .and_then(|d| d.heads.lock().ok().map(|h| h.clone()))
                .unwrap_or_default();
            for head in heads.iter().filter(|h| h.is_alive()) {
                self.send_head_state(&self.dh, head);
            }
            manager.done(serial);
        }
    }

    /// Applies (or only tests) a configuration and answers it.
    fn finish_configuration(&mut self, config: &ZwlrOutputConfigurationV1, apply: bool) {
        let Some(data) = config.data::<ConfigurationData>() else {
            return;
        };
        let Ok(mut inner) = data.inner.lock() else {
            return;
        };
        if inner.used {
            config.post_error(
                zwlr_output_configuration_v1::Error::AlreadyUsed,
                "the configuration was applied or tested already",
            );
            return;
        }
        inner.used = true;
        if data.serial != self.output_management.serial {
            tracing::info!("output configuration for an old serial: cancelled");
            config.cancelled();
            return;
        }
        let mut configs = Vec::new();
        for (output, settings) in &inner.heads {
            let name = output.name();
            let Some(settings) = settings else {
                configs.push((name, None));
                continue;
            };
            let Ok(s) = settings.lock() else {
                config.failed();
                return;
            };
            let current_loc = output.current_location();
            configs.push((
                name,
                Some(OutputConfig {
                    mode: s
                        .mode
                        .or_else(|| output.current_mode())
                        .unwrap_or_else(crate::output::default_mode),
                    position: s.position.map(Into::into).unwrap_or(current_loc),
                    transform: s.transform.unwrap_or_else(|| output.current_transform()),
                    scale: s
                        .scale
                        .unwrap_or_else(|| output.current_scale().fractional_scale()),
                }),
            ));
            if s.adaptive_sync {
                tracing::debug!("{}: adaptive sync asked for, not supported", output.name());
            }
        }
        drop(inner);
        let result = if apply {
            self.apply_output_configs(configs)
        } else {
            self.check_output_configs(&configs)
        };
        match result {
            Ok(()) => config.succeeded(),
            Err(e) => {
                tracing::warn!("output configuration refused: {e}");
                config.failed();
            }
        }
    }
}

impl GlobalDispatch<ZwlrOutputManagerV1, ()> for State {
    fn bind(
        state: &mut Self,
        dh: &DisplayHandle,
        _client: &Client,
        resource: New<ZwlrOutputManagerV1>,
        _global_data: &(),
        data_init: &mut DataInit<'_, Self>,
    ) {
        let manager = data_init.init(resource, ManagerData::default());
        // Disabled outputs are heads too (enabled 0), so they can be
        // turned on again.
        let outputs: Vec<Output> = state.outputs.iter().map(|o| o.output.clone()).collect();
        for output in &outputs {
            state.announce_head(dh, &manager, output);
        }
        manager.done(state.output_management.serial);
        state.output_management.managers.push(manager);
    }
}

impl Dispatch<ZwlrOutputManagerV1, ManagerData> for State {
    fn request(
        state: &mut Self,
        _client: &Client,
        manager: &ZwlrOutputManagerV1,
        request: zwlr_output_manager_v1::Request,
        _data: &ManagerData,
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        match request {
            zwlr_output_manager_v1::Request::CreateConfiguration { id, serial } => {
                data_init.init(
                    id,
                    ConfigurationData {
                        serial,
                        inner: Mutex::new(Configuration::default()),
                    },
                );
            }
            zwlr_output_manager_v1::Request::Stop => {
                state.output_management.managers.retain(|m| m != manager);
                manager.finished();
            }
            _ => {}
        }
    }
}

impl Dispatch<ZwlrOutputHeadV1, HeadData> for State {
    fn request(
        _state: &mut Self,
        _client: &Client,
        _head: &ZwlrOutputHeadV1,
        _request: zwlr_output_head_v1::Request,
        _data: &HeadData,
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, Self>,
    ) {
        // `release` is the destructor; nothing else to do.
    }
}

impl Dispatch<ZwlrOutputModeV1, ModeData> for State {
    fn request(
        _state: &mut Self,
        _client: &Client,
        _mode: &ZwlrOutputModeV1,
        _request: zwlr_output_mode_v1::Request,
        _data: &ModeData,
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, Self>,
    ) {
    }
}

impl Dispatch<ZwlrOutputConfigurationV1, ConfigurationData> for State {
    fn request(
        state: &mut Self,
        _client: &Client,
        config: &ZwlrOutputConfigurationV1,
        request: zwlr_output_configuration_v1::Request,
        data: &ConfigurationData,
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        use zwlr_output_configuration_v1::Request;
        let head_output =
            |head: &ZwlrOutputHeadV1| head.data::<HeadData>().map(|d| d.output.clone());
        match request {
            Request::EnableHead { id, head } => {
                let settings = Arc::new(Mutex::new(HeadSettings::default()));
                data_init.init(id, settings.clone());
                let Some(output) = head_output(&head) else {
                    return;
                };
                add_head(config, data, output, Some(settings));
            }
            Request::DisableHead { head } => {
                let Some(output) = head_output(&head) else {
                    return;
                };
                add_head(config, data, output, None);
            }
            Request::Apply => state.finish_configuration(config, true),
            Request::Test => state.finish_configuration(config, false),
            Request::Destroy => {}
            _ => {}
        }
    }
}

/// Adds a head to a configuration; a head configured twice is the
/// protocol's `already_configured_head` error.
fn add_head(
    config: &ZwlrOutputConfigurationV1,
    data: &ConfigurationData,
    output: Output,
    settings: Option<Arc<Mutex<HeadSettings>>>,
) {
    let Ok(mut inner) = data.inner.lock() else {
        return;
    };
    if inner.used {
        config.post_error(
            zwlr_output_configuration_v1::Error::AlreadyUsed,
            "the configuration was applied or tested already",
        );
        return;
    }
    if inner.heads.iter().any(|(o, _)| *o == output) {
        config.post_error(
            zwlr_output_configuration_v1::Error::AlreadyConfiguredHead,
            format!("{} is configured twice", output.name()),
        );
        return;
    }
    inner.heads.push((output, settings));
}

impl Dispatch<ZwlrOutputConfigurationHeadV1, Arc<Mutex<HeadSettings>>> for State {
    fn request(
        _state: &mut Self,
        _client: &Client,
        head: &ZwlrOutputConfigurationHeadV1,
        request: zwlr_output_configuration_head_v1::Request,
        data: &Arc<Mutex<HeadSettings>>,
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, Self>,
    ) {
        use zwlr_output_configuration_head_v1::{Error, Request};
        let Ok(mut s) = data.lock() else {
            return;
        };
        let already = |head: &ZwlrOutputConfigurationHeadV1, what: &str| {
            head.post_error(Error::AlreadySet, format!("{what} set twice"));
        };
        match request {
            Request::SetMode { mode } => {
                if s.mode.is_some() {
                    return already(head, "mode");
                }
                match mode.data::<ModeData>() {
                    Some(m) => s.mode = Some(m.mode),
                    None => head.post_error(Error::InvalidMode, "unknown mode"),
                }
            }
            Request::SetCustomMode {
                width,
                height,
                refresh,
            } => {
                if s.mode.is_some() {
                    return already(head, "mode");
                }
                if width <= 0 || height <= 0 || refresh < 0 {
                    return head.post_error(
                        Error::InvalidCustomMode,
                        format!("custom mode {width}x{height}@{refresh}"),
                    );
                }
                // Refresh 0 means "any": headless outputs run at 60 Hz.
                let refresh = if refresh == 0 { 60_000 } else { refresh };
                s.mode = Some(Mode {
                    size: (width, height).into(),
                    refresh,
                });
            }
            Request::SetPosition { x, y } => {
                if s.position.is_some() {
                    return already(head, "position");
                }
                s.position = Some((x, y));
            }
            Request::SetTransform { transform } => {
                if s.transform.is_some() {
                    return already(head, "transform");
                }
                match transform {
                    WEnum::Value(t) => s.transform = Some(transform_from_wl(t)),
                    WEnum::Unknown(v) => {
                        head.post_error(Error::InvalidTransform, format!("transform {v}"))
                    }
                }
            }
            Request::SetScale { scale } => {
                if s.scale.is_some() {
                    return already(head, "scale");
                }
                if !(scale.is_finite() && scale > 0.0) {
                    return head.post_error(Error::InvalidScale, format!("scale {scale}"));
                }
                s.scale = Some(scale);
            }
            Request::SetAdaptiveSync { state } => match state {
                WEnum::Value(zwlr_output_head_v1::AdaptiveSyncState::Enabled) => {
                    s.adaptive_sync = true
                }
                WEnum::Value(_) => s.adaptive_sync = false,
                WEnum::Unknown(v) => head.post_error(
                    Error::InvalidAdaptiveSyncState,
                    format!("adaptive sync state {v}"),
                ),
            },
            _ => {}
        }
    }
}
