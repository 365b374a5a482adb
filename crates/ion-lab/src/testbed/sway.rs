//! Headless sway: config (with the outputs' geometry), start (as the lab
//! user when we are root), its sockets, `swaymsg`, and its output commands.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

use super::compositor::{headless_name, Compositor};
use super::output::{parse_outputs, OutputInfo, OutputSpec};
use super::paths::write_file;
use super::{is_socket, Component, Testbed};

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
        let config = self.paths.compositor_config.join("sway.conf");
        write_file(&config, &sway_config(&self.outputs))?;
        let mut command = self.headless_compositor_command("sway");
        command.arg("--config").arg(&config).env_remove("SWAYSOCK");
        self.spawn_component(Component::Compositor, command)
    }

    /// Waits for sway's Wayland and IPC sockets.
    pub(super) fn wait_sway_sockets(&mut self) -> Result<()> {
        let mut sockets = None;
        self.wait_for(
            "sway's Wayland and IPC sockets",
            &[Component::Compositor],
            || {
                sockets = self.find_sway_sockets()?;
                Ok(sockets.is_some())
            },
        )?;
        let (display, ipc) = sockets.context("sway's sockets vanished")?;
        self.wayland_display = Some(display);
        self.sway_socket = Some(ipc);
        Ok(())
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
            .ok_or_else(|| match self.compositor {
                Compositor::Sway => anyhow!("sway is not up (no IPC socket yet)"),
                other => anyhow!("swaymsg needs sway; this testbed runs {other}"),
            })?;
        let mut command: Command = self.command("swaymsg");
        command.arg("-s").arg(socket).args(args);
        self.run_tool(command)
    }

    /// The outputs as sway reports them now (`get_outputs`).
    pub(super) fn sway_outputs(&self) -> Result<Vec<OutputInfo>> {
        parse_outputs(&self.swaymsg(&["-t", "get_outputs", "--raw"])?)
    }

    /// `swaymsg create_output`: a new headless output, named by sway.
    pub(super) fn sway_create_output(&self) -> Result<()> {
        self.swaymsg(&["create_output"]).map(drop)
    }

    /// Fails if sway does not answer on its IPC socket.
    pub(super) fn check_sway(&self) -> Result<()> {
        let version = self.swaymsg(&["-t", "get_version", "--raw"])?;
        if !version.contains("human_readable") {
            bail!("unexpected get_version reply: {version}");
        }
        Ok(())
    }
}
