//! The consent dialog (`ionchannel-consent`) end to end, as a person meets
//! it: started the way the daemon starts it, on the testbed's headless
//! compositor, read from a screenshot with OCR (grim + tesseract), and
//! answered with a virtual pointer and keyboard that click and type where
//! the words are. What it prints is the answer the daemon would get.
//!
//! On the testing stack the dialog runs inside the rootfs (GTK 4.20)
//! through its shim; on the host with Debian 12's GTK 4.8.
//!
//! Reading the screen needs wlr-screencopy (the host's grim 1.4 speaks
//! nothing else) and answering needs a virtual pointer: on a compositor
//! without them (the cosmic-comp stand-in) the tests that look and click
//! print why and return; the one that needs neither runs.

mod common;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::two_outputs;
use ion_core::consent::{
    ConsentAnswer, ConsentRequest, OutputOffer, SessionKind, SourceChoice, WindowOffer,
    PROTOCOL_VERSION,
};
use ion_lab::ocr::ScreenText;
use ion_lab::testbed::{Capability, ConsentHandle, Testbed};
use ion_lab::virtual_input::{VirtualInput, KEY_ESC, KEY_SPACE, KEY_TAB};

/// How long the dialog gets to leave after it decided or got SIGTERM.
const EXIT: Duration = Duration::from_secs(2);

/// Passes a test only through [`Lab::done`]; otherwise (an error) dumps
/// every log, the dialogs' included. A panic dumps through the testbed.
struct Lab {
    /// The person's pointer and keyboard (not for a test that neither
    /// looks nor touches).
    hands: Option<VirtualInput>,
    testbed: Testbed,
    passed: bool,
}

impl Lab {
    /// A lab for a test that reads the screen and answers as a person:
    /// `None`, with the reason printed, where the compositor lets neither
    /// grim read nor the lab's hands click.
    fn start() -> Result<Option<Lab>> {
        let mut lab = Lab::start_blind()?;
        for capability in [Capability::WlrScreencopy, Capability::VirtualPointer] {
            if let Err(why) = lab.testbed.supports(capability) {
                eprintln!(
                    "SKIPPED: this test reads the dialog with grim (wlr-screencopy only) and \
                     answers with a virtual pointer: {why}"
                );
                lab.done()?;
                return Ok(None);
            }
        }
        // Plugged in before any dialog starts, as a person's would be: a
        // headless seat has no keyboard until this one, and a key sent
        // right after the seat gains one may reach a client before the
        // client has bound it.
        lab.hands = Some(lab.testbed.virtual_input()?);
        Ok(Some(lab))
    }

    /// A lab without hands, for a test that never looks at the screen.
    fn start_blind() -> Result<Lab> {
        // The dialog needs only the compositor (and the bus GApplication
        // registers on): no ionChannel, no frontend.
        let testbed = Testbed::builder()
            .outputs(two_outputs())
            .without_ionchannel()
            .without_frontend()
            .start()?;
        Ok(Lab {
            hands: None,
            testbed,
            passed: false,
        })
    }

    /// The testbed and the hands.
    fn parts(&mut self) -> Result<(&Testbed, &mut VirtualInput)> {
        let hands = self.hands.as_mut().context("this lab has no hands")?;
        Ok((&self.testbed, hands))
    }

    fn done(mut self) -> Result<()> {
        self.passed = true;
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.passed && !std::thread::panicking() {
            eprintln!("test failed: logs of every component follow");
            self.testbed.dump_logs();
        }
    }
}

fn output(name: &str, description: &str, width: u32, height: u32) -> OutputOffer {
    OutputOffer {
        name: name.into(),
        description: description.into(),
        width,
        height,
    }
}

/// RustDesk asking for keyboard, pointer and one of the two screens.
fn rustdesk_request() -> ConsentRequest {
    ConsentRequest {
        version: PROTOCOL_VERSION,
        app_id: "com.rustdesk.RustDesk".into(),
        kind: SessionKind::RemoteDesktop,
        devices: vec!["keyboard".into(), "pointer".into()],
        sources: Some(SourceChoice {
            multiple: false,
            outputs: vec![
                output("HEADLESS-1", "Headless output 1", 1920, 1080),
                output("HEADLESS-2", "Headless output 2", 1280, 720),
            ],
            windows: vec![],
        }),
        persist: true,
        clipboard: false,
    }
}

/// Where a person would click on `word`, in the layout.
fn spot(tb: &Testbed, screen: &ScreenText, word: &str) -> Result<(i32, i32)> {
    let found = screen
        .find(word)
        .with_context(|| format!("no {word:?} on the screen:\n{}", screen.dump()))?;
    let layout = tb.layout_extent()?;
    let (x, y) = found.center();
    Ok((x + layout.x, y + layout.y))
}

/// The exit code in an exit state ("exit status: 2", "exit status 2").
fn exit_code(state: &str) -> Option<i32> {
    state
        .strip_prefix("exit status")?
        .trim_start_matches(':')
        .trim()
        .parse()
        .ok()
}

/// The dialog leaves with exit code 0 soon after a decision; its answer.
fn exited_with_answer(dialog: &ConsentHandle) -> Result<ConsentAnswer> {
    let (state, took) = dialog.wait_exit(EXIT)?;
    ensure!(
        exit_code(&state) == Some(0),
        "the dialog ended with {state} after answering; log:\n{}",
        dialog.log()
    );
    eprintln!("the dialog left {took:?} after the decision");
    dialog.answer()
}

#[test]
fn a_person_picks_the_second_screen_and_allows_control() -> Result<()> {
    let Some(mut lab) = Lab::start()? else {
        return Ok(());
    };
    let (tb, hands) = lab.parts()?;
    let dialog = tb.start_consent(&rustdesk_request())?;
    let screen = dialog.wait_shown(
        tb,
        &[
            "com.rustdesk.RustDesk",
            "HEADLESS-1",
            "HEADLESS-2",
            "Remember",
            "Deny",
            "Allow",
        ],
    )?;
    // What it asks, in plain words.
    for phrase in [
        "com.rustdesk.RustDesk wants",
        "share your screen",
        "control your keyboard and mouse pointer",
        "Remember this decision",
        "Allow control",
    ] {
        ensure!(
            screen.contains_phrase(phrase),
            "{phrase:?} is not on the screen:\n{}",
            screen.dump()
        );
    }

    for word in ["HEADLESS-2", "Remember", "Allow"] {
        let (x, y) = spot(tb, &screen, word)?;
        hands
            .click_at(x, y)
            .with_context(|| format!("clicking {word} at ({x}, {y})"))?;
    }
    let answer = exited_with_answer(&dialog)?;
    ensure!(
        answer.allow
            && answer.outputs == ["HEADLESS-2"]
            && answer.windows.is_empty()
            && answer.remember
            && answer
                .devices
                .as_ref()
                .is_none_or(|d| *d == ["keyboard", "pointer"]),
        "answer {answer:?}"
    );
    // And the daemon would take it as it is.
    let granted = answer.check(&rustdesk_request())?;
    ensure!(granted.outputs == ["HEADLESS-2"] && granted.remember);
    lab.done()
}

#[test]
fn the_keyboard_and_the_deny_button_answer() -> Result<()> {
    let Some(mut lab) = Lab::start()? else {
        return Ok(());
    };
    let (tb, hands) = lab.parts()?;

    // Escape, with the keyboard only.
    let dialog = tb.start_consent(&rustdesk_request())?;
    dialog.wait_shown(tb, &["com.rustdesk.RustDesk", "Deny"])?;
    hands.tap(KEY_ESC)?;
    ensure!(
        exited_with_answer(&dialog)? == ConsentAnswer::deny(),
        "Escape denies"
    );

    // The focus starts on Deny: space there denies.
    let dialog = tb.start_consent(&rustdesk_request())?;
    dialog.wait_shown(tb, &["com.rustdesk.RustDesk", "Deny"])?;
    hands.tap(KEY_SPACE)?;
    ensure!(
        exited_with_answer(&dialog)? == ConsentAnswer::deny(),
        "space on the first focused button (Deny) denies"
    );

    // Tab moves on to Allow: space there allows, with the preselected
    // first screen and without remembering.
    let dialog = tb.start_consent(&rustdesk_request())?;
    dialog.wait_shown(tb, &["com.rustdesk.RustDesk", "Allow"])?;
    hands.tap(KEY_TAB)?;
    hands.tap(KEY_SPACE)?;
    let answer = exited_with_answer(&dialog)?;
    ensure!(
        answer.allow && answer.outputs == ["HEADLESS-1"] && !answer.remember,
        "Tab, space: {answer:?}"
    );

    // A host app sharing a window: the Deny button, clicked.
    let request = ConsentRequest {
        version: PROTOCOL_VERSION,
        app_id: String::new(),
        kind: SessionKind::Screencast,
        devices: vec![],
        sources: Some(SourceChoice {
            multiple: true,
            outputs: vec![],
            windows: vec![WindowOffer {
                id: "toplevel-1".into(),
                app_id: "org.gnome.TextEditor".into(),
                title: "notes".into(),
            }],
        }),
        persist: false,
        clipboard: false,
    };
    let dialog = tb.start_consent(&request)?;
    let screen = dialog.wait_shown(tb, &["application", "notes", "Deny", "Share"])?;
    ensure!(
        screen.contains_phrase("An application on this computer wants")
            && screen.contains_phrase("share windows")
            && screen.find("Remember").is_none(),
        "a host app, windows, no remember:\n{}",
        screen.dump()
    );
    let (x, y) = spot(tb, &screen, "Deny")?;
    hands.click_at(x, y)?;
    ensure!(
        exited_with_answer(&dialog)? == ConsentAnswer::deny(),
        "Deny denies"
    );
    lab.done()
}

/// Deskflow asking for keyboard, pointer and the clipboard, no screen.
fn deskflow_request() -> ConsentRequest {
    ConsentRequest {
        version: PROTOCOL_VERSION,
        app_id: "org.deskflow.deskflow".into(),
        kind: SessionKind::RemoteDesktop,
        devices: vec!["keyboard".into(), "pointer".into()],
        sources: None,
        persist: true,
        clipboard: true,
    }
}

#[test]
fn the_clipboard_is_asked_for_and_can_be_left_out() -> Result<()> {
    let Some(mut lab) = Lab::start()? else {
        return Ok(());
    };
    let (tb, hands) = lab.parts()?;
    let dialog = tb.start_consent(&deskflow_request())?;
    let screen = dialog.wait_shown(
        tb,
        &[
            "org.deskflow.deskflow",
            "clipboard",
            "Share",
            "Deny",
            "Allow",
        ],
    )?;
    for phrase in [
        "control your keyboard and mouse pointer",
        "read and change your clipboard",
        "Share the clipboard",
        "Remember this decision",
    ] {
        ensure!(
            screen.contains_phrase(phrase),
            "{phrase:?} is not on the screen:\n{}",
            screen.dump()
        );
    }
    // Unticking "Share the clipboard": input without the clipboard.
    for word in ["Share", "Allow"] {
        let (x, y) = spot(tb, &screen, word)?;
        hands
            .click_at(x, y)
            .with_context(|| format!("clicking {word} at ({x}, {y})"))?;
    }
    let answer = exited_with_answer(&dialog)?;
    ensure!(
        answer.allow && answer.clipboard == Some(false) && !answer.remember,
        "answer {answer:?}"
    );
    let granted = answer.check(&deskflow_request())?;
    ensure!(
        !granted.clipboard && granted.devices.bits() == 3,
        "granted {granted:?}"
    );

    // Left as it is (ticked at first), and with the keyboard: Tab from
    // Deny still reaches Allow first.
    let dialog = tb.start_consent(&deskflow_request())?;
    dialog.wait_shown(tb, &["org.deskflow.deskflow", "Share", "Deny"])?;
    hands.tap(KEY_TAB)?;
    hands.tap(KEY_SPACE)?;
    let answer = exited_with_answer(&dialog)?;
    ensure!(
        answer.allow && answer.clipboard == Some(true),
        "Tab, space: {answer:?}"
    );
    ensure!(answer.check(&deskflow_request())?.clipboard);
    lab.done()
}

#[test]
fn sigterm_closes_the_dialog_without_an_answer() -> Result<()> {
    let Some(lab) = Lab::start()? else {
        return Ok(());
    };
    let tb = &lab.testbed;
    let dialog = tb.start_consent(&rustdesk_request())?;
    dialog.wait_shown(tb, &["com.rustdesk.RustDesk", "Deny"])?;
    dialog.terminate();
    let (state, took) = dialog.wait_exit(EXIT)?;
    eprintln!("the dialog left {took:?} after SIGTERM ({state})");
    ensure!(
        dialog.stdout().is_empty(),
        "no answer after SIGTERM, got {:?}",
        dialog.stdout()
    );
    ensure!(
        exit_code(&state) != Some(0),
        "an interrupted dialog does not exit as if it answered: {state}"
    );
    // Its window is gone from the screen.
    let screen = tb.read_screen()?;
    ensure!(
        screen.find("com.rustdesk.RustDesk").is_none(),
        "the window is still shown:\n{}",
        screen.dump()
    );
    lab.done()
}

#[test]
fn a_request_that_cannot_be_read_gets_exit_code_2_and_no_window() -> Result<()> {
    let lab = Lab::start_blind()?;
    let tb = &lab.testbed;
    for (stdin, why) in [
        (&b"allow everything"[..], "not JSON"),
        (
            &br#"{"version":9,"app_id":"","kind":"screencast","devices":[],"sources":null,"persist":false}"#[..],
            "protocol version",
        ),
    ] {
        let dialog = tb.start_consent_raw(stdin)?;
        let (state, _) = dialog.wait_exit(Duration::from_secs(10))?;
        ensure!(exit_code(&state) == Some(2), "{why}: exit {state}");
        ensure!(dialog.stdout().is_empty(), "{why}: {:?}", dialog.stdout());
        ensure!(
            dialog.log().contains("ionchannel-consent:"),
            "{why}: a message on stderr: {}",
            dialog.log()
        );
    }
    lab.done()
}

/// The dialog shows where the person is: with the pointer (and so the
/// focus) on the second screen, it opens there, not on the first.
#[test]
fn the_dialog_opens_on_the_screen_the_person_is_on() -> Result<()> {
    let Some(mut lab) = Lab::start()? else {
        return Ok(());
    };
    let (tb, hands) = lab.parts()?;
    let layout = tb.layout_extent()?;
    // Into HEADLESS-2 (1280x720 at 1920,0), and a click there: sway
    // focuses the output under the pointer, labwc places new windows on
    // the output the pointer is on.
    hands.click_at(layout.x + 1920 + 640, layout.y + 360)?;
    let dialog = tb.start_consent(&rustdesk_request())?;
    let screen = dialog.wait_shown(tb, &["com.rustdesk.RustDesk", "Deny"])?;
    let (x, _) = spot(tb, &screen, "Deny")?;
    ensure!(
        x >= layout.x + 1920,
        "the dialog opened at x {x}, on the first screen; the person is on the second"
    );
    dialog.terminate();
    dialog.wait_exit(EXIT)?;
    lab.done()
}
