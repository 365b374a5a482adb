//! Spawning, signalling and reaping the testbed's processes, and the final
//! sweep that finds stray processes by the marker variable in their
//! environment.
//!
//! Every child:
//! - gets `PR_SET_PDEATHSIG(SIGKILL)`, so it dies with us even when we are
//!   killed without running any destructor;
//! - runs in its own process group (`process_group(0)`), so one signal
//!   reaches everything it started (and a Ctrl-C at the terminal does not);
//! - carries `IONLAB_MARKER=<temp root>` in its environment, which activated
//!   D-Bus services and compositor-spawned clients inherit, so teardown can
//!   find them in `/proc` even when they left the process group.
//!
//! The parent-death signal fires when the *thread* that forked the child
//! exits, not the process. All children are therefore forked from one
//! spawner thread that lives as long as the process: a testbed may be moved
//! between threads, and a test thread that ends does not take its children
//! down before the testbed's `Drop` runs.

use std::ffi::c_int;
use std::fs;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::logs;

/// The environment variable that marks every process of a testbed; its value
/// is the testbed's temp root, unique per testbed.
pub const MARKER_VAR: &str = "IONLAB_MARKER";

type SpawnReply = mpsc::Sender<io::Result<Child>>;
type SpawnRequest = (Command, SpawnReply);

/// The channel to the process-wide spawner thread (started on first use),
/// or `None` when the thread could not be started.
fn spawner() -> Option<&'static mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<SpawnRequest>();
            thread::Builder::new()
                .name("ionlab-spawner".into())
                .spawn(move || {
                    // The sender lives in a static: this loop never ends, and
                    // so the children's parent-death signal fires only when
                    // the whole process goes away.
                    for (mut command, reply) in rx {
                        // The requester may have gone; nothing to do then.
                        let _ = reply.send(command.spawn());
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Spawns `command` from the long-lived spawner thread (falling back to the
/// calling thread if that thread is unavailable).
pub fn spawn_command(command: Command) -> io::Result<Child> {
    let mut command = command;
    if let Some(tx) = spawner() {
        let (reply_tx, reply_rx) = mpsc::channel();
        match tx.send((command, reply_tx)) {
            Ok(()) => {
                return reply_rx
                    .recv()
                    .unwrap_or_else(|_| Err(io::Error::other("the spawner thread is gone")));
            }
            Err(mpsc::SendError((back, _))) => command = back,
        }
    }
    tracing::warn!("spawner thread unavailable; spawning from the current thread");
    command.spawn()
}

/// Marks `command` as ours: marker variable, own process group, no stdin and
/// `PR_SET_PDEATHSIG(SIGKILL)`.
pub fn isolate(command: &mut Command, marker: &str) {
    command
        .env(MARKER_VAR, marker)
        .process_group(0)
        .stdin(Stdio::null());
    // SAFETY: the closure runs between fork and exec; it only calls prctl,
    // which is async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            let sig = libc::SIGKILL as libc::c_ulong;
            if libc::prctl(libc::PR_SET_PDEATHSIG, sig, 0_u64, 0_u64, 0_u64) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `program arg arg…` for messages.
pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Sends `sig` to the process group `pgid`.
fn signal_group(pgid: u32, sig: c_int) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // SAFETY: kill(2) has no memory-safety requirements. A failure (ESRCH:
    // the group is already empty) is what we want anyway.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// Whether the child `pid` has exited, *without* reaping it (so its pid, and
/// with it the process group id, cannot be reused yet). Returns how it ended.
/// Whether a process of group `pgid` runs (zombies do not count: they have
/// ended and wait for a parent to reap them).
fn group_running(pgid: u32) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // `pid (comm) state ppid pgrp ...`; comm may hold spaces and
            // parentheses, so the fields are read after the last ')'.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let pgrp = fields.nth(1).and_then(|p| p.parse::<u32>().ok());
            state != Some("Z") && pgrp == Some(pgid)
        })
}

fn exited_nowait(pid: u32) -> Option<String> {
    let pid = libc::id_t::try_from(pid).ok()?;
    // SAFETY: siginfo_t is plain data; all-zero is a valid value and is what
    // waitid(WNOHANG) leaves when no child changed state.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable siginfo_t.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if rc == -1 {
        // ECHILD: already reaped (or not ours): it is gone.
        return Some("gone".into());
    }
    // SAFETY: waitid filled in the SIGCHLD fields when si_pid is non-zero.
    let (child, status) = unsafe { (info.si_pid(), info.si_status()) };
    if child == 0 {
        return None;
    }
    Some(match info.si_code {
        libc::CLD_EXITED => format!("exit status {status}"),
        libc::CLD_KILLED | libc::CLD_DUMPED => format!("killed by signal {status}"),
        other => format!("ended (code {other}, status {status})"),
    })
}

/// A long-running child process of the testbed, with its log file.
#[derive(Debug)]
pub struct Proc {
    label: String,
    child: Child,
    log: PathBuf,
    reaped: Option<ExitStatus>,
}

impl Proc {
    /// Starts `command` (marked with [`isolate`]) with stdout and stderr
    /// appended to `log`.
    pub fn spawn(label: &str, mut command: Command, marker: &str, log: &Path) -> Result<Proc> {
        isolate(&mut command, marker);
        let line = describe(&command);
        let (out, err) = logs::open(log, label, &line)?;
        command.stdout(out).stderr(err);
        let child = spawn_command(command).with_context(|| format!("starting {label}: {line}"))?;
        tracing::debug!(label, pid = child.id(), "started {line}");
        Ok(Proc {
            label: label.to_owned(),
            child,
            log: log.to_owned(),
            reaped: None,
        })
    }

    /// Like [`Proc::spawn`], but stdin is a pipe (see [`Proc::take_stdin`])
    /// and stdout goes to `stdout` instead of the log: for a program that
    /// talks over its standard streams, like the consent dialog.
    pub fn spawn_piped(
        label: &str,
        mut command: Command,
        marker: &str,
        log: &Path,
        stdout: fs::File,
    ) -> Result<Proc> {
        isolate(&mut command, marker);
        let line = describe(&command);
        let (_, err) = logs::open(log, label, &line)?;
        command.stdin(Stdio::piped()).stdout(stdout).stderr(err);
        let child = spawn_command(command).with_context(|| format!("starting {label}: {line}"))?;
        tracing::debug!(label, pid = child.id(), "started {line}");
        Ok(Proc {
            label: label.to_owned(),
            child,
            log: log.to_owned(),
            reaped: None,
        })
    }

    /// The write end of stdin of a process from [`Proc::spawn_piped`] (once).
    pub fn take_stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `None` while it runs; how it ended once it has exited.
    pub fn exit_state(&self) -> Option<String> {
        match self.reaped {
            Some(status) => Some(status.to_string()),
            None => exited_nowait(self.pid()),
        }
    }

    pub fn is_running(&self) -> bool {
        self.exit_state().is_none()
    }

    /// Whether the leader or any other process of its group still runs.
    /// On the testing stack the leader is bwrap, which dies at once on
    /// SIGTERM while the program it runs is still shutting down: waiting
    /// for the leader alone SIGKILLed ionChannel in the middle of releasing
    /// its keys (seen on the cosmic-comp stand-in, which, unlike wlroots,
    /// keeps a gone virtual keyboard's keys down).
    pub fn group_running(&self) -> bool {
        self.reaped.is_none() && group_running(self.pid())
    }

    /// Sends `sig` to the whole process group (as long as the leader has not
    /// been reaped, so the group id is still ours).
    pub fn signal(&self, sig: c_int) {
        if self.reaped.is_none() {
            signal_group(self.pid(), sig);
        }
    }

    /// SIGKILLs the group and reaps the leader.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        self.reap();
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL; reaps.
    pub fn stop(&mut self, grace: Duration) {
        terminate_all(&mut [self], grace);
    }

    fn reap(&mut self) {
        if self.reaped.is_none() {
            match self.child.wait() {
                Ok(status) => self.reaped = Some(status),
                Err(err) => tracing::warn!(label = %self.label, "reaping failed: {err}"),
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGTERMs every group at once, waits up to `grace` for the leaders to exit,
/// SIGKILLs every group (stragglers included), then reaps the leaders.
pub fn terminate_all(procs: &mut [&mut Proc], grace: Duration) {
    for proc in procs.iter() {
        proc.signal(libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && procs.iter().any(|p| p.group_running()) {
        thread::sleep(Duration::from_millis(10));
    }
    for proc in procs.iter_mut() {
        proc.kill();
    }
}

/// Runs a short-lived tool to completion (marked like every other child),
/// capturing its output; kills it after `timeout`.
pub fn run(mut command: Command, marker: &str, timeout: Duration) -> Result<Output> {
    isolate(&mut command, marker);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let line = describe(&command);
    let mut child = spawn_command(command).with_context(|| format!("running {line}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    while exited_nowait(pid).is_none() {
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        thread::sleep(Duration::from_millis(2));
    }
    // Kill whatever the tool left in its group (or the tool itself on time
    // out) so the pipes close, then reap.
    signal_group(pid, libc::SIGKILL);
    let status = child
        .wait()
        .with_context(|| format!("waiting for {line}"))?;
    let collect = |reader: Option<thread::JoinHandle<Vec<u8>>>| {
        reader.and_then(|r| r.join().ok()).unwrap_or_default()
    };
    let output = Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    };
    if timed_out {
        bail!(
            "`{line}` did not finish within {timeout:?}; stderr: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

/// Like [`run`], but fails unless the tool exits with success; returns stdout.
pub fn run_ok(command: Command, marker: &str, timeout: Duration) -> Result<String> {
    let line = describe(&command);
    let output = run(command, marker, timeout)?;
    if !output.status.success() {
        bail!(
            "`{line}` failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn drain(mut reader: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        // A read error just truncates what we report.
        let _ = reader.read_to_end(&mut buf);
        buf
    })
}

/// Pids of the live processes whose environment holds
/// `IONLAB_MARKER=<marker>` (zombies have an empty environment and are not
/// listed; processes of other users are invisible unless we are root).
pub fn processes_with_marker(marker: &str) -> Vec<u32> {
    let needle = format!("{MARKER_VAR}={marker}");
    let own = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|&b| b == 0)
                    .any(|entry| entry == needle.as_bytes())
            })
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// SIGKILLs every process carrying the marker until none is left (or
/// `timeout` passes). Returns the pids it found.
pub fn kill_marked(marker: &str, timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    let mut found = Vec::new();
    loop {
        let pids = processes_with_marker(marker);
        if pids.is_empty() || Instant::now() >= deadline {
            if !pids.is_empty() {
                tracing::warn!(?pids, "processes with the testbed marker survived SIGKILL");
            }
            return found;
        }
        for &pid in &pids {
            if !found.contains(&pid) {
                found.push(pid);
            }
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill(2) has no memory-safety requirements.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The process running `program` (matched on the file name of its
/// `argv[0]`): `pid` itself or its first such descendant, breadth first.
/// Wrappers in between (the testing stack's shims: bwrap, the keeper shell,
/// setpriv) are skipped, so that CPU time and memory are the program's own.
pub fn program_pid(pid: u32, program: &str) -> Option<u32> {
    let argv0 = |pid: u32| -> Option<String> {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let first = cmdline.split(|&b| b == 0).next()?;
        let first = String::from_utf8_lossy(first).into_owned();
        Some(first.rsplit('/').next().unwrap_or_default().to_owned())
    };
    let parent = |pid: u32| -> Option<u32> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Field 4, counted after the command name's closing parenthesis.
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let all: Vec<(u32, u32)> = fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, parent(p)?)))
        .collect();
    let mut queue = std::collections::VecDeque::from([pid]);
    while let Some(current) = queue.pop_front() {
        if argv0(current).as_deref() == Some(program) {
            return Some(current);
        }
        queue.extend(all.iter().filter(|(_, pp)| *pp == current).map(|(p, _)| *p));
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The testing stack's shape in small: a leader that dies at once on
    /// SIGTERM (bwrap) and, in its group, a program that takes a moment to
    /// shut down (ionChannel releasing keys). `stop` lets it finish.
    #[test]
    fn stop_waits_for_the_whole_group_not_only_its_leader() {
        let dir = tempfile::tempdir().unwrap();
        let done = dir.path().join("done");
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!(
            r#"sh -c 'trap "sleep 0.3; touch {}; exit 0" TERM; while :; do sleep 0.05; done' & wait"#,
            done.display()
        ));
        let mut proc = Proc::spawn(
            "group",
            command,
            "ion-lab-process-test",
            &dir.path().join("log"),
        )
        .unwrap();
        // Until the inner shell has set its trap.
        thread::sleep(Duration::from_millis(300));
        let t0 = Instant::now();
        proc.stop(Duration::from_secs(5));
        assert!(
            done.exists(),
            "the group's program was killed before it finished shutting down"
        );
        assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
        assert!(!group_running(proc.pid()) || proc.reaped.is_some());
    }
}
