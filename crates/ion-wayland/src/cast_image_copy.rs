//! Streams captured through ext-image-copy-capture-v1: one capture session
//! per stream, made from the stream's source; frames into the stream's own
//! buffers with the damage each buffer missed, so the compositor may copy
//! only that.
//!
//! Why a session is remade: only a session's first frame is immediate.
//! A consumer that (re)starts or renegotiates needs a frame now, even of
//! a static screen, so its stream gets a new session.

use std::time::Instant;

use ion_core::frame::Offer;
use ion_core::transform::Transform;
use ion_pipewire::ShmFormat;
use ion_pipewire::StreamKey;
use wayland_protocols::ext::image_copy_capture::v1::client::ext_image_copy_capture_manager_v1::Options;

use crate::cast_stream::fail;
use crate::command::Event;
use crate::image_copy::{CaptureSession, Constraints, FailReason, ImageFrameEvent, SessionEvent};
use crate::screencast::{CaptureFrame, CastSource, InFlight};
use crate::state::State;

impl State {
    pub(crate) fn capture_image_copy(&mut self, key: StreamKey) {
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        if s.need_full && s.image_session.as_ref().is_some_and(|c| !c.fresh) {
            if let Some(old) = s.image_session.take() {
                old.destroy();
            }
        }
        let Some(session) = s.image_session.as_ref() else {
            self.open_image_session(key);
            // Capture follows the session's constraints (`done`).
            return;
        };
        if session.awaiting_update {
            return;
        }
        let Some(constraints) = session.constraints.clone() else {
            return;
        };
        let Some((_, w, h)) = s.format else {
            return;
        };
        if !fits(s, &constraints) {
            tracing::debug!(stream = key, ?constraints, ?s.format, "constraints changed");
            self.misfit(key, &constraints);
            return;
        }
        if !self.prepare_staging(key) {
            return;
        }
        let Some(buffer) = self.free_buffer(key) else {
            return;
        };
        let qh = self.qh.clone();
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        // A transformed source is captured into the staging buffer, which
        // gets every frame: its damage is only what it was never sent.
        let (bw, bh) = s.turned_size(w, h);
        let staged = s.staging.is_some();
        let target = match &s.staging {
            Some(st) => Some(&st.shared),
            None => s.buffers.get(&buffer),
        };
        let (Some(session), Some(b)) = (s.image_session.as_ref(), target) else {
            s.stream.queue_empty(buffer);
            return;
        };
        let whole = b.stale.is_none();
        s.last_capture = Some(Instant::now());
        let frame = session.session.create_frame(&qh, key);
        frame.attach_buffer(&b.wl);
        match &b.stale {
            None => frame.damage_buffer(0, 0, clamp(bw), clamp(bh)),
            Some(rects) => {
                for &(x, y, rw, rh) in rects {
                    if rw > 0 && rh > 0 {
                        frame.damage_buffer(clamp(x), clamp(y), clamp(rw), clamp(rh));
                    }
                }
            }
        }
        frame.capture();
        tracing::trace!(stream = key, buffer, fresh = session.fresh, "capture");
        s.capture = Some(InFlight {
            frame: CaptureFrame::ImageCopy(frame),
            buffer,
            damage: Vec::new(),
            full: session.fresh,
            y_invert: false,
            staged,
            whole,
            transform: None,
            offers: Vec::new(),
            pts_ns: None,
        });
    }

    /// A new image capture source for what the stream shows.
    pub(crate) fn capture_source(
        &self,
        key: StreamKey,
    ) -> Option<wayland_protocols::ext::image_capture_source::v1::client::ext_image_capture_source_v1::ExtImageCaptureSourceV1>{
        let ic = self.image_copy.as_ref()?;
        let s = self.casts.streams.get(&key)?;
        match &s.source {
            CastSource::Output(info) => {
                let wl_output = self
                    .outputs
                    .iter()
                    .find(|o| o.global == info.global)
                    .map(|o| o.wl.clone())?;
                Some(ic.outputs.create_source(&wl_output, &self.qh, ()))
            }
            CastSource::Window { handle, .. } => {
                let windows = self.window_capture.as_ref()?;
                Some(windows.sources.create_source(handle, &self.qh, ()))
            }
        }
    }

    /// Opens the stream's capture session (its constraints follow).
    pub(crate) fn open_image_session(&mut self, key: StreamKey) {
        let Some(source) = self.capture_source(key) else {
            return;
        };
        let (Some(ic), Some(s)) = (self.image_copy.as_ref(), self.casts.streams.get_mut(&key))
        else {
            source.destroy();
            return;
        };
        // Embedded cursor: the compositor paints it into the frames;
        // otherwise frames carry none (also on compositors with a
        // software cursor, unlike wlr-screencopy).
        let options = if s.cursor == crate::command::CursorMode::Embedded {
            Options::PaintCursors
        } else {
            Options::empty()
        };
        let session = ic.manager.create_session(&source, options, &self.qh, key);
        tracing::debug!(stream = key, source = %s.source.name(), "capture session opened");
        s.image_session = Some(CaptureSession {
            session,
            source,
            incoming: Constraints::default(),
            constraints: None,
            fresh: true,
            awaiting_update: false,
        });
    }

    pub fn on_session_event(&mut self, key: StreamKey, ev: SessionEvent) {
        let Some(session) = self
            .casts
            .streams
            .get_mut(&key)
            .and_then(|s| s.image_session.as_mut())
        else {
            return;
        };
        match ev {
            SessionEvent::BufferSize { width, height } => {
                session.incoming.size = Some((width, height));
            }
            SessionEvent::ShmFormat(format) => session.incoming.shm_formats.push(format),
            SessionEvent::DmabufFormat { format, modifiers } => {
                session.incoming.dmabuf_formats.push((format, modifiers))
            }
            SessionEvent::Done => {
                let constraints = std::mem::take(&mut session.incoming);
                tracing::debug!(stream = key, ?constraints, "capture constraints");
                session.constraints = Some(constraints.clone());
                session.awaiting_update = false;
                if let Some(s) = self.casts.streams.get_mut(&key) {
                    // No consumer yet: offer the source's real size now (a
                    // window's is known only here), so the consumer that
                    // comes negotiates it at once.
                    // Before any consumer, the offer becomes exactly what the
                    // compositor will deliver (its size and shm formats),
                    // so the consumer negotiates once.
                    let exact: Vec<ShmFormat> = constraints
                        .shm_formats
                        .iter()
                        .filter_map(|&f| ShmFormat::from_wl_shm(f))
                        .collect();
                    if !s.streaming
                        && (constraints
                            .size
                            .is_some_and(|(w, h)| s.turned_size(w, h) != s.offered)
                            || (!exact.is_empty() && exact != s.offered_formats))
                    {
                        self.renegotiate_to(key, offers(&constraints));
                    }
                    if let Some(s) = self.casts.streams.get_mut(&key) {
                        if !s.sized && constraints.size.is_some() {
                            s.sized = true;
                            self.casts.answer_ready();
                        }
                    }
                }
                self.try_capture(key);
            }
            SessionEvent::Stopped => self.end_source(key),
        }
    }

    pub fn on_image_frame_event(&mut self, key: StreamKey, ev: ImageFrameEvent) {
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        let Some(c) = s.capture.as_mut() else { return };
        match ev {
            ImageFrameEvent::Transform(t) => {
                // Checked against the stream's assumption at `ready`.
                c.transform = Some(Transform::from_wl(t).unwrap_or_else(|| {
                    tracing::warn!(stream = key, transform = t, "unknown frame transform");
                    Transform::Normal
                }));
            }
            ImageFrameEvent::Damage {
                x,
                y,
                width,
                height,
            } => {
                if width > 0 && height > 0 {
                    c.damage.push((
                        x.max(0).unsigned_abs(),
                        y.max(0).unsigned_abs(),
                        width.unsigned_abs(),
                        height.unsigned_abs(),
                    ));
                }
            }
            ImageFrameEvent::PresentationTime { nsec } => c.pts_ns = Some(nsec),
            ImageFrameEvent::Ready => {
                let Some(c) = s.capture.take() else { return };
                c.frame.destroy();
                if let Some(session) = s.image_session.as_mut() {
                    session.fresh = false;
                }
                tracing::trace!(stream = key, damage = ?c.damage, "frame ready");
                let applied = c.transform.unwrap_or_default();
                if applied != s.turn {
                    self.transform_changed(key, c, applied);
                    return;
                }
                self.finish_frame(key, c);
            }
            ImageFrameEvent::Failed(FailReason::Stopped) => self.end_source(key),
            ImageFrameEvent::Failed(FailReason::BufferConstraints) => {
                fail(s);
                // New constraints are on their way; if they are not here
                // yet, wait for their `done`, which captures again.
                let Some(constraints) = s.image_session.as_ref().map(|x| x.constraints.clone())
                else {
                    return;
                };
                let current = constraints.as_ref().is_some_and(|c| fits(s, c));
                let Some(session) = s.image_session.as_mut() else {
                    return;
                };
                if current {
                    session.awaiting_update = true;
                } else {
                    self.try_capture(key);
                }
            }
            ImageFrameEvent::Failed(FailReason::Unknown) => self.capture_failed(key),
        }
    }

    /// A frame came with another transform than the stream assumed (the
    /// output was turned, or the compositor's frames are transformed
    /// where its wl_output says nothing): the stream follows the frames.
    /// A frame that can be turned into the stream as it is goes on;
    /// otherwise it is dropped, and the stream renegotiates if the
    /// upright size changed, or captures again through the staging
    /// buffer.
    fn transform_changed(&mut self, key: StreamKey, mut c: InFlight, applied: Transform) {
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        tracing::info!(
            stream = key,
            was = s.turn.name(),
            now = applied.name(),
            "the source's frames are transformed"
        );
        let before = s.turn;
        s.turn = applied;
        let upright_kept = s
            .format
            .is_some_and(|(_, w, h)| before.upright_size(w, h) == applied.upright_size(w, h));
        if c.staged && upright_kept && applied != Transform::Normal {
            c.transform = Some(applied);
            self.finish_frame(key, c);
            return;
        }
        s.stream.queue_empty(c.buffer);
        crate::cast_stream::abandoned(s);
        s.need_full = true;
        s.full_frames_left = crate::screencast::FULL_FRAMES;
        let constraints = s.image_session.as_ref().and_then(|x| x.constraints.clone());
        match constraints {
            Some(constraints) if !fits(s, &constraints) => self.misfit(key, &constraints),
            _ => self.try_capture(key),
        }
    }

    /// The source of a stream is gone (window closed, output unplugged):
    /// the stream ends, and its session closes if it has no stream left.
    fn end_source(&mut self, key: StreamKey) {
        if let Some(session) = self.casts.source_gone(key) {
            let _ = self.events.send(Event::StreamsFailed { session });
        }
        self.dispatch_pipewire();
    }
}

impl State {
    /// The negotiated buffer does not fit the session's constraints: a
    /// new size renegotiates; a dmabuf of the right size the session does
    /// not take sends the stream back to shm (offering it again would
    /// only bring the same choice back).
    fn misfit(&mut self, key: StreamKey, constraints: &Constraints) {
        let dmabuf_refused = self
            .casts
            .streams
            .get(&key)
            .is_some_and(|s| s.dmabuf && s.format.map(|(_, w, h)| (w, h)) == constraints.size);
        if dmabuf_refused {
            self.shm_only(
                key,
                "the capture session takes no LINEAR dmabuf of this format",
            );
        } else {
            self.renegotiate_to(key, offers(constraints));
        }
    }
}

/// Whether the stream's negotiated format is one the constraints allow,
/// at the stream's upright size.
fn fits(s: &crate::screencast::CastStream, c: &Constraints) -> bool {
    match (c.size, s.format) {
        (Some((bw, bh)), Some((f, w, h))) if s.dmabuf => {
            // dmabufs only for untransformed sources: no turned size.
            (bw, bh) == (w, h)
                && c.dmabuf_formats.iter().any(|(format, modifiers)| {
                    *format == f.fourcc() && modifiers.contains(&ion_pipewire::MOD_LINEAR)
                })
        }
        (Some((bw, bh)), Some((f, w, h))) => {
            s.turned_size(bw, bh) == (w, h) && c.shm_formats.contains(&f.wl_shm())
        }
        _ => false,
    }
}

/// The buffers the constraints allow, as offers for renegotiation.
fn offers(c: &Constraints) -> Vec<Offer<u32>> {
    let Some((width, height)) = c.size else {
        return Vec::new();
    };
    c.shm_formats
        .iter()
        .map(|&format| Offer {
            format,
            width,
            height,
            stride: width * 4,
        })
        .collect()
}

fn clamp(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}
