//! The real Deskflow around a testbed: an X server (Xvfb) with a Deskflow
//! server on it, and a Deskflow client on the testbed's Wayland session,
//! all from the Debian testing rootfs (`scripts/in-testing.sh`; the
//! package `deskflow`, 1.27), unmodified.
//!
//! Deskflow as a client on Wayland asks the portal frontend for a
//! RemoteDesktop session (keyboard and pointer, no ScreenCast sources; also
//! the Clipboard portal) through libportal, calls ConnectToEIS, and injects
//! what the server sends through libei: relative and absolute pointer,
//! buttons, scrolling, keys. The server side runs on Xvfb, where xdotool
//! plays the user: the pointer pushed over the server screen's right edge
//! lands on the client, and everything typed or clicked then goes there.
//!
//! How Deskflow 1.27 is set up here (found by running it; its sources
//! moved on from 1.26):
//! - `deskflow-core server|client --new-instance -s SETTINGS`: the core
//!   without the GUI; `--new-instance` skips the single-instance check (a
//!   shared-memory segment), since server and client share a host here.
//! - SETTINGS is Qt's INI format and Deskflow rewrites it (sorted; values
//!   it does not know are reset), so it must be writable. TLS is off
//!   (`security/tlsEnabled=false`: no certificate, no fingerprint prompt).
//! - Screens are `[computer_<name>] name=<name>` groups of the settings;
//!   the server's configuration file (`server/externalConfigFile`) holds
//!   only the links (a `section: screens` there is ignored since 1.27).
//! - The client takes the EI path when `XDG_SESSION_TYPE=wayland`. Both
//!   run Qt with `QT_QPA_PLATFORM=offscreen` (the rootfs has no Qt Wayland
//!   plugin; the client would abort without a display).
//! - The server (on an X server with XInput 2) follows the pointer through
//!   raw motion events only: on Xvfb, xdotool's relative moves
//!   (`mousemove_relative`) make them, its absolute moves (`mousemove`) do
//!   not, so those go unnoticed until the next relative move.
//! - The server maps the crossing point onto the client's screen by
//!   fraction of the edge (`Server::mapToFraction`/`mapToPixel`), and the
//!   client's screen is the bounding box of the absolute pointer's regions
//!   (`EiScreen::updateShape`): see [`client_shape`] and [`entry_y`].

use std::fmt;
use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::testbed::{run_ok, wait_until, OutputInfo, Proc, Testbed, STOP_GRACE};
use crate::testing_rootfs::{has, in_testing_script, rootfs};

/// The server's screen (the X server) in the Deskflow layout.
pub const SERVER_NAME: &str = "xserver";
/// The client's screen (the testbed's Wayland session).
pub const CLIENT_NAME: &str = "wayland";

/// Programs the rig needs in the testing rootfs.
pub const PROGRAMS: [&str; 3] = [
    "/usr/bin/deskflow-core",
    "/usr/bin/Xvfb",
    "/usr/bin/xdotool",
];

/// How long Deskflow gets for each start-up step.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one xdotool call may run.
const XDOTOOL_TIMEOUT: Duration = Duration::from_secs(10);

/// The programs of [`PROGRAMS`] the rootfs lacks (all of them without a
/// rootfs).
pub fn missing_programs() -> Vec<&'static str> {
    PROGRAMS.iter().copied().filter(|p| !has(p)).collect()
}

/// A rectangle in Deskflow's coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{} {}x{}", self.x, self.y, self.width, self.height)
    }
}

/// The screen the Deskflow client reports for a layout whose every output
/// is one absolute pointer region, as `EiScreen::updateShape` computes it:
/// the smallest x and y, and as "width" and "height" the largest right and
/// bottom edges (the same as the size when the layout starts at 0,0).
/// Without any region Deskflow keeps 1x1.
pub fn client_shape(outputs: &[OutputInfo]) -> Shape {
    let active: Vec<&OutputInfo> = outputs.iter().filter(|o| o.active).collect();
    if active.is_empty() {
        return Shape {
            x: 0,
            y: 0,
            width: 1,
            height: 1,
        };
    }
    let right = |o: &OutputInfo| o.x + o.logical_width as i32;
    let bottom = |o: &OutputInfo| o.y + o.logical_height as i32;
    Shape {
        x: active.iter().map(|o| o.x).min().unwrap_or(0),
        y: active.iter().map(|o| o.y).min().unwrap_or(0),
        width: active.iter().map(|o| right(o)).max().unwrap_or(1).max(1),
        height: active.iter().map(|o| bottom(o)).max().unwrap_or(1).max(1),
    }
}

/// Where on the client's left edge the pointer enters when it leaves the
/// server's screen (height `server_height`, top 0) over its right edge at
/// `y`: Deskflow keeps the fraction along the edge, in single precision
/// (`Server::mapToFraction`, then `mapToPixel`).
pub fn entry_y(server_height: u32, y: i32, client: Shape) -> i32 {
    let t = (y as f32 + 0.5) / server_height as f32;
    (t * client.height as f32) as i32 + client.y
}

/// The output holding a global logical position, and the position on it;
/// `None` in the layout's holes (the absolute pointer has no region there).
pub fn locate(outputs: &[OutputInfo], x: f64, y: f64) -> Option<(String, f64, f64)> {
    outputs
        .iter()
        .filter(|o| o.active)
        .find(|o| {
            let (ox, oy) = (f64::from(o.x), f64::from(o.y));
            x >= ox
                && y >= oy
                && x < ox + f64::from(o.logical_width)
                && y < oy + f64::from(o.logical_height)
        })
        .map(|o| (o.name.clone(), x - f64::from(o.x), y - f64::from(o.y)))
}

/// The last client screen the server's log reports for `name`
/// (`received client "NAME" info shape=X,Y WxH at …`).
pub fn reported_shape(server_log: &str, name: &str) -> Option<Shape> {
    let needle = format!("received client \"{name}\" info shape=");
    let line = server_log.lines().rev().find(|l| l.contains(&needle))?;
    let rest = line.split(&needle).nth(1)?;
    let mut parts = rest.split_whitespace();
    let (x, y) = parts.next()?.split_once(',')?;
    let (w, h) = parts.next()?.split_once('x')?;
    Some(Shape {
        x: x.parse().ok()?,
        y: y.parse().ok()?,
        width: w.parse().ok()?,
        height: h.parse().ok()?,
    })
}

/// The server's settings (INI): TLS off, loopback only, the screens, the
/// links file, debug logging (the rig waits on debug lines).
pub fn server_settings(port: u16, links: &Path) -> String {
    format!(
        "[core]\ncomputerName={SERVER_NAME}\nport={port}\ninterface=127.0.0.1\n\
         [security]\ntlsEnabled=false\n\
         [server]\nexternalConfig=true\nexternalConfigFile={}\n\
         [log]\nlevel=DEBUG\n\
         [computer_{SERVER_NAME}]\nname={SERVER_NAME}\n\
         [computer_{CLIENT_NAME}]\nname={CLIENT_NAME}\n",
        links.display()
    )
}

/// The server's configuration file: the client right of the server, and
/// back.
pub fn server_links() -> String {
    format!(
        "section: links\n\t{SERVER_NAME}:\n\t\tright = {CLIENT_NAME}\n\
         \t{CLIENT_NAME}:\n\t\tleft = {SERVER_NAME}\nend\n"
    )
}

/// The client's settings (INI): the server on loopback, TLS off, no
/// keyboard-layout sync (it would look for an X display), verbose logging
/// (it logs every pointer position it receives: see [`Deskflow::move_by`]).
pub fn client_settings(port: u16) -> String {
    format!(
        "[core]\ncomputerName={CLIENT_NAME}\nport={port}\n\
         [client]\nremoteHost=127.0.0.1\nlanguageSync=false\n\
         [security]\ntlsEnabled=false\n\
         [log]\nlevel=VERBOSE\n"
    )
}

/// The client's log line for a pointer position it received.
fn received_move(x: i32, y: i32) -> String {
    format!("recv mouse move {x},{y}\n")
}

/// A free TCP port on loopback (free when asked; nothing holds it after).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Xvfb with a Deskflow server on it, and a Deskflow client in the
/// testbed's session. Dropping it stops them all (and the testbed's
/// teardown would find them by its marker anyway).
#[derive(Debug)]
pub struct Deskflow {
    marker: String,
    display: u32,
    server_size: (u32, u32),
    port: u16,
    server_log: PathBuf,
    client_log: PathBuf,
    client_conf: PathBuf,
    client_state: PathBuf,
    // Stopped in this order: client, server, X server.
    client: Option<Proc>,
    server: Proc,
    xvfb: Proc,
}

impl Deskflow {
    /// Starts Xvfb (one screen of `server_size`), the Deskflow server on it
    /// and the Deskflow client in `tb`'s session, and waits until the
    /// client has its EIS connection and the server knows the client.
    /// Logs go to the testbed's log directory (`xvfb.log`,
    /// `deskflow-server.log`, `deskflow-client.log`).
    pub fn start(tb: &Testbed, server_size: (u32, u32)) -> Result<Deskflow> {
        let missing = missing_programs();
        if !missing.is_empty() {
            bail!(
                "the testing rootfs {} lacks {}: rebuild it with scripts/testing-rootfs.sh",
                rootfs().display(),
                missing.join(", ")
            );
        }
        let script = in_testing_script();
        let dir = tb.paths().tmp.join("deskflow");
        let server_home = dir.join("server-home");
        let server_runtime = dir.join("server-run");
        for d in [&dir, &server_home, &server_runtime] {
            fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        // Qt wants a private runtime dir.
        fs::set_permissions(&server_runtime, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private", server_runtime.display()))?;
        let marker = tb.marker().to_owned();

        // The X server; -displayfd writes the display it took to stdout.
        let display_file = dir.join("xvfb.display");
        let stdout = fs::File::create(&display_file)
            .with_context(|| format!("creating {}", display_file.display()))?;
        let mut command = Command::new(&script);
        strip_session_env(&mut command);
        command.args([
            "Xvfb",
            "-displayfd",
            "1",
            "-screen",
            "0",
            &format!("{}x{}x24", server_size.0, server_size.1),
            // Only the abstract socket (the network namespace is shared):
            // nothing left in /tmp/.X11-unix when Xvfb is killed.
            "-nolisten",
            "tcp",
            "-nolisten",
            "unix",
            "-noreset",
        ]);
        let xvfb = Proc::spawn_piped(
            "xvfb",
            command,
            &marker,
            &tb.log_dir().join("xvfb.log"),
            stdout,
        )?;
        let mut display = None;
        wait_for(&[&xvfb], "Xvfb to take a display", || {
            let text = fs::read_to_string(&display_file).unwrap_or_default();
            display = text
                .strip_suffix('\n')
                .and_then(|t| t.trim().parse::<u32>().ok());
            Ok(display.is_some())
        })?;
        let display = display.context("Xvfb named no display")?;

        // The server.
        let port = free_port()?;
        let links = dir.join("server-links.conf");
        fs::write(&links, server_links())?;
        let server_conf = dir.join("server.conf");
        fs::write(&server_conf, server_settings(port, &links))?;
        let mut command = Command::new(&script);
        strip_session_env(&mut command);
        let path = |p: &Path| p.to_string_lossy().into_owned();
        command
            .env("DISPLAY", format!(":{display}"))
            .env("XDG_SESSION_TYPE", "x11")
            .env("QT_QPA_PLATFORM", "offscreen")
            .env("HOME", path(&server_home))
            .env("XDG_CONFIG_HOME", path(&server_home.join("config")))
            .env("XDG_STATE_HOME", path(&server_home.join("state")))
            .env("XDG_CACHE_HOME", path(&server_home.join("cache")))
            .env("XDG_RUNTIME_DIR", path(&server_runtime))
            .args(["deskflow-core", "server", "--new-instance", "-s"])
            .arg(&server_conf);
        let server_log = tb.log_dir().join("deskflow-server.log");
        let server = Proc::spawn("deskflow-server", command, &marker, &server_log)?;
        wait_for(&[&server, &xvfb], "the Deskflow server to listen", || {
            Ok(read(&server_log).contains("started server, waiting for clients"))
        })?;

        // The client, in the testbed's session.
        let client_conf = dir.join("client.conf");
        fs::write(&client_conf, client_settings(port))?;
        let client_log = tb.log_dir().join("deskflow-client.log");
        let mut deskflow = Deskflow {
            marker,
            display,
            server_size,
            port,
            server_log,
            client_log,
            client_conf,
            client_state: tb.paths().state_home.join("Deskflow.state"),
            client: None,
            server,
            xvfb,
        };
        deskflow.start_client(tb)?;
        Ok(deskflow)
    }

    /// Starts the client with its settings file and waits until it has its
    /// EIS connection and the server has (again) a client.
    fn start_client(&mut self, tb: &Testbed) -> Result<()> {
        if self.client.is_some() {
            bail!("the Deskflow client is running already");
        }
        let connected = format!("client \"{CLIENT_NAME}\" has connected");
        let before = self.server_log().matches(&connected).count();
        let mut command = tb.command(in_testing_script());
        command
            .env("QT_QPA_PLATFORM", "offscreen")
            .args(["deskflow-core", "client", "--new-instance", "-s"])
            .arg(&self.client_conf);
        let client = Proc::spawn("deskflow-client", command, &self.marker, &self.client_log)?;
        let result = wait_for(
            &[&client, &self.server, &self.xvfb],
            "the Deskflow client to connect to EIS and to the server",
            || {
                let runs = self.client_runs();
                let this_run = runs.last().map_or("", String::as_str);
                Ok(this_run.contains("connected to eis")
                    && self.server_log().matches(&connected).count() > before)
            },
        );
        self.client = Some(client);
        result
    }

    /// Starts the client again after [`Deskflow::stop_client`], with the
    /// same settings and state: what Deskflow kept (its portal restore
    /// token, `client/xdpRestoreToken` in [`Deskflow::client_state`]) is
    /// used. Its log goes on in the same file ([`Deskflow::client_runs`]
    /// splits it).
    pub fn restart_client(&mut self, tb: &Testbed) -> Result<()> {
        self.start_client(tb)
    }

    /// The client's settings file (Qt INI), which Deskflow rewrites.
    pub fn client_settings_path(&self) -> &Path {
        &self.client_conf
    }

    /// The client's settings file as it is now.
    pub fn client_settings(&self) -> String {
        read(&self.client_conf)
    }

    /// Where the client keeps its state (Qt INI): `Deskflow.state` in the
    /// session's `XDG_STATE_HOME` (the client runs with the testbed's
    /// HOME and XDG dirs, as a user's would). Deskflow 1.27 writes its
    /// portal restore token there (`client/xdpRestoreToken`), not in the
    /// settings file.
    pub fn client_state_path(&self) -> &Path {
        &self.client_state
    }

    /// The client's state file as it is now.
    pub fn client_state(&self) -> String {
        read(&self.client_state)
    }

    /// The client's log, one string per run, oldest first.
    pub fn client_runs(&self) -> Vec<String> {
        split_runs(&self.client_log(), "deskflow-client")
    }

    /// The X display of the server's screen (`:N`).
    pub fn display(&self) -> u32 {
        self.display
    }

    /// The server screen's size.
    pub fn server_size(&self) -> (u32, u32) {
        self.server_size
    }

    /// The port the server listens on (loopback).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn server_log_path(&self) -> &Path {
        &self.server_log
    }

    pub fn client_log_path(&self) -> &Path {
        &self.client_log
    }

    /// The server's log so far.
    pub fn server_log(&self) -> String {
        read(&self.server_log)
    }

    /// The client's log so far.
    pub fn client_log(&self) -> String {
        read(&self.client_log)
    }

    /// Waits until the server knows the client's screen as `expected`
    /// (the client reports it again whenever its EIS devices change).
    pub fn wait_client_shape(&self, expected: Shape) -> Result<()> {
        let mut procs = vec![&self.server, &self.xvfb];
        procs.extend(self.client.as_ref());
        let result = wait_for(
            &procs,
            &format!("the Deskflow server to know the client's screen as {expected}"),
            || Ok(reported_shape(&self.server_log(), CLIENT_NAME) == Some(expected)),
        );
        result.with_context(|| {
            let seen = reported_shape(&self.server_log(), CLIENT_NAME)
                .map_or_else(|| "nothing".to_owned(), |s| s.to_string());
            let log = self.client_log();
            let sizes: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("logical output size"))
                .collect();
            format!(
                "the client reported {seen}; its EIS devices gave: {sizes:?} \
                 (a 1x1 screen means no absolute pointer device with regions)"
            )
        })
    }

    /// Runs `xdotool ARGS…` on the server's X display, in the rootfs.
    pub fn xdotool(&self, args: &[&str]) -> Result<String> {
        let mut command = Command::new(in_testing_script());
        strip_session_env(&mut command);
        command
            .env("DISPLAY", format!(":{}", self.display))
            .arg("xdotool")
            .args(args);
        run_ok(command, &self.marker, XDOTOOL_TIMEOUT)
    }

    /// Moves the X pointer by (`dx`, `dy`) while it is on the client's
    /// screen, and waits until the client has received the position the
    /// server computed, which must be (`x`, `y`). Waiting matters: the
    /// server warps the X pointer back to the screen's centre after each
    /// move, and discards motion that comes in during its warp.
    pub fn move_by(&self, (dx, dy): (i32, i32), (x, y): (i32, i32)) -> Result<()> {
        let line = received_move(x, y);
        let before = self.client_log().matches(&line).count();
        self.xdotool(&["mousemove_relative", "--", &dx.to_string(), &dy.to_string()])?;
        let mut procs = vec![&self.server, &self.xvfb];
        procs.extend(self.client.as_ref());
        wait_for(
            &procs,
            &format!("the Deskflow client to receive the pointer at {x},{y}"),
            || Ok(self.client_log().matches(&line).count() > before),
        )
        .with_context(|| {
            let log = self.client_log();
            let last = log.lines().rev().find(|l| l.contains("recv mouse move"));
            format!("after moving by {dx},{dy}; the last position received: {last:?}")
        })
    }

    /// How the client ended, once it has (`None` while it runs).
    pub fn client_exit_state(&self) -> Option<String> {
        self.client.as_ref().and_then(Proc::exit_state)
    }

    /// Stops the client as a user would (SIGTERM, then SIGKILL after 2 s).
    pub fn stop_client(&mut self) {
        if let Some(mut client) = self.client.take() {
            client.stop(STOP_GRACE);
        }
    }
}

impl Drop for Deskflow {
    /// Stops the client, the server, then the X server, each with SIGTERM
    /// first.
    fn drop(&mut self) {
        self.stop_client();
        self.server.stop(STOP_GRACE);
        self.xvfb.stop(STOP_GRACE);
    }
}

/// Drops the caller's and the session's display and bus variables: the
/// X side must not see the Wayland session (Deskflow would pick EI).
fn strip_session_env(command: &mut Command) {
    for var in [
        "DISPLAY",
        "WAYLAND_DISPLAY",
        "WAYLAND_SOCKET",
        "XDG_SESSION_TYPE",
        "DBUS_SESSION_BUS_ADDRESS",
        "XDG_RUNTIME_DIR",
        "SWAYSOCK",
    ] {
        command.env_remove(var);
    }
}

/// A log the testbed appended several runs of `label` to, one string per
/// run (each begins at its "==== ion-lab: starting LABEL" line).
pub fn split_runs(log: &str, label: &str) -> Vec<String> {
    let marker = format!("==== ion-lab: starting {label} at ");
    let mut runs: Vec<String> = Vec::new();
    for line in log.lines() {
        if line.starts_with(&marker) || runs.is_empty() {
            runs.push(String::new());
        }
        if let Some(run) = runs.last_mut() {
            run.push_str(line);
            run.push('\n');
        }
    }
    runs
}

/// The value of `key` (`group/name`) in a Qt INI settings text, if set.
pub fn ini_value(text: &str, key: &str) -> Option<String> {
    let (group, name) = key.split_once('/')?;
    let mut in_group = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_group = line == format!("[{group}]");
        } else if in_group {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == name {
                    return Some(v.trim().to_owned());
                }
            }
        }
    }
    None
}

fn read(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Polls `cond` until [`START_TIMEOUT`], failing at once when one of
/// `procs` exits; errors quote the tail of their logs.
fn wait_for(procs: &[&Proc], what: &str, cond: impl FnMut() -> Result<bool>) -> Result<()> {
    let mut cond = cond;
    let result = wait_until(Instant::now() + START_TIMEOUT, what, || {
        for proc in procs {
            if let Some(state) = proc.exit_state() {
                bail!("{} exited ({state})", proc.label());
            }
        }
        cond()
    });
    result.map_err(|err| {
        let mut text = format!("{err:#}");
        for proc in procs {
            let log = read(proc.log());
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            text.push_str(&format!(
                "\n--- last lines of {} ---\n{tail}",
                proc.log().display()
            ));
        }
        anyhow::anyhow!(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(name: &str, x: i32, y: i32, w: u32, h: u32) -> OutputInfo {
        OutputInfo {
            name: name.to_owned(),
            active: true,
            width: w,
            height: h,
            refresh: 60000,
            x,
            y,
            logical_width: w,
            logical_height: h,
            scale: 1.0,
            transform: Default::default(),
        }
    }

    fn two() -> Vec<OutputInfo> {
        vec![
            output("HEADLESS-1", 0, 0, 1920, 1080),
            output("HEADLESS-2", 1920, 0, 1280, 720),
        ]
    }

    #[test]
    fn the_client_screen_is_the_regions_bounding_box() {
        let shape = client_shape(&two());
        assert_eq!(
            shape,
            Shape {
                x: 0,
                y: 0,
                width: 3200,
                height: 1080
            }
        );
        assert_eq!(shape.to_string(), "0,0 3200x1080");
        assert_eq!(client_shape(&[]).width, 1);
    }

    #[test]
    fn entering_keeps_the_fraction_along_the_edge() {
        let shape = client_shape(&two());
        // (300 + 0.5) / 1024 * 1080 = 316.93…
        assert_eq!(entry_y(1024, 300, shape), 316);
        assert_eq!(entry_y(1024, 0, shape), 0);
        assert_eq!(entry_y(1024, 1023, shape), 1079);
    }

    #[test]
    fn positions_map_to_outputs_and_holes_to_none() {
        let outputs = two();
        assert_eq!(
            locate(&outputs, 500.0, 516.0),
            Some(("HEADLESS-1".to_owned(), 500.0, 516.0))
        );
        assert_eq!(
            locate(&outputs, 2300.0, 416.0),
            Some(("HEADLESS-2".to_owned(), 380.0, 416.0))
        );
        assert_eq!(locate(&outputs, 2900.0, 816.0), None);
        assert_eq!(locate(&outputs, 3200.0, 10.0), None);
    }

    #[test]
    fn the_reported_shape_is_read_from_the_servers_log() {
        let log = "[t] DEBUG: received client \"wayland\" info shape=0,0 1x1 at 0,0\n\
                   [t] DEBUG: client \"wayland\" has connected\n\
                   [t] DEBUG: received client \"wayland\" info shape=0,0 3200x1080 at 1600,540\n";
        assert_eq!(
            reported_shape(log, "wayland"),
            Some(Shape {
                x: 0,
                y: 0,
                width: 3200,
                height: 1080
            })
        );
        assert_eq!(reported_shape(log, "other"), None);
    }

    #[test]
    fn runs_split_at_the_start_lines() {
        let log = "==== ion-lab: starting deskflow-client at 1.0: x\na\n\
                   ==== ion-lab: starting deskflow-client at 2.0: x\nb\nc\n";
        let runs = split_runs(log, "deskflow-client");
        assert_eq!(runs.len(), 2);
        assert!(runs[0].ends_with("a\n") && runs[1].ends_with("b\nc\n"));
        assert_eq!(split_runs("", "deskflow-client").len(), 0);
    }

    #[test]
    fn ini_values_by_group() {
        let ini =
            "[client]\nremoteHost=127.0.0.1\nxdpRestoreToken=abc-123\n[server]\nxdpRestoreToken=\n";
        assert_eq!(
            ini_value(ini, "client/xdpRestoreToken").as_deref(),
            Some("abc-123")
        );
        assert_eq!(
            ini_value(ini, "server/xdpRestoreToken").as_deref(),
            Some("")
        );
        assert_eq!(ini_value(ini, "core/port"), None);
    }

    #[test]
    fn settings_name_both_screens_and_turn_tls_off() {
        let server = server_settings(24811, Path::new("/tmp/links.conf"));
        for line in [
            "port=24811",
            "tlsEnabled=false",
            "externalConfigFile=/tmp/links.conf",
            "[computer_xserver]",
            "name=wayland",
        ] {
            assert!(server.contains(line), "{line} in {server}");
        }
        assert!(server_links().contains("right = wayland"));
        let client = client_settings(24811);
        assert!(client.contains("remoteHost=127.0.0.1"));
        assert!(client.contains("tlsEnabled=false"));
    }
}
