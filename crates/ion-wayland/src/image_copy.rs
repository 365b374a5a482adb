//! ext-image-copy-capture-v1: the compositor's events for capture sessions
//! and frames, turned into [`SessionEvent`]s and [`ImageFrameEvent`]s for
//! the stream logic (`cast_image_copy.rs`).
//!
//! A session is made per stream from an image capture source (an output
//! here; a toplevel for window sources). Unlike wlr-screencopy, the
//! session says its buffer constraints once (and again when they change),
//! and every frame after the session's first waits for the source to
//! change: damage-driven capture is the protocol's own behaviour.

use wayland_client::{Connection, Dispatch, QueueHandle, WEnum};
use wayland_protocols::ext::image_capture_source::v1::client::{
    ext_image_capture_source_v1::ExtImageCaptureSourceV1,
    ext_output_image_capture_source_manager_v1::ExtOutputImageCaptureSourceManagerV1,
};
use wayland_protocols::ext::image_copy_capture::v1::client::{
    ext_image_copy_capture_frame_v1::{self, ExtImageCopyCaptureFrameV1, FailureReason},
    ext_image_copy_capture_manager_v1::ExtImageCopyCaptureManagerV1,
    ext_image_copy_capture_session_v1::{self, ExtImageCopyCaptureSessionV1},
};

use ion_pipewire::StreamKey;

use crate::state::State;

/// The globals this capture path needs.
pub struct ImageCopy {
    pub manager: ExtImageCopyCaptureManagerV1,
    pub outputs: ExtOutputImageCaptureSourceManagerV1,
}

/// A session's buffer constraints as they stand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    pub size: Option<(u32, u32)>,
    /// wl_shm format codes.
    pub shm_formats: Vec<u32>,
    /// dmabuf formats (DRM fourcc) with their modifiers.
    pub dmabuf_formats: Vec<(u32, Vec<u64>)>,
}

/// A capture session of one stream.
pub struct CaptureSession {
    pub session: ExtImageCopyCaptureSessionV1,
    pub source: ExtImageCaptureSourceV1,
    /// Constraints being received (a batch ends with `done`).
    pub incoming: Constraints,
    /// The last complete batch; None until the first `done`.
    pub constraints: Option<Constraints>,
    /// No frame was captured in this session yet: the next is immediate
    /// and carries full damage.
    pub fresh: bool,
    /// A capture failed on buffer constraints that still look current:
    /// new ones are coming, capture waits for their `done`.
    pub awaiting_update: bool,
}

impl CaptureSession {
    pub fn destroy(self) {
        self.session.destroy();
        self.source.destroy();
    }
}

impl Drop for ImageCopy {
    fn drop(&mut self) {
        self.manager.destroy();
        self.outputs.destroy();
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    BufferSize { width: u32, height: u32 },
    ShmFormat(u32),
    DmabufFormat { format: u32, modifiers: Vec<u64> },
    Done,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageFrameEvent {
    Transform(u32),
    Damage {
        x: i32,
        y: i32,
        width: i32,
        height: i32,
    },
    PresentationTime {
        nsec: u64,
    },
    Ready,
    Failed(FailReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    Unknown,
    /// Our buffer no longer fits the session's constraints: new ones follow.
    BufferConstraints,
    /// The source is gone (output unplugged, window closed).
    Stopped,
}

impl Dispatch<ExtImageCopyCaptureSessionV1, StreamKey> for State {
    fn event(
        state: &mut Self,
        _: &ExtImageCopyCaptureSessionV1,
        event: ext_image_copy_capture_session_v1::Event,
        key: &StreamKey,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use ext_image_copy_capture_session_v1::Event as E;
        let ev = match event {
            E::BufferSize { width, height } => SessionEvent::BufferSize { width, height },
            E::ShmFormat { format } => SessionEvent::ShmFormat(match format {
                WEnum::Value(f) => f.into(),
                WEnum::Unknown(f) => f,
            }),
            E::DmabufFormat { format, modifiers } => SessionEvent::DmabufFormat {
                format,
                // An array of native-endian u64.
                modifiers: modifiers
                    .chunks_exact(8)
                    .filter_map(|m| <[u8; 8]>::try_from(m).ok())
                    .map(u64::from_ne_bytes)
                    .collect(),
            },
            E::Done => SessionEvent::Done,
            E::Stopped => SessionEvent::Stopped,
            // The device comes from linux-dmabuf's feedback: one device
            // for both (a compositor names the same one).
            _ => return,
        };
        state.on_session_event(*key, ev);
    }
}

impl Dispatch<ExtImageCopyCaptureFrameV1, StreamKey> for State {
    fn event(
        state: &mut Self,
        _: &ExtImageCopyCaptureFrameV1,
        event: ext_image_copy_capture_frame_v1::Event,
        key: &StreamKey,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use ext_image_copy_capture_frame_v1::Event as E;
        let ev = match event {
            E::Transform { transform } => ImageFrameEvent::Transform(match transform {
                WEnum::Value(t) => t.into(),
                WEnum::Unknown(t) => t,
            }),
            E::Damage {
                x,
                y,
                width,
                height,
            } => ImageFrameEvent::Damage {
                x,
                y,
                width,
                height,
            },
            E::PresentationTime {
                tv_sec_hi,
                tv_sec_lo,
                tv_nsec,
            } => {
                let secs = (u64::from(tv_sec_hi) << 32) | u64::from(tv_sec_lo);
                ImageFrameEvent::PresentationTime {
                    nsec: secs.saturating_mul(1_000_000_000) + u64::from(tv_nsec),
                }
            }
            E::Ready => ImageFrameEvent::Ready,
            E::Failed { reason } => ImageFrameEvent::Failed(match reason {
                WEnum::Value(FailureReason::BufferConstraints) => FailReason::BufferConstraints,
                WEnum::Value(FailureReason::Stopped) => FailReason::Stopped,
                _ => FailReason::Unknown,
            }),
            _ => return,
        };
        state.on_image_frame_event(*key, ev);
    }
}

wayland_client::delegate_noop!(State: ignore ExtImageCopyCaptureManagerV1);
wayland_client::delegate_noop!(State: ignore ExtOutputImageCaptureSourceManagerV1);
wayland_client::delegate_noop!(State: ignore ExtImageCaptureSourceV1);
