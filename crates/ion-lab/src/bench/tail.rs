//! Reading the probe's event log as it grows, without re-reading it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::probe::record::{Event, Record};

/// How often the log is polled while waiting.
const POLL: Duration = Duration::from_millis(2);

/// The probe's log, read incrementally: every complete line becomes a
/// [`Record`]; a partial last line waits for the next read.
pub struct Tail {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
    records: Vec<Record>,
}

impl Tail {
    pub fn open(path: &Path) -> Result<Tail> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(Tail {
            path: path.to_path_buf(),
            file,
            pending: Vec::new(),
            records: Vec::new(),
        })
    }

    /// Reads what was appended since the last call; returns how many
    /// records it added.
    pub fn poll(&mut self) -> Result<usize> {
        let before = self.records.len();
        let start = self.pending.len();
        self.file
            .read_to_end(&mut self.pending)
            .with_context(|| format!("reading {}", self.path.display()))?;
        if self.pending.len() == start {
            return Ok(0);
        }
        let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(0);
        };
        let complete: Vec<u8> = self.pending.drain(..=end).collect();
        let text = std::str::from_utf8(&complete).context("the probe's log is not UTF-8")?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            self.records.push(Record::parse_line(line)?);
        }
        Ok(self.records.len() - before)
    }

    /// Every record read so far.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Reads what is there and returns the number of records: what comes
    /// after it belongs to the next phase.
    pub fn mark(&mut self) -> Result<usize> {
        self.poll()?;
        Ok(self.records.len())
    }

    /// Waits until `want` records after `mark` match `filter`, or until no
    /// record at all arrived for `quiet` (events were lost), or `max`
    /// passed. Returns the matching records after `mark` (possibly fewer
    /// than `want`).
    pub async fn wait_for(
        &mut self,
        mark: usize,
        want: usize,
        filter: fn(&Event) -> bool,
        quiet: Duration,
        max: Duration,
    ) -> Result<Vec<Record>> {
        let start = Instant::now();
        let mut last_growth = Instant::now();
        let mut counted = mark;
        let mut seen = 0;
        loop {
            if self.poll()? > 0 {
                last_growth = Instant::now();
            }
            let new = self.records.get(counted..).unwrap_or(&[]);
            seen += new.iter().filter(|r| filter(&r.event)).count();
            counted = counted.max(self.records.len());
            if seen >= want || last_growth.elapsed() >= quiet || start.elapsed() >= max {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(self
            .records
            .get(mark..)
            .unwrap_or(&[])
            .iter()
            .filter(|r| filter(&r.event))
            .cloned()
            .collect())
    }
}
