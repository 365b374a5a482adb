//! The files the probe writes besides its event log: the ready marker and
//! the outputs description, both replaced atomically (temp file + rename).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Content of the `--ready` file.
pub const READY_CONTENT: &str = "ready\n";

/// Writes `content` to `path` atomically: a temp file in the same directory
/// is written, synced and renamed over `path`.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".ion-probe-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    tmp.write_all(content)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing a temp file for {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// One output as written to the `--outputs` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputDesc {
    /// Output name (wl_output v4 name, else xdg-output name, else
    /// `wl_output-<global>`).
    pub name: String,
    /// The probe's index (pattern blue bits = `(index & 3) << 6`).
    pub index: u32,
    /// Logical position and size in the compositor space (xdg-output; else
    /// wl_output geometry position and mode / scale).
    pub x: i32,
    /// Logical y.
    pub y: i32,
    /// Logical width.
    pub width: i32,
    /// Logical height.
    pub height: i32,
    /// Integer scale (wl_output.scale) used as buffer scale.
    pub scale: i32,
    /// Size of the buffer last committed (0 before the first commit).
    pub buffer_width: u32,
    /// Height of that buffer.
    pub buffer_height: u32,
    /// Logical size of the layer surface as configured (0 before).
    pub surface_width: u32,
    /// Configured logical height.
    pub surface_height: u32,
    /// Whether the first buffer is committed.
    pub mapped: bool,
}

/// Content of the `--outputs` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputsFile {
    /// The probe's outputs in index order.
    pub outputs: Vec<OutputDesc>,
}

impl OutputsFile {
    /// Reads an outputs file.
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ready");
        write_atomic(&p, READY_CONTENT.as_bytes()).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "ready\n");
        let f = OutputsFile { outputs: vec![] };
        let q = dir.path().join("outputs.json");
        write_atomic(&q, serde_json::to_string(&f).unwrap().as_bytes()).unwrap();
        assert_eq!(OutputsFile::read(&q).unwrap(), f);
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
