//! wlr-screencopy capture into the streams' own buffers: the compositor's
//! copy is the only copy. A capture is started when the stream's consumer
//! can take a frame; `copy_with_damage` makes the compositor wait for a
//! change, so a static screen costs nothing.

use std::os::fd::{AsRawFd, BorrowedFd};

use wayland_client::protocol::wl_buffer::WlBuffer;
use wayland_client::protocol::wl_shm::{self, WlShm};
use wayland_client::protocol::wl_shm_pool::WlShmPool;
use wayland_client::{Connection, Dispatch, QueueHandle, WEnum};
use wayland_protocols_wlr::screencopy::v1::client::zwlr_screencopy_frame_v1::{
    self, ZwlrScreencopyFrameV1,
};

use crate::state::State;

/// A stream buffer shared with the compositor as a wl_buffer.
pub struct SharedBuffer {
    pub wl: WlBuffer,
    /// Bytes of the shared memory.
    pub size: u32,
    /// The stream's memfd (owned by the stream until BufferRemoved, which
    /// drops this first).
    fd: i32,
    /// Our own view of the memory, made only when a frame has to be
    /// turned upside down (the one case where we touch pixels).
    map: Option<Mapping>,
    /// What changed on screen since this buffer last received a frame
    /// (None: all of it, e.g. never filled). ext-image-copy-capture asks
    /// for it, so the compositor can copy only that.
    pub stale: Option<Vec<(u32, u32, u32, u32)>>,
    /// A dmabuf: never mapped here (its memory may be the GPU's).
    dmabuf: bool,
    /// Bytes per row: the allocator's for a dmabuf (GPUs pad rows),
    /// width × 4 for shm.
    pub stride: u32,
}

/// A shared mapping of a buffer's memory, unmapped on drop.
struct Mapping {
    ptr: *mut std::ffi::c_void,
    len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned; no slice into it
        // outlives the `&mut self` borrow that made it.
        if let Err(e) = unsafe { rustix::mm::munmap(self.ptr, self.len) } {
            tracing::warn!("munmap of a frame buffer failed: {e}");
        }
    }
}

impl SharedBuffer {
    /// Wraps the stream buffer's memfd as a wl_buffer of the negotiated
    /// format. SAFETY of the borrow: `fd` stays open in the stream's data
    /// until its BufferRemoved event, which is handled after this.
    pub fn new(
        shm: &WlShm,
        qh: &QueueHandle<State>,
        fd: i32,
        size: u32,
        width: u32,
        height: u32,
        format: u32,
    ) -> Option<Self> {
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let stride = width.checked_mul(4)?;
        let pool: WlShmPool = shm.create_pool(fd, i32::try_from(size).ok()?, qh, ());
        let format = wl_shm::Format::try_from(format).ok()?;
        let wl = pool.create_buffer(
            0,
            i32::try_from(width).ok()?,
            i32::try_from(height).ok()?,
            i32::try_from(stride).ok()?,
            format,
            qh,
            (),
        );
        // The buffer keeps the memory; the pool is not needed any more.
        pool.destroy();
        Some(Self {
            wl,
            size,
            fd: fd.as_raw_fd(),
            map: None,
            stale: None,
            dmabuf: false,
            stride,
        })
    }

    /// Wraps the stream buffer's dmabuf (see [`crate::dmabuf::wl_buffer`]).
    pub fn from_dmabuf(wl: WlBuffer, size: u32, fd: i32, stride: u32) -> Self {
        Self {
            wl,
            size,
            fd,
            map: None,
            stale: None,
            dmabuf: true,
            stride,
        }
    }

    /// Adds a frame's damage to what this buffer misses; past a few
    /// rectangles, the whole buffer (the compositor gains little from a
    /// long list).
    pub fn add_stale(&mut self, damage: &[(u32, u32, u32, u32)]) {
        const MAX_RECTS: usize = 16;
        if let Some(stale) = self.stale.as_mut() {
            stale.extend_from_slice(damage);
            if stale.len() > MAX_RECTS {
                self.stale = None;
            }
        }
    }

    /// The buffer's bytes, mapped on first use; None for a dmabuf.
    pub fn pixels(&mut self) -> Option<&mut [u8]> {
        if self.dmabuf {
            return None;
        }
        if self.map.is_none() {
            let len = usize::try_from(self.size).ok()?;
            // SAFETY: `fd` is open (see the field); a fresh shared mapping
            // of `len` bytes of it, which the memfd has (its size was set
            // before the buffer was added, and shrinking is sealed).
            let ptr = unsafe {
                let fd = BorrowedFd::borrow_raw(self.fd);
                rustix::mm::mmap(
                    std::ptr::null_mut(),
                    len,
                    rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                    rustix::mm::MapFlags::SHARED,
                    fd,
                    0,
                )
            };
            match ptr {
                Ok(ptr) => self.map = Some(Mapping { ptr, len }),
                Err(e) => {
                    tracing::warn!("cannot map a frame buffer: {e}");
                    return None;
                }
            }
        }
        let m = self.map.as_ref()?;
        // SAFETY: the mapping lives as long as `self`, and the returned
        // borrow of `self` keeps any other Rust access out. The compositor
        // writes it only between copy and ready, never while we flip.
        Some(unsafe { std::slice::from_raw_parts_mut(m.ptr.cast::<u8>(), m.len) })
    }
}

/// What a frame reported, for the stream to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEvent {
    /// The compositor's buffer requirements (checked against ours): an
    /// shm layout.
    Buffer(ion_core::frame::Offer<u32>),
    /// A dmabuf the compositor can fill (v3): its DRM fourcc and size.
    LinuxDmabuf {
        format: u32,
        width: u32,
        height: u32,
    },
    /// All requirements sent (v3): copy now.
    BufferDone,
    Damage {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
    },
    /// The frame is in our buffer; `y_invert` if it is upside down.
    Ready {
        y_invert: bool,
        nsec: u64,
    },
    Failed,
}

impl Dispatch<ZwlrScreencopyFrameV1, u64> for State {
    fn event(
        state: &mut Self,
        _: &ZwlrScreencopyFrameV1,
        event: zwlr_screencopy_frame_v1::Event,
        key: &u64,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let ev = match event {
            zwlr_screencopy_frame_v1::Event::Buffer {
                format,
                width,
                height,
                stride,
            } => FrameEvent::Buffer(ion_core::frame::Offer {
                format: match format {
                    WEnum::Value(f) => f.into(),
                    WEnum::Unknown(f) => f,
                },
                width,
                height,
                stride,
            }),
            zwlr_screencopy_frame_v1::Event::LinuxDmabuf {
                format,
                width,
                height,
            } => FrameEvent::LinuxDmabuf {
                format,
                width,
                height,
            },
            zwlr_screencopy_frame_v1::Event::BufferDone => FrameEvent::BufferDone,
            zwlr_screencopy_frame_v1::Event::Damage {
                x,
                y,
                width,
                height,
            } => FrameEvent::Damage {
                x,
                y,
                width,
                height,
            },
            zwlr_screencopy_frame_v1::Event::Flags { flags } => {
                let y_invert = match flags {
                    WEnum::Value(f) => f.contains(zwlr_screencopy_frame_v1::Flags::YInvert),
                    WEnum::Unknown(f) => f & 1 != 0,
                };
                state.casts.set_y_invert(*key, y_invert);
                return;
            }
            zwlr_screencopy_frame_v1::Event::Ready {
                tv_sec_hi,
                tv_sec_lo,
                tv_nsec,
            } => {
                let secs = (u64::from(tv_sec_hi) << 32) | u64::from(tv_sec_lo);
                FrameEvent::Ready {
                    y_invert: false,
                    nsec: secs.saturating_mul(1_000_000_000) + u64::from(tv_nsec),
                }
            }
            zwlr_screencopy_frame_v1::Event::Failed => FrameEvent::Failed,
            _ => return,
        };
        state.on_frame_event(*key, ev);
    }
}

wayland_client::delegate_noop!(State: ignore WlShmPool);
wayland_client::delegate_noop!(State: ignore WlBuffer);
