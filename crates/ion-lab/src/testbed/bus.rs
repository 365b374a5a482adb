//! The private session bus: our own `dbus-daemon` config, starting it, and
//! asking it about names (through `dbus-send`).

use std::path::Path;

use anyhow::{bail, Result};

use super::paths::write_file;
use super::portal::{BACKEND_NAME, FRONTEND_NAME};
use super::xdpw::WLR_BACKEND_NAME;
use super::{is_socket, Component, Testbed};

/// The bus daemon's own name.
pub const BUS_NAME: &str = "org.freedesktop.DBus";

/// The config of a session bus listening on `socket`, letting everyone do
/// everything, activating services from the standard session directories.
fn bus_config(socket: &Path) -> String {
    let socket = xml_escape(&socket.to_string_lossy());
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- written by ion-lab -->
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <standard_session_servicedirs/>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#
    )
}

/// Names the testbed starts itself (with its own environment and logs):
/// D-Bus activation of the system's copies is shadowed by services that
/// fail, so a test without the frontend (or after killing a component) does
/// not get an unconfigured one behind its back.
pub const NOT_ACTIVATABLE: [&str; 3] = [FRONTEND_NAME, BACKEND_NAME, WLR_BACKEND_NAME];

/// A service file in `$XDG_DATA_HOME/dbus-1/services` (which takes precedence
/// over the system's directories) whose activation fails at once.
fn disabled_service(name: &str) -> String {
    format!(
        "# written by ion-lab: the testbed starts {name} itself\n\
         [D-BUS Service]\n\
         Name={name}\n\
         Exec=/bin/false\n"
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Testbed {
    pub(super) fn start_bus(&mut self) -> Result<()> {
        let socket = self.paths.runtime.join("bus");
        write_file(&self.paths.bus_config, &bus_config(&socket))?;
        for name in NOT_ACTIVATABLE {
            let service = self
                .paths
                .data_home
                .join("dbus-1/services")
                .join(format!("{name}.service"));
            write_file(&service, &disabled_service(name))?;
        }
        let address = format!("unix:path={}", socket.display());
        // The daemon passes its environment (marker included) on to the
        // services it activates; give them the bus address too.
        self.bus_address = Some(address);
        let mut command = self.command("dbus-daemon");
        command
            .arg("--nofork")
            .arg("--print-address")
            .arg(format!("--config-file={}", self.paths.bus_config.display()));
        self.spawn_component(Component::Bus, command)?;
        self.wait_for("the session bus to answer", &[Component::Bus], || {
            Ok(is_socket(&socket) && self.name_has_owner(BUS_NAME).unwrap_or(false))
        })
    }

    /// `dbus-send --bus=<ours> --print-reply <args…>`; returns the reply text.
    pub fn dbus_send(&self, args: &[&str]) -> Result<String> {
        let mut command = self.command("dbus-send");
        command
            .arg(format!("--bus={}", self.bus_address()))
            .arg("--print-reply")
            .arg("--reply-timeout=5000")
            .args(args);
        self.run_tool(command)
    }

    /// Whether `name` has an owner on the private bus.
    pub fn name_has_owner(&self, name: &str) -> Result<bool> {
        let reply = self.dbus_send(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            &format!("string:{name}"),
        ])?;
        if reply.contains("boolean true") {
            Ok(true)
        } else if reply.contains("boolean false") {
            Ok(false)
        } else {
            bail!("unexpected NameHasOwner reply: {reply}")
        }
    }

    /// Waits until `name` is owned (`owned`) or released (`!owned`) on the
    /// private bus, failing early if the bus dies.
    pub fn wait_for_name(&self, name: &str, owned: bool) -> Result<()> {
        let what = if owned {
            format!("{name} to be owned on the private bus")
        } else {
            format!("{name} to be released on the private bus")
        };
        self.wait_for(&what, &[Component::Bus], || {
            Ok(self.name_has_owner(name)? == owned)
        })
    }
}
