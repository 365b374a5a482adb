//! Dmabufs from GBM on the compositor's device: the [`DmabufAllocator`]
//! the streams' buffers come from when the consumer takes dmabufs.

use std::fs::File;
use std::path::{Path, PathBuf};

use ion_pipewire::{Dmabuf, DmabufAllocator, ShmFormat, MOD_LINEAR};

pub struct GbmAllocator {
    device: gbm::Device<File>,
    pub node: PathBuf,
}

impl GbmAllocator {
    /// The first of `nodes` where GBM makes a LINEAR buffer of `format`
    /// (a small one, as a check: a render node can say yes to the format
    /// and still refuse every buffer), or why none does.
    pub fn open(nodes: &[PathBuf], format: ShmFormat) -> Result<Self, String> {
        let mut why = Vec::new();
        for node in nodes {
            match Self::open_one(node, format) {
                Ok(a) => return Ok(a),
                Err(e) => why.push(format!("{}: {e}", node.display())),
            }
        }
        if why.is_empty() {
            why.push("the compositor's device has no DRM node here".into());
        }
        Err(why.join("; "))
    }

    fn open_one(node: &Path, format: ShmFormat) -> Result<Self, String> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(node)
            .map_err(|e| e.to_string())?;
        let device = gbm::Device::new(file).map_err(|e| format!("gbm_create_device: {e}"))?;
        let a = Self {
            device,
            node: node.to_owned(),
        };
        a.buffer(16, 16, format.fourcc(), MOD_LINEAR)?;
        Ok(a)
    }
}

impl DmabufAllocator for GbmAllocator {
    fn allocate(
        &self,
        width: u32,
        height: u32,
        fourcc: u32,
        modifier: u64,
    ) -> Result<Dmabuf, String> {
        if crate::fault::dmabuf_alloc_fails() {
            return Err(format!("{}=dmabuf-alloc-fails", crate::fault::FAULT_VAR));
        }
        self.buffer(width, height, fourcc, modifier)
    }
}

impl GbmAllocator {
    fn buffer(
        &self,
        width: u32,
        height: u32,
        fourcc: u32,
        modifier: u64,
    ) -> Result<Dmabuf, String> {
        let format =
            gbm::Format::try_from(fourcc).map_err(|_| format!("unknown fourcc {fourcc:#x}"))?;
        let bo = self
            .device
            .create_buffer_object_with_modifiers2::<()>(
                width,
                height,
                format,
                std::iter::once(gbm::Modifier::from(modifier)),
                gbm::BufferObjectFlags::RENDERING,
            )
            .map_err(|e| format!("gbm_bo_create_with_modifiers2 {width}x{height}: {e}"))?;
        // One plane from the start of the buffer: what the streams'
        // chunks describe (their offset is 0).
        if bo.plane_count() != 1 || bo.offset(0) != 0 {
            return Err(format!(
                "{} planes, offset {}; one plane at 0 expected",
                bo.plane_count(),
                bo.offset(0)
            ));
        }
        let fd = bo
            .fd_for_plane(0)
            .map_err(|e| format!("gbm_bo_get_fd_for_plane: {e}"))?;
        // The dmabuf keeps the memory when the buffer object goes.
        Ok(Dmabuf {
            fd,
            stride: bo.stride_for_plane(0),
            offset: bo.offset(0),
            modifier: u64::from(bo.modifier()),
        })
    }
}
