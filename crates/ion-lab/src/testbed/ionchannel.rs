//! Finding the workspace's binaries, and running `ionchannel serve` with its
//! consent policy.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::paths::write_file;
use super::portal::BACKEND_NAME;
use super::{Component, Testbed};

/// The consent policy the testbed writes unless told otherwise: everything
/// allowed to every app.
pub const DEFAULT_POLICY: &str = "[[allow]]\n\
app_id = \"\"\n\
devices = [\"keyboard\", \"pointer\", \"touchscreen\"]\n\
sources = [\"monitor\", \"window\"]\n\
clipboard = true\n";

/// `RUST_LOG` for `ionchannel serve`.
pub const IONCHANNEL_LOG_FILTER: &str = "ionchannel=debug,ion_=debug,info";

/// Finds a binary built from this workspace.
///
/// In order: the environment variable `<NAME>_BIN` (upper case, `-` → `_`,
/// e.g. `IONCHANNEL_BIN`, `ION_PROBE_BIN`); `<dir of current exe>/../<name>`
/// (test executables live in `target/<profile>/deps`); `<dir of current
/// exe>/<name>`.
pub fn find_workspace_bin(name: &str) -> Result<PathBuf> {
    let var = format!("{}_BIN", name.to_uppercase().replace('-', "_"));
    if let Some(path) = std::env::var_os(&var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{var}={} is not a file", path.display());
        }
        return Ok(path);
    }
    let exe = std::env::current_exe().context("finding the current executable")?;
    let dir = exe
        .parent()
        .context("the current executable has no directory")?;
    let candidates = [dir.join("..").join(name), dir.join(name)];
    for candidate in &candidates {
        if candidate.is_file() {
            return Ok(candidate.clone());
        }
    }
    bail!(
        "cannot find the `{name}` binary (looked at {} and {}); build it \
         (`cargo build --bin {name}`) or set {var}",
        candidates[0].display(),
        candidates[1].display()
    )
}

impl Testbed {
    /// The path of ionChannel's consent policy file.
    pub fn policy_path(&self) -> PathBuf {
        self.paths
            .config_home
            .join("ionchannel")
            .join("policy.toml")
    }

    /// Replaces the consent policy: writes it now and again before every
    /// (re)start of ionChannel.
    pub fn set_policy(&mut self, toml: impl Into<String>) -> Result<()> {
        self.policy = toml.into();
        write_file(&self.policy_path(), &self.policy)
    }

    /// Starts `ionchannel serve` and waits until it owns
    /// `org.freedesktop.impl.portal.desktop.ionchannel`.
    pub fn start_ionchannel(&mut self) -> Result<()> {
        if self.is_running(Component::IonChannel) {
            bail!("ionchannel is already running");
        }
        write_file(&self.policy_path(), &self.policy)?;
        let program = find_workspace_bin("ionchannel")?;
        let mut command = self.command(program);
        command
            .arg("serve")
            // IONLAB_IONCHANNEL_LOG overrides the filter for a whole run
            // (e.g. `ion_wayland=trace` to follow each capture).
            .env(
                "RUST_LOG",
                std::env::var("IONLAB_IONCHANNEL_LOG")
                    .unwrap_or_else(|_| IONCHANNEL_LOG_FILTER.to_string()),
            )
            .env("NO_COLOR", "1")
            .envs(self.ionchannel_env.iter().map(|(k, v)| (k, v)));
        // A previous instance may still hold the name for a moment.
        self.wait_for_name(BACKEND_NAME, false)?;
        self.spawn_component(Component::IonChannel, command)?;
        self.wait_for(
            &format!("ionchannel to own {BACKEND_NAME}"),
            &[Component::Bus, Component::IonChannel],
            || self.name_has_owner(BACKEND_NAME),
        )
    }

    /// Stops ionChannel (SIGTERM, then SIGKILL after 2 s) if it runs, waits
    /// until its bus name is released, and starts it again.
    pub fn restart_ionchannel(&mut self) -> Result<()> {
        if self.pid(Component::IonChannel).is_some() {
            self.stop(Component::IonChannel)?;
        }
        self.start_ionchannel()
    }
}
