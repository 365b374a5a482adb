//! Shared set-up of the end-to-end tests: a testbed with two outputs of
//! different sizes, the probe on both, and a portal client.

#![allow(dead_code)]

pub mod chooser;

use std::time::Duration;

use anyhow::Result;
use ion_lab::client::{PortalClient, RemoteDesktop};
use ion_lab::expect::ProbeLog;
use ion_lab::probe::record::{AxisName, Event, PressState, Record};
use ion_lab::testbed::{Capability, OutputSpec, ProbeHandle, Testbed};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct World {
    /// Set by [`World::done`]; a World dropped without it (a test that
    /// returned an error or panicked) dumps every component's log.
    passed: bool,
    pub client: PortalClient,
    pub log: ProbeLog,
    pub probe: ProbeHandle,
    // Dropped last: tears the session down.
    pub testbed: Testbed,
}

pub fn two_outputs() -> Vec<OutputSpec> {
    vec![
        OutputSpec::new(1920, 1080).at(0, 0),
        OutputSpec::new(1280, 720).at(1920, 0),
    ]
}

pub async fn world() -> Result<World> {
    world_with(Testbed::builder().outputs(two_outputs())).await
}

pub async fn world_with(builder: ion_lab::testbed::TestbedBuilder) -> Result<World> {
    world_with_probe(builder, &[]).await
}

/// [`world_with_probe`] whose ionChannel captures the way `forced` says
/// (`IONCHANNEL_CAPTURE`; None: its own choice). None, and why (printed),
/// when the compositor has no such capture protocol.
pub async fn world_capturing(
    mut builder: ion_lab::testbed::TestbedBuilder,
    forced: Option<&str>,
    probe_args: &[&str],
) -> Result<Option<World>> {
    if let Some(path) = forced {
        builder = builder.ionchannel_env("IONCHANNEL_CAPTURE", path);
    }
    let w = world_with_probe(builder, probe_args).await?;
    if forced.is_some() {
        if let Err(why) = w.testbed.supports(Capability::WlrScreencopy) {
            eprintln!("SKIPPED the forced wlr-screencopy run: {why}");
            w.done()?;
            return Ok(None);
        }
    }
    Ok(Some(w))
}

/// [`world_with`] with extra arguments for the probe (`--animate`,
/// `--keep-cursor`).
pub async fn world_with_probe(
    builder: ion_lab::testbed::TestbedBuilder,
    probe_args: &[&str],
) -> Result<World> {
    let testbed = builder.start()?;
    let probe = testbed.start_probe_with_args(probe_args)?;
    let log = ProbeLog::new(probe.events_path());
    let client = PortalClient::connect(testbed.bus_address()).await?;
    Ok(World {
        passed: false,
        client,
        log,
        probe,
        testbed,
    })
}

/// The device types ionChannel can inject on this compositor, as
/// AvailableDeviceTypes must say: keyboard (1) everywhere, pointer (2) only
/// where the compositor has a virtual pointer (not on the cosmic-comp
/// stand-in, as not on cosmic-comp). Touch is never offered.
pub fn injectable(testbed: &Testbed) -> u32 {
    match testbed.supports(Capability::VirtualPointer) {
        Ok(()) => 3,
        Err(_) => 1,
    }
}

/// Whether pointer input can be tested on this compositor. When it cannot,
/// prints that `what` does not run here and why, naming the compositor
/// (the reason of [`Testbed::supports`]), so that a test never passes
/// silently on a compositor without a pointer.
pub fn pointer_runs(testbed: &Testbed, what: &str) -> bool {
    match testbed.supports(Capability::VirtualPointer) {
        Ok(()) => true,
        Err(why) => {
            eprintln!("SKIPPED {what}: {why}");
            false
        }
    }
}

/// CreateSession → SelectDevices(types) → Start, as RustDesk does; waits
/// until the probe has bound the new devices. Start must grant exactly what
/// was asked for that this compositor can inject ([`injectable`]): on one
/// without a virtual pointer, a session asking for the pointer gets the
/// keyboard only.
pub async fn started(w: &World, types: u32) -> Result<RemoteDesktop<'_>> {
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(types).await?.ok()?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    let devices = results.map(|r| r.devices).unwrap_or(0);
    let expected = types & injectable(&w.testbed) & 3;
    anyhow::ensure!(
        devices & 3 == expected,
        "granted devices {devices}, expected {expected} (asked for {types} on {})",
        w.testbed
            .compositor_version()
            .map_or_else(|_| w.testbed.compositor().to_string(), |v| v.short())
    );
    w.log
        .wait_capabilities(expected & 2 != 0, expected & 1 != 0)
        .await?;
    Ok(rd)
}

/// Keys the probe saw after `since`: (keycode, pressed, utf8, mods).
pub fn keys(recs: &[Record]) -> Vec<(u32, bool, String, Vec<String>)> {
    recs.iter()
        .filter_map(|r| match &r.event {
            Event::Key {
                keycode,
                state,
                utf8,
                mods,
                ..
            } => Some((
                *keycode,
                *state == PressState::Pressed,
                utf8.clone(),
                mods.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// Pointer positions the probe saw: (output, x, y).
pub fn motions(recs: &[Record]) -> Vec<(String, f64, f64)> {
    recs.iter()
        .filter_map(|r| match &r.event {
            Event::Motion { output, x, y, .. } | Event::PointerEnter { output, x, y } => {
                Some((output.clone(), *x, *y))
            }
            _ => None,
        })
        .collect()
}

pub fn buttons(recs: &[Record]) -> Vec<(u32, bool)> {
    recs.iter()
        .filter_map(|r| match &r.event {
            Event::Button { button, state, .. } => Some((*button, *state == PressState::Pressed)),
            _ => None,
        })
        .collect()
}

impl World {
    /// Ends a test that passed.
    /// The test passed, provided ionChannel did not crash along the way
    /// (a panic, or death by SIGSEGV/SIGABRT — directly, or as the exit
    /// status a sandbox wrapper passes on).
    /// Whether the tests run on the Debian testing stack (test.sh sets
    /// IONLAB_STACK), where the compositors have ext-image-copy-capture.
    pub fn testing_stack(&self) -> bool {
        std::env::var("IONLAB_STACK").is_ok_and(|s| s == "testing")
    }

    /// The capture protocol ionChannel chose, from its log
    /// ("ext-image-copy-capture", "wlr-screencopy" or "none").
    pub fn capture_path(&self) -> Option<String> {
        use ion_lab::testbed::Component;
        let log = std::fs::read_to_string(self.testbed.log_path(Component::IonChannel)).ok()?;
        let line = log
            .lines()
            .find(|l| l.contains("connected to the compositor"))?;
        let rest = line.split("capture=\"").nth(1)?;
        Some(rest.split('"').next()?.to_owned())
    }

    /// Whether a third-party `app` from the Debian testing rootfs can run
    /// here (`missing`: why the rootfs lacks it); prints why not.
    pub fn app_runs_here(&self, app: &str, missing: Option<String>) -> bool {
        if !self.testing_stack() {
            eprintln!(
                "SKIPPED: {app} comes from the Debian testing rootfs; this is the host stack"
            );
            return false;
        }
        if let Some(why) = missing {
            eprintln!("SKIPPED: {why}");
            return false;
        }
        true
    }

    pub fn done(mut self) -> Result<()> {
        use ion_lab::testbed::Component;
        let log = std::fs::read_to_string(self.testbed.log_path(Component::IonChannel))
            .unwrap_or_default();
        let crashed_log = ["panicked", "Segmentation fault", "Aborted"]
            .iter()
            .find(|m| log.contains(*m));
        let crashed_exit = self
            .testbed
            .dead_components()
            .into_iter()
            .find(|(c, state)| {
                *c == Component::IonChannel
                    && ["signal: 11", "signal: 6", "status: 139", "status: 134"]
                        .iter()
                        .any(|m| state.contains(m))
            });
        anyhow::ensure!(
            crashed_log.is_none() && crashed_exit.is_none(),
            "ionchannel crashed: {crashed_log:?} {crashed_exit:?}"
        );
        self.passed = true;
        Ok(())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // A panic dumps through the testbed's own Drop; an Err does not.
        if !self.passed && !std::thread::panicking() {
            eprintln!("test failed: logs of every component follow");
            self.testbed.dump_logs();
            eprintln!("probe events: {}", self.probe.events_path().display());
        }
    }
}

/// Wheel steps the probe saw: (axis, clicks), from discrete or value120
/// events.
pub fn scrolls(recs: &[Record]) -> Vec<(AxisName, i32)> {
    recs.iter()
        .filter_map(|r| match r.event {
            Event::AxisDiscrete { axis, discrete } => Some((axis, discrete)),
            Event::AxisValue120 { axis, value120 } => Some((axis, value120 / 120)),
            _ => None,
        })
        .collect()
}

/// ionChannel's log once it holds `needle`, or as it is after 5 s (the
/// caller's assertions then say what is missing).
pub async fn ionchannel_log_once(w: &World, needle: &str) -> Result<String> {
    let path = w.testbed.log_path(ion_lab::testbed::Component::IonChannel);
    let mut log = String::new();
    for _ in 0..100 {
        log = std::fs::read_to_string(&path)?;
        if log.contains(needle) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(log)
}

/// A stream as ionChannel's log announced it ("stream node ready").
#[derive(Debug, Clone)]
pub struct LoggedStream {
    pub session: String,
    pub source: String,
    pub node: u32,
}

/// The last stream ionChannel made, of `source` when given.
pub fn last_stream(tb: &Testbed, source: Option<&str>) -> Result<LoggedStream> {
    use anyhow::Context;
    let log = std::fs::read_to_string(tb.log_path(ion_lab::testbed::Component::IonChannel))?;
    let field = |line: &str, name: &str| {
        line.split(&format!(" {name}="))
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .map(str::to_owned)
    };
    let line = log
        .lines()
        .rev()
        .filter(|l| l.contains("stream node ready"))
        .find(|l| source.is_none_or(|s| field(l, "source").as_deref() == Some(s)))
        .with_context(|| format!("no stream of {source:?} in ionChannel's log"))?;
    Ok(LoggedStream {
        session: field(line, "session").context("no session in the line")?,
        source: field(line, "source").context("no source in the line")?,
        node: field(line, "node_id")
            .context("no node in the line")?
            .parse()?,
    })
}
