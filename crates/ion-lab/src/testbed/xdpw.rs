//! xdg-desktop-portal-wlr (xdpw), the reference wlroots ScreenCast
//! backend, as an alternative ScreenCast portal: the benchmarks run the
//! same session, consumer and measures through it, side by side with
//! ionChannel. RemoteDesktop stays with ionChannel (xdpw has none).
//!
//! It needs a frontend that reads `portals.conf` (1.17 or newer): 1.16
//! routes by `UseIn=` only, so the testbed's `wlr.portal` has none, and a
//! 1.16 frontend never picks it (callers check which node they got; see
//! [`ScreenCastPortal::node_prefix`]).

use std::fmt;
use std::str::FromStr;

use anyhow::{anyhow, bail, Result};

use super::paths::write_file;
use super::{Component, Testbed};

/// xdpw's bus name.
pub const WLR_BACKEND_NAME: &str = "org.freedesktop.impl.portal.desktop.wlr";

/// Where Debian installs xdpw; `IONLAB_XDPW_BIN` overrides it, and on the
/// testing stack the shim of that name in PATH is used.
pub const XDPW_PATH: &str = "/usr/libexec/xdg-desktop-portal-wlr";

/// The backend the frontend routes ScreenCast to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScreenCastPortal {
    /// ionChannel (RemoteDesktop and ScreenCast).
    #[default]
    IonChannel,
    /// xdg-desktop-portal-wlr (ScreenCast only; RemoteDesktop stays with
    /// ionChannel).
    Wlr,
}

impl ScreenCastPortal {
    /// The `.portal` name `portals.conf` uses.
    pub fn portal_name(self) -> &'static str {
        match self {
            ScreenCastPortal::IonChannel => "ionchannel",
            ScreenCastPortal::Wlr => "wlr",
        }
    }

    /// The start of the `node.name` of its streams in PipeWire: how a
    /// caller checks which backend really served a session.
    pub fn node_prefix(self) -> &'static str {
        match self {
            ScreenCastPortal::IonChannel => "ionchannel-",
            ScreenCastPortal::Wlr => "xdg-desktop-portal-wlr",
        }
    }

    /// The component whose process serves ScreenCast.
    pub fn component(self) -> Component {
        match self {
            ScreenCastPortal::IonChannel => Component::IonChannel,
            ScreenCastPortal::Wlr => Component::Xdpw,
        }
    }
}

impl fmt::Display for ScreenCastPortal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScreenCastPortal::IonChannel => "ionchannel",
            ScreenCastPortal::Wlr => "xdg-desktop-portal-wlr",
        })
    }
}

impl FromStr for ScreenCastPortal {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.trim() {
            "ionchannel" => Ok(ScreenCastPortal::IonChannel),
            "wlr" | "xdpw" | "xdg-desktop-portal-wlr" => Ok(ScreenCastPortal::Wlr),
            other => Err(anyhow!(
                "unknown ScreenCast portal `{other}` (ionchannel, wlr)"
            )),
        }
    }
}

/// `wlr.portal`, without `UseIn=` (see the module's doc).
pub fn wlr_portal_file() -> String {
    format!(
        "[portal]\n\
         DBusName={WLR_BACKEND_NAME}\n\
         Interfaces=org.freedesktop.impl.portal.ScreenCast;\n"
    )
}

/// xdpw's config: its "simple" chooser runs a command and takes the
/// output it prints; ours hands out the testbed's outputs in turn (see
/// [`outputs_in_turn`]), so one session gets the first output (the one
/// the benchmark measures) and two sessions get two outputs. No dialog,
/// no slurp.
fn xdpw_config(chooser: &std::path::Path) -> String {
    format!(
        "# written by ion-lab\n\
         [screencast]\n\
         chooser_type=simple\n\
         chooser_cmd=sh {}\n",
        chooser.display()
    )
}

/// A shell script that prints, on each run, the next of `lines` (from the
/// first, round and round; its count kept in `state`). It reads and drops
/// its standard input first: a consent chooser is handed the request there.
pub fn outputs_in_turn(lines: &[String], state: &std::path::Path) -> String {
    let mut script = format!(
        "#!/bin/sh\n# written by ion-lab: the next answer in turn\n\
         cat >/dev/null\n\
         n=$(cat '{state}' 2>/dev/null || echo 0)\n\
         echo $((n + 1)) >'{state}'\n\
         case $((n % {count})) in\n",
        state = state.display(),
        count = lines.len().max(1)
    );
    for (i, line) in lines.iter().enumerate() {
        script.push_str(&format!("  {i}) echo '{line}' ;;\n"));
    }
    script.push_str("esac\n");
    script
}

/// The program to run: `IONLAB_XDPW_BIN`, else `xdg-desktop-portal-wlr`
/// from PATH (the testing stack's shim), else [`XDPW_PATH`].
fn xdpw_program() -> std::ffi::OsString {
    if let Some(bin) = std::env::var_os("IONLAB_XDPW_BIN").filter(|p| !p.is_empty()) {
        return bin;
    }
    let in_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("xdg-desktop-portal-wlr"))
            .find(|candidate| candidate.is_file())
    });
    in_path.map_or_else(|| XDPW_PATH.into(), Into::into)
}

impl Testbed {
    /// Starts xdg-desktop-portal-wlr (`-l DEBUG`, our config) and waits
    /// until it owns its bus name.
    pub fn start_xdpw(&mut self) -> Result<()> {
        if self.is_running(Component::Xdpw) {
            bail!("xdg-desktop-portal-wlr is already running");
        }
        let config = self.paths.config_home.join("xdg-desktop-portal-wlr/config");
        let chooser = self.paths.root.join("xdpw-chooser.sh");
        let names: Vec<String> = (0..self.requested_outputs().len().max(1))
            .map(super::compositor::headless_name)
            .collect();
        write_file(
            &chooser,
            &outputs_in_turn(&names, &self.paths.root.join("xdpw-chooser.state")),
        )?;
        write_file(&config, &xdpw_config(&chooser))?;
        let mut command = self.command(xdpw_program());
        command.arg("-l").arg("DEBUG").arg("-c").arg(&config);
        self.spawn_component(Component::Xdpw, command)?;
        self.wait_for(
            &format!("xdg-desktop-portal-wlr to own {WLR_BACKEND_NAME}"),
            &[Component::Bus, Component::Xdpw],
            || self.name_has_owner(WLR_BACKEND_NAME),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.sh");
        let lines = ["HEADLESS-1".to_owned(), "HEADLESS-2".to_owned()];
        std::fs::write(&script, outputs_in_turn(&lines, &dir.path().join("state"))).unwrap();
        let run = || {
            let out = std::process::Command::new("sh")
                .arg(&script)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(
            [run(), run(), run()],
            ["HEADLESS-1\n", "HEADLESS-2\n", "HEADLESS-1\n"]
        );
    }
}
