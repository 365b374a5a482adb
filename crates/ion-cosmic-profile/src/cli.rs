//! The command line.

use clap::Parser;
use smithay::utils::Transform;

/// The version line: the stand-in's own version first (what the testbed
/// parses), then what it stands in for and the smithay it is built on.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (stand-in for cosmic-comp; smithay 0.7.0)"
);

/// A STAND-IN for cosmic-comp (COSMIC's compositor) in ionChannel's tests:
/// a headless, software-rendered Wayland compositor on smithay offering
/// cosmic-comp's globals for remote desktop and screen casting. It is not
/// cosmic-comp: see crates/ion-cosmic-profile/README.md for what differs.
#[derive(Debug, Clone, Parser)]
#[command(name = "ion-cosmic-profile", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// Number of headless outputs, HEADLESS-1..HEADLESS-N, 1920x1080@60,
    /// side by side from left to right.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub outputs: u32,
    /// An output's initial transform, NAME=TRANSFORM with the names
    /// wlr-randr uses (normal, 90, 180, 270, flipped, flipped-90,
    /// flipped-180, flipped-270); repeatable.
    #[arg(long = "transform", value_name = "NAME=TRANSFORM", value_parser = parse_output_transform)]
    pub transforms: Vec<(String, Transform)>,
}

/// `HEADLESS-1=flipped-180` → (`HEADLESS-1`, Flipped180).
fn parse_output_transform(s: &str) -> Result<(String, Transform), String> {
    let (name, t) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=TRANSFORM, got `{s}`"))?;
    let t = parse_transform(t).ok_or_else(|| format!("unknown transform `{t}`"))?;
    Ok((name.to_owned(), t))
}

/// wlr-randr's (and sway's) transform names.
pub fn parse_transform(s: &str) -> Option<Transform> {
    Some(match s {
        "normal" => Transform::Normal,
        "90" => Transform::_90,
        "180" => Transform::_180,
        "270" => Transform::_270,
        "flipped" => Transform::Flipped,
        "flipped-90" => Transform::Flipped90,
        "flipped-180" => Transform::Flipped180,
        "flipped-270" => Transform::Flipped270,
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_outputs_and_transforms() {
        let cli = Cli::try_parse_from([
            "ion-cosmic-profile",
            "--outputs",
            "2",
            "--transform",
            "HEADLESS-1=flipped-180",
        ])
        .unwrap();
        assert_eq!(cli.outputs, 2);
        assert_eq!(
            cli.transforms,
            vec![("HEADLESS-1".to_owned(), Transform::Flipped180)]
        );
        assert!(Cli::try_parse_from(["x", "--outputs", "0"]).is_err());
        assert!(Cli::try_parse_from(["x", "--transform", "HEADLESS-1=sideways"]).is_err());
    }

    #[test]
    fn version_starts_with_the_crate_version() {
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")));
    }
}
