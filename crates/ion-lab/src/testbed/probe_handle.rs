//! Running the probe client (`ion-probe`) inside the testbed.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::Result;

use super::find_workspace_bin;
use super::process::Proc;
use super::{Component, Testbed};

/// A running `ion-probe`; dropping it kills it.
#[derive(Debug)]
pub struct ProbeHandle {
    proc: Proc,
    events: PathBuf,
    ready: PathBuf,
    outputs: PathBuf,
}

impl ProbeHandle {
    /// The JSON-lines file the probe appends its events to.
    pub fn events_path(&self) -> &Path {
        &self.events
    }

    /// The file the probe creates once it is ready.
    pub fn ready_path(&self) -> &Path {
        &self.ready
    }

    /// The file where the probe describes the outputs it sees.
    pub fn outputs_path(&self) -> &Path {
        &self.outputs
    }

    /// The probe's stdout+stderr.
    pub fn log_path(&self) -> &Path {
        self.proc.log()
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// `None` while it runs; how it ended once it has exited.
    pub fn exit_state(&self) -> Option<String> {
        self.proc.exit_state()
    }

    pub fn is_running(&self) -> bool {
        self.proc.is_running()
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the probe's process group.
    pub fn signal(&self, signal: i32) {
        self.proc.signal(signal);
    }

    /// Kills the probe now (same as dropping the handle).
    pub fn kill(mut self) {
        self.proc.kill();
    }
}

impl Testbed {
    /// Starts `ion-probe` in the session and waits until it is ready. The
    /// first probe writes `logs/probe-events.jsonl`, `tmp/probe.ready` and
    /// `tmp/probe-outputs.json`; later ones add `-<n>` to each name.
    pub fn start_probe(&self) -> Result<ProbeHandle> {
        self.start_probe_with_args(&[])
    }

    /// [`Testbed::start_probe`] with extra arguments for `ion-probe`.
    pub fn start_probe_with_args(&self, extra: &[&str]) -> Result<ProbeHandle> {
        let n = self.probes.fetch_add(1, Ordering::Relaxed);
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{}", n + 1)
        };
        let events = self.paths.logs.join(format!("probe{suffix}-events.jsonl"));
        let ready = self.paths.tmp.join(format!("probe{suffix}.ready"));
        let outputs = self.paths.tmp.join(format!("probe{suffix}-outputs.json"));
        let log = self.paths.log(&format!("probe{suffix}"));
        for stale in [&ready, &outputs] {
            // Absent is what we want; any other problem shows up below.
            let _ = std::fs::remove_file(stale);
        }
        let mut command = self.command(find_workspace_bin("ion-probe")?);
        command
            .arg("--events")
            .arg(&events)
            .arg("--ready")
            .arg(&ready)
            .arg("--outputs")
            .arg(&outputs)
            .args(extra);
        let label = format!("ion-probe{suffix}");
        let proc = Proc::spawn(&label, command, &self.marker, &log)?;
        let mut watch = vec![&proc];
        if let Some(compositor) = self.proc(Component::Compositor) {
            watch.push(compositor);
        }
        self.wait_watching(&format!("{label} to be ready"), &watch, || {
            Ok(ready.exists())
        })?;
        Ok(ProbeHandle {
            proc,
            events,
            ready,
            outputs,
        })
    }
}
