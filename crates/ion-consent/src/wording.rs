//! What the dialog says, in plain words, from the request alone (no GTK
//! here, so every sentence is unit-tested).

use ion_core::consent::{ConsentRequest, OutputOffer, SessionKind, SourceChoice, WindowOffer};
use ion_core::device::DeviceType;

/// Who asks when the request carries no app id (an app on the host).
pub const UNKNOWN_APP: &str = "An application on this computer";
pub const DENY: &str = "Deny";
pub const REMEMBER: &str = "Remember this decision";
/// The check button that lets the person allow the rest without the
/// clipboard (shown only when the clipboard is asked for).
pub const SHARE_CLIPBOARD: &str = "Share the clipboard";
/// What the clipboard line of `wants` says.
pub const CLIPBOARD_LINE: &str = "read and change your clipboard (copy and paste)";

/// Every text of one dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wording {
    /// The window title.
    pub title: String,
    /// "<app> wants to:"
    pub heading: String,
    /// What it wants, one line each ("share your screen", "control your
    /// keyboard and mouse pointer", "read and change your clipboard").
    pub wants: Vec<String>,
    /// Above the choice of sources; `None` when the request has none.
    pub sources_heading: Option<String>,
    /// Shown instead of the choice when sources were asked for but none
    /// can be offered (nothing to pick, so nothing can be allowed).
    pub nothing_to_share: Option<String>,
    /// The label of the check button for the clipboard; `None` when the
    /// request does not ask for it.
    pub clipboard: Option<String>,
    /// The label of the button that grants the request.
    pub allow: String,
}

/// The texts for `request`.
pub fn wording(request: &ConsentRequest) -> Wording {
    let who = if request.app_id.is_empty() {
        UNKNOWN_APP
    } else {
        request.app_id.as_str()
    };
    let mut wants = Vec::new();
    if let Some(choice) = &request.sources {
        wants.push(share_line(request.kind, choice).to_owned());
    }
    if let Some(line) = control_line(&request.devices) {
        wants.push(line);
    }
    if request.clipboard {
        wants.push(CLIPBOARD_LINE.to_owned());
    }
    let title = match request.kind {
        SessionKind::Screencast => "Screen sharing request",
        SessionKind::RemoteDesktop => "Remote control request",
    };
    let (sources_heading, nothing_to_share) = match &request.sources {
        None => (None, None),
        Some(c) if c.outputs.is_empty() && c.windows.is_empty() => (
            None,
            Some("There is nothing to share: no screen or window is available.".to_owned()),
        ),
        Some(c) => (Some(sources_heading(c).to_owned()), None),
    };
    let allow = if request.devices.is_empty() {
        "Share"
    } else {
        "Allow control"
    };
    Wording {
        title: title.to_owned(),
        heading: format!("{who} wants to:"),
        wants,
        sources_heading,
        nothing_to_share,
        clipboard: request.clipboard.then(|| SHARE_CLIPBOARD.to_owned()),
        allow: allow.to_owned(),
    }
}

fn share_line(kind: SessionKind, choice: &SourceChoice) -> &'static str {
    let screens = !choice.outputs.is_empty();
    let windows = !choice.windows.is_empty();
    match (screens, windows, choice.multiple) {
        (true, true, false) => "share your screen or a window",
        (true, true, true) => "share your screens or windows",
        (true, false, true) if choice.outputs.len() > 1 => "share your screens",
        (false, true, false) => "share a window",
        (false, true, true) => "share windows",
        // Nothing on offer: say what a session of this kind shares.
        (false, false, _) if kind == SessionKind::RemoteDesktop => "see your screen",
        _ => "share your screen",
    }
}

/// "control your keyboard and mouse pointer", from the device names asked
/// for. A name this dialog does not know is shown as it is: hiding
/// something asked for would be worse than an odd word.
fn control_line(devices: &[String]) -> Option<String> {
    let words: Vec<&str> = devices
        .iter()
        .map(|name| match DeviceType::from_name(name) {
            Some(DeviceType::Keyboard) => "keyboard",
            Some(DeviceType::Pointer) => "mouse pointer",
            Some(DeviceType::Touchscreen) => "touchscreen",
            None => name.as_str(),
        })
        .collect();
    let list = match words.as_slice() {
        [] => return None,
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    Some(format!("control your {list}"))
}

fn sources_heading(choice: &SourceChoice) -> &'static str {
    match (
        !choice.outputs.is_empty(),
        !choice.windows.is_empty(),
        choice.multiple,
    ) {
        (true, false, false) => "Choose the screen to share:",
        (false, true, false) => "Choose the window to share:",
        (_, _, false) => "Choose what to share:",
        (_, _, true) => "Choose what to share (one or more):",
    }
}

/// "HEADLESS-2 — Dell U2720Q — 1280 × 720": the connector name first, as
/// the compositor's own tools show it, then the description when there is
/// one.
pub fn output_label(output: &OutputOffer) -> String {
    let size = format!("{} × {}", output.width, output.height);
    if output.description.trim().is_empty() {
        format!("{} — {size}", output.name)
    } else {
        format!("{} — {} — {size}", output.name, output.description.trim())
    }
}

/// "Report.pdf — org.gnome.Evince".
pub fn window_label(window: &WindowOffer) -> String {
    let title = if window.title.trim().is_empty() {
        "Untitled window"
    } else {
        window.title.trim()
    };
    if window.app_id.is_empty() {
        title.to_owned()
    } else {
        format!("{title} — {}", window.app_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ion_core::consent::PROTOCOL_VERSION;

    fn output(name: &str, description: &str) -> OutputOffer {
        OutputOffer {
            name: name.into(),
            description: description.into(),
            width: 1920,
            height: 1080,
        }
    }

    fn window(title: &str, app_id: &str) -> WindowOffer {
        WindowOffer {
            id: "w1".into(),
            app_id: app_id.into(),
            title: title.into(),
        }
    }

    fn request(
        kind: SessionKind,
        devices: &[&str],
        sources: Option<SourceChoice>,
    ) -> ConsentRequest {
        ConsentRequest {
            version: PROTOCOL_VERSION,
            app_id: "com.rustdesk.RustDesk".into(),
            kind,
            devices: devices.iter().map(|d| (*d).to_owned()).collect(),
            sources,
            persist: false,
            clipboard: false,
        }
    }

    fn choice(outputs: usize, windows: usize, multiple: bool) -> SourceChoice {
        SourceChoice {
            multiple,
            outputs: (0..outputs)
                .map(|i| output(&format!("HEADLESS-{}", i + 1), ""))
                .collect(),
            windows: (0..windows).map(|_| window("t", "a")).collect(),
        }
    }

    #[test]
    fn remote_control_with_a_screen() {
        let w = wording(&request(
            SessionKind::RemoteDesktop,
            &["keyboard", "pointer"],
            Some(choice(2, 0, false)),
        ));
        assert_eq!(w.title, "Remote control request");
        assert_eq!(w.heading, "com.rustdesk.RustDesk wants to:");
        assert_eq!(
            w.wants,
            vec![
                "share your screen",
                "control your keyboard and mouse pointer"
            ]
        );
        assert_eq!(
            w.sources_heading.as_deref(),
            Some("Choose the screen to share:")
        );
        assert_eq!(w.nothing_to_share, None);
        assert_eq!(w.clipboard, None);
        assert_eq!(w.allow, "Allow control");
    }

    #[test]
    fn the_clipboard_is_said_and_can_be_left_out() {
        let mut r = request(
            SessionKind::RemoteDesktop,
            &["keyboard", "pointer"],
            Some(choice(1, 0, false)),
        );
        r.clipboard = true;
        let w = wording(&r);
        assert_eq!(
            w.wants,
            vec![
                "share your screen",
                "control your keyboard and mouse pointer",
                "read and change your clipboard (copy and paste)"
            ]
        );
        assert_eq!(w.clipboard.as_deref(), Some("Share the clipboard"));
        assert_eq!(w.allow, "Allow control");
        // Devices only, as Deskflow asks.
        let mut r = request(SessionKind::RemoteDesktop, &["keyboard", "pointer"], None);
        r.clipboard = true;
        let w = wording(&r);
        assert_eq!(
            w.wants,
            vec![
                "control your keyboard and mouse pointer",
                "read and change your clipboard (copy and paste)"
            ]
        );
        assert_eq!(w.clipboard.as_deref(), Some("Share the clipboard"));
    }

    #[test]
    fn screen_sharing() {
        let mut r = request(SessionKind::Screencast, &[], Some(choice(1, 1, false)));
        r.app_id.clear();
        let w = wording(&r);
        assert_eq!(w.title, "Screen sharing request");
        assert_eq!(w.heading, "An application on this computer wants to:");
        assert_eq!(w.wants, vec!["share your screen or a window"]);
        assert_eq!(w.sources_heading.as_deref(), Some("Choose what to share:"));
        assert_eq!(w.allow, "Share");

        let w = wording(&request(
            SessionKind::Screencast,
            &[],
            Some(choice(0, 3, true)),
        ));
        assert_eq!(w.wants, vec!["share windows"]);
        assert_eq!(
            w.sources_heading.as_deref(),
            Some("Choose what to share (one or more):")
        );
        let w = wording(&request(
            SessionKind::Screencast,
            &[],
            Some(choice(2, 0, true)),
        ));
        assert_eq!(w.wants, vec!["share your screens"]);
        let w = wording(&request(
            SessionKind::Screencast,
            &[],
            Some(choice(0, 1, false)),
        ));
        assert_eq!(w.wants, vec!["share a window"]);
        assert_eq!(
            w.sources_heading.as_deref(),
            Some("Choose the window to share:")
        );
    }

    #[test]
    fn devices_only() {
        let w = wording(&request(
            SessionKind::RemoteDesktop,
            &["pointer", "keyboard", "touchscreen"],
            None,
        ));
        assert_eq!(
            w.wants,
            vec!["control your mouse pointer, keyboard and touchscreen"]
        );
        assert_eq!(w.sources_heading, None);
        assert_eq!(w.nothing_to_share, None);
        let w = wording(&request(SessionKind::RemoteDesktop, &["tablet"], None));
        assert_eq!(w.wants, vec!["control your tablet"], "unknown names shown");
    }

    #[test]
    fn nothing_on_offer_is_said() {
        let w = wording(&request(
            SessionKind::Screencast,
            &[],
            Some(choice(0, 0, false)),
        ));
        assert_eq!(w.sources_heading, None);
        assert!(w.nothing_to_share.is_some());
    }

    #[test]
    fn labels_of_sources() {
        assert_eq!(
            output_label(&output("DP-2", "Dell Inc. U2720Q")),
            "DP-2 — Dell Inc. U2720Q — 1920 × 1080"
        );
        assert_eq!(
            output_label(&output("HEADLESS-1", " ")),
            "HEADLESS-1 — 1920 × 1080"
        );
        assert_eq!(
            window_label(&window("Report.pdf", "org.gnome.Evince")),
            "Report.pdf — org.gnome.Evince"
        );
        assert_eq!(window_label(&window("", "")), "Untitled window");
    }
}
