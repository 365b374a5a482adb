//! The consent protocol between the daemon and whatever asks the user: the
//! bundled dialog (`ionchannel-consent`, GTK 4) or a chooser command the
//! user configured (for minimal setups, like xdpw's `chooser_cmd`).
//!
//! The daemon starts the program with no arguments, writes one
//! [`ConsentRequest`] as JSON on its stdin and closes it, and reads one
//! [`ConsentAnswer`] as a JSON line from its stdout. Anything else — the
//! program failing to start, exiting without an answer, an answer that does
//! not parse, or naming a source or device that was not offered, or
//! granting the clipboard when it was not asked for — is a denial. The daemon kills the program when the frontend closes the
//! request, and after a timeout.
//!
//! [`ConsentAnswer::check`] turns an answer into what is granted, never
//! more than was asked and offered.

use serde::{Deserialize, Serialize};

use crate::device::{DeviceType, DeviceTypes};

/// The version of the JSON both sides speak.
pub const PROTOCOL_VERSION: u32 = 1;

/// What the user is asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    pub version: u32,
    /// The app's id; empty for an app running on the host without one.
    pub app_id: String,
    /// "screencast" or "remote_desktop".
    pub kind: SessionKind,
    /// Devices asked for (RemoteDesktop), by name: keyboard, pointer,
    /// touchscreen.
    pub devices: Vec<String>,
    /// Sources, when the session asked for any.
    pub sources: Option<SourceChoice>,
    /// The app asked to be remembered (persist_mode 1 or 2): the dialog
    /// offers "remember".
    pub persist: bool,
    /// The app asked for the clipboard (RemoteDesktop, `RequestClipboard`):
    /// the dialog says so and lets the user allow the rest without it.
    /// Absent (a request written before the clipboard): false.
    #[serde(default)]
    pub clipboard: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    Screencast,
    RemoteDesktop,
}

/// The sources on offer and how many may be picked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceChoice {
    /// More than one source may be picked.
    pub multiple: bool,
    /// Outputs, when monitors were asked for.
    pub outputs: Vec<OutputOffer>,
    /// Windows, when windows were asked for.
    pub windows: Vec<WindowOffer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputOffer {
    /// The connector name (HEADLESS-1, DP-2): what the answer names.
    pub name: String,
    /// The compositor's description (make, model), may be empty.
    pub description: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowOffer {
    /// The toplevel's identifier: what the answer names.
    pub id: String,
    pub app_id: String,
    pub title: String,
}

/// The user's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentAnswer {
    pub allow: bool,
    /// Output names picked.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Window ids picked.
    #[serde(default)]
    pub windows: Vec<String>,
    /// Devices granted; absent means all that were asked for.
    #[serde(default)]
    pub devices: Option<Vec<String>>,
    /// "Remember" was ticked (only honoured when the app asked to persist).
    #[serde(default)]
    pub remember: bool,
    /// Whether the clipboard is shared; absent means as asked. `true` when
    /// the request did not ask for the clipboard is refused.
    #[serde(default)]
    pub clipboard: Option<bool>,
}

/// What an answer grants, checked against the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub devices: DeviceTypes,
    pub outputs: Vec<String>,
    pub windows: Vec<String>,
    pub remember: bool,
    /// The clipboard is shared: asked for, and not left out by the answer.
    pub clipboard: bool,
}

/// Why an answer is not a grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the user denied the request")]
    Denied,
    #[error("the answer names output {0:?}, which was not offered")]
    UnknownOutput(String),
    #[error("the answer names window {0:?}, which was not offered")]
    UnknownWindow(String),
    #[error("the answer grants device {0:?}, which was not asked for")]
    UnknownDevice(String),
    #[error("the answer picks {0} sources, the request allows one")]
    TooMany(usize),
    #[error("the answer picks no source, the request needs one")]
    NoSource,
    #[error("the answer grants no device, the request needs one")]
    NoDevice,
    #[error("the answer grants the clipboard, which was not asked for")]
    UnaskedClipboard,
}

impl ConsentRequest {
    /// The devices asked for, as a set.
    pub fn device_types(&self) -> DeviceTypes {
        self.devices
            .iter()
            .filter_map(|n| DeviceType::from_name(n))
            .collect()
    }
}

impl ConsentAnswer {
    /// A denial.
    pub fn deny() -> Self {
        Self::default()
    }

    /// Checks the answer against `request`: every name it gives must have
    /// been offered, at most one source without `multiple`, at least one
    /// source when sources were asked for, at least one device when
    /// devices were, the clipboard only when it was asked for.
    pub fn check(&self, request: &ConsentRequest) -> Result<Granted, AnswerError> {
        if !self.allow {
            return Err(AnswerError::Denied);
        }
        let asked = request.device_types();
        let devices = match &self.devices {
            None => asked,
            Some(names) => {
                let mut set = DeviceTypes::EMPTY;
                for name in names {
                    match DeviceType::from_name(name) {
                        Some(d) if asked.contains(d) => set.insert(d),
                        _ => return Err(AnswerError::UnknownDevice(name.clone())),
                    }
                }
                set
            }
        };
        if !asked.is_empty() && devices.is_empty() {
            return Err(AnswerError::NoDevice);
        }
        let clipboard = match self.clipboard {
            None => request.clipboard,
            Some(true) if !request.clipboard => return Err(AnswerError::UnaskedClipboard),
            Some(shared) => shared,
        };
        let (mut outputs, mut windows) = (Vec::new(), Vec::new());
        if let Some(choice) = &request.sources {
            for name in &self.outputs {
                if !choice.outputs.iter().any(|o| &o.name == name) {
                    return Err(AnswerError::UnknownOutput(name.clone()));
                }
                if !outputs.contains(name) {
                    outputs.push(name.clone());
                }
            }
            for id in &self.windows {
                if !choice.windows.iter().any(|w| &w.id == id) {
                    return Err(AnswerError::UnknownWindow(id.clone()));
                }
                if !windows.contains(id) {
                    windows.push(id.clone());
                }
            }
            let picked = outputs.len() + windows.len();
            if picked == 0 {
                return Err(AnswerError::NoSource);
            }
            if picked > 1 && !choice.multiple {
                return Err(AnswerError::TooMany(picked));
            }
        } else if let Some(name) = self.outputs.first() {
            return Err(AnswerError::UnknownOutput(name.clone()));
        } else if let Some(id) = self.windows.first() {
            return Err(AnswerError::UnknownWindow(id.clone()));
        }
        Ok(Granted {
            devices,
            outputs,
            windows,
            remember: self.remember && request.persist,
            clipboard,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ConsentRequest {
        ConsentRequest {
            version: PROTOCOL_VERSION,
            app_id: "com.rustdesk.RustDesk".into(),
            kind: SessionKind::RemoteDesktop,
            devices: vec!["keyboard".into(), "pointer".into()],
            sources: Some(SourceChoice {
                multiple: false,
                outputs: vec![
                    OutputOffer {
                        name: "HEADLESS-1".into(),
                        description: "Headless output 1".into(),
                        width: 1920,
                        height: 1080,
                    },
                    OutputOffer {
                        name: "HEADLESS-2".into(),
                        description: String::new(),
                        width: 1280,
                        height: 720,
                    },
                ],
                windows: vec![],
            }),
            persist: true,
            clipboard: false,
        }
    }

    fn answer(json: &str) -> ConsentAnswer {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn an_answer_grants_what_it_picked() {
        let g = answer(r#"{"allow":true,"outputs":["HEADLESS-2"],"remember":true}"#)
            .check(&request())
            .unwrap();
        assert_eq!(g.outputs, vec!["HEADLESS-2"]);
        assert_eq!(g.devices, DeviceTypes::from_bits(3).unwrap());
        assert!(g.remember);
        let g = answer(r#"{"allow":true,"outputs":["HEADLESS-1"],"devices":["pointer"]}"#)
            .check(&request())
            .unwrap();
        assert_eq!(g.devices, DeviceTypes::from_bits(2).unwrap());
        assert!(!g.remember);
    }

    #[test]
    fn answers_never_widen_the_request() {
        let r = request();
        for (json, err) in [
            (
                r#"{"allow":false,"outputs":["HEADLESS-1"]}"#,
                AnswerError::Denied,
            ),
            (
                r#"{"allow":true,"outputs":["DP-1"]}"#,
                AnswerError::UnknownOutput("DP-1".into()),
            ),
            (
                r#"{"allow":true,"outputs":["HEADLESS-1","HEADLESS-2"]}"#,
                AnswerError::TooMany(2),
            ),
            (r#"{"allow":true}"#, AnswerError::NoSource),
            (
                r#"{"allow":true,"outputs":["HEADLESS-1"],"devices":["touchscreen"]}"#,
                AnswerError::UnknownDevice("touchscreen".into()),
            ),
            (
                r#"{"allow":true,"outputs":["HEADLESS-1"],"devices":[]}"#,
                AnswerError::NoDevice,
            ),
            (
                r#"{"allow":true,"outputs":["HEADLESS-1"],"windows":["w1"]}"#,
                AnswerError::UnknownWindow("w1".into()),
            ),
        ] {
            assert_eq!(answer(json).check(&r), Err(err), "{json}");
        }
    }

    #[test]
    fn remember_needs_the_app_to_ask() {
        let mut r = request();
        r.persist = false;
        let g = answer(r#"{"allow":true,"outputs":["HEADLESS-1"],"remember":true}"#)
            .check(&r)
            .unwrap();
        assert!(!g.remember);
    }

    #[test]
    fn devices_only_requests_take_no_sources() {
        let mut r = request();
        r.sources = None;
        assert!(answer(r#"{"allow":true}"#).check(&r).is_ok());
        assert_eq!(
            answer(r#"{"allow":true,"outputs":["HEADLESS-1"]}"#).check(&r),
            Err(AnswerError::UnknownOutput("HEADLESS-1".into()))
        );
    }

    #[test]
    fn the_clipboard_is_shared_as_asked_unless_left_out() {
        let mut r = request();
        r.clipboard = true;
        let g = answer(r#"{"allow":true,"outputs":["HEADLESS-1"]}"#)
            .check(&r)
            .unwrap();
        assert!(g.clipboard, "absent: as asked");
        let g = answer(r#"{"allow":true,"outputs":["HEADLESS-1"],"clipboard":true}"#)
            .check(&r)
            .unwrap();
        assert!(g.clipboard);
        // Input without the clipboard.
        let g = answer(r#"{"allow":true,"outputs":["HEADLESS-1"],"clipboard":false}"#)
            .check(&r)
            .unwrap();
        assert!(!g.clipboard);
        assert_eq!(g.devices, DeviceTypes::from_bits(3).unwrap());
        // Never more than asked.
        r.clipboard = false;
        let g = answer(r#"{"allow":true,"outputs":["HEADLESS-1"]}"#)
            .check(&r)
            .unwrap();
        assert!(!g.clipboard);
        let g = answer(r#"{"allow":true,"outputs":["HEADLESS-1"],"clipboard":false}"#)
            .check(&r)
            .unwrap();
        assert!(!g.clipboard);
        assert_eq!(
            answer(r#"{"allow":true,"outputs":["HEADLESS-1"],"clipboard":true}"#).check(&r),
            Err(AnswerError::UnaskedClipboard)
        );
    }

    #[test]
    fn a_request_without_the_clipboard_field_still_parses() {
        // As a chooser written before the clipboard would have it.
        let text = r#"{"version":1,"app_id":"a","kind":"remote_desktop",
            "devices":["pointer"],"sources":null,"persist":false}"#;
        let r: ConsentRequest = serde_json::from_str(text).unwrap();
        assert!(!r.clipboard);
        let a = answer(r#"{"allow":true}"#);
        assert_eq!(a.clipboard, None);
        assert!(!a.check(&r).unwrap().clipboard);
    }

    #[test]
    fn the_request_round_trips_as_json() {
        let mut r = request();
        r.clipboard = true;
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"kind\":\"remote_desktop\""));
        assert!(text.contains("\"clipboard\":true"));
        assert_eq!(serde_json::from_str::<ConsentRequest>(&text).unwrap(), r);
    }
}
