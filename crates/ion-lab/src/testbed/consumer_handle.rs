//! Running the frame consumer (`ion-consumer`) inside the testbed.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;

use super::find_workspace_bin;
use super::process::Proc;
use super::Testbed;
use crate::consumer::{read_records, FrameRecord};

/// A running `ion-consumer`; dropping it kills it.
#[derive(Debug)]
pub struct ConsumerHandle {
    proc: Proc,
    out: PathBuf,
    save: PathBuf,
}

impl ConsumerHandle {
    /// Frames recorded so far.
    pub fn frames(&self) -> Vec<FrameRecord> {
        read_records(&self.out).unwrap_or_default()
    }

    /// Waits until `pick` finds something in the frames so far.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut pick: impl FnMut(&[FrameRecord]) -> Option<T>,
    ) -> Result<T> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let frames = self.frames();
            if let Some(v) = pick(&frames) {
                return Ok(v);
            }
            if std::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "timed out waiting for {what}; consumer {}; last frames: {:?}",
                    self.exit_state().unwrap_or_else(|| "running".into()),
                    frames.iter().rev().take(3).collect::<Vec<_>>()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Where saved frames go (`NNNNN-WxH.<format>`), if saving was asked
    /// for.
    pub fn save_dir(&self) -> &Path {
        &self.save
    }

    /// The saved frame with this index and size, as RGB bytes.
    pub fn saved(&self, index: usize, width: u32, height: u32) -> Result<Vec<u8>> {
        let prefix = format!("{index:05}-{width}x{height}.");
        let path = std::fs::read_dir(&self.save)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .ok_or_else(|| anyhow::anyhow!("no saved frame {prefix}*"))?;
        let format = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("bgrx")
            .to_owned();
        let format = match format.as_str() {
            "rgbx" => "RGBx",
            "rgba" => "RGBA",
            "bgra" => "BGRA",
            _ => "BGRx",
        };
        Ok(crate::consumer::to_rgb(&std::fs::read(&path)?, format))
    }

    pub fn log_path(&self) -> &Path {
        self.proc.log()
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    pub fn is_running(&self) -> bool {
        self.proc.is_running()
    }

    pub fn exit_state(&self) -> Option<String> {
        self.proc.exit_state()
    }

    pub fn kill(mut self) {
        self.proc.kill();
    }
}

impl Testbed {
    /// Starts `ion-consumer` on `node` with extra arguments (`--max-fps`,
    /// `--save`, `--fd`). Frames go to `logs/consumer-<n>.jsonl`; with
    /// `save` the frames are kept under `tmp/consumer-<n>/`.
    pub fn start_consumer(&self, node: u32, save: bool, extra: &[&str]) -> Result<ConsumerHandle> {
        self.start_consumer_with(node, save, extra, |_| {})
    }

    /// [`Testbed::start_consumer`] with a hook on the command (e.g. to
    /// hand over a PipeWire remote fd).
    pub fn start_consumer_with(
        &self,
        node: u32,
        save: bool,
        extra: &[&str],
        prepare: impl FnOnce(&mut std::process::Command),
    ) -> Result<ConsumerHandle> {
        let n = self.consumers.fetch_add(1, Ordering::Relaxed) + 1;
        let out = self.paths.logs.join(format!("consumer-{n}.jsonl"));
        let save_dir = self.paths.tmp.join(format!("consumer-{n}"));
        let log = self.paths.log(&format!("consumer-{n}"));
        let mut command = self.command(find_workspace_bin("ion-consumer")?);
        command
            .arg("--node")
            .arg(node.to_string())
            .arg("--out")
            .arg(&out);
        if save {
            command.arg("--save").arg(&save_dir);
        }
        command.args(extra);
        prepare(&mut command);
        let proc = Proc::spawn(&format!("ion-consumer-{n}"), command, &self.marker, &log)?;
        Ok(ConsumerHandle {
            proc,
            out,
            save: save_dir,
        })
    }
}
