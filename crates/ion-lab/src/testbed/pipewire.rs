//! PipeWire and WirePlumber as plain processes on the private runtime dir.

use anyhow::Result;

use super::{is_socket, Component, Testbed};

/// The PipeWire socket name inside the runtime dir.
pub const PIPEWIRE_SOCKET: &str = "pipewire-0";

impl Testbed {
    pub(super) fn spawn_pipewire(&mut self) -> Result<()> {
        let command = self.command("pipewire");
        self.spawn_component(Component::PipeWire, command)
    }

    pub(super) fn wait_pipewire(&self) -> Result<()> {
        let socket = self.paths.runtime.join(PIPEWIRE_SOCKET);
        self.wait_for(
            "PipeWire's socket to answer",
            &[Component::PipeWire],
            || Ok(is_socket(&socket) && self.pw_cli(&["info", "0"]).is_ok()),
        )
    }

    pub(super) fn spawn_wireplumber(&mut self) -> Result<()> {
        let command = self.command("wireplumber");
        self.spawn_component(Component::WirePlumber, command)
    }

    pub(super) fn wait_wireplumber(&self) -> Result<()> {
        self.wait_for(
            "WirePlumber to connect to PipeWire",
            &[Component::PipeWire, Component::WirePlumber],
            || {
                Ok(self
                    .pw_cli(&["ls", "Client"])
                    .is_ok_and(|out| out.contains("application.name = \"WirePlumber\"")))
            },
        )
    }

    /// The path of PipeWire's socket.
    pub fn pipewire_socket(&self) -> std::path::PathBuf {
        self.paths.runtime.join(PIPEWIRE_SOCKET)
    }

    /// Runs `pw-cli -r pipewire-0 <args…>` against the testbed's PipeWire and
    /// returns its stdout.
    pub fn pw_cli(&self, args: &[&str]) -> Result<String> {
        let mut command = self.command("pw-cli");
        command.args(["-r", PIPEWIRE_SOCKET]).args(args);
        self.run_tool(command)
    }

    /// Runs `pw-dump` against the testbed's PipeWire and returns its JSON.
    pub fn pw_dump(&self) -> Result<String> {
        let mut command = self.command("pw-dump");
        command.args(["-r", PIPEWIRE_SOCKET]);
        self.run_tool(command)
    }
}
