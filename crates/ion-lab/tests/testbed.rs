//! The testbed itself: it comes up with the requested outputs, its parts
//! answer, and it leaves no process behind — also when a test panics.
//!
//! These tests do not need ionChannel (started with `without_ionchannel`).
//! Run as root they create the `ionchannel-lab` user the compositor runs as
//! (what scripts/setup.sh does). The compositor is `IONLAB_COMPOSITOR`'s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use ion_lab::testbed::{
    ensure_lab_user, processes_with_marker, Capability, Component, Compositor, OutputSpec, Testbed,
    TestbedBuilder,
};

fn bare_testbed() -> TestbedBuilder {
    ensure_lab_user().expect("creating the ionchannel-lab user");
    Testbed::builder().without_ionchannel().without_frontend()
}

#[test]
fn comes_up_answers_and_leaves_nothing_behind() {
    let first = OutputSpec::new(1920, 1080);
    let second = OutputSpec::new(1280, 720).at(1920, 0).with_scale(1.5);
    let tb = bare_testbed()
        .output(first)
        .output(second)
        .start()
        .expect("starting the testbed");
    let marker = tb.marker().to_owned();

    // The compositor: exactly the two outputs, with the requested geometry.
    let outputs = tb.outputs().unwrap();
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    let by_name = |name: &str| outputs.iter().find(|o| o.name == name).unwrap();
    assert!(by_name("HEADLESS-1").matches(&first), "{outputs:?}");
    assert!(by_name("HEADLESS-2").matches(&second), "{outputs:?}");
    assert_eq!(by_name("HEADLESS-2").logical_width, 853);
    assert!(tb.runtime_dir().join(tb.wayland_display()).exists());

    // PipeWire answers, and WirePlumber is connected to it.
    let info = tb.pw_cli(&["info", "0"]).unwrap();
    assert!(info.contains("PipeWire:Interface:Core"), "{info}");
    assert!(tb.pw_dump().unwrap().contains("WirePlumber"));

    // The bus answers, and activates services from the standard dirs with
    // our marker in their environment.
    assert!(tb.name_has_owner("org.freedesktop.DBus").unwrap());
    assert!(!tb
        .name_has_owner("org.freedesktop.impl.portal.desktop.ionchannel")
        .unwrap());
    tb.dbus_send(&[
        "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.StartServiceByName",
        "string:org.freedesktop.impl.portal.PermissionStore",
        "uint32:0",
    ])
    .unwrap();
    tb.wait_for_name("org.freedesktop.impl.portal.PermissionStore", true)
        .unwrap();
    // …but not the frontend nor ionChannel: the testbed starts those itself.
    for name in [
        "org.freedesktop.portal.Desktop",
        "org.freedesktop.impl.portal.desktop.ionchannel",
    ] {
        let activation = tb.dbus_send(&[
            &format!("--dest={name}"),
            "/org/freedesktop/portal/desktop",
            "org.freedesktop.DBus.Peer.Ping",
        ]);
        assert!(activation.is_err(), "{name} was activated");
        assert!(!tb.name_has_owner(name).unwrap());
    }

    // Every component plus the activated service carry the marker.
    let marked = processes_with_marker(&marker);
    for component in [
        Component::Bus,
        Component::PipeWire,
        Component::WirePlumber,
        Component::Compositor,
    ] {
        let pid = tb.pid(component).unwrap();
        assert!(
            marked.contains(&pid),
            "{component} ({pid}) not in {marked:?}"
        );
    }
    assert!(marked.len() > 4, "no activated service in {marked:?}");
    assert!(tb.dead_components().is_empty());

    drop(tb);
    assert_eq!(processes_with_marker(&marker), Vec::<u32>::new());
    assert!(!std::path::Path::new(&marker).exists());
}

/// The compositor says what it is — the cosmic-comp stand-in never passes
/// for cosmic-comp — and what it cannot do, each reason naming it; and it
/// runs as the lab user when we are root (the stand-in is a binary of this
/// workspace: the lab user must be able to run it).
#[test]
fn the_compositor_names_itself_and_what_it_cannot_do() {
    let tb = bare_testbed().start().expect("starting the testbed");
    let version = tb.compositor_version().unwrap().clone();
    println!("{}: {}", version.short(), version.line);
    let lacks = |capability| tb.supports(capability).err().map(|why| why.to_string());
    match tb.compositor() {
        Compositor::CosmicProfile => {
            assert!(
                version.line.contains("stand-in for cosmic-comp"),
                "{}",
                version.line
            );
            assert!(version.short().contains("cosmic-comp stand-in"));
            assert!(version.has_ext_image_copy_capture());
            assert!(!version.has_virtual_pointer());
            for capability in [
                Capability::AddOutput,
                Capability::RemoveLastOutput,
                Capability::VirtualPointer,
                Capability::WlrScreencopy,
            ] {
                let why = lacks(capability).unwrap_or_default();
                assert!(
                    why.contains("cosmic-comp stand-in"),
                    "{capability:?}: {why}"
                );
                println!("{why}");
            }
            assert_eq!(lacks(Capability::RemoveOutput), None);
        }
        Compositor::Sway | Compositor::Labwc => {
            assert_eq!(lacks(Capability::VirtualPointer), None);
            assert_eq!(lacks(Capability::WlrScreencopy), None);
        }
    }
    if let Some(user) = tb.compositor_user() {
        let pid = tb.program_pid(Component::Compositor).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(uid, user.uid.to_string(), "{} ({pid})", version.short());
    }
}

#[test]
fn outputs_change_at_run_time() {
    let tb = bare_testbed().start().expect("starting the testbed");
    let marker = tb.marker().to_owned();
    assert_eq!(tb.requested_outputs(), &[OutputSpec::new(1920, 1080)]);

    // Every compositor: mode, position and scale of an existing output.
    let changed = OutputSpec::new(1280, 1024).at(0, 0).with_scale(2.0);
    tb.set_output("HEADLESS-1", &changed).unwrap();
    let outputs = tb.outputs().unwrap();
    assert!(
        outputs
            .iter()
            .any(|o| o.name == "HEADLESS-1" && o.matches(&changed) && o.logical_width == 640),
        "{outputs:?}"
    );

    match tb.supports(Capability::AddOutput) {
        Err(why) => eprintln!("adding an output not tested: {why}"),
        Ok(()) => {
            let added = OutputSpec::new(1024, 768).at(1920, 0).with_scale(2.0);
            let name = tb.add_output(&added).unwrap();
            assert_eq!(name, "HEADLESS-2");
            let moved = OutputSpec::new(1280, 1024).at(0, 1080);
            tb.set_output(&name, &moved).unwrap();
            let outputs = tb.outputs().unwrap();
            assert_eq!(outputs.len(), 2, "{outputs:?}");
            assert!(outputs.iter().any(|o| o.name == name && o.matches(&moved)));
        }
    }

    drop(tb);
    assert_eq!(processes_with_marker(&marker), Vec::<u32>::new());
}

#[test]
fn outputs_can_be_removed_where_the_compositor_allows_it() {
    let tb = bare_testbed()
        .output(OutputSpec::new(800, 600))
        .output(OutputSpec::new(640, 480).at(800, 0))
        .start()
        .expect("starting the testbed");
    if let Err(why) = tb.supports(Capability::RemoveOutput) {
        eprintln!("skipped: {why}");
        return;
    }
    tb.remove_output("HEADLESS-2").unwrap();
    let active: Vec<String> = tb
        .outputs()
        .unwrap()
        .into_iter()
        .filter(|o| o.active)
        .map(|o| o.name)
        .collect();
    assert_eq!(active, vec!["HEADLESS-1".to_owned()]);
    // The compositor lives on with the other output.
    tb.check_compositor().unwrap();
    assert!(tb.dead_components().is_empty());
}

#[test]
fn components_can_be_killed_and_stopped() {
    let mut tb = bare_testbed().start().expect("starting the testbed");
    let marker = tb.marker().to_owned();
    let pid = tb.pid(Component::WirePlumber).unwrap();
    tb.kill(Component::WirePlumber).unwrap();
    assert!(!tb.is_running(Component::WirePlumber));
    assert!(!processes_with_marker(&marker).contains(&pid));
    assert!(tb.kill(Component::WirePlumber).is_err());
    tb.stop(Component::PipeWire).unwrap();
    assert!(tb.pid(Component::PipeWire).is_none());
    assert!(tb.is_running(Component::Compositor));
    drop(tb);
    assert_eq!(processes_with_marker(&marker), Vec::<u32>::new());
}

#[test]
fn a_panic_while_holding_a_testbed_leaves_nothing_behind() {
    let marker = Mutex::new(None::<String>);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let tb = bare_testbed().start().expect("starting the testbed");
        *marker.lock().unwrap() = Some(tb.marker().to_owned());
        assert!(!processes_with_marker(tb.marker()).is_empty());
        panic!("deliberate panic with a live testbed");
    }));
    assert!(result.is_err());
    let marker = marker.lock().unwrap().clone().expect("the testbed came up");
    assert_eq!(processes_with_marker(&marker), Vec::<u32>::new());
    assert!(!std::path::Path::new(&marker).exists());
}

/// Mount points under `root` in the mount table `/proc/<who>/mounts`
/// (`self`, or a pid: on the testing stack the document portal mounts in
/// its sandbox's own mount namespace).
fn mounts_under(who: &str, root: &str) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{who}/mounts"))
        .unwrap()
        .lines()
        .filter_map(|line| line.split(' ').nth(1))
        .filter(|point| point.starts_with(root))
        .map(str::to_owned)
        .collect()
}

#[test]
fn frontend_comes_up_and_its_helpers_are_cleaned_up() {
    let mut tb = Testbed::builder()
        .without_ionchannel()
        .start()
        .expect("starting the testbed with the frontend");
    let marker = tb.marker().to_owned();
    assert!(tb.name_has_owner("org.freedesktop.portal.Desktop").unwrap());
    assert!(tb.is_running(Component::Frontend));
    let portal = std::fs::read_to_string(tb.paths().portals.join("ionchannel.portal")).unwrap();
    assert!(portal.contains("UseIn=ionlab;"), "{portal}");

    // The frontend activates the document portal, which mounts a FUSE file
    // system in the runtime dir (where /dev/fuse is usable). Kill it hard so
    // that its mount stays behind: teardown must still clean up.
    let documents = processes_with_marker(&marker).into_iter().find(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.starts_with("xdg-document"))
    });
    if let Some(pid) = documents {
        let doc = tb.runtime_dir().join("doc");
        tb.wait_for("the document portal's mount", &[], || {
            Ok(!mounts_under(&pid.to_string(), doc.to_str().unwrap()).is_empty())
        })
        .unwrap();
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }

    tb.stop(Component::Frontend).unwrap();
    tb.wait_for_name("org.freedesktop.portal.Desktop", false)
        .unwrap();
    tb.start_frontend().unwrap();

    drop(tb);
    assert_eq!(processes_with_marker(&marker), Vec::<u32>::new());
    assert_eq!(mounts_under("self", &marker), Vec::<String>::new());
    assert!(!std::path::Path::new(&marker).exists());
}

#[test]
fn probe_runs_in_the_session() {
    let tb = bare_testbed()
        .output(OutputSpec::new(640, 480))
        .output(OutputSpec::new(800, 600).at(640, 0).with_scale(2.0))
        .start()
        .expect("starting the testbed");
    let marker = tb.marker().to_owned();
    let probe = tb.start_probe().expect("starting ion-probe");
    assert!(probe.is_running());
    assert!(probe.ready_path().exists());
    assert!(probe.events_path().starts_with(tb.log_dir()));
    assert!(processes_with_marker(&marker).contains(&probe.pid()));
    let pid = probe.pid();
    drop(probe);
    assert!(!processes_with_marker(&marker).contains(&pid));
    drop(tb);
    assert_eq!(processes_with_marker(&marker), Vec::<u32>::new());
}

/// The whole stack, when the `ionchannel` binary has been built (it is
/// another package: `cargo build -p ionchannel`, or `IONCHANNEL_BIN`).
#[test]
fn full_stack_when_ionchannel_is_built() {
    if let Err(err) = ion_lab::testbed::find_workspace_bin("ionchannel") {
        eprintln!("skipped: {err:#}");
        return;
    }
    ensure_lab_user().unwrap();
    let backend = "org.freedesktop.impl.portal.desktop.ionchannel";
    let mut tb = Testbed::builder()
        .policy("# test policy\n")
        .start()
        .expect("starting the whole stack");
    let marker = tb.marker().to_owned();
    assert_eq!(
        std::fs::read_to_string(tb.policy_path()).unwrap(),
        "# test policy\n"
    );
    assert!(tb.name_has_owner(backend).unwrap());
    assert!(tb.name_has_owner("org.freedesktop.portal.Desktop").unwrap());
    let version = tb
        .dbus_send(&[
            "--dest=org.freedesktop.portal.Desktop",
            "/org/freedesktop/portal/desktop",
            "org.freedesktop.DBus.Properties.Get",
            "string:org.freedesktop.portal.RemoteDesktop",
            "string:version",
        ])
        .unwrap();
    assert!(version.contains("uint32"), "{version}");

    let before = tb.pid(Component::IonChannel).unwrap();
    tb.restart_ionchannel().unwrap();
    assert_ne!(tb.pid(Component::IonChannel).unwrap(), before);
    tb.kill(Component::IonChannel).unwrap();
    tb.wait_for_name(backend, false).unwrap();
    tb.start_ionchannel().unwrap();
    assert!(
        tb.dead_components().is_empty(),
        "{:?}",
        tb.dead_components()
    );

    drop(tb);
    assert_eq!(processes_with_marker(&marker), Vec::<u32>::new());
}
