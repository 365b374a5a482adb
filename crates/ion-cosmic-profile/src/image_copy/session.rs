//! Capture sessions: their buffer constraints, stopping, and the cursor
//! session that makes one.

use std::sync::atomic::{AtomicBool, Ordering};

use smithay::output::Output;
use smithay::reexports::wayland_protocols::ext::image_copy_capture::v1::server::{
    ext_image_copy_capture_cursor_session_v1::{self, ExtImageCopyCaptureCursorSessionV1},
    ext_image_copy_capture_frame_v1::{ExtImageCopyCaptureFrameV1, FailureReason},
    ext_image_copy_capture_session_v1::{self, ExtImageCopyCaptureSessionV1},
};
use smithay::reexports::wayland_server::protocol::wl_shm;
use smithay::reexports::wayland_server::{Client, DataInit, Dispatch, DisplayHandle, Resource};
use smithay::utils::{Buffer, Size, Transform};

use super::frame::FrameData;
use super::render::Target;
use super::CaptureSource;
use crate::state::State;

/// The formats sessions offer, cosmic-comp's preferred ones first.
pub const SHM_FORMATS: [wl_shm::Format; 4] = [
    wl_shm::Format::Xbgr8888,
    wl_shm::Format::Abgr8888,
    wl_shm::Format::Xrgb8888,
    wl_shm::Format::Argb8888,
];

/// The size of a cursor session's buffers. There is never a cursor image
/// here, so any size is honest; 64x64 holds a common cursor at scale 2.
pub const CURSOR_SIZE: i32 = 64;

pub struct SessionData {
    pub id: u64,
}

pub struct CursorSessionData {
    pub source: CaptureSource,
    pub has_session: AtomicBool,
}

pub struct Session {
    pub id: u64,
    pub resource: ExtImageCopyCaptureSessionV1,
    pub source: CaptureSource,
    /// A pointer cursor session's capture session.
    pub cursor: bool,
    pub stopped: bool,
    /// The buffer size last announced; None before the first constraints.
    pub size: Option<Size<i32, Buffer>>,
    /// The source changed: constraints are sent again at the next chance.
    pub constraints_outdated: bool,
    /// The frame object of this session (at most one at a time).
    pub frame: Option<ExtImageCopyCaptureFrameV1>,
    /// Where the source is rendered, kept between frames for damage.
    pub target: Option<Target>,
    /// A frame was made ready already (later ones wait for damage).
    pub captured_once: bool,
}

/// What a source looks like now: buffer size and the transform frames
/// carry.
pub struct SourceGeometry {
    pub size: Size<i32, Buffer>,
    pub transform: Transform,
}

impl Session {
    pub fn new(
        id: u64,
        resource: ExtImageCopyCaptureSessionV1,
        source: CaptureSource,
        cursor: bool,
    ) -> Self {
        Self {
            id,
            resource,
            source,
            cursor,
            stopped: false,
            size: None,
            constraints_outdated: false,
            frame: None,
            target: None,
            captured_once: false,
        }
    }

    pub fn is_of_output(&self, output: &Output) -> bool {
        matches!(&self.source, CaptureSource::Output(w) if w.upgrade().as_ref() == Some(output))
    }

    pub fn is_of_toplevel(&self, identifier: &str) -> bool {
        matches!(&self.source, CaptureSource::Toplevel(Some(id)) if id == identifier)
    }

    /// The source is gone: `stopped`, and a frame waiting for it fails.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        tracing::info!(id = self.id, "capture session stopped: its source is gone");
        self.fail_frame(FailureReason::Stopped);
        self.resource.stopped();
    }

    pub fn source_changed(&mut self) {
        self.constraints_outdated = true;
    }

    /// Fails the session's captured frame, if one waits.
    pub fn fail_frame(&mut self, reason: FailureReason) {
        if let Some(frame) = &self.frame {
            if let Some(data) = frame.data::<FrameData>() {
                if data.take_pending() {
                    tracing::debug!(id = self.id, ?reason, "capture frame failed");
                    frame.failed(reason);
                }
            }
        }
    }

    /// Sends the source's buffer constraints (or stops the session if the
    /// source is gone).
    pub fn send_constraints(&mut self, state: &State) {
        self.constraints_outdated = false;
        if self.stopped {
            return;
        }
        let Some(geometry) = state.source_geometry(&self.source, self.cursor) else {
            self.stop();
            return;
        };
        if self.size.is_some() && self.size != Some(geometry.size) {
            // A frame waiting with a buffer of the old size cannot be
            // filled.
            self.fail_frame(FailureReason::BufferConstraints);
        }
        self.size = Some(geometry.size);
        self.target = None;
        self.resource
            .buffer_size(geometry.size.w as u32, geometry.size.h as u32);
        for format in SHM_FORMATS {
            self.resource.shm_format(format);
        }
        self.resource.done();
        tracing::debug!(
            id = self.id,
            "capture constraints: {}x{}",
            geometry.size.w,
            geometry.size.h
        );
    }
}

impl State {
    /// The buffer size and transform of a source, or None if it is gone.
    pub fn source_geometry(&self, source: &CaptureSource, cursor: bool) -> Option<SourceGeometry> {
        let geometry = match source {
            CaptureSource::Output(weak) => {
                let output = weak.upgrade()?;
                if !self.space.outputs().any(|o| *o == output) {
                    return None;
                }
                // Buffer orientation: the mode as scanout has it.
                let mode = output.current_mode()?;
                SourceGeometry {
                    size: (mode.size.w, mode.size.h).into(),
                    transform: output.current_transform(),
                }
            }
            CaptureSource::Toplevel(identifier) => {
                let mapped = self.toplevels.by_identifier(identifier.as_deref()?)?;
                let scale = self.toplevel_scale(&mapped.window);
                let size: Size<i32, smithay::utils::Physical> = mapped
                    .window
                    .geometry()
                    .size
                    .to_f64()
                    .to_physical_precise_round(scale);
                SourceGeometry {
                    size: (size.w.max(1), size.h.max(1)).into(),
                    transform: Transform::Normal,
                }
            }
        };
        if cursor {
            return Some(SourceGeometry {
                size: (CURSOR_SIZE, CURSOR_SIZE).into(),
                transform: Transform::Normal,
            });
        }
        Some(geometry)
    }

    /// The scale a window is captured at: its output's.
    pub fn toplevel_scale(&self, window: &smithay::desktop::Window) -> f64 {
        self.space
            .outputs_for_element(window)
            .first()
            .or_else(|| self.space.outputs().next())
            .map(|o| o.current_scale().fractional_scale())
            .unwrap_or(1.0)
    }

    pub(crate) fn session_mut(&mut self, id: u64) -> Option<&mut Session> {
        self.image_copy.sessions.iter_mut().find(|s| s.id == id)
    }
}

impl Dispatch<ExtImageCopyCaptureSessionV1, SessionData> for State {
    fn request(
        state: &mut Self,
        _client: &Client,
        resource: &ExtImageCopyCaptureSessionV1,
        request: ext_image_copy_capture_session_v1::Request,
        data: &SessionData,
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        use ext_image_copy_capture_session_v1::{Error, Request};
        if let Request::CreateFrame { frame } = request {
            let frame = data_init.init(frame, FrameData::new(data.id));
            let Some(session) = state.session_mut(data.id) else {
                return;
            };
            if session.frame.as_ref().is_some_and(|f| f.is_alive()) {
                resource.post_error(
                    Error::DuplicateFrame,
                    "a frame of this session exists already",
                );
                return;
            }
            session.frame = Some(frame);
        }
    }

    fn destroyed(
        state: &mut Self,
        _client: smithay::reexports::wayland_server::backend::ClientId,
        _resource: &ExtImageCopyCaptureSessionV1,
        data: &SessionData,
    ) {
        state.image_copy.sessions.retain(|s| s.id != data.id);
        tracing::debug!(id = data.id, "capture session destroyed");
    }
}

impl Dispatch<ExtImageCopyCaptureCursorSessionV1, CursorSessionData> for State {
    fn request(
        state: &mut Self,
        _client: &Client,
        resource: &ExtImageCopyCaptureCursorSessionV1,
        request: ext_image_copy_capture_cursor_session_v1::Request,
        data: &CursorSessionData,
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        use ext_image_copy_capture_cursor_session_v1::{Error, Request};
        if let Request::GetCaptureSession { session } = request {
            if data.has_session.swap(true, Ordering::SeqCst) {
                resource.post_error(
                    Error::DuplicateSession,
                    "get_capture_session was sent before",
                );
                return;
            }
            let id = state.image_copy.next_id();
            let session = data_init.init(session, SessionData { id });
            // The pointer never enters any source here (no input devices):
            // no `enter`, `position` or `hotspot`, ever.
            tracing::info!(id, source = ?data.source, "cursor capture session created");
            state.add_session(Session::new(id, session, data.source.clone(), true));
        }
    }
}
