//! Cursor mode metadata: the pointer's position, hotspot and image from an
//! ext-image-copy-capture cursor session, sent to the consumer as
//! SPA_META_Cursor — with every frame, and on a picture-less buffer when
//! only the pointer moved. The image is captured into a small buffer of
//! our own whenever the compositor says it changed (a cursor session's
//! frames wait for a new image) and goes out only when it changed.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use ion_core::transform::{turn_into, Plane, Transform};
use ion_pipewire::{CursorBitmap, CursorMeta, StreamKey};
use wayland_client::protocol::wl_pointer::WlPointer;
use wayland_client::{Connection, Dispatch, QueueHandle, WEnum};
use wayland_protocols::ext::image_capture_source::v1::client::ext_image_capture_source_v1::ExtImageCaptureSourceV1;
use wayland_protocols::ext::image_copy_capture::v1::client::{
    ext_image_copy_capture_cursor_session_v1::{self, ExtImageCopyCaptureCursorSessionV1},
    ext_image_copy_capture_frame_v1::{self, ExtImageCopyCaptureFrameV1},
    ext_image_copy_capture_session_v1::{self, ExtImageCopyCaptureSessionV1},
};

use crate::capture::SharedBuffer;
use crate::command::CursorMode;
use crate::image_copy::Constraints;
use crate::state::State;

/// User data of a stream's cursor objects (apart from its main session's).
#[derive(Debug, Clone, Copy)]
pub struct CursorKey(pub StreamKey);

/// wl_shm ARGB8888: the cursor's alpha matters.
const ARGB8888: u32 = 0;

/// Our buffer for cursor images; the wl_buffer goes before the memfd.
struct CursorBuffer {
    shared: SharedBuffer,
    width: u32,
    height: u32,
    _fd: OwnedFd,
}

/// The cursor of one stream.
pub struct CursorTrack {
    cursor_session: ExtImageCopyCaptureCursorSessionV1,
    source: ExtImageCaptureSourceV1,
    session: ExtImageCopyCaptureSessionV1,
    incoming: Constraints,
    buffer: Option<CursorBuffer>,
    frame: Option<ExtImageCopyCaptureFrameV1>,
    inside: bool,
    position: (i32, i32),
    hotspot: (i32, i32),
    /// Takes effect with the next image (the protocol says so).
    pending_hotspot: Option<(i32, i32)>,
    /// What the compositor applied to the image being captured.
    image_transform: Transform,
    image: Option<(u32, u32, Vec<u8>)>,
    image_serial: u32,
    sent_serial: u32,
    /// Something changed that the consumer has not been sent.
    pub dirty: bool,
    flush_pending: bool,
    /// When the image last went out on a picture-less buffer: a frame
    /// queued soon after may take that buffer's place (PipeWire keeps the
    /// newest of what a consumer has not taken yet), so it repeats the
    /// image.
    image_sent_at: Option<Instant>,
}

/// The least time between two buffers of a stream, so the consumer takes
/// each (one per graph cycle); also the window in which a frame repeats a
/// cursor image sent on a picture-less buffer.
pub fn queue_gap(max_fps: u32) -> Duration {
    let floor = Duration::from_millis(16);
    match max_fps {
        0 => floor,
        fps => (Duration::from_secs(1) / fps).max(floor),
    }
}

impl Drop for CursorTrack {
    fn drop(&mut self) {
        if let Some(f) = self.frame.take() {
            f.destroy();
        }
        if let Some(b) = self.buffer.take() {
            b.shared.wl.destroy();
        }
        self.session.destroy();
        self.cursor_session.destroy();
        self.source.destroy();
    }
}

impl CursorTrack {
    /// The metadata to send now; the image only if the consumer lacks it
    /// (or, with a frame, may have lost it: see `image_sent_at`).
    /// A whole frame (`whole`: what a new or renegotiated consumer gets
    /// first) always carries the image: that consumer has none yet, and the
    /// first of those frames may be dropped before it runs.
    pub fn meta(&mut self, with_frame: bool, whole: bool, gap: Duration) -> CursorMeta<'_> {
        let lost = with_frame && self.image_sent_at.is_some_and(|t| t.elapsed() < gap);
        let send_image = self.inside && (self.image_serial != self.sent_serial || lost || whole);
        if send_image {
            self.sent_serial = self.image_serial;
            self.image_sent_at = (!with_frame).then(Instant::now);
        }
        self.dirty = false;
        CursorMeta {
            id: u32::from(self.inside),
            x: self.position.0,
            y: self.position.1,
            hotspot_x: self.hotspot.0,
            hotspot_y: self.hotspot.1,
            bitmap: match (&self.image, send_image) {
                (Some((width, height, pixels)), true) => Some(CursorBitmap {
                    width: *width,
                    height: *height,
                    stride: width * 4,
                    pixels,
                }),
                _ => None,
            },
        }
    }
}

impl State {
    /// Opens the cursor session of a metadata-mode stream, once the seat
    /// has a pointer (cursor sessions follow a wl_pointer).
    pub(crate) fn open_cursor_session(&mut self, key: StreamKey) {
        let (Some(ic), Some(pointer)) = (self.image_copy.as_ref(), self.pointer.as_ref()) else {
            return;
        };
        let Some(s) = self.casts.streams.get(&key) else {
            return;
        };
        if s.cursor != CursorMode::Metadata || s.cursor_track.is_some() {
            return;
        }
        let Some(source) = self.capture_source(key) else {
            return;
        };
        let cursor_session =
            ic.manager
                .create_pointer_cursor_session(&source, pointer, &self.qh, CursorKey(key));
        let session = cursor_session.get_capture_session(&self.qh, CursorKey(key));
        tracing::debug!(stream = key, "cursor session opened");
        if let Some(s) = self.casts.streams.get_mut(&key) {
            s.cursor_track = Some(CursorTrack {
                cursor_session,
                source,
                session,
                incoming: Constraints::default(),
                buffer: None,
                frame: None,
                inside: false,
                position: (0, 0),
                hotspot: (0, 0),
                pending_hotspot: None,
                image_transform: Transform::Normal,
                image: None,
                image_serial: 0,
                sent_serial: 0,
                dirty: false,
                flush_pending: false,
                image_sent_at: None,
            });
        }
    }

    /// The seat got a pointer: metadata streams can follow it now.
    pub(crate) fn pointer_appeared(&mut self) {
        let keys: Vec<StreamKey> = self.casts.streams.keys().copied().collect();
        for key in keys {
            self.open_cursor_session(key);
        }
    }

    /// Captures the next cursor image (the compositor answers when the
    /// image changes; the first at once).
    fn capture_cursor(&mut self, key: StreamKey) {
        let qh = self.qh.clone();
        let Some(t) = self
            .casts
            .streams
            .get_mut(&key)
            .and_then(|s| s.cursor_track.as_mut())
        else {
            return;
        };
        let Some(b) = t.buffer.as_ref() else { return };
        if t.frame.is_some() {
            return;
        }
        let frame = t.session.create_frame(&qh, CursorKey(key));
        frame.attach_buffer(&b.shared.wl);
        frame.damage_buffer(
            0,
            0,
            i32::try_from(b.width).unwrap_or(i32::MAX),
            i32::try_from(b.height).unwrap_or(i32::MAX),
        );
        frame.capture();
        t.frame = Some(frame);
    }

    /// Makes the buffer the constraints ask for.
    fn cursor_buffer(&self, c: &Constraints) -> Option<CursorBuffer> {
        let shm = self.shm.as_ref()?;
        let (width, height) = c.size?;
        let format = if c.shm_formats.contains(&ARGB8888) {
            ARGB8888
        } else {
            *c.shm_formats.first()?
        };
        let size = width.checked_mul(height)?.checked_mul(4)?;
        let fd =
            rustix::fs::memfd_create("ionchannel-cursor", rustix::fs::MemfdFlags::CLOEXEC).ok()?;
        rustix::fs::ftruncate(&fd, u64::from(size)).ok()?;
        let shared = SharedBuffer::new(shm, &self.qh, fd.as_raw_fd(), size, width, height, format)?;
        Some(CursorBuffer {
            shared,
            width,
            height,
            _fd: fd,
        })
    }

    /// Sends what changed about the cursor soon (once per loop turn, so a
    /// burst of events makes one update).
    fn cursor_changed(&mut self, key: StreamKey) {
        let Some(t) = self
            .casts
            .streams
            .get_mut(&key)
            .and_then(|s| s.cursor_track.as_mut())
        else {
            return;
        };
        t.dirty = true;
        if t.flush_pending {
            return;
        }
        t.flush_pending = true;
        self.timers
            .after(Duration::ZERO, crate::timers::Wake::Cursor(key));
    }

    /// A picture-less buffer with the cursor metadata, if the consumer
    /// has a free buffer (otherwise it travels with the next frame).
    pub(crate) fn flush_cursor(&mut self, key: StreamKey) {
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        let gap = queue_gap(s.max_fps);
        let wait = s
            .last_queued
            .and_then(|t| gap.checked_sub(t.elapsed()))
            .filter(|w| !w.is_zero());
        let Some(t) = s.cursor_track.as_mut() else {
            return;
        };
        if !t.dirty || !s.streaming || s.format.is_none() {
            t.flush_pending = false;
            return;
        }
        if let Some(wait) = wait {
            // Too soon after the last buffer: the consumer may not have
            // taken it yet, and this one would replace it.
            self.timers.after(wait, crate::timers::Wake::Cursor(key));
            return;
        }
        t.flush_pending = false;
        let Some(buffer) = s.stream.dequeue() else {
            return;
        };
        s.frames += 1;
        let seq = s.frames;
        let Some(t) = s.cursor_track.as_mut() else {
            s.stream.queue_empty(buffer);
            return;
        };
        let meta = t.meta(false, false, gap);
        s.stream
            .queue_cursor_only(buffer, &meta, seq, crate::clock::monotonic_ns());
        s.last_queued = Some(Instant::now());
        tracing::trace!(stream = key, ?meta.x, ?meta.y, "cursor update");
        if let Some(s) = self.casts.streams.get(&key) {
            s.stream.trigger();
        }
        self.dispatch_pipewire();
    }

    fn on_cursor_session(&mut self, key: StreamKey, ev: ext_image_copy_capture_session_v1::Event) {
        use ext_image_copy_capture_session_v1::Event as E;
        let Some(t) = self
            .casts
            .streams
            .get_mut(&key)
            .and_then(|s| s.cursor_track.as_mut())
        else {
            return;
        };
        match ev {
            E::BufferSize { width, height } => t.incoming.size = Some((width, height)),
            E::ShmFormat { format } => t.incoming.shm_formats.push(match format {
                WEnum::Value(f) => f.into(),
                WEnum::Unknown(f) => f,
            }),
            E::Done => {
                let c = std::mem::take(&mut t.incoming);
                let same = t
                    .buffer
                    .as_ref()
                    .is_some_and(|b| c.size == Some((b.width, b.height)));
                if !same {
                    if let Some(f) = t.frame.take() {
                        f.destroy();
                    }
                    if let Some(b) = t.buffer.take() {
                        b.shared.wl.destroy();
                    }
                    let made = self.cursor_buffer(&c);
                    if let Some(t) = self
                        .casts
                        .streams
                        .get_mut(&key)
                        .and_then(|s| s.cursor_track.as_mut())
                    {
                        t.buffer = made;
                    }
                }
                self.capture_cursor(key);
            }
            E::Stopped => {
                tracing::debug!(stream = key, "cursor session stopped");
                if let Some(s) = self.casts.streams.get_mut(&key) {
                    s.cursor_track = None;
                }
            }
            _ => {}
        }
    }

    fn on_cursor_frame(&mut self, key: StreamKey, ev: ext_image_copy_capture_frame_v1::Event) {
        use ext_image_copy_capture_frame_v1::Event as E;
        let Some(t) = self
            .casts
            .streams
            .get_mut(&key)
            .and_then(|s| s.cursor_track.as_mut())
        else {
            return;
        };
        match ev {
            E::Ready => {
                if let Some(f) = t.frame.take() {
                    f.destroy();
                }
                if let Some(b) = t.buffer.as_mut() {
                    let (w, h) = (b.width, b.height);
                    if let Some(px) = b.shared.pixels() {
                        // The image comes in the output's buffer
                        // orientation, like the frames (wlroots turns it
                        // for a rotated output's cursor plane); the
                        // consumer gets it upright, like the frames. The
                        // position and hotspot wlroots sends are upright
                        // already (measured on sway 1.12 and labwc 0.20).
                        t.image = Some(upright_image(t.image_transform, w, h, px));
                        t.image_serial = t.image_serial.wrapping_add(1).max(1);
                    }
                }
                if let Some(h) = t.pending_hotspot.take() {
                    t.hotspot = h;
                }
                self.capture_cursor(key);
                self.cursor_changed(key);
            }
            E::Failed { reason } => {
                if let Some(f) = t.frame.take() {
                    f.destroy();
                }
                // New constraints (a `done`) or a new image restart it; a
                // stopped session is dropped by its `stopped` event.
                tracing::debug!(stream = key, ?reason, "cursor capture failed");
            }
            E::Transform { transform } => {
                let value = match transform {
                    WEnum::Value(v) => v.into(),
                    WEnum::Unknown(v) => v,
                };
                t.image_transform = Transform::from_wl(value).unwrap_or_default();
            }
            _ => {}
        }
    }

    fn on_cursor_event(
        &mut self,
        key: StreamKey,
        ev: ext_image_copy_capture_cursor_session_v1::Event,
    ) {
        use ext_image_copy_capture_cursor_session_v1::Event as E;
        let Some(t) = self
            .casts
            .streams
            .get_mut(&key)
            .and_then(|s| s.cursor_track.as_mut())
        else {
            return;
        };
        match ev {
            E::Enter => t.inside = true,
            E::Leave => t.inside = false,
            E::Position { x, y } => t.position = (x, y),
            E::Hotspot { x, y } => {
                if t.image.is_none() {
                    t.hotspot = (x, y);
                } else {
                    t.pending_hotspot = Some((x, y));
                }
            }
            _ => return,
        }
        if matches!(ev, E::Enter) {
            self.capture_cursor(key);
        }
        self.cursor_changed(key);
    }
}

/// A cursor image (4-byte pixels, rows packed) the right way up.
fn upright_image(t: Transform, w: u32, h: u32, px: &[u8]) -> (u32, u32, Vec<u8>) {
    if t == Transform::Normal {
        return (w, h, px.to_vec());
    }
    let (uw, uh) = t.upright_size(w, h);
    let mut out = vec![0; uw as usize * uh as usize * 4];
    let src = Plane {
        width: w,
        height: h,
        stride: w as usize * 4,
    };
    let dst = Plane {
        width: uw,
        height: uh,
        stride: uw as usize * 4,
    };
    match turn_into(t, px, src, &mut out, dst, (0, 0, w, h)) {
        Ok(()) => (uw, uh, out),
        Err(e) => {
            tracing::warn!("cannot turn the cursor image: {e}");
            (w, h, px.to_vec())
        }
    }
}

impl Dispatch<ExtImageCopyCaptureCursorSessionV1, CursorKey> for State {
    fn event(
        state: &mut Self,
        _: &ExtImageCopyCaptureCursorSessionV1,
        event: ext_image_copy_capture_cursor_session_v1::Event,
        key: &CursorKey,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        state.on_cursor_event(key.0, event);
    }
}

impl Dispatch<ExtImageCopyCaptureSessionV1, CursorKey> for State {
    fn event(
        state: &mut Self,
        _: &ExtImageCopyCaptureSessionV1,
        event: ext_image_copy_capture_session_v1::Event,
        key: &CursorKey,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        state.on_cursor_session(key.0, event);
    }
}

impl Dispatch<ExtImageCopyCaptureFrameV1, CursorKey> for State {
    fn event(
        state: &mut Self,
        _: &ExtImageCopyCaptureFrameV1,
        event: ext_image_copy_capture_frame_v1::Event,
        key: &CursorKey,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        state.on_cursor_frame(key.0, event);
    }
}

wayland_client::delegate_noop!(State: ignore WlPointer);
