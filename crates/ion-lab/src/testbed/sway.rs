//! Headless sway: config, start (as the lab user when we are root), its
//! sockets, `swaymsg`, and output geometry checks and changes.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

use super::output::{parse_outputs, OutputInfo, OutputSpec};
use super::paths::write_file;
use super::{is_socket, Component, Testbed};

/// The name wlroots' headless backend gives the `index`-th output (from 0).
pub fn headless_name(index: usize) -> String {
    format!("HEADLESS-{}", index + 1)
}

fn sway_config(outputs: &[OutputSpec]) -> String {
    let mut config = String::from(
        "# written by ion-lab\n\
         xwayland disable\n\
         default_border none\n\
         default_floating_border none\n\
         focus_follows_mouse no\n",
    );
    for (index, spec) in outputs.iter().enumerate() {
        config.push_str(&format!(
            "output {} {}\n",
            headless_name(index),
            spec.sway_args()
        ));
    }
    config
}

impl Testbed {
    pub(super) fn spawn_sway(&mut self) -> Result<()> {
        write_file(&self.paths.sway_config, &sway_config(&self.outputs))?;
        let mut command = match &self.sway_user {
            Some(user) => {
                // Credentials change inside setpriv, which clears the parent
                // death signal; setpriv sets it again afterwards.
                let mut command = self.command("setpriv");
                command
                    .arg(format!("--reuid={}", user.name))
                    .arg(format!("--regid={}", user.gid))
                    .arg("--init-groups")
                    .arg("--pdeathsig=SIGKILL")
                    .arg("--")
                    .arg("sway");
                command
            }
            None => self.command("sway"),
        };
        command
            .arg("--config")
            .arg(&self.paths.sway_config)
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("SWAYSOCK")
            .env("WLR_BACKENDS", "headless")
            .env("WLR_RENDERER", "pixman")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .env("WLR_HEADLESS_OUTPUTS", self.outputs.len().to_string());
        self.spawn_component(Component::Sway, command)
    }

    pub(super) fn wait_sway(&mut self) -> Result<()> {
        let mut sockets = None;
        self.wait_for("sway's Wayland and IPC sockets", &[Component::Sway], || {
            sockets = self.find_sway_sockets()?;
            Ok(sockets.is_some())
        })?;
        let (display, ipc) = sockets.context("sway's sockets vanished")?;
        self.wayland_display = Some(display);
        self.sway_socket = Some(ipc);
        let outputs = self.outputs.clone();
        self.wait_outputs(&outputs)
    }

    /// `(WAYLAND_DISPLAY, IPC socket)` once sway has created both.
    fn find_sway_sockets(&self) -> Result<Option<(String, PathBuf)>> {
        let entries = fs::read_dir(&self.paths.runtime)
            .with_context(|| format!("listing {}", self.paths.runtime.display()))?;
        let (mut display, mut ipc) = (None, None);
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if !is_socket(&path) {
                continue;
            }
            if name.starts_with("wayland-") {
                display = Some(name);
            } else if name.starts_with("sway-ipc.") && name.ends_with(".sock") {
                ipc = Some(path);
            }
        }
        Ok(display.zip(ipc))
    }

    /// The path of sway's IPC socket (`SWAYSOCK`).
    pub fn sway_socket(&self) -> Option<&std::path::Path> {
        self.sway_socket.as_deref()
    }

    /// Runs `swaymsg -s <socket> <args…>` and returns its stdout (JSON for
    /// `-t get_*`); fails if swaymsg reports an error.
    pub fn swaymsg(&self, args: &[&str]) -> Result<String> {
        let socket = self
            .sway_socket
            .as_ref()
            .ok_or_else(|| anyhow!("sway is not up (no IPC socket yet)"))?;
        let mut command: Command = self.command("swaymsg");
        command.arg("-s").arg(socket).args(args);
        self.run_tool(command)
    }

    /// The outputs as sway reports them now.
    pub fn outputs(&self) -> Result<Vec<OutputInfo>> {
        parse_outputs(&self.swaymsg(&["-t", "get_outputs", "--raw"])?)
    }

    /// Waits until sway reports outputs `HEADLESS-1…` with exactly the given
    /// geometry (each spec `i` is checked against `HEADLESS-<i+1>`).
    pub fn wait_outputs(&self, specs: &[OutputSpec]) -> Result<()> {
        let named: Vec<(String, OutputSpec)> = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| (headless_name(i), *spec))
            .collect();
        self.wait_named_outputs(&named)
    }

    fn wait_named_outputs(&self, named: &[(String, OutputSpec)]) -> Result<()> {
        let mut last = String::from("(no answer from sway yet)");
        let wanted: Vec<String> = named
            .iter()
            .map(|(name, spec)| format!("{name} {spec}"))
            .collect();
        let result = self.wait_for(
            &format!("sway outputs {}", wanted.join(", ")),
            &[Component::Sway],
            || {
                let Ok(outputs) = self.outputs() else {
                    return Ok(false);
                };
                last = outputs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                Ok(named.iter().all(|(name, spec)| {
                    outputs
                        .iter()
                        .any(|info| info.name == *name && info.matches(spec))
                }))
            },
        );
        result.map_err(|err| anyhow!("{err:#}\nsway last reported: {last}"))
    }

    /// Applies `spec` (mode, position, scale) to the output `name` and waits
    /// until sway reports it.
    pub fn set_output(&self, name: &str, spec: &OutputSpec) -> Result<()> {
        self.swaymsg(&[&format!("output {name} {}", spec.sway_args())])?;
        self.wait_named_outputs(&[(name.to_owned(), *spec)])
    }

    /// Creates a new headless output at run time (`swaymsg create_output`),
    /// applies `spec` to it and waits until sway reports it. Returns its
    /// name.
    pub fn add_output(&self, spec: &OutputSpec) -> Result<String> {
        let before: Vec<String> = self.outputs()?.into_iter().map(|o| o.name).collect();
        self.swaymsg(&["create_output"])?;
        let mut created = None;
        self.wait_for("sway to create a new output", &[Component::Sway], || {
            let Ok(outputs) = self.outputs() else {
                return Ok(false);
            };
            created = outputs
                .into_iter()
                .map(|o| o.name)
                .find(|name| !before.contains(name));
            Ok(created.is_some())
        })?;
        let name = created.context("the new output vanished")?;
        self.set_output(&name, spec)?;
        Ok(name)
    }

    /// Fails if sway does not answer on its IPC socket.
    pub fn check_sway(&self) -> Result<()> {
        let version = self.swaymsg(&["-t", "get_version", "--raw"])?;
        if !version.contains("human_readable") {
            bail!("unexpected get_version reply: {version}");
        }
        Ok(())
    }
}
