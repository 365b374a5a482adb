//! ScreenCast streams on the media thread: one PipeWire `Video/Source` node
//! per selected output, created for a session and destroyed with it.
//!
//! Capture into the streams' buffers (wlr-screencopy, ext-image-copy-
//! capture) plugs in here; until it does, a stream negotiates its format
//! and allocates its buffers but carries no frames.

use std::collections::HashMap;

use ion_pipewire::{PipeWire, ShmFormat, StreamEvent, StreamKey, VideoParams, VideoStream};
use tokio::sync::oneshot;

use crate::capture::SharedBuffer;
use crate::command::{OutputInfo, SessionId, StreamInfo};
use wayland_protocols_wlr::screencopy::v1::client::zwlr_screencopy_frame_v1::ZwlrScreencopyFrameV1;

/// Streams of one session being created: answered when every node has its id.
pub struct PendingStreams {
    pub session: SessionId,
    pub keys: Vec<StreamKey>,
    pub reply: oneshot::Sender<Result<Vec<StreamInfo>, String>>,
}

pub struct CastStream {
    pub session: SessionId,
    pub output: OutputInfo,
    /// Dropping it removes the node.
    pub stream: VideoStream,
    pub node_id: Option<u32>,
    /// Negotiated format and pixel size.
    pub format: Option<(ShmFormat, u32, u32)>,
    /// The consumer's frame-rate cap (0: none).
    pub max_fps: u32,
    /// When the last capture started, for the cap.
    pub last_capture: Option<std::time::Instant>,
    /// A delayed capture is pending (the cap, or a retry, held it back).
    pub capture_pending: bool,
    /// The stream's buffers as wl_buffers, by pw_buffer address.
    pub buffers: HashMap<usize, SharedBuffer>,
    pub streaming: bool,
    /// The capture in flight, if any.
    pub capture: Option<InFlight>,
    /// The compositor offered a buffer matching ours for this capture.
    pub offer_matched: bool,
    pub cursor_embedded: bool,
    pub frames: u64,
    /// Captures failed in a row (reset by a frame); too many end the stream.
    pub failures: u32,
    /// The consumer has no frame of the current format yet: the next
    /// capture must not wait for damage (the screen may never change).
    pub need_full: bool,
    /// Captures in a row that found no free buffer (for the back-off).
    pub starved: u32,
}

/// A screencopy frame being copied into a stream buffer.
pub struct InFlight {
    pub frame: ZwlrScreencopyFrameV1,
    pub buffer: usize,
    pub damage: Vec<(u32, u32, u32, u32)>,
    /// Copy now, without waiting for damage (a first frame).
    pub full: bool,
    pub y_invert: bool,
    /// The compositor's buffer offers for this capture.
    pub offers: Vec<ion_core::frame::Offer<u32>>,
}

#[derive(Default)]
pub struct ScreenCasts {
    pub pipewire: Option<PipeWire>,
    pub streams: HashMap<StreamKey, CastStream>,
    pub pending: Vec<PendingStreams>,
    /// Streams to trigger once the current events are handled.
    pub kicks: Vec<StreamKey>,
    next_key: StreamKey,
}

/// Frame rate cap offered to consumers.
pub const MAX_FPS: u32 = 60;

impl ScreenCasts {
    pub fn new(pipewire: Option<PipeWire>) -> Self {
        Self {
            pipewire,
            ..Default::default()
        }
    }

    pub fn create(
        &mut self,
        session: SessionId,
        outputs: Vec<OutputInfo>,
        cursor_embedded: bool,
        reply: oneshot::Sender<Result<Vec<StreamInfo>, String>>,
    ) {
        let Some(pw) = self.pipewire.as_ref() else {
            let _ = reply.send(Err("PipeWire is not available".into()));
            return;
        };
        let mut keys = Vec::new();
        for output in outputs {
            self.next_key += 1;
            let key = self.next_key;
            let params = VideoParams {
                width: u32::try_from(output.mode_width).unwrap_or(0),
                height: u32::try_from(output.mode_height).unwrap_or(0),
                // What every wlroots shm capture offers; the capture backend
                // narrows this to the compositor's real list.
                formats: vec![ShmFormat::Xrgb8888, ShmFormat::Argb8888],
                max_fps: MAX_FPS,
            };
            let name = format!("ionchannel-{}-{}", session, output.name);
            match pw.create_stream(key, &name, params) {
                Ok(stream) => {
                    keys.push(key);
                    self.streams.insert(
                        key,
                        CastStream {
                            session,
                            output,
                            stream,
                            node_id: None,
                            format: None,
                            max_fps: 0,
                            last_capture: None,
                            capture_pending: false,
                            buffers: HashMap::new(),
                            streaming: false,
                            capture: None,
                            offer_matched: false,
                            cursor_embedded,
                            frames: 0,
                            failures: 0,
                            need_full: true,
                            starved: 0,
                        },
                    );
                }
                Err(e) => {
                    // All or nothing: undo what was made.
                    for k in keys {
                        self.streams.remove(&k);
                    }
                    let _ = reply.send(Err(e.to_string()));
                    return;
                }
            }
        }
        self.pending.push(PendingStreams {
            session,
            keys,
            reply,
        });
    }

    pub fn destroy(&mut self, session: SessionId) {
        let before = self.streams.len();
        self.streams.retain(|_, s| s.session != session);
        let removed = before - self.streams.len();
        if removed > 0 {
            tracing::info!(session, streams = removed, "streams destroyed");
        }
        self.pending.retain(|p| p.session != session);
    }

    /// Ends the streams of an unplugged output (by its wl_output global).
    /// Returns the sessions left with no stream at all: they must close.
    /// (Tested end to end on the testing stack, sway 1.12 and labwc 0.20:
    /// `unplugging_outputs_ends_their_streams_then_the_session`; sway 1.7's
    /// headless backend cannot unplug an output.)
    pub fn output_removed(&mut self, global: u32) -> Vec<SessionId> {
        let mut touched = Vec::new();
        self.streams.retain(|_, s| {
            if s.output.global != global {
                return true;
            }
            if let Some(c) = s.capture.take() {
                c.frame.destroy();
            }
            tracing::info!(session = s.session, output = %s.output.name, "output gone: its stream ends");
            touched.push(s.session);
            false
        });
        touched.sort_unstable();
        touched.dedup();
        touched
            .into_iter()
            .filter(|session| !self.streams.values().any(|s| s.session == *session))
            .collect()
    }

    pub fn set_y_invert(&mut self, key: StreamKey, y_invert: bool) {
        if let Some(c) = self.streams.get_mut(&key).and_then(|s| s.capture.as_mut()) {
            c.y_invert = y_invert;
        }
    }

    /// Runs PipeWire's callbacks and acts on what they reported. Returns
    /// the sessions whose streams failed (the caller closes them), whether
    /// PipeWire itself is gone, and the events capture must act on.
    pub fn dispatch(&mut self) -> (Vec<SessionId>, Option<String>, Vec<StreamEvent>) {
        let Some(pw) = self.pipewire.as_ref() else {
            return (Vec::new(), None, Vec::new());
        };
        pw.iterate();
        let mut failed = Vec::new();
        let mut gone = None;
        let mut for_capture = Vec::new();
        for ev in pw.drain_events() {
            match ev {
                StreamEvent::NodeId { key, node_id } => {
                    if let Some(s) = self.streams.get_mut(&key) {
                        s.node_id = Some(node_id);
                        tracing::info!(session = s.session, output = %s.output.name, node_id, "stream node ready");
                    }
                }
                StreamEvent::Error { key, message } => {
                    if let Some(s) = self.streams.get(&key) {
                        tracing::warn!(session = s.session, "stream failed: {message}");
                        failed.push(s.session);
                    }
                }
                StreamEvent::Disconnected { reason } => gone = Some(reason),
                StreamEvent::Format {
                    key,
                    format,
                    width,
                    height,
                    max_fps,
                } => {
                    tracing::info!(
                        stream = key,
                        ?format,
                        width,
                        height,
                        max_fps,
                        "consumer format"
                    );
                    if let Some(s) = self.streams.get_mut(&key) {
                        s.format = Some((format, width, height));
                        s.need_full = true;
                        s.max_fps = max_fps;
                    }
                }
                other => for_capture.push(other),
            }
        }
        self.answer_pending();
        (failed, gone, for_capture)
    }

    fn answer_pending(&mut self) {
        let streams = &self.streams;
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| {
                p.keys
                    .iter()
                    .all(|k| streams.get(k).is_some_and(|s| s.node_id.is_some()))
            });
        self.pending = waiting;
        for p in done {
            let infos = p
                .keys
                .iter()
                .filter_map(|k| streams.get(k))
                .filter_map(|s| {
                    Some(StreamInfo {
                        node_id: s.node_id?,
                        output: s.output.clone(),
                    })
                })
                .collect();
            let _ = p.reply.send(Ok(infos));
        }
    }
}
