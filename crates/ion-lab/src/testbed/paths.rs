//! The layout of a testbed's private temp root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::user::LabUser;

/// Every directory and file a testbed keeps under its temp root.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The temp root itself (also the value of the marker variable).
    pub root: PathBuf,
    /// `XDG_RUNTIME_DIR` (mode 0700; owned by the compositor's user when
    /// root):
    /// the bus, PipeWire and Wayland sockets live here.
    pub runtime: PathBuf,
    pub config_home: PathBuf,
    pub data_home: PathBuf,
    pub state_home: PathBuf,
    pub cache_home: PathBuf,
    /// `HOME` of every child.
    pub home: PathBuf,
    /// One log file per component.
    pub logs: PathBuf,
    /// `XDG_DESKTOP_PORTAL_DIR`: the `.portal` files the frontend reads.
    pub portals: PathBuf,
    /// Scratch files (probe readiness and output files).
    pub tmp: PathBuf,
    pub bus_config: PathBuf,
    /// The compositor's configuration: `sway.conf` for sway, and the
    /// directory itself is labwc's `-C` (with `rc.xml`).
    pub compositor_config: PathBuf,
}

impl Paths {
    /// Creates the layout under `root`. With a `compositor_user` (we are
    /// root), the root becomes traversable (0711) and the runtime dir and
    /// home are handed to that user, so the compositor can create its
    /// sockets there; root processes use them all the same.
    pub fn create(root: &Path, compositor_user: Option<&LabUser>) -> Result<Paths> {
        let paths = Paths {
            root: root.to_owned(),
            runtime: root.join("run"),
            config_home: root.join("config"),
            data_home: root.join("data"),
            state_home: root.join("state"),
            cache_home: root.join("cache"),
            home: root.join("home"),
            logs: root.join("logs"),
            portals: root.join("portals"),
            tmp: root.join("tmp"),
            bus_config: root.join("bus.conf"),
            compositor_config: root.join("compositor"),
        };
        for dir in [
            &paths.runtime,
            &paths.config_home,
            &paths.data_home,
            &paths.state_home,
            &paths.cache_home,
            &paths.home,
            &paths.logs,
            &paths.portals,
            &paths.tmp,
            &paths.compositor_config,
        ] {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        set_mode(&paths.runtime, 0o700)?;
        if let Some(user) = compositor_user {
            set_mode(&paths.root, 0o711)?;
            for dir in [&paths.runtime, &paths.home] {
                std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))
                    .with_context(|| format!("handing {} to user {}", dir.display(), user.name))?;
            }
        }
        Ok(paths)
    }

    /// The log file of a component or tool called `name`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// Writes `contents` to `path`, creating parent directories, world-readable
/// (the compositor's user must read its config).
pub fn write_file(path: &Path, contents: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    set_mode(path, 0o644)
}

/// Lazily unmounts every mount under `root` (the document portal mounts a
/// FUSE file system at `$XDG_RUNTIME_DIR/doc`, which stays when it is
/// killed). Best effort: returns the mount points it found.
pub fn unmount_under(root: &Path) -> Vec<PathBuf> {
    let Ok(table) = fs::read_to_string("/proc/self/mounts") else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = table
        .lines()
        .filter_map(|line| line.split(' ').nth(1))
        .map(|field| PathBuf::from(unescape_mount_field(field)))
        .filter(|point| point.starts_with(root))
        .collect();
    // Innermost first.
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in &found {
        if !detach(point) {
            // Not root: FUSE mounts can still be undone by their owner.
            let _ = std::process::Command::new("fusermount3")
                .args(["-u", "-z"])
                .arg(point)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
    found
}

fn detach(point: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(point.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a valid NUL-terminated string for the call.
    unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) == 0 }
}

/// Undoes the octal escapes (`\040` for a space…) of /proc/self/mounts.
fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("");
            if let Ok(value) = u8::from_str_radix(digits, 8) {
                out.push(value);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mount_points() {
        assert_eq!(unescape_mount_field("/tmp/a\\040b"), "/tmp/a b");
        assert_eq!(unescape_mount_field("/plain\\"), "/plain\\");
        assert_eq!(unescape_mount_field("/x\\12"), "/x\\12");
    }
}
