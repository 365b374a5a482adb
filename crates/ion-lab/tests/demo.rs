//! The demo (`ionchannel-lab demo`) runs end to end and everything it sends
//! arrives at the probe. It drives the pointer as well as the keyboard:
//! on a compositor without a virtual pointer (the cosmic-comp stand-in) it
//! says why it does not run (the keyboard is covered there by the
//! remote_desktop, eis and libportal suites).

use anyhow::Result;
use ion_lab::demo::{self, DemoOptions};
use ion_lab::testbed::Compositor;

#[test]
fn the_demo_succeeds() -> Result<()> {
    let compositor = Compositor::from_env()?;
    if let Err(why) = compositor.virtual_pointer() {
        eprintln!(
            "SKIPPED the demo (it moves, clicks and scrolls the pointer): {compositor} \
             cannot inject pointer input: {why}"
        );
        return Ok(());
    }
    let mut out = Vec::new();
    let report = demo::run(&DemoOptions::default(), &mut out)?;
    let progress = String::from_utf8_lossy(&out);
    assert!(report.ok(), "{progress}\n{report}{}", report.verdict());
    assert_eq!(report.typed_text, demo::DEMO_TEXT);
    assert!(report.granted_devices & 3 == 3, "{progress}");
    assert!(progress.contains("Start → granted devices"), "{progress}");
    assert!(report.verdict().starts_with("demo: OK"));
    Ok(())
}
