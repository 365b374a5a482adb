//! Capture frames: a buffer attached, `capture`, and — when the source has
//! something new — the copy, with transform, damage, presentation time and
//! `ready`; or `failed` with the reason.

use std::sync::Mutex;

use smithay::reexports::wayland_protocols::ext::image_copy_capture::v1::server::ext_image_copy_capture_frame_v1::{
    self, ExtImageCopyCaptureFrameV1, FailureReason,
};
use smithay::reexports::wayland_server::protocol::{wl_buffer::WlBuffer, wl_shm};
use smithay::reexports::wayland_server::{Client, DataInit, Dispatch, DisplayHandle, Resource};
use smithay::utils::{Buffer, Rectangle};
use smithay::wayland::shm::with_buffer_contents;

use super::render::RenderOutcome;
use super::session::SHM_FORMATS;
use crate::output_management::wl_transform_of;
use crate::state::State;

pub struct FrameData {
    pub session_id: u64,
    inner: Mutex<FrameInner>,
}

#[derive(Default)]
struct FrameInner {
    buffer: Option<WlBuffer>,
    /// `capture` was sent.
    captured: bool,
    /// Captured and not answered yet.
    pending: bool,
}

impl FrameData {
    pub fn new(session_id: u64) -> Self {
        Self {
            session_id,
            inner: Mutex::new(FrameInner::default()),
        }
    }

    /// Ends the frame's wait (true if it was waiting): it gets its answer
    /// from the caller.
    pub fn take_pending(&self) -> bool {
        self.inner
            .lock()
            .map(|mut i| std::mem::replace(&mut i.pending, false))
            .unwrap_or(false)
    }

    fn pending_buffer(&self) -> Option<WlBuffer> {
        let inner = self.inner.lock().ok()?;
        inner.pending.then(|| inner.buffer.clone()).flatten()
    }
}

impl Dispatch<ExtImageCopyCaptureFrameV1, FrameData> for State {
    fn request(
        state: &mut Self,
        _client: &Client,
        resource: &ExtImageCopyCaptureFrameV1,
        request: ext_image_copy_capture_frame_v1::Request,
        data: &FrameData,
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, Self>,
    ) {
        use ext_image_copy_capture_frame_v1::{Error, Request};
        let Ok(mut inner) = data.inner.lock() else {
            return;
        };
        match request {
            Request::AttachBuffer { .. } | Request::DamageBuffer { .. } if inner.captured => {
                resource.post_error(
                    Error::AlreadyCaptured,
                    "attach_buffer or damage_buffer after capture",
                );
            }
            Request::AttachBuffer { buffer } => inner.buffer = Some(buffer),
            // Damage from the client says which parts of its buffer are
            // stale; every frame copies the whole picture, so only its
            // validity matters.
            Request::DamageBuffer {
                x,
                y,
                width,
                height,
            } if x < 0 || y < 0 || width <= 0 || height <= 0 => {
                resource.post_error(
                    Error::InvalidBufferDamage,
                    format!("damage {x},{y} {width}x{height}"),
                );
            }
            Request::DamageBuffer { .. } => {}
            Request::Capture => {
                if inner.captured {
                    resource.post_error(Error::AlreadyCaptured, "capture was sent before");
                    return;
                }
                if inner.buffer.is_none() {
                    resource.post_error(Error::NoBuffer, "capture without a buffer");
                    return;
                }
                inner.captured = true;
                inner.pending = true;
                drop(inner);
                state.process_captures();
            }
            _ => {}
        }
    }

    fn destroyed(
        state: &mut Self,
        _client: smithay::reexports::wayland_server::backend::ClientId,
        resource: &ExtImageCopyCaptureFrameV1,
        data: &FrameData,
    ) {
        if let Some(session) = state.session_mut(data.session_id) {
            if session.frame.as_ref() == Some(resource) {
                session.frame = None;
            }
        }
    }
}

/// Is the buffer one the session's constraints allow? Gives its format.
fn check_buffer(buffer: &WlBuffer, size: (i32, i32)) -> Option<wl_shm::Format> {
    with_buffer_contents(buffer, |_, len, data| {
        let fits = data.width == size.0
            && data.height == size.1
            && data.stride >= data.width * 4
            && data.offset >= 0
            && (data.offset as usize)
                .checked_add(data.stride as usize * data.height as usize)
                .is_some_and(|end| end <= len);
        (fits && SHM_FORMATS.contains(&data.format)).then_some(data.format)
    })
    .ok()
    .flatten()
}

impl State {
    /// Sends constraints where they are outdated, and completes every
    /// captured frame whose source has something new (or that is its
    /// session's first). Runs after each `capture` and on every frame tick.
    pub fn process_captures(&mut self) {
        let mut sessions = std::mem::take(&mut self.image_copy.sessions);
        for session in &mut sessions {
            if !session.resource.is_alive() {
                continue;
            }
            // A window's size is its capture size: watch it.
            if !session.stopped && !session.constraints_outdated {
                let now = self
                    .source_geometry(&session.source, session.cursor)
                    .map(|g| g.size);
                if now != session.size {
                    session.constraints_outdated = true;
                }
            }
            if session.constraints_outdated {
                session.send_constraints(self);
            }
            let Some(frame) = session.frame.clone() else {
                continue;
            };
            let Some(data) = frame.data::<FrameData>() else {
                continue;
            };
            let Some(buffer) = data.pending_buffer() else {
                continue;
            };
            if session.stopped {
                data.take_pending();
                frame.failed(FailureReason::Stopped);
                continue;
            }
            let (Some(size), Some(geometry)) = (
                session.size,
                self.source_geometry(&session.source, session.cursor),
            ) else {
                continue;
            };
            let Some(format) = check_buffer(&buffer, (size.w, size.h)) else {
                tracing::info!(
                    id = session.id,
                    "capture frame: buffer does not fit the constraints"
                );
                data.take_pending();
                frame.failed(FailureReason::BufferConstraints);
                continue;
            };
            match self.render_session(session, format, &buffer) {
                Ok(RenderOutcome::Unchanged) => {}
                Ok(RenderOutcome::Copied(damage)) => {
                    data.take_pending();
                    let full = [Rectangle::<i32, Buffer>::from_size(size)];
                    let damage: &[Rectangle<i32, Buffer>] = if session.captured_once {
                        &damage
                    } else {
                        &full
                    };
                    session.captured_once = true;
                    frame.transform(wl_transform_of(geometry.transform));
                    for d in damage {
                        frame.damage(d.loc.x, d.loc.y, d.size.w, d.size.h);
                    }
                    let now = self.now();
                    let secs = now.as_secs();
                    frame.presentation_time((secs >> 32) as u32, secs as u32, now.subsec_nanos());
                    frame.ready();
                }
                Err(e) => {
                    tracing::warn!(id = session.id, "capture failed: {e}");
                    data.take_pending();
                    frame.failed(FailureReason::Unknown);
                }
            }
        }
        sessions.retain(|s| s.resource.is_alive());
        // Sessions made while we worked (none: nothing dispatches here)
        // would be in the state's list; keep both.
        sessions.append(&mut self.image_copy.sessions);
        self.image_copy.sessions = sessions;
    }
}
