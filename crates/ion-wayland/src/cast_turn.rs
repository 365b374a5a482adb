//! Frames of a transformed source, turned upright on the way to the
//! consumer.
//!
//! Compositors hand a capture over in the output's buffer orientation (a
//! portrait output's frames arrive sideways, cosmic-comp's nested output's
//! upside down) and say which transform they applied. Most PipeWire
//! consumers ignore the video-transform metadata that could tell them
//! (browsers, GStreamer pipelines, KDE's; docs/research/frame-transforms.md),
//! so the stream carries the upright picture at the upright size, as
//! mutter's and KWin's do.
//!
//! The compositor cannot write a turned picture into the stream's buffers,
//! so a stream whose source is transformed captures into one private
//! *staging* buffer of the buffer orientation, and only what changed is
//! turned from it into the stream buffer being filled: the frame's damage
//! and whatever that buffer missed since it last held a frame. A staging
//! buffer that receives every frame keeps ext-image-copy-capture's damage
//! tracking exact (one buffer, never out of date) where an in-place flip of
//! the stream's own buffers would break it. Untransformed sources keep the
//! zero-copy path.

use std::os::fd::{AsRawFd, OwnedFd};

use ion_core::transform::{turn_into, PixelRect, Plane, Transform};
use wayland_client::protocol::wl_shm::WlShm;
use wayland_client::QueueHandle;

use crate::capture::SharedBuffer;
use crate::screencast::{CastStream, InFlight};
use crate::state::State;

/// The compositor's side of a transformed stream: a wl_buffer of the
/// buffer orientation that every capture of the stream goes into.
pub struct Staging {
    pub shared: SharedBuffer,
    /// Its size (the buffer orientation) and wl_shm format.
    pub width: u32,
    pub height: u32,
    pub format: u32,
    /// The memfd behind `shared` (dropped after it).
    _fd: OwnedFd,
}

impl Drop for Staging {
    fn drop(&mut self) {
        self.shared.wl.destroy();
    }
}

impl Staging {
    fn new(
        shm: &WlShm,
        qh: &QueueHandle<State>,
        width: u32,
        height: u32,
        format: u32,
    ) -> Option<Staging> {
        let size = width.checked_mul(height)?.checked_mul(4)?;
        let fd = rustix::fs::memfd_create(
            "ionchannel-staging",
            rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| tracing::warn!("cannot make a staging buffer: {e}"))
        .ok()?;
        rustix::fs::ftruncate(&fd, u64::from(size))
            .map_err(|e| tracing::warn!("cannot size a staging buffer: {e}"))
            .ok()?;
        // The fd outlives `shared`: both live in this struct, fd last.
        let shared = SharedBuffer::new(shm, qh, fd.as_raw_fd(), size, width, height, format)?;
        Some(Staging {
            shared,
            width,
            height,
            format,
            _fd: fd,
        })
    }
}

impl CastStream {
    /// The size of the compositor's buffers for a stream of `w`×`h`, and
    /// the other way round (a quarter turn trades width and height either
    /// way).
    pub fn turned_size(&self, w: u32, h: u32) -> (u32, u32) {
        self.turn.upright_size(w, h)
    }

    /// The stream's content may be anything after a capture into the
    /// staging buffer was dropped: the next frame turns all of it.
    pub fn staging_unknown(&mut self) {
        if let Some(st) = self.staging.as_mut() {
            st.shared.stale = None;
        }
    }
}

impl State {
    /// Makes sure the stream has a staging buffer if its source is
    /// transformed (and none if not: 8 MB a 1080p stream). False if one is
    /// needed and cannot be made.
    pub(crate) fn prepare_staging(&mut self, key: ion_pipewire::StreamKey) -> bool {
        let (Some(shm), Some(s)) = (self.shm.as_ref(), self.casts.streams.get_mut(&key)) else {
            return false;
        };
        let Some((format, w, h)) = s.format else {
            return false;
        };
        if s.turn == Transform::Normal {
            s.staging = None;
            return true;
        }
        let (bw, bh) = s.turned_size(w, h);
        let format = format.wl_shm();
        if s.staging
            .as_ref()
            .is_some_and(|st| (st.width, st.height, st.format) == (bw, bh, format))
        {
            return true;
        }
        s.staging = Staging::new(shm, &self.qh, bw, bh, format);
        tracing::debug!(
            stream = key,
            transform = s.turn.name(),
            bw,
            bh,
            made = s.staging.is_some(),
            "staging buffer for a transformed source"
        );
        s.staging.is_some()
    }
}

/// Turns the frame just captured into the staging buffer upright into
/// the stream buffer `c.buffer`: the frame's damage and what that buffer
/// missed. `c.damage` becomes the upright damage. `t` is what the
/// compositor applied to this frame.
pub fn turn_frame(s: &mut CastStream, c: &mut InFlight, t: Transform) -> bool {
    let Some((_, w, h)) = s.format else {
        return false;
    };
    let Some(st) = s.staging.as_mut() else {
        return false;
    };
    let (bw, bh) = (st.width, st.height);
    if t.upright_size(bw, bh) != (w, h) {
        tracing::debug!(
            transform = t.name(),
            bw,
            bh,
            w,
            h,
            "staged frame does not fit the stream"
        );
        return false;
    }
    let upright: Vec<PixelRect> = c
        .damage
        .iter()
        .map(|&r| t.upright_rect(bw, bh, r))
        .filter(|r| r.2 > 0 && r.3 > 0)
        .collect();
    let Some(target) = s.buffers.get_mut(&c.buffer) else {
        return false;
    };
    // What this stream buffer needs, upright: all of it when it never held
    // a frame (or the staging content was reset), else what it missed plus
    // this frame's damage.
    let rects: Vec<PixelRect> = match (&target.stale, c.whole) {
        (Some(stale), false) => stale.iter().chain(&upright).copied().collect(),
        _ => vec![(0, 0, w, h)],
    };
    let src_plane = Plane {
        width: bw,
        height: bh,
        stride: bw as usize * 4,
    };
    let dst_plane = Plane {
        width: w,
        height: h,
        stride: w as usize * 4,
    };
    let Some(src) = st.shared.pixels() else {
        return false;
    };
    let Some(dst) = target.pixels() else {
        return false;
    };
    for rect in rects {
        let from = t.buffer_rect(bw, bh, rect);
        if let Err(e) = turn_into(t, src, src_plane, dst, dst_plane, from) {
            tracing::warn!("cannot turn a frame upright: {e}");
            return false;
        }
    }
    st.shared.stale = Some(Vec::new());
    c.damage = upright;
    true
}
