//! Waiting on the probe's event log: tests poll it until what they expect
//! shows up (or a deadline passes), never sleep for a guessed time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::probe::record::{read_records, Event, Record};

pub struct ProbeLog {
    path: PathBuf,
}

impl ProbeLog {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn records(&self) -> Result<Vec<Record>> {
        read_records(&self.path)
    }

    /// How many records there are now; pass it to `wait_since` to look
    /// only at what comes after.
    pub fn mark(&self) -> Result<usize> {
        Ok(self.records()?.len())
    }

    /// Polls the log until `f` finds what it wants in the records after
    /// `since`.
    pub async fn wait_since<T>(
        &self,
        since: usize,
        timeout: Duration,
        what: &str,
        f: impl Fn(&[Record]) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.records()?;
            let tail = records.get(since..).unwrap_or(&[]);
            if let Some(v) = f(tail) {
                return Ok(v);
            }
            if Instant::now() > deadline {
                let last: Vec<String> = tail
                    .iter()
                    .rev()
                    .take(15)
                    .rev()
                    .map(|r| format!("{:?}", r.event))
                    .collect();
                bail!(
                    "probe did not see {what} within {timeout:?}; last events:\n  {}",
                    last.join("\n  ")
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the seat has both a pointer and a keyboard bound by the
    /// probe (virtual devices appear at Start; input sent before the
    /// client binds is lost).
    pub async fn wait_capabilities(&self, pointer: bool, keyboard: bool) -> Result<()> {
        self.wait_since(0, Duration::from_secs(10), "seat capabilities", |recs| {
            recs.iter().rev().find_map(|r| match &r.event {
                Event::Capabilities {
                    pointer: p,
                    keyboard: k,
                    ..
                } if (*p || !pointer) && (*k || !keyboard) => Some(()),
                _ => None,
            })
        })
        .await
    }
}

/// The events of a kind after a mark, for assertions.
pub fn events(records: &[Record]) -> impl Iterator<Item = &Event> {
    records.iter().map(|r| &r.event)
}
