//! The Debian testing root file system of `scripts/testing-rootfs.sh` as
//! the third-party apps' rigs (Deskflow, Chromium, OBS) see it: where it
//! is, how to run a program in it, and its package versions.

use std::path::{Path, PathBuf};

/// `scripts/in-testing.sh` of this checkout.
pub fn in_testing_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/in-testing.sh")
}

/// The testing rootfs `scripts/in-testing.sh` runs programs in:
/// `ION_TESTING_ROOTFS`, else the cached `current` tree.
pub fn rootfs() -> PathBuf {
    std::env::var_os("ION_TESTING_ROOTFS")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/ionchannel/rootfs/current"))
}

/// Whether the rootfs has the file at absolute path `program`.
pub fn has(program: &str) -> bool {
    rootfs().join(program.trim_start_matches('/')).is_file()
}

/// The Debian version of `package` in the rootfs (its package list,
/// written when the tree was built), if installed there.
pub fn package_version(package: &str) -> Option<String> {
    let text = std::fs::read_to_string(rootfs().join("etc/ionchannel-packages")).ok()?;
    text.lines().find_map(|line| {
        let (name, version) = line.split_once(' ')?;
        (name == package).then(|| version.to_owned())
    })
}
