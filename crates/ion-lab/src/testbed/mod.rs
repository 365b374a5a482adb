//! The testbed: an isolated headless Wayland session built from the
//! machine's packages, for tests and for `ionchannel-lab up`.
//!
//! A [`Testbed`] owns a private temp root (runtime dir, XDG dirs, logs), a
//! private session bus (`dbus-daemon`), PipeWire and WirePlumber, a headless
//! compositor (sway, labwc, or the cosmic-comp stand-in
//! `ion-cosmic-profile`, see [`Compositor`]) with the requested
//! outputs, and optionally ionChannel (`ionchannel serve`) and the real
//! xdg-desktop-portal frontend routed to it.
//!
//! ```no_run
//! use ion_lab::testbed::{OutputSpec, Testbed};
//! # fn main() -> anyhow::Result<()> {
//! let tb = Testbed::builder()
//!     .output(OutputSpec::new(1920, 1080))
//!     .output(OutputSpec::new(1280, 720).at(1920, 0).with_scale(1.5))
//!     .start()?;
//! let outputs = tb.outputs()?;
//! let probe = tb.start_probe()?;
//! // … drive the portal on tb.bus_address(), read probe.events_path() …
//! # Ok(()) }
//! ```
//!
//! The API is synchronous: processes are plain `std::process` children and
//! every wait polls a condition against a deadline ([`wait_until`]).
//!
//! Teardown (`Drop`) leaves no process behind, even when a test panics: each
//! group gets SIGTERM, then SIGKILL after 2 s, and finally every process
//! whose environment carries this testbed's marker (`IONLAB_MARKER`) is
//! killed, which catches D-Bus-activated services and compositor-spawned
//! clients. Children also get `PR_SET_PDEATHSIG(SIGKILL)`; they are forked
//! from one process-wide spawner thread, so the signal fires only when the
//! whole test process dies, and a testbed may freely move between threads.
//! When `Drop` runs during a panic (or with [`TestbedBuilder::keep_logs`]),
//! the tail of every log is printed to stderr.
//!
//! When run as root, the compositor runs as the system user
//! `ionchannel-lab` (see [`ensure_lab_user`]); everything else runs as the
//! caller.

mod bus;
mod compositor;
mod consent_handle;
mod consumer_handle;
mod cosmic_profile;
mod ionchannel;
mod labwc;
mod logs;
mod output;
mod paths;
mod pipewire;
mod portal;
mod probe_handle;
mod process;
mod screen;
pub use screen::Picture;
mod sway;
mod user;
mod wait;
mod window_handle;
mod wlr_randr;
mod xdpw;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

pub use bus::BUS_NAME;
pub use compositor::{
    headless_name, Capability, Compositor, CompositorVersion, Unsupported, COMPOSITOR_VAR,
};
pub use consent_handle::{ConsentHandle, CONSENT_PROGRAM};
pub use consumer_handle::ConsumerHandle;
pub use ionchannel::{find_workspace_bin, DEFAULT_POLICY, IONCHANNEL_LOG_FILTER};
pub use output::{parse_outputs, OutputInfo, OutputSpec, Transform};
pub use paths::Paths;
pub use portal::{
    frontend_program, portal_file, BACKEND_NAME, CURRENT_DESKTOP, FRONTEND_NAME, FRONTEND_PATH,
    PORTALS_CONF,
};
pub use probe_handle::ProbeHandle;
pub use process::{processes_with_marker, MARKER_VAR};
pub use user::{ensure_lab_user, is_root, lookup_user, LabUser, LAB_USER};
pub use wait::{wait_until, POLL_INTERVAL};
pub use window_handle::WindowHandle;
pub use wlr_randr::{parse_wlr_randr, wlr_randr_args};
pub use xdpw::{outputs_in_turn, wlr_portal_file, ScreenCastPortal, WLR_BACKEND_NAME, XDPW_PATH};

// For lab modules outside the testbed that run programs of their own
// (`crate::deskflow`) the way the testbed runs its components.
pub(crate) use process::{run_ok, Proc};

/// How long a component gets to exit after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Default deadline of each start-up step and of [`Testbed::wait_for`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a short-lived tool (`swaymsg`, `wlr-randr`, `dbus-send`,
/// `pw-cli`) may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(10);

/// The long-running processes of a testbed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// The private session bus (`dbus-daemon`).
    Bus,
    PipeWire,
    WirePlumber,
    /// The headless compositor (sway, labwc or the cosmic-comp stand-in).
    Compositor,
    /// `ionchannel serve`.
    IonChannel,
    /// xdg-desktop-portal-wlr, when it serves ScreenCast instead of
    /// ionChannel ([`TestbedBuilder::screencast_portal`]).
    Xdpw,
    /// The xdg-desktop-portal frontend.
    Frontend,
}

impl Component {
    /// Every component, in start order.
    pub const ALL: [Component; 7] = [
        Component::Bus,
        Component::PipeWire,
        Component::WirePlumber,
        Component::Compositor,
        Component::IonChannel,
        Component::Xdpw,
        Component::Frontend,
    ];

    /// Its name, also the stem of its log file (`logs/<name>.log`).
    pub fn name(self) -> &'static str {
        match self {
            Component::Bus => "dbus-daemon",
            Component::PipeWire => "pipewire",
            Component::WirePlumber => "wireplumber",
            Component::Compositor => "compositor",
            Component::IonChannel => "ionchannel",
            Component::Xdpw => "xdg-desktop-portal-wlr",
            Component::Frontend => "xdg-desktop-portal",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Options of a [`Testbed`]; see [`Testbed::builder`].
#[derive(Debug, Clone)]
pub struct TestbedBuilder {
    /// `None`: from `IONLAB_COMPOSITOR` at start.
    compositor: Option<Compositor>,
    outputs: Vec<OutputSpec>,
    policy: String,
    screencast_portal: ScreenCastPortal,
    ionchannel: bool,
    frontend: bool,
    keep_logs: bool,
    keep_root: bool,
    timeout: Duration,
    ionchannel_env: Vec<(String, String)>,
}

impl Default for TestbedBuilder {
    fn default() -> Self {
        let flag = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
        TestbedBuilder {
            compositor: None,
            outputs: Vec::new(),
            policy: DEFAULT_POLICY.to_owned(),
            screencast_portal: ScreenCastPortal::default(),
            ionchannel: true,
            frontend: true,
            keep_logs: flag("IONLAB_KEEP_LOGS"),
            keep_root: flag("IONLAB_KEEP_ROOT"),
            timeout: DEFAULT_TIMEOUT,
            ionchannel_env: Vec::new(),
        }
    }
}

impl TestbedBuilder {
    /// The compositor to run (default: `IONLAB_COMPOSITOR`, else sway).
    pub fn compositor(mut self, compositor: Compositor) -> Self {
        self.compositor = Some(compositor);
        self
    }

    /// Adds a headless output (`HEADLESS-1`, `HEADLESS-2`, … in call order).
    /// Without any, the testbed has one 1920x1080 output at 0,0.
    pub fn output(mut self, spec: OutputSpec) -> Self {
        self.outputs.push(spec);
        self
    }

    /// Replaces the list of outputs.
    pub fn outputs(mut self, specs: impl IntoIterator<Item = OutputSpec>) -> Self {
        self.outputs = specs.into_iter().collect();
        self
    }

    /// The consent policy written to `$XDG_CONFIG_HOME/ionchannel/policy.toml`
    /// before ionChannel starts (default: [`DEFAULT_POLICY`]).
    pub fn policy(mut self, toml: impl Into<String>) -> Self {
        self.policy = toml.into();
        self
    }

    /// The backend the frontend routes ScreenCast to (default:
    /// ionChannel). With [`ScreenCastPortal::Wlr`] the testbed also starts
    /// xdg-desktop-portal-wlr before the frontend; RemoteDesktop stays with
    /// ionChannel.
    pub fn screencast_portal(mut self, portal: ScreenCastPortal) -> Self {
        self.screencast_portal = portal;
        self
    }

    /// Whether to start `ionchannel serve` (default: yes).
    pub fn ionchannel(mut self, start: bool) -> Self {
        self.ionchannel = start;
        self
    }

    /// Don't start ionChannel (start it later with
    /// [`Testbed::start_ionchannel`]).
    pub fn without_ionchannel(self) -> Self {
        self.ionchannel(false)
    }

    /// Whether to start the xdg-desktop-portal frontend (default: yes).
    pub fn frontend(mut self, start: bool) -> Self {
        self.frontend = start;
        self
    }

    /// Don't start the frontend (start it later with
    /// [`Testbed::start_frontend`]).
    pub fn without_frontend(self) -> Self {
        self.frontend(false)
    }

    /// Print every log at teardown even without a panic (also turned on by
    /// the environment variable `IONLAB_KEEP_LOGS=1`).
    pub fn keep_logs(mut self, keep: bool) -> Self {
        self.keep_logs = keep;
        self
    }

    /// Leave the temp root (logs, configs, probe files) on disk after
    /// teardown (also `IONLAB_KEEP_ROOT=1`).
    pub fn keep_root(mut self, keep: bool) -> Self {
        self.keep_root = keep;
        self
    }

    /// Deadline of each start-up step and of [`Testbed::wait_for`]
    /// (default: [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// An extra environment variable for `ionchannel serve` (set after the
    /// defaults, so `RUST_LOG` can be overridden).
    pub fn ionchannel_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.ionchannel_env.push((key.into(), value.into()));
        self
    }

    /// The compositor [`TestbedBuilder::start`] will run: the one set with
    /// [`TestbedBuilder::compositor`], else `IONLAB_COMPOSITOR`, else sway.
    pub fn chosen_compositor(&self) -> Result<Compositor> {
        match self.compositor {
            Some(compositor) => Ok(compositor),
            None => Compositor::from_env(),
        }
    }

    /// Brings the session up: bus, PipeWire + WirePlumber, the compositor
    /// (outputs verified), then ionChannel and the frontend unless disabled.
    /// On error everything already started is torn down.
    pub fn start(self) -> Result<Testbed> {
        let compositor = self.chosen_compositor()?;
        let outputs = if self.outputs.is_empty() {
            vec![OutputSpec::default()]
        } else {
            self.outputs
        };
        let compositor_user = user::compositor_user()?;
        let root = tempfile::Builder::new()
            .prefix("ionlab-")
            .tempdir()
            .context("creating the testbed's temp root")?;
        let paths = Paths::create(root.path(), compositor_user.as_ref())?;
        let marker = paths.root.to_string_lossy().into_owned();
        let mut testbed = Testbed {
            root: Some(root),
            paths,
            marker,
            compositor,
            compositor_version: None,
            compositor_user,
            procs: Vec::new(),
            bus_address: None,
            wayland_display: None,
            sway_socket: None,
            outputs,
            policy: self.policy,
            screencast_portal: self.screencast_portal,
            ionchannel_env: self.ionchannel_env,
            keep_logs: self.keep_logs,
            keep_root: self.keep_root,
            timeout: self.timeout,
            probes: AtomicU32::new(0),
            consumers: AtomicU32::new(0),
            consents: AtomicU32::new(0),
            screenshots: AtomicU32::new(0),
        };
        testbed.bring_up(self.ionchannel, self.frontend)?;
        Ok(testbed)
    }
}

/// A running isolated session; dropping it tears everything down.
#[derive(Debug)]
pub struct Testbed {
    root: Option<tempfile::TempDir>,
    paths: Paths,
    marker: String,
    compositor: Compositor,
    /// Known once the compositor is up.
    compositor_version: Option<CompositorVersion>,
    compositor_user: Option<LabUser>,
    /// Running components, in start order.
    procs: Vec<(Component, Proc)>,
    bus_address: Option<String>,
    wayland_display: Option<String>,
    /// sway's IPC socket (sway only).
    sway_socket: Option<PathBuf>,
    /// The outputs asked for at start (runtime changes are not tracked).
    outputs: Vec<OutputSpec>,
    policy: String,
    screencast_portal: ScreenCastPortal,
    ionchannel_env: Vec<(String, String)>,
    keep_logs: bool,
    keep_root: bool,
    timeout: Duration,
    probes: AtomicU32,
    consumers: AtomicU32,
    consents: AtomicU32,
    screenshots: AtomicU32,
}

impl Testbed {
    /// Options for a new testbed.
    pub fn builder() -> TestbedBuilder {
        TestbedBuilder::default()
    }

    /// A testbed with default options (one 1920x1080 output, ionChannel and
    /// the frontend).
    pub fn start() -> Result<Testbed> {
        Testbed::builder().start()
    }

    fn bring_up(&mut self, ionchannel: bool, frontend: bool) -> Result<()> {
        self.start_bus()?;
        // PipeWire and the compositor start in parallel; each is awaited
        // afterwards.
        self.spawn_pipewire()?;
        self.spawn_compositor()?;
        self.wait_pipewire()?;
        self.spawn_wireplumber()?;
        self.wait_compositor()?;
        self.wait_wireplumber()?;
        if ionchannel {
            self.start_ionchannel()?;
        }
        if self.screencast_portal == ScreenCastPortal::Wlr {
            self.start_xdpw()?;
        }
        if frontend {
            self.start_frontend()?;
        }
        Ok(())
    }

    /// The temp root and everything in it.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The value of `IONLAB_MARKER` in every process of this testbed (see
    /// [`processes_with_marker`]).
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// The private session bus, e.g. `unix:path=/tmp/ionlab-…/run/bus`.
    pub fn bus_address(&self) -> &str {
        self.bus_address.as_deref().unwrap_or_default()
    }

    /// `XDG_RUNTIME_DIR` of the session.
    pub fn runtime_dir(&self) -> &Path {
        &self.paths.runtime
    }

    /// The Wayland display name (relative to the runtime dir), e.g.
    /// `wayland-1`.
    pub fn wayland_display(&self) -> &str {
        self.wayland_display.as_deref().unwrap_or_default()
    }

    /// The directory of the log files (`<component>.log`).
    pub fn log_dir(&self) -> &Path {
        &self.paths.logs
    }

    /// The log file of a component.
    pub fn log_path(&self, component: Component) -> PathBuf {
        self.paths.log(component.name())
    }

    /// How many times the PipeWire daemon handed a consumer buffers without
    /// memory so far (its "invalid memory type" log lines, one per buffer).
    /// PipeWire 0.3.65 does this now and then when a link's buffer
    /// allocation completes early (a sequence-number clash in the daemon;
    /// see `consumer/stream.rs`): that consumer then sees no picture at
    /// all. ion-consumer relinks by itself; tests that use another consumer
    /// look here to tell this upstream fault from ours.
    pub fn pipewire_memoryless_buffers(&self) -> usize {
        std::fs::read_to_string(self.log_path(Component::PipeWire))
            .map(|log| log.matches("invalid memory type").count())
            .unwrap_or(0)
    }

    /// The backend the frontend routes ScreenCast to.
    pub fn screencast_portal(&self) -> ScreenCastPortal {
        self.screencast_portal
    }

    /// The outputs asked for at start.
    pub fn requested_outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }

    /// The user the compositor runs as, when it is not the current one (we
    /// are root).
    pub fn compositor_user(&self) -> Option<&LabUser> {
        self.compositor_user.as_ref()
    }

    /// The environment a client of the session needs.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let mut env = vec![
            ("XDG_RUNTIME_DIR".to_owned(), path(&self.paths.runtime)),
            ("PIPEWIRE_RUNTIME_DIR".to_owned(), path(&self.paths.runtime)),
            ("XDG_CONFIG_HOME".to_owned(), path(&self.paths.config_home)),
            ("XDG_DATA_HOME".to_owned(), path(&self.paths.data_home)),
            ("XDG_STATE_HOME".to_owned(), path(&self.paths.state_home)),
            ("XDG_CACHE_HOME".to_owned(), path(&self.paths.cache_home)),
            ("HOME".to_owned(), path(&self.paths.home)),
            ("XDG_SESSION_TYPE".to_owned(), "wayland".to_owned()),
            ("XDG_CURRENT_DESKTOP".to_owned(), CURRENT_DESKTOP.to_owned()),
            // Keep GLib programs off dconf, gvfs and the a11y bus.
            ("GSETTINGS_BACKEND".to_owned(), "memory".to_owned()),
            ("GIO_USE_VFS".to_owned(), "local".to_owned()),
            ("NO_AT_BRIDGE".to_owned(), "1".to_owned()),
            (MARKER_VAR.to_owned(), self.marker.clone()),
        ];
        if let Some(address) = &self.bus_address {
            env.push(("DBUS_SESSION_BUS_ADDRESS".to_owned(), address.clone()));
        }
        if let Some(display) = &self.wayland_display {
            env.push(("WAYLAND_DISPLAY".to_owned(), display.clone()));
        }
        if let Some(socket) = &self.sway_socket {
            env.push(("SWAYSOCK".to_owned(), path(socket)));
        }
        env
    }

    /// A command for `program` with the session's environment (and none of
    /// the caller's display, bus or compositor variables). Spawned as is, it
    /// is not tracked; its marker still gets it killed at teardown.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        for var in [
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "WAYLAND_SOCKET",
            "SWAYSOCK",
            "I3SOCK",
            "DBUS_SESSION_BUS_ADDRESS",
            "DBUS_STARTER_ADDRESS",
            "DBUS_STARTER_BUS_TYPE",
            "PIPEWIRE_REMOTE",
            "XDG_DESKTOP_PORTAL_DIR",
            "NOTIFY_SOCKET",
            "XDG_SEAT",
            "XDG_SESSION_ID",
            "XDG_VTNR",
        ] {
            command.env_remove(var);
        }
        command.envs(self.env());
        command
    }

    /// Runs a short-lived tool (built with [`Testbed::command`]) and returns
    /// its stdout; fails on a non-zero exit, with its stderr.
    pub fn run_tool(&self, command: Command) -> Result<String> {
        process::run_ok(command, &self.marker, TOOL_TIMEOUT)
    }

    /// Starts `command` as `component` (must not be running), logging to its
    /// log file.
    fn spawn_component(&mut self, component: Component, command: Command) -> Result<()> {
        if self.proc(component).is_some() {
            bail!("{component} is already running");
        }
        let log = self.log_path(component);
        let proc = Proc::spawn(component.name(), command, &self.marker, &log)?;
        self.procs.push((component, proc));
        Ok(())
    }

    fn proc(&self, component: Component) -> Option<&Proc> {
        self.procs
            .iter()
            .find(|(c, _)| *c == component)
            .map(|(_, p)| p)
    }

    fn take_proc(&mut self, component: Component) -> Option<Proc> {
        let index = self.procs.iter().position(|(c, _)| *c == component)?;
        Some(self.procs.remove(index).1)
    }

    /// Whether `component` was started and has not exited.
    pub fn is_running(&self, component: Component) -> bool {
        self.proc(component).is_some_and(Proc::is_running)
    }

    /// The pid of a started component.
    pub fn pid(&self, component: Component) -> Option<u32> {
        self.proc(component).map(Proc::pid)
    }

    /// The pid of the component's own program, below any wrapper (on the
    /// testing stack [`Testbed::pid`] is the pid of the shim's bwrap):
    /// what CPU time and memory should be read from. Falls back to
    /// [`Testbed::pid`] when no such process is found.
    pub fn program_pid(&self, component: Component) -> Option<u32> {
        let pid = self.pid(component)?;
        let program = match component {
            Component::Bus => "dbus-daemon",
            Component::PipeWire => "pipewire",
            Component::WirePlumber => "wireplumber",
            Component::Compositor => self.compositor.program(),
            Component::IonChannel => "ionchannel",
            Component::Xdpw => "xdg-desktop-portal-wlr",
            Component::Frontend => "xdg-desktop-portal",
        };
        Some(process::program_pid(pid, program).unwrap_or(pid))
    }

    /// Components that were started but have exited, with how they ended.
    pub fn dead_components(&self) -> Vec<(Component, String)> {
        self.procs
            .iter()
            .filter_map(|(c, p)| p.exit_state().map(|state| (*c, state)))
            .collect()
    }

    /// SIGKILLs one component's process group at once (crash tests) and
    /// reaps it. Fails if it was not started.
    pub fn kill(&mut self, component: Component) -> Result<()> {
        let mut proc = self
            .take_proc(component)
            .ok_or_else(|| anyhow!("{component} is not running"))?;
        proc.kill();
        Ok(())
    }

    /// Sends `sig` to one component's process group (SIGSTOP and SIGCONT
    /// freeze and thaw it, wrapper and program alike).
    pub fn signal(&self, component: Component, sig: i32) -> Result<()> {
        let proc = self
            .proc(component)
            .ok_or_else(|| anyhow!("{component} is not running"))?;
        proc.signal(sig);
        Ok(())
    }

    /// PipeWire and WirePlumber again, as their service manager restarts
    /// them after a crash: whichever still runs is killed first.
    pub fn restart_media(&mut self) -> Result<()> {
        for c in [Component::WirePlumber, Component::PipeWire] {
            if self.proc(c).is_some() {
                self.kill(c)?;
            }
        }
        self.spawn_pipewire()?;
        self.wait_pipewire()?;
        self.spawn_wireplumber()?;
        self.wait_wireplumber()
    }

    /// WirePlumber again (after it died), as its service manager would.
    pub fn restart_wireplumber(&mut self) -> Result<()> {
        if self.proc(Component::WirePlumber).is_some() {
            self.kill(Component::WirePlumber)?;
        }
        self.spawn_wireplumber()?;
        self.wait_wireplumber()
    }

    /// Stops one component: SIGTERM, up to 2 s, then SIGKILL; reaps it.
    pub fn stop(&mut self, component: Component) -> Result<()> {
        let mut proc = self
            .take_proc(component)
            .ok_or_else(|| anyhow!("{component} is not running"))?;
        proc.stop(STOP_GRACE);
        Ok(())
    }

    /// Polls `cond` (see [`wait_until`]) for up to the testbed's timeout,
    /// failing at once if one of the `watch`ed components exits; errors quote
    /// the tail of the watched components' logs.
    pub fn wait_for(
        &self,
        what: &str,
        watch: &[Component],
        cond: impl FnMut() -> Result<bool>,
    ) -> Result<()> {
        let mut procs = Vec::new();
        for &component in watch {
            match self.proc(component) {
                Some(proc) => procs.push(proc),
                None => bail!("cannot wait for {what}: {component} is not running"),
            }
        }
        self.wait_watching(what, &procs, cond)
    }

    fn wait_watching(
        &self,
        what: &str,
        watch: &[&Proc],
        mut cond: impl FnMut() -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        let result = wait_until(deadline, what, || {
            for proc in watch {
                if let Some(state) = proc.exit_state() {
                    bail!("{} exited ({state})", proc.label());
                }
            }
            cond()
        });
        result.map_err(|err| {
            let logs: Vec<&Path> = watch.iter().map(|p| p.log()).collect();
            anyhow!("{err:#}{}", logs::quote_tails(&logs, logs::ERROR_LINES))
        })
    }

    /// Prints the tail of every log file to stderr, each under a header.
    pub fn dump_logs(&self) {
        logs::dump(&self.paths.logs, logs::DUMP_LINES);
    }

    fn teardown(&mut self) {
        let dump = std::thread::panicking() || self.keep_logs;
        let mut procs: Vec<Proc> = self.procs.drain(..).rev().map(|(_, p)| p).collect();
        let mut refs: Vec<&mut Proc> = procs.iter_mut().collect();
        process::terminate_all(&mut refs, STOP_GRACE);
        drop(procs);
        let strays = process::kill_marked(&self.marker, STOP_GRACE);
        if !strays.is_empty() {
            tracing::debug!(?strays, "killed processes left behind by the testbed");
        }
        let mounts = paths::unmount_under(&self.paths.root);
        if !mounts.is_empty() {
            tracing::debug!(?mounts, "unmounted what the testbed left mounted");
        }
        if dump {
            eprintln!(
                "ion-lab: testbed at {} is going down",
                self.paths.root.display()
            );
            self.dump_logs();
        }
        if self.keep_root {
            if let Some(root) = self.root.take() {
                let kept = root.keep();
                eprintln!("ion-lab: kept the testbed's files in {}", kept.display());
            }
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Whether a file at `path` is a Unix socket.
fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}
