//! Our data sources: at most one per session, the selection that session
//! offers. A source lives from `SetSelection` until the session replaces
//! or withdraws it, or the compositor cancels it (another client took the
//! selection).

use std::collections::HashMap;

use wayland_client::backend::ObjectId;

use super::protocol::Source;
use crate::command::SessionId;

#[derive(Debug, Default)]
pub struct Sources {
    by_session: HashMap<SessionId, Source>,
    by_id: HashMap<ObjectId, SessionId>,
    /// The source we last made the selection, until it is cancelled,
    /// replaced or withdrawn: while it is set, a `selection` event is the
    /// compositor's echo of ours, so its owner is this source's session.
    current: Option<ObjectId>,
}

impl Sources {
    /// Records `source` as the session's selection and as the current one;
    /// returns the session's previous source (for the caller to destroy
    /// after the new one is set, so the selection never falls empty in
    /// between).
    pub fn insert(&mut self, session: SessionId, source: Source) -> Option<Source> {
        let id = source.id();
        self.by_id.insert(id.clone(), session);
        self.current = Some(id);
        let old = self.by_session.insert(session, source);
        if let Some(old) = &old {
            self.by_id.remove(&old.id());
        }
        old
    }

    /// The session whose source is the current selection, if any.
    pub fn current_owner(&self) -> Option<SessionId> {
        self.current
            .as_ref()
            .and_then(|id| self.by_id.get(id))
            .copied()
    }

    pub fn session_of(&self, id: &ObjectId) -> Option<SessionId> {
        self.by_id.get(id).copied()
    }

    /// Forgets the source `id` (cancelled); returns it to be destroyed.
    pub fn remove_id(&mut self, id: &ObjectId) -> Option<Source> {
        let session = self.by_id.remove(id)?;
        if self.current.as_ref() == Some(id) {
            self.current = None;
        }
        self.by_session.remove(&session)
    }

    /// Forgets the session's source; returns it, and whether it was the
    /// current selection.
    pub fn remove_session(&mut self, session: SessionId) -> Option<(Source, bool)> {
        let source = self.by_session.remove(&session)?;
        let id = source.id();
        self.by_id.remove(&id);
        let was_current = self.current.as_ref() == Some(&id);
        if was_current {
            self.current = None;
        }
        Some((source, was_current))
    }

    /// Destroys every source (the device is gone).
    pub fn destroy_all(&mut self) {
        for (_, source) in self.by_session.drain() {
            source.destroy();
        }
        self.by_id.clear();
        self.current = None;
    }
}
