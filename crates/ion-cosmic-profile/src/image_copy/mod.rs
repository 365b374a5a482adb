//! ext-image-copy-capture (with ext-image-capture-source: output and
//! foreign-toplevel sources), implemented here because smithay 0.7 has
//! none; cosmic-comp implements the same protocol on newer smithay.
//!
//! shm only: sessions offer Xbgr8888, Abgr8888 (cosmic-comp's preference),
//! Xrgb8888 and Argb8888 at the source's buffer size, and no dmabuf
//! device (no GPU here; cosmic-comp also offers dmabuf). Output frames are
//! rendered in buffer orientation — the picture as scanout would show it —
//! and carry the output's transform, as cosmic-comp's do. Toplevel frames
//! show just that window's surface tree. Pointer cursor sessions exist but
//! the seat's pointer never enters anything here, so they report no cursor
//! (no `enter`) and their frames are fully transparent.
//!
//! A frame's capture waits for the source to change (checked every frame
//! tick) unless it is the session's first, as the protocol allows and
//! cosmic-comp does; damage is what changed since the session's previous
//! frame, from smithay's damage tracker.

mod frame;
mod render;
mod session;

use smithay::output::{Output, WeakOutput};
use smithay::reexports::wayland_protocols::ext::image_capture_source::v1::server::{
    ext_foreign_toplevel_image_capture_source_manager_v1::{
        self, ExtForeignToplevelImageCaptureSourceManagerV1,
    },
    ext_image_capture_source_v1::{self, ExtImageCaptureSourceV1},
    ext_output_image_capture_source_manager_v1::{self, ExtOutputImageCaptureSourceManagerV1},
};
use smithay::reexports::wayland_protocols::ext::image_copy_capture::v1::server::ext_image_copy_capture_manager_v1::{
    self, ExtImageCopyCaptureManagerV1,
};
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, WEnum,
};
use smithay::wayland::foreign_toplevel_list::ForeignToplevelHandle;

pub use session::Session;

use crate::state::State;

/// What a capture source shows.
#[derive(Debug, Clone)]
pub enum CaptureSource {
    Output(WeakOutput),
    /// A window, by its ext-foreign-toplevel identifier (None: the handle
    /// was already closed when the source was made).
    Toplevel(Option<String>),
}

#[derive(Default)]
pub struct ImageCopyState {
    pub(crate) sessions: Vec<Session>,
    next_id: u64,
}

impl ImageCopyState {
    pub fn new(dh: &DisplayHandle) -> Self {
        dh.create_global::<State, ExtImageCopyCaptureManagerV1, _>(1, ());
        dh.create_global::<State, ExtOutputImageCaptureSourceManagerV1, _>(1, ());
        dh.create_global::<State, ExtForeignToplevelImageCaptureSourceManagerV1, _>(1, ());
        Self::default()
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The output was disabled or removed: its sessions stop.
    pub fn output_gone(&mut self, output: &Output) {
        for s in &mut self.sessions {
            if s.is_of_output(output) {
                s.stop();
            }
        }
    }

    /// The output's mode, transform or scale changed: its sessions get new
    /// constraints.
    pub fn output_changed(&mut self, output: &Output) {
        for s in &mut self.sessions {
            if s.is_of_output(output) {
                s.source_changed();
            }
        }
    }

    /// The window closed: its sessions stop.
    pub fn toplevel_gone(&mut self, identifier: &str) {
        for s in &mut self.sessions {
            if s.is_of_toplevel(identifier) {
                s.stop();
            }
        }
    }
}

macro_rules! simple_global {
    ($iface:ty) => {
        impl GlobalDispatch<$iface, ()> for State {
            fn bind(
                _state: &mut Self,
                _dh: &DisplayHandle,
                _client: &Client,
                resource: New<$iface>,
                _global_data: &(),
                data_init: &mut DataInit<'_, Self>,
            ) {
                data_init.init(resource, ());
            }
        }
    };
}

simple_global!(ExtImageCopyCaptureManagerV1);
simple_global!(ExtOutputImageCaptureSourceManagerV1);
simple_global!(ExtForeignToplevelImageCaptureSourceManagerV1);

impl Dispatch<ExtOutputImageCaptureSourceManagerV1, ()> for State {
    fn request(
        _state: &mut Self,
        _client: &Client,
        _resource: &ExtOutputImageCaptureSourceManagerV1,
        request: ext_output_image_capture_source_manager_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        if let ext_output_image_capture_source_manager_v1::Request::CreateSource {
            source,
            output,
        } = request
        {
            // An output whose global is gone still makes a source; its
            // sessions stop at once.
            let weak = Output::from_resource(&output)
                .map(|o| o.downgrade())
                .unwrap_or_default();
            data_init.init(source, CaptureSource::Output(weak));
        }
    }
}

impl Dispatch<ExtForeignToplevelImageCaptureSourceManagerV1, ()> for State {
    fn request(
        _state: &mut Self,
        _client: &Client,
        _resource: &ExtForeignToplevelImageCaptureSourceManagerV1,
        request: ext_foreign_toplevel_image_capture_source_manager_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        if let ext_foreign_toplevel_image_capture_source_manager_v1::Request::CreateSource {
            source,
            toplevel_handle,
        } = request
        {
            let identifier = ForeignToplevelHandle::from_resource(&toplevel_handle)
                .filter(|h| !h.is_closed())
                .map(|h| h.identifier());
            data_init.init(source, CaptureSource::Toplevel(identifier));
        }
    }
}

impl Dispatch<ExtImageCaptureSourceV1, CaptureSource> for State {
    fn request(
        _state: &mut Self,
        _client: &Client,
        _resource: &ExtImageCaptureSourceV1,
        _request: ext_image_capture_source_v1::Request,
        _data: &CaptureSource,
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, Self>,
    ) {
        // `destroy` only; sessions made from it keep their own copy.
    }
}

impl Dispatch<ExtImageCopyCaptureManagerV1, ()> for State {
    fn request(
        state: &mut Self,
        _client: &Client,
        resource: &ExtImageCopyCaptureManagerV1,
        request: ext_image_copy_capture_manager_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        use ext_image_copy_capture_manager_v1::{Error, Options, Request};
        match request {
            Request::CreateSession {
                session,
                source,
                options,
            } => {
                let paint_cursors = match options {
                    WEnum::Value(o) => o.contains(Options::PaintCursors),
                    WEnum::Unknown(v) => {
                        resource.post_error(Error::InvalidOption, format!("options {v:#x}"));
                        return;
                    }
                };
                let Some(source) = source.data::<CaptureSource>().cloned() else {
                    return;
                };
                let id = state.image_copy.next_id();
                let resource = data_init.init(session, session::SessionData { id });
                tracing::info!(id, ?source, paint_cursors, "capture session created");
                state.add_session(Session::new(id, resource, source, false));
            }
            Request::CreatePointerCursorSession {
                session,
                source,
                pointer: _,
            } => {
                let Some(source) = source.data::<CaptureSource>().cloned() else {
                    return;
                };
                data_init.init(
                    session,
                    session::CursorSessionData {
                        source,
                        has_session: std::sync::atomic::AtomicBool::new(false),
                    },
                );
            }
            Request::Destroy => {}
            _ => {}
        }
    }
}

impl State {
    /// Adds a session, sends its constraints (or stops it if its source
    /// is gone).
    pub(crate) fn add_session(&mut self, mut session: Session) {
        session.send_constraints(self);
        self.image_copy.sessions.push(session);
    }
}

use smithay::reexports::wayland_server::Resource as _;
