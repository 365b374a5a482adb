//! Running the test window (`ion-window`) inside the testbed.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};

use super::find_workspace_bin;
use super::process::Proc;
use super::{Component, Testbed};

/// A running `ion-window`; dropping it kills it.
#[derive(Debug)]
pub struct WindowHandle {
    proc: Proc,
    ready: PathBuf,
}

impl WindowHandle {
    /// The size the window shows now (from its ready file).
    pub fn shown_size(&self) -> Option<(u32, u32)> {
        let text = std::fs::read_to_string(&self.ready).ok()?;
        crate::window::parse_size(text.trim()).ok()
    }

    /// Switches to the other size and waits until it is shown.
    pub fn resize(&self, tb: &Testbed, to: (u32, u32)) -> Result<()> {
        self.proc.signal(libc::SIGUSR1);
        tb.wait_watching(
            &format!("ion-window to show {}x{}", to.0, to.1),
            &[&self.proc],
            || Ok(self.shown_size() == Some(to)),
        )
    }

    pub fn is_running(&self) -> bool {
        self.proc.is_running()
    }

    /// Closes the window (SIGTERM: it destroys its toplevel and leaves).
    pub fn close(mut self) {
        self.proc.stop(super::STOP_GRACE);
    }
}

impl Testbed {
    /// Starts `ion-window` with `args` (see `ion-window --help`) and waits
    /// until its first frame is shown.
    pub fn start_window(&self, args: &[&str]) -> Result<WindowHandle> {
        let n = self.probes.fetch_add(1, Ordering::Relaxed);
        let ready = self.paths.tmp.join(format!("window-{n}.ready"));
        let log = self.paths.log(&format!("window-{n}"));
        let _ = std::fs::remove_file(&ready);
        let mut command = self.command(find_workspace_bin("ion-window")?);
        command.arg("--ready").arg(&ready).args(args);
        let proc = Proc::spawn(&format!("ion-window-{n}"), command, &self.marker, &log)?;
        let mut watch = vec![&proc];
        if let Some(compositor) = self.proc(Component::Compositor) {
            watch.push(compositor);
        }
        self.wait_watching("ion-window to show its first frame", &watch, || {
            Ok(ready.exists())
        })
        .context("starting ion-window")?;
        Ok(WindowHandle { proc, ready })
    }
}
