//! The clipboard's rules, apart from any fd or protocol: which MIME type
//! lists a remote side may offer, and the life of a local paste from the
//! session's selection (`SelectionTransfer` → `SelectionWrite` →
//! `SelectionWriteDone`), by serial.
//!
//! The portal's Clipboard interface trusts the app with serials and MIME
//! types; the frontend checks neither. Each mistake here is a clear error
//! and changes nothing else.

use std::collections::BTreeMap;

/// MIME types one selection may offer (GNOME's and KDE's clipboards offer
/// about a dozen; far more is a client gone wrong).
pub const MAX_MIME_TYPES: usize = 64;
/// The longest MIME type accepted (RFC 6838 caps type and subtype at 127
/// characters each; parameters such as `;charset=utf-8` come on top).
pub const MAX_MIME_LEN: usize = 255;
/// Pastes announced and not yet finished, per session: a local app that
/// asks for more is dropped (its paste gets nothing), never queued.
pub const MAX_PENDING_TRANSFERS: usize = 32;
/// A side that moves no data for this long ends its transfer: the other
/// side gets what came so far, then EOF.
pub const TRANSFER_IDLE: std::time::Duration = std::time::Duration::from_secs(10);
/// A paste announced with SelectionTransfer whose SelectionWrite never
/// comes is given up after this (the local app reads nothing, then EOF).
pub const WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a clipboard call is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipboardError {
    #[error("mime_types is missing or empty")]
    NoMimeTypes,
    #[error("{0} MIME types: at most {MAX_MIME_TYPES}")]
    TooManyMimeTypes(usize),
    #[error(
        "MIME type {0:?} is not a type/subtype of printable ASCII (at most {MAX_MIME_LEN} bytes)"
    )]
    BadMimeType(String),
    #[error("MIME type {0:?} is offered twice")]
    DuplicateMimeType(String),
    #[error("serial {0} was never announced by SelectionTransfer, or its paste is over")]
    UnknownSerial(u32),
    #[error("serial {0} was already written (SelectionWrite is once per serial)")]
    AlreadyWritten(u32),
}

/// Whether `mime` looks like a MIME type or one of the X11 target names
/// Wayland clients offer beside them (`UTF8_STRING`, `TEXT`, `STRING`):
/// printable ASCII, no spaces outside parameters, at most MAX_MIME_LEN.
pub fn valid_mime_type(mime: &str) -> bool {
    let base = mime.split(';').next().unwrap_or_default();
    !mime.is_empty()
        && mime.len() <= MAX_MIME_LEN
        && mime.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !base.is_empty()
        && !base.contains(' ')
}

/// Checks the MIME types of a SetSelection.
pub fn check_mime_types(types: &[String]) -> Result<(), ClipboardError> {
    if types.is_empty() {
        return Err(ClipboardError::NoMimeTypes);
    }
    if types.len() > MAX_MIME_TYPES {
        return Err(ClipboardError::TooManyMimeTypes(types.len()));
    }
    for (i, t) in types.iter().enumerate() {
        if !valid_mime_type(t) {
            return Err(ClipboardError::BadMimeType(t.chars().take(80).collect()));
        }
        if types[..i].contains(t) {
            return Err(ClipboardError::DuplicateMimeType(t.clone()));
        }
    }
    Ok(())
}

/// Where one announced paste stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub mime_type: String,
    /// SelectionWrite handed out its fd.
    pub written: bool,
}

/// A session's pastes in flight, by serial. Serials start at 1 and never
/// repeat within a session, so a stale serial cannot name a new paste.
#[derive(Debug, Default)]
pub struct Transfers {
    next: u32,
    open: BTreeMap<u32, Transfer>,
}

impl Transfers {
    /// A local app asked to paste `mime_type`: its serial, or None when
    /// too many are open (the caller drops that paste).
    pub fn announce(&mut self, mime_type: &str) -> Option<u32> {
        if self.open.len() >= MAX_PENDING_TRANSFERS {
            return None;
        }
        self.next = self.next.wrapping_add(1).max(1);
        let serial = self.next;
        self.open.insert(
            serial,
            Transfer {
                mime_type: mime_type.to_owned(),
                written: false,
            },
        );
        Some(serial)
    }

    /// SelectionWrite: allowed once per announced serial.
    pub fn write(&mut self, serial: u32) -> Result<&Transfer, ClipboardError> {
        let t = self
            .open
            .get_mut(&serial)
            .ok_or(ClipboardError::UnknownSerial(serial))?;
        if t.written {
            return Err(ClipboardError::AlreadyWritten(serial));
        }
        t.written = true;
        Ok(t)
    }

    /// SelectionWriteDone, or the paste given up (timeout): the transfer
    /// is over.
    pub fn finish(&mut self, serial: u32) -> Result<Transfer, ClipboardError> {
        self.open
            .remove(&serial)
            .ok_or(ClipboardError::UnknownSerial(serial))
    }

    /// Serials still open.
    pub fn open(&self) -> impl Iterator<Item = u32> + '_ {
        self.open.keys().copied()
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn types(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn real_offers_pass() {
        check_mime_types(&types(&[
            "text/plain",
            "text/plain;charset=utf-8",
            "UTF8_STRING",
            "TEXT",
            "text/html",
            "image/png",
            "x-special/gnome-copied-files",
        ]))
        .unwrap();
    }

    #[test]
    fn bad_offers_say_why() {
        assert_eq!(check_mime_types(&[]), Err(ClipboardError::NoMimeTypes));
        let many: Vec<String> = (0..65).map(|i| format!("text/x-{i}")).collect();
        assert_eq!(
            check_mime_types(&many),
            Err(ClipboardError::TooManyMimeTypes(65))
        );
        for bad in [
            "",
            "text plain",
            "text/pl\u{e9}in",
            "a\nb",
            &"x".repeat(256),
            ";x",
        ] {
            assert!(
                matches!(
                    check_mime_types(&types(&["text/plain", bad])),
                    Err(ClipboardError::BadMimeType(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_mime_types(&types(&["text/plain", "image/png", "text/plain"])),
            Err(ClipboardError::DuplicateMimeType("text/plain".into()))
        );
    }

    #[test]
    fn a_serial_is_written_once_and_finished_once() {
        let mut t = Transfers::default();
        let a = t.announce("text/plain").unwrap();
        let b = t.announce("image/png").unwrap();
        assert_ne!(a, b);
        assert_eq!(t.write(a).unwrap().mime_type, "text/plain");
        assert_eq!(t.write(a), Err(ClipboardError::AlreadyWritten(a)));
        assert_eq!(t.write(99), Err(ClipboardError::UnknownSerial(99)));
        assert!(t.finish(a).unwrap().written);
        assert_eq!(t.finish(a), Err(ClipboardError::UnknownSerial(a)));
        // b was never written: finishing it is allowed (a paste given up).
        assert!(!t.finish(b).unwrap().written);
        assert!(t.is_empty());
        // Serials never come back.
        assert!(t.announce("text/plain").unwrap() > b);
    }

    #[test]
    fn too_many_open_pastes_are_refused_not_queued() {
        let mut t = Transfers::default();
        for _ in 0..MAX_PENDING_TRANSFERS {
            assert!(t.announce("text/plain").is_some());
        }
        assert_eq!(t.announce("text/plain"), None);
        let first = t.open().next().unwrap();
        t.finish(first).unwrap();
        assert!(t.announce("text/plain").is_some());
    }
}
