//! Outputs through wlr-output-management, with `wlr-randr` (0.4 or newer
//! for `--json`): how the testbed lists and changes labwc's outputs (labwc
//! has no IPC) and the cosmic-comp stand-in's. Any wlroots compositor
//! answers the same way.

use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::output::{OutputInfo, OutputSpec, Transform};
use super::Testbed;

/// The arguments that give the output `name` the geometry of `spec`.
/// `--custom-mode`: the headless backend lists no modes to pick from.
pub fn wlr_randr_args(name: &str, spec: &OutputSpec) -> Vec<String> {
    vec![
        "--output".to_owned(),
        name.to_owned(),
        "--custom-mode".to_owned(),
        format!("{}x{}", spec.width, spec.height),
        "--pos".to_owned(),
        format!("{},{}", spec.x, spec.y),
        "--scale".to_owned(),
        spec.scale.to_string(),
        "--transform".to_owned(),
        spec.transform.name().to_owned(),
    ]
}

/// Parses `wlr-randr --json`. The logical size is not in it: it is the
/// current mode, turned by the transform, divided by the scale and
/// truncated, as wlroots computes it (`wlr_output_effective_resolution`).
pub fn parse_wlr_randr(json: &str) -> Result<Vec<OutputInfo>> {
    let value: Value = serde_json::from_str(json).context("wlr-randr --json is not JSON")?;
    let Value::Array(items) = value else {
        bail!("wlr-randr --json is not a JSON array: {json}");
    };
    items.iter().map(output_from_json).collect()
}

fn output_from_json(value: &Value) -> Result<OutputInfo> {
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .context("output without a name")?
        .to_owned();
    let int = |v: Option<&Value>, key: &str| {
        v.and_then(|v| v.get(key))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let current = value
        .get("modes")
        .and_then(Value::as_array)
        .and_then(|modes| {
            modes
                .iter()
                .find(|m| m.get("current").and_then(Value::as_bool) == Some(true))
        });
    let enabled = value
        .get("enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let scale = value.get("scale").and_then(Value::as_f64).unwrap_or(1.0);
    let (width, height) = if enabled {
        (
            u32::try_from(int(current, "width")).unwrap_or(0),
            u32::try_from(int(current, "height")).unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    let transform = Transform::from_name(
        value
            .get("transform")
            .and_then(Value::as_str)
            .unwrap_or("normal"),
    );
    let turned = transform.turns();
    let (w, h) = if turned {
        (height, width)
    } else {
        (width, height)
    };
    let logical = |pixels: u32| {
        if scale > 0.0 {
            // Truncation, as wlroots does (an int divided by a float).
            (f64::from(pixels) / scale) as u32
        } else {
            0
        }
    };
    let position = value.get("position");
    let refresh_hz = current
        .and_then(|m| m.get("refresh"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    Ok(OutputInfo {
        name,
        active: enabled,
        width,
        height,
        refresh: (refresh_hz * 1000.0).round() as i64,
        x: i32::try_from(int(position, "x")).unwrap_or(0),
        y: i32::try_from(int(position, "y")).unwrap_or(0),
        logical_width: logical(w),
        logical_height: logical(h),
        scale,
        transform,
    })
}

impl Testbed {
    /// Runs `wlr-randr <args…>` in the session; returns its stdout.
    pub fn wlr_randr(&self, args: &[String]) -> Result<String> {
        let mut command: Command = self.command("wlr-randr");
        command.args(args);
        self.run_tool(command)
    }

    /// The outputs as wlr-output-management reports them now.
    pub(super) fn wlr_randr_outputs(&self) -> Result<Vec<OutputInfo>> {
        parse_wlr_randr(&self.wlr_randr(&["--json".to_owned()])?)
    }

    /// Applies every `(name, spec)` in one output configuration.
    pub(super) fn wlr_randr_apply(&self, named: &[(String, OutputSpec)]) -> Result<()> {
        let args: Vec<String> = named
            .iter()
            .flat_map(|(name, spec)| wlr_randr_args(name, spec))
            .collect();
        self.wlr_randr(&args).map(drop)
    }

    /// Disables the output `name`.
    pub(super) fn wlr_randr_off(&self, name: &str) -> Result<()> {
        self.wlr_randr(&["--output".to_owned(), name.to_owned(), "--off".to_owned()])
            .map(drop)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_wlr_randr_json() {
        // As wlr-randr 0.5.0 prints it for labwc 0.20's headless outputs.
        let json = r#"[
          {"name": "HEADLESS-1", "description": "Headless output 1", "make": null,
           "enabled": true,
           "modes": [{"width": 1280, "height": 720, "refresh": 0.000000,
                      "preferred": false, "current": true}],
           "position": {"x": 1920, "y": 0}, "transform": "normal",
           "scale": 1.500000, "adaptive_sync": false},
          {"name": "HEADLESS-2", "enabled": true,
           "modes": [{"width": 800, "height": 600, "refresh": 60.0, "current": true}],
           "position": {"x": 0, "y": 0}, "transform": "90", "scale": 2.0},
          {"name": "HEADLESS-3", "enabled": false,
           "modes": [{"width": 800, "height": 600, "refresh": 60.0, "current": true}],
           "position": {"x": 0, "y": 0}, "transform": "normal", "scale": 1.0}
        ]"#;
        let outputs = parse_wlr_randr(json).unwrap();
        let spec = OutputSpec::new(1280, 720).at(1920, 0).with_scale(1.5);
        assert!(outputs[0].matches(&spec), "{}", outputs[0]);
        assert_eq!(
            (outputs[0].logical_width, outputs[0].logical_height),
            (853, 480)
        );
        assert_eq!(
            (outputs[1].logical_width, outputs[1].logical_height),
            (300, 400)
        );
        assert_eq!(outputs[1].refresh, 60_000);
        assert_eq!(outputs[1].transform, Transform::R90);
        assert!(!outputs[2].active);
        assert_eq!(outputs[2].width, 0);
        assert_eq!(
            wlr_randr_args("HEADLESS-1", &spec).join(" "),
            "--output HEADLESS-1 --custom-mode 1280x720 --pos 1920,0 --scale 1.5 --transform normal"
        );
    }
}
