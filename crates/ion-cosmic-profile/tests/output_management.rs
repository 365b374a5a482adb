//! wlr-output-management, as cosmic-randr and wlr-randr use it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wayland_client::protocol::wl_output::Transform;
use wayland_client::EventQueue;
use wayland_protocols_wlr::output_management::v1::client::zwlr_output_manager_v1::ZwlrOutputManagerV1;

fn answer(q: &mut EventQueue<App>, app: &mut App) -> &'static str {
    let n = app.config_results.len();
    dispatch_until(q, app, "a configuration's answer", |a| {
        a.config_results.len() > n
    });
    app.config_results[n]
}

#[test]
fn outputs_are_listed_and_changed() {
    let compositor = Compositor::start(&["--outputs", "2"]);
    let (_conn, mut q, mut app) = compositor.connect();
    let qh = q.handle();
    let manager: ZwlrOutputManagerV1 = app.bind(&qh, "zwlr_output_manager_v1", 4, ());
    dispatch_until(&mut q, &mut app, "heads", |a| a.om_done > 0);
    assert_eq!(app.heads.len(), 2);
    let (h1, info) = app.head_named("HEADLESS-1");
    assert_eq!(info.enabled, Some(true));
    assert_eq!(info.position, Some((0, 0)));
    assert_eq!(info.scale, Some(1.0));
    assert_eq!(info.transform, Some(0));
    let current = info.current_mode.clone().unwrap();
    assert_eq!(app.modes[&current], (1920, 1080, 60_000));
    let (h2, info2) = app.head_named("HEADLESS-2");
    assert_eq!(info2.position, Some((1920, 0)));

    // A custom mode, a position, scale and transform, all at once.
    let serial = app.om_serial.unwrap();
    let config = manager.create_configuration(serial, &qh, ());
    let ch = config.enable_head(&h1, &qh, ());
    ch.set_custom_mode(1280, 720, 0);
    ch.set_position(100, 50);
    ch.set_scale(2.0);
    ch.set_transform(Transform::_270);
    let ch2 = config.enable_head(&h2, &qh, ());
    ch2.set_position(1000, 0);
    config.apply();
    assert_eq!(answer(&mut q, &mut app), "succeeded");
    config.destroy();
    dispatch_until(&mut q, &mut app, "the new state", |a| {
        a.om_serial != Some(serial)
    });
    let (_, info) = app.head_named("HEADLESS-1");
    assert_eq!(info.position, Some((100, 50)));
    assert_eq!(info.scale, Some(2.0));
    assert_eq!(info.transform, Some(3));
    let current = info.current_mode.unwrap();
    assert_eq!(app.modes[&current], (1280, 720, 60_000));
    dispatch_until(&mut q, &mut app, "wl_output follows", |a| {
        a.outputs.iter().any(|(_, o)| {
            o.name.as_deref() == Some("HEADLESS-1")
                && o.mode == Some((1280, 720))
                && o.scale == Some(2)
                && o.transform == Some(3)
        })
    });
    assert!(compositor
        .log()
        .contains("output config applied: HEADLESS-1 1280x720"));

    // A configuration made for an old serial is cancelled.
    let config = manager.create_configuration(serial, &qh, ());
    let ch = config.enable_head(&h1, &qh, ());
    ch.set_position(0, 0);
    config.apply();
    assert_eq!(answer(&mut q, &mut app), "cancelled");
    config.destroy();

    // Turning every output off fails.
    let config = manager.create_configuration(app.om_serial.unwrap(), &qh, ());
    config.disable_head(&h1);
    config.disable_head(&h2);
    config.apply();
    assert_eq!(answer(&mut q, &mut app), "failed");
    config.destroy();

    // One off: its wl_output goes, its head says disabled; on again.
    let outputs_before = app.globals.iter().filter(|g| g.1 == "wl_output").count();
    let config = manager.create_configuration(app.om_serial.unwrap(), &qh, ());
    config.disable_head(&h2);
    config.apply();
    assert_eq!(answer(&mut q, &mut app), "succeeded");
    config.destroy();
    dispatch_until(&mut q, &mut app, "HEADLESS-2 off", |a| {
        a.head_named("HEADLESS-2").1.enabled == Some(false)
            && a.globals.iter().filter(|g| g.1 == "wl_output").count() == outputs_before - 1
    });
    let config = manager.create_configuration(app.om_serial.unwrap(), &qh, ());
    let ch2 = config.enable_head(&h2, &qh, ());
    ch2.set_position(1000, 0);
    config.apply();
    assert_eq!(answer(&mut q, &mut app), "succeeded");
    config.destroy();
    dispatch_until(&mut q, &mut app, "HEADLESS-2 on", |a| {
        a.head_named("HEADLESS-2").1.enabled == Some(true)
            && a.globals.iter().filter(|g| g.1 == "wl_output").count() == outputs_before
    });
}

/// wlr-randr itself, when there is one: `wlr-randr` on PATH, or the one
/// in the testbed's Debian testing root filesystem (run through that
/// root's own loader, as scripts/in-testing.sh does).
fn wlr_randr() -> Option<Vec<String>> {
    if let Ok(p) = std::env::var("ION_WLR_RANDR") {
        return Some(vec![p]);
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("wlr-randr"))
            .find(|p| p.is_file())
    });
    if let Some(p) = on_path {
        return Some(vec![p.display().to_string()]);
    }
    let root = std::path::Path::new("/var/cache/ionchannel/rootfs/current");
    let loader = root.join("lib64/ld-linux-x86-64.so.2");
    let bin = root.join("usr/bin/wlr-randr");
    (loader.is_file() && bin.is_file()).then(|| {
        let libs = format!(
            "{}:{}",
            root.join("usr/lib/x86_64-linux-gnu").display(),
            root.join("lib/x86_64-linux-gnu").display()
        );
        vec![
            loader.display().to_string(),
            "--library-path".into(),
            libs,
            bin.display().to_string(),
        ]
    })
}

#[test]
fn wlr_randr_drives_it() {
    let Some(cmd) = wlr_randr() else {
        eprintln!("SKIPPED: no wlr-randr here (PATH, ION_WLR_RANDR or the testing rootfs)");
        return;
    };
    let compositor = Compositor::start(&["--outputs", "2"]);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .args(args)
            .env("XDG_RUNTIME_DIR", compositor.socket.parent().unwrap())
            .env("WAYLAND_DISPLAY", compositor.socket.file_name().unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "wlr-randr {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let listing = run(&[]);
    assert!(
        listing.contains("HEADLESS-1") && listing.contains("HEADLESS-2"),
        "{listing}"
    );
    run(&[
        "--output",
        "HEADLESS-1",
        "--custom-mode",
        "1280x720",
        "--pos",
        "1920,0",
        "--scale",
        "1.5",
        "--transform",
        "flipped-180",
    ]);
    run(&["--output", "HEADLESS-2", "--pos", "0,0"]);
    let json = run(&["--json"]);
    let h1 = &json[json.find("\"HEADLESS-1\"").unwrap()..json.find("\"HEADLESS-2\"").unwrap()];
    assert!(h1.contains("\"transform\": \"flipped-180\""), "{h1}");
    assert!(h1.contains("\"scale\": 1.5"), "{h1}");
    assert!(h1.contains("\"x\": 1920"), "{h1}");
    run(&["--output", "HEADLESS-2", "--off"]);
    let json = run(&["--json"]);
    let h2 = &json[json.find("\"HEADLESS-2\"").unwrap()..];
    assert!(h2.contains("\"enabled\": false"), "{h2}");
    run(&["--output", "HEADLESS-2", "--on"]);
    let json = run(&["--json"]);
    let h2 = &json[json.find("\"HEADLESS-2\"").unwrap()..];
    assert!(h2.contains("\"enabled\": true"), "{h2}");
}
