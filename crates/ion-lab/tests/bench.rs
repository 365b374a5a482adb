//! The benchmark commands run end to end (short phases): their figures
//! are produced and consistent. Speed itself is reported, not asserted.

use std::time::Duration;

use anyhow::Result;
use ion_lab::bench::input::{self, InputBenchOptions};
use ion_lab::bench::screencast::{run, ScreenCastBenchOptions};

#[test]
fn screencast_bench_produces_its_figures() -> Result<()> {
    let opts = ScreenCastBenchOptions {
        duration: Duration::from_secs(1),
        ..ScreenCastBenchOptions::default()
    };
    let report = run(&opts, &mut std::io::sink())?;
    let table = report.to_string();
    assert_eq!(report.phases.len(), 3, "{table}");
    let animated = &report.phases[0];
    assert!(animated.frames > 5, "{table}");
    let latency = animated.latency_us.expect("latency measured");
    assert!(latency.samples > 5, "{table}");
    let delivery = animated.delivery_us.expect("delivery measured");
    assert!(delivery.p50 <= latency.p50, "{table}");
    let capped = &report.phases[1];
    assert!(capped.consumer_fps <= 32.0, "{table}");
    let still = &report.phases[2];
    assert_eq!(still.frames, 0, "a static screen sends nothing: {table}");
    assert!(report.memory_after.rss_kib > 0, "{table}");
    Ok(())
}

/// The input benchmark's pipelined and paced rows (calls not awaited, so
/// the frontend reorders them) leave nothing held, and every event sent
/// arrives or is accounted for (on frontends with ConnectToEIS, the EIS
/// rows too).
#[test]
fn input_bench_leaves_nothing_held() -> Result<()> {
    // Its latency rows move the pointer (and park it before the keys).
    let compositor = ion_lab::testbed::Compositor::from_env()?;
    if let Err(why) = compositor.virtual_pointer() {
        eprintln!(
            "SKIPPED the input benchmark (it measures pointer motion too): {compositor} \
             cannot inject pointer input: {why}"
        );
        return Ok(());
    }
    let opts = InputBenchOptions {
        latency_events: 50,
        throughput_events: 4000,
        ..InputBenchOptions::default()
    };
    let report = input::run(&opts, &mut std::io::sink())?;
    let table = report.to_string();
    println!("{table}");
    assert!(report.throughput.len() >= 3, "{table}");
    for t in &report.throughput {
        assert_eq!(
            t.held_at_end, 0,
            "{}: keys held at the end\n{table}",
            t.mode
        );
        // What did not arrive was refused by the rate limit (with the
        // release of each refused press) or dropped by order repair as
        // strays: nothing vanishes.
        let explained = 2 * t.rate_limited + t.stray_releases as usize + t.dropped_presses as usize;
        assert!(
            t.lost <= explained + t.dropped_redundant,
            "{}: {} lost, {} explained\n{table}",
            t.mode,
            t.lost,
            explained
        );
    }
    Ok(())
}
