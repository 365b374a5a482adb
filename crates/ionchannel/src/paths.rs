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
