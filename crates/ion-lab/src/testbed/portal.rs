//! The real xdg-desktop-portal frontend, routed to ionChannel through our own
//! portals directory and `portals.conf`.

use anyhow::{bail, Result};

use super::paths::write_file;
use super::xdpw::{wlr_portal_file, ScreenCastPortal};
use super::{Component, Testbed};

/// ionChannel's bus name as a portal backend.
pub const BACKEND_NAME: &str = "org.freedesktop.impl.portal.desktop.ionchannel";

/// The frontend's bus name.
pub const FRONTEND_NAME: &str = "org.freedesktop.portal.Desktop";

/// Where Debian 12 installs the frontend (override: `IONLAB_PORTAL_BIN`).
pub const FRONTEND_PATH: &str = "/usr/libexec/xdg-desktop-portal";

/// The frontend the testbed runs: `IONLAB_PORTAL_BIN`, else
/// [`FRONTEND_PATH`].
pub fn frontend_program() -> std::ffi::OsString {
    std::env::var_os("IONLAB_PORTAL_BIN")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| FRONTEND_PATH.into())
}

/// `XDG_CURRENT_DESKTOP` inside the testbed, matched by `UseIn=`.
pub const CURRENT_DESKTOP: &str = "ionlab";

/// `portals.conf` (read by frontends >= 1.17) picking ionChannel for
/// RemoteDesktop and ScreenCast; the same text as `data/portals.conf`.
/// ([`portals_conf`] writes another ScreenCast backend in.)
pub const PORTALS_CONF: &str = "[preferred]\n\
default=none\n\
org.freedesktop.impl.portal.RemoteDesktop=ionchannel\n\
org.freedesktop.impl.portal.ScreenCast=ionchannel\n\
org.freedesktop.impl.portal.Clipboard=ionchannel\n";

/// `portals.conf` with ScreenCast routed to `screencast`.
pub fn portals_conf(screencast: ScreenCastPortal) -> String {
    PORTALS_CONF.replace(
        "org.freedesktop.impl.portal.ScreenCast=ionchannel",
        &format!(
            "org.freedesktop.impl.portal.ScreenCast={}",
            screencast.portal_name()
        ),
    )
}

/// The text of `ionchannel.portal` for the desktops `use_in`
/// (`;`-separated, e.g. `"ionlab;"`).
pub fn portal_file(use_in: &str) -> String {
    format!(
        "[portal]\n\
         DBusName={BACKEND_NAME}\n\
         Interfaces=org.freedesktop.impl.portal.RemoteDesktop;org.freedesktop.impl.portal.ScreenCast;org.freedesktop.impl.portal.Clipboard;\n\
         UseIn={use_in}\n"
    )
}

impl Testbed {
    /// Starts the xdg-desktop-portal frontend (`-v`) routed to ionChannel and
    /// waits until it owns `org.freedesktop.portal.Desktop`.
    ///
    /// The frontend reads the backend's `version` property when it starts,
    /// so start ionChannel first (unless testing that failure mode).
    pub fn start_frontend(&mut self) -> Result<()> {
        if self.is_running(Component::Frontend) {
            bail!("the frontend is already running");
        }
        if self.name_has_owner(FRONTEND_NAME)? {
            bail!("{FRONTEND_NAME} is already owned on the private bus");
        }
        write_file(
            &self.paths.portals.join("ionchannel.portal"),
            &portal_file(&format!("{CURRENT_DESKTOP};")),
        )?;
        let conf = portals_conf(self.screencast_portal);
        write_file(
            &self
                .paths
                .config_home
                .join("xdg-desktop-portal")
                .join("portals.conf"),
            &conf,
        )?;
        // Frontends >= 1.18 read portals.conf, and with
        // XDG_DESKTOP_PORTAL_DIR set only from that directory (1.16 reads
        // none and routes by UseIn=).
        write_file(&self.paths.portals.join("portals.conf"), &conf)?;
        if self.screencast_portal == ScreenCastPortal::Wlr {
            write_file(&self.paths.portals.join("wlr.portal"), &wlr_portal_file())?;
        }
        let mut command = self.command(frontend_program());
        command
            .arg("-v")
            .env("XDG_DESKTOP_PORTAL_DIR", &self.paths.portals)
            .env("XDG_CURRENT_DESKTOP", CURRENT_DESKTOP);
        self.spawn_component(Component::Frontend, command)?;
        self.wait_for(
            &format!("the frontend to own {FRONTEND_NAME}"),
            &[Component::Bus, Component::Frontend],
            || self.name_has_owner(FRONTEND_NAME),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_match_what_the_testbed_writes() {
        let canonical = include_str!("../../../../data/ionchannel.portal");
        assert_eq!(
            canonical,
            portal_file("wlroots;sway;labwc;Hyprland;river;wayfire;COSMIC;")
        );
        // The example's settings are the testbed's, comments aside.
        let example = include_str!("../../../../data/portals.conf");
        let settings: String = example
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(settings, PORTALS_CONF, "{example}");
    }
}
