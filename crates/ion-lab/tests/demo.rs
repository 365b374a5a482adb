//! The demo (`ionchannel-lab demo`) runs end to end and everything it sends
//! arrives at the probe. On a compositor without a virtual pointer (the
//! cosmic-comp stand-in) Start grants the keyboard alone: the demo says
//! that the pointer is not available there, leaves the pointer steps out
//! and still types its text and has Ctrl released at Close.

use anyhow::Result;
use ion_lab::demo::{self, DemoOptions};
use ion_lab::testbed::Compositor;

#[test]
fn the_demo_succeeds() -> Result<()> {
    let pointer = match Compositor::from_env()?.virtual_pointer() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("the demo's pointer steps are left out: {why}");
            false
        }
    };
    let mut out = Vec::new();
    let report = demo::run(&DemoOptions::default(), &mut out)?;
    let progress = String::from_utf8_lossy(&out);
    assert!(report.ok(), "{progress}\n{report}{}", report.verdict());
    assert_eq!(report.typed_text, demo::DEMO_TEXT);
    assert!(progress.contains("Start → granted devices"), "{progress}");
    if pointer {
        assert!(report.granted_devices & 3 == 3, "{progress}");
        assert_eq!(report.pointer_left_out, None);
    } else {
        assert_eq!(report.granted_devices & 3, 1, "{progress}");
        assert!(
            progress.contains("pointer steps left out: the pointer is not available on this compositor (AvailableDeviceTypes 1: keyboard"),
            "{progress}"
        );
        assert!(report.pointer_left_out.is_some());
        assert!(report.buttons.is_empty() && report.motions == 0, "{report}");
        assert_eq!(report.released_at_close, vec!["KEY_LEFTCTRL"], "{report}");
    }
    assert!(report.verdict().starts_with("demo: OK"));
    Ok(())
}
