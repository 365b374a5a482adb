//! The Clipboard portal end to end: the real frontend (1.20 and later;
//! 1.16 has no Clipboard interface, and these tests say so and return),
//! ionChannel's data-control client, the compositor, and the real
//! wl-clipboard programs as the local apps (`wl-copy`, `wl-paste`: host
//! programs on every stack, speaking wlr-data-control, while ionChannel
//! prefers ext-data-control where offered, so both protocols meet).

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::*;
use futures_util::StreamExt;
use ion_lab::client::{Clipboard, OwnerChange, RemoteDesktop, TransferAsk, KEYBOARD};

const SIGNAL_WAIT: Duration = Duration::from_secs(10);

/// Whether the frontend has a Clipboard interface; prints why not.
async fn has_clipboard(w: &World) -> Result<bool> {
    let version = RemoteDesktop::frontend_version(&w.client).await?;
    if version < 2 {
        println!(
            "skipped: the frontend's RemoteDesktop is version {version}; the Clipboard portal needs 2 (xdg-desktop-portal 1.20+; run on the testing stack). The backend's side is tested in-process on this stack: ion-portal tests/clipboard.rs"
        );
        return Ok(false);
    }
    Ok(true)
}

/// A started RemoteDesktop session (keyboard) with the clipboard.
async fn started_with_clipboard(w: &World) -> Result<RemoteDesktop<'_>> {
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(KEYBOARD).await?.ok()?;
    Clipboard::of(&rd).request().await?;
    let (resp, results) = rd.start().await?;
    anyhow::ensure!(resp.code == 0, "Start answered {}", resp.code);
    let results = results.context("Start's results")?;
    anyhow::ensure!(
        results.clipboard_enabled,
        "clipboard_enabled: {:?}",
        results.raw
    );
    Ok(rd)
}

async fn next<T>(
    stream: &mut (impl futures_util::Stream<Item = T> + Unpin),
    what: &str,
) -> Result<T> {
    tokio::time::timeout(SIGNAL_WAIT, stream.next())
        .await
        .with_context(|| format!("waiting for {what}"))?
        .with_context(|| format!("{what}: the signal stream ended"))
}

/// Waits for the owner change `want` says, skipping others.
async fn owner_change(
    stream: &mut (impl futures_util::Stream<Item = OwnerChange> + Unpin),
    what: &str,
    want: impl Fn(&OwnerChange) -> bool,
) -> Result<OwnerChange> {
    let deadline = tokio::time::Instant::now() + SIGNAL_WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let change = tokio::time::timeout(left, stream.next())
            .await
            .with_context(|| format!("waiting for {what}"))?
            .context("the signal stream ended")?;
        if want(&change) {
            return Ok(change);
        }
    }
}

fn read_all(fd: std::os::fd::OwnedFd) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    std::fs::File::from(fd).read_to_end(&mut out)?;
    Ok(out)
}

/// Bytes that are not all alike, so a shifted or truncated copy shows.
fn payload(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// `wl-copy --type MIME` with `data` on its stdin; it serves the
/// selection in the background until another one replaces it.
fn wl_copy(w: &World, mime: &str, data: &[u8]) -> Result<()> {
    let mut copy = w.testbed.command("wl-copy");
    copy.args(["--type", mime]).stdin(Stdio::piped());
    let mut child = copy.spawn().context("wl-copy (Debian: wl-clipboard)")?;
    child
        .stdin
        .take()
        .context("wl-copy's stdin")?
        .write_all(data)?;
    let status = child.wait()?;
    anyhow::ensure!(status.success(), "wl-copy: {status}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_on_the_desktop_paste_on_the_remote_side_and_back() -> Result<()> {
    let w = world().await?;
    if !has_clipboard(&w).await? {
        return w.done();
    }
    let rd = started_with_clipboard(&w).await?;
    let clip = Clipboard::of(&rd);
    let mut owners = Box::pin(clip.owner_changes().await?);
    let mut transfers = Box::pin(clip.transfers().await?);

    // The desktop copies text: the remote side hears of it and reads it.
    let text = "a password, copied on the desktop: hunter2 \u{2603}".as_bytes();
    wl_copy(&w, "text/plain;charset=utf-8", text)?;
    let change = owner_change(&mut owners, "the desktop's selection", |c| {
        c.mime_types.iter().any(|m| m == "text/plain;charset=utf-8")
    })
    .await?;
    assert!(!change.session_is_owner, "{change:?}");
    let got = read_all(clip.selection_read("text/plain;charset=utf-8").await?)?;
    assert_eq!(got, text);
    // A type the selection does not offer is an error.
    assert!(clip.selection_read("image/x-not-offered").await.is_err());

    // The remote side offers a selection of several types: the desktop
    // pastes each and gets its own bytes.
    let types = [
        "text/plain",
        "text/plain;charset=utf-8",
        "UTF8_STRING",
        "text/html",
        "image/png",
    ];
    clip.set_selection(&types).await?;
    let change = owner_change(&mut owners, "the session's own selection", |c| {
        c.session_is_owner
    })
    .await?;
    for t in types {
        assert!(change.mime_types.iter().any(|m| m == t), "{change:?}");
    }
    // Another connection than the frontend's, calling the backend directly
    // on this session, is refused, and the selection stays the session's.
    let mut intruder: std::collections::HashMap<&str, zbus::zvariant::Value<'_>> =
        std::collections::HashMap::new();
    intruder.insert("mime_types", vec!["text/x-intruder"].into());
    let err = w
        .client
        .conn
        .call_method(
            Some("org.freedesktop.impl.portal.desktop.ionchannel"),
            "/org/freedesktop/portal/desktop",
            Some("org.freedesktop.impl.portal.Clipboard"),
            "SetSelection",
            &(rd.path(), intruder),
        )
        .await
        .expect_err("a non-frontend caller must be refused");
    assert!(err.to_string().contains("NotAllowed"), "{err}");
    let listed = w.testbed.command("wl-paste").arg("--list-types").output()?;
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("text/html") && !listed.contains("text/x-intruder"),
        "the desktop's selection offers: {listed}"
    );
    for (mime, data) in [
        ("text/plain", b"plain text from afar".to_vec()),
        (
            "text/plain;charset=utf-8",
            "utf-8 text from afar: \u{00e9}t\u{00e9}"
                .as_bytes()
                .to_vec(),
        ),
        ("UTF8_STRING", b"an X11-style type from afar".to_vec()),
        ("text/html", b"<b>html from afar</b>".to_vec()),
        ("image/png", payload(3 * 1024 * 1024 + 17)),
    ] {
        let mut paste = w.testbed.command("wl-paste");
        paste
            .args(["--no-newline", "--type", mime])
            .stdout(Stdio::piped());
        let child = paste.spawn().context("wl-paste")?;
        let ask: TransferAsk =
            next(&mut transfers, &format!("SelectionTransfer of {mime}")).await?;
        assert_eq!(ask.mime_type, mime);
        let fd = clip.selection_write(ask.serial).await?;
        // Once per serial.
        assert!(clip.selection_write(ask.serial).await.is_err());
        let want = data.clone();
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            std::fs::File::from(fd).write_all(&data)?;
            Ok(())
        });
        let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("writer panicked"))??;
        clip.selection_write_done(ask.serial, true).await?;
        assert_eq!(out.stdout.len(), want.len(), "{mime}: bytes pasted");
        assert!(out.stdout == want, "{mime}: the pasted bytes differ");
    }
    // A serial never announced.
    assert!(clip.selection_write(4_000_000).await.is_err());

    // Closing the session withdraws its selection: nothing pastes from a
    // session that is gone.
    rd.close().await?;
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        w.testbed
            .command("wl-paste")
            .arg("--list-types")
            .output()
            .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).contains("text/html"))
    });
    assert!(gone, "the closed session's selection is still offered");
    drop((owners, transfers));
    w.done()
}

/// `wl-paste --type MIME`, its output piped.
fn wl_paste(w: &World, mime: &str) -> Result<std::process::Child> {
    let mut paste = w.testbed.command("wl-paste");
    paste
        .args(["--no-newline", "--type", mime])
        .stdout(Stdio::piped());
    paste.spawn().context("wl-paste (Debian: wl-clipboard)")
}

/// What a `wl-paste` printed, once it ends; an error if it has not ended
/// within `limit` (the paste hung).
async fn pasted(child: std::process::Child, limit: Duration) -> Result<Vec<u8>> {
    let out = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .with_context(|| format!("wl-paste still runs after {limit:?}: the paste hangs"))???;
    Ok(out.stdout)
}

/// The desktop's paste never hangs on the remote side: a paste whose
/// SelectionWrite never comes ends at `WRITE_WAIT` with nothing, and one
/// in flight when the session closes ends at once with what came; the
/// closed session's selection is withdrawn and its calls are refused. The
/// real `wl-paste` is the local app, through the frontend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paste_ends_when_the_remote_side_stalls_or_the_session_closes() -> Result<()> {
    use ion_core::clipboard::WRITE_WAIT;

    let w = world().await?;
    if !has_clipboard(&w).await? {
        return w.done();
    }
    let rd = started_with_clipboard(&w).await?;
    let clip = Clipboard::of(&rd);
    let mut owners = Box::pin(clip.owner_changes().await?);
    let mut transfers = Box::pin(clip.transfers().await?);
    clip.set_selection(&["text/plain", "text/html"]).await?;
    owner_change(&mut owners, "the session's own selection", |c| {
        c.session_is_owner
    })
    .await?;

    // Announced, never written.
    let t0 = Instant::now();
    let paste = wl_paste(&w, "text/plain")?;
    let ask = next(&mut transfers, "SelectionTransfer of text/plain").await?;
    let got = pasted(paste, WRITE_WAIT + Duration::from_secs(10)).await?;
    let waited = t0.elapsed();
    println!("an unanswered paste ended after {waited:?} (WRITE_WAIT {WRITE_WAIT:?})");
    assert!(got.is_empty(), "an unanswered paste got {got:?}");
    assert!(
        waited + Duration::from_secs(1) >= WRITE_WAIT,
        "the paste ended after {waited:?}, before WRITE_WAIT"
    );
    // Its serial is over: a late write is refused.
    assert!(clip.selection_write(ask.serial).await.is_err());

    // In flight when the session closes: the remote side wrote part and
    // keeps its fd open.
    let paste = wl_paste(&w, "text/html")?;
    let ask = next(&mut transfers, "SelectionTransfer of text/html").await?;
    let mut remote = std::fs::File::from(clip.selection_write(ask.serial).await?);
    remote.write_all(b"<b>the first half")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    rd.close().await?;
    let got = pasted(paste, Duration::from_secs(5)).await?;
    println!("a paste in flight ended {:?} after Close", t0.elapsed());
    assert_eq!(
        got, b"<b>the first half",
        "the paste gets what came, then EOF"
    );
    drop(remote);
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        w.testbed
            .command("wl-paste")
            .arg("--list-types")
            .output()
            .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).contains("text/html"))
    });
    assert!(gone, "the closed session's selection is still offered");
    // The closed session's calls are refused.
    assert!(clip.set_selection(&["text/plain"]).await.is_err());
    assert!(clip.selection_write(ask.serial).await.is_err());
    drop((owners, transfers));
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_without_the_clipboard_gets_none() -> Result<()> {
    let w = world().await?;
    if !has_clipboard(&w).await? {
        return w.done();
    }
    // Start without RequestClipboard: clipboard_enabled false, and the
    // frontend refuses the calls ("Clipboard not enabled").
    let rd = RemoteDesktop::create(&w.client).await?;
    rd.select_devices(KEYBOARD).await?.ok()?;
    let (resp, results) = rd.start().await?;
    assert_eq!(resp.code, 0);
    assert!(!results.context("results")?.clipboard_enabled);
    let clip = Clipboard::of(&rd);
    assert!(clip.selection_read("text/plain").await.is_err());
    assert!(clip.selection_write(1).await.is_err());
    // RequestClipboard after Start is refused by the frontend too.
    assert!(clip.request().await.is_err());
    w.done()
}

/// 50 MiB each way, byte for byte, through the real frontend and the
/// compositor (`wl-copy` → SelectionRead, SelectionWrite → `wl-paste`),
/// with ionChannel's peak resident memory (VmHWM, reset before each
/// transfer, and VmRSS sampled) growing by less than 16 MiB: the data is
/// pumped through pipes, never held whole. The same code as
/// `ionchannel-lab bench clipboard`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_data_both_ways_keeps_the_daemon_small() -> Result<()> {
    use ion_lab::bench::clipboard::{self as bench, Pids};

    const SIZE: usize = 50 << 20;
    const MAX_GROWTH_KIB: u64 = 16 << 10;
    let w = world().await?;
    if !has_clipboard(&w).await? {
        return w.done();
    }
    let pids = Pids::of(&w.testbed)?;
    let rd = bench::session_with_clipboard(&w.client).await?;
    let clip = Clipboard::of(&rd);
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("payload");
    let pasted = dir.path().join("pasted");
    let payload = std::sync::Arc::new(bench::payload(SIZE));
    std::fs::write(&source, payload.as_slice())?;

    let down = bench::desktop_to_remote(&w.testbed, &clip, &pids, payload.clone(), &source).await?;
    let up = bench::remote_to_desktop(&w.testbed, &clip, &pids, payload, &pasted).await?;
    for t in [&down, &up] {
        println!(
            "{}: {} bytes in {:.3} s ({:.0} MiB/s), identical: {}; ionchannel RSS {} KiB before, peak {} KiB (VmHWM reset: {}), growth {} KiB",
            t.direction,
            t.received,
            t.seconds,
            t.mib_per_s,
            t.identical,
            t.memory.rss_before_kib,
            t.memory.peak_kib,
            t.memory.hwm_reset,
            t.memory.growth_kib
        );
        assert_eq!(
            t.received, SIZE as u64,
            "{}: bytes that arrived",
            t.direction
        );
        assert!(t.identical, "{}: the bytes differ", t.direction);
        assert!(
            t.memory.growth_kib < MAX_GROWTH_KIB,
            "{}: ionchannel grew by {} KiB (limit {MAX_GROWTH_KIB} KiB): {:?}",
            t.direction,
            t.memory.growth_kib,
            t.memory
        );
    }
    rd.close().await?;
    w.done()
}
