//! `ionchannel-lab bench clipboard`: a large payload (50 MiB by default,
//! non-uniform bytes) through the Clipboard portal each way, on a
//! RemoteDesktop session started with the clipboard, through the real
//! frontend (1.20 and later: the testing stack; 1.16 has no Clipboard).
//!
//! - **Desktop → remote.** `wl-copy --type application/octet-stream <
//!   file` (the local app), then `SelectionRead` and the fd read to its
//!   end. Timed from the call to the last byte.
//! - **Remote → desktop.** `SetSelection([application/octet-stream])`,
//!   `wl-paste --type application/octet-stream > file` (the local paste),
//!   `SelectionTransfer` answered with `SelectionWrite` and the payload
//!   written, `SelectionWriteDone`. Timed from starting wl-paste to its
//!   exit.
//!
//! Both check the bytes one for one. ionChannel's resident memory is
//! watched during each ([`PeakWatch`]: `VmRSS` sampled every 2 ms, and
//! `VmHWM` reset at the start where allowed): the data goes through pipes
//! 64 KiB at a time, so the peak should grow by far less than the payload.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use futures_util::StreamExt;
use serde::Serialize;

use super::input::{environment, Environment};
use super::procstat::{self, PeakMemory, PeakWatch};
use crate::client::{Clipboard, PortalClient, RemoteDesktop, KEYBOARD};
use crate::testbed::{Component, Testbed};

/// The MIME type both directions use.
pub const MIME: &str = "application/octet-stream";
/// How long a signal (owner change, transfer) may take to come.
const SIGNAL_WAIT: Duration = Duration::from_secs(10);
/// How long one transfer may take at most.
const TRANSFER_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct ClipboardBenchOptions {
    /// Payload size in bytes.
    pub size: usize,
    pub keep_logs: bool,
}

impl Default for ClipboardBenchOptions {
    fn default() -> Self {
        Self {
            size: 50 << 20,
            keep_logs: false,
        }
    }
}

/// One direction's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    /// "desktop → remote" or "remote → desktop".
    pub direction: String,
    pub bytes: u64,
    /// Bytes that arrived.
    pub received: u64,
    /// Every byte arrived, in order.
    pub identical: bool,
    pub seconds: f64,
    /// MiB (2^20 bytes) per second.
    pub mib_per_s: f64,
    /// ionChannel's CPU time (user + system) during the transfer.
    pub ionchannel_cpu_ms: f64,
    pub compositor_cpu_ms: f64,
    /// ionChannel's resident memory during the transfer.
    pub memory: PeakMemory,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClipboardReport {
    pub environment: Environment,
    /// The frontend's Clipboard interface version.
    pub clipboard_version: u32,
    pub transfers: Vec<Transfer>,
}

/// `len` bytes that are not alike (xorshift64*): a shifted, truncated or
/// repeated copy shows, and nothing compresses them.
pub fn payload(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The pids whose CPU time a transfer reports.
#[derive(Debug, Clone, Copy)]
pub struct Pids {
    pub ionchannel: u32,
    pub compositor: Option<u32>,
}

impl Pids {
    pub fn of(testbed: &Testbed) -> Result<Pids> {
        Ok(Pids {
            ionchannel: testbed
                .program_pid(Component::IonChannel)
                .context("ionchannel is not running")?,
            compositor: testbed.program_pid(Component::Compositor),
        })
    }

    fn cpu(&self) -> (u64, u64) {
        (
            procstat::cpu_us(self.ionchannel).unwrap_or(0),
            self.compositor
                .and_then(|p| procstat::cpu_us(p).ok())
                .unwrap_or(0),
        )
    }
}

/// What a transfer measured, before it becomes a [`Transfer`].
struct Measure {
    watch: PeakWatch,
    cpu: (u64, u64),
    t0: Instant,
}

impl Measure {
    fn start(pids: &Pids) -> Result<Measure> {
        Ok(Measure {
            watch: PeakWatch::start(pids.ionchannel)?,
            cpu: pids.cpu(),
            t0: Instant::now(),
        })
    }

    fn finish(
        self,
        pids: &Pids,
        direction: &str,
        bytes: usize,
        received: u64,
        identical: bool,
    ) -> Result<Transfer> {
        let seconds = self.t0.elapsed().as_secs_f64();
        let (ion, comp) = pids.cpu();
        let memory = self.watch.finish()?;
        Ok(Transfer {
            direction: direction.to_owned(),
            bytes: bytes as u64,
            received,
            identical,
            seconds,
            mib_per_s: received as f64 / f64::from(1u32 << 20) / seconds,
            ionchannel_cpu_ms: ion.saturating_sub(self.cpu.0) as f64 / 1e3,
            compositor_cpu_ms: comp.saturating_sub(self.cpu.1) as f64 / 1e3,
            memory,
        })
    }
}

/// Reads `fd` to its end, comparing with `want` as it goes: (bytes read,
/// identical).
fn read_compare(fd: std::os::fd::OwnedFd, want: &[u8]) -> std::io::Result<(u64, bool)> {
    let mut file = std::fs::File::from(fd);
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0usize;
    let mut same = true;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let end = at + n;
        same &= want.get(at..end) == Some(&buf[..n]);
        at = end;
    }
    Ok((at as u64, same && at == want.len()))
}

/// Desktop → remote: `wl-copy --type application/octet-stream < file`
/// (`file` holds `payload`), then SelectionRead to the end.
pub async fn desktop_to_remote(
    testbed: &Testbed,
    clip: &Clipboard<'_>,
    pids: &Pids,
    payload: Arc<Vec<u8>>,
    file: &Path,
) -> Result<Transfer> {
    let mut owners = Box::pin(clip.owner_changes().await?);
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let status = testbed
        .command("wl-copy")
        .args(["--type", MIME])
        .stdin(input)
        .stdout(Stdio::null())
        .status()
        .context("wl-copy (Debian: wl-clipboard)")?;
    ensure!(status.success(), "wl-copy: {status}");
    let deadline = tokio::time::Instant::now() + SIGNAL_WAIT;
    loop {
        let change = tokio::time::timeout_at(deadline, owners.next())
            .await
            .context("waiting for SelectionOwnerChanged after wl-copy")?
            .context("the SelectionOwnerChanged stream ended")?;
        if !change.session_is_owner && change.mime_types.iter().any(|m| m == MIME) {
            break;
        }
    }
    drop(owners);
    let measure = Measure::start(pids)?;
    let fd = clip.selection_read(MIME).await?;
    let want = payload.clone();
    let (received, identical) = tokio::time::timeout(
        TRANSFER_WAIT,
        tokio::task::spawn_blocking(move || read_compare(fd, &want)),
    )
    .await
    .context("SelectionRead's fd did not end")???;
    measure.finish(pids, "desktop → remote", payload.len(), received, identical)
}

/// Remote → desktop: SetSelection([application/octet-stream]), then
/// `wl-paste --type application/octet-stream > file`, answered with
/// SelectionWrite and `payload`.
pub async fn remote_to_desktop(
    testbed: &Testbed,
    clip: &Clipboard<'_>,
    pids: &Pids,
    payload: Arc<Vec<u8>>,
    file: &Path,
) -> Result<Transfer> {
    let mut owners = Box::pin(clip.owner_changes().await?);
    let mut transfers = Box::pin(clip.transfers().await?);
    clip.set_selection(&[MIME]).await?;
    let deadline = tokio::time::Instant::now() + SIGNAL_WAIT;
    loop {
        let change = tokio::time::timeout_at(deadline, owners.next())
            .await
            .context("waiting for SelectionOwnerChanged after SetSelection")?
            .context("the SelectionOwnerChanged stream ended")?;
        if change.session_is_owner {
            break;
        }
    }
    drop(owners);
    let output =
        std::fs::File::create(file).with_context(|| format!("creating {}", file.display()))?;
    let measure = Measure::start(pids)?;
    let mut paste = testbed
        .command("wl-paste")
        .args(["--no-newline", "--type", MIME])
        .stdout(output)
        .spawn()
        .context("wl-paste (Debian: wl-clipboard)")?;
    let ask = match tokio::time::timeout(SIGNAL_WAIT, transfers.next()).await {
        Ok(Some(ask)) => ask,
        other => {
            let _ = paste.kill();
            let _ = paste.wait();
            bail!("no SelectionTransfer for wl-paste ({other:?})");
        }
    };
    ensure!(
        ask.mime_type == MIME,
        "SelectionTransfer of {}",
        ask.mime_type
    );
    let fd = clip.selection_write(ask.serial).await?;
    let data = payload.clone();
    let written = tokio::time::timeout(
        TRANSFER_WAIT,
        tokio::task::spawn_blocking(move || std::fs::File::from(fd).write_all(&data)),
    )
    .await
    .context("writing the payload did not end")??;
    clip.selection_write_done(ask.serial, written.is_ok())
        .await?;
    written.context("writing the payload to SelectionWrite's fd")?;
    let status = tokio::time::timeout(
        TRANSFER_WAIT,
        tokio::task::spawn_blocking(move || paste.wait()),
    )
    .await
    .context("wl-paste did not end")???;
    ensure!(status.success(), "wl-paste: {status}");
    // The clock stops when the paste has its bytes; the check is after.
    let seconds = measure.t0.elapsed();
    let mut transfer = measure.finish(pids, "remote → desktop", payload.len(), 0, false)?;
    let got = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    transfer.seconds = seconds.as_secs_f64();
    transfer.received = got.len() as u64;
    transfer.identical = got == *payload;
    transfer.mib_per_s = transfer.received as f64 / f64::from(1u32 << 20) / transfer.seconds;
    Ok(transfer)
}

/// CreateSession, SelectDevices(keyboard), RequestClipboard, Start: a
/// session whose Start says clipboard_enabled.
pub async fn session_with_clipboard(client: &PortalClient) -> Result<RemoteDesktop<'_>> {
    let rd = RemoteDesktop::create(client).await?;
    rd.select_devices(KEYBOARD).await?.ok()?;
    Clipboard::of(&rd).request().await?;
    let (resp, results) = rd.start().await?;
    ensure!(resp.code == 0, "Start answered {}", resp.code);
    let results = results.context("Start returned no results")?;
    ensure!(
        results.clipboard_enabled,
        "Start did not enable the clipboard: {:?}",
        results.raw
    );
    Ok(rd)
}

pub fn run(opts: &ClipboardBenchOptions, progress: &mut dyn Write) -> Result<ClipboardReport> {
    let builder = Testbed::builder();
    writeln!(
        progress,
        "bench: starting a headless {} session…",
        builder.chosen_compositor()?
    )?;
    let testbed = builder
        .keep_logs(opts.keep_logs)
        .start()
        .context("starting the testbed")?;
    let environment = environment(&testbed)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("creating the async runtime")?;
    // The host stack's frontend (1.16) has no Clipboard: said plainly,
    // without the logs of a session that did nothing wrong.
    let version = runtime.block_on(async {
        let client = PortalClient::connect(testbed.bus_address()).await?;
        anyhow::Ok(Clipboard::frontend_version(&client).await)
    })?;
    let Some(clipboard_version) = version else {
        bail!(
            "this frontend ({}) has no Clipboard portal: it needs xdg-desktop-portal 1.20 or \
             newer. Run the benchmark on the testing stack: scripts/bench-testing.sh clipboard",
            environment.frontend
        );
    };
    let result = runtime.block_on(transfers(&testbed, opts, progress));
    if result.is_err() && !opts.keep_logs {
        testbed.dump_logs();
    }
    drop(runtime);
    drop(testbed);
    let transfers = result?;
    Ok(ClipboardReport {
        environment,
        clipboard_version,
        transfers,
    })
}

async fn transfers(
    testbed: &Testbed,
    opts: &ClipboardBenchOptions,
    progress: &mut dyn Write,
) -> Result<Vec<Transfer>> {
    let client = PortalClient::connect(testbed.bus_address()).await?;
    let pids = Pids::of(testbed)?;
    let rd = session_with_clipboard(&client).await?;
    let clip = Clipboard::of(&rd);
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let source = dir.path().join("payload");
    let pasted = dir.path().join("pasted");
    let payload = Arc::new(payload(opts.size));
    std::fs::write(&source, payload.as_slice())
        .with_context(|| format!("writing {}", source.display()))?;
    let mib = opts.size as f64 / f64::from(1u32 << 20);
    writeln!(progress, "bench: desktop → remote, {mib:.1} MiB…")?;
    let down = desktop_to_remote(testbed, &clip, &pids, payload.clone(), &source).await?;
    writeln!(progress, "bench: remote → desktop, {mib:.1} MiB…")?;
    let up = remote_to_desktop(testbed, &clip, &pids, payload, &pasted).await?;
    rd.close().await?;
    Ok(vec![down, up])
}

impl std::fmt::Display for ClipboardReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env = &self.environment;
        writeln!(
            f,
            "ionchannel-lab bench clipboard: {} CPUs, kernel {}, {}, {} (Clipboard v{}), ionchannel {} build",
            env.cpus, env.kernel, env.compositor, env.frontend, self.clipboard_version, env.profile
        )?;
        writeln!(
            f,
            "local app: wl-copy / wl-paste --type {MIME}; remote side: SelectionRead / SelectionWrite"
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<18} {:>9} {:>9} {:>8} {:>8} {:>10} {:>9} {:>10} {:>10} {:>10}",
            "direction",
            "MiB",
            "identical",
            "s",
            "MiB/s",
            "ion CPU ms",
            "comp ms",
            "RSS KiB",
            "peak KiB",
            "growth KiB"
        )?;
        for t in &self.transfers {
            writeln!(
                f,
                "{:<18} {:>9.1} {:>9} {:>8.3} {:>8.1} {:>10.0} {:>9.0} {:>10} {:>10} {:>10}",
                t.direction,
                t.received as f64 / f64::from(1u32 << 20),
                if t.identical { "yes" } else { "NO" },
                t.seconds,
                t.mib_per_s,
                t.ionchannel_cpu_ms,
                t.compositor_cpu_ms,
                t.memory.rss_before_kib,
                t.memory.peak_kib,
                t.memory.growth_kib
            )?;
        }
        let reset = self.transfers.iter().all(|t| t.memory.hwm_reset);
        writeln!(
            f,
            "(ionchannel's RSS before the transfer, its peak during it ({}), and the growth)",
            if reset {
                "VmHWM reset at the start, and VmRSS sampled every 2 ms"
            } else {
                "VmRSS sampled every 2 ms; VmHWM could not be reset"
            }
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_not_uniform() {
        let p = payload(1 << 16);
        assert_eq!(p.len(), 1 << 16);
        let mut seen = [0u32; 256];
        for &b in &p {
            seen[usize::from(b)] += 1;
        }
        // Every byte value, none much more often than the rest.
        assert!(seen.iter().all(|&n| (128..=384).contains(&n)), "{seen:?}");
        assert_ne!(&p[..4096], &p[4096..8192]);
        assert_eq!(payload(1000), payload(1000));
    }

    #[test]
    fn compares_as_it_reads() {
        let want = payload(3 << 20);
        for (data, expect) in [
            (want.clone(), (want.len() as u64, true)),
            (
                want[..want.len() - 1].to_vec(),
                (want.len() as u64 - 1, false),
            ),
            (
                [want.as_slice(), b"x"].concat(),
                (want.len() as u64 + 1, false),
            ),
        ] {
            let (r, w) = std::io::pipe().unwrap();
            let writer = std::thread::spawn(move || {
                let mut w = w;
                w.write_all(&data).unwrap();
            });
            assert_eq!(read_compare(r.into(), &want).unwrap(), expect);
            writer.join().unwrap();
        }
    }
}
