//! The compositor side of the clipboard: the seat's data-control device
//! (`ext-data-control-v1` where offered, else `zwlr-data-control-v1`),
//! the selection's offers, and our sessions' data sources.
//!
//! No data passes through this thread: a paste from a session's selection
//! hands the pipe's fd to the D-Bus side (`Event::SelectionSend`), and a
//! read of the local selection hands the caller's fd to the selection's
//! owner (`receive`). Only the primary selection is left out: the portal's
//! Clipboard interface has no way to name it, so its events are consumed
//! and its offers destroyed, never reported.

mod device;
pub(crate) mod protocol;
mod source;

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;
use wayland_client::backend::ObjectId;
use wayland_client::protocol::wl_seat::WlSeat;
use wayland_client::QueueHandle;

use crate::command::{Event, SessionId};
use crate::state::State;
use device::Offers;
use protocol::{Device, DeviceEvent, Manager, SourceEvent};
use source::Sources;

/// The variable that picks the data-control protocol where both exist
/// (`IONCHANNEL_DATA_CONTROL=wlr`, or `none` for no clipboard): a test
/// hook, so that both paths can be tested on a compositor that offers both
/// (the cosmic-comp stand-in), and a way out if one misbehaves.
pub const DATA_CONTROL_VAR: &str = "IONCHANNEL_DATA_CONTROL";

/// Which data-control protocol to bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataControlChoice {
    /// ext-data-control-v1 where offered, else zwlr-data-control-v1.
    #[default]
    Ext,
    /// zwlr-data-control-v1 even where ext is offered.
    Wlr,
    /// No clipboard.
    None,
}

impl DataControlChoice {
    /// From [`DATA_CONTROL_VAR`]; the default when unset or unknown.
    pub fn from_env() -> Self {
        match std::env::var(DATA_CONTROL_VAR).as_deref() {
            Ok("wlr") => DataControlChoice::Wlr,
            Ok("none") => DataControlChoice::None,
            Ok("ext" | "") | Err(_) => DataControlChoice::Ext,
            Ok(other) => {
                tracing::warn!("{DATA_CONTROL_VAR}={other:?} is not ext, wlr or none: ignored");
                DataControlChoice::Ext
            }
        }
    }
}

pub struct Clipboard {
    manager: Manager,
    device: Option<Device>,
    offers: Offers,
    sources: Sources,
    /// What SelectionChanged last said, so that only real changes are sent.
    published: (Vec<String>, Option<SessionId>),
}

impl Clipboard {
    /// The seat's data-control device, if the compositor has a
    /// data-control protocol (and we chose one) and a seat.
    pub fn new(
        manager: Option<Manager>,
        seat: Option<&WlSeat>,
        qh: &QueueHandle<State>,
    ) -> Option<Self> {
        let manager = manager?;
        let Some(seat) = seat else {
            tracing::info!(
                "{} offered but no wl_seat: no clipboard",
                manager.interface()
            );
            return None;
        };
        let device = manager.get_device(seat, qh);
        Some(Clipboard {
            manager,
            device: Some(device),
            offers: Offers::default(),
            sources: Sources::default(),
            published: (Vec::new(), None),
        })
    }

    /// The interface used, while the device exists.
    pub fn interface(&self) -> Option<&'static str> {
        self.device.as_ref().map(|_| self.manager.interface())
    }

    pub fn protocol(&self) -> &'static str {
        self.manager.protocol()
    }

    /// Sends SelectionChanged if the selection or its owner changed since
    /// the last one.
    pub fn publish(&mut self, events: &UnboundedSender<Event>) {
        let mime_types = self.offers.selection_types();
        let owner = if self.offers.selection.is_some() {
            self.sources.current_owner()
        } else {
            None
        };
        let now = (mime_types, owner);
        if now == self.published {
            return;
        }
        tracing::debug!(mime_types = ?now.0, owner = ?now.1, "selection changed");
        self.published = now.clone();
        let _ = events.send(Event::SelectionChanged {
            mime_types: now.0,
            owner: now.1,
        });
    }

    fn set_selection(
        &mut self,
        session: SessionId,
        mime_types: Vec<String>,
        qh: &QueueHandle<State>,
        events: &UnboundedSender<Event>,
    ) {
        let Some(device) = &self.device else {
            tracing::debug!(session, "no data-control device: selection dropped");
            return;
        };
        if mime_types.is_empty() {
            // Nothing could be pasted from a source without types: the
            // session withdraws its selection instead.
            self.clear_selection(session, events);
            return;
        }
        let source = self.manager.create_source(qh);
        for m in &mime_types {
            source.offer(m.clone());
        }
        if !device.set_selection(Some(&source)) {
            source.destroy();
            return;
        }
        tracing::info!(session, ?mime_types, "session's selection offered");
        if let Some(old) = self.sources.insert(session, source) {
            old.destroy();
        }
    }

    fn clear_selection(&mut self, session: SessionId, events: &UnboundedSender<Event>) {
        let Some((source, was_current)) = self.sources.remove_session(session) else {
            return;
        };
        if was_current {
            // Withdrawn at once, so nothing pastes from a session that is
            // gone: null selection, then the source goes.
            if let Some(device) = &self.device {
                device.set_selection(None);
            }
            self.offers.clear_selection();
            tracing::info!(session, "session's selection withdrawn");
        }
        source.destroy();
        self.publish(events);
    }

    fn read_selection(&mut self, mime_type: String, fd: OwnedFd) -> Result<(), String> {
        let Some(selection) = &self.offers.selection else {
            return Err("there is no selection".into());
        };
        if !selection.mime_types.contains(&mime_type) {
            return Err(format!("{mime_type} is not on offer"));
        }
        selection.offer.receive(mime_type, fd.as_fd());
        // The request holds its own copy of the fd; ours closes here, so
        // the reader sees the end of the data when the owner closes its.
        drop(fd);
        Ok(())
    }

    fn device_event(&mut self, ev: DeviceEvent, events: &UnboundedSender<Event>) {
        match ev {
            DeviceEvent::DataOffer(offer) => self.offers.announce(offer),
            DeviceEvent::Selection(id) => {
                self.offers.set_selection(id);
                self.publish(events);
            }
            // Not exposed (see the module's comment).
            DeviceEvent::PrimarySelection(id) => self.offers.set_primary(id),
            DeviceEvent::Finished => {
                tracing::warn!("the data-control device is gone: no clipboard");
                if let Some(d) = self.device.take() {
                    d.destroy();
                }
                self.offers.destroy_all();
                self.sources.destroy_all();
                self.publish(events);
            }
        }
    }

    fn source_event(&mut self, id: ObjectId, ev: SourceEvent, events: &UnboundedSender<Event>) {
        match ev {
            SourceEvent::Send { mime_type, fd } => {
                let Some(session) = self.sources.session_of(&id) else {
                    // A source we already let go: closing the fd ends
                    // the paste with no data.
                    return;
                };
                tracing::debug!(session, %mime_type, "a local paste from the session's selection");
                let _ = events.send(Event::SelectionSend {
                    session,
                    mime_type,
                    fd: Arc::new(fd),
                });
            }
            SourceEvent::Cancelled => {
                if let Some(source) = self.sources.remove_id(&id) {
                    tracing::debug!("a session's selection was replaced by another client's");
                    source.destroy();
                }
                // The `selection` event that follows tells the new owner.
            }
        }
    }
}

impl State {
    pub(crate) fn clipboard_device_event(&mut self, ev: DeviceEvent) {
        if let Some(c) = self.clipboard.as_mut() {
            c.device_event(ev, &self.events);
        }
    }

    pub(crate) fn clipboard_offer_mime(&mut self, id: ObjectId, mime_type: String) {
        if let Some(c) = self.clipboard.as_mut() {
            c.offers.add_mime(&id, mime_type);
        }
    }

    pub(crate) fn clipboard_source_event(&mut self, id: ObjectId, ev: SourceEvent) {
        if let Some(c) = self.clipboard.as_mut() {
            c.source_event(id, ev, &self.events);
        }
    }

    pub(crate) fn set_selection(&mut self, session: SessionId, mime_types: Vec<String>) {
        match self.clipboard.as_mut() {
            Some(c) => c.set_selection(session, mime_types, &self.qh, &self.events),
            None => tracing::debug!(session, "no data-control protocol: selection dropped"),
        }
    }

    pub(crate) fn clear_selection(&mut self, session: SessionId) {
        if let Some(c) = self.clipboard.as_mut() {
            c.clear_selection(session, &self.events);
        }
    }

    pub(crate) fn read_selection(&mut self, mime_type: String, fd: OwnedFd) -> Result<(), String> {
        match self.clipboard.as_mut() {
            Some(c) => c.read_selection(mime_type, fd),
            None => Err("the compositor offers no data-control protocol".into()),
        }
    }
}
