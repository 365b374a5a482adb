//! The grants file on disk: read fresh for every restore, replaced
//! atomically on every change (a crash mid-write leaves the old file or
//! the new one, never half of either), and never overwritten when it
//! cannot be read (the user's grants are not dropped silently).
//!
//! Grants of persist_mode 1 ("while the app runs") live in memory only:
//! they end with the daemon, as the frontend's transient tokens end with
//! it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ion_core::grants::{Grant, GrantFile, GrantFileError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is unusable ({source}); fix or remove it, ionChannel will not overwrite it")]
    Unusable {
        path: PathBuf,
        source: GrantFileError,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How many persist_mode 1 grants the daemon keeps.
pub const MAX_TRANSIENT: usize = 64;

pub struct GrantStore {
    path: PathBuf,
    /// persist_mode 1 grants.
    transient: Mutex<GrantFile>,
    /// Serializes read-modify-write of the file within this process.
    writing: Mutex<()>,
}

impl GrantStore {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            transient: Mutex::new(GrantFile::new()),
            writing: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every grant: the file's and the transient ones.
    pub fn load(&self) -> Result<GrantFile, StoreError> {
        let mut file = read(&self.path)?;
        file.grants
            .extend(lock(&self.transient).grants.iter().cloned());
        Ok(file)
    }

    /// Whether grant `id` lives in memory only (persist_mode 1).
    pub fn is_transient(&self, id: &str) -> bool {
        lock(&self.transient).get(id).is_some()
    }

    /// Adds a grant: to the file when `persistent`, else to memory (at
    /// most [`MAX_TRANSIENT`] there, the oldest dropped first: nothing
    /// tells the daemon when an app's transient token is gone).
    pub fn add(&self, grant: Grant, persistent: bool) -> Result<(), StoreError> {
        if !persistent {
            let mut transient = lock(&self.transient);
            transient.grants.push(grant);
            let excess = transient.grants.len().saturating_sub(MAX_TRANSIENT);
            transient.grants.drain(..excess);
            return Ok(());
        }
        self.modify(|f| f.grants.push(grant))
    }

    /// Removes the grants `pick` selects from the file and from memory;
    /// returns them.
    pub fn remove(&self, pick: impl Fn(&Grant) -> bool) -> Result<Vec<Grant>, StoreError> {
        let mut gone = lock(&self.transient).remove(&pick);
        let mut from_file = Vec::new();
        self.modify(|f| from_file = f.remove(&pick))?;
        gone.extend(from_file);
        Ok(gone)
    }

    fn modify(&self, change: impl FnOnce(&mut GrantFile)) -> Result<(), StoreError> {
        let _guard = lock(&self.writing);
        let mut file = read(&self.path)?;
        change(&mut file);
        write_atomically(&self.path, file.to_text().as_bytes()).map_err(|source| {
            StoreError::Write {
                path: self.path.clone(),
                source,
            }
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each critical section is one push/partition: a panic cannot leave a
    // half-updated value behind, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads the grants file; a missing file is an empty one.
pub fn read(path: &Path) -> Result<GrantFile, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(StoreError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    GrantFile::parse(&text).map_err(|source| StoreError::Unusable {
        path: path.to_path_buf(),
        source,
    })
}

/// Replaces `path` with `bytes`: a temporary file in the same directory,
/// synced, renamed over the old one, and the directory synced, so the
/// rename itself survives a crash. Mode 0600: grants say who may watch
/// and control this desktop.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the grants path has no directory"))?;
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other("the grants path has no file name"))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A new grant id: 128 random bits, hex. Restore data carries it, so it
/// must not be guessable from another grant.
pub fn new_grant_id() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ion_core::consent::SessionKind;

    fn grant(id: &str) -> Grant {
        Grant {
            id: id.into(),
            app_id: "a".into(),
            kind: SessionKind::Screencast,
            devices: vec![],
            outputs: vec![],
            windows: vec![],
            clipboard: false,
            created: 0,
        }
    }

    #[test]
    fn grants_persist_or_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/grants.json");
        let store = GrantStore::new(path.clone());
        store.add(grant("p"), true).unwrap();
        store.add(grant("t"), false).unwrap();
        assert_eq!(store.load().unwrap().grants.len(), 2);
        // Another daemon (a restart) sees only the persistent one.
        let again = GrantStore::new(path.clone());
        let ids: Vec<String> = again
            .load()
            .unwrap()
            .grants
            .into_iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(ids, vec!["p"]);
        let gone = store.remove(|g| g.id == "p" || g.id == "t").unwrap();
        assert_eq!(gone.len(), 2);
        assert!(store.load().unwrap().grants.is_empty());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_clipboard_is_remembered_and_old_files_read_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grants.json");
        // A file written before the clipboard.
        std::fs::write(
            &path,
            r#"{"version": 1, "grants": [{"id": "old", "app_id": "a",
                "kind": "remote_desktop", "devices": ["keyboard"], "created": 1}]}"#,
        )
        .unwrap();
        let store = GrantStore::new(path.clone());
        let mut g = grant("new");
        g.kind = SessionKind::RemoteDesktop;
        g.devices = vec!["pointer".into()];
        g.clipboard = true;
        store.add(g, true).unwrap();
        let again = GrantStore::new(path);
        let file = again.load().unwrap();
        assert!(!file.get("old").unwrap().clipboard);
        assert!(file.get("new").unwrap().clipboard);
        assert!(file.get("new").unwrap().restore_data().clipboard);
    }

    #[test]
    fn transient_grants_are_bounded_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = GrantStore::new(dir.path().join("grants.json"));
        for n in 0..MAX_TRANSIENT + 3 {
            store.add(grant(&format!("t{n}")), false).unwrap();
        }
        let ids: Vec<String> = store
            .load()
            .unwrap()
            .grants
            .into_iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(ids.len(), MAX_TRANSIENT);
        assert_eq!(ids[0], "t3");
        assert!(store.is_transient(&format!("t{}", MAX_TRANSIENT + 2)));
        assert!(!store.is_transient("t0"));
    }

    #[test]
    fn an_unreadable_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grants.json");
        std::fs::write(&path, "{ broken").unwrap();
        let store = GrantStore::new(path.clone());
        assert!(matches!(store.load(), Err(StoreError::Unusable { .. })));
        assert!(store.add(grant("x"), true).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ broken");
        // No temporary file is left behind either.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn ids_are_distinct_hex() {
        let a = new_grant_id().unwrap();
        let b = new_grant_id().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
