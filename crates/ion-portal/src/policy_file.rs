//! Reading the policy file, and refusing one that someone else could have
//! written.
//!
//! A policy rule grants input and screen access without asking, so a file
//! (or a directory holding it) that other users can write is a way in: it
//! is refused, as ssh refuses a key file others can write, and the daemon
//! then refuses every session until it is fixed (a refusal never widens
//! access). The file must belong to the daemon's user or to root and be
//! writable by its owner only; the same holds for its directory (where
//! another user could otherwise swap the file), unless that directory is
//! sticky like /tmp. The check is made on the opened file, so what is read
//! is what was checked.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Why the policy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    #[error("cannot read the policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not used: {why}; fix it with `{fix}`")]
    Loose {
        path: String,
        why: String,
        fix: String,
    },
}

/// The owner and mode of a file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    pub uid: u32,
    pub mode: u32,
    pub is_dir: bool,
}

impl Ownership {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            uid: meta.uid(),
            mode: meta.mode() & 0o7777,
            is_dir: meta.is_dir(),
        }
    }
}

const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// Why `what` (the file, or its directory) with `owner` must not be
/// trusted by the user `uid`, or None.
pub fn loose(what: &Ownership, uid: u32) -> Option<String> {
    let kind = if what.is_dir { "its directory" } else { "it" };
    if what.uid != uid && what.uid != 0 {
        return Some(format!(
            "{kind} belongs to user {} (not to you, uid {uid}, nor root)",
            what.uid
        ));
    }
    if what.mode & GROUP_OR_OTHER_WRITE != 0 && !(what.is_dir && what.mode & STICKY != 0) {
        return Some(format!(
            "{kind} can be written by other users (mode {:04o})",
            what.mode
        ));
    }
    None
}

/// The policy file's text: empty when there is none (no rules), an error
/// when it cannot be read or could have been written by someone else.
pub fn read(path: &Path) -> Result<String, PolicyFileError> {
    let shown = path.display().to_string();
    let read_err = |source| PolicyFileError::Read {
        path: shown.clone(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(read_err(e)),
    };
    let uid = rustix::process::geteuid().as_raw();
    let meta = file.metadata().map_err(read_err)?;
    if let Some(why) = loose(&Ownership::of(&meta), uid) {
        return Err(PolicyFileError::Loose {
            fix: format!("chmod go-w {shown}"),
            path: shown,
            why,
        });
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let meta = std::fs::metadata(dir).map_err(read_err)?;
        if let Some(why) = loose(&Ownership::of(&meta), uid) {
            return Err(PolicyFileError::Loose {
                fix: format!("chmod go-w {}", dir.display()),
                path: shown,
                why,
            });
        }
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(read_err)?;
    Ok(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn own(uid: u32, mode: u32, is_dir: bool) -> Ownership {
        Ownership { uid, mode, is_dir }
    }

    #[test]
    fn only_the_owner_or_root_may_write_the_file_or_its_directory() {
        assert_eq!(loose(&own(1000, 0o644, false), 1000), None);
        assert_eq!(loose(&own(0, 0o644, false), 1000), None);
        assert_eq!(loose(&own(1000, 0o700, true), 1000), None);
        // Sticky and world-writable, like /tmp: others cannot replace
        // what they do not own.
        assert_eq!(loose(&own(0, 0o1777, true), 1000), None);
        let why = loose(&own(1000, 0o666, false), 1000).unwrap();
        assert!(why.contains("mode 0666"), "{why}");
        assert!(loose(&own(1000, 0o664, false), 1000).is_some());
        assert!(loose(&own(1000, 0o775, true), 1000).is_some());
        let why = loose(&own(1001, 0o600, false), 1000).unwrap();
        assert!(why.contains("user 1001"), "{why}");
    }

    #[test]
    fn a_loose_file_is_refused_and_a_tight_one_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = dir.path().join("policy.toml");
        assert_eq!(read(&path).unwrap(), "", "no file: no rules");
        std::fs::write(&path, "[[allow]]\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read(&path).unwrap(), "[[allow]]\n");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o646)).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(
            e.contains("can be written by other users (mode 0646)"),
            "{e}"
        );
        assert!(e.contains("chmod go-w"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("its directory can be written"), "{e}");
    }
}
