//! ScreenCast streams on the media thread: one PipeWire `Video/Source` node
//! per selected output, created for a session and destroyed with it.
//!
//! Capture into the streams' buffers comes from `cast_stream.rs`, through
//! ext-image-copy-capture (`cast_image_copy.rs`) where the compositor has
//! it, wlr-screencopy otherwise.

use std::collections::HashMap;
use std::rc::Rc;

use ion_core::transform::Transform;
use ion_pipewire::{
    DmabufAllocator, PipeWire, ShmFormat, StreamEvent, StreamKey, VideoParams, VideoStream,
};
use tokio::sync::oneshot;

use crate::capture::SharedBuffer;
use crate::command::{OutputInfo, SessionId, StreamInfo, StreamSource, WindowInfo};
use crate::image_copy::CaptureSession;
use wayland_protocols::ext::foreign_toplevel_list::v1::client::ext_foreign_toplevel_handle_v1::ExtForeignToplevelHandleV1;
use wayland_protocols::ext::image_copy_capture::v1::client::ext_image_copy_capture_frame_v1::ExtImageCopyCaptureFrameV1;
use wayland_protocols_wlr::screencopy::v1::client::zwlr_screencopy_frame_v1::ZwlrScreencopyFrameV1;

/// Streams of one session being created: answered when every node has its id.
pub struct PendingStreams {
    pub session: SessionId,
    pub keys: Vec<StreamKey>,
    pub reply: oneshot::Sender<Result<Vec<StreamInfo>, String>>,
}

/// What a stream shows.
pub enum CastSource {
    Output(OutputInfo),
    Window {
        window: WindowInfo,
        handle: ExtForeignToplevelHandleV1,
    },
}

impl CastSource {
    /// For logs and the node's name.
    pub fn name(&self) -> String {
        match self {
            CastSource::Output(o) => o.name.clone(),
            CastSource::Window { window, .. } => format!("window-{}", window.identifier),
        }
    }

    pub fn output_global(&self) -> Option<u32> {
        match self {
            CastSource::Output(o) => Some(o.global),
            CastSource::Window { .. } => None,
        }
    }
}

pub struct CastStream {
    pub session: SessionId,
    pub source: CastSource,
    /// The size the stream offers now (what the consumer will get).
    pub offered: (u32, u32),
    /// The shm formats it offers now.
    pub offered_formats: Vec<ShmFormat>,
    /// The size and formats are the source's real ones (with
    /// ext-image-copy-capture they are known only from the capture
    /// session's first constraints): Start is answered only then, so the
    /// consumer's first negotiation is its last.
    pub sized: bool,
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
    pub cursor: crate::command::CursorMode,
    pub frames: u64,
    /// Captures failed in a row (reset by a frame); too many end the stream.
    pub failures: u32,
    /// The consumer has no frame of the current format yet: the next
    /// capture must not wait for damage (the screen may never change).
    pub need_full: bool,
    /// Whole frames still to send after a (re)negotiation, and not before
    /// when: the first may reach PipeWire before the consumer's side of
    /// the link runs and be dropped (seen on PipeWire 0.3 and 1.6), and on
    /// a static screen nothing would follow it. A second one a little
    /// later makes the consumer's first picture certain.
    pub full_frames_left: u8,
    pub full_not_before: Option<std::time::Instant>,
    /// Captures in a row that found no free buffer (for the back-off).
    pub starved: u32,
    /// The ext-image-copy-capture session, when that path is used.
    pub image_session: Option<CaptureSession>,
    /// A dequeued buffer kept for the next capture (one whose capture
    /// was dropped, see `consumer_joined`).
    pub spare: Option<usize>,
    /// When a buffer last went to the consumer.
    pub last_queued: Option<std::time::Instant>,
    /// The pointer, for cursor mode metadata.
    pub cursor_track: Option<crate::cast_cursor::CursorTrack>,
    /// The transform the compositor applies to this source's frames (an
    /// output's wl_output transform, checked against each ext frame's):
    /// the stream is negotiated at the upright size.
    pub turn: ion_core::transform::Transform,
    /// Where a transformed source's frames are captured (see cast_turn.rs).
    pub staging: Option<crate::cast_turn::Staging>,
    /// Formats this stream offers as LINEAR dmabufs (none for a
    /// transformed source, whose frames are turned on the CPU; emptied
    /// when a dmabuf cannot be made or used).
    pub dmabuf_formats: Vec<ShmFormat>,
    /// The consumer took a dmabuf format: the buffers are dmabufs.
    pub dmabuf: bool,
    /// wlr-screencopy: a frame asked for only to read the compositor's
    /// buffer offers before Start is answered (never copied), with the
    /// offers so far.
    pub probe: Option<(ZwlrScreencopyFrameV1, Vec<ion_core::frame::Offer<u32>>)>,
    /// The stream's own wlr-screencopy manager: wlroots keeps a binding's
    /// damage per output, so streams of one output sharing a binding took
    /// each other's damage, and a capture started after the other's copy
    /// waited for a change that might never come (found by
    /// `two_streams_of_one_output_both_get_the_last_picture`).
    pub screencopy: Option<wayland_protocols_wlr::screencopy::v1::client::zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1>,
}

impl CastStream {
    /// Destroys the capture in flight and the capture session (the
    /// stream's buffers go with the stream).
    pub fn end_capture(&mut self) {
        if let Some(c) = self.capture.take() {
            c.frame.destroy();
        }
        if let Some((frame, _)) = self.probe.take() {
            frame.destroy();
        }
        if let Some(session) = self.image_session.take() {
            session.destroy();
        }
        self.cursor_track = None;
        self.staging = None;
    }
}

impl Drop for CastStream {
    // However a stream goes (session closed, PipeWire gone, shutdown), its
    // compositor-side objects go with it.
    fn drop(&mut self) {
        self.end_capture();
        if let Some(manager) = self.screencopy.take() {
            manager.destroy();
        }
    }
}

/// A frame object of either capture protocol.
pub enum CaptureFrame {
    Screencopy(ZwlrScreencopyFrameV1),
    ImageCopy(ExtImageCopyCaptureFrameV1),
}

impl CaptureFrame {
    pub fn destroy(&self) {
        match self {
            CaptureFrame::Screencopy(f) => f.destroy(),
            CaptureFrame::ImageCopy(f) => f.destroy(),
        }
    }
}

/// A frame being copied into a stream buffer.
pub struct InFlight {
    pub frame: CaptureFrame,
    pub buffer: usize,
    pub damage: Vec<(u32, u32, u32, u32)>,
    /// Copy now, without waiting for damage (a first frame).
    pub full: bool,
    pub y_invert: bool,
    /// Captured into the stream's staging buffer (to be turned upright).
    pub staged: bool,
    /// Turn the whole picture, not only the damage (the staging buffer's
    /// content was unknown before this capture).
    pub whole: bool,
    /// The transform the frame says the compositor applied (ext).
    pub transform: Option<ion_core::transform::Transform>,
    /// The compositor's buffer offers for this capture (screencopy).
    pub offers: Vec<ion_core::frame::Offer<u32>>,
    /// The compositor's timestamp (ext-image-copy-capture sends it apart).
    pub pts_ns: Option<u64>,
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

/// Whole frames sent after each (re)negotiation or new consumer.
pub const FULL_FRAMES: u8 = 2;
/// The wait before the repeated whole frame.
pub const FULL_FRAME_REPEAT: std::time::Duration = std::time::Duration::from_millis(60);

/// The highest maxFramerate offered to consumers. A consumer that names no
/// cap of its own negotiates this one, and capture takes it as no cap at
/// all (at 60 it held a 62 Hz output back by 2 frames a second, measured
/// against xdg-desktop-portal-wlr).
pub const MAX_FPS: u32 = 60;

impl ScreenCasts {
    pub fn new(pipewire: Option<PipeWire>) -> Self {
        Self {
            pipewire,
            ..Default::default()
        }
    }

    /// Creates one stream per source (all or nothing) and returns their
    /// keys; the reply is sent once every node has its id and size.
    pub fn create(
        &mut self,
        session: SessionId,
        sources: Vec<CastSource>,
        cursor: crate::command::CursorMode,
        dmabuf: Option<(Rc<dyn DmabufAllocator>, Vec<ShmFormat>)>,
        await_constraints: bool,
        reply: oneshot::Sender<Result<Vec<StreamInfo>, String>>,
    ) -> Vec<StreamKey> {
        let Some(pw) = self.pipewire.as_ref() else {
            let _ = reply.send(Err("PipeWire is not available".into()));
            return Vec::new();
        };
        let mut keys = Vec::new();
        for source in sources {
            self.next_key += 1;
            let key = self.next_key;
            // An output's frames come in its buffer orientation, turned by
            // its transform; the stream carries them upright.
            let turn = match &source {
                CastSource::Output(o) => u32::try_from(o.transform)
                    .ok()
                    .and_then(Transform::from_wl)
                    .unwrap_or_default(),
                CastSource::Window { .. } => Transform::Normal,
            };
            let (width, height, sized) = match &source {
                CastSource::Output(o) => {
                    let (w, h) = turn.upright_size(
                        u32::try_from(o.mode_width).unwrap_or(0),
                        u32::try_from(o.mode_height).unwrap_or(0),
                    );
                    (w, h, !await_constraints)
                }
                // Replaced by the capture session's buffer size before
                // anyone can connect (Start waits for it).
                CastSource::Window { .. } => (64, 64, false),
            };
            // A transformed source is turned on the CPU, into shm.
            let dmabuf_formats = match (&dmabuf, turn) {
                (Some((_, formats)), Transform::Normal) => formats.clone(),
                _ => Vec::new(),
            };
            let params = VideoParams {
                width,
                height,
                // What every wlroots shm capture offers; the capture backend
                // narrows this to the compositor's real list.
                formats: vec![ShmFormat::Xrgb8888, ShmFormat::Argb8888],
                max_fps: MAX_FPS,
                cursor_meta: cursor == crate::command::CursorMode::Metadata,
                dmabuf: dmabuf_formats.clone(),
            };
            let name = format!("ionchannel-{}-{}", session, source.name());
            let allocator = dmabuf.as_ref().map(|(a, _)| a.clone());
            match pw.create_stream(key, &name, params, allocator) {
                Ok(stream) => {
                    keys.push(key);
                    self.streams.insert(
                        key,
                        CastStream {
                            session,
                            source,
                            offered: (width, height),
                            offered_formats: vec![ShmFormat::Xrgb8888, ShmFormat::Argb8888],
                            sized,
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
                            cursor,
                            frames: 0,
                            failures: 0,
                            need_full: true,
                            full_frames_left: FULL_FRAMES,
                            full_not_before: None,
                            starved: 0,
                            image_session: None,
                            cursor_track: None,
                            last_queued: None,
                            spare: None,
                            turn,
                            staging: None,
                            dmabuf_formats,
                            dmabuf: false,
                            probe: None,
                            screencopy: None,
                        },
                    );
                }
                Err(e) => {
                    // All or nothing: undo what was made.
                    for k in keys {
                        self.streams.remove(&k);
                    }
                    let _ = reply.send(Err(e.to_string()));
                    return Vec::new();
                }
            }
        }
        self.pending.push(PendingStreams {
            session,
            keys: keys.clone(),
            reply,
        });
        keys
    }

    pub fn destroy(&mut self, session: SessionId) {
        let before = self.streams.len();
        self.streams.retain(|_, s| {
            if s.session != session {
                return true;
            }
            s.end_capture();
            false
        });
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
            if s.source.output_global() != Some(global) {
                return true;
            }
            s.end_capture();
            tracing::info!(session = s.session, output = %s.source.name(), "output gone: its stream ends");
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

    /// Ends one stream whose source is gone (the compositor stopped its
    /// capture session). Returns its session if that has no stream left.
    pub fn source_gone(&mut self, key: StreamKey) -> Option<SessionId> {
        let mut s = self.streams.remove(&key)?;
        tracing::info!(session = s.session, source = %s.source.name(), "capture source gone: its stream ends");
        s.end_capture();
        let session = s.session;
        drop(s);
        (!self.streams.values().any(|s| s.session == session)).then_some(session)
    }

    pub fn set_y_invert(&mut self, key: StreamKey, y_invert: bool) {
        if let Some(c) = self.streams.get_mut(&key).and_then(|s| s.capture.as_mut()) {
            c.y_invert = y_invert;
        }
    }

    /// Runs PipeWire's callbacks (`iterate`; otherwise only what callbacks
    /// queued already) and acts on what they reported. Returns the
    /// sessions whose streams failed (the caller closes them), whether
    /// PipeWire itself is gone, and the events capture must act on.
    pub fn dispatch(
        &mut self,
        iterate: bool,
    ) -> (Vec<SessionId>, Option<String>, Vec<StreamEvent>) {
        let Some(pw) = self.pipewire.as_ref() else {
            return (Vec::new(), None, Vec::new());
        };
        if iterate {
            pw.iterate();
        }
        let mut failed = Vec::new();
        let mut gone = None;
        let mut for_capture = Vec::new();
        for ev in pw.drain_events() {
            match ev {
                StreamEvent::NodeId { key, node_id } => {
                    if let Some(s) = self.streams.get_mut(&key) {
                        s.node_id = Some(node_id);
                        tracing::info!(session = s.session, source = %s.source.name(), node_id, "stream node ready");
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
                    dmabuf,
                } => {
                    tracing::info!(
                        stream = key,
                        ?format,
                        width,
                        height,
                        max_fps,
                        dmabuf,
                        "consumer format"
                    );
                    if let Some(s) = self.streams.get_mut(&key) {
                        s.format = Some((format, width, height));
                        s.dmabuf = dmabuf;
                        s.need_full = true;
                        s.full_frames_left = FULL_FRAMES;
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
                // A stream gone before it was ready (its window closed)
                // fails the whole request.
                p.keys.iter().any(|k| !streams.contains_key(k))
                    || p.keys.iter().all(|k| {
                        streams
                            .get(k)
                            .is_some_and(|s| s.node_id.is_some() && s.sized)
                    })
            });
        self.pending = waiting;
        for p in done {
            if p.keys.iter().any(|k| !streams.contains_key(k)) {
                let _ = p
                    .reply
                    .send(Err("a source went away before its stream was ready".into()));
                continue;
            }
            let infos = p
                .keys
                .iter()
                .filter_map(|k| streams.get(k))
                .filter_map(|s| {
                    Some(StreamInfo {
                        node_id: s.node_id?,
                        source: match &s.source {
                            CastSource::Output(o) => StreamSource::Output(o.clone()),
                            CastSource::Window { window, .. } => StreamSource::Window {
                                window: window.clone(),
                                width: s.offered.0,
                                height: s.offered.1,
                            },
                        },
                    })
                })
                .collect();
            let _ = p.reply.send(Ok(infos));
        }
    }

    /// Answers what became ready outside a PipeWire dispatch (a window's
    /// size arrived).
    pub fn answer_ready(&mut self) {
        self.answer_pending();
    }
}
