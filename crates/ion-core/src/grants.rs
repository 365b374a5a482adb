//! Remembered grants: what the user allowed an app, kept when the app asked
//! to persist (persist_mode 1 or 2) and the user ticked "remember".
//!
//! A grant names what was shared: outputs by connector name and
//! description, windows by app id, the devices, and whether the clipboard
//! was shared. The restore data the
//! backend hands the frontend carries the grant's id and the same names;
//! the frontend keeps it behind the app's restore token and gives it back on
//! the next SelectSources/SelectDevices. A restore is honoured only while
//! the grant exists (revoking deletes it), it was made for this app and
//! session kind, the devices asked are among those granted, the clipboard
//! is asked for only if the grant shared it, and every named source is
//! still there; anything else asks the user again.
//!
//! This module is pure: the file's text in and out, and the decisions. The
//! daemon does the I/O (atomic replace) in `ion-portal`.

use serde::{Deserialize, Serialize};

use crate::consent::SessionKind;
use crate::device::{DeviceType, DeviceTypes};

/// The grants file's format version.
pub const FILE_VERSION: u32 = 1;
/// The vendor string and version of our restore data `(suv)`.
pub const RESTORE_VENDOR: &str = "ionchannel";
pub const RESTORE_VERSION: u32 = 1;

/// persist_mode values.
pub const PERSIST_NONE: u32 = 0;
pub const PERSIST_TRANSIENT: u32 = 1;
pub const PERSIST_PERSISTENT: u32 = 2;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantFile {
    pub version: u32,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Random, unguessable: it is what restore data points at.
    pub id: String,
    pub app_id: String,
    pub kind: SessionKind,
    /// Device names (RemoteDesktop).
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default)]
    pub outputs: Vec<OutputName>,
    #[serde(default)]
    pub windows: Vec<WindowName>,
    /// The clipboard was shared (RemoteDesktop). Absent in grants made
    /// before the clipboard, and written only when true, so a file without
    /// clipboard grants stays readable by an older ionChannel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clipboard: bool,
    /// Seconds since the Unix epoch.
    pub created: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputName {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowName {
    pub app_id: String,
}

/// Why a grants file cannot be read. The daemon then restores nothing and
/// refuses to overwrite the file (a user's grants are never dropped
/// silently).
#[derive(Debug, thiserror::Error)]
pub enum GrantFileError {
    #[error("not a grants file: {0}")]
    Syntax(#[from] serde_json::Error),
    #[error("grants file version {0} is newer than this ionChannel reads ({FILE_VERSION})")]
    Version(u32),
}

impl GrantFile {
    pub fn parse(text: &str) -> Result<Self, GrantFileError> {
        if text.trim().is_empty() {
            return Ok(Self::new());
        }
        let file: GrantFile = serde_json::from_str(text)?;
        if file.version > FILE_VERSION {
            return Err(GrantFileError::Version(file.version));
        }
        Ok(file)
    }

    pub fn new() -> Self {
        Self {
            version: FILE_VERSION,
            grants: Vec::new(),
        }
    }

    pub fn to_text(&self) -> String {
        // Serializing these plain structs cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    pub fn get(&self, id: &str) -> Option<&Grant> {
        self.grants.iter().find(|g| g.id == id)
    }

    /// Removes the grants `pick` selects; returns them.
    pub fn remove(&mut self, pick: impl Fn(&Grant) -> bool) -> Vec<Grant> {
        let (gone, kept) = std::mem::take(&mut self.grants)
            .into_iter()
            .partition(|g| pick(g));
        self.grants = kept;
        gone
    }
}

/// The restore data's payload (the `v` of `(suv)`), as a flat map so the
/// frontend can store it as a GVariant: grant id, output names and
/// descriptions, window app ids, device bits, whether the clipboard was
/// shared (absent in restore data made before the clipboard: false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreData {
    pub grant: String,
    pub outputs: Vec<OutputName>,
    pub windows: Vec<WindowName>,
    pub devices: DeviceTypes,
    pub clipboard: bool,
}

impl Grant {
    pub fn device_types(&self) -> DeviceTypes {
        self.devices
            .iter()
            .filter_map(|n| DeviceType::from_name(n))
            .collect()
    }

    pub fn restore_data(&self) -> RestoreData {
        RestoreData {
            grant: self.id.clone(),
            outputs: self.outputs.clone(),
            windows: self.windows.clone(),
            devices: self.device_types(),
            clipboard: self.clipboard,
        }
    }
}

/// What is on screen now, for matching a restore.
#[derive(Debug, Clone, Default)]
pub struct Present {
    pub outputs: Vec<OutputName>,
    /// Open windows: (identifier, app id).
    pub windows: Vec<(String, String)>,
}

/// What a restore asks for.
#[derive(Debug, Clone)]
pub struct RestoreAsk<'a> {
    pub app_id: &'a str,
    pub kind: SessionKind,
    pub devices: DeviceTypes,
    /// Source types the session asked for (portal bits: 1 monitor, 2 window);
    /// 0 for a RemoteDesktop session without SelectSources.
    pub source_types: u32,
    pub multiple: bool,
    /// The session asked for the clipboard.
    pub clipboard: bool,
}

/// A restore that matched: what to share without asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub grant: String,
    pub devices: DeviceTypes,
    pub outputs: Vec<String>,
    /// Window identifiers.
    pub windows: Vec<String>,
    /// The clipboard is shared: asked for, and the grant shared it.
    pub clipboard: bool,
}

/// Why a restore does not apply (for the log; the user is asked instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreMiss {
    #[error("restore data from another backend ({0:?})")]
    Vendor(String),
    #[error("restore data version {0} is newer than this ionChannel reads")]
    Version(u32),
    #[error("restore data that does not parse")]
    Malformed,
    #[error("grant {0} does not exist (revoked, or made elsewhere)")]
    NoGrant(String),
    #[error("grant {0} is for another app or session kind")]
    OtherApp(String),
    #[error("the restore data does not match grant {0}")]
    Tampered(String),
    #[error("devices {asked} asked, grant has {granted}")]
    MoreDevices {
        asked: DeviceTypes,
        granted: DeviceTypes,
    },
    #[error("output {0} is gone or changed")]
    OutputGone(String),
    #[error("no open window of app {0}")]
    WindowGone(String),
    #[error("the session asks for sources the grant does not name")]
    SourcesDiffer,
    #[error("the session asks for the clipboard, grant {0} did not share it")]
    NoClipboard(String),
}

/// Decides a restore: `vendor`/`version` from `(suv)`, `data` its payload
/// (None if it did not have our shape).
pub fn restore(
    file: &GrantFile,
    vendor: &str,
    version: u32,
    data: Option<&RestoreData>,
    ask: &RestoreAsk<'_>,
    present: &Present,
) -> Result<Restored, RestoreMiss> {
    if vendor != RESTORE_VENDOR {
        return Err(RestoreMiss::Vendor(vendor.to_string()));
    }
    if version > RESTORE_VERSION {
        return Err(RestoreMiss::Version(version));
    }
    let data = data.ok_or(RestoreMiss::Malformed)?;
    let grant = file
        .get(&data.grant)
        .ok_or_else(|| RestoreMiss::NoGrant(data.grant.clone()))?;
    if grant.app_id != ask.app_id || grant.kind != ask.kind {
        return Err(RestoreMiss::OtherApp(grant.id.clone()));
    }
    if grant.restore_data() != *data {
        return Err(RestoreMiss::Tampered(grant.id.clone()));
    }
    let granted = grant.device_types();
    if ask.devices.intersection(granted) != ask.devices {
        return Err(RestoreMiss::MoreDevices {
            asked: ask.devices,
            granted,
        });
    }
    if ask.clipboard && !grant.clipboard {
        return Err(RestoreMiss::NoClipboard(grant.id.clone()));
    }
    let wants_monitors = ask.source_types & 1 != 0;
    let wants_windows = ask.source_types & 2 != 0;
    let names = grant.outputs.len() + grant.windows.len();
    if (ask.source_types == 0) != (names == 0)
        || (!grant.outputs.is_empty() && !wants_monitors)
        || (!grant.windows.is_empty() && !wants_windows)
        || (names > 1 && !ask.multiple)
    {
        return Err(RestoreMiss::SourcesDiffer);
    }
    let mut outputs = Vec::new();
    for o in &grant.outputs {
        if !present.outputs.contains(o) {
            return Err(RestoreMiss::OutputGone(o.name.clone()));
        }
        outputs.push(o.name.clone());
    }
    let mut windows = Vec::new();
    for w in &grant.windows {
        let Some((id, _)) = present
            .windows
            .iter()
            .find(|(id, app)| *app == w.app_id && !windows.contains(id))
        else {
            return Err(RestoreMiss::WindowGone(w.app_id.clone()));
        };
        windows.push(id.clone());
    }
    Ok(Restored {
        grant: grant.id.clone(),
        devices: if ask.devices.is_empty() {
            DeviceTypes::EMPTY
        } else {
            ask.devices
        },
        outputs,
        windows,
        clipboard: ask.clipboard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(name: &str, description: &str) -> OutputName {
        OutputName {
            name: name.into(),
            description: description.into(),
        }
    }

    fn file() -> GrantFile {
        GrantFile {
            version: FILE_VERSION,
            grants: vec![
                Grant {
                    id: "g1".into(),
                    app_id: "com.rustdesk.RustDesk".into(),
                    kind: SessionKind::Screencast,
                    devices: vec![],
                    outputs: vec![out("HEADLESS-1", "Headless 1")],
                    windows: vec![],
                    clipboard: false,
                    created: 1,
                },
                Grant {
                    id: "g2".into(),
                    app_id: "com.rustdesk.RustDesk".into(),
                    kind: SessionKind::RemoteDesktop,
                    devices: vec!["keyboard".into(), "pointer".into()],
                    outputs: vec![out("HEADLESS-1", "Headless 1")],
                    windows: vec![],
                    clipboard: false,
                    created: 1,
                },
            ],
        }
    }

    fn present() -> Present {
        Present {
            outputs: vec![out("HEADLESS-1", "Headless 1"), out("HEADLESS-2", "")],
            windows: vec![],
        }
    }

    fn ask(kind: SessionKind, devices: u32) -> RestoreAsk<'static> {
        RestoreAsk {
            app_id: "com.rustdesk.RustDesk",
            kind,
            devices: DeviceTypes::from_bits(devices).unwrap(),
            source_types: 1,
            multiple: false,
            clipboard: false,
        }
    }

    fn data(f: &GrantFile, id: &str) -> RestoreData {
        f.get(id).unwrap().restore_data()
    }

    #[test]
    fn a_matching_restore_skips_the_question() {
        let f = file();
        let r = restore(
            &f,
            RESTORE_VENDOR,
            RESTORE_VERSION,
            Some(&data(&f, "g1")),
            &ask(SessionKind::Screencast, 0),
            &present(),
        )
        .unwrap();
        assert_eq!(r.outputs, vec!["HEADLESS-1"]);
        let r = restore(
            &f,
            RESTORE_VENDOR,
            1,
            Some(&data(&f, "g2")),
            &ask(SessionKind::RemoteDesktop, 2),
            &present(),
        )
        .unwrap();
        assert_eq!(r.devices, DeviceTypes::from_bits(2).unwrap());
    }

    #[test]
    fn anything_else_asks_again() {
        let f = file();
        let g1 = data(&f, "g1");
        let sc = ask(SessionKind::Screencast, 0);
        let p = present();
        let miss =
            |vendor: &str,
             version: u32,
             d: Option<&RestoreData>,
             a: &RestoreAsk<'_>,
             p: &Present| { restore(&f, vendor, version, d, a, p).unwrap_err() };
        assert!(matches!(
            miss("gnome", 1, Some(&g1), &sc, &p),
            RestoreMiss::Vendor(_)
        ));
        assert!(matches!(
            miss(RESTORE_VENDOR, 2, Some(&g1), &sc, &p),
            RestoreMiss::Version(2)
        ));
        assert_eq!(
            miss(RESTORE_VENDOR, 1, None, &sc, &p),
            RestoreMiss::Malformed
        );
        let mut revoked = g1.clone();
        revoked.grant = "g9".into();
        assert!(matches!(
            miss(RESTORE_VENDOR, 1, Some(&revoked), &sc, &p),
            RestoreMiss::NoGrant(_)
        ));
        let mut other = sc.clone();
        other.app_id = "org.evil";
        assert!(matches!(
            miss(RESTORE_VENDOR, 1, Some(&g1), &other, &p),
            RestoreMiss::OtherApp(_)
        ));
        // The payload must agree with the grant it names.
        let mut widened = g1.clone();
        widened.outputs.push(out("HEADLESS-2", ""));
        assert!(matches!(
            miss(RESTORE_VENDOR, 1, Some(&widened), &sc, &p),
            RestoreMiss::Tampered(_)
        ));
        // More devices than granted.
        assert!(matches!(
            miss(
                RESTORE_VENDOR,
                1,
                Some(&data(&f, "g2")),
                &ask(SessionKind::RemoteDesktop, 7),
                &p
            ),
            RestoreMiss::MoreDevices { .. }
        ));
        // The output went away, or is another monitor on the same connector.
        let gone = Present {
            outputs: vec![out("HEADLESS-2", "")],
            windows: vec![],
        };
        assert!(matches!(
            miss(RESTORE_VENDOR, 1, Some(&g1), &sc, &gone),
            RestoreMiss::OutputGone(_)
        ));
        let swapped = Present {
            outputs: vec![out("HEADLESS-1", "Another monitor")],
            windows: vec![],
        };
        assert!(matches!(
            miss(RESTORE_VENDOR, 1, Some(&g1), &sc, &swapped),
            RestoreMiss::OutputGone(_)
        ));
        // Windows asked, the grant names outputs.
        let mut windows = sc.clone();
        windows.source_types = 2;
        assert_eq!(
            miss(RESTORE_VENDOR, 1, Some(&g1), &windows, &p),
            RestoreMiss::SourcesDiffer
        );
    }

    #[test]
    fn the_clipboard_restores_only_when_the_grant_shared_it() {
        let mut f = file();
        let mut with = f.grants[1].clone();
        with.id = "g3".into();
        with.clipboard = true;
        f.grants.push(with);
        let p = present();
        let mut asks = ask(SessionKind::RemoteDesktop, 3);
        asks.clipboard = true;
        // Shared before: shared again, without asking.
        let r = restore(&f, RESTORE_VENDOR, 1, Some(&data(&f, "g3")), &asks, &p).unwrap();
        assert!(r.clipboard);
        assert_eq!(r.devices, DeviceTypes::from_bits(3).unwrap());
        // Not asked this time: not shared, still restored.
        let r = restore(
            &f,
            RESTORE_VENDOR,
            1,
            Some(&data(&f, "g3")),
            &ask(SessionKind::RemoteDesktop, 3),
            &p,
        )
        .unwrap();
        assert!(!r.clipboard);
        // Not shared before (left out, or a grant from before the
        // clipboard): the user is asked again.
        assert_eq!(
            restore(&f, RESTORE_VENDOR, 1, Some(&data(&f, "g2")), &asks, &p),
            Err(RestoreMiss::NoClipboard("g2".into()))
        );
        assert_eq!(
            RestoreMiss::NoClipboard("g2".into()).to_string(),
            "the session asks for the clipboard, grant g2 did not share it"
        );
        // The payload cannot add it: the grant decides.
        let mut widened = data(&f, "g2");
        widened.clipboard = true;
        assert!(matches!(
            restore(&f, RESTORE_VENDOR, 1, Some(&widened), &asks, &p),
            Err(RestoreMiss::Tampered(_))
        ));
    }

    #[test]
    fn grants_from_before_the_clipboard_read_as_without_it() {
        let text = r#"{"version": 1, "grants": [{"id": "old", "app_id": "a",
            "kind": "remote_desktop", "devices": ["pointer"], "created": 5}]}"#;
        let f = GrantFile::parse(text).unwrap();
        assert!(!f.grants[0].clipboard);
        assert!(!f.grants[0].restore_data().clipboard);
        // Written only when true: an older ionChannel still reads a file
        // without clipboard grants.
        assert!(!f.to_text().contains("clipboard"));
        let mut g = f.grants[0].clone();
        g.clipboard = true;
        let with = GrantFile {
            version: FILE_VERSION,
            grants: vec![g],
        };
        assert!(with.to_text().contains("\"clipboard\": true"));
        assert_eq!(GrantFile::parse(&with.to_text()).unwrap(), with);
    }

    #[test]
    fn windows_restore_by_app_id() {
        let f = GrantFile {
            version: 1,
            grants: vec![Grant {
                id: "w".into(),
                app_id: String::new(),
                kind: SessionKind::Screencast,
                devices: vec![],
                outputs: vec![],
                windows: vec![WindowName {
                    app_id: "org.example.Notes".into(),
                }],
                clipboard: false,
                created: 1,
            }],
        };
        let a = RestoreAsk {
            app_id: "",
            kind: SessionKind::Screencast,
            devices: DeviceTypes::EMPTY,
            source_types: 3,
            multiple: false,
            clipboard: false,
        };
        let p = Present {
            outputs: vec![],
            windows: vec![
                ("t1".into(), "other".into()),
                ("t2".into(), "org.example.Notes".into()),
            ],
        };
        let r = restore(&f, RESTORE_VENDOR, 1, Some(&data(&f, "w")), &a, &p).unwrap();
        assert_eq!(r.windows, vec!["t2"]);
        let closed = Present::default();
        assert!(matches!(
            restore(&f, RESTORE_VENDOR, 1, Some(&data(&f, "w")), &a, &closed),
            Err(RestoreMiss::WindowGone(_))
        ));
    }

    #[test]
    fn the_file_round_trips_and_refuses_the_unknown() {
        let f = file();
        assert_eq!(GrantFile::parse(&f.to_text()).unwrap(), f);
        assert_eq!(GrantFile::parse("").unwrap(), GrantFile::new());
        assert!(matches!(
            GrantFile::parse("{\"version\": 9, \"grants\": []}"),
            Err(GrantFileError::Version(9))
        ));
        assert!(GrantFile::parse("{\"version\": 1, \"grants\": [{\"id\": 1}]}").is_err());
        assert!(GrantFile::parse("not json").is_err());
    }

    #[test]
    fn remove_takes_what_is_picked() {
        let mut f = file();
        let gone = f.remove(|g| g.kind == SessionKind::Screencast);
        assert_eq!(gone.len(), 1);
        assert_eq!(f.grants.len(), 1);
        assert!(f.get("g1").is_none());
    }
}
