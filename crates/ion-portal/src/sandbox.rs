//! Telling a sandboxed caller (Flatpak, Snap) from a host one, for
//! ionChannel's own interfaces (Grants1, Status1): those list which apps
//! were allowed and revoke their access, which is the user's business, not
//! an app's.
//!
//! The portal interfaces themselves need no such check: only the frontend
//! may call them (`caller.rs`), and it tells apps apart itself. Here the
//! caller is any client of the session bus, so we tell as the frontend
//! does (xdg-desktop-portal's `xdp-app-info-flatpak.c` and `-snap.c`,
//! written again here: no library offers it): a Flatpak app's process has
//! `/.flatpak-info` at its root (`/proc/PID/root/.flatpak-info`), and a
//! Snap app runs in a systemd scope or service named `snap.…`
//! (`/proc/PID/cgroup`). Anything that cannot be told is refused: a caller
//! that exited before the check, a root we may not open. The PID comes from
//! the bus (GetConnectionUnixProcessID); a caller that exits and whose PID
//! is reused by another process at once could be misjudged, as with the
//! frontend on buses without pidfds.

use std::path::Path;

use zbus::fdo::DBusProxy;
use zbus::message::Header;
use zbus::names::BusName;
use zbus::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sandbox {
    Flatpak,
    Snap,
}

impl Sandbox {
    fn name(self) -> &'static str {
        match self {
            Sandbox::Flatpak => "Flatpak",
            Sandbox::Snap => "Snap",
        }
    }
}

/// FUSE_SUPER_MAGIC: a root on FUSE (a toolbox container) may refuse us
/// its root; a Flatpak's root is never on FUSE.
const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;

/// Whether a systemd unit in this `/proc/PID/cgroup` text is a Snap's
/// (`snap.NAME.APP-….scope` or `snap.NAME.APP.service`).
pub fn snap_in_cgroup(text: &str) -> bool {
    text.lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .flat_map(|path| path.split('/'))
        .any(|unit| {
            unit.starts_with("snap.") && (unit.ends_with(".scope") || unit.ends_with(".service"))
        })
}

/// The sandbox the process `pid` runs in, None for a host process; an
/// error when that cannot be told (then the caller is refused).
pub fn sandbox_of(proc_root: &Path, pid: u32) -> Result<Option<Sandbox>, String> {
    let dir = proc_root.join(pid.to_string());
    let root = dir.join("root");
    match std::fs::metadata(root.join(".flatpak-info")) {
        Ok(_) => return Ok(Some(Sandbox::Flatpak)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.exists() => {}
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            // f_type is i64 here, another integer on other architectures.
            #[allow(clippy::useless_conversion)]
            let on_fuse =
                rustix::fs::statfs(&root).is_ok_and(|s| i64::from(s.f_type) == FUSE_SUPER_MAGIC);
            if !on_fuse {
                return Err(format!("cannot open {}: {e}", root.display()));
            }
        }
        Err(e) => return Err(format!("cannot tell process {pid}'s sandbox: {e}")),
    }
    let cgroup = std::fs::read_to_string(dir.join("cgroup"))
        .map_err(|e| format!("cannot read process {pid}'s cgroup: {e}"))?;
    Ok(snap_in_cgroup(&cgroup).then_some(Sandbox::Snap))
}

/// Refuses a sandboxed caller of `what` (and one that cannot be told),
/// with a log line: the caller's error may never be shown to anyone.
pub async fn refuse_sandboxed(
    conn: &Connection,
    header: &Header<'_>,
    what: &str,
) -> zbus::fdo::Result<()> {
    // A peer-to-peer connection (in-process tests) has no sender: the
    // peer is whoever made the connection.
    let Some(sender) = header.sender() else {
        return Ok(());
    };
    let denied = |why: String| {
        tracing::warn!(caller = %sender, "{what} refused: {why}");
        zbus::fdo::Error::AccessDenied(format!("{what} refused: {why}"))
    };
    let pid = DBusProxy::new(conn)
        .await?
        .get_connection_unix_process_id(BusName::Unique(sender.to_owned()))
        .await
        .map_err(|e| {
            denied(format!(
                "the bus cannot say which process the caller is: {e}"
            ))
        })?;
    match sandbox_of(Path::new("/proc"), pid) {
        Ok(None) => Ok(()),
        Ok(Some(sandbox)) => Err(denied(format!(
            "the caller (process {pid}) is a {} app, and {what} is for the user's own tools",
            sandbox.name()
        ))),
        Err(why) => Err(denied(why)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn snap_scopes_and_services_are_told_from_other_units() {
        let snap = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/snap.firefox.firefox-5b9c1d1e-8f0b-4e0e-9c1a-2d8f1f0c2a11.scope\n";
        assert!(snap_in_cgroup(snap));
        assert!(snap_in_cgroup(
            "12:pids:/system.slice/snap.lxd.daemon.service\n0::/system.slice/snap.lxd.daemon.service\n"
        ));
        let host = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-org.gnome.Terminal-1234.scope\n";
        assert!(!snap_in_cgroup(host));
        // A unit that only mentions snap is not one.
        assert!(!snap_in_cgroup("0::/user.slice/app-snapshot.scope\n"));
        assert!(!snap_in_cgroup("0::/user.slice/snap.txt\n"));
        assert!(!snap_in_cgroup(""));
    }

    #[test]
    fn this_process_is_on_the_host_and_a_gone_one_cannot_be_told() {
        assert_eq!(sandbox_of(Path::new("/proc"), std::process::id()), Ok(None));
        // PIDs never reach this (pid_max is at most 2^22).
        assert!(sandbox_of(Path::new("/proc"), 4_999_999).is_err());
    }

    /// A /proc as seen for a Flatpak app's process: its root holds
    /// `.flatpak-info` (a stand-in tree; the end-to-end test runs a real
    /// bubblewrap sandbox).
    #[test]
    fn a_root_with_flatpak_info_is_a_flatpak() {
        let proc_root = tempfile::tempdir().unwrap();
        let dir = proc_root.path().join("42");
        std::fs::create_dir_all(dir.join("root")).unwrap();
        std::fs::write(dir.join("cgroup"), "0::/user.slice/app.scope\n").unwrap();
        assert_eq!(sandbox_of(proc_root.path(), 42), Ok(None));
        std::fs::write(
            dir.join("root/.flatpak-info"),
            "[Application]\nname=org.example.App\n",
        )
        .unwrap();
        assert_eq!(sandbox_of(proc_root.path(), 42), Ok(Some(Sandbox::Flatpak)));
    }
}
