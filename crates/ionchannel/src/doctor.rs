//! `ionchannel doctor`: what the compositor offers, what each portal feature
//! will use, and what is missing.

use std::path::Path;

use ion_core::Policy;
use ion_wayland::{self as wl, Snapshot};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    pub wayland_display: String,
    pub globals: Vec<GlobalRow>,
    pub features: Vec<Feature>,
    pub outputs: Vec<wl::OutputInfo>,
    pub keyboard_layout: String,
    pub policy: PolicyStatus,
}

#[derive(Debug, Serialize)]
pub struct GlobalRow {
    pub interface: &'static str,
    pub version: Option<u32>,
    pub purpose: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Feature {
    pub feature: &'static str,
    /// The path ionChannel uses, if any.
    pub uses: Option<String>,
    pub status: Status,
    pub note: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Missing,
    /// Offered in part: what is missing is in the note.
    Partial,
}

#[derive(Debug, Serialize)]
pub struct PolicyStatus {
    pub path: String,
    pub rules: Option<usize>,
    pub error: Option<String>,
    /// Who asks the user when no rule decides.
    pub dialog: String,
}

const RELEVANT: &[(&str, &str)] = &[
    (wl::WL_SEAT, "seat for virtual devices"),
    (wl::XDG_OUTPUT, "logical output layout"),
    (wl::VIRTUAL_POINTER, "pointer injection"),
    (wl::VIRTUAL_KEYBOARD, "keyboard injection"),
    (wl::EXT_IMAGE_COPY_CAPTURE, "capture (preferred)"),
    (wl::EXT_OUTPUT_CAPTURE_SOURCE, "capture of outputs"),
    (wl::EXT_TOPLEVEL_CAPTURE_SOURCE, "capture of windows"),
    (wl::EXT_FOREIGN_TOPLEVEL_LIST, "window list"),
    (wl::WLR_SCREENCOPY, "capture (fallback)"),
    (wl::EXT_DATA_CONTROL, "clipboard (preferred)"),
    (wl::WLR_DATA_CONTROL, "clipboard (fallback)"),
    (wl::WL_SHM, "shm buffers"),
    (wl::LINUX_DMABUF, "dmabuf buffers"),
];

/// Why `device` ("pointer", "keyboard") cannot be injected on this
/// compositor, as doctor's note and the daemon's start-up log both say it:
/// plainly not available, which global is missing, what the other ways
/// lack (`uinput`: why uinput cannot be used here; None where it could but
/// has no such device), and what AvailableDeviceTypes does about it.
pub fn missing_injection(
    device: &str,
    global: &str,
    has_seat: bool,
    uinput: Option<&str>,
) -> String {
    let other_ways = match (device, uinput) {
        ("pointer", Some(why)) => {
            format!("compositor EIS is not implemented and uinput cannot be used ({why})")
        }
        ("pointer", None) => "compositor EIS is not implemented".to_owned(),
        _ => "compositor EIS and a uinput keyboard are not implemented".to_owned(),
    };
    format!(
        "{device} not available on this compositor: it offers no {global}{}; {other_ways}, \
         so AvailableDeviceTypes leaves the {device} out",
        if has_seat { "" } else { " (and no wl_seat)" },
    )
}

/// The clipboard line: the data-control protocol the Wayland thread bound,
/// or plainly that there is no clipboard here, and why.
fn clipboard(snap: &Snapshot) -> Feature {
    if let Some(interface) = &snap.data_control {
        return Feature {
            feature: "Clipboard",
            uses: Some(interface.clone()),
            status: Status::Ok,
            note: if interface == wl::WLR_DATA_CONTROL && snap.has(wl::EXT_DATA_CONTROL) {
                format!("{} chose it over ext-data-control", wl::DATA_CONTROL_VAR)
            } else {
                String::new()
            },
        };
    }
    let offered = snap.has(wl::EXT_DATA_CONTROL) || snap.has(wl::WLR_DATA_CONTROL);
    let why = if !offered {
        format!(
            "not available on this compositor: it offers neither {} nor {}",
            wl::EXT_DATA_CONTROL,
            wl::WLR_DATA_CONTROL
        )
    } else if snap.seat.is_none() {
        "not available on this compositor: it offers data control but no wl_seat".to_owned()
    } else {
        format!("turned off by {}=none", wl::DATA_CONTROL_VAR)
    };
    Feature {
        feature: "Clipboard",
        uses: None,
        status: Status::Missing,
        note: format!("clipboard {why}, so Start answers clipboard_enabled false"),
    }
}

pub fn report(snap: &Snapshot, policy_path: &Path, dialog_program: Option<&Path>) -> Report {
    let globals = RELEVANT
        .iter()
        .map(|(interface, purpose)| GlobalRow {
            interface,
            version: snap.version_of(interface),
            purpose,
        })
        .collect();
    let uinput = snap.uinput_unusable.as_deref();
    let has_seat = snap.seat.is_some();
    let mut features = Vec::new();

    // The pointer: the path the daemon's sessions take (the virtual
    // pointer, else uinput), or why there is none.
    features.push(match &snap.pointer_path {
        Some(path) if has_seat => Feature {
            feature: "RemoteDesktop pointer",
            uses: Some(path.clone()),
            status: Status::Ok,
            note: String::new(),
        },
        _ => Feature {
            feature: "RemoteDesktop pointer",
            uses: None,
            status: Status::Missing,
            note: missing_injection("pointer", wl::VIRTUAL_POINTER, has_seat, uinput),
        },
    });
    features.push(if has_seat && snap.has(wl::VIRTUAL_KEYBOARD) {
        Feature {
            feature: "RemoteDesktop keyboard",
            uses: Some("zwp_virtual_keyboard_v1".into()),
            status: Status::Ok,
            note: String::new(),
        }
    } else {
        Feature {
            feature: "RemoteDesktop keyboard",
            uses: None,
            status: Status::Missing,
            note: missing_injection("keyboard", wl::VIRTUAL_KEYBOARD, has_seat, uinput),
        }
    });
    features.push(clipboard(snap));
    features.push(if snap.touch {
        Feature {
            feature: "RemoteDesktop touchscreen",
            uses: Some("uinput".into()),
            status: Status::Ok,
            note: String::new(),
        }
    } else {
        Feature {
            feature: "RemoteDesktop touchscreen",
            uses: None,
            status: Status::Missing,
            note: format!(
                "no touch path: wlroots has no virtual-touch protocol, compositor EIS is not \
                 implemented, and uinput cannot be used ({})",
                uinput.unwrap_or("not chosen: IONCHANNEL_POINTER")
            ),
        }
    });
    let capture = if snap.has(wl::EXT_IMAGE_COPY_CAPTURE) && snap.has(wl::EXT_OUTPUT_CAPTURE_SOURCE)
    {
        Some("ext-image-copy-capture-v1")
    } else if snap.has(wl::WLR_SCREENCOPY) {
        Some("zwlr_screencopy_v1")
    } else {
        None
    };
    let forced = std::env::var(ion_wayland::thread::CAPTURE_VAR).is_ok_and(|v| v == "screencopy");
    let capture = match capture {
        Some(_) if forced && snap.has(wl::WLR_SCREENCOPY) => Some("zwlr_screencopy_v1"),
        other => other,
    };
    features.push(Feature {
        feature: "ScreenCast monitor capture",
        uses: capture.map(str::to_string),
        status: match capture {
            Some(_) if snap.pipewire => Status::Ok,
            _ => Status::Missing,
        },
        note: match capture {
            Some("zwlr_screencopy_v1") if snap.pipewire => {
                "hidden cursor mode cannot leave out a software cursor with screencopy".into()
            }
            Some(_) if snap.pipewire => String::new(),
            Some(_) => "no PipeWire in this session: ScreenCast is unavailable".into(),
            None => "no capture protocol: neither ext-image-copy-capture nor wlr-screencopy".into(),
        },
    });
    features.push(Feature {
        feature: "ScreenCast window capture",
        uses: snap
            .window_capture
            .then(|| "ext_foreign_toplevel_list_v1 + ext_foreign_toplevel_image_capture_source_manager_v1".into()),
        status: if snap.window_capture && snap.pipewire {
            Status::Ok
        } else {
            Status::Missing
        },
        note: if snap.window_capture {
            format!("{} window(s) listed; the policy file names which to share", snap.windows.len())
        } else {
            "needs ext-image-copy-capture with the toplevel list and toplevel capture source".into()
        },
    });
    features.push(Feature {
        feature: "ScreenCast cursor metadata",
        uses: snap
            .cursor_metadata
            .then(|| "ext_image_copy_capture_cursor_session_v1".into()),
        status: if snap.cursor_metadata && snap.pipewire {
            Status::Ok
        } else {
            Status::Missing
        },
        note: if snap.cursor_metadata {
            String::new()
        } else {
            "needs ext-image-copy-capture cursor sessions".into()
        },
    });
    features.push(match &snap.dmabuf {
        Ok(how) => Feature {
            feature: "ScreenCast buffers",
            uses: Some(format!("dmabuf: {how}; shm for consumers without dmabuf")),
            status: Status::Ok,
            note: String::new(),
        },
        Err(why) => Feature {
            feature: "ScreenCast buffers",
            uses: Some("shm (memfd shared with PipeWire)".into()),
            status: Status::Partial,
            note: format!("no dmabuf: {why}"),
        },
    });

    // Read as the daemon reads it: a missing file is an empty policy, one
    // that others could write is refused.
    let text = ion_portal::policy_file::read(policy_path);
    let policy = match text {
        Ok(text) => match Policy::parse(&text) {
            Ok(p) => PolicyStatus {
                path: policy_path.display().to_string(),
                rules: Some(p.allow.len()),
                error: None,
                dialog: match (p.dialog.enabled, &p.dialog.command, dialog_program) {
                    (Some(false), _, _) => "disabled ([dialog] enabled = false): rules and remembered grants only".into(),
                    (_, Some(c), _) => format!("chooser command {c:?}"),
                    (_, None, Some(d)) => format!("{}", d.display()),
                    (_, None, None) => "none found (ionchannel-consent is not installed): sessions without a rule are refused".into(),
                },
            },
            Err(e) => PolicyStatus {
                path: policy_path.display().to_string(),
                rules: None,
                error: Some(format!("{e} (every session will be refused)")),
                dialog: "not used while the policy file is unusable".into(),
            },
        },
        Err(e) => PolicyStatus {
            path: policy_path.display().to_string(),
            rules: None,
            error: Some(format!("{e} (every session will be refused)")),
            dialog: "not used while the policy file is unusable".into(),
        },
    };

    Report {
        wayland_display: std::env::var("WAYLAND_DISPLAY").unwrap_or_default(),
        globals,
        features,
        outputs: snap.outputs.clone(),
        keyboard_layout: snap.keymap_layout.clone(),
        policy,
    }
}

/// Writes the report as a table. Errors (a closed pipe: `doctor | head`)
/// end the output quietly instead of panicking as `println!` would.
pub fn print_table(r: &Report) -> std::io::Result<()> {
    use std::io::Write;
    let out = &mut std::io::stdout().lock();
    writeln!(
        out,
        "ionChannel doctor — compositor at WAYLAND_DISPLAY={}",
        r.wayland_display
    )?;
    writeln!(out)?;
    writeln!(out, "{:<52} {:>7}  purpose", "global", "version")?;
    for g in &r.globals {
        let v = g.version.map_or("missing".to_string(), |v| format!("v{v}"));
        writeln!(out, "{:<52} {:>7}  {}", g.interface, v, g.purpose)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<28} {:<14} {:<36} note",
        "feature", "status", "uses"
    )?;
    for f in &r.features {
        let status = match f.status {
            Status::Ok => "ok",
            Status::Missing => "MISSING",
            Status::Partial => "partial",
        };
        writeln!(
            out,
            "{:<28} {:<14} {:<36} {}",
            f.feature,
            status,
            f.uses.as_deref().unwrap_or("-"),
            f.note
        )?;
    }
    writeln!(out)?;
    writeln!(out, "outputs (logical layout):")?;
    for o in &r.outputs {
        writeln!(
            out,
            "  {:<12} {}x{}+{}+{}  mode {}x{} scale {} transform {}",
            o.name,
            o.logical.width,
            o.logical.height,
            o.logical.x,
            o.logical.y,
            o.mode_width,
            o.mode_height,
            o.scale,
            o.transform
        )?;
    }
    writeln!(out, "keyboard layout: {}", r.keyboard_layout)?;
    match (&r.policy.rules, &r.policy.error) {
        (Some(n), _) => writeln!(out, "consent policy: {} ({n} rule(s))", r.policy.path)?,
        (None, Some(e)) => writeln!(out, "consent policy: {}: {e}", r.policy.path)?,
        _ => {}
    }
    writeln!(out, "consent dialog: {}", r.policy.dialog)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn snapshot(globals: &[(&str, u32)]) -> Snapshot {
        Snapshot {
            globals: globals
                .iter()
                .map(|(interface, version)| wl::GlobalInfo {
                    interface: (*interface).to_owned(),
                    version: *version,
                })
                .collect(),
            outputs: Vec::new(),
            seat: Some("seat0".to_owned()),
            keymap_layout: "us".to_owned(),
            windows: Vec::new(),
            window_capture: false,
            cursor_metadata: false,
            pipewire: true,
            data_control: None,
            pointer_path: globals
                .iter()
                .any(|(i, _)| *i == wl::VIRTUAL_POINTER)
                .then(|| "zwlr_virtual_pointer_v1".to_owned()),
            touch: false,
            uinput_unusable: Some("/dev/uinput does not exist".into()),
            dmabuf: Err("no linux-dmabuf v4".into()),
        }
    }

    fn feature<'a>(report: &'a Report, name: &str) -> &'a Feature {
        report.features.iter().find(|f| f.feature == name).unwrap()
    }

    /// cosmic-comp's set: a virtual keyboard and ext-image-copy-capture,
    /// no virtual pointer. The pointer line says plainly that it is not
    /// available here, and why.
    #[test]
    fn a_compositor_without_a_virtual_pointer_is_named_plainly() {
        let snap = snapshot(&[
            (wl::WL_SEAT, 7),
            (wl::VIRTUAL_KEYBOARD, 1),
            (wl::EXT_IMAGE_COPY_CAPTURE, 1),
            (wl::EXT_OUTPUT_CAPTURE_SOURCE, 1),
        ]);
        let report = report(&snap, Path::new("/nonexistent/policy.toml"), None);
        let pointer = feature(&report, "RemoteDesktop pointer");
        assert_eq!(pointer.status, Status::Missing);
        assert_eq!(pointer.uses, None);
        for words in [
            "pointer not available on this compositor",
            "it offers no zwlr_virtual_pointer_manager_v1",
            "compositor EIS is not implemented and uinput cannot be used (/dev/uinput does not exist)",
            "AvailableDeviceTypes leaves the pointer out",
        ] {
            assert!(pointer.note.contains(words), "{words}: {}", pointer.note);
        }
        let keyboard = feature(&report, "RemoteDesktop keyboard");
        assert_eq!(keyboard.status, Status::Ok);
        assert_eq!(keyboard.note, "");
        assert_eq!(
            feature(&report, "ScreenCast monitor capture")
                .uses
                .as_deref(),
            Some("ext-image-copy-capture-v1")
        );
    }

    /// A policy file others can write is reported as the daemon treats
    /// it: unusable, with the fix.
    #[test]
    fn a_policy_file_others_can_write_is_reported_unusable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o662)).unwrap();
        let snap = snapshot(&[(wl::WL_SEAT, 7)]);
        let r = report(&snap, &path, None);
        let error = r.policy.error.unwrap();
        assert!(
            error.contains("mode 0662") && error.contains("chmod go-w"),
            "{error}"
        );
        assert_eq!(r.policy.rules, None);
    }

    /// The clipboard line names the protocol in use, or says plainly that
    /// there is no clipboard here and why.
    #[test]
    fn the_clipboard_line_names_its_protocol_or_why_there_is_none() {
        let mut snap = snapshot(&[(wl::WL_SEAT, 7), (wl::EXT_DATA_CONTROL, 1)]);
        snap.data_control = Some(wl::EXT_DATA_CONTROL.to_owned());
        let r = report(&snap, Path::new("/nonexistent/policy.toml"), None);
        let line = feature(&r, "Clipboard");
        assert_eq!(line.status, Status::Ok);
        assert_eq!(line.uses.as_deref(), Some("ext_data_control_manager_v1"));
        assert_eq!(line.note, "");

        // sway 1.7: wlr data control only.
        let mut snap = snapshot(&[(wl::WL_SEAT, 7), (wl::WLR_DATA_CONTROL, 2)]);
        snap.data_control = Some(wl::WLR_DATA_CONTROL.to_owned());
        let r = report(&snap, Path::new("/nonexistent/policy.toml"), None);
        let line = feature(&r, "Clipboard");
        assert_eq!(line.uses.as_deref(), Some("zwlr_data_control_manager_v1"));
        assert_eq!(line.note, "");

        let snap = snapshot(&[(wl::WL_SEAT, 7), (wl::VIRTUAL_KEYBOARD, 1)]);
        let r = report(&snap, Path::new("/nonexistent/policy.toml"), None);
        let line = feature(&r, "Clipboard");
        assert_eq!(line.status, Status::Missing);
        assert_eq!(line.uses, None);
        assert_eq!(
            line.note,
            "clipboard not available on this compositor: it offers neither \
             ext_data_control_manager_v1 nor zwlr_data_control_manager_v1, so Start answers \
             clipboard_enabled false"
        );

        let mut snap = snapshot(&[(wl::WLR_DATA_CONTROL, 2)]);
        snap.seat = None;
        let r = report(&snap, Path::new("/nonexistent/policy.toml"), None);
        let line = feature(&r, "Clipboard");
        assert!(line.note.contains("no wl_seat"), "{}", line.note);

        // Offered, but turned off with the hook.
        let snap = snapshot(&[(wl::WL_SEAT, 7), (wl::EXT_DATA_CONTROL, 1)]);
        let r = report(&snap, Path::new("/nonexistent/policy.toml"), None);
        let line = feature(&r, "Clipboard");
        assert_eq!(line.status, Status::Missing);
        assert!(
            line.note
                .contains("turned off by IONCHANNEL_DATA_CONTROL=none"),
            "{}",
            line.note
        );
    }

    #[test]
    fn the_missing_seat_and_uinput_are_named_too() {
        let note = missing_injection("keyboard", wl::VIRTUAL_KEYBOARD, false, Some("x"));
        assert_eq!(
            note,
            "keyboard not available on this compositor: it offers no \
             zwp_virtual_keyboard_manager_v1 (and no wl_seat); compositor EIS and a uinput \
             keyboard are not implemented, so AvailableDeviceTypes leaves the keyboard out"
        );
        let note = missing_injection(
            "pointer",
            wl::VIRTUAL_POINTER,
            true,
            Some("/dev/uinput is not writable by this user"),
        );
        assert_eq!(
            note,
            "pointer not available on this compositor: it offers no \
             zwlr_virtual_pointer_manager_v1; compositor EIS is not implemented and uinput \
             cannot be used (/dev/uinput is not writable by this user), so \
             AvailableDeviceTypes leaves the pointer out"
        );
    }
}
