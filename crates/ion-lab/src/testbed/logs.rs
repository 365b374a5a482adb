//! Per-component log files (stdout and stderr together), their tails, and
//! dumping them to stderr.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

/// How many lines of each log [`dump`] prints.
pub const DUMP_LINES: usize = 200;

/// How many lines of a log an error message quotes.
pub const ERROR_LINES: usize = 40;

/// Opens (appending) the log of one component, writes a header naming the
/// command, and returns two handles for the child's stdout and stderr.
pub fn open(path: &Path, label: &str, command_line: &str) -> Result<(File, File)> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening log {}", path.display()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    writeln!(
        file,
        "==== ion-lab: starting {label} at {now:.3}: {command_line}"
    )
    .with_context(|| format!("writing log {}", path.display()))?;
    let err = file
        .try_clone()
        .with_context(|| format!("duplicating log handle {}", path.display()))?;
    Ok((file, err))
}

/// The last `lines` lines of a text file (lossy UTF-8); empty if unreadable.
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(bytes) = fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A block quoting the tail of each log, for error messages.
pub fn quote_tails(paths: &[&Path], lines: usize) -> String {
    let mut out = String::new();
    for path in paths {
        out.push_str(&format!(
            "\n--- last {lines} lines of {} ---\n{}",
            path.display(),
            tail(path, lines)
        ));
    }
    out
}

/// Every regular file in `dir`, sorted by name.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Prints the tail of every log in `dir` to stderr, each under a header
/// naming the file (and so the component). Goes through `eprint!`, so a test
/// harness capturing output shows it only for failing tests.
pub fn dump(dir: &Path, lines: usize) {
    let mut text = String::new();
    for path in files(dir) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        text.push_str(&format!(
            "===== ion-lab log: {name} (last {lines} lines; {}) =====\n{}\n",
            path.display(),
            tail(&path, lines)
        ));
    }
    text.push_str(&format!(
        "===== end of ion-lab logs ({}) =====\n",
        dir.display()
    ));
    eprint!("{text}");
}
