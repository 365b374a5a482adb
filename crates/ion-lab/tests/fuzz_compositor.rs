//! The D-Bus fuzz target against the real compositor of this run
//! (IONLAB_COMPOSITOR; every stack), bounded (issue 14): random call
//! sequences drive the daemon's own Wayland thread, and the compositor
//! never ends our connection over a request (no protocol error), nothing
//! panics, every call is answered and the session table stays right.
//! `ionchannel-lab fuzz --compositor --minutes N` runs it longer.

use std::time::Duration;

#[test]
fn the_compositor_never_refuses_what_fuzzed_calls_make_us_send() {
    let report = ion_lab::fuzz::compositor::run(
        Duration::from_secs(20),
        0x14_c0,
        None,
        &mut std::io::stderr(),
    )
    .expect("the fuzz run ran");
    println!("{report}");
    assert!(report.targets[0].iterations >= 10, "{report}");
    assert!(report.clean(), "{report}");
}
