//! The consent policy file: rules, written by the user, that grant sessions
//! without asking (unattended and kiosk machines), and how the user is
//! asked otherwise (`[dialog]`).
//!
//! A rule decides first; without one, a remembered grant or the dialog
//! does (see `ion-portal/src/consent.rs`). Rules never deny what the dialog
//! would allow, but a file that does not parse denies everything: a typo
//! never widens access.
//!
//! ```toml
//! # $XDG_CONFIG_HOME/ionchannel/policy.toml
//! [[allow]]
//! app_id = "com.rustdesk.RustDesk"   # exact app id; "" = host apps (no app id); "*" = any app
//! devices = ["keyboard", "pointer"]  # RemoteDesktop devices granted
//! sources = ["monitor"]              # ScreenCast sources granted: monitor, window
//! windows = [{ app_id = "org.gnome.Terminal" }, { title = "* - Notes" }]
//!                                    # the windows a "window" source shares
//! clipboard = true                   # share the clipboard when a RemoteDesktop session
//!                                    # asks for it (default false: input without it)
//! persist = true                     # also remember it when the app asks to persist
//! ```
//!
//! Rules are tried in order; the first whose `app_id` matches decides.

use serde::Deserialize;

use crate::device::{DeviceType, DeviceTypes};
use crate::selection::WindowMatch;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub allow: Vec<Rule>,
    /// How the user is asked when no rule allows a session.
    #[serde(default)]
    pub dialog: DialogConfig,
}

/// `[dialog]`: who asks the user when no rule decides.
///
/// ```toml
/// [dialog]
/// command = ["/usr/local/bin/my-chooser", "--flag"]  # default: ionchannel-consent
/// timeout = 120                                     # seconds to answer
/// enabled = true                                    # false: rules and remembered grants only
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialogConfig {
    /// The chooser program and its arguments; it speaks the protocol of
    /// [`crate::consent`].
    pub command: Option<Vec<String>>,
    pub timeout: Option<u64>,
    pub enabled: Option<bool>,
}

/// Seconds the user has to answer when `[dialog] timeout` is not set.
pub const DEFAULT_DIALOG_TIMEOUT: u64 = 120;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub app_id: String,
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default)]
    pub sources: Vec<String>,
    /// Which windows a window source shares (by app id and title).
    #[serde(default)]
    pub windows: Vec<WindowMatch>,
    /// The clipboard is shared with a RemoteDesktop session that asks for
    /// it. Without it (the default) such a session is still allowed, with
    /// the devices and sources the rule grants but no clipboard.
    #[serde(default)]
    pub clipboard: bool,
    /// A session this rule allows is also remembered when the app asks to
    /// persist: the app gets a restore token that keeps working after the
    /// rule is removed, until revoked (`ionchannel grants revoke`).
    #[serde(default)]
    pub persist: bool,
}

/// A policy file that cannot be used. The daemon then denies everything
/// and says why.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy file is not valid TOML for ionChannel: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error("line {line}, rule {index} (app_id {app_id:?}): unknown device {name:?} (use keyboard, pointer, touchscreen)")]
    UnknownDevice {
        index: usize,
        line: usize,
        app_id: String,
        name: String,
    },
    #[error("line {line}, rule {index} (app_id {app_id:?}): a window entry names neither app_id nor title")]
    EmptyWindowMatch {
        index: usize,
        line: usize,
        app_id: String,
    },
    #[error("line {line}, rule {index} (app_id {app_id:?}): unknown source {name:?} (use monitor, window)")]
    UnknownSource {
        index: usize,
        line: usize,
        app_id: String,
        name: String,
    },
    #[error("[dialog]: command must name a program")]
    EmptyDialogCommand,
}

/// The line (1-based) where rule `index` starts: the index-th `[[allow]]`
/// header (rules written inline as `allow = [...]` report line 1).
fn rule_line(text: &str, index: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[allow]]"))
        .nth(index)
        .map_or(1, |(n, _)| n + 1)
}

/// ScreenCast source types, as the portal's bitmask (1 monitor, 2 window).
pub const SOURCE_MONITOR: u32 = 1;
pub const SOURCE_WINDOW: u32 = 2;

fn source_bit(name: &str) -> Option<u32> {
    match name {
        "monitor" => Some(SOURCE_MONITOR),
        "window" => Some(SOURCE_WINDOW),
        _ => None,
    }
}

/// What the policy says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Granted: the devices and source types the session may use (each the
    /// intersection of what was asked and what the rule allows), and the
    /// rule's windows.
    Allow {
        devices: DeviceTypes,
        sources: u32,
        windows: Vec<WindowMatch>,
        /// The clipboard is shared: the session asked for it and the rule
        /// has `clipboard = true`.
        clipboard: bool,
        /// The rule lets the session be remembered.
        persist: bool,
    },
    /// Refused, with the reason for the log.
    Deny { reason: String },
}

impl Policy {
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let policy: Policy = toml::from_str(text)?;
        if policy
            .dialog
            .command
            .as_ref()
            .is_some_and(|c| c.is_empty() || c[0].is_empty())
        {
            return Err(PolicyError::EmptyDialogCommand);
        }
        for (index, rule) in policy.allow.iter().enumerate() {
            let line = rule_line(text, index);
            for name in &rule.devices {
                if DeviceType::from_name(name).is_none() {
                    return Err(PolicyError::UnknownDevice {
                        index,
                        line,
                        app_id: rule.app_id.clone(),
                        name: name.clone(),
                    });
                }
            }
            if rule.windows.iter().any(WindowMatch::is_empty) {
                return Err(PolicyError::EmptyWindowMatch {
                    index,
                    line,
                    app_id: rule.app_id.clone(),
                });
            }
            for name in &rule.sources {
                if source_bit(name).is_none() {
                    return Err(PolicyError::UnknownSource {
                        index,
                        line,
                        app_id: rule.app_id.clone(),
                        name: name.clone(),
                    });
                }
            }
        }
        Ok(policy)
    }

    fn rule_for(&self, app_id: &str) -> Option<&Rule> {
        self.allow
            .iter()
            .find(|r| r.app_id == app_id || r.app_id == "*")
    }

    /// Decides a session for `app_id` that asks for `devices` and `sources`
    /// (either may be empty: a ScreenCast session asks for no devices, a
    /// RemoteDesktop session without SelectSources for no sources) and,
    /// when `clipboard`, for the clipboard. The clipboard never decides
    /// whether a session is allowed, only whether it is shared.
    pub fn decide(
        &self,
        app_id: &str,
        devices: DeviceTypes,
        sources: u32,
        clipboard: bool,
    ) -> Decision {
        let shown = if app_id.is_empty() {
            "host apps (empty app id)".to_string()
        } else {
            format!("app id {app_id:?}")
        };
        let Some(rule) = self.rule_for(app_id) else {
            return Decision::Deny {
                reason: format!("no rule in the policy file allows {shown}"),
            };
        };
        let rule_devices: DeviceTypes = rule
            .devices
            .iter()
            .filter_map(|n| DeviceType::from_name(n))
            .collect();
        let rule_sources = rule
            .sources
            .iter()
            .filter_map(|n| source_bit(n))
            .fold(0, |a, b| a | b);
        let granted_devices = devices.intersection(rule_devices);
        let granted_sources = sources & rule_sources;
        if !devices.is_empty() && granted_devices.is_empty() {
            return Decision::Deny {
                reason: format!(
                    "the rule for {shown} grants devices {rule_devices}, the session asked for {devices}"
                ),
            };
        }
        if sources != 0 && granted_sources == 0 {
            return Decision::Deny {
                reason: format!(
                    "the rule for {shown} grants no source type the session asked for ({sources:#x})"
                ),
            };
        }
        Decision::Allow {
            devices: granted_devices,
            sources: granted_sources,
            windows: rule.windows.clone(),
            clipboard: clipboard && rule.clipboard,
            persist: rule.persist,
        }
    }

    /// The rule a user would add to allow `app_id`, for log messages.
    pub fn example_rule(app_id: &str) -> String {
        format!(
            "[[allow]]\napp_id = {app_id:?}\ndevices = [\"keyboard\", \"pointer\"]\nsources = [\"monitor\"]"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[allow]]
app_id = "com.rustdesk.RustDesk"
devices = ["keyboard", "pointer"]
sources = ["monitor"]

[[allow]]
app_id = ""
devices = ["pointer"]
"#;

    #[test]
    fn rules_grant_the_intersection() {
        let p = Policy::parse(FILE).unwrap();
        assert_eq!(
            p.decide("com.rustdesk.RustDesk", DeviceTypes::ALL, 1, false),
            Decision::Allow {
                devices: DeviceTypes::from_bits(3).unwrap(),
                sources: 1,
                windows: vec![],
                clipboard: false,
                persist: false,
            }
        );
        assert_eq!(
            p.decide("", DeviceTypes::from_bits(3).unwrap(), 0, false),
            Decision::Allow {
                devices: DeviceTypes::from_bits(2).unwrap(),
                sources: 0,
                windows: vec![],
                clipboard: false,
                persist: false,
            }
        );
    }

    #[test]
    fn the_clipboard_only_with_clipboard_true() {
        let text = r#"
[[allow]]
app_id = "org.deskflow.deskflow"
devices = ["keyboard", "pointer"]
clipboard = true

[[allow]]
app_id = "com.rustdesk.RustDesk"
devices = ["keyboard", "pointer"]
sources = ["monitor"]
"#;
        let p = Policy::parse(text).unwrap();
        let kp = DeviceTypes::from_bits(3).unwrap();
        let clipboard =
            |app: &str, devices, sources, asked| match p.decide(app, devices, sources, asked) {
                Decision::Allow { clipboard, .. } => Some(clipboard),
                Decision::Deny { .. } => None,
            };
        assert_eq!(clipboard("org.deskflow.deskflow", kp, 0, true), Some(true));
        // Not asked: not shared, whatever the rule says.
        assert_eq!(
            clipboard("org.deskflow.deskflow", kp, 0, false),
            Some(false)
        );
        // Asked, the rule does not say `clipboard = true`: input and
        // streams as the rule says, without the clipboard.
        assert_eq!(
            p.decide("com.rustdesk.RustDesk", kp, 1, true),
            Decision::Allow {
                devices: kp,
                sources: 1,
                windows: vec![],
                clipboard: false,
                persist: false,
            }
        );
        // The clipboard never turns a denial into a grant.
        assert_eq!(clipboard("org.deskflow.deskflow", kp, 1, true), None);
        assert_eq!(clipboard("org.evil.App", kp, 0, true), None);
        // A rule is checked like the rest: a typo is an error.
        assert!(matches!(
            Policy::parse("[[allow]]\napp_id = \"\"\nclipboard = \"yes\""),
            Err(PolicyError::Syntax(_))
        ));
        assert!(matches!(
            Policy::parse("[[allow]]\napp_id = \"\"\nclipbaord = true"),
            Err(PolicyError::Syntax(_))
        ));
    }

    #[test]
    fn no_rule_no_overlap_and_empty_file_deny() {
        let p = Policy::parse(FILE).unwrap();
        assert!(matches!(
            p.decide("org.evil.App", DeviceTypes::ALL, 0, false),
            Decision::Deny { .. }
        ));
        assert!(matches!(
            p.decide("", DeviceTypes::from_bits(1).unwrap(), 0, false),
            Decision::Deny { .. }
        ));
        assert!(matches!(
            p.decide("", DeviceTypes::EMPTY, 1, false),
            Decision::Deny { .. }
        ));
        let empty = Policy::parse("").unwrap();
        assert!(matches!(
            empty.decide("", DeviceTypes::ALL, 0, false),
            Decision::Deny { .. }
        ));
    }

    #[test]
    fn typos_are_errors_not_silent_grants() {
        assert!(matches!(
            Policy::parse("[[allow]]\napp_id = \"\"\ndevices = [\"mouse\"]"),
            Err(PolicyError::UnknownDevice { .. })
        ));
        assert!(matches!(
            Policy::parse("[[allow]]\napp_id = \"\"\ndevice = [\"pointer\"]"),
            Err(PolicyError::Syntax(_))
        ));
        assert!(matches!(
            Policy::parse("[[allow]]\napp_id = \"\"\nsources = [\"screen\"]"),
            Err(PolicyError::UnknownSource { .. })
        ));
    }

    #[test]
    fn errors_name_the_line() {
        let text =
            "[[allow]]\napp_id = \"a\"\n\n[[allow]]\napp_id = \"b\"\ndevices = [\"mouse\"]\n";
        let e = Policy::parse(text).unwrap_err();
        assert!(matches!(
            e,
            PolicyError::UnknownDevice {
                index: 1,
                line: 4,
                ..
            }
        ));
        assert!(e.to_string().starts_with("line 4, rule 1"), "{e}");
        // toml's own errors carry their line too.
        let e = Policy::parse("[[allow]]\napp_id = 3\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(matches!(
            Policy::parse("[dialog]\ncommand = []\n"),
            Err(PolicyError::EmptyDialogCommand)
        ));
        assert!(matches!(
            Policy::parse("[dialog]\nchooser = \"x\"\n"),
            Err(PolicyError::Syntax(_))
        ));
        let p = Policy::parse("[dialog]\ncommand = [\"/bin/chooser\", \"-x\"]\ntimeout = 30\n")
            .unwrap();
        assert_eq!(p.dialog.timeout, Some(30));
    }

    #[test]
    fn wildcard_matches_any_app() {
        let p = Policy::parse("[[allow]]\napp_id = \"*\"\ndevices = [\"keyboard\"]").unwrap();
        assert!(matches!(
            p.decide("x.y", DeviceTypes::from_bits(1).unwrap(), 0, false),
            Decision::Allow { .. }
        ));
    }
}
