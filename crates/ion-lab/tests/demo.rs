//! The demo (`ionchannel-lab demo`) runs end to end and everything it sends
//! arrives at the probe.

use anyhow::Result;
use ion_lab::demo::{self, DemoOptions};

#[test]
fn the_demo_succeeds() -> Result<()> {
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
