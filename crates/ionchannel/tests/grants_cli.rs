//! `ionchannel grants` without a running daemon: it reads and edits the
//! grants file itself (no session bus here at all).

#![allow(clippy::unwrap_used)]

use std::process::Command;

const FILE: &str = r#"{
  "version": 1,
  "grants": [
    {"id": "aaa", "app_id": "com.rustdesk.RustDesk", "kind": "screencast",
     "outputs": [{"name": "DP-1", "description": "Dell U2720Q"}], "created": 1},
    {"id": "bbb", "app_id": "com.rustdesk.RustDesk", "kind": "remote_desktop",
     "devices": ["keyboard", "pointer"], "outputs": [{"name": "DP-1", "description": ""}], "created": 2},
    {"id": "ccc", "app_id": "", "kind": "screencast",
     "windows": [{"app_id": "org.gnome.TextEditor"}], "created": 3}
  ]
}"#;

fn ionchannel(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ionchannel"))
        .arg("grants")
        .args(args)
        .env("XDG_DATA_HOME", data)
        // No bus: the command works on the file.
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", data)
        .output()
        .unwrap()
}

#[test]
fn list_and_revoke_work_on_the_file_without_a_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ionchannel/grants.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, FILE).unwrap();

    let out = ionchannel(dir.path(), &["list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("output DP-1 (Dell U2720Q)"), "{text}");
    assert!(text.contains("(host app)") && text.contains("window of org.gnome.TextEditor"));
    assert!(text.contains("keyboard,pointer"));

    let out = ionchannel(dir.path(), &["revoke", "--app", "com.rustdesk.RustDesk"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("revoked aaa") && text.contains("revoked bbb"),
        "{text}"
    );
    let left = std::fs::read_to_string(&path).unwrap();
    assert!(
        left.contains("\"ccc\"") && !left.contains("\"aaa\""),
        "{left}"
    );

    // An unknown id is an error that says so; the file is unchanged.
    let out = ionchannel(dir.path(), &["revoke", "zzz"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such grant: zzz"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), left);

    let out = ionchannel(dir.path(), &["revoke", "--all"]);
    assert!(out.status.success());
    let out = ionchannel(dir.path(), &["list", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["grants"], serde_json::json!([]));

    // A broken file: reported, not overwritten.
    std::fs::write(&path, "{ broken").unwrap();
    let out = ionchannel(dir.path(), &["revoke", "--all"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unusable"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ broken");
}

#[test]
fn revoke_needs_something_to_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let out = ionchannel(dir.path(), &["revoke"]);
    assert!(!out.status.success());
}
