//! The seam over the two data-control protocols. `ext-data-control-v1`
//! (wlroots 0.19+, smithay, cosmic-comp) and `zwlr-data-control-v1`
//! (older wlroots: sway 1.7) have the same shape — manager, device,
//! source, offer, with the same requests and events — but are distinct
//! types in Rust. These enums give the rest of the clipboard one type of
//! each, and the Dispatch impls below turn either protocol's events into
//! the same calls on [`State`].

use std::os::fd::{BorrowedFd, OwnedFd};

use wayland_client::backend::ObjectId;
use wayland_client::globals::GlobalList;
use wayland_client::protocol::wl_seat::WlSeat;
use wayland_client::{
    delegate_noop, event_created_child, Connection, Dispatch, Proxy, QueueHandle,
};
use wayland_protocols::ext::data_control::v1::client::{
    ext_data_control_device_v1::{self, ExtDataControlDeviceV1},
    ext_data_control_manager_v1::ExtDataControlManagerV1,
    ext_data_control_offer_v1::{self, ExtDataControlOfferV1},
    ext_data_control_source_v1::{self, ExtDataControlSourceV1},
};
use wayland_protocols_wlr::data_control::v1::client::{
    zwlr_data_control_device_v1::{self, ZwlrDataControlDeviceV1},
    zwlr_data_control_manager_v1::ZwlrDataControlManagerV1,
    zwlr_data_control_offer_v1::{self, ZwlrDataControlOfferV1},
    zwlr_data_control_source_v1::{self, ZwlrDataControlSourceV1},
};

use super::DataControlChoice;
use crate::state::State;

/// The bound data-control manager.
#[derive(Debug)]
pub enum Manager {
    Ext(ExtDataControlManagerV1),
    Wlr(ZwlrDataControlManagerV1),
}

/// The seat's data-control device.
#[derive(Debug, Clone)]
pub enum Device {
    Ext(ExtDataControlDeviceV1),
    Wlr(ZwlrDataControlDeviceV1),
}

/// One of our data sources (a session's selection).
#[derive(Debug, Clone)]
pub enum Source {
    Ext(ExtDataControlSourceV1),
    Wlr(ZwlrDataControlSourceV1),
}

/// An offer the compositor made us (another client's selection, or the
/// echo of our own).
#[derive(Debug, Clone)]
pub enum Offer {
    Ext(ExtDataControlOfferV1),
    Wlr(ZwlrDataControlOfferV1),
}

/// A device event, whichever protocol sent it.
#[derive(Debug)]
pub enum DeviceEvent {
    /// A new offer; its MIME types follow on the offer itself.
    DataOffer(Offer),
    /// The clipboard selection is now this offer (None: no selection).
    Selection(Option<ObjectId>),
    /// The primary selection is now this offer (None: none). Not exposed:
    /// the portal's Clipboard interface cannot name it.
    PrimarySelection(Option<ObjectId>),
    /// The device is gone (the seat went away); destroy it.
    Finished,
}

/// A source event, whichever protocol sent it.
#[derive(Debug)]
pub enum SourceEvent {
    /// A client pastes: write `mime_type` into `fd`, then close it.
    Send { mime_type: String, fd: OwnedFd },
    /// Our source is no longer the selection; destroy it.
    Cancelled,
}

impl Manager {
    /// Binds ext-data-control-v1 when offered (unless the choice says
    /// otherwise), else zwlr-data-control-v1 (v2 where offered: it allows
    /// a null set_selection and has the primary selection events we
    /// ignore; v1 is enough for what we do).
    pub fn bind(
        globals: &GlobalList,
        qh: &QueueHandle<State>,
        choice: DataControlChoice,
    ) -> Option<Manager> {
        if choice == DataControlChoice::None {
            return None;
        }
        if choice == DataControlChoice::Ext {
            if let Ok(m) = globals.bind::<ExtDataControlManagerV1, _, _>(qh, 1..=1, ()) {
                return Some(Manager::Ext(m));
            }
        }
        globals
            .bind::<ZwlrDataControlManagerV1, _, _>(qh, 1..=2, ())
            .ok()
            .map(Manager::Wlr)
    }

    /// The interface name, for the log and `doctor`.
    pub fn interface(&self) -> &'static str {
        match self {
            Manager::Ext(_) => crate::EXT_DATA_CONTROL,
            Manager::Wlr(_) => crate::WLR_DATA_CONTROL,
        }
    }

    /// The protocol's short name, for the connect log line.
    pub fn protocol(&self) -> &'static str {
        match self {
            Manager::Ext(_) => "ext-data-control-v1",
            Manager::Wlr(m) if m.version() >= 2 => "wlr-data-control-v2",
            Manager::Wlr(_) => "wlr-data-control-v1",
        }
    }

    pub fn get_device(&self, seat: &WlSeat, qh: &QueueHandle<State>) -> Device {
        match self {
            Manager::Ext(m) => Device::Ext(m.get_data_device(seat, qh, ())),
            Manager::Wlr(m) => Device::Wlr(m.get_data_device(seat, qh, ())),
        }
    }

    pub fn create_source(&self, qh: &QueueHandle<State>) -> Source {
        match self {
            Manager::Ext(m) => Source::Ext(m.create_data_source(qh, ())),
            Manager::Wlr(m) => Source::Wlr(m.create_data_source(qh, ())),
        }
    }
}

impl Device {
    /// Sets (Some) or clears (None) the selection. A source of the other
    /// protocol cannot happen (one manager makes both); it is refused
    /// with false rather than a protocol error.
    pub fn set_selection(&self, source: Option<&Source>) -> bool {
        match (self, source) {
            (Device::Ext(d), Some(Source::Ext(s))) => d.set_selection(Some(s)),
            (Device::Ext(d), None) => d.set_selection(None),
            (Device::Wlr(d), Some(Source::Wlr(s))) => d.set_selection(Some(s)),
            (Device::Wlr(d), None) => d.set_selection(None),
            _ => return false,
        }
        true
    }

    pub fn destroy(&self) {
        match self {
            Device::Ext(d) => d.destroy(),
            Device::Wlr(d) => d.destroy(),
        }
    }
}

impl Source {
    pub fn id(&self) -> ObjectId {
        match self {
            Source::Ext(s) => s.id(),
            Source::Wlr(s) => s.id(),
        }
    }

    pub fn offer(&self, mime_type: String) {
        match self {
            Source::Ext(s) => s.offer(mime_type),
            Source::Wlr(s) => s.offer(mime_type),
        }
    }

    pub fn destroy(&self) {
        match self {
            Source::Ext(s) => s.destroy(),
            Source::Wlr(s) => s.destroy(),
        }
    }
}

impl Offer {
    pub fn id(&self) -> ObjectId {
        match self {
            Offer::Ext(o) => o.id(),
            Offer::Wlr(o) => o.id(),
        }
    }

    /// Asks the selection's owner to write `mime_type` into `fd`. The
    /// request holds its own duplicate of the fd (wayland-backend dups
    /// it when the message is written), so the caller may close its own.
    pub fn receive(&self, mime_type: String, fd: BorrowedFd<'_>) {
        match self {
            Offer::Ext(o) => o.receive(mime_type, fd),
            Offer::Wlr(o) => o.receive(mime_type, fd),
        }
    }

    pub fn destroy(&self) {
        match self {
            Offer::Ext(o) => o.destroy(),
            Offer::Wlr(o) => o.destroy(),
        }
    }
}

impl Dispatch<ExtDataControlDeviceV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ExtDataControlDeviceV1,
        event: ext_data_control_device_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use ext_data_control_device_v1::Event as E;
        let ev = match event {
            E::DataOffer { id } => DeviceEvent::DataOffer(Offer::Ext(id)),
            E::Selection { id } => DeviceEvent::Selection(id.map(|o| o.id())),
            E::PrimarySelection { id } => DeviceEvent::PrimarySelection(id.map(|o| o.id())),
            E::Finished => DeviceEvent::Finished,
            _ => return,
        };
        state.clipboard_device_event(ev);
    }

    event_created_child!(State, ExtDataControlDeviceV1, [
        ext_data_control_device_v1::EVT_DATA_OFFER_OPCODE => (ExtDataControlOfferV1, ()),
    ]);
}

impl Dispatch<ZwlrDataControlDeviceV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ZwlrDataControlDeviceV1,
        event: zwlr_data_control_device_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwlr_data_control_device_v1::Event as E;
        let ev = match event {
            E::DataOffer { id } => DeviceEvent::DataOffer(Offer::Wlr(id)),
            E::Selection { id } => DeviceEvent::Selection(id.map(|o| o.id())),
            E::PrimarySelection { id } => DeviceEvent::PrimarySelection(id.map(|o| o.id())),
            E::Finished => DeviceEvent::Finished,
            _ => return,
        };
        state.clipboard_device_event(ev);
    }

    event_created_child!(State, ZwlrDataControlDeviceV1, [
        zwlr_data_control_device_v1::EVT_DATA_OFFER_OPCODE => (ZwlrDataControlOfferV1, ()),
    ]);
}

impl Dispatch<ExtDataControlOfferV1, ()> for State {
    fn event(
        state: &mut Self,
        offer: &ExtDataControlOfferV1,
        event: ext_data_control_offer_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let ext_data_control_offer_v1::Event::Offer { mime_type } = event {
            state.clipboard_offer_mime(offer.id(), mime_type);
        }
    }
}

impl Dispatch<ZwlrDataControlOfferV1, ()> for State {
    fn event(
        state: &mut Self,
        offer: &ZwlrDataControlOfferV1,
        event: zwlr_data_control_offer_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwlr_data_control_offer_v1::Event::Offer { mime_type } = event {
            state.clipboard_offer_mime(offer.id(), mime_type);
        }
    }
}

impl Dispatch<ExtDataControlSourceV1, ()> for State {
    fn event(
        state: &mut Self,
        source: &ExtDataControlSourceV1,
        event: ext_data_control_source_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use ext_data_control_source_v1::Event as E;
        let ev = match event {
            E::Send { mime_type, fd } => SourceEvent::Send { mime_type, fd },
            E::Cancelled => SourceEvent::Cancelled,
            _ => return,
        };
        state.clipboard_source_event(source.id(), ev);
    }
}

impl Dispatch<ZwlrDataControlSourceV1, ()> for State {
    fn event(
        state: &mut Self,
        source: &ZwlrDataControlSourceV1,
        event: zwlr_data_control_source_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwlr_data_control_source_v1::Event as E;
        let ev = match event {
            E::Send { mime_type, fd } => SourceEvent::Send { mime_type, fd },
            E::Cancelled => SourceEvent::Cancelled,
            _ => return,
        };
        state.clipboard_source_event(source.id(), ev);
    }
}

delegate_noop!(State: ignore ExtDataControlManagerV1);
delegate_noop!(State: ignore ZwlrDataControlManagerV1);
