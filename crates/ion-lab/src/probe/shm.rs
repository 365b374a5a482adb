//! wl_shm buffers backed by a memfd each.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use wayland_client::protocol::{wl_buffer::WlBuffer, wl_shm, wl_shm::WlShm};
use wayland_client::{Dispatch, QueueHandle};

/// A shared, writable memory mapping, unmapped on drop.
struct Mapping {
    ptr: *mut std::ffi::c_void,
    len: usize,
}

impl Mapping {
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is a live MAP_SHARED read-write mapping of `len`
        // bytes owned by `self`; the borrow of `self` keeps it alive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `ShmBuffer::new`;
        // no slice into it outlives `self`.
        if let Err(err) = unsafe { rustix::mm::munmap(self.ptr, self.len) } {
            tracing::warn!("munmap of a shm buffer failed: {err}");
        }
    }
}

/// User data of a probe `wl_buffer`: set while the compositor holds it.
#[derive(Debug, Default, Clone)]
pub struct BufferBusy(pub Arc<AtomicBool>);

/// An XRGB8888 `wl_buffer` with its own memfd and mapping.
pub struct ShmBuffer {
    /// The protocol object.
    pub buffer: WlBuffer,
    busy: BufferBusy,
    map: Mapping,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per row.
    pub stride: usize,
}

impl ShmBuffer {
    /// Allocates a `width`x`height` XRGB8888 buffer (zero-filled).
    pub fn new<D>(shm: &WlShm, qh: &QueueHandle<D>, width: u32, height: u32) -> Result<Self>
    where
        D: Dispatch<wayland_client::protocol::wl_shm_pool::WlShmPool, ()>
            + Dispatch<WlBuffer, BufferBusy>
            + 'static,
    {
        let stride = width as usize * 4;
        let len = stride * height as usize;
        anyhow::ensure!(len > 0, "empty buffer {width}x{height}");
        let size =
            i32::try_from(len).with_context(|| format!("buffer {width}x{height} too big"))?;
        let fd = rustix::fs::memfd_create(
            "ion-probe-buffer",
            rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
        )
        .context("memfd_create")?;
        rustix::fs::ftruncate(&fd, len as u64).context("sizing the shm memfd")?;
        // SAFETY: a fresh shared mapping of the whole memfd, owned by `Mapping`.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .context("mapping the shm memfd")?;
        let map = Mapping { ptr, len };
        let pool = shm.create_pool(fd.as_fd(), size, qh, ());
        let busy = BufferBusy::default();
        let buffer = pool.create_buffer(
            0,
            width as i32,
            height as i32,
            stride as i32,
            wl_shm::Format::Xrgb8888,
            qh,
            busy.clone(),
        );
        // The buffer keeps the pool's memory alive.
        pool.destroy();
        Ok(ShmBuffer {
            buffer,
            busy,
            map,
            width,
            height,
            stride,
        })
    }

    /// The pixels (little-endian XRGB8888 rows of `stride` bytes).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.map.bytes_mut()
    }

    /// Whether the compositor still holds the buffer.
    pub fn is_busy(&self) -> bool {
        self.busy.0.load(Ordering::Acquire)
    }

    /// Marks the buffer as handed to the compositor (call on attach+commit).
    pub fn set_busy(&self) {
        self.busy.0.store(true, Ordering::Release);
    }

    /// Destroys the protocol object (the mapping goes with `self`).
    pub fn destroy(self) {
        self.buffer.destroy();
    }
}

/// Marks a buffer free on `wl_buffer.release`.
pub fn on_release(busy: &BufferBusy) {
    busy.0.store(false, Ordering::Release);
}
