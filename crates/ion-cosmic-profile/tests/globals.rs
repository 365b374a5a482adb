//! The globals are exactly cosmic-comp's relevant ones; the command line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const EXPECTED: &[&str] = &[
    "wl_compositor",
    "wl_subcompositor",
    "wl_shm",
    "xdg_wm_base",
    "zwlr_layer_shell_v1",
    "wl_seat",
    "wl_data_device_manager",
    "zwp_primary_selection_device_manager_v1",
    "zwp_virtual_keyboard_manager_v1",
    "ext_data_control_manager_v1",
    "zwlr_data_control_manager_v1",
    "zxdg_output_manager_v1",
    "ext_foreign_toplevel_list_v1",
    "zwlr_output_manager_v1",
    "ext_image_copy_capture_manager_v1",
    "ext_output_image_capture_source_manager_v1",
    "ext_foreign_toplevel_image_capture_source_manager_v1",
];

#[test]
fn globals_are_exactly_cosmic_comps() {
    let compositor = Compositor::start(&["--outputs", "2"]);
    let (_conn, mut queue, mut app) = compositor.connect();
    dispatch_until(&mut queue, &mut app, "output names", |a| {
        a.outputs.len() == 2 && a.outputs.iter().all(|(_, o)| o.done > 0)
    });

    let mut offered: Vec<&str> = app
        .globals
        .iter()
        .map(|(_, i, _)| i.as_str())
        .filter(|i| *i != "wl_output")
        .collect();
    offered.sort_unstable();
    let mut expected = EXPECTED.to_vec();
    expected.sort_unstable();
    assert_eq!(offered, expected, "the globals other than wl_output");
    // cosmic-comp has neither: ionChannel must not find them.
    assert!(!app.has("zwlr_virtual_pointer_manager_v1"));
    assert!(!app.has("zwlr_screencopy_manager_v1"));

    // One wl_output per output, named as wlroots' headless backend does,
    // 1920x1080, scale 1, transform normal.
    let mut names: Vec<_> = app
        .outputs
        .iter()
        .map(|(_, o)| o.name.clone().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["HEADLESS-1", "HEADLESS-2"]);
    for (_, o) in &app.outputs {
        assert_eq!(o.mode, Some((1920, 1080)));
        assert_eq!(o.scale, Some(1));
        assert_eq!(o.transform, Some(0));
    }

    // seat0, keyboard and pointer.
    assert_eq!(app.seat_name.as_deref(), Some("seat0"));
    assert_eq!(app.seat_caps, Some(0b11), "pointer | keyboard");

    // A client comes and goes in the log; SIGTERM ends it cleanly.
    drop(queue);
    drop(_conn);
    let log_ok = |c: &Compositor| c.log().contains("client disconnected");
    let start = std::time::Instant::now();
    while !log_ok(&compositor) && start.elapsed() < WAIT {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = compositor.log();
    assert!(log.contains("client connected"), "{log}");
    assert!(log.contains("client disconnected"), "{log}");
    assert!(
        log.contains("listening on WAYLAND_DISPLAY=wayland-"),
        "{log}"
    );
    let status = compositor.stop();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

#[test]
fn version_and_help() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ion-cosmic-profile"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    // The first dotted-number word is the stand-in's version.
    let version = text
        .split_whitespace()
        .find(|w| w.contains('.') && w.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .unwrap();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    assert!(text.contains("stand-in for cosmic-comp"), "{text}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ion-cosmic-profile"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("STAND-IN"), "{text}");
    assert!(text.contains("--outputs"), "{text}");
}
