//! Driving the streams: buffers become wl_buffers, a consumer's readiness
//! starts a screencopy into a free buffer, and a ready frame is queued
//! with its timestamp and damage. All on the media thread.

use ion_pipewire::{Frame, StreamEvent, StreamKey};

use crate::capture::{FrameEvent, SharedBuffer};
use crate::screencast::InFlight;
use crate::state::State;

impl State {
    pub fn on_stream_event(&mut self, ev: StreamEvent) {
        match ev {
            StreamEvent::BufferAdded {
                key,
                buffer,
                fd,
                size,
            } => {
                let (Some(shm), Some(s)) = (self.shm.as_ref(), self.casts.streams.get_mut(&key))
                else {
                    return;
                };
                let Some((format, w, h)) = s.format else {
                    return;
                };
                match SharedBuffer::new(shm, &self.qh, fd, size, w, h, format.wl_shm()) {
                    Some(b) => {
                        s.buffers.insert(buffer, b);
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
                    }
                    if let Some(b) = s.buffers.remove(&buffer) {
                        b.wl.destroy();
                    }
                }
            }
            StreamEvent::Streaming { key, active } => {
                if let Some(s) = self.casts.streams.get_mut(&key) {
                    s.streaming = active;
                    tracing::info!(stream = key, active, "consumer streaming");
                    if !active {
                        // The consumer left: stop the capture in flight and
                        // give its buffer back; a new consumer starts over.
                        if let Some(c) = s.capture.take() {
                            c.frame.destroy();
                            s.stream.queue_empty(c.buffer);
                        }
                        s.offer_matched = false;
                    }
                    if active {
                        s.stream.trigger();
                        // Drained by the dispatch that delivered this event.
                    }
                }
            }
            StreamEvent::Process { key } => self.try_capture(key),
            _ => {}
        }
    }

    /// Starts a capture into a free buffer, unless one is in flight.
    fn try_capture(&mut self, key: StreamKey) {
        let Some(screencopy) = self.screencopy.as_ref() else {
            return;
        };
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        if !s.streaming || s.capture.is_some() || s.format.is_none() {
            return;
        }
        let Some(wl_output) = self
            .outputs
            .iter()
            .find(|o| o.global == s.output.global)
            .map(|o| o.wl.clone())
        else {
            return;
        };
        let Some(buffer) = s.stream.dequeue() else {
            return;
        };
        if !s.buffers.contains_key(&buffer) {
            s.stream.queue_empty(buffer);
            return;
        }
        s.last_capture = Some(std::time::Instant::now());
        // Embedded cursor: the compositor draws it into the frame.
        let overlay_cursor = i32::from(s.cursor_embedded);
        let frame = screencopy.capture_output(overlay_cursor, &wl_output, &self.qh, key);
        s.capture = Some(InFlight {
            frame,
            buffer,
            damage: Vec::new(),
            copied: false,
            y_invert: false,
        });
    }

    pub fn on_frame_event(&mut self, key: StreamKey, ev: FrameEvent) {
        let version = self
            .screencopy
            .as_ref()
            .map_or(1, wayland_client::Proxy::version);
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        let Some(c) = s.capture.as_mut() else { return };
        match ev {
            FrameEvent::Buffer {
                format,
                width,
                height,
                stride,
            } => {
                let ours = s.format.map(|(f, w, h)| (f.wl_shm(), w, h, w * 4));
                if ours != Some((format, width, height, stride)) {
                    // The compositor's shm offer for this output differs
                    // from what was negotiated (mode changed): later
                    // offers may match; v3 sends several before done.
                    tracing::debug!(
                        stream = key,
                        format,
                        width,
                        height,
                        stride,
                        "screencopy offer not ours"
                    );
                    return;
                }
                c.copied = version < 3;
                if version < 3 {
                    copy(s, key);
                } else {
                    // Remember a match; copy on buffer_done.
                    c.copied = false;
                    c.damage.clear();
                    c.y_invert = false;
                    s.offer_matched = true;
                }
            }
            FrameEvent::BufferDone => {
                if s.offer_matched {
                    copy(s, key);
                } else {
                    tracing::warn!(
                        stream = key,
                        "the compositor offers no shm buffer matching the negotiated format"
                    );
                    fail(s);
                }
            }
            FrameEvent::Damage {
                x,
                y,
                width,
                height,
            } => c.damage.push((x, y, width, height)),
            FrameEvent::Ready { nsec, .. } => {
                let Some(c) = s.capture.take() else { return };
                c.frame.destroy();
                s.offer_matched = false;
                if c.y_invert {
                    tracing::warn!(
                        stream = key,
                        "frame is upside down (y_invert); not corrected yet"
                    );
                }
                let Some((_, w, h)) = s.format else { return };
                s.frames += 1;
                s.stream.queue_frame(
                    c.buffer,
                    &Frame {
                        size: w * h * 4,
                        stride: i32::try_from(w * 4).unwrap_or(i32::MAX),
                        pts_ns: nsec,
                        seq: s.frames,
                        damage: &c.damage,
                    },
                );
                // Ask for the next one (the compositor answers it when the
                // screen changes), no sooner than the consumer's cap allows.
                self.schedule_next(key);
            }
            FrameEvent::Failed => {
                tracing::warn!(stream = key, "screencopy failed");
                fail(s);
            }
        }
    }
}

impl State {
    /// Triggers the stream's next `process` now, or when the frame-rate
    /// cap allows, with a calloop timer.
    fn schedule_next(&mut self, key: StreamKey) {
        let Some(s) = self.casts.streams.get_mut(&key) else {
            return;
        };
        let wait = match (s.max_fps, s.last_capture) {
            (fps, Some(last)) if fps > 0 => {
                let interval = std::time::Duration::from_secs(1) / fps;
                interval.checked_sub(last.elapsed())
            }
            _ => None,
        };
        let Some(wait) = wait else {
            s.stream.trigger();
            // trigger_process may run the stream's callbacks right away,
            // outside the loop's iteration: drain what they queued, or
            // nothing would wake us for it.
            self.dispatch_pipewire();
            return;
        };
        if s.trigger_pending {
            return;
        }
        let Some(handle) = self.loop_handle.clone() else {
            s.stream.trigger();
            return;
        };
        s.trigger_pending = true;
        let timer = calloop::timer::Timer::from_duration(wait);
        let inserted = handle.insert_source(timer, move |_, _, state: &mut State| {
            if let Some(s) = state.casts.streams.get_mut(&key) {
                s.trigger_pending = false;
                s.stream.trigger();
            }
            state.dispatch_pipewire();
            calloop::timer::TimeoutAction::Drop
        });
        if inserted.is_err() {
            s.trigger_pending = false;
            s.stream.trigger();
        }
    }
}

fn copy(s: &mut crate::screencast::CastStream, key: StreamKey) {
    let Some(c) = s.capture.as_mut() else { return };
    let Some(b) = s.buffers.get(&c.buffer) else {
        tracing::warn!(stream = key, "buffer gone before the copy");
        return;
    };
    c.copied = true;
    c.frame.copy_with_damage(&b.wl);
}

fn fail(s: &mut crate::screencast::CastStream) {
    if let Some(c) = s.capture.take() {
        c.frame.destroy();
        s.stream.queue_empty(c.buffer);
    }
    s.offer_matched = false;
}
