//! The cosmic-comp STAND-IN: `ion-cosmic-profile`, a headless smithay
//! compositor built in this workspace (crate `ion-cosmic-profile`) that
//! offers the globals cosmic-comp offers, so that ionChannel meets a
//! smithay compositor with COSMIC's set of protocols in the tests. It is not
//! cosmic-comp: results on it say "cosmic-comp stand-in"
//! ([`CompositorVersion::short`](super::CompositorVersion::short)).
//!
//! What matters to the tests: ext-image-copy-capture (output and toplevel
//! sources, shm only), a virtual keyboard, but no
//! `zwlr_virtual_pointer_manager_v1` and no wlr-screencopy — ionChannel has
//! a keyboard and no pointer there
//! ([`Capability::VirtualPointer`](super::Capability::VirtualPointer)).
//! Outputs: `--outputs N` makes `HEADLESS-1…N` (1920x1080, side by side);
//! they are listed and changed through wlr-output-management (`wlr-randr`,
//! `wlr_randr.rs`), as labwc's are. It listens on an automatic `wayland-N`
//! socket in `XDG_RUNTIME_DIR` and logs to stderr.
//!
//! The binary is found as the testbed finds ionChannel's
//! ([`find_workspace_bin`]: `ION_COSMIC_PROFILE_BIN`, else next to the test
//! executable). On the testing stack `ION_COSMIC_PROFILE_BIN` is the shim
//! of `scripts/in-testing.sh`, which runs the host-built binary inside the
//! rootfs, like ionchannel.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::ionchannel::find_workspace_bin;
use super::{Component, Testbed};

/// The stand-in's executable.
pub fn cosmic_profile_bin() -> Result<PathBuf> {
    find_workspace_bin("ion-cosmic-profile").context(
        "the cosmic-comp stand-in `ion-cosmic-profile` (crate ion-cosmic-profile; \
         `cargo build --workspace --bins`)",
    )
}

/// Fails unless every directory on the way to `path` can be entered by
/// others and the file can be read and executed by others: when we are
/// root, the stand-in runs as the lab user, who is neither its owner nor in
/// its group (a target dir under `/root` would fail later, with a bare
/// "permission denied" from setpriv).
fn check_runnable_by_others(path: &Path) -> Result<()> {
    let path = path
        .canonicalize()
        .with_context(|| format!("resolving {}", path.display()))?;
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode())
            .with_context(|| format!("reading the mode of {}", p.display()))
    };
    if mode(&path)? & 0o005 != 0o005 {
        bail!(
            "{} is not readable and executable by others, and the cosmic-comp stand-in runs \
             as the lab user: chmod o+rx it",
            path.display()
        );
    }
    for dir in path.ancestors().skip(1) {
        if mode(dir)? & 0o001 == 0 {
            bail!(
                "{} cannot be entered by others, and the cosmic-comp stand-in {} runs as the \
                 lab user: chmod o+x it, or build into another CARGO_TARGET_DIR",
                dir.display(),
                path.display()
            );
        }
    }
    Ok(())
}

impl Testbed {
    pub(super) fn spawn_cosmic_profile(&mut self) -> Result<()> {
        let bin = cosmic_profile_bin()?;
        if self.compositor_user.is_some() {
            check_runnable_by_others(&bin)?;
        }
        let mut command = self.headless_compositor_command(&bin);
        command
            .arg("--outputs")
            .arg(self.outputs.len().to_string())
            // Its own modules at debug, the rest (smithay) at info.
            .env("RUST_LOG", "ion_cosmic_profile=debug,info");
        self.spawn_component(Component::Compositor, command)
    }

    /// Waits for the stand-in's Wayland socket (an automatic `wayland-N`
    /// in the runtime dir; the name is not assumed).
    pub(super) fn wait_cosmic_profile_socket(&mut self) -> Result<()> {
        let mut display = None;
        self.wait_for(
            "the cosmic-comp stand-in's Wayland socket",
            &[Component::Compositor],
            || {
                display = self.find_wayland_socket()?;
                Ok(display.is_some())
            },
        )?;
        self.wayland_display = Some(display.context("the cosmic-comp stand-in's socket vanished")?);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_private_directory_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("private");
        std::fs::create_dir(&inner).unwrap();
        let bin = inner.join("ion-cosmic-profile");
        std::fs::write(&bin, "").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        check_runnable_by_others(&bin).unwrap();
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = check_runnable_by_others(&bin).unwrap_err().to_string();
        assert!(err.contains("private") && err.contains("o+x"), "{err}");
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = check_runnable_by_others(&bin).unwrap_err().to_string();
        assert!(err.contains("o+rx"), "{err}");
    }
}
