//! Driving the streams: buffers become wl_buffers, a consumer's readiness
//! starts a screencopy into a free buffer, and a ready frame is queued
//! with its timestamp and damage. All on the media thread.

use std::time::{Duration, Instant};

use ion_core::frame::{self, Offer};
use ion_core::transform::Transform;
use ion_pipewire::{Frame, ShmFormat, StreamEvent, StreamKey, VideoParams};

use crate::capture::{FrameEvent, SharedBuffer};
use crate::command::Event;
use crate::screencast::{CaptureFrame, InFlight, MAX_FPS};
use crate::state::State;

/// Failed captures in a row after which a stream ends.
const MAX_FAILURES: u32 = 8;
/// First wait for a buffer when the consumer holds them all (doubled up
/// to 16 times while it keeps them).
const STARVED_STEP: Duration = Duration::from_millis(1);
/// Back-off per failure before the next capture attempt.
const RETRY_STEP: Duration = Duration::from_millis(20);

impl State {
    pub fn on_stream_event(&mut self, ev: StreamEvent) {
        match ev {
            StreamEvent::BufferAdded {
                key,
                buffer,
                fd,
                size,
                dmabuf,
            } => {
                let (Some(shm), Some(s)) = (self.shm.as_ref(), self.casts.streams.get_mut(&key))
                else {
                    return;
                };
                let Some((format, w, h)) = s.format else {
                    return;
                };
                let shared = match (&dmabuf, self.dmabuf.as_ref()) {
                    (Some(layout), Some(d)) => {
                        // SAFETY: `fd` is open in the stream's data until
                        // its BufferRemoved event, handled after this.
                        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                        crate::dmabuf::wl_buffer(&d.global, &self.qh, borrowed, w, h, layout)
                            .map(|wl| SharedBuffer::from_dmabuf(wl, size, fd, layout.stride))
                    }
                    (Some(_), None) => None,
                    (None, _) => SharedBuffer::new(shm, &self.qh, fd, size, w, h, format.wl_shm()),
                };
                match shared {
                    Some(b) => {
                        s.buffers.insert(buffer, b);
                        tracing::debug!(
                            stream = key,
                            buffers = s.buffers.len(),
                            w,
                            h,
                            "buffer shared"
                        );
                        // After a renegotiation the consumer is already
                        // streaming: capture resumes on the new buffers.
                        if s.streaming && s.capture.is_none() && !self.casts.kicks.contains(&key) {
                            self.casts.kicks.push(key);
                        }
                    }
                    None => {
                        tracing::warn!(stream = key, "cannot share a buffer with the compositor")
                    }
                }
            }
            StreamEvent::BufferRemoved { key, buffer } => {
                if let Some(s) = self.casts.streams.get_mut(&key) {
                    // A capture into a buffer that is going away is dropped
                    // (the buffer is not ours to queue any more).
                    if s.capture.as_ref().is_some_and(|c| c.buffer == buffer) {
                        if let Some(c) = s.capture.take() {
                            c.frame.destroy();
                        }
                        s.offer_matched = false;
                        abandoned(s);
                    }
                    if s.spare == Some(buffer) {
                        s.spare = None;
                    }
                    if let Some(b) = s.buffers.remove(&buffer) {
                        b.wl.destroy();
                    }
                }
            }
            StreamEvent::Streaming { key, active } => {
                if let Some(s) = self.casts.streams.get_mut(&key) {
                    s.streaming = active;
                    // A consumer (re)starting needs a whole first frame.
                    if active {
                        s.need_full = true;
                        s.full_frames_left = crate::screencast::FULL_FRAMES;
                    }
                    tracing::info!(stream = key, active, "consumer streaming");
                    if !active {
                        // The consumer left: stop the capture in flight and
                        // give its buffer back; a new consumer starts over.
                        if let Some(c) = s.capture.take() {
                            c.frame.destroy();
                            s.stream.queue_empty(c.buffer);
                            abandoned(s);
                        }
                        if let Some(b) = s.spare.take() {
                            s.stream.queue_empty(b);
                        }
                        s.offer_matched = false;
                    }
                    if active && !self.casts.kicks.contains(&key) {
                        self.casts.kicks.push(key);
                    }
                }
            }
            StreamEvent::Process { key } => self.try_capture(key),
            StreamEvent::DmabufFailed { key, reason } => self.shm_only(key, &reason),
            StreamEvent::Linked { output_node } => self.consumer_joined(output_node),
            _ => {}
        }
    }

    /// Another consumer linked to a stream that is already streaming: its
    /// state does not change, but the newcomer needs a whole picture now,
    /// so a capture waiting for damage gives way to a whole one. (The
    /// blank frames once blamed on this with wlr-screencopy were PipeWire
    /// 0.3.65 linking consumers without memory; see ARCHITECTURE's known
    /// issues.)
    fn consumer_joined(&mut self, node_id: u32) {
        let Some((&key, s)) = self
            .casts
            .streams
            .iter_mut()
            .find(|(_, s)| s.node_id == Some(node_id))
        else {
            return;
        };
        if !s.streaming {
            // The first consumer: its Streaming event does this.
            return;
        }
        tracing::debug!(stream = key, "another consumer joined");
        s.need_full = true;
        s.full_frames_left = crate::screencast::FULL_FRAMES;
        s.full_not_before = None;
        if s.capture.as_ref().is_some_and(|c| !c.full) {
            if let Some(c) = s.capture.take() {
                c.frame.destroy();
                // Kept for the whole capture: queued empty, it would reach
                // the consumers as a (blank) frame.
                s.spare = Some(c.buffer);
            }
            s.offer_matched = false;
            abandoned(s);
        }
        self.try_capture(key);
    }

    /// Starts a capture into a free buffer, unless one is in flight or the
    /// consumer's frame-rate cap says not yet (then a timer comes back).
    pub(crate) fn try_capture(&mut self, key: StreamKey) {
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        if !s.streaming || s.capture.is_some() || s.format.is_none() {
            tracing::trace!(
                stream = key,
                s.streaming,
                capturing = s.capture.is_some(),
                "no capture now"
            );
            return;
        }
        // The top of the offered range is what a consumer without a cap of
        // its own gets: no cap (see MAX_FPS).
        let uncapped = s.max_fps >= MAX_FPS;
        if s.max_fps > 0 && !uncapped {
            let interval = Duration::from_secs(1) / s.max_fps;
            if let Some(wait) = s
                .last_capture
                .and_then(|t| interval.checked_sub(t.elapsed()))
            {
                self.capture_after(key, wait);
                return;
            }
        }
        if let Some(wait) = s
            .need_full
            .then_some(s.full_not_before)
            .flatten()
            .and_then(|t| t.checked_duration_since(Instant::now()))
        {
            // The repeated whole frame waits a little (see full_frames_left).
            self.capture_after(key, wait);
            return;
        }
        if self.image_copy.is_some() {
            self.capture_image_copy(key);
        } else {
            self.capture_screencopy(key);
        }
    }

    /// A free buffer of the stream that the compositor can write, or None
    /// (a timer comes back when the consumer holds them all).
    pub(crate) fn free_buffer(&mut self, key: StreamKey) -> Option<usize> {
        let s = self.casts.streams.get_mut(&key)?;
        if let Some(buffer) = s.spare.take() {
            if s.buffers.contains_key(&buffer) {
                return Some(buffer);
            }
        }
        let Some(buffer) = s.stream.dequeue() else {
            // The consumer holds every buffer. Nothing tells a driver when
            // one comes back, so look again soon (backing off to a frame
            // interval while it stays busy).
            s.starved = (s.starved + 1).min(4);
            let wait = STARVED_STEP * (1 << s.starved);
            tracing::trace!(stream = key, ?wait, "no free buffer");
            self.capture_after(key, wait);
            return None;
        };
        s.starved = 0;
        if !s.buffers.contains_key(&buffer) {
            s.stream.queue_empty(buffer);
            return None;
        }
        Some(buffer)
    }

    /// Binds the stream a wlr-screencopy manager of its own (see
    /// `CastStream::screencopy`); the shared one stays the fallback.
    pub(crate) fn bind_stream_screencopy(&mut self, key: StreamKey) {
        let Some(version) = self.screencopy.as_ref().map(wayland_client::Proxy::version) else {
            return;
        };
        let Some(name) = self
            .globals
            .iter()
            .find(|(_, g)| g.interface == crate::WLR_SCREENCOPY)
            .map(|(name, _)| *name)
        else {
            return;
        };
        let manager = self.registry.bind(name, version, &self.qh, ());
        if let Some(s) = self.casts.streams.get_mut(&key) {
            s.screencopy = Some(manager);
        } else {
            manager.destroy();
        }
    }

    /// The screencopy manager a stream captures with: its own, else the
    /// shared one.
    fn screencopy_of(&self, key: StreamKey) -> Option<wayland_protocols_wlr::screencopy::v1::client::zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1>{
        self.casts
            .streams
            .get(&key)
            .and_then(|s| s.screencopy.clone())
            .or_else(|| self.screencopy.clone())
    }

    fn capture_screencopy(&mut self, key: StreamKey) {
        let Some(screencopy) = self.screencopy_of(key) else {
            return;
        };
        // wlr-screencopy captures outputs only: window streams are made
        // only where ext-image-copy-capture exists.
        let Some((wl_output, transform)) = self.casts.streams.get(&key).and_then(|s| {
            let global = s.source.output_global()?;
            self.outputs.iter().find(|o| o.global == global).map(|o| {
                let transform = o
                    .info
                    .as_ref()
                    .and_then(|i| u32::try_from(i.transform).ok())
                    .and_then(Transform::from_wl)
                    .unwrap_or_default();
                (o.wl.clone(), transform)
            })
        }) else {
            return;
        };
        // Screencopy frames say nothing of the output's transform: the
        // wl_output does. A change shows as offers that no longer match
        // the stream's turned size, which renegotiates.
        if let Some(s) = self.casts.streams.get_mut(&key) {
            if s.turn != transform {
                tracing::info!(
                    stream = key,
                    transform = transform.name(),
                    "source transform"
                );
                s.turn = transform;
            }
        }
        if !self.prepare_staging(key) {
            return;
        }
        let Some(buffer) = self.free_buffer(key) else {
            return;
        };
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        let staged = s.staging.is_some();
        s.last_capture = Some(Instant::now());
        tracing::trace!(stream = key, buffer, format = ?s.format, "capture");
        // Embedded cursor: the compositor draws it into the frame.
        let overlay_cursor = i32::from(s.cursor == crate::command::CursorMode::Embedded);
        let frame = screencopy.capture_output(overlay_cursor, &wl_output, &self.qh, key);
        s.capture = Some(InFlight {
            frame: CaptureFrame::Screencopy(frame),
            buffer,
            damage: Vec::new(),
            full: s.need_full,
            y_invert: false,
            staged,
            // Screencopy copies the whole output every time: the staging
            // buffer is never partly out of date.
            whole: false,
            transform: None,
            offers: Vec::new(),
            pts_ns: None,
        });
    }

    /// Asks wlr-screencopy for a frame of the stream's output only to read
    /// its buffer offers: the stream then offers exactly those before
    /// Start is answered, so the consumer negotiates once. Without an
    /// output or screencopy, Start is answered with the defaults.
    pub(crate) fn open_screencopy_probe(&mut self, key: StreamKey) {
        let screencopy = self.screencopy_of(key);
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        let wl_output = s.source.output_global().and_then(|global| {
            self.outputs
                .iter()
                .find(|o| o.global == global)
                .map(|o| o.wl.clone())
        });
        match (screencopy, wl_output) {
            (Some(screencopy), Some(wl_output)) => {
                let frame = screencopy.capture_output(0, &wl_output, &self.qh, key);
                s.probe = Some((frame, Vec::new()));
            }
            _ => {
                s.sized = true;
                self.casts.answer_ready();
            }
        }
    }

    /// The probe frame's offers are all in: offer them (the same size and
    /// formats, the compositor's order) and answer Start.
    fn probe_done(&mut self, key: StreamKey) {
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        let Some((frame, offers)) = s.probe.take() else {
            return;
        };
        frame.destroy();
        let exact: Vec<ShmFormat> = offers
            .iter()
            .filter_map(|o| ShmFormat::from_wl_shm(o.format))
            .collect();
        let size = offers.first().map(|o| s.turned_size(o.width, o.height));
        let differs = size.is_some_and(|sz| sz != s.offered)
            || (!exact.is_empty() && exact != s.offered_formats);
        tracing::debug!(
            stream = key,
            ?offers,
            differs,
            "screencopy offers before Start"
        );
        if differs && !s.streaming {
            self.renegotiate_to(key, offers);
        }
        if let Some(s) = self.casts.streams.get_mut(&key) {
            s.sized = true;
        }
        self.casts.answer_ready();
    }

    pub fn on_frame_event(&mut self, key: StreamKey, ev: FrameEvent) {
        let version = self
            .screencopy
            .as_ref()
            .map_or(1, wayland_client::Proxy::version);
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        if let Some((_, offers)) = s.probe.as_mut() {
            match ev {
                FrameEvent::Buffer(offer) => {
                    offers.push(offer);
                    // Before v3 there is one offer and no buffer_done.
                    if version < 3 {
                        self.probe_done(key);
                    }
                }
                FrameEvent::BufferDone | FrameEvent::Failed => self.probe_done(key),
                _ => {}
            }
            return;
        }
        let Some(c) = s.capture.as_mut() else { return };
        match ev {
            FrameEvent::Buffer(offer) => {
                c.offers.push(offer);
                let ours = s.format.map(|(f, w, h)| {
                    let (width, height) = s.turned_size(w, h);
                    Offer {
                        format: f.wl_shm(),
                        width,
                        height,
                        stride: width * 4,
                    }
                });
                let matched = !s.dmabuf && ours == Some(offer);
                if version >= 3 {
                    // v3 lists every offer before buffer_done: copy then.
                    s.offer_matched |= matched;
                } else if matched {
                    copy(s, key);
                } else {
                    self.renegotiate(key);
                }
            }
            FrameEvent::LinuxDmabuf {
                format,
                width,
                height,
            } => {
                // Only a dmabuf stream takes it (never transformed, so no
                // turned size); shm offers stay the renegotiation's list.
                let ours = s.format.map(|(f, w, h)| (f.fourcc(), w, h));
                if s.dmabuf && ours == Some((format, width, height)) {
                    s.offer_matched = true;
                }
            }
            FrameEvent::BufferDone => {
                let size = s.format.map(|(_, w, h)| (w, h));
                if s.offer_matched {
                    copy(s, key);
                } else if s.dmabuf && c.offers.iter().any(|o| Some((o.width, o.height)) == size) {
                    // The right size, but no dmabuf of our format: offering
                    // it again would bring the same choice back.
                    self.shm_only(key, "the compositor offers no dmabuf of this format");
                } else {
                    self.renegotiate(key);
                }
            }
            FrameEvent::Damage {
                x,
                y,
                width,
                height,
            } => c.damage.push((x, y, width, height)),
            FrameEvent::Ready { nsec, .. } => {
                tracing::trace!(stream = key, "frame ready");
                let Some(mut c) = s.capture.take() else {
                    return;
                };
                c.frame.destroy();
                s.offer_matched = false;
                if c.full {
                    // A plain copy reports no damage: all of it is new.
                    if let Some((_, w, h)) = s.format {
                        let (bw, bh) = s.turned_size(w, h);
                        c.damage = vec![(0, 0, bw, bh)];
                    }
                }
                c.pts_ns = Some(nsec);
                self.finish_frame(key, c);
            }
            FrameEvent::Failed => self.capture_failed(key),
        }
    }

    /// A capture failed: retry with back-off, end the stream when it
    /// keeps failing.
    pub(crate) fn capture_failed(&mut self, key: StreamKey) {
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        fail(s);
        s.failures += 1;
        let failures = s.failures;
        let session = s.session;
        if failures > MAX_FAILURES {
            tracing::warn!(
                stream = key,
                failures,
                "capture keeps failing: the stream ends"
            );
            self.casts.destroy(session);
            let _ = self.events.send(Event::StreamsFailed { session });
            return;
        }
        // A failure is usually an output that changed under the capture;
        // the retry sees the new offers. Back off so a compositor refusing
        // every capture costs little.
        tracing::debug!(stream = key, failures, "capture failed: retrying");
        self.capture_after(key, RETRY_STEP * failures);
    }

    /// A frame is in its buffer: flip it if the compositor wrote it upside
    /// down, note what every other buffer now misses, and queue it to the
    /// consumer with its timestamp and damage.
    pub(crate) fn finish_frame(&mut self, key: StreamKey, mut c: InFlight) {
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        s.failures = 0;
        if c.full {
            s.full_frames_left = s.full_frames_left.saturating_sub(1);
            s.need_full = s.full_frames_left > 0;
            s.full_not_before = s
                .need_full
                .then(|| Instant::now() + crate::screencast::FULL_FRAME_REPEAT);
        }
        let Some((_, w, h)) = s.format else { return };
        if c.staged {
            // wlr-screencopy's y_invert comes on top of the output's
            // transform.
            let t = if c.y_invert {
                s.turn.then(Transform::Flipped180)
            } else {
                c.transform.unwrap_or(s.turn)
            };
            if !crate::cast_turn::turn_frame(s, &mut c, t) {
                // Cannot happen with a staging buffer of the stream's
                // turned size; never queue a picture that is not there.
                s.staging_unknown();
                s.stream.queue_empty(c.buffer);
                self.capture_failed(key);
                return;
            }
        } else if c.y_invert && s.dmabuf {
            // Never seen from a compositor that fills dmabufs (wlroots
            // 0.16 and later render upright); a dmabuf is not ours to
            // flip, so the stream goes back to shm.
            s.stream.queue_empty(c.buffer);
            self.shm_only(key, "the compositor sent an upside-down dmabuf frame");
            return;
        } else if c.y_invert {
            // GL-rendering compositors (wlroots before 0.16) hand shm
            // frames over bottom row first; consumers expect top first.
            // Screencopy always copies the whole output, so flipping the
            // stream's buffer in place is right.
            if let Some(px) = s.buffers.get_mut(&c.buffer).and_then(|b| b.pixels()) {
                frame::flip_rows(px, w as usize * 4, h as usize);
                frame::flip_damage(&mut c.damage, h);
            }
        }
        for (id, b) in s.buffers.iter_mut() {
            if *id == c.buffer {
                b.stale = Some(Vec::new());
            } else {
                b.add_stale(&c.damage);
            }
        }
        s.frames += 1;
        let pts_ns = c.pts_ns.unwrap_or_else(crate::clock::monotonic_ns);
        let gap = crate::cast_cursor::queue_gap(s.max_fps);
        let cursor = s.cursor_track.as_mut().map(|t| t.meta(true, c.full, gap));
        s.last_queued = Some(Instant::now());
        let stride = s.buffers.get(&c.buffer).map_or(w * 4, |b| b.stride);
        s.stream.queue_frame(
            c.buffer,
            &Frame {
                size: stride * h,
                stride: i32::try_from(stride).unwrap_or(i32::MAX),
                pts_ns,
                seq: s.frames,
                damage: &c.damage,
                cursor: cursor.as_ref(),
            },
        );
        // To the consumer at once; the next capture follows from the
        // cycle's `process`, within the consumer's cap.
        self.deliver(key);
    }

    /// The compositor's offers no longer match the negotiated format (the
    /// output changed mode, scale or transform): offer the new size and
    /// formats; the consumer renegotiates and capture resumes on buffers
    /// of the new size.
    fn renegotiate(&mut self, key: StreamKey) {
        let offers = self
            .casts
            .streams
            .get(&key)
            .and_then(|s| s.capture.as_ref())
            .map(|c| c.offers.clone())
            .unwrap_or_default();
        self.renegotiate_to(key, offers);
    }

    /// Offers the consumer the size and formats of `offers` (what the
    /// compositor can write now).
    pub(crate) fn renegotiate_to(&mut self, key: StreamKey, offers: Vec<Offer<u32>>) {
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        fail(s);
        // The consumer gets the upright picture of a transformed source.
        let shm_offers: Vec<Offer<ShmFormat>> = offers
            .iter()
            .filter_map(|o| {
                let (width, height) = s.turned_size(o.width, o.height);
                Some(Offer {
                    format: ShmFormat::from_wl_shm(o.format)?,
                    width,
                    height,
                    stride: width * 4,
                })
            })
            .collect();
        let current = s.format.map(|(f, _, _)| f);
        let Some((width, height, formats)) = frame::renegotiation(&shm_offers, current, |_| true)
        else {
            tracing::warn!(
                stream = key,
                ?offers,
                "the compositor offers no shm buffer we can stream"
            );
            let session = s.session;
            self.casts.destroy(session);
            let _ = self.events.send(Event::StreamsFailed { session });
            return;
        };
        tracing::info!(
            stream = key,
            width,
            height,
            ?formats,
            "source changed: renegotiating"
        );
        // No capture until the new format arrives: the buffers we hold
        // are the old size.
        s.format = None;
        s.offered = (width, height);
        s.offered_formats = formats.clone();
        let params = VideoParams {
            width,
            height,
            formats,
            max_fps: MAX_FPS,
            cursor_meta: s.cursor == crate::command::CursorMode::Metadata,
            // A source that turned is streamed through shm from now on.
            dmabuf: if s.turn == Transform::Normal {
                s.dmabuf_formats.clone()
            } else {
                Vec::new()
            },
        };
        if let Err(e) = s.stream.update_format(&params) {
            tracing::warn!(stream = key, "cannot renegotiate: {e}");
            let session = s.session;
            self.casts.destroy(session);
            let _ = self.events.send(Event::StreamsFailed { session });
        }
        self.dispatch_pipewire();
    }
}

impl State {
    /// A dmabuf cannot be made or used for this stream: it offers shm only
    /// from now on (at the size offered now), and the consumer
    /// renegotiates.
    pub(crate) fn shm_only(&mut self, key: StreamKey, reason: &str) {
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        tracing::warn!(stream = key, "dmabuf given up, shm from now on: {reason}");
        s.dmabuf_formats.clear();
        let (width, height) = s.offered;
        let formats = match s.format {
            Some((f, _, _)) => vec![f],
            None => vec![ShmFormat::Xrgb8888, ShmFormat::Argb8888],
        };
        let offers = formats
            .into_iter()
            .map(|f| Offer {
                format: f.wl_shm(),
                width,
                height,
                stride: width * 4,
            })
            .collect();
        self.renegotiate_to(key, offers);
    }

    /// Hands the frame just queued to the consumer: a driver's queued
    /// buffer travels with the next graph cycle, so the cycle runs now.
    /// The cycle's `process` then asks for the next capture.
    fn deliver(&mut self, key: StreamKey) {
        if let Some(s) = self.casts.streams.get(&key) {
            s.stream.trigger();
        }
        // Handle what the cycle made ready (the `process` that asks for
        // the next capture) now rather than at the loop's next wakeup.
        self.dispatch_pipewire_queued();
    }

    /// Tries the capture again after `wait`, with a timer (at most one
    /// pending per stream).
    fn capture_after(&mut self, key: StreamKey, wait: Duration) {
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        if s.capture_pending {
            return;
        }
        s.capture_pending = true;
        self.timers.after(wait, crate::timers::Wake::Capture(key));
    }
}

fn copy(s: &mut crate::screencast::CastStream, key: StreamKey) {
    let Some(c) = s.capture.as_mut() else { return };
    let CaptureFrame::Screencopy(frame) = &c.frame else {
        return;
    };
    let target = if c.staged {
        s.staging.as_ref().map(|st| &st.shared.wl)
    } else {
        s.buffers.get(&c.buffer).map(|b| &b.wl)
    };
    let Some(wl) = target else {
        tracing::warn!(stream = key, "buffer gone before the copy");
        return;
    };
    if c.full {
        frame.copy(wl);
    } else {
        frame.copy_with_damage(wl);
    }
}

/// A capture was dropped before its `ready`: the compositor may have
/// finished it anyway, and then the session's next capture waits for a
/// change. The next whole frame therefore takes a new session.
pub(crate) fn abandoned(s: &mut crate::screencast::CastStream) {
    if let Some(session) = s.image_session.as_mut() {
        session.fresh = false;
    }
    s.staging_unknown();
}

pub(crate) fn fail(s: &mut crate::screencast::CastStream) {
    if let Some(c) = s.capture.take() {
        c.frame.destroy();
        s.stream.queue_empty(c.buffer);
        s.staging_unknown();
    }
    s.offer_matched = false;
}
