//! The fuzz targets for a bounded time, as CI runs them (issue 14):
//! nothing panics and no invariant breaks. `ionchannel-lab fuzz
//! --minutes N` runs them longer.

use std::time::Duration;

use ion_lab::fuzz::{run, FuzzOptions, TARGETS};

#[test]
fn every_target_finds_nothing_in_a_bounded_run() {
    let report = run(&FuzzOptions {
        // 15 s a target (debug build): about 150 D-Bus sequences of 10–80
        // calls, 100 EIS connections, millions of file inputs.
        duration: Duration::from_secs(75),
        // A fixed seed: CI's run is the same every time, and a finding
        // replays with `ionchannel-lab fuzz --replay`.
        seed: 0x10c4_a22e,
        targets: Vec::new(),
    })
    .expect("fuzz run");
    for t in &report.targets {
        // An iteration of the D-Bus and EIS targets is a whole daemon.
        let floor = if matches!(t.name.as_str(), "dbus" | "eis") {
            20
        } else {
            100
        };
        assert!(
            t.iterations > floor,
            "{} ran only {} iterations",
            t.name,
            t.iterations
        );
    }
    assert!(report.clean(), "{report}");
    println!("{report}");
}

/// A target that breaks its invariant is reported with a seed that
/// replays it: the harness can fail.
#[test]
fn a_broken_invariant_is_a_finding_with_its_seed() {
    fn always_wrong(_: &mut rand::rngs::SmallRng) -> Result<(), String> {
        Err("wrong".into())
    }
    fn panics(_: &mut rand::rngs::SmallRng) -> Result<(), String> {
        panic!("boom")
    }
    let wrong = ion_lab::fuzz::Target {
        name: "wrong",
        what: "",
        run: always_wrong,
        reach: ion_lab::fuzz::no_reach,
    };
    assert_eq!(ion_lab::fuzz::replay(&wrong, 7), Err("wrong".into()));
    let boom = ion_lab::fuzz::Target {
        name: "boom",
        what: "",
        run: panics,
        reach: ion_lab::fuzz::no_reach,
    };
    let found = ion_lab::fuzz::replay(&boom, 7).unwrap_err();
    assert!(found.contains("panicked: boom"), "{found}");
    assert_eq!(TARGETS.len(), 5);
}
