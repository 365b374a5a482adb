//! Which headless compositor the testbed runs, what it can do, and the
//! compositor-neutral output API (list, change, add, remove) that
//! dispatches to `sway.rs` (IPC, `swaymsg`) or `labwc.rs` (no IPC:
//! wlr-output-management through `wlr-randr`).
//!
//! The choice is [`TestbedBuilder::compositor`](super::TestbedBuilder::compositor)
//! or, by default, the environment variable `IONLAB_COMPOSITOR=sway|labwc`
//! (sway when unset), so that the same test suites run on either.
//!
//! What a compositor cannot do is explicit: [`Testbed::supports`] answers
//! with an [`Unsupported`] reason naming the compositor and its version,
//! and a test that needs the capability prints that reason and returns
//! early instead of passing silently.

use std::fmt;
use std::str::FromStr;

use anyhow::{anyhow, bail, Result};

use super::output::{OutputInfo, OutputSpec};
use super::{Component, Testbed};

/// The environment variable that picks the compositor.
pub const COMPOSITOR_VAR: &str = "IONLAB_COMPOSITOR";

/// A headless wlroots compositor the testbed knows how to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compositor {
    /// sway: configured by a config file, driven through its IPC socket.
    #[default]
    Sway,
    /// labwc: no IPC and no output section in its config; outputs are set
    /// through wlr-output-management (`wlr-randr`).
    Labwc,
}

impl Compositor {
    /// Every compositor the testbed knows.
    pub const ALL: [Compositor; 2] = [Compositor::Sway, Compositor::Labwc];

    /// Its program name (also what `IONLAB_COMPOSITOR` takes).
    pub fn program(self) -> &'static str {
        match self {
            Compositor::Sway => "sway",
            Compositor::Labwc => "labwc",
        }
    }

    /// `IONLAB_COMPOSITOR`, or sway when it is unset or empty. An unknown
    /// name is an error, not a silent fallback: a run meant for labwc must
    /// not quietly test sway.
    pub fn from_env() -> Result<Compositor> {
        match std::env::var(COMPOSITOR_VAR) {
            Ok(name) if !name.trim().is_empty() => name
                .parse()
                .map_err(|err| anyhow!("{COMPOSITOR_VAR}: {err:#}")),
            _ => Ok(Compositor::default()),
        }
    }
}

impl fmt::Display for Compositor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.program())
    }
}

impl FromStr for Compositor {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        Compositor::ALL
            .into_iter()
            .find(|c| c.program() == text.trim())
            .ok_or_else(|| anyhow!("unknown compositor `{text}` (known: sway, labwc)"))
    }
}

/// A running compositor's name and version, from `<program> --version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompositorVersion {
    pub compositor: Compositor,
    /// The first line of `--version`, e.g. `sway version 1.12` or
    /// `labwc 0.20.2 (+xwayland …) wlroots-0.20.2`.
    pub line: String,
    /// The compositor's own release, e.g. (1, 12, 0); zeros when unparsable.
    pub release: (u32, u32, u32),
}

impl CompositorVersion {
    /// Parses the first line of `--version`: the compositor's release is
    /// the first word that reads as a dotted number.
    pub fn parse(compositor: Compositor, output: &str) -> CompositorVersion {
        let line = output.lines().next().unwrap_or_default().trim().to_owned();
        let release = line
            .split_whitespace()
            .find_map(parse_release)
            .unwrap_or((0, 0, 0));
        CompositorVersion {
            compositor,
            line,
            release,
        }
    }

    /// `sway 1.12`, `labwc 0.20.2`: for messages and test names.
    pub fn short(&self) -> String {
        let (major, minor, patch) = self.release;
        if patch == 0 && self.compositor == Compositor::Sway {
            format!("{} {major}.{minor}", self.compositor)
        } else {
            format!("{} {major}.{minor}.{patch}", self.compositor)
        }
    }

    /// Whether it offers `ext_image_copy_capture_manager_v1`: wlroots 0.19
    /// brought it, shipped with sway 1.11 and labwc 0.9.
    pub fn has_ext_image_copy_capture(&self) -> bool {
        let (major, minor, _) = self.release;
        match self.compositor {
            Compositor::Sway => (major, minor) >= (1, 11),
            Compositor::Labwc => (major, minor) >= (0, 9),
        }
    }
}

impl fmt::Display for CompositorVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

fn parse_release(word: &str) -> Option<(u32, u32, u32)> {
    let mut parts = word.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((major, minor, patch))
}

/// Things a test may need that not every compositor can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Create a new headless output at run time ([`Testbed::add_output`]).
    AddOutput,
    /// Take an output away at run time so that its wl_output global goes
    /// ([`Testbed::remove_output`]).
    RemoveOutput,
}

/// Why the running compositor lacks a [`Capability`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub capability: Capability,
    pub compositor: String,
    pub reason: &'static str,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} cannot {}: {}",
            self.compositor,
            match self.capability {
                Capability::AddOutput => "add an output at run time",
                Capability::RemoveOutput => "remove an output at run time",
            },
            self.reason
        )
    }
}

impl std::error::Error for Unsupported {}

impl Testbed {
    /// The compositor this testbed runs.
    pub fn compositor(&self) -> Compositor {
        self.compositor
    }

    /// Its name and version (known once it is up).
    pub fn compositor_version(&self) -> Result<&CompositorVersion> {
        self.compositor_version
            .as_ref()
            .ok_or_else(|| anyhow!("the compositor is not up"))
    }

    /// Whether the running compositor can do `capability`; the error says
    /// why not, naming the compositor.
    pub fn supports(&self, capability: Capability) -> Result<(), Unsupported> {
        let version = self.compositor_version.as_ref();
        let name = version.map_or_else(|| self.compositor.to_string(), |v| v.short());
        let release = version.map_or((0, 0, 0), |v| v.release);
        let unsupported = |reason| {
            Err(Unsupported {
                capability,
                compositor: name.clone(),
                reason,
            })
        };
        match (self.compositor, capability) {
            (Compositor::Sway, Capability::AddOutput) => Ok(()),
            // `output <name> unplug` came with sway 1.8; on 1.7 headless
            // `output <name> disable` fails to commit.
            (Compositor::Sway, Capability::RemoveOutput) if release >= (1, 8, 0) => Ok(()),
            (Compositor::Sway, Capability::RemoveOutput) => unsupported(
                "sway 1.7 has no `output <name> unplug`, and `disable` fails to commit on \
                 its headless backend",
            ),
            (Compositor::Labwc, Capability::AddOutput) => unsupported(
                "labwc has no IPC and no command to create a headless output \
                 (sway's `create_output`)",
            ),
            // `wlr-randr --output NAME --off`: labwc destroys the disabled
            // output's wl_output global, which is an unplug for clients.
            (Compositor::Labwc, Capability::RemoveOutput) => Ok(()),
        }
    }

    /// The outputs as the compositor reports them now.
    pub fn outputs(&self) -> Result<Vec<OutputInfo>> {
        match self.compositor {
            Compositor::Sway => self.sway_outputs(),
            Compositor::Labwc => self.wlr_randr_outputs(),
        }
    }

    /// Applies `spec` (mode, position, scale) to the output `name` and waits
    /// until the compositor reports it.
    pub fn set_output(&self, name: &str, spec: &OutputSpec) -> Result<()> {
        self.apply_outputs(&[(name.to_owned(), *spec)])?;
        self.wait_named_outputs(&[(name.to_owned(), *spec)])
    }

    /// Applies every `(name, spec)` in one go (labwc: one output
    /// configuration, so that outputs never overlap half-way).
    pub(super) fn apply_outputs(&self, named: &[(String, OutputSpec)]) -> Result<()> {
        match self.compositor {
            Compositor::Sway => {
                for (name, spec) in named {
                    self.swaymsg(&[&format!("output {name} {}", spec.sway_args())])?;
                }
                Ok(())
            }
            Compositor::Labwc => self.wlr_randr_apply(named),
        }
    }

    /// Creates a new headless output at run time, applies `spec` to it and
    /// waits until the compositor reports it. Returns its name. Check
    /// [`Capability::AddOutput`] first.
    pub fn add_output(&self, spec: &OutputSpec) -> Result<String> {
        self.supports(Capability::AddOutput)?;
        let before: Vec<String> = self.outputs()?.into_iter().map(|o| o.name).collect();
        self.sway_create_output()?;
        let mut created = None;
        self.wait_for(
            "the compositor to create a new output",
            &[Component::Compositor],
            || {
                let Ok(outputs) = self.outputs() else {
                    return Ok(false);
                };
                created = outputs
                    .into_iter()
                    .map(|o| o.name)
                    .find(|name| !before.contains(name));
                Ok(created.is_some())
            },
        )?;
        let name = created.ok_or_else(|| anyhow!("the new output vanished"))?;
        self.set_output(&name, spec)?;
        Ok(name)
    }

    /// Takes the output `name` away (sway: `output NAME unplug`; labwc:
    /// `wlr-randr --output NAME --off`) and waits until the compositor no
    /// longer reports it active. Check [`Capability::RemoveOutput`] first.
    pub fn remove_output(&self, name: &str) -> Result<()> {
        self.supports(Capability::RemoveOutput)?;
        match self.compositor {
            Compositor::Sway => self
                .swaymsg(&[&format!("output {name} unplug")])
                .map(drop)?,
            Compositor::Labwc => self.wlr_randr_off(name)?,
        }
        self.wait_for(
            &format!("{name} to be gone"),
            &[Component::Compositor],
            || Ok(self.outputs()?.iter().all(|o| o.name != name || !o.active)),
        )
    }

    /// Brings an output back after [`Testbed::remove_output`] with the
    /// geometry `spec` and returns its name: sway creates a new one
    /// (`create_output`, a new name), labwc turns the same one on again
    /// (`wlr-randr --output NAME --on`). Either way clients see a new
    /// wl_output global.
    pub fn replug_output(&self, name: &str, spec: &OutputSpec) -> Result<String> {
        self.supports(Capability::RemoveOutput)?;
        match self.compositor {
            Compositor::Sway => self.add_output(spec),
            Compositor::Labwc => {
                let mut args = super::wlr_randr::wlr_randr_args(name, spec);
                args.push("--on".to_owned());
                self.wlr_randr(&args)?;
                self.wait_named_outputs(&[(name.to_owned(), *spec)])?;
                Ok(name.to_owned())
            }
        }
    }

    /// Waits until the compositor reports outputs `HEADLESS-1…` with
    /// exactly the given geometry (each spec `i` is checked against
    /// `HEADLESS-<i+1>`).
    pub fn wait_outputs(&self, specs: &[OutputSpec]) -> Result<()> {
        self.wait_named_outputs(&named_headless(specs))
    }

    pub(super) fn wait_named_outputs(&self, named: &[(String, OutputSpec)]) -> Result<()> {
        let mut last = String::from("(no answer yet)");
        let wanted: Vec<String> = named
            .iter()
            .map(|(name, spec)| format!("{name} {spec}"))
            .collect();
        let result = self.wait_for(
            &format!("{} outputs {}", self.compositor, wanted.join(", ")),
            &[Component::Compositor],
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
        result.map_err(|err| anyhow!("{err:#}\n{} last reported: {last}", self.compositor))
    }

    /// Fails if the compositor does not answer (sway: on its IPC socket;
    /// labwc: to wlr-output-management).
    pub fn check_compositor(&self) -> Result<()> {
        match self.compositor {
            Compositor::Sway => self.check_sway(),
            Compositor::Labwc => {
                if self.wlr_randr_outputs()?.is_empty() {
                    bail!("labwc reports no output");
                }
                Ok(())
            }
        }
    }

    /// `program` as a headless wlroots compositor: pixman renderer, no
    /// input devices, one headless output per requested output, run as the
    /// lab user when we are root (sway refuses root; labwc does not, but the
    /// stack must look like a user's session either way).
    pub(super) fn headless_compositor_command(&self, program: &str) -> std::process::Command {
        let mut command = match &self.compositor_user {
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
                    .arg(program);
                command
            }
            None => self.command(program),
        };
        command
            .env_remove("WAYLAND_DISPLAY")
            .env("WLR_BACKENDS", "headless")
            .env("WLR_RENDERER", "pixman")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .env("WLR_HEADLESS_OUTPUTS", self.outputs.len().to_string());
        command
    }

    pub(super) fn spawn_compositor(&mut self) -> Result<()> {
        match self.compositor {
            Compositor::Sway => self.spawn_sway(),
            Compositor::Labwc => self.spawn_labwc(),
        }
    }

    /// Waits for the compositor's sockets, reads its version, gives the
    /// outputs their geometry (labwc) and waits until they have it.
    pub(super) fn wait_compositor(&mut self) -> Result<()> {
        match self.compositor {
            Compositor::Sway => self.wait_sway_sockets()?,
            Compositor::Labwc => self.wait_labwc_socket()?,
        }
        let mut command = self.command(self.compositor.program());
        command.arg("--version");
        let version = self.run_tool(command)?;
        self.compositor_version = Some(CompositorVersion::parse(self.compositor, &version));
        let named = named_headless(&self.outputs);
        if self.compositor == Compositor::Labwc {
            // labwc has no output section in its config: the geometry is
            // set once it runs (it places new outputs side by side itself).
            self.apply_outputs(&named)?;
        }
        self.wait_named_outputs(&named)
    }
}

/// The name wlroots' headless backend gives the `index`-th output (from 0).
pub fn headless_name(index: usize) -> String {
    format!("HEADLESS-{}", index + 1)
}

fn named_headless(specs: &[OutputSpec]) -> Vec<(String, OutputSpec)> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| (headless_name(i), *spec))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_versions() {
        assert_eq!("labwc".parse::<Compositor>().unwrap(), Compositor::Labwc);
        assert_eq!(" sway ".parse::<Compositor>().unwrap(), Compositor::Sway);
        assert!("weston".parse::<Compositor>().is_err());

        let sway = CompositorVersion::parse(Compositor::Sway, "sway version 1.12\n");
        assert_eq!(sway.release, (1, 12, 0));
        assert_eq!(sway.short(), "sway 1.12");
        assert!(sway.has_ext_image_copy_capture());
        let old = CompositorVersion::parse(Compositor::Sway, "sway version 1.7");
        assert!(!old.has_ext_image_copy_capture());
        let labwc = CompositorVersion::parse(
            Compositor::Labwc,
            "labwc 0.20.2 (+xwayland +nls +rsvg +libsfdo) wlroots-0.20.2",
        );
        assert_eq!(labwc.release, (0, 20, 2));
        assert_eq!(labwc.to_string(), "labwc 0.20.2");
        assert!(labwc.has_ext_image_copy_capture());
    }
}
