//! `ionchannel-lab faults --cycles N` (issue 14): kill (SIGKILL) or freeze
//! (SIGSTOP, then SIGCONT) a component of the real stack at a random moment
//! of a session, then check the daemon's answer:
//!
//! - killing the compositor: the daemon exits as documented ("compositor
//!   gone", no panic; its sessions closed on the way), and the next cycle
//!   starts a new stack;
//! - anything else: the daemon serves on. A new session injects a key the
//!   probe sees and streams frames to a consumer (after PipeWire is
//!   restarted, as its service manager would, the daemon connects again);
//!   no key or button is held on the compositor; no consent dialog is left
//!   running; the grants file reads and still has every grant it had.
//!
//! Targets: the compositor, PipeWire, WirePlumber, the frontend, the
//! consumer of a stream and the consent dialog. Phases: between
//! CreateSession and Start, while frames stream, during an input burst
//! (Notify*, a modifier held), during an EIS burst, during a clipboard
//! transfer (desktop to remote, read slowly). Each cycle picks a
//! combination in turn (shuffled by the seed) and a random moment.
//!
//! The daemon's RSS, fds and threads are sampled after every cycle it
//! survived; the growth over the run is judged per daemon process.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::sample::{growth, sample, Growth, Sample};
use super::unreleased;
use crate::client::eis::{Capability as EisCap, EisClient};
use crate::client::{Clipboard, Persist, PortalClient, RemoteDesktop, ScreenCast, KEY_A};
use crate::expect::ProbeLog;
use crate::testbed::{
    processes_with_marker, Capability, Component, OutputSpec, ProbeHandle, Testbed,
};

const KEY_LEFTSHIFT: i32 = 42;
const WAIT: Duration = Duration::from_secs(10);
/// How long the idle daemon's CPU is watched after each cycle, and the
/// most it may use (it has nothing to do; a loop spinning on a closed
/// descriptor would take a whole CPU).
const IDLE_WINDOW: Duration = Duration::from_secs(1);
const IDLE_MAX: f64 = 0.10;
/// A whole phase's activity gives up after this (a frozen peer).
const ACTIVITY_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Target {
    Compositor,
    PipeWire,
    WirePlumber,
    Frontend,
    Consumer,
    Dialog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Action {
    Kill,
    Freeze,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Phase {
    Setup,
    Streaming,
    InputBurst,
    Eis,
    Clipboard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Plan {
    pub target: Target,
    pub action: Action,
    pub phase: Phase,
}

/// Every combination: the stack's components in every phase; the consumer
/// while it consumes; the dialog while it asks.
pub fn plans() -> Vec<Plan> {
    let mut all = Vec::new();
    for action in [Action::Kill, Action::Freeze] {
        for target in [
            Target::Compositor,
            Target::PipeWire,
            Target::WirePlumber,
            Target::Frontend,
        ] {
            for phase in [
                Phase::Setup,
                Phase::Streaming,
                Phase::InputBurst,
                Phase::Eis,
                Phase::Clipboard,
            ] {
                all.push(Plan {
                    target,
                    action,
                    phase,
                });
            }
        }
        all.push(Plan {
            target: Target::Consumer,
            action,
            phase: Phase::Streaming,
        });
        all.push(Plan {
            target: Target::Dialog,
            action,
            phase: Phase::Setup,
        });
    }
    all
}

#[derive(Debug, Clone, Serialize)]
pub enum Outcome {
    /// The daemon went on serving, and every check passed.
    ServedOn,
    /// The daemon exited as documented (the compositor is gone).
    Exited,
    /// The phase cannot run on this stack (why).
    NotRun(String),
    Failed(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    pub plan: Plan,
    pub outcome: Outcome,
    /// How the interrupted activity ended (errors are expected there).
    pub activity: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FaultReport {
    pub compositor: String,
    pub seed: u64,
    pub cycles: Vec<CycleReport>,
    /// Per daemon process that lived through cycles: its samples' growth.
    pub growth: Vec<Growth>,
}

#[derive(Debug, Clone)]
pub struct FaultOptions {
    pub cycles: usize,
    pub seed: u64,
    /// Only these targets (empty: all).
    pub targets: Vec<Target>,
    /// Leave out the faults that end the daemon (killing the compositor),
    /// so that one daemon lives through every cycle and its growth is
    /// judged over all of them.
    pub survivable: bool,
    pub keep_logs: bool,
}

impl FaultReport {
    pub fn failures(&self) -> Vec<&CycleReport> {
        self.cycles
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
            .collect()
    }

    pub fn grew(&self) -> bool {
        self.growth.iter().any(|g| !g.grew.is_empty())
    }
}

impl std::fmt::Display for FaultReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "ionchannel-lab faults on {}, seed {:#x}: {} cycles",
            self.compositor,
            self.seed,
            self.cycles.len()
        )?;
        writeln!(
            f,
            "{:<12} {:<7} {:>7} {:>9} {:>7} {:>8} {:>7}",
            "target", "action", "cycles", "served on", "exited", "not run", "FAILED"
        )?;
        let mut rows: BTreeMap<(Target, Action), [usize; 5]> = BTreeMap::new();
        for c in &self.cycles {
            let row = rows.entry((c.plan.target, c.plan.action)).or_default();
            row[0] += 1;
            let i = match c.outcome {
                Outcome::ServedOn => 1,
                Outcome::Exited => 2,
                Outcome::NotRun(_) => 3,
                Outcome::Failed(_) => 4,
            };
            row[i] += 1;
        }
        for ((target, action), row) in &rows {
            writeln!(
                f,
                "{:<12} {:<7} {:>7} {:>9} {:>7} {:>8} {:>7}",
                format!("{target:?}"),
                format!("{action:?}"),
                row[0],
                row[1],
                row[2],
                row[3],
                row[4]
            )?;
        }
        for c in &self.cycles {
            match &c.outcome {
                Outcome::Failed(why) => writeln!(f, "FAILED {:?}: {why}", c.plan)?,
                Outcome::NotRun(why) => writeln!(f, "not run {:?}: {why}", c.plan)?,
                _ => {}
            }
        }
        for g in &self.growth {
            writeln!(f, "daemon process over {} cycles it survived:", g.samples)?;
            writeln!(f, "{g}")?;
        }
        Ok(())
    }
}

/// A running stack for the cycles, until a fault ends it.
struct Bed {
    testbed: Testbed,
    _probe: ProbeHandle,
    log: ProbeLog,
    client: PortalClient,
    types: u32,
    eis: bool,
    clipboard: bool,
    pid: u32,
    /// Every grant stored so far: none may be lost.
    grants: Vec<String>,
    /// The policy with the chooser.
    policy: String,
    samples: Vec<Sample>,
}

fn grants_file(testbed: &Testbed) -> PathBuf {
    testbed.paths().data_home.join("ionchannel/grants.json")
}

fn grant_ids(testbed: &Testbed) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(grants_file(testbed)).context("reading the grants file")?;
    let file = ion_core::grants::GrantFile::parse(&text).context("parsing the grants file")?;
    Ok(file.grants.iter().map(|g| g.id.clone()).collect())
}

/// The user, played by a chooser command (the consent protocol's other
/// implementation, `[dialog] command`): allows every session, picks the
/// first output offered, and remembers it when the app asked to persist,
/// so that grants are written while faults happen. Returns the policy
/// that uses it.
fn install_chooser(testbed: &Testbed) -> Result<String> {
    let root = &testbed.paths().root;
    let script = root.join("chooser.sh");
    std::fs::write(
        &script,
        r#"#!/bin/sh
# Plays the user: allow, the first output offered, remember.
req=$(cat)
name=$(printf '%s' "$req" | sed -n 's/.*"outputs":\[{"name":"\([^"]*\)".*/\1/p')
if [ -n "$name" ]; then
  printf '{"allow":true,"outputs":["%s"],"remember":true}\n' "$name"
else
  echo '{"allow":true,"remember":true}'
fi
"#,
    )?;
    Ok(format!(
        "[dialog]\ncommand = [\"sh\", \"{}\"]\ntimeout = 30\n",
        script.display()
    ))
}

impl Bed {
    async fn start(keep_logs: bool) -> Result<Bed> {
        let testbed = Testbed::builder()
            .outputs([OutputSpec::new(1280, 720)])
            .keep_logs(keep_logs)
            .start()
            .context("starting the testbed")?;
        let probe = testbed.start_probe_with_args(&["--animate"])?;
        let log = ProbeLog::new(probe.events_path());
        let client = PortalClient::connect(testbed.bus_address()).await?;
        let types = if testbed.supports(Capability::VirtualPointer).is_ok() {
            3
        } else {
            1
        };
        let eis = RemoteDesktop::frontend_version(&client).await? >= 2;
        let clipboard = Clipboard::frontend_version(&client).await.is_some();
        let pid = testbed
            .program_pid(Component::IonChannel)
            .context("ionchannel is not running")?;
        let mut testbed = testbed;
        let policy = install_chooser(&testbed)?;
        testbed.set_policy(policy.clone())?;
        // A remembered grant, which no fault may lose.
        let rd = RemoteDesktop::create(&client).await?;
        rd.select_devices_persist(types, Some(&Persist::new(2, None)))
            .await?
            .ok()?;
        let (resp, _) = rd.start().await?;
        anyhow::ensure!(
            resp.code == 0,
            "the seeding session's Start answered {}",
            resp.code
        );
        rd.close().await?;
        if !grants_file(&testbed).exists() {
            // Frontends before 1.17 pass no persist_mode for RemoteDesktop
            // (Debian 12's 1.16): a remembered ScreenCast then.
            let sc = ScreenCast::create(&client).await?;
            sc.select_sources_persist(1, false, 1, &Persist::new(2, None))
                .await?
                .ok()?;
            let (resp, _) = sc.start().await?;
            anyhow::ensure!(
                resp.code == 0,
                "the seeding ScreenCast answered {}",
                resp.code
            );
            sc.close().await?;
        }
        let grants = grant_ids(&testbed)?;
        anyhow::ensure!(!grants.is_empty(), "no grant was stored");
        Ok(Bed {
            testbed,
            _probe: probe,
            log,
            client,
            types,
            eis,
            clipboard,
            pid,
            grants,
            policy,
            samples: Vec::new(),
        })
    }
}

pub fn run(opts: &FaultOptions, progress: &mut dyn Write) -> Result<FaultReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(faults(opts, progress))
}

async fn faults(opts: &FaultOptions, progress: &mut dyn Write) -> Result<FaultReport> {
    let mut rng = SmallRng::seed_from_u64(opts.seed);
    let mut all: Vec<Plan> = plans()
        .into_iter()
        .filter(|p| opts.targets.is_empty() || opts.targets.contains(&p.target))
        .filter(|p| {
            !(opts.survivable && p.target == Target::Compositor && p.action == Action::Kill)
        })
        .collect();
    if all.is_empty() {
        bail!("no fault plan for these targets");
    }
    all.shuffle(&mut rng);
    let mut bed: Option<Bed> = None;
    let mut cycles = Vec::new();
    let mut growths = Vec::new();
    let mut compositor = String::new();
    for i in 0..opts.cycles {
        let plan = all[i % all.len()];
        if bed.is_none() {
            bed = Some(Bed::start(opts.keep_logs).await?);
        }
        let Some(b) = bed.as_mut() else {
            bail!("no stack");
        };
        if compositor.is_empty() {
            compositor = b
                .testbed
                .compositor_version()
                .map_or_else(|_| b.testbed.compositor().to_string(), |v| v.short());
        }
        let started = Instant::now();
        let (outcome, activity) = match cycle(b, plan, &mut rng).await {
            Ok(r) => r,
            Err(e) => (Outcome::Failed(format!("{e:#}")), String::new()),
        };
        let report = CycleReport {
            plan,
            outcome,
            activity,
            seconds: started.elapsed().as_secs_f64(),
        };
        writeln!(
            progress,
            "faults: cycle {:>3}/{}: {:?} {:?} during {:?}: {:?} ({:.1} s; the activity: {})",
            i + 1,
            opts.cycles,
            plan.action,
            plan.target,
            plan.phase,
            report.outcome,
            report.seconds,
            report.activity
        )?;
        let failed = matches!(report.outcome, Outcome::Failed(_));
        let ended = matches!(report.outcome, Outcome::Exited) || failed;
        if !ended {
            b.samples.push(sample(b.pid, b.samples.len() as f64)?);
        }
        if ended {
            if failed {
                b.testbed.dump_logs();
            }
            if let Some(old) = bed.take() {
                if old.samples.len() >= 8 {
                    growths.push(growth(&old.samples));
                }
            }
        }
        cycles.push(report);
    }
    if let Some(old) = bed.take() {
        if old.samples.len() >= 8 {
            growths.push(growth(&old.samples));
        }
    }
    Ok(FaultReport {
        compositor,
        seed: opts.seed,
        cycles,
        growth: growths,
    })
}

/// What a phase set up before the fault: kept alive until the checks.
#[derive(Default)]
struct Held<'a> {
    rd: Option<RemoteDesktop<'a>>,
    consumer: Option<crate::testbed::ConsumerHandle>,
    eis: Option<EisClient>,
}

async fn cycle(b: &mut Bed, plan: Plan, rng: &mut SmallRng) -> Result<(Outcome, String)> {
    let Bed {
        testbed,
        log,
        client,
        types,
        eis,
        clipboard,
        grants,
        policy,
        ..
    } = b;
    let types = *types;
    match plan.phase {
        Phase::Eis if !*eis => {
            return Ok((
                Outcome::NotRun("the frontend has no ConnectToEIS (1.17+)".into()),
                String::new(),
            ))
        }
        Phase::Clipboard if !*clipboard => {
            return Ok((
                Outcome::NotRun("the frontend has no Clipboard portal (1.20+)".into()),
                String::new(),
            ))
        }
        _ => {}
    }
    if plan.target == Target::Dialog {
        // No rule: the bundled dialog asks.
        testbed.set_policy("# no rules: the dialog decides\n")?;
    }
    // Before the phase: what it needs running.
    let mut held = Held::default();
    match plan.phase {
        // The session exists; the fault comes between SelectDevices and
        // Start's answer.
        Phase::Setup => held.rd = Some(RemoteDesktop::create(client).await?),
        Phase::Streaming => {
            let rd = RemoteDesktop::create(client).await?;
            rd.select_devices(types).await?.ok()?;
            rd.select_sources(1, false, 2).await?.ok()?;
            let (resp, results) = rd.start().await?;
            anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
            let node = results
                .and_then(|r| r.streams.first().map(|s| s.node_id))
                .context("no stream")?;
            let consumer = testbed.start_consumer(node, false, &[])?;
            consumer.wait_for("frames", WAIT, |f| (f.len() >= 3).then_some(()))?;
            held.rd = Some(rd);
            held.consumer = Some(consumer);
        }
        Phase::InputBurst | Phase::Eis | Phase::Clipboard => {
            let rd = RemoteDesktop::create(client).await?;
            rd.select_devices(types).await?.ok()?;
            if plan.phase == Phase::Clipboard {
                Clipboard::of(&rd).request().await?;
            }
            let (resp, _) = rd.start().await?;
            anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
            log.wait_capabilities(types & 2 != 0, true).await?;
            if plan.phase == Phase::Eis {
                let fd = rd.connect_to_eis().await?;
                let mut c = EisClient::connect(fd, "ionchannel-lab faults").await?;
                c.bind_waiting(
                    EisCap::Keyboard | EisCap::Pointer | EisCap::Button,
                    EisCap::Keyboard.into(),
                )
                .await?;
                held.eis = Some(c);
            }
            if plan.phase == Phase::Clipboard {
                wl_copy(testbed, &vec![b'x'; 4 << 20])?;
            }
            held.rd = Some(rd);
        }
    }
    let consumer_pid = held.consumer.as_ref().map(|c| c.pid());
    let delay = Duration::from_millis(rng.random_range(0..600));
    let freeze = Duration::from_millis(rng.random_range(300..2500));
    let marker = testbed.marker().to_owned();
    // A dialog that was only frozen still waits for a person after it
    // thaws: the app gives up then, as a person's app would close.
    let limit = if plan.target == Target::Dialog && plan.action == Action::Freeze {
        delay + freeze + Duration::from_secs(5)
    } else {
        ACTIVITY_LIMIT
    };
    let mut eis_client = held.eis.take();
    // The phase's activity, with the fault at a random moment of it.
    let activity = async {
        let work = async {
            match plan.phase {
                Phase::Setup => {
                    let rd = held.rd.as_ref().context("no session")?;
                    rd.select_devices_persist(types, Some(&Persist::new(2, None)))
                        .await?
                        .ok()?;
                    rd.select_sources(1, false, 2).await?.ok()?;
                    let (resp, _) = rd.start().await?;
                    Ok(format!("Start answered {}", resp.code))
                }
                Phase::Streaming => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Ok("streamed 2 s".to_owned())
                }
                Phase::InputBurst => {
                    let rd = held.rd.as_ref().context("no session")?;
                    rd.keycode(KEY_LEFTSHIFT, true).await?;
                    for i in 0..150 {
                        rd.keycode(KEY_A, true).await?;
                        if types & 2 != 0 {
                            rd.pointer_motion(if i % 2 == 0 { 2.0 } else { -2.0 }, 0.0)
                                .await?;
                            if i % 10 == 0 {
                                rd.pointer_button(crate::client::BTN_LEFT, true).await?;
                                rd.pointer_button(crate::client::BTN_LEFT, false).await?;
                            }
                        }
                        rd.keycode(KEY_A, false).await?;
                    }
                    rd.keycode(KEY_LEFTSHIFT, false).await?;
                    Ok("the burst ended".to_owned())
                }
                Phase::Eis => Ok("see the EIS burst".to_owned()),
                Phase::Clipboard => {
                    let rd = held.rd.as_ref().context("no session")?;
                    let clip = Clipboard::of(rd);
                    let deadline = Instant::now() + WAIT;
                    let fd = loop {
                        match clip.selection_read("text/plain").await {
                            Ok(fd) => break fd,
                            Err(e) if Instant::now() > deadline => return Err(e),
                            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                        }
                    };
                    // Read slowly, as a remote side on a slow link.
                    let got = tokio::task::spawn_blocking(move || {
                        let mut f = std::fs::File::from(fd);
                        let mut buf = vec![0u8; 64 << 10];
                        let mut total = 0usize;
                        loop {
                            match f.read(&mut buf) {
                                Ok(0) => return Ok(total),
                                Ok(n) => total += n,
                                Err(e) => return Err(e),
                            }
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    })
                    .await?;
                    Ok(format!("the transfer ended: {got:?}"))
                }
            }
        };
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => format!("ended with: {e:#}"),
            Err(_) => format!("still running after {limit:?}"),
        }
    };
    let eis_burst = async {
        if let Some(c) = eis_client.as_mut() {
            let mut burst = || -> Result<()> {
                c.key(KEY_LEFTSHIFT as u32, true)?;
                for _ in 0..300 {
                    c.key(KEY_A as u32, true)?;
                    c.key(KEY_A as u32, false)?;
                    c.flush()?;
                }
                c.key(KEY_LEFTSHIFT as u32, false)?;
                c.flush()
            };
            for _ in 0..10 {
                if burst().is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let fault = inject(testbed, plan, delay, freeze, consumer_pid, &marker);
    let (activity, (), fault) = tokio::join!(activity, eis_burst, fault);
    fault?;
    held.eis = eis_client;
    let parts = Parts {
        testbed,
        log,
        client,
        grants,
        policy,
    };
    finish(parts, plan, held, activity, types).await
}

/// The stack's parts a cycle's checks use.
struct Parts<'a> {
    testbed: &'a mut Testbed,
    log: &'a ProbeLog,
    client: &'a PortalClient,
    /// The grants stored so far.
    grants: &'a mut Vec<String>,
    policy: &'a str,
}

/// Kills or freezes `plan.target` after `delay`.
async fn inject(
    testbed: &mut Testbed,
    plan: Plan,
    delay: Duration,
    freeze: Duration,
    consumer: Option<u32>,
    marker: &str,
) -> Result<()> {
    tokio::time::sleep(delay).await;
    let signal = |pids: &[u32], sig: i32| {
        for pid in pids {
            // SAFETY: kill(2) with a pid we found and a valid signal.
            unsafe {
                libc::kill(*pid as i32, sig);
            }
        }
    };
    let component = match plan.target {
        Target::Compositor => Some(Component::Compositor),
        Target::PipeWire => Some(Component::PipeWire),
        Target::WirePlumber => Some(Component::WirePlumber),
        Target::Frontend => Some(Component::Frontend),
        Target::Consumer | Target::Dialog => None,
    };
    let pids: Vec<u32> = match plan.target {
        Target::Consumer => consumer.into_iter().collect(),
        Target::Dialog => {
            // Wait for the dialog the Start asked for.
            let deadline = Instant::now() + WAIT;
            loop {
                let found = dialog_pids(marker);
                if !found.is_empty() {
                    break found;
                }
                if Instant::now() > deadline {
                    bail!("no consent dialog appeared");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        _ => Vec::new(),
    };
    match (plan.action, component) {
        (Action::Kill, Some(c)) => testbed.kill(c)?,
        (Action::Freeze, Some(c)) => {
            testbed.signal(c, libc::SIGSTOP)?;
            tokio::time::sleep(freeze).await;
            testbed.signal(c, libc::SIGCONT)?;
        }
        (Action::Kill, None) => signal(&pids, libc::SIGKILL),
        (Action::Freeze, None) => {
            signal(&pids, libc::SIGSTOP);
            tokio::time::sleep(freeze).await;
            signal(&pids, libc::SIGCONT);
        }
    }
    Ok(())
}

/// The consent dialog's processes (its shim's too) in this testbed.
fn dialog_pids(marker: &str) -> Vec<u32> {
    processes_with_marker(marker)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("ionchannel-consent"))
        })
        .collect()
}

/// After the fault: recovery as a service manager would do it, then the
/// checks.
async fn finish(
    p: Parts<'_>,
    plan: Plan,
    mut held: Held<'_>,
    activity: String,
    types: u32,
) -> Result<(Outcome, String)> {
    let Parts {
        testbed,
        log,
        client,
        grants,
        policy,
    } = p;
    let ion_log = testbed.log_path(Component::IonChannel);
    if plan.target == Target::Compositor && plan.action == Action::Kill {
        drop(held);
        let gone = testbed.wait_for("ionchannel to leave", &[], || {
            Ok(!testbed.is_running(Component::IonChannel))
        });
        let text = std::fs::read_to_string(&ion_log)?;
        if let Err(e) = gone {
            return Ok((
                Outcome::Failed(format!("the daemon did not leave: {e:#}")),
                activity,
            ));
        }
        if text.contains("panicked") {
            return Ok((Outcome::Failed("the daemon panicked".into()), activity));
        }
        if !text.contains("compositor gone") {
            return Ok((
                Outcome::Failed("the daemon left without saying the compositor is gone".into()),
                activity,
            ));
        }
        return Ok((Outcome::Exited, activity));
    }
    if plan.action == Action::Kill {
        match plan.target {
            Target::PipeWire => testbed.restart_media()?,
            Target::WirePlumber => testbed.restart_wireplumber()?,
            Target::Frontend => {
                // The bus drops the dead frontend's name a moment later.
                testbed.wait_for_name(crate::testbed::FRONTEND_NAME, false)?;
                testbed.start_frontend()?
            }
            _ => {}
        }
    }
    // The phase's session ends; the app's EIS client hangs up.
    if let Some(mut c) = held.eis.take() {
        let _ = c.disconnect();
    }
    if let Some(rd) = held.rd.take() {
        let _ = rd.close().await;
    }
    if let Some(c) = held.consumer.take() {
        c.kill();
    }
    if plan.target == Target::Dialog {
        testbed.set_policy(policy)?;
    }
    let fail = |why: String| Ok((Outcome::Failed(why), activity.clone()));
    if !testbed.is_running(Component::IonChannel) {
        return fail(format!(
            "the daemon exited: {}",
            testbed
                .dead_components()
                .iter()
                .map(|(c, s)| format!("{c} {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if std::fs::read_to_string(&ion_log)?.contains("panicked") {
        return fail("the daemon panicked".into());
    }
    // Nothing held on the compositor.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let held = unreleased(&log.records()?);
        if held.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return fail(format!("input stuck on the compositor: {held:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No dialog left behind.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dialog_pids(testbed.marker()).is_empty() {
        if Instant::now() > deadline {
            return fail("a consent dialog is still running after its session ended".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The grants are all there.
    match grant_ids(testbed) {
        Err(e) => return fail(format!("grants file: {e:#}")),
        Ok(ids) => {
            if let Some(lost) = grants.iter().find(|g| !ids.contains(g)) {
                return fail(format!("the stored grant {lost} was lost"));
            }
            *grants = ids;
        }
    }
    // It serves on: input reaches the compositor, a stream has frames.
    if let Err(e) = serves(testbed, log, client, types).await {
        return fail(format!("does not serve on: {e:#}"));
    }
    // And idles: no loop left spinning on a dead peer's descriptor.
    if let Some(pid) = testbed.program_pid(Component::IonChannel) {
        let before = crate::bench::procstat::cpu_us(pid)?;
        tokio::time::sleep(IDLE_WINDOW).await;
        let used = crate::bench::procstat::cpu_us(pid)?.saturating_sub(before);
        let share = used as f64 / IDLE_WINDOW.as_micros() as f64;
        if share > IDLE_MAX {
            return fail(format!(
                "the daemon uses {:.0} % of a CPU with no session",
                share * 100.0
            ));
        }
    }
    Ok((Outcome::ServedOn, activity))
}

async fn serves(
    testbed: &Testbed,
    log: &ProbeLog,
    client: &PortalClient,
    types: u32,
) -> Result<()> {
    let mark = log.mark()?;
    let rd = RemoteDesktop::create(client).await?;
    rd.select_devices_persist(types, Some(&Persist::new(2, None)))
        .await?
        .ok()?;
    rd.select_sources(1, false, 1).await?.ok()?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    log.wait_capabilities(types & 2 != 0, true).await?;
    rd.keycode(KEY_A, true).await?;
    rd.keycode(KEY_A, false).await?;
    log.wait_since(mark, WAIT, "a key tap", |r| {
        super::key_events(r)
            .any(|(k, p)| k == KEY_A as u32 && !p)
            .then_some(())
    })
    .await?;
    let node = results
        .and_then(|r| r.streams.first().map(|s| s.node_id))
        .context("Start gave no stream")?;
    let consumer = testbed.start_consumer(node, false, &[])?;
    consumer.wait_for("a frame", WAIT, |f| (!f.is_empty()).then_some(()))?;
    consumer.kill();
    rd.close().await?;
    // ScreenCast alone too.
    let sc = ScreenCast::create(client).await?;
    sc.select_sources(1, false, 1).await?.ok()?;
    let (resp, _) = sc.start().await?;
    anyhow::ensure!(resp.code == 0, "ScreenCast Start answered {}", resp.code);
    sc.close().await?;
    Ok(())
}

/// `wl-copy --type text/plain` of `data`: a local app's selection.
fn wl_copy(testbed: &Testbed, data: &[u8]) -> Result<()> {
    let mut copy = testbed.command("wl-copy");
    copy.args(["--type", "text/plain"])
        .stdin(std::process::Stdio::piped());
    let mut child = copy.spawn().context("wl-copy (Debian: wl-clipboard)")?;
    child
        .stdin
        .take()
        .context("wl-copy's stdin")?
        .write_all(data)?;
    let status = child.wait()?;
    anyhow::ensure!(status.success(), "wl-copy: {status}");
    Ok(())
}
