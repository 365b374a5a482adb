//! What the seat's data-control device told us: the offers it announced
//! with their MIME types, and which of them is the selection now.

use std::collections::HashMap;

use wayland_client::backend::ObjectId;

use super::protocol::Offer;

#[derive(Debug)]
pub struct OfferState {
    pub offer: Offer,
    pub mime_types: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Offers {
    /// Announced (`data_offer`), collecting MIME types, not yet named by a
    /// `selection` or `primary_selection` event.
    announced: HashMap<ObjectId, OfferState>,
    /// The clipboard selection.
    pub selection: Option<OfferState>,
    /// The primary selection's offer, kept only to destroy it when it is
    /// replaced: the portal's Clipboard interface has no way to name the
    /// primary selection, so it is never exposed.
    primary: Option<Offer>,
}

impl Offers {
    pub fn announce(&mut self, offer: Offer) {
        self.announced.insert(
            offer.id(),
            OfferState {
                offer,
                mime_types: Vec::new(),
            },
        );
    }

    pub fn add_mime(&mut self, id: &ObjectId, mime_type: String) {
        let state = match self.announced.get_mut(id) {
            Some(s) => s,
            // Offers keep their types once named a selection, but
            // compositors send them all before the `selection` event.
            None => match self.selection.as_mut() {
                Some(s) if &s.offer.id() == id => s,
                _ => return,
            },
        };
        if !state.mime_types.contains(&mime_type) {
            state.mime_types.push(mime_type);
        }
    }

    /// The selection is now `id` (None: no selection); the previous
    /// offer is destroyed.
    pub fn set_selection(&mut self, id: Option<ObjectId>) {
        // The same offer named again (no compositor does, but it would be
        // no change) must not destroy it.
        if id.is_some() && self.selection.as_ref().map(|s| s.offer.id()) == id {
            return;
        }
        let new = id.and_then(|id| self.announced.remove(&id));
        if let Some(old) = std::mem::replace(&mut self.selection, new) {
            old.offer.destroy();
        }
        self.destroy_unclaimed();
    }

    /// The primary selection is now `id`: remembered only to be destroyed.
    pub fn set_primary(&mut self, id: Option<ObjectId>) {
        let new = id.and_then(|id| self.announced.remove(&id).map(|s| s.offer));
        if let Some(old) = std::mem::replace(&mut self.primary, new) {
            old.destroy();
        }
        self.destroy_unclaimed();
    }

    /// Offers announced but never named: the device names each new offer
    /// right after announcing it, so any still waiting when one is named
    /// never will be.
    fn destroy_unclaimed(&mut self) {
        for (_, s) in self.announced.drain() {
            s.offer.destroy();
        }
    }

    /// Drops the selection and destroys its offer (ours was withdrawn: the
    /// compositor's `selection(null)` that follows is then no change).
    pub fn clear_selection(&mut self) {
        if let Some(old) = self.selection.take() {
            old.offer.destroy();
        }
    }

    /// Destroys every offer (the device is gone).
    pub fn destroy_all(&mut self) {
        self.clear_selection();
        if let Some(p) = self.primary.take() {
            p.destroy();
        }
        self.destroy_unclaimed();
    }

    pub fn selection_types(&self) -> Vec<String> {
        self.selection
            .as_ref()
            .map(|s| s.mime_types.clone())
            .unwrap_or_default()
    }
}
