//! Where ionChannel keeps the user's files.

use std::path::PathBuf;

/// `$XDG_CONFIG_HOME/ionchannel` (default `~/.config/ionchannel`).
pub fn config_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"));
    base.join("ionchannel")
}

pub fn policy_file() -> PathBuf {
    config_dir().join("policy.toml")
}

/// `$XDG_DATA_HOME/ionchannel` (default `~/.local/share/ionchannel`).
pub fn data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"));
    base.join("ionchannel")
}

/// The remembered grants.
pub fn grants_file() -> PathBuf {
    data_dir().join("grants.json")
}

/// The bundled dialog: beside this executable (an install or a build
/// tree), else on PATH.
pub fn dialog_program() -> Option<PathBuf> {
    const NAME: &str = "ionchannel-consent";
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(NAME)))
        .filter(|p| p.is_file());
    beside.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(NAME))
                .find(|p| p.is_file())
        })
    })
}
