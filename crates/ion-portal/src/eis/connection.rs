//! One EIS connection: a task on the D-Bus side's runtime that owns the
//! server end of the socket ConnectToEIS handed out.
//!
//! The connection goes: handshake (the client must be a *sender*) → one
//! seat with the capabilities the session was granted → the client binds
//! some of them → a device per kind (relative pointer; absolute pointer
//! with one region per stream; keyboard with the virtual keyboard's
//! keymap; touchscreen with the absolute pointer's regions), each resumed
//! at once → the client emulates: `start_emulating`,
//! events, `frame`, `stop_emulating`. reis holds a device's events until
//! its frame; each then goes through [`Portal::eis_input`], the Notify*
//! path.
//!
//! Anything the client does wrong ends *this* connection, never the
//! daemon: garbage bytes, a protocol error, a request for an object it was
//! never given, input outside start/stop_emulating, a value validation
//! refuses, an absolute position in no region. The client is told why
//! (`ei_connection.disconnected` with a reason) when the handshake is done.
//! However it ends, [`Portal::eis_ended`] releases what the session holds.

use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use ion_core::InputError;
use reis::eis::{self, connection::DisconnectReason, device::DeviceType};
use reis::enumflags2::BitFlags;
use reis::handshake::{EisHandshakeResp, EisHandshaker};
use reis::request::{Device, DeviceCapability, EisRequest, EisRequestConverter, Seat};
use reis::{Interface, PendingRequestResult};
use tokio::io::unix::AsyncFd;
use tokio::sync::{oneshot, watch};
use tracing::Instrument;

use super::keymap_fd::keymap_fd;
use super::offer::{EisOffer, EisRegion};
use super::translate::Translator;
use crate::portal::{EisRefused, Portal};

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum EisEnd {
    #[error("the client disconnected")]
    ClientDisconnected,
    #[error("the client closed the socket")]
    ClientClosed,
    #[error("the session ended")]
    SessionEnded,
    #[error("the client is not a sender (ionChannel only takes input from EIS clients)")]
    NotSender,
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("refused input: {0}")]
    Value(String),
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

impl EisEnd {
    /// What the client is told, if it is still there to hear it.
    fn reason(&self) -> Option<(DisconnectReason, Option<String>)> {
        match self {
            Self::ClientDisconnected | Self::ClientClosed | Self::Io(_) => None,
            // A deliberate end: the protocol wants no explanation.
            Self::SessionEnded => Some((DisconnectReason::Disconnected, None)),
            Self::NotSender => Some((DisconnectReason::Mode, Some(self.to_string()))),
            Self::Protocol(_) => Some((DisconnectReason::Protocol, Some(self.to_string()))),
            Self::Value(_) => Some((DisconnectReason::Value, Some(self.to_string()))),
        }
    }
}

/// Starts the task serving `socket` for the session in `offer`. `stop`
/// resolves (or its sender is dropped) when the session ends.
/// `regions`, for a session without streams, brings the outputs' regions
/// whenever the layout changes.
pub fn spawn(
    portal: Arc<Portal>,
    offer: EisOffer,
    socket: UnixStream,
    stop: oneshot::Receiver<()>,
    regions: Option<watch::Receiver<Vec<EisRegion>>>,
) -> std::io::Result<()> {
    let context = eis::Context::new(socket)?;
    // reis reads until the socket would block; tokio tells when to read.
    // SAFETY: the AsyncFd owns a clone of the context, which keeps reis's
    // backend and so the socket alive; nothing closes or replaces the fd
    // while the AsyncFd is registered (reis closes it only when the last
    // clone is dropped, and this one is dropped with the AsyncFd).
    let fd = unsafe { AsyncFd::register_with_interest(context, tokio::io::Interest::READABLE)? };
    let span = tracing::info_span!(
        "eis",
        session = offer.session,
        connection = offer.connection
    );
    tokio::spawn(
        async move {
            // The keymap the virtual keyboard has now (Notify* keysyms
            // before ConnectToEIS may have extended it).
            let keymap = if offer.devices.contains(ion_core::DeviceType::Keyboard) {
                match portal.wayland.keymap(offer.session).await {
                    Ok(k) => k,
                    Err(e) => {
                        tracing::warn!("no keymap for the EIS keyboard: {e}");
                        None
                    }
                }
            } else {
                None
            };
            let mut server = Server::new(portal.clone(), offer, fd.get_ref(), keymap);
            let end = server.serve(&fd, stop, regions).await;
            server.finish(&end);
            portal.eis_ended(&server.offer, &end);
            match &end {
                EisEnd::ClientDisconnected | EisEnd::ClientClosed | EisEnd::SessionEnded => {
                    tracing::info!("EIS connection ended: {end}");
                }
                _ => tracing::warn!("EIS connection ended: {end}"),
            }
            // Dropping the context closes our end of the socket.
        }
        .instrument(span),
    );
    Ok(())
}

enum Phase {
    Handshake(EisHandshaker),
    Connected(Connected),
    Done,
}

struct Connected {
    converter: EisRequestConverter,
    /// None when the client was refused right after the handshake.
    seat: Option<Seat>,
}

/// A device we made, and whether the client is emulating on it.
struct Made {
    device: Device,
    name: &'static str,
    caps: BitFlags<DeviceCapability>,
    emulating: bool,
}

struct Server {
    portal: Arc<Portal>,
    offer: EisOffer,
    context: eis::Context,
    keymap: Option<String>,
    phase: Phase,
    /// Live devices by their object id.
    devices: HashMap<u64, Made>,
    /// Every object id we ever gave the client: a request for one of them
    /// after we destroyed it is a harmless race (ignored, as libeis does);
    /// a request for any other id is the client's error.
    given: HashSet<u64>,
    translator: Translator,
    /// Events the rate limiter dropped (as Notify* would refuse them).
    limited: u64,
    injected: u64,
}

/// The capabilities whose devices have regions.
const ABSOLUTE: BitFlags<DeviceCapability> =
    reis::enumflags2::make_bitflags!(DeviceCapability::{PointerAbsolute | Touch});

fn id_of(device: &Device) -> u64 {
    device.device().as_object().id()
}

impl Server {
    fn new(
        portal: Arc<Portal>,
        offer: EisOffer,
        context: &eis::Context,
        keymap: Option<String>,
    ) -> Self {
        // Sends ei_handshake.handshake_version: the server speaks first.
        let handshaker = EisHandshaker::new(context, 1);
        Self {
            portal,
            offer,
            context: context.clone(),
            keymap,
            phase: Phase::Handshake(handshaker),
            devices: HashMap::new(),
            given: HashSet::from([0]),
            translator: Translator::new(),
            limited: 0,
            injected: 0,
        }
    }

    async fn serve(
        &mut self,
        fd: &AsyncFd<eis::Context>,
        mut stop: oneshot::Receiver<()>,
        mut regions: Option<watch::Receiver<Vec<EisRegion>>>,
    ) -> EisEnd {
        loop {
            let mut guard = tokio::select! {
                biased;
                _ = &mut stop => return EisEnd::SessionEnded,
                changed = regions_changed(&mut regions) => {
                    match changed {
                        Some(new) => self.new_regions(new),
                        // The session's end comes through `stop`.
                        None => regions = None,
                    }
                    if let Err(e) = self.context.flush() {
                        if e != rustix::io::Errno::AGAIN {
                            return EisEnd::Io(e.into());
                        }
                    }
                    continue;
                }
                ready = fd.readable() => match ready {
                    Ok(guard) => guard,
                    Err(e) => return EisEnd::Io(e),
                },
            };
            let read = match self.context.read() {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return EisEnd::ClientClosed
                }
                Err(e) => return EisEnd::Io(e),
            };
            if read == 0 {
                // Nothing left: wait for the next readiness. After a read
                // that got bytes the socket is read again first, so an EOF
                // right behind the data is seen.
                guard.clear_ready();
                continue;
            }
            drop(guard);
            while let Some(pending) = self.context.pending_request() {
                if let Err(end) = self.handle(pending) {
                    return end;
                }
            }
            if let Err(e) = self.context.flush() {
                // A client that does not read gets its messages later;
                // anything else means the socket is gone.
                if e != rustix::io::Errno::AGAIN {
                    return EisEnd::Io(e.into());
                }
            }
        }
    }

    /// The outputs changed under a session without streams: absolute
    /// devices (pointer, touchscreen) are made anew with the new regions
    /// (a device's regions are fixed once it is done), and what the old
    /// ones held is released.
    fn new_regions(&mut self, regions: Vec<EisRegion>) {
        self.offer.regions = regions;
        let Phase::Connected(Connected {
            seat: Some(seat), ..
        }) = &self.phase
        else {
            return;
        };
        let seat = seat.clone();
        let stale: Vec<u64> = self
            .devices
            .iter()
            .filter(|(_, m)| m.caps.intersects(ABSOLUTE))
            .map(|(id, _)| *id)
            .collect();
        if stale.is_empty() {
            return;
        }
        for id in stale {
            if let Some(made) = self.devices.remove(&id) {
                made.device.remove();
                self.translator.forget(id);
                tracing::info!(
                    regions = self.offer.regions.len(),
                    device = made.name,
                    "made anew for the new outputs"
                );
                self.make_device(&seat, made.name, made.caps);
            }
        }
        self.portal.eis_release(&self.offer);
    }

    fn handle(&mut self, pending: PendingRequestResult<eis::Request>) -> Result<(), EisEnd> {
        let request = match pending {
            PendingRequestResult::Request(r) => r,
            PendingRequestResult::ParseError(e) => {
                return Err(EisEnd::Protocol(format!("malformed message: {e}")))
            }
            PendingRequestResult::InvalidObject(id) if self.given.contains(&id) => {
                tracing::debug!(object = id, "request for an object already destroyed");
                return Ok(());
            }
            PendingRequestResult::InvalidObject(id) => {
                return Err(EisEnd::Protocol(format!(
                    "request for object {id:#x}, which the client was never given"
                )))
            }
        };
        match &mut self.phase {
            Phase::Handshake(handshaker) => match handshaker.handle_request(request) {
                Ok(None) => Ok(()),
                Ok(Some(resp)) => self.connected(resp),
                Err(e) => Err(EisEnd::Protocol(format!("handshake: {e}"))),
            },
            Phase::Connected(c) => {
                c.converter
                    .handle_request(request)
                    .map_err(|e| EisEnd::Protocol(e.to_string()))?;
                while let Some(r) = self.next_request() {
                    self.on_request(r)?;
                }
                Ok(())
            }
            Phase::Done => Ok(()),
        }
    }

    fn next_request(&mut self) -> Option<EisRequest> {
        match &mut self.phase {
            Phase::Connected(c) => c.converter.next_request(),
            _ => None,
        }
    }

    /// The handshake is done: check the client, then offer the seat.
    fn connected(&mut self, resp: EisHandshakeResp) -> Result<(), EisEnd> {
        let converter = EisRequestConverter::new(&self.context, resp, 1);
        let handle = converter.handle().clone();
        let name = handle.name().unwrap_or("").to_owned();
        let refused = if handle.context_type() != eis::handshake::ContextType::Sender {
            Some(EisEnd::NotSender)
        } else if !handle.has_interface(eis::Seat::NAME) || !handle.has_interface(eis::Device::NAME)
        {
            Some(EisEnd::Protocol(
                "the client did not announce ei_seat and ei_device".into(),
            ))
        } else {
            None
        };
        if let Some(end) = refused {
            // Connected without a seat, so `finish` can tell the client why.
            self.phase = Phase::Connected(Connected {
                converter,
                seat: None,
            });
            return Err(end);
        }
        let caps = self.offer.capabilities();
        let seat = handle.add_seat(Some("ionchannel"), caps);
        self.given.insert(seat.eis_seat().as_object().id());
        tracing::info!(client = %name, capabilities = ?caps, "EIS client connected");
        self.phase = Phase::Connected(Connected {
            converter,
            seat: Some(seat),
        });
        Ok(())
    }

    fn on_request(&mut self, request: EisRequest) -> Result<(), EisEnd> {
        match &request {
            EisRequest::Disconnect => return Err(EisEnd::ClientDisconnected),
            EisRequest::Bind(bind) => return self.bind(bind.capabilities),
            EisRequest::RequestDevice(_) => {
                // Devices follow the bound capabilities; ignored, as
                // libeis does unless the server wants it.
                tracing::debug!("request_device ignored");
                return Ok(());
            }
            EisRequest::Ready(_) | EisRequest::Frame(_) => return Ok(()),
            _ => {}
        }
        let Some(device) = request.device() else {
            return Ok(());
        };
        let id = id_of(device);
        let Some(made) = self.devices.get_mut(&id) else {
            // reis hands out only our devices; one we removed is a race.
            tracing::debug!(device = id, "request for a removed device");
            return Ok(());
        };
        match &request {
            EisRequest::DeviceClosed(_) => {
                tracing::info!(device = ?made.device, "the client closed a device");
                made.device.remove();
                self.devices.remove(&id);
                self.translator.forget(id);
                // What it held can no longer be released through it.
                self.portal.eis_release(&self.offer);
                Ok(())
            }
            EisRequest::DeviceStartEmulating(_) => {
                if made.emulating {
                    return Err(EisEnd::Protocol(
                        "start_emulating on a device already emulating".into(),
                    ));
                }
                made.emulating = true;
                Ok(())
            }
            EisRequest::DeviceStopEmulating(_) => {
                if !made.emulating {
                    return Err(EisEnd::Protocol(
                        "stop_emulating on a device not emulating".into(),
                    ));
                }
                made.emulating = false;
                Ok(())
            }
            _ => {
                if !made.emulating {
                    return Err(EisEnd::Protocol(
                        "input outside start_emulating/stop_emulating".into(),
                    ));
                }
                self.input(id, &request)
            }
        }
    }

    /// One input request: translated, then the Notify* path.
    fn input(&mut self, device: u64, request: &EisRequest) -> Result<(), EisEnd> {
        let calls = self
            .translator
            .translate(device, request, &self.offer)
            .map_err(|e| EisEnd::Value(e.to_string()))?;
        for call in calls {
            match self.portal.eis_input(&self.offer, call) {
                Ok(()) => self.injected += 1,
                Err(EisRefused::Input(
                    InputError::RateLimited { .. } | InputError::OffLayout { .. },
                )) => {
                    // Dropped, as a Notify* call would be (the portal
                    // logged it): the limiter never drops releases, so
                    // nothing stays stuck; a position that was on an output
                    // a moment ago races with a layout change, new regions
                    // are on their way.
                    self.limited += 1;
                }
                Err(EisRefused::Input(e)) => {
                    return Err(EisEnd::Value(format!("{call:?}: {e}")));
                }
                Err(EisRefused::SessionGone) => return Err(EisEnd::SessionEnded),
            }
        }
        Ok(())
    }

    /// The client bound these capabilities: its devices are made anew for
    /// them (the usual client binds once).
    fn bind(&mut self, caps: BitFlags<DeviceCapability>) -> Result<(), EisEnd> {
        let Phase::Connected(Connected {
            seat: Some(seat), ..
        }) = &self.phase
        else {
            return Ok(());
        };
        let seat = seat.clone();
        if !self.devices.is_empty() {
            for (_, made) in self.devices.drain() {
                made.device.remove();
            }
            self.translator = Translator::new();
            self.portal.eis_release(&self.offer);
        }
        tracing::info!(capabilities = ?caps, "EIS client bound capabilities");
        let pointing = caps & (DeviceCapability::Button | DeviceCapability::Scroll);
        let mut kinds: Vec<(&'static str, BitFlags<DeviceCapability>)> = Vec::new();
        if caps.contains(DeviceCapability::Pointer) {
            kinds.push(("ionchannel pointer", pointing | DeviceCapability::Pointer));
        }
        if caps.contains(DeviceCapability::PointerAbsolute) {
            kinds.push((
                "ionchannel absolute pointer",
                pointing | DeviceCapability::PointerAbsolute,
            ));
        }
        if !pointing.is_empty()
            && !caps.intersects(DeviceCapability::Pointer | DeviceCapability::PointerAbsolute)
        {
            kinds.push(("ionchannel buttons", pointing));
        }
        if caps.contains(DeviceCapability::Keyboard) {
            kinds.push(("ionchannel keyboard", DeviceCapability::Keyboard.into()));
        }
        if caps.contains(DeviceCapability::Touch) {
            kinds.push(("ionchannel touchscreen", DeviceCapability::Touch.into()));
        }
        for (name, device_caps) in kinds {
            self.make_device(&seat, name, device_caps);
        }
        Ok(())
    }

    fn make_device(&mut self, seat: &Seat, name: &'static str, caps: BitFlags<DeviceCapability>) {
        let device = self.add_device(seat, name, caps);
        // Resumed at once: the session was granted these devices.
        device.resumed();
        let id = id_of(&device);
        self.given.insert(id);
        for object in interface_ids(&device) {
            self.given.insert(object);
        }
        self.devices.insert(
            id,
            Made {
                device,
                name,
                caps,
                emulating: false,
            },
        );
    }

    fn add_device(&mut self, seat: &Seat, name: &str, caps: BitFlags<DeviceCapability>) -> Device {
        let keymap = if caps.contains(DeviceCapability::Keyboard) {
            match self.keymap.as_deref().map(keymap_fd).transpose() {
                Ok(k) => k,
                Err(e) => {
                    tracing::warn!("EIS keyboard without a keymap: {e}");
                    None
                }
            }
        } else {
            None
        };
        let regions = if caps.intersects(ABSOLUTE) {
            self.offer.regions.clone()
        } else {
            Vec::new()
        };
        let device = seat.add_device(Some(name), DeviceType::Virtual, caps, |device| {
            // Regions and the keymap must come before ei_device.done.
            let with_ids = device.device().version() >= 2;
            for r in regions.iter().filter(|r| r.describable()) {
                if let (true, Some(id)) = (with_ids, &r.mapping_id) {
                    device.device().region_mapping_id(id);
                }
                device.device().region(
                    r.x.unsigned_abs(),
                    r.y.unsigned_abs(),
                    r.width.unsigned_abs(),
                    r.height.unsigned_abs(),
                    r.scale,
                );
            }
            if let (Some(k), Some(kb)) = (&keymap, device.interface::<eis::Keyboard>()) {
                kb.keymap(eis::keyboard::KeymapType::Xkb, k.size, k.fd.as_fd());
            }
        });
        device
    }

    /// Tells the client why it ends (when it is still there) and closes.
    fn finish(&mut self, end: &EisEnd) {
        if let (Phase::Connected(c), Some((reason, why))) = (&self.phase, end.reason()) {
            c.converter.handle().disconnected(reason, why.as_deref());
        }
        // Telling the client removed the seat and its devices.
        self.devices.clear();
        self.phase = Phase::Done;
        tracing::debug!(
            injected = self.injected,
            rate_limited = self.limited,
            "EIS connection closing"
        );
    }
}

/// The next set of regions, or None once nobody sends any more (never
/// resolves when there is no sender to listen to).
async fn regions_changed(
    regions: &mut Option<watch::Receiver<Vec<EisRegion>>>,
) -> Option<Vec<EisRegion>> {
    match regions {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

/// The object ids of a device's interfaces.
fn interface_ids(device: &Device) -> Vec<u64> {
    let mut ids = Vec::new();
    if let Some(i) = device.interface::<eis::Pointer>() {
        ids.push(i.as_object().id());
    }
    if let Some(i) = device.interface::<eis::PointerAbsolute>() {
        ids.push(i.as_object().id());
    }
    if let Some(i) = device.interface::<eis::Scroll>() {
        ids.push(i.as_object().id());
    }
    if let Some(i) = device.interface::<eis::Button>() {
        ids.push(i.as_object().id());
    }
    if let Some(i) = device.interface::<eis::Keyboard>() {
        ids.push(i.as_object().id());
    }
    if let Some(i) = device.interface::<eis::Touchscreen>() {
        ids.push(i.as_object().id());
    }
    ids
}
