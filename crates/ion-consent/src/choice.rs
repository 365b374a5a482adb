//! The sources on offer as a flat list of entries (the rows the dialog
//! shows, outputs first), and the answer built from which rows are ticked.
//! No GTK here: the dialog reads its buttons into a `&[bool]`.

use ion_core::consent::{ConsentAnswer, ConsentRequest};

use crate::wording;

/// What a row of the choice names in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An output, by connector name.
    Output(String),
    /// A window, by the toplevel's identifier.
    Window(String),
}

/// One row of the choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub source: Source,
    pub label: String,
}

/// The rows, outputs first, in the request's order.
pub fn entries(request: &ConsentRequest) -> Vec<Entry> {
    let Some(choice) = &request.sources else {
        return Vec::new();
    };
    let outputs = choice.outputs.iter().map(|o| Entry {
        source: Source::Output(o.name.clone()),
        label: wording::output_label(o),
    });
    let windows = choice.windows.iter().map(|w| Entry {
        source: Source::Window(w.id.clone()),
        label: wording::window_label(w),
    });
    outputs.chain(windows).collect()
}

/// Whether "Allow" may be pressed with these rows ticked: a request with
/// sources needs at least one (the daemon would refuse an answer without,
/// see `ConsentAnswer::check`).
pub fn can_allow(request: &ConsentRequest, ticked: &[bool]) -> bool {
    request.sources.is_none() || ticked.iter().any(|&t| t)
}

/// The answer "Allow" gives: the ticked rows (in row order), every device
/// asked for (`devices` absent), "remember" only when the app asked to
/// persist and the box is ticked, and the state of "Share the clipboard"
/// (`clipboard`: `None` when the clipboard was not asked for, so the box
/// was not shown; the answer then says nothing about it).
pub fn allow(
    entries: &[Entry],
    ticked: &[bool],
    remember: bool,
    persist: bool,
    clipboard: Option<bool>,
) -> ConsentAnswer {
    let mut answer = ConsentAnswer {
        allow: true,
        remember: remember && persist,
        clipboard,
        ..ConsentAnswer::default()
    };
    for (entry, _) in entries.iter().zip(ticked).filter(|(_, &t)| t) {
        match &entry.source {
            Source::Output(name) => answer.outputs.push(name.clone()),
            Source::Window(id) => answer.windows.push(id.clone()),
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use ion_core::consent::{
        OutputOffer, SessionKind, SourceChoice, WindowOffer, PROTOCOL_VERSION,
    };

    fn request(multiple: bool) -> ConsentRequest {
        ConsentRequest {
            version: PROTOCOL_VERSION,
            app_id: "com.rustdesk.RustDesk".into(),
            kind: SessionKind::RemoteDesktop,
            devices: vec!["keyboard".into(), "pointer".into()],
            sources: Some(SourceChoice {
                multiple,
                outputs: ["HEADLESS-1", "HEADLESS-2"]
                    .iter()
                    .map(|name| OutputOffer {
                        name: (*name).into(),
                        description: String::new(),
                        width: 1920,
                        height: 1080,
                    })
                    .collect(),
                windows: vec![WindowOffer {
                    id: "toplevel-7".into(),
                    app_id: "org.gnome.TextEditor".into(),
                    title: "notes.txt".into(),
                }],
            }),
            persist: true,
            clipboard: false,
        }
    }

    #[test]
    fn rows_are_outputs_then_windows() {
        let rows = entries(&request(false));
        let sources: Vec<_> = rows.iter().map(|e| e.source.clone()).collect();
        assert_eq!(
            sources,
            vec![
                Source::Output("HEADLESS-1".into()),
                Source::Output("HEADLESS-2".into()),
                Source::Window("toplevel-7".into()),
            ]
        );
        assert_eq!(rows[2].label, "notes.txt — org.gnome.TextEditor");
    }

    #[test]
    fn the_answer_names_the_ticked_rows_and_the_daemon_accepts_it() {
        let r = request(false);
        let rows = entries(&r);
        let answer = allow(&rows, &[false, true, false], true, r.persist, None);
        assert_eq!(
            serde_json::to_string(&answer).unwrap(),
            r#"{"allow":true,"outputs":["HEADLESS-2"],"windows":[],"devices":null,"remember":true,"clipboard":null}"#
        );
        let granted = answer.check(&r).unwrap();
        assert_eq!(granted.outputs, vec!["HEADLESS-2"]);
        assert!(granted.remember);

        let r = request(true);
        let answer = allow(&rows, &[true, false, true], false, r.persist, None);
        assert_eq!(answer.outputs, vec!["HEADLESS-1"]);
        assert_eq!(answer.windows, vec!["toplevel-7"]);
        assert!(!answer.remember);
        assert!(answer.check(&r).is_ok());
    }

    #[test]
    fn remember_needs_the_app_to_ask() {
        let rows = entries(&request(false));
        assert!(!allow(&rows, &[true, false, false], true, false, None).remember);
    }

    #[test]
    fn the_clipboard_box_decides_the_clipboard() {
        let mut r = request(false);
        r.clipboard = true;
        let rows = entries(&r);
        let shared = allow(&rows, &[true, false, false], false, r.persist, Some(true));
        assert_eq!(shared.clipboard, Some(true));
        let granted = shared.check(&r).unwrap();
        assert!(granted.clipboard);
        // Unticked: input and the screen, without the clipboard.
        let left_out = allow(&rows, &[true, false, false], false, r.persist, Some(false));
        let granted = left_out.check(&r).unwrap();
        assert!(!granted.clipboard);
        assert_eq!(granted.outputs, vec!["HEADLESS-1"]);
        assert!(!granted.devices.is_empty());
    }

    #[test]
    fn allow_needs_a_ticked_row_when_sources_were_asked_for() {
        let mut r = request(true);
        assert!(!can_allow(&r, &[false, false, false]));
        assert!(can_allow(&r, &[false, false, true]));
        r.sources = None;
        assert!(can_allow(&r, &[]));
        let answer = allow(&entries(&r), &[], false, false, None);
        assert!(answer.check(&r).is_ok(), "devices only: {answer:?}");
    }
}
