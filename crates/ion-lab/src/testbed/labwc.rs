//! Headless labwc: a private config directory (`-C`), start (as the lab
//! user when we are root, like sway), its Wayland socket. It has no IPC:
//! outputs are listed and changed through wlr-output-management
//! (`wlr_randr.rs`), and it cannot create outputs at run time.
//!
//! No Xwayland: labwc starts it lazily, for the first X client, and the
//! testing rootfs has no Xwayland binary (labwc logs `Cannot find Xwayland
//! binary … continuing without`); `DISPLAY` is never passed on.

use std::fs;

use anyhow::{Context, Result};

use super::paths::write_file;
use super::{is_socket, Component, Testbed};

/// labwc's `rc.xml`. Why each part:
/// - one key binding on a key no test sends: with none at all, labwc loads
///   its defaults (Alt-Tab, Alt-F4, Super-Return, Super-arrows, Alt-arrows,
///   the XF86 keys…), and a bound key never reaches the focused client;
/// - one mouse binding likewise (its defaults open menus, move and resize
///   on button presses with or without modifiers);
/// - focus does not follow the mouse (sway's config says the same).
const RC_XML: &str = r#"<?xml version="1.0"?>
<!-- written by ion-lab -->
<labwc_config>
  <focus>
    <followMouse>no</followMouse>
  </focus>
  <keyboard>
    <keybind key="W-F24">
      <action name="None"/>
    </keybind>
  </keyboard>
  <mouse>
    <context name="Root">
      <mousebind button="Middle" action="Press">
        <action name="None"/>
      </mousebind>
    </context>
  </mouse>
</labwc_config>
"#;

impl Testbed {
    pub(super) fn spawn_labwc(&mut self) -> Result<()> {
        let dir = &self.paths.compositor_config;
        write_file(&dir.join("rc.xml"), RC_XML)?;
        let mut command = self.headless_compositor_command("labwc");
        command.arg("-C").arg(dir);
        self.spawn_component(Component::Compositor, command)
    }

    /// Adds `section` (XML inside `<labwc_config>`, e.g. a `<libinput>`
    /// section) to labwc's rc.xml and has labwc read it again (SIGHUP, what
    /// `labwc --reconfigure` sends), as a user changing a setting would.
    /// labwc gives no answer: the caller checks the effect.
    pub fn labwc_reconfigure(&self, section: &str) -> Result<()> {
        anyhow::ensure!(
            self.compositor == super::Compositor::Labwc,
            "labwc_reconfigure needs labwc; this testbed runs {}",
            self.compositor
        );
        let rc = RC_XML.replace("</labwc_config>", &format!("{section}\n</labwc_config>"));
        write_file(&self.paths.compositor_config.join("rc.xml"), &rc)?;
        let pid = self
            .program_pid(Component::Compositor)
            .context("labwc is not running")?;
        let pid = libc::pid_t::try_from(pid).context("labwc's pid")?;
        // SAFETY: kill(2) has no memory-safety requirements.
        if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
            return Err(std::io::Error::last_os_error()).context("SIGHUP to labwc");
        }
        Ok(())
    }

    /// Waits for labwc's Wayland socket (`wayland-0` in a fresh runtime
    /// dir, but the name is not assumed).
    pub(super) fn wait_labwc_socket(&mut self) -> Result<()> {
        let mut display = None;
        self.wait_for("labwc's Wayland socket", &[Component::Compositor], || {
            display = self.find_wayland_socket()?;
            Ok(display.is_some())
        })?;
        self.wayland_display = Some(display.context("labwc's socket vanished")?);
        Ok(())
    }

    /// The first `wayland-*` socket in the runtime dir (labwc and the
    /// cosmic-comp stand-in pick the name themselves).
    pub(super) fn find_wayland_socket(&self) -> Result<Option<String>> {
        let entries = fs::read_dir(&self.paths.runtime)
            .with_context(|| format!("listing {}", self.paths.runtime.display()))?;
        Ok(entries.filter_map(|e| e.ok()).find_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name.starts_with("wayland-") && is_socket(&entry.path())).then_some(name)
        }))
    }
}
