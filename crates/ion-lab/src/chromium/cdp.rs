//! The Chrome DevTools Protocol over `--remote-debugging-pipe`: Chromium
//! reads commands from its fd 3 and writes replies and events to its fd 4,
//! each message one JSON text ended by a NUL byte. No WebSocket and no
//! port: nothing else on the machine can drive the browser.
//!
//! Written by hand (a request/reply matcher and a reader thread) because
//! the Rust CDP crates (chromiumoxide, headless_chrome) bring an async
//! runtime or a browser download of their own and speak WebSocket only.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// The browser's end of the pipes, to put on fds 3 and 4 of the child.
pub struct ChildFds {
    /// Chromium reads commands here (its fd 3).
    pub commands: OwnedFd,
    /// Chromium writes messages here (its fd 4).
    pub messages: OwnedFd,
}

/// Our end of the pipes.
pub struct Cdp {
    to_browser: File,
    from_browser: Receiver<Value>,
    next_id: u64,
}

impl Cdp {
    /// Two pipes: ours, and the child's ends (see [`ChildFds::install`]).
    pub fn pipes() -> Result<(Cdp, ChildFds)> {
        let (command_read, command_write) = std::io::pipe().context("pipe")?;
        let (message_read, message_write) = std::io::pipe().context("pipe")?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("cdp-reader".into())
            .spawn(move || {
                let mut reader = BufReader::new(message_read);
                let mut message = Vec::new();
                loop {
                    message.clear();
                    match reader.read_until(0, &mut message) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if message.last() == Some(&0) {
                        message.pop();
                    }
                    let Ok(value) = serde_json::from_slice::<Value>(&message) else {
                        tracing::warn!("CDP: not JSON: {}", String::from_utf8_lossy(&message));
                        continue;
                    };
                    if tx.send(value).is_err() {
                        return;
                    }
                }
            })
            .context("starting the CDP reader")?;
        Ok((
            Cdp {
                to_browser: File::from(OwnedFd::from(command_write)),
                from_browser: rx,
                next_id: 0,
            },
            ChildFds {
                commands: command_read.into(),
                messages: message_write.into(),
            },
        ))
    }

    /// Sends `method` (to the browser, or to an attached target's
    /// `session`) and waits up to `timeout` for its reply; a CDP error is an
    /// error. Events that come meanwhile are dropped.
    pub fn call(
        &mut self,
        method: &str,
        params: Value,
        session: Option<&str>,
        timeout: Duration,
    ) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message)?;
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .with_context(|| format!("sending {method} to Chromium"))?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = match self.from_browser.recv_timeout(left) {
                Ok(reply) => reply,
                Err(RecvTimeoutError::Timeout) => {
                    bail!("Chromium did not answer {method} within {timeout:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    bail!("Chromium closed its DevTools pipe (waiting for {method})")
                }
            };
            if reply.get("id").and_then(Value::as_u64) != Some(id) {
                continue;
            }
            if let Some(error) = reply.get("error") {
                bail!("{method}: {error}");
            }
            return Ok(reply.get("result").cloned().unwrap_or(Value::Null));
        }
    }
}

impl ChildFds {
    /// Arranges for the child to get the pipes as fds 3 and 4 (and nothing
    /// else of ours): they are first moved above 9, so that the `dup2`s in
    /// the child can neither clobber each other nor be no-ops that leave
    /// close-on-exec set.
    pub fn install(self, command: &mut std::process::Command) -> Result<()> {
        use std::os::unix::process::CommandExt;
        let high =
            |fd: &OwnedFd| -> Result<OwnedFd> { Ok(rustix::io::fcntl_dupfd_cloexec(fd, 10)?) };
        let (commands, messages) = (high(&self.commands)?, high(&self.messages)?);
        let (c, m) = (commands.as_raw_fd(), messages.as_raw_fd());
        // SAFETY: between fork and exec only dup2, which is
        // async-signal-safe; the fds stay open in the parent until the
        // closure (which owns them) is dropped with the Command.
        unsafe {
            command.pre_exec(move || {
                let _keep = (&commands, &messages);
                for (from, to) in [(c, 3), (m, 4)] {
                    if libc::dup2(from, to) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        Ok(())
    }
}
