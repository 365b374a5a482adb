//! Output geometry: what a test asks for ([`OutputSpec`]) and what sway
//! reports ([`OutputInfo`]).

use std::fmt;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// An output's transform, as sway and wlr-randr name it.
pub use ion_core::transform::Transform;

/// A headless output to create: mode in physical pixels, position in the
/// layout (logical pixels), scale, transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputSpec {
    pub width: u32,
    pub height: u32,
    pub x: i32,
    pub y: i32,
    pub scale: f64,
    pub transform: Transform,
}

impl OutputSpec {
    /// A `width`×`height` output at 0,0, scale 1.
    pub fn new(width: u32, height: u32) -> Self {
        OutputSpec {
            width,
            height,
            x: 0,
            y: 0,
            scale: 1.0,
            transform: Transform::Normal,
        }
    }

    /// The same output placed at `x`,`y` in the layout.
    pub fn at(self, x: i32, y: i32) -> Self {
        OutputSpec { x, y, ..self }
    }

    /// The same output with another scale.
    pub fn with_scale(self, scale: f64) -> Self {
        OutputSpec { scale, ..self }
    }

    /// The same output turned or mirrored.
    pub fn with_transform(self, transform: Transform) -> Self {
        OutputSpec { transform, ..self }
    }

    /// The arguments of sway's `output <name> …` command that apply it.
    pub fn sway_args(&self) -> String {
        format!(
            "resolution {}x{} position {} {} scale {} transform {}",
            self.width,
            self.height,
            self.x,
            self.y,
            self.scale,
            self.transform.name()
        )
    }
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec::new(1920, 1080)
    }
}

impl fmt::Display for OutputSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}+{}+{}", self.width, self.height, self.x, self.y)?;
        if self.scale != 1.0 {
            write!(f, "@{}", self.scale)?;
        }
        if self.transform != Transform::Normal {
            write!(f, " transform {}", self.transform.name())?;
        }
        Ok(())
    }
}

/// Parses `WxH[+X+Y][@scale]`, e.g. `1920x1080+0+0` or `2560x1440+1920+0@2`.
impl FromStr for OutputSpec {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = || anyhow!("bad output `{text}`: expected WxH[+X+Y][@scale]");
        let (geometry, scale) = match text.split_once('@') {
            Some((g, s)) => (g, s.parse::<f64>().map_err(|_| bad())?),
            None => (text, 1.0),
        };
        if !(scale.is_finite() && scale > 0.0) {
            return Err(bad());
        }
        let (size, position) = match geometry.split_once('+') {
            Some((size, pos)) => (size, Some(pos)),
            None => (geometry, None),
        };
        let (w, h) = size.split_once('x').ok_or_else(bad)?;
        let (x, y) = match position {
            Some(pos) => {
                let (x, y) = pos.split_once('+').ok_or_else(bad)?;
                (x.parse().map_err(|_| bad())?, y.parse().map_err(|_| bad())?)
            }
            None => (0, 0),
        };
        let spec = OutputSpec {
            width: w.parse().map_err(|_| bad())?,
            height: h.parse().map_err(|_| bad())?,
            x,
            y,
            scale,
            transform: Transform::Normal,
        };
        if spec.width == 0 || spec.height == 0 {
            return Err(bad());
        }
        Ok(spec)
    }
}

/// One output as sway's `get_outputs` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputInfo {
    pub name: String,
    pub active: bool,
    /// Current mode, physical pixels (0 when disabled).
    pub width: u32,
    pub height: u32,
    /// Refresh rate of the current mode, in mHz.
    pub refresh: i64,
    /// Position and size in the layout, logical pixels.
    pub x: i32,
    pub y: i32,
    pub logical_width: u32,
    pub logical_height: u32,
    pub scale: f64,
    pub transform: Transform,
}

impl OutputInfo {
    /// Whether this output is active with exactly the mode, position,
    /// scale and transform of `spec`.
    pub fn matches(&self, spec: &OutputSpec) -> bool {
        self.active
            && self.width == spec.width
            && self.height == spec.height
            && self.x == spec.x
            && self.y == spec.y
            && (self.scale - spec.scale).abs() < 1e-3
            && self.transform == spec.transform
    }

    fn from_json(value: &Value) -> Result<OutputInfo> {
        let int = |v: &Value, key: &str| v.get(key).and_then(Value::as_i64).unwrap_or(0);
        let name = value
            .get("name")
            .and_then(Value::as_str)
            .context("output without a name")?
            .to_owned();
        let empty = Value::Null;
        let mode = value.get("current_mode").unwrap_or(&empty);
        let rect = value.get("rect").unwrap_or(&empty);
        let u = |n: i64| u32::try_from(n).unwrap_or(0);
        let i = |n: i64| i32::try_from(n).unwrap_or(0);
        Ok(OutputInfo {
            active: value
                .get("active")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            width: u(int(mode, "width")),
            height: u(int(mode, "height")),
            refresh: int(mode, "refresh"),
            x: i(int(rect, "x")),
            y: i(int(rect, "y")),
            logical_width: u(int(rect, "width")),
            logical_height: u(int(rect, "height")),
            scale: value.get("scale").and_then(Value::as_f64).unwrap_or(0.0),
            transform: Transform::from_name(
                value
                    .get("transform")
                    .and_then(Value::as_str)
                    .unwrap_or("normal"),
            ),
            name,
        })
    }
}

impl fmt::Display for OutputInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}x{}+{}+{}@{} (logical {}x{}{})",
            self.name,
            self.width,
            self.height,
            self.x,
            self.y,
            self.scale,
            self.logical_width,
            self.logical_height,
            if self.active { "" } else { ", inactive" }
        )
    }
}

/// Parses the JSON of `swaymsg -t get_outputs`.
pub fn parse_outputs(json: &str) -> Result<Vec<OutputInfo>> {
    let value: Value = serde_json::from_str(json).context("get_outputs is not JSON")?;
    let Value::Array(items) = value else {
        bail!("get_outputs is not a JSON array: {json}");
    };
    items.iter().map(OutputInfo::from_json).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_output_specs() {
        let spec: OutputSpec = "2560x1440+1920+0@1.5".parse().unwrap();
        assert_eq!(
            spec,
            OutputSpec::new(2560, 1440).at(1920, 0).with_scale(1.5)
        );
        assert_eq!(spec.to_string(), "2560x1440+1920+0@1.5");
        let plain: OutputSpec = "800x600".parse().unwrap();
        assert_eq!(plain, OutputSpec::new(800, 600));
        assert_eq!(plain.to_string(), "800x600+0+0");
        for bad in ["", "800", "800x", "x600", "800x600+1", "800x600@0", "0x600"] {
            assert!(bad.parse::<OutputSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_sway_outputs() {
        let json = r#"[{"name":"HEADLESS-1","active":true,"scale":1.5,
            "rect":{"x":1920,"y":0,"width":1280,"height":720},
            "current_mode":{"width":1920,"height":1080,"refresh":60000}},
            {"name":"HEADLESS-2","active":false,"rect":{"x":0,"y":0,"width":0,"height":0}}]"#;
        let outputs = parse_outputs(json).unwrap();
        assert!(outputs[0].matches(&OutputSpec::new(1920, 1080).at(1920, 0).with_scale(1.5)));
        let turned = r#"[{"name":"HEADLESS-1","active":true,"scale":1.0,"transform":"90",
            "rect":{"x":0,"y":0,"width":720,"height":1280},
            "current_mode":{"width":1280,"height":720,"refresh":60000}}]"#;
        let turned = parse_outputs(turned).unwrap();
        let spec = OutputSpec::new(1280, 720).with_transform(Transform::R90);
        assert!(turned[0].matches(&spec));
        assert!(!turned[0].matches(&OutputSpec::new(1280, 720)));
        assert!(
            spec.sway_args().ends_with("transform 90"),
            "{}",
            spec.sway_args()
        );
        assert!(!outputs[1].active);
        assert_eq!(outputs[1].width, 0);
    }
}
