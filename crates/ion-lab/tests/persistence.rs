//! Consent and persistence end to end, through the real frontend: an app's
//! restore token skips the question the next time, revoking makes it ask
//! again (and closes what runs under the grant), a changed output set asks
//! again, a denial starts nothing, and broken policy or grant files never
//! widen access.
//!
//! The user is played by a chooser command (the consent protocol's other
//! implementation, configured with `[dialog] command`): a shell script
//! that records each request and answers what the test put in its answer
//! file. The GTK dialog itself is tested in consent_dialog.rs.

mod common;

use std::path::PathBuf;

use anyhow::{Context, Result};
use common::chooser::*;
use common::*;
use ion_lab::client::{Persist, RemoteDesktop, ScreenCast};
use ion_lab::ocr::ScreenText;
use ion_lab::testbed::{Capability, Testbed};

fn grants_file(testbed: &Testbed) -> PathBuf {
    testbed.paths().data_home.join("ionchannel/grants.json")
}

/// `ionchannel grants ...` in the testbed's session (the daemon's bus).
fn grants_cli(testbed: &Testbed, args: &[&str]) -> Result<String> {
    let program = ion_lab::testbed::find_workspace_bin("ionchannel")?;
    let out = testbed.command(program).arg("grants").args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "ionchannel grants {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One ScreenCast connection of a service like RustDesk's: a monitor,
/// persist_mode 2 with the token from last time. Returns Start's code, the
/// stream's position and the new token.
async fn connect(
    w: &World,
    token: Option<String>,
) -> Result<(u32, Option<(i32, i32)>, Option<String>, ScreenCast<'_>)> {
    let sc = ScreenCast::create(&w.client).await?;
    sc.select_sources_persist(1, false, 1, &Persist::new(2, token))
        .await?
        .ok()?;
    let (resp, results) = sc.start().await?;
    let Some(results) = results else {
        return Ok((resp.code, None, None, sc));
    };
    let position = results.streams.first().and_then(|s| s.position);
    Ok((resp.code, position, results.restore_token, sc))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_token_skips_the_dialog_until_revoked() -> Result<()> {
    let (w, chooser) = world_with_chooser().await?;
    chooser.answer(r#"{"allow":true,"outputs":["HEADLESS-2"],"remember":true}"#)?;

    let (code, position, token, first) = connect(&w, None).await?;
    assert_eq!(code, 0, "Start");
    assert_eq!(position, Some((1920, 0)), "the output the user picked");
    let asked = chooser.asked();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["persist"], true, "the app asked to persist");
    let token = token.context("the frontend must hand out a restore token")?;
    assert!(grants_file(&w.testbed).exists());
    first.close().await?;

    // The next connection: no question, the same output.
    let (code, position, token2, second) = connect(&w, Some(token.clone())).await?;
    assert_eq!(code, 0);
    assert_eq!(position, Some((1920, 0)));
    assert_eq!(chooser.asked().len(), 1, "a restore must not ask");
    let token = token2.unwrap_or(token);

    // The CLI lists it; revoking closes the session running under it.
    let listed = grants_cli(&w.testbed, &["list"])?;
    assert!(listed.contains("output HEADLESS-2"), "{listed}");
    let mut closed = second.watch_closed().await?;
    let revoked = grants_cli(&w.testbed, &["revoke", "--all"])?;
    assert!(revoked.contains("revoked"), "{revoked}");
    closed.wait(WAIT).await?;
    assert!(grants_cli(&w.testbed, &["list"])?.contains("no grants"));

    // The token no longer restores: the user is asked again.
    chooser.answer(r#"{"allow":true,"outputs":["HEADLESS-1"]}"#)?;
    let (code, position, _, _) = connect(&w, Some(token)).await?;
    assert_eq!(code, 0);
    assert_eq!(position, Some((0, 0)));
    assert_eq!(chooser.asked().len(), 2, "a revoked grant never restores");
    w.done()
}

/// Calls one of ionChannel's own methods with dbus-send from inside a
/// bubblewrap sandbox: a Flatpak stand-in when `flatpak_info` is given
/// (Flatpak runs apps with bubblewrap, with `/.flatpak-info` at their
/// root, which is what the frontend and ionChannel look for), a plain
/// sandbox otherwise. Only the host's /usr, /etc and /tmp are inside.
fn call_from_sandbox(
    testbed: &Testbed,
    flatpak_info: Option<&std::path::Path>,
    path: &str,
    method: &str,
) -> Result<std::process::Output> {
    let mut bwrap = std::process::Command::new("bwrap");
    bwrap.args([
        "--tmpfs",
        "/",
        "--ro-bind",
        "/usr",
        "/usr",
        "--ro-bind",
        "/etc",
        "/etc",
    ]);
    for dir in ["lib", "lib64", "bin", "sbin"] {
        bwrap.args(["--symlink", &format!("usr/{dir}"), &format!("/{dir}")]);
    }
    bwrap.args(["--bind", "/tmp", "/tmp", "--proc", "/proc", "--dev", "/dev"]);
    let runtime = testbed.runtime_dir();
    bwrap.arg("--bind").arg(runtime).arg(runtime);
    if let Some(info) = flatpak_info {
        bwrap.arg("--ro-bind").arg(info).arg("/.flatpak-info");
    }
    let out = bwrap
        .args(["--", "dbus-send"])
        .arg(format!("--bus={}", testbed.bus_address()))
        .args([
            "--print-reply",
            "--dest=org.freedesktop.impl.portal.desktop.ionchannel",
            path,
            method,
        ])
        .output()
        .context("running bwrap (bubblewrap)")?;
    Ok(out)
}

/// Which apps were allowed, and taking their access away, are the user's
/// business: a Flatpak app (here a bubblewrap sandbox with
/// `/.flatpak-info`, as Flatpak makes them) is refused Grants1 and
/// Status1, and the grants stay; the same call from a sandbox without it
/// is a host tool's and is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_app_may_neither_list_nor_revoke_grants() -> Result<()> {
    let (w, chooser) = world_with_chooser().await?;
    chooser.answer(r#"{"allow":true,"outputs":["HEADLESS-1"],"remember":true}"#)?;
    let (code, _, _, sc) = connect(&w, None).await?;
    assert_eq!(code, 0);
    let grants = "/org/ionchannel/Grants";
    let dir = tempfile::tempdir()?;
    let info = dir.path().join("flatpak-info");
    std::fs::write(&info, "[Application]\nname=org.example.Sneaky\n")?;

    for (path, method) in [
        (grants, "org.ionchannel.Grants1.List"),
        (grants, "org.ionchannel.Grants1.RevokeAll"),
        ("/org/ionchannel/Status", "org.ionchannel.Status1.Status"),
    ] {
        let out = call_from_sandbox(&w.testbed, Some(&info), path, method)?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{method} must be refused to a Flatpak app"
        );
        assert!(
            err.contains("AccessDenied") && err.contains("is a Flatpak app"),
            "{method}: {err}"
        );
    }
    let log = std::fs::read_to_string(w.testbed.log_path(ion_lab::testbed::Component::IonChannel))?;
    assert!(
        log.contains("listing grants refused"),
        "the refusal is logged"
    );
    // Nothing was revoked: the grant and its session are still there.
    assert!(grants_cli(&w.testbed, &["list"])?.contains("output HEADLESS-1"));
    assert!(w
        .testbed
        .is_running(ion_lab::testbed::Component::IonChannel));

    // The same sandbox without the Flatpak marker is answered.
    let out = call_from_sandbox(&w.testbed, None, grants, "org.ionchannel.Grants1.List")?;
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("HEADLESS-1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sc.close().await?;
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_output_set_asks_again() -> Result<()> {
    let (w, chooser) = world_with_chooser().await?;
    if let Err(why) = w.testbed.supports(Capability::RemoveOutput) {
        eprintln!("skipped: {why}");
        return w.done();
    }
    chooser.answer(r#"{"allow":true,"outputs":["HEADLESS-2"],"remember":true}"#)?;
    let (code, _, token, first) = connect(&w, None).await?;
    assert_eq!(code, 0);
    let token = token.context("restore token")?;
    first.close().await?;
    w.testbed.remove_output("HEADLESS-2")?;
    chooser.answer(r#"{"allow":true,"outputs":["HEADLESS-1"],"remember":true}"#)?;
    let (code, position, _, _) = connect(&w, Some(token)).await?;
    assert_eq!(code, 0);
    assert_eq!(position, Some((0, 0)));
    let asked = chooser.asked();
    assert_eq!(asked.len(), 2, "the granted output is gone: ask again");
    let offered: Vec<&str> = asked[1]["sources"]["outputs"]
        .as_array()
        .context("outputs")?
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(offered, ["HEADLESS-1"]);
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_dialog_starts_nothing() -> Result<()> {
    let (w, chooser) = world_with_chooser().await?;
    chooser.answer(r#"{"allow":false}"#)?;
    let (code, _, token, _) = connect(&w, None).await?;
    assert_eq!(code, 1, "a denial is response 1");
    assert!(token.is_none());
    assert!(!w
        .testbed
        .pw_dump()?
        .contains("\"node.name\": \"ionchannel-"));
    assert!(!grants_file(&w.testbed).exists());
    // A chooser that dies without answering is a denial too.
    chooser.answer("")?;
    let (code, _, _, _) = connect(&w, None).await?;
    assert_eq!(code, 1);
    assert_eq!(chooser.asked().len(), 2);
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_desktop_persists_through_select_devices() -> Result<()> {
    let (w, chooser) = world_with_chooser().await?;
    if RemoteDesktop::frontend_version(&w.client).await? < 2 {
        // xdg-desktop-portal 1.16 has no RemoteDesktop persistence.
        eprintln!("skipped: this frontend's RemoteDesktop has no persist_mode (needs 1.17+)");
        return w.done();
    }
    chooser.answer(r#"{"allow":true,"outputs":["HEADLESS-1"],"remember":true}"#)?;
    let session = |token: Option<String>| {
        let w = &w;
        async move {
            let rd = RemoteDesktop::create(&w.client).await?;
            rd.select_devices_persist(3, Some(&Persist::new(2, token)))
                .await?
                .ok()?;
            rd.select_sources(1, false, 1).await?.ok()?;
            let (resp, results) = rd.start().await?;
            anyhow::Ok((resp.code, results, rd))
        }
    };
    // Only what the compositor can inject is asked about and granted:
    // without a virtual pointer (the cosmic-comp stand-in), the keyboard.
    let injectable = injectable(&w.testbed);
    let devices = if injectable & 2 != 0 {
        serde_json::json!(["keyboard", "pointer"])
    } else {
        serde_json::json!(["keyboard"])
    };
    let (code, results, rd) = session(None).await?;
    assert_eq!(code, 0);
    let results = results.context("results")?;
    assert_eq!(results.devices, injectable);
    let token = results.restore_token.context("restore token")?;
    rd.close().await?;
    let asked = chooser.asked();
    assert_eq!(asked[0]["kind"], "remote_desktop");
    assert_eq!(asked[0]["devices"], devices);

    let (code, results, _rd) = session(Some(token)).await?;
    assert_eq!(code, 0);
    assert_eq!(results.context("results")?.devices, injectable);
    assert_eq!(chooser.asked().len(), 1, "a restore must not ask");
    w.done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_policy_and_grant_files_never_widen_access() -> Result<()> {
    let (mut w, chooser) = world_with_chooser().await?;
    chooser.answer(r#"{"allow":true,"outputs":["HEADLESS-1"],"remember":true}"#)?;
    // A grants file that does not parse: restores nothing, is never
    // overwritten, and the user is still asked (and may allow).
    let grants = grants_file(&w.testbed);
    std::fs::create_dir_all(grants.parent().context("dir")?)?;
    std::fs::write(&grants, "{ not json")?;
    let (code, _, token, _) = connect(&w, None).await?;
    assert_eq!(code, 0);
    assert!(
        token.is_none(),
        "a grant that cannot be stored is not promised"
    );
    assert_eq!(std::fs::read_to_string(&grants)?, "{ not json");
    let listed = ion_lab::testbed::find_workspace_bin("ionchannel")
        .and_then(|p| Ok(w.testbed.command(p).args(["grants", "list"]).output()?))?;
    assert!(!listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stderr).contains("unusable"));

    // A policy file with a typo: everything is denied, nobody is asked.
    let before = chooser.asked().len();
    let (_, policy) = Chooser::install(&w.testbed)?;
    w.testbed.set_policy(format!(
        "{policy}[[allow]]\napp_id = \"\"\nsource = [\"monitor\"]\n"
    ))?;
    let (code, _, _, _) = connect(&w, None).await?;
    assert_eq!(code, 1);
    assert_eq!(chooser.asked().len(), before);
    let log = std::fs::read_to_string(w.testbed.log_path(ion_lab::testbed::Component::IonChannel))?;
    assert!(log.contains("line 6"), "the log names the line of the typo");
    w.done()
}

/// Reads the screen until every word is on it: a person waiting for the
/// dialog to show.
fn wait_for_words(testbed: &Testbed, words: &[&str]) -> Result<ScreenText> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let screen = testbed.read_screen()?;
        if words.iter().all(|w| screen.find(w).is_some()) {
            return Ok(screen);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the dialog did not show {words:?}; the screen read:\n{}",
            screen.dump()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The RustDesk service's flow with the real dialog: the first connection
/// shows `ionchannel-consent`, a person picks the second screen, ticks
/// "remember" and shares; the next connection brings its token and no
/// dialog appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dialog_asks_once_and_the_token_restores() -> Result<()> {
    let mut w = world().await?;
    // A person reads the dialog (grim: wlr-screencopy only) and clicks.
    for capability in [Capability::WlrScreencopy, Capability::VirtualPointer] {
        if let Err(why) = w.testbed.supports(capability) {
            eprintln!(
                "SKIPPED: this test reads the dialog with grim (wlr-screencopy only) and \
                 answers with a virtual pointer: {why}"
            );
            return w.done();
        }
    }
    // No rule and no [dialog] command: the bundled dialog decides.
    w.testbed.set_policy("# no rules: the dialog decides\n")?;
    // The probe's fullscreen surfaces would cover the dialog; a person's
    // desktop has the dialog on top.
    w.probe.signal(15);
    w.testbed
        .wait_for("the probe to leave", &[], || Ok(!w.probe.is_running()))?;
    let mut hands = w.testbed.virtual_input()?;
    // The app on its own connection and task: Start waits for the person.
    let app = ion_lab::client::PortalClient::connect(w.testbed.bus_address()).await?;
    let first = tokio::spawn(async move {
        let sc = ScreenCast::create(&app).await?;
        sc.select_sources_persist(1, false, 1, &Persist::new(2, None))
            .await?
            .ok()?;
        let (resp, results) = sc.start().await?;
        let results = results.context("Start results")?;
        let position = results.streams.first().and_then(|s| s.position);
        sc.close().await?;
        anyhow::Ok((resp.code, position, results.restore_token))
    });
    let screen = wait_for_words(
        &w.testbed,
        &["HEADLESS-1", "HEADLESS-2", "Remember", "Deny", "Share"],
    )?;
    anyhow::ensure!(
        screen.contains_phrase("An application on this computer"),
        "a host app has no app id: {}",
        screen.dump()
    );
    let layout = w.testbed.layout_extent()?;
    for word in ["HEADLESS-2", "Remember", "Share"] {
        let (x, y) = screen.find(word).context("word")?.center();
        hands.click_at(x + layout.x, y + layout.y)?;
    }
    let (code, position, token) = first.await??;
    assert_eq!(code, 0, "the person shared");
    assert_eq!(position, Some((1920, 0)), "the screen the person picked");
    let token = token.context("remembered: a restore token")?;

    let asked = |tb: &Testbed| -> Result<usize> {
        Ok(
            std::fs::read_to_string(tb.log_path(ion_lab::testbed::Component::IonChannel))?
                .matches("asking the user")
                .count(),
        )
    };
    assert_eq!(asked(&w.testbed)?, 1);
    let (code, position, _, _) = connect(&w, Some(token)).await?;
    assert_eq!(code, 0);
    assert_eq!(position, Some((1920, 0)));
    assert_eq!(asked(&w.testbed)?, 1, "no dialog the second time");
    w.done()
}
