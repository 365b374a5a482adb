//! `ionchannel doctor` against a real headless compositor (sway, labwc or
//! the cosmic-comp stand-in, `IONLAB_COMPOSITOR`): the table and the JSON
//! say what the compositor offers and what each feature uses — and, where
//! there is no virtual pointer (the stand-in, as cosmic-comp), plainly that
//! the pointer is not available on this compositor, and why.

use anyhow::{Context, Result};
use ion_lab::testbed::{find_workspace_bin, Capability, OutputSpec, Testbed};

#[test]
fn doctor_reports_globals_features_and_outputs() -> Result<()> {
    let testbed = Testbed::builder()
        .outputs(vec![
            OutputSpec::new(1920, 1080).at(0, 0),
            OutputSpec::new(1280, 720).at(1920, 0).with_scale(2.0),
        ])
        .without_frontend()
        .without_ionchannel()
        .start()?;
    let bin = find_workspace_bin("ionchannel")?;

    let out = testbed.command(&bin).args(["doctor", "--json"]).output()?;
    anyhow::ensure!(
        out.status.success(),
        "doctor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).context("doctor --json")?;
    let global = |name: &str| {
        report["globals"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["interface"] == name))
            .and_then(|g| g["version"].as_u64())
    };
    let version = testbed.compositor_version()?;
    let pointer = testbed.supports(Capability::VirtualPointer).is_ok();
    assert_eq!(version.has_virtual_pointer(), pointer);
    assert_eq!(
        global("zwlr_virtual_pointer_manager_v1"),
        pointer.then_some(2),
        "{}",
        version.short()
    );
    assert_eq!(global("zwp_virtual_keyboard_manager_v1"), Some(1));
    assert_eq!(
        global("zwlr_screencopy_manager_v1").is_some(),
        testbed.supports(Capability::WlrScreencopy).is_ok(),
        "{}",
        version.short()
    );
    // ext-image-copy-capture came with wlroots 0.19 (sway 1.11, labwc 0.9).
    assert_eq!(
        global("ext_image_copy_capture_manager_v1").is_some(),
        version.has_ext_image_copy_capture(),
        "{}",
        version.line
    );
    let feature = |name: &str| {
        report["features"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["feature"] == name))
            .map(|f| f["status"].as_str().unwrap_or_default().to_string())
    };
    let note = |name: &str| {
        report["features"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["feature"] == name))
            .map(|f| f["note"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    // Without a virtual pointer, doctor says plainly that the pointer is
    // not available here, and why.
    let why = "pointer not available on this compositor: it offers no \
               zwlr_virtual_pointer_manager_v1";
    if pointer {
        assert_eq!(feature("RemoteDesktop pointer").as_deref(), Some("ok"));
    } else {
        assert_eq!(feature("RemoteDesktop pointer").as_deref(), Some("missing"));
        let pointer_note = note("RemoteDesktop pointer");
        assert!(pointer_note.contains(why), "{pointer_note}");
        assert!(
            pointer_note.contains("AvailableDeviceTypes leaves the pointer out"),
            "{pointer_note}"
        );
    }
    assert_eq!(feature("RemoteDesktop keyboard").as_deref(), Some("ok"));
    // The clipboard: ext-data-control where offered (wlroots 0.19+, the
    // stand-in as cosmic-comp), else wlr-data-control (sway 1.7).
    assert_eq!(feature("Clipboard").as_deref(), Some("ok"));
    let uses = report["features"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["feature"] == "Clipboard"))
        .and_then(|f| f["uses"].as_str())
        .unwrap_or_default()
        .to_string();
    let ext = global("ext_data_control_manager_v1").is_some();
    assert_eq!(
        uses,
        if ext {
            "ext_data_control_manager_v1"
        } else {
            "zwlr_data_control_manager_v1"
        },
        "{}",
        version.short()
    );
    assert_eq!(
        feature("RemoteDesktop touchscreen").as_deref(),
        Some("missing")
    );
    let outputs = report["outputs"].as_array().context("outputs")?;
    let logical: Vec<(String, i64, i64, i64, i64)> = outputs
        .iter()
        .map(|o| {
            let l = &o["logical"];
            (
                o["name"].as_str().unwrap_or_default().to_string(),
                l["x"].as_i64().unwrap_or(-1),
                l["y"].as_i64().unwrap_or(-1),
                l["width"].as_i64().unwrap_or(-1),
                l["height"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        logical,
        vec![
            ("HEADLESS-1".into(), 0, 0, 1920, 1080),
            ("HEADLESS-2".into(), 1920, 0, 640, 360)
        ]
    );

    // The human table names the same things, and a closed pipe is no crash.
    let table = testbed.command(&bin).arg("doctor").output()?;
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("zwlr_virtual_pointer_manager_v1") && text.contains("MISSING"),
        "{text}"
    );
    let pointer_line = text
        .lines()
        .find(|l| l.starts_with("RemoteDesktop pointer"))
        .unwrap_or_default();
    if pointer {
        assert!(pointer_line.contains(" ok "), "{text}");
    } else {
        assert!(
            pointer_line.contains("MISSING") && pointer_line.contains(why),
            "{text}"
        );
        println!("{} doctor: {pointer_line}", version.short());
    }
    let mut child = testbed
        .command(&bin)
        .arg("doctor")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    drop(child.stdout.take());
    let done = child.wait_with_output()?;
    assert!(
        done.status.success(),
        "doctor must end cleanly on a closed pipe: {} {}",
        done.status,
        String::from_utf8_lossy(&done.stderr)
    );
    Ok(())
}
