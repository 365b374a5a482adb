//! The Wayland thread's state: globals, seat, outputs, managers and the
//! sessions' devices. Only the Wayland thread touches it.

use std::collections::HashMap;

use ion_core::layout::LayoutBox;
use ion_core::{DeviceType, DeviceTypes, Rect};
use tokio::sync::mpsc::UnboundedSender;
use wayland_client::globals::GlobalListContents;
use wayland_client::protocol::wl_output::WlOutput;
use wayland_client::protocol::wl_registry::{self, WlRegistry};
use wayland_client::protocol::wl_seat::{self, WlSeat};
use wayland_client::{delegate_noop, Connection, Dispatch, Proxy, QueueHandle};
use wayland_protocols::xdg::xdg_output::zv1::client::zxdg_output_manager_v1::ZxdgOutputManagerV1;
use wayland_protocols_misc::zwp_virtual_keyboard_v1::client::zwp_virtual_keyboard_manager_v1::ZwpVirtualKeyboardManagerV1;
use wayland_protocols_misc::zwp_virtual_keyboard_v1::client::zwp_virtual_keyboard_v1::ZwpVirtualKeyboardV1;
use wayland_protocols_wlr::virtual_pointer::v1::client::zwlr_virtual_pointer_manager_v1::ZwlrVirtualPointerManagerV1;
use wayland_protocols_wlr::virtual_pointer::v1::client::zwlr_virtual_pointer_v1::ZwlrVirtualPointerV1;

use crate::clock::now_ms;
use crate::command::{Command, Event, GlobalInfo, OutputInfo, SessionId, Snapshot};
use crate::devices::SessionDevices;
use crate::input::uinput::UinputPointer;
use crate::input::virtual_keyboard::VirtualKeyboard;
use crate::input::virtual_pointer::VirtualPointer;
use crate::input::{PointerBackend, PointerChoice, PointerPath};
use crate::keymap::{Keymap, KeymapNames};
use crate::outputs::TrackedOutput;

/// How often a stream that should be capturing is re-triggered (every
/// [`NUDGE_INTERVAL`]) before we give up waiting for its first `process`.
const NUDGES: u32 = 20;
const NUDGE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(25);

pub struct State {
    pub qh: QueueHandle<State>,
    pub registry: WlRegistry,
    pub globals: Vec<(u32, GlobalInfo)>,
    pub seat: Option<WlSeat>,
    pub seat_name: Option<String>,
    /// Our wl_pointer, once the seat has one: cursor sessions follow it.
    pub pointer: Option<wayland_client::protocol::wl_pointer::WlPointer>,
    pub xdg_output_manager: Option<ZxdgOutputManagerV1>,
    pub pointer_manager: Option<ZwlrVirtualPointerManagerV1>,
    /// Which pointer path to use ([`crate::input::POINTER_VAR`]).
    pub pointer_choice: PointerChoice,
    /// Whether uinput devices can be made here, or why not (checked once
    /// at connect).
    pub uinput: Result<(), String>,
    pub keyboard_manager: Option<ZwpVirtualKeyboardManagerV1>,
    pub outputs: Vec<TrackedOutput>,
    pub outputs_dirty: bool,
    pub sessions: HashMap<SessionId, SessionDevices>,
    pub events: UnboundedSender<Event>,
    pub keymap_names: KeymapNames,
    pub casts: crate::screencast::ScreenCasts,
    pub shm: Option<wayland_client::protocol::wl_shm::WlShm>,
    pub screencopy: Option<wayland_protocols_wlr::screencopy::v1::client::zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1>,
    /// ext-image-copy-capture, preferred over `screencopy` when offered.
    pub image_copy: Option<crate::image_copy::ImageCopy>,
    /// linux-dmabuf and GBM on the compositor's device, for dmabuf capture.
    pub dmabuf: Option<crate::dmabuf::Dmabuf>,
    /// The toplevel list and toplevel capture sources (window sources).
    pub window_capture: Option<crate::toplevels::WindowCapture>,
    pub toplevels: crate::toplevels::Toplevels,
    /// The seat's data-control device and our sessions' selections (None:
    /// no data-control protocol, or no seat).
    pub clipboard: Option<crate::clipboard::Clipboard>,
    /// What the media loop must do later (frame-rate cap, retries,
    /// cursor updates).
    pub timers: crate::timers::Timers,
    /// Set when the thread must leave its loop.
    pub exit: bool,
    /// PipeWire's loop descriptor after a reconnection, for the media loop
    /// to watch instead of the old one.
    pub new_pipewire_fd: Option<std::os::fd::OwnedFd>,
}

impl State {
    pub fn bind_output(&mut self, name: u32, version: u32) {
        let wl: WlOutput = self.registry.bind(name, version.min(4), &self.qh, name);
        let xdg = self
            .xdg_output_manager
            .as_ref()
            .map(|m| m.get_xdg_output(&wl, &self.qh, name));
        let xdg_version = self.xdg_output_manager.as_ref().map_or(0, |m| m.version());
        self.outputs
            .push(TrackedOutput::new(name, wl, xdg, xdg_version));
    }

    pub fn output_infos(&self) -> Vec<OutputInfo> {
        let mut v: Vec<OutputInfo> = self.outputs.iter().filter_map(|o| o.info.clone()).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn layout(&self) -> Option<LayoutBox> {
        let rects: Vec<Rect> = self
            .outputs
            .iter()
            .filter_map(|o| o.info.as_ref().map(|i| i.logical.into()))
            .collect();
        LayoutBox::from_outputs(&rects)
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            globals: self.globals.iter().map(|(_, g)| g.clone()).collect(),
            outputs: self.output_infos(),
            seat: self
                .seat_name
                .clone()
                .or_else(|| self.seat.as_ref().map(|_| "seat".into())),
            keymap_layout: if self.keymap_names.layout.is_empty() {
                "us (default)".into()
            } else {
                self.keymap_names.layout.clone()
            },
            pipewire: self.casts.pipewire.is_some(),
            windows: self.toplevels.windows(),
            window_capture: self.image_copy.is_some() && self.window_capture.is_some(),
            cursor_metadata: self.image_copy.is_some() && self.seat.is_some(),
            data_control: self
                .clipboard
                .as_ref()
                .and_then(|c| c.interface())
                .map(str::to_owned),
            pointer_path: self.pointer_path().map(|p| p.name().to_owned()),
            touch: self.seat.is_some() && self.pointer_choice.pick_touch(self.uinput.is_ok()),
            uinput_unusable: self.uinput.clone().err(),
            dmabuf: match self.dmabuf_for_streams() {
                Some(_) => Ok(self.dmabuf_text()),
                None => Err(self.dmabuf_text()),
            },
        }
    }

    /// The path a session's pointer takes here, if any.
    fn pointer_path(&self) -> Option<PointerPath> {
        let virtual_pointer = self.seat.is_some() && self.pointer_manager.is_some();
        let uinput = self.seat.is_some() && self.uinput.is_ok();
        self.pointer_choice.pick(virtual_pointer, uinput)
    }

    /// Runs PipeWire's callbacks; reports failed sessions and a lost daemon.
    pub fn dispatch_pipewire(&mut self) {
        self.dispatch_pipewire_with(true);
    }

    /// Acts on what PipeWire's callbacks queued during our own calls into
    /// it, without polling its loop: after `trigger_process`, which calls
    /// a (non-RT) stream's `process` at once. What arrives on PipeWire's
    /// socket later wakes the media loop as usual. (Saves a loop iteration,
    /// an `epoll_wait` that found nothing, per frame.)
    pub fn dispatch_pipewire_queued(&mut self) {
        self.dispatch_pipewire_with(false);
    }

    fn dispatch_pipewire_with(&mut self, mut iterate: bool) {
        // Streams that asked for a `process` while their events were
        // handled are triggered after them, and what that made ready is
        // handled in another round (bounded: a kick is only asked for by
        // buffers arriving or streaming starting, once per negotiation).
        for _ in 0..4 {
            let (failed, gone, events) = self.casts.dispatch(iterate);
            iterate = true;
            for ev in events {
                self.on_stream_event(ev);
            }
            for session in failed {
                self.casts.destroy(session);
                let _ = self.events.send(Event::StreamsFailed { session });
            }
            if let Some(reason) = gone {
                tracing::warn!("PipeWire is gone: {reason}");
                self.casts = crate::screencast::ScreenCasts::new(None);
                let _ = self.events.send(Event::PipeWireGone { reason });
                return;
            }
            let kicks = std::mem::take(&mut self.casts.kicks);
            if kicks.is_empty() {
                return;
            }
            for key in kicks {
                self.nudge(key, NUDGES);
            }
        }
    }

    /// PipeWire went away earlier (or was not there at start): connects
    /// again, so that a PipeWire restarted by its service manager serves
    /// new sessions without a restart of the daemon. Tried when a session
    /// asks for streams, so a PipeWire that stays away costs nothing.
    fn reconnect_pipewire(&mut self) {
        match ion_pipewire::PipeWire::connect().and_then(|pw| pw.poll_fd().map(|fd| (pw, fd))) {
            Ok((pw, fd)) => {
                tracing::info!("connected to PipeWire again");
                self.casts = crate::screencast::ScreenCasts::new(Some(pw));
                self.new_pipewire_fd = Some(fd);
            }
            Err(e) => tracing::warn!("ScreenCast unavailable: PipeWire: {e}"),
        }
    }

    /// Triggers a stream that can capture but is not, and again a little
    /// later while it still is not: after a (re)negotiation PipeWire drops
    /// a trigger that comes before the graph has the new buffers, and no
    /// other event would start the stream again.
    pub fn nudge(&mut self, key: ion_pipewire::StreamKey, attempts: u32) {
        let Some(s) = self.casts.streams.get(&key) else {
            return;
        };
        if !s.streaming || s.capture.is_some() || s.format.is_none() || s.buffers.is_empty() {
            tracing::trace!(
                stream = key,
                s.streaming,
                capturing = s.capture.is_some(),
                "no nudge needed"
            );
            return;
        }
        tracing::debug!(stream = key, attempts, "nudge");
        s.stream.trigger();
        if attempts == 0 {
            tracing::debug!(stream = key, "stream did not start after its negotiation");
            return;
        }
        self.timers.after(
            NUDGE_INTERVAL,
            crate::timers::Wake::Nudge {
                key,
                attempts: attempts - 1,
            },
        );
    }

    /// Does what a timer asked for, now that it is due.
    pub fn fire(&mut self, wake: crate::timers::Wake) {
        use crate::timers::Wake;
        match wake {
            Wake::Nudge { key, attempts } => {
                self.nudge(key, attempts);
                self.dispatch_pipewire();
            }
            Wake::Capture(key) => {
                if let Some(s) = self.casts.streams.get_mut(&key) {
                    s.capture_pending = false;
                }
                self.try_capture(key);
            }
            Wake::Cursor(key) => self.flush_cursor(key),
        }
    }

    /// Sends OutputsChanged if a `done` committed a change.
    pub fn flush_output_changes(&mut self) {
        if std::mem::take(&mut self.outputs_dirty) {
            let _ = self.events.send(Event::OutputsChanged(self.output_infos()));
        }
    }

    pub fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::CreateDevices {
                session,
                devices,
                reply,
            } => {
                let result = self.create_devices(session, devices);
                let _ = reply.send(result);
            }
            Command::Input { session, event } => {
                let layout = self.layout();
                match self.sessions.get_mut(&session) {
                    Some(dev) => dev.apply(&event, layout, now_ms()),
                    None => tracing::debug!(session, "input for a session without devices dropped"),
                }
            }
            Command::ReleaseInput { session } => {
                let layout = self.layout();
                if let Some(dev) = self.sessions.get_mut(&session) {
                    dev.release_held(layout, now_ms());
                }
            }
            Command::Keymap { session, reply } => {
                let text = self.sessions.get(&session).and_then(|d| d.keymap_text());
                let _ = reply.send(text);
            }
            Command::DestroyDevices { session, reply } => {
                self.destroy_devices(session);
                if let Some(r) = reply {
                    let _ = r.send(());
                }
            }
            Command::CreateStreams {
                session,
                sources,
                cursor,
                reply,
            } => {
                if self.casts.pipewire.is_none() {
                    self.reconnect_pipewire();
                }
                let mut chosen = Vec::new();
                for source in &sources {
                    match self.cast_source(source) {
                        Ok(s) => chosen.push(s),
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            return;
                        }
                    }
                }
                let dmabuf = self.dmabuf_for_streams();
                // With ext-image-copy-capture the session's constraints
                // say the exact size and formats: Start waits for them.
                // wlr-screencopy's buffer offers say the same: a probe frame
                // asks for them (`open_screencopy_probe`).
                let await_constraints = self.image_copy.is_some() || self.screencopy.is_some();
                let keys =
                    self.casts
                        .create(session, chosen, cursor, dmabuf, await_constraints, reply);
                if self.image_copy.is_some() {
                    // Sessions open now: their constraints give a window
                    // stream its size, and a monitor's first frame is
                    // ready sooner.
                    for key in keys {
                        self.open_image_session(key);
                        self.open_cursor_session(key);
                    }
                } else {
                    for key in keys {
                        self.bind_stream_screencopy(key);
                        self.open_screencopy_probe(key);
                    }
                }
                // PipeWire sends what streams ask for when its loop turns;
                // turn it now rather than at its next wakeup.
                self.dispatch_pipewire();
            }
            Command::DestroyStreams { session } => {
                self.casts.destroy(session);
                self.dispatch_pipewire();
            }
            Command::Snapshot { reply } => {
                let _ = reply.send(self.snapshot());
            }
            Command::SetSelection {
                session,
                mime_types,
            } => self.set_selection(session, mime_types),
            Command::ClearSelection { session } => self.clear_selection(session),
            Command::ReadSelection {
                mime_type,
                fd,
                reply,
            } => {
                let result = self.read_selection(mime_type, fd);
                let _ = reply.send(result);
            }
            Command::Shutdown => {
                let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
                for id in ids {
                    self.destroy_devices(id);
                }
                self.casts.streams.clear();
                self.exit = true;
            }
        }
    }

    fn cast_source(
        &self,
        source: &crate::command::SourceRef,
    ) -> Result<crate::screencast::CastSource, String> {
        use crate::command::SourceRef;
        use crate::screencast::CastSource;
        match source {
            SourceRef::Output(name) => self
                .output_infos()
                .into_iter()
                .find(|o| &o.name == name)
                .map(CastSource::Output)
                .ok_or_else(|| format!("no output named {name}")),
            SourceRef::Window(identifier) => {
                if self.image_copy.is_none() || self.window_capture.is_none() {
                    return Err("this compositor cannot capture windows".into());
                }
                let handle = self
                    .toplevels
                    .handle_of(identifier)
                    .ok_or_else(|| format!("no window with identifier {identifier}"))?;
                let window = self
                    .toplevels
                    .windows()
                    .into_iter()
                    .find(|w| &w.identifier == identifier)
                    .ok_or_else(|| format!("no window with identifier {identifier}"))?;
                Ok(CastSource::Window {
                    window,
                    handle: handle.clone(),
                })
            }
        }
    }

    fn create_devices(
        &mut self,
        session: SessionId,
        wanted: DeviceTypes,
    ) -> Result<DeviceTypes, String> {
        if self.sessions.contains_key(&session) {
            return Err(format!("session {session} already has devices"));
        }
        let seat = self
            .seat
            .as_ref()
            .ok_or("the compositor offers no wl_seat")?;
        let mut made = DeviceTypes::EMPTY;
        let touch = wanted.contains(DeviceType::Touchscreen)
            && self.pointer_choice.pick_touch(self.uinput.is_ok());
        // Touch comes with uinput's devices; a session that wants touch
        // gets its pointer there too (one seam, one set of devices).
        let path = if touch {
            Some(PointerPath::Uinput)
        } else if wanted.contains(DeviceType::Pointer) {
            self.pointer_path()
        } else {
            None
        };
        let pointer: Option<Box<dyn PointerBackend>> = match (path, &self.pointer_manager) {
            (Some(PointerPath::VirtualPointer), Some(m)) => {
                made.insert(DeviceType::Pointer);
                let obj: ZwlrVirtualPointerV1 = m.create_virtual_pointer(Some(seat), &self.qh, ());
                Some(Box::new(VirtualPointer::new(obj)))
            }
            (Some(PointerPath::Uinput), _) => match UinputPointer::create() {
                Ok(p) => {
                    if wanted.contains(DeviceType::Pointer) {
                        made.insert(DeviceType::Pointer);
                    }
                    if touch {
                        made.insert(DeviceType::Touchscreen);
                    }
                    Some(Box::new(p))
                }
                Err(e) => {
                    tracing::warn!(session, "uinput devices not made: {e}");
                    None
                }
            },
            _ => None,
        };
        let keyboard = match (
            &self.keyboard_manager,
            wanted.contains(DeviceType::Keyboard),
        ) {
            (Some(m), true) => {
                let keymap = Keymap::new(&self.keymap_names).map_err(|e| e.to_string())?;
                let obj: ZwpVirtualKeyboardV1 = m.create_virtual_keyboard(seat, &self.qh, ());
                let kb = VirtualKeyboard::new(obj, keymap).map_err(|e| e.to_string())?;
                made.insert(DeviceType::Keyboard);
                Some(kb)
            }
            _ => None,
        };
        tracing::info!(
            session,
            devices = %made,
            pointer = pointer.as_ref().map(|p| p.name()),
            "virtual devices created"
        );
        self.sessions
            .insert(session, SessionDevices::new(pointer, keyboard));
        Ok(made)
    }

    fn destroy_devices(&mut self, session: SessionId) {
        if let Some(dev) = self.sessions.remove(&session) {
            let layout = self.layout();
            dev.release_and_destroy(layout, now_ms());
            tracing::info!(session, "virtual devices destroyed");
        }
    }
}

impl Dispatch<WlRegistry, GlobalListContents> for State {
    fn event(
        state: &mut Self,
        _: &WlRegistry,
        event: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_registry::Event::Global {
                name,
                interface,
                version,
            } => {
                tracing::debug!(name, %interface, version, "global added");
                if interface == WlOutput::interface().name {
                    state.bind_output(name, version);
                }
                state
                    .globals
                    .push((name, GlobalInfo { interface, version }));
            }
            wl_registry::Event::GlobalRemove { name } => {
                state.globals.retain(|(n, _)| *n != name);
                if let Some(pos) = state.outputs.iter().position(|o| o.global == name) {
                    // Streams of this output end first: a capture must
                    // never name a released wl_output.
                    for session in state.casts.output_removed(name) {
                        let _ = state.events.send(Event::StreamsFailed { session });
                    }
                    state.dispatch_pipewire();
                    let out = state.outputs.remove(pos);
                    out.release();
                    state.outputs_dirty = true;
                }
            }
            _ => {}
        }
    }
}

impl Dispatch<WlSeat, ()> for State {
    fn event(
        state: &mut Self,
        _: &WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_seat::Event::Name { name } => state.seat_name = Some(name),
            // Asking for a pointer before the seat ever had one is a
            // protocol error: wait for the capability.
            wl_seat::Event::Capabilities {
                capabilities: wayland_client::WEnum::Value(caps),
            } if caps.contains(wl_seat::Capability::Pointer) && state.pointer.is_none() => {
                if let Some(seat) = state.seat.as_ref() {
                    state.pointer = Some(seat.get_pointer(&state.qh, ()));
                    state.pointer_appeared();
                }
            }
            _ => {}
        }
    }
}

delegate_noop!(State: ignore ZxdgOutputManagerV1);
delegate_noop!(State: ignore ZwlrVirtualPointerManagerV1);
delegate_noop!(State: ignore ZwlrVirtualPointerV1);
delegate_noop!(State: ignore ZwpVirtualKeyboardManagerV1);
delegate_noop!(State: ignore ZwpVirtualKeyboardV1);

wayland_client::delegate_noop!(State: ignore wayland_client::protocol::wl_shm::WlShm);
wayland_client::delegate_noop!(State: ignore wayland_protocols_wlr::screencopy::v1::client::zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1);
