//! The soak, bounded (issue 14): sessions opened and closed in a loop on
//! one daemon, with frames consumed, key taps through Notify* and EIS,
//! and the daemon's RSS, fds and threads judged for growth. Two minutes
//! on the testing stack's sway (every path: pointer, EIS), half a minute
//! elsewhere; `ionchannel-lab soak --minutes 60` is the long run.

use std::time::Duration;

use ion_lab::endurance::soak::{run, SoakOptions};

#[test]
fn sessions_in_a_loop_leave_nothing_behind() {
    let full = std::env::var("IONLAB_STACK").as_deref() == Ok("testing")
        && std::env::var("IONLAB_COMPOSITOR").as_deref() == Ok("sway");
    let opts = SoakOptions {
        duration: Duration::from_secs(if full { 120 } else { 30 }),
        keep_logs: false,
    };
    let report = run(&opts, &mut std::io::stderr()).expect("the soak ran");
    println!("{report}");
    assert!(report.cycles >= 10, "only {} cycles", report.cycles);
    assert!(!report.grew(), "{report}");
}
