//! Running the consent dialog (`ionchannel-consent`) inside the testbed
//! the way the daemon runs it: no arguments, the request as JSON on stdin,
//! which is then closed, and the answer read from stdout.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ion_core::consent::{ConsentAnswer, ConsentRequest};

use super::find_workspace_bin;
use super::process::{program_pid, Proc};
use super::{Component, Testbed};
use crate::ocr::ScreenText;

/// The dialog's program (a workspace binary; `IONCHANNEL_CONSENT_BIN`
/// overrides it, e.g. with the testing stack's shim).
pub const CONSENT_PROGRAM: &str = "ionchannel-consent";

/// A running `ionchannel-consent`; dropping it kills it.
#[derive(Debug)]
pub struct ConsentHandle {
    proc: Proc,
    stdout: PathBuf,
}

impl ConsentHandle {
    /// Everything the dialog wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// The answer on stdout, which must be exactly one JSON line.
    pub fn answer(&self) -> Result<ConsentAnswer> {
        let out = self.stdout();
        let Some(line) = out.strip_suffix('\n').filter(|l| !l.contains('\n')) else {
            bail!("the dialog's stdout is not one line: {out:?}");
        };
        serde_json::from_str(line).with_context(|| format!("the dialog's answer {line:?}"))
    }

    /// The dialog's stderr (its log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.proc.log()).unwrap_or_default()
    }

    pub fn is_running(&self) -> bool {
        self.proc.is_running()
    }

    /// `None` while it runs; how it ended once it has exited.
    pub fn exit_state(&self) -> Option<String> {
        self.proc.exit_state()
    }

    /// Sends SIGTERM to the dialog's own process, as the daemon does (below
    /// any wrapper: on the testing stack the child is the shim's bwrap).
    pub fn terminate(&self) {
        let pid = program_pid(self.proc.pid(), CONSENT_PROGRAM).unwrap_or(self.proc.pid());
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill(2) has no memory-safety requirements.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }

    /// Waits up to `timeout` for the dialog to exit; returns how it ended
    /// and how long that took.
    pub fn wait_exit(&self, timeout: Duration) -> Result<(String, Duration)> {
        let start = Instant::now();
        loop {
            if let Some(state) = self.proc.exit_state() {
                return Ok((state, start.elapsed()));
            }
            if start.elapsed() >= timeout {
                bail!("the dialog did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Reads the screen until every word of `words` is on it (the dialog
    /// is shown and drawn); fails at once if the dialog or the compositor
    /// exits. Returns the screen's words.
    pub fn wait_shown(&self, tb: &Testbed, words: &[&str]) -> Result<ScreenText> {
        let mut watch = vec![&self.proc];
        if let Some(compositor) = tb.proc(Component::Compositor) {
            watch.push(compositor);
        }
        let mut last = ScreenText::default();
        let shown = tb.wait_watching("the consent dialog to show", &watch, || {
            last = tb.read_screen()?;
            Ok(words.iter().all(|w| last.find(w).is_some()))
        });
        match shown {
            Ok(()) => Ok(last),
            Err(err) => Err(err.context(format!(
                "the screen read, looking for {words:?}:\n{}\ndialog log:\n{}",
                last.dump(),
                self.log()
            ))),
        }
    }
}

impl Testbed {
    /// Starts `ionchannel-consent` with `request` on its stdin (then
    /// closed). Its stdout goes to `tmp/consent-<n>.out`, its stderr to
    /// `logs/consent-<n>.log`.
    pub fn start_consent(&self, request: &ConsentRequest) -> Result<ConsentHandle> {
        let json = serde_json::to_vec(request).context("writing the request as JSON")?;
        self.start_consent_raw(&json)
    }

    /// [`Testbed::start_consent`] with any bytes on stdin.
    pub fn start_consent_raw(&self, stdin: &[u8]) -> Result<ConsentHandle> {
        let n = self.consents.fetch_add(1, Ordering::Relaxed);
        let stdout = self.paths.tmp.join(format!("consent-{n}.out"));
        let log = self.paths.log(&format!("consent-{n}"));
        let out = std::fs::File::create(&stdout)
            .with_context(|| format!("creating {}", stdout.display()))?;
        let command = self.command(find_workspace_bin(CONSENT_PROGRAM)?);
        let mut proc =
            Proc::spawn_piped(&format!("consent-{n}"), command, &self.marker, &log, out)?;
        let mut pipe = proc.take_stdin().context("the dialog's stdin")?;
        pipe.write_all(stdin)
            .context("writing the request to the dialog")?;
        // Dropping the pipe closes it: the dialog reads to the end.
        drop(pipe);
        Ok(ConsentHandle { proc, stdout })
    }
}
