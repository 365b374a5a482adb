//! Which headless compositor the testbed runs, what it can do, and the
//! compositor-neutral output API (list, change, add, remove) that
//! dispatches to `sway.rs` (IPC, `swaymsg`) or, for labwc (`labwc.rs`) and
//! the cosmic-comp stand-in (`cosmic_profile.rs`), to wlr-output-management
//! through `wlr-randr`.
//!
//! The choice is [`TestbedBuilder::compositor`](super::TestbedBuilder::compositor)
//! or, by default, the environment variable
//! `IONLAB_COMPOSITOR=sway|labwc|cosmic-profile` (sway when unset), so that
//! the same test suites run on each.
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

/// A headless compositor the testbed knows how to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compositor {
    /// sway: configured by a config file, driven through its IPC socket.
    #[default]
    Sway,
    /// labwc: no IPC and no output section in its config; outputs are set
    /// through wlr-output-management (`wlr-randr`).
    Labwc,
    /// `ion-cosmic-profile`: a headless smithay compositor built in this
    /// workspace as a STAND-IN for cosmic-comp (COSMIC's compositor), not
    /// cosmic-comp itself. It offers the globals cosmic-comp offers:
    /// ext-image-copy-capture (shm), a virtual keyboard, but no virtual
    /// pointer and no wlr-screencopy; outputs through wlr-output-management
    /// (`wlr-randr`), as for labwc.
    CosmicProfile,
}

impl Compositor {
    /// Every compositor the testbed knows.
    pub const ALL: [Compositor; 3] = [
        Compositor::Sway,
        Compositor::Labwc,
        Compositor::CosmicProfile,
    ];

    /// Its name: what `IONLAB_COMPOSITOR` takes, and how messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Compositor::Sway => "sway",
            Compositor::Labwc => "labwc",
            Compositor::CosmicProfile => "cosmic-profile",
        }
    }

    /// The name of its executable (the cosmic-comp stand-in is this
    /// workspace's `ion-cosmic-profile`).
    pub fn program(self) -> &'static str {
        match self {
            Compositor::Sway => "sway",
            Compositor::Labwc => "labwc",
            Compositor::CosmicProfile => "ion-cosmic-profile",
        }
    }

    /// Whether ionChannel can inject pointer input on it; if not, why (the
    /// same for every release, so known before it runs: for tests that
    /// would start a whole session of their own, such as the demo).
    pub fn virtual_pointer(self) -> Result<(), &'static str> {
        match self {
            Compositor::Sway | Compositor::Labwc => Ok(()),
            Compositor::CosmicProfile => Err(
                "it offers no zwlr_virtual_pointer_manager_v1 (as cosmic-comp), so ionChannel \
                 has a keyboard but no pointer there (AvailableDeviceTypes = keyboard only)",
            ),
        }
    }

    /// Whether outputs are listed and changed through wlr-output-management
    /// (`wlr-randr`) rather than an IPC of its own.
    fn uses_wlr_randr(self) -> bool {
        matches!(self, Compositor::Labwc | Compositor::CosmicProfile)
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
        f.write_str(self.name())?;
        if *self == Compositor::CosmicProfile {
            // Never read as cosmic-comp itself.
            f.write_str(" (cosmic-comp stand-in)")?;
        }
        Ok(())
    }
}

impl FromStr for Compositor {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        Compositor::ALL
            .into_iter()
            .find(|c| c.name() == text.trim())
            .ok_or_else(|| {
                anyhow!("unknown compositor `{text}` (known: sway, labwc, cosmic-profile)")
            })
    }
}

/// A running compositor's name and version, from `<program> --version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompositorVersion {
    pub compositor: Compositor,
    /// The first line of `--version`, e.g. `sway version 1.12`,
    /// `labwc 0.20.2 (+xwayland …) wlroots-0.20.2` or `ion-cosmic-profile
    /// 0.1.0 (stand-in for cosmic-comp; smithay 0.7.0)`.
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

    /// `sway 1.12`, `labwc 0.20.2`, `cosmic-profile 0.1.0 (cosmic-comp
    /// stand-in, smithay 0.7.0)`: for messages and test names. The stand-in
    /// always says that it is one, so that no result reads as cosmic-comp's.
    pub fn short(&self) -> String {
        let (major, minor, patch) = self.release;
        if self.compositor == Compositor::CosmicProfile {
            let smithay = self
                .line
                .split("smithay")
                .nth(1)
                .and_then(|rest| {
                    rest.split(|c: char| !(c.is_ascii_digit() || c == '.'))
                        .find_map(parse_release)
                })
                .map(|(a, b, c)| format!(", smithay {a}.{b}.{c}"))
                .unwrap_or_default();
            format!(
                "{} {major}.{minor}.{patch} (cosmic-comp stand-in{smithay})",
                self.compositor.name()
            )
        } else if patch == 0 && self.compositor == Compositor::Sway {
            format!("{} {major}.{minor}", self.compositor)
        } else {
            format!("{} {major}.{minor}.{patch}", self.compositor)
        }
    }

    /// Whether it offers `ext_image_copy_capture_manager_v1`: wlroots 0.19
    /// brought it, shipped with sway 1.11 and labwc 0.9; the cosmic-comp
    /// stand-in always has it (as cosmic-comp does).
    pub fn has_ext_image_copy_capture(&self) -> bool {
        let (major, minor, _) = self.release;
        match self.compositor {
            Compositor::Sway => (major, minor) >= (1, 11),
            Compositor::Labwc => (major, minor) >= (0, 9),
            Compositor::CosmicProfile => true,
        }
    }

    /// Whether it offers `zwlr_virtual_pointer_manager_v1`, ionChannel's
    /// pointer path: the wlroots compositors do, cosmic-comp (and so its
    /// stand-in) does not.
    pub fn has_virtual_pointer(&self) -> bool {
        self.compositor.virtual_pointer().is_ok()
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
    /// Take away the last output too (a session left with no output at
    /// all), after [`Capability::RemoveOutput`] took the others.
    RemoveLastOutput,
    /// Pointer injection: `zwlr_virtual_pointer_manager_v1`, which
    /// ionChannel's pointer (Notify* pointer calls and EIS pointer devices)
    /// needs. Without it AvailableDeviceTypes is keyboard only.
    VirtualPointer,
    /// Capture with `zwlr_screencopy_manager_v1`, ionChannel's fallback
    /// path (forced with `IONCHANNEL_CAPTURE=screencopy`).
    WlrScreencopy,
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
                Capability::RemoveLastOutput => "remove its last output",
                Capability::VirtualPointer => "inject pointer input",
                Capability::WlrScreencopy => "capture with wlr-screencopy",
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
            // Then the last one goes as the others did.
            (Compositor::Sway | Compositor::Labwc, Capability::RemoveLastOutput) => {
                self.supports(Capability::RemoveOutput)
            }
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
            (_, Capability::VirtualPointer) => match self.compositor.virtual_pointer() {
                Ok(()) => Ok(()),
                Err(reason) => unsupported(reason),
            },
            (Compositor::Sway | Compositor::Labwc, Capability::WlrScreencopy) => Ok(()),
            (Compositor::CosmicProfile, Capability::AddOutput) => unsupported(
                "the cosmic-comp stand-in creates its headless outputs at start \
                 (`--outputs N`) and has no IPC to create more",
            ),
            // `wlr-randr --output NAME --off`: the stand-in destroys the
            // disabled output's wl_output global, as labwc does.
            (Compositor::CosmicProfile, Capability::RemoveOutput) => Ok(()),
            (Compositor::CosmicProfile, Capability::RemoveLastOutput) => unsupported(
                "the cosmic-comp stand-in refuses an output configuration that disables every \
                 output (`wlr-randr --off` of the last one fails: \"disabling every output is \
                 refused\")",
            ),
            (Compositor::CosmicProfile, Capability::WlrScreencopy) => unsupported(
                "it offers no zwlr_screencopy_manager_v1 (as cosmic-comp): \
                 ext-image-copy-capture is its only capture protocol",
            ),
        }
    }

    /// The outputs as the compositor reports them now.
    pub fn outputs(&self) -> Result<Vec<OutputInfo>> {
        match self.compositor {
            Compositor::Sway => self.sway_outputs(),
            Compositor::Labwc | Compositor::CosmicProfile => self.wlr_randr_outputs(),
        }
    }

    /// Applies `spec` (mode, position, scale) to the output `name` and waits
    /// until the compositor reports it.
    pub fn set_output(&self, name: &str, spec: &OutputSpec) -> Result<()> {
        self.apply_outputs(&[(name.to_owned(), *spec)])?;
        self.wait_named_outputs(&[(name.to_owned(), *spec)])
    }

    /// Applies every `(name, spec)` in one go (labwc and the cosmic-comp
    /// stand-in: one output configuration, so that outputs never overlap
    /// half-way).
    pub(super) fn apply_outputs(&self, named: &[(String, OutputSpec)]) -> Result<()> {
        match self.compositor {
            Compositor::Sway => {
                for (name, spec) in named {
                    self.swaymsg(&[&format!("output {name} {}", spec.sway_args())])?;
                }
                Ok(())
            }
            Compositor::Labwc | Compositor::CosmicProfile => self.wlr_randr_apply(named),
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

    /// Takes the output `name` away (sway: `output NAME unplug`; labwc and
    /// the cosmic-comp stand-in: `wlr-randr --output NAME --off`) and waits
    /// until the compositor no
    /// longer reports it active. Check [`Capability::RemoveOutput`] first.
    pub fn remove_output(&self, name: &str) -> Result<()> {
        self.supports(Capability::RemoveOutput)?;
        match self.compositor {
            Compositor::Sway => self
                .swaymsg(&[&format!("output {name} unplug")])
                .map(drop)?,
            Compositor::Labwc | Compositor::CosmicProfile => self.wlr_randr_off(name)?,
        }
        self.wait_for(
            &format!("{name} to be gone"),
            &[Component::Compositor],
            || Ok(self.outputs()?.iter().all(|o| o.name != name || !o.active)),
        )
    }

    /// Brings an output back after [`Testbed::remove_output`] with the
    /// geometry `spec` and returns its name: sway creates a new one
    /// (`create_output`, a new name), labwc and the cosmic-comp stand-in
    /// turn the same one on again (`wlr-randr --output NAME --on`). Either
    /// way clients see a new wl_output global.
    pub fn replug_output(&self, name: &str, spec: &OutputSpec) -> Result<String> {
        self.supports(Capability::RemoveOutput)?;
        match self.compositor {
            Compositor::Sway => self.add_output(spec),
            Compositor::Labwc | Compositor::CosmicProfile => {
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
    /// labwc and the cosmic-comp stand-in: to wlr-output-management).
    pub fn check_compositor(&self) -> Result<()> {
        match self.compositor {
            Compositor::Sway => self.check_sway(),
            Compositor::Labwc | Compositor::CosmicProfile => {
                if self.wlr_randr_outputs()?.is_empty() {
                    bail!("{} reports no output", self.compositor_label());
                }
                Ok(())
            }
        }
    }

    /// How messages name the compositor: its version's short form once it
    /// is up (the cosmic-comp stand-in then says it is one), else its name.
    pub(super) fn compositor_label(&self) -> String {
        self.compositor_version
            .as_ref()
            .map_or_else(|| self.compositor.to_string(), CompositorVersion::short)
    }

    /// `program` as a headless compositor: pixman renderer, no input
    /// devices, one headless output per requested output (the wlroots
    /// variables; the cosmic-comp stand-in takes `--outputs N` instead and
    /// ignores them), run as the lab user when we are root (sway refuses
    /// root; the others do not, but the stack must look like a user's
    /// session either way).
    pub(super) fn headless_compositor_command(
        &self,
        program: impl AsRef<std::ffi::OsStr>,
    ) -> std::process::Command {
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
            .env("WLR_HEADLESS_OUTPUTS", self.outputs.len().to_string());
        if let Some(node) = render_device() {
            // The VM lab's dmabuf tests: GL (llvmpipe) with buffers from
            // the DRM backend's device, so the compositor offers
            // linux-dmabuf. wlroots renders on a render node only, where
            // a virtio GPU without 3D can make no buffer; the DRM backend
            // allocates on the primary node, as on real hardware, and its
            // own output is switched off once the compositor runs (see
            // `wait_compositor`): the lab's headless outputs stay the
            // screen.
            let libinput = if libinput_wanted() { ",libinput" } else { "" };
            command
                .env("WLR_RENDERER", "gles2")
                .env("WLR_BACKENDS", format!("drm,headless{libinput}"))
                .env("WLR_DRM_DEVICES", node);
            return command;
        }
        command.env("WLR_RENDERER", "pixman");
        if libinput_wanted() {
            // The VM lab: headless outputs as everywhere (same names and
            // sizes), and the kernel's input devices through libinput on a
            // seat (seatd; LIBSEAT_BACKEND passes through), so uinput
            // devices reach the compositor.
            command.env("WLR_BACKENDS", "headless,libinput");
        } else {
            command
                .env("WLR_BACKENDS", "headless")
                .env("WLR_LIBINPUT_NO_DEVICES", "1");
        }
        command
    }

    pub(super) fn spawn_compositor(&mut self) -> Result<()> {
        match self.compositor {
            Compositor::Sway => self.spawn_sway(),
            Compositor::Labwc => self.spawn_labwc(),
            Compositor::CosmicProfile => self.spawn_cosmic_profile(),
        }
    }

    /// Waits for the compositor's sockets, reads its version, gives the
    /// outputs their geometry (labwc, the cosmic-comp stand-in) and waits
    /// until they have it.
    pub(super) fn wait_compositor(&mut self) -> Result<()> {
        let program = match self.compositor {
            Compositor::Sway => {
                self.wait_sway_sockets()?;
                self.compositor.program().into()
            }
            Compositor::Labwc => {
                self.wait_labwc_socket()?;
                self.compositor.program().into()
            }
            Compositor::CosmicProfile => {
                self.wait_cosmic_profile_socket()?;
                super::cosmic_profile::cosmic_profile_bin()?
            }
        };
        let mut command = self.command(program);
        command.arg("--version");
        let version = self.run_tool(command)?;
        self.compositor_version = Some(CompositorVersion::parse(self.compositor, &version));
        let named = named_headless(&self.outputs);
        if render_device().is_some() {
            self.disable_drm_outputs()?;
        }
        if self.compositor.uses_wlr_randr() {
            // Neither has an output section in a config: the geometry is
            // set once it runs (each places new outputs side by side
            // itself).
            self.apply_outputs(&named)?;
        }
        self.wait_named_outputs(&named)
    }
}

impl Testbed {
    /// Switches off the DRM backend's own outputs (`IONLAB_RENDER_NODE`):
    /// the lab's headless outputs stay the whole layout.
    fn disable_drm_outputs(&self) -> Result<()> {
        for o in self.outputs()? {
            if o.name.starts_with("HEADLESS-") || !o.active {
                continue;
            }
            match self.compositor {
                Compositor::Sway => {
                    self.swaymsg(&[&format!("output {} disable", o.name)])?;
                }
                Compositor::Labwc | Compositor::CosmicProfile => self.wlr_randr_off(&o.name)?,
            }
        }
        Ok(())
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

/// `IONLAB_LIBINPUT=1`: wlroots compositors also take input from the
/// kernel's devices through libinput (needs a seat: seatd or logind). Set
/// by the VM lab, where /dev/uinput exists; nowhere else, as a test
/// machine's own input devices are none of the lab's business.
pub fn libinput_wanted() -> bool {
    std::env::var("IONLAB_LIBINPUT").is_ok_and(|v| v == "1")
}

/// `IONLAB_RENDER_NODE=/dev/dri/card0`: wlroots compositors render with
/// gles2 (llvmpipe), their buffers from the DRM backend on that device
/// (`WLR_DRM_DEVICES`), instead of pixman, and so offer linux-dmabuf. Set by the VM lab's dmabuf tests:
/// there the virtio GPU's primary node is where buffers can be made
/// (docs/research/dmabuf-in-vm.md); these machines have no /dev/dri.
pub fn render_device() -> Option<String> {
    std::env::var("IONLAB_RENDER_NODE")
        .ok()
        .filter(|v| !v.is_empty())
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
        assert!(labwc.has_virtual_pointer());

        assert_eq!(
            "cosmic-profile".parse::<Compositor>().unwrap(),
            Compositor::CosmicProfile
        );
        assert!("ion-cosmic-profile".parse::<Compositor>().is_err());
        assert_eq!(
            Compositor::CosmicProfile.to_string(),
            "cosmic-profile (cosmic-comp stand-in)"
        );
        let stand_in = CompositorVersion::parse(
            Compositor::CosmicProfile,
            "ion-cosmic-profile 0.1.0 (stand-in for cosmic-comp; smithay 0.7.0)\n",
        );
        assert_eq!(stand_in.release, (0, 1, 0));
        assert_eq!(
            stand_in.short(),
            "cosmic-profile 0.1.0 (cosmic-comp stand-in, smithay 0.7.0)"
        );
        assert!(stand_in.has_ext_image_copy_capture());
        assert!(!stand_in.has_virtual_pointer());
        let unknown = CompositorVersion::parse(Compositor::CosmicProfile, "ion-cosmic-profile");
        assert_eq!(
            unknown.short(),
            "cosmic-profile 0.0.0 (cosmic-comp stand-in)"
        );
    }
}
