//! dmabuf capture: the compositor's device and formats (linux-dmabuf's
//! default feedback), GBM on that device (`gbm.rs`, nodes from
//! `device.rs`), and stream buffers shared as dmabuf wl_buffers.
//!
//! A capability like any other: found at connect, used when it works,
//! said why not otherwise (`IONCHANNEL_DMABUF=0` turns it off). Only
//! LINEAR buffers of XRGB/ARGB8888 are offered: every GPU and consumer can
//! take them, and the VM lab's software renderer has nothing else
//! (docs/research/dmabuf-in-vm.md). Tiled modifiers are left for later.

pub mod device;
pub mod gbm;

use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;

use ion_pipewire::{DmabufLayout, ShmFormat, MOD_LINEAR};
use wayland_client::protocol::wl_buffer::WlBuffer;
use wayland_client::{Connection, Dispatch, QueueHandle};
use wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_buffer_params_v1::{
    self, ZwpLinuxBufferParamsV1,
};
use wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_dmabuf_feedback_v1::{
    self, ZwpLinuxDmabufFeedbackV1,
};
use wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_dmabuf_v1::{
    self, ZwpLinuxDmabufV1,
};

use crate::state::State;

/// Turns dmabuf capture off (`0`); anything else, or unset: on where it
/// works.
pub const DMABUF_VAR: &str = "IONCHANNEL_DMABUF";

/// The formats offered as dmabufs, preferred first.
const FORMATS: [ShmFormat; 2] = [ShmFormat::Xrgb8888, ShmFormat::Argb8888];

pub struct Dmabuf {
    pub global: ZwpLinuxDmabufV1,
    /// The default feedback being received (a batch ends with `done`).
    incoming: Feedback,
    /// What the last `done` said, and what came of it.
    pub state: DmabufState,
}

#[derive(Debug, Default, Clone)]
struct Feedback {
    main_device: Option<u64>,
    /// (fourcc, modifier) pairs of the format table.
    table: Vec<(u32, u64)>,
}

pub enum DmabufState {
    /// No feedback yet.
    Waiting,
    Usable {
        allocator: Rc<gbm::GbmAllocator>,
        /// Our formats the compositor takes as LINEAR dmabufs.
        formats: Vec<ShmFormat>,
    },
    Unusable(String),
}

impl Dmabuf {
    /// Binds linux-dmabuf v4 (the first with feedback) and asks for the
    /// default feedback; None when the compositor has no v4, or dmabuf is
    /// turned off.
    pub fn bind(
        globals: &wayland_client::globals::GlobalList,
        qh: &QueueHandle<State>,
    ) -> Option<Self> {
        if std::env::var(DMABUF_VAR).is_ok_and(|v| v == "0") {
            tracing::info!("{DMABUF_VAR}=0: dmabuf capture not used");
            return None;
        }
        let global: ZwpLinuxDmabufV1 = globals.bind(qh, 4..=4, ()).ok()?;
        global.get_default_feedback(qh, ());
        Some(Self {
            global,
            incoming: Feedback::default(),
            state: DmabufState::Waiting,
        })
    }

    /// The allocator and formats, when dmabufs can be made.
    pub fn usable(&self) -> Option<(Rc<gbm::GbmAllocator>, Vec<ShmFormat>)> {
        match &self.state {
            DmabufState::Usable { allocator, formats } => {
                Some((allocator.clone(), formats.clone()))
            }
            _ => None,
        }
    }

    /// For logs and `doctor`: the node in use, or why there is none.
    pub fn describe(&self) -> String {
        match &self.state {
            DmabufState::Waiting => "no feedback from the compositor".into(),
            DmabufState::Usable { allocator, formats } => format!(
                "GBM on {} ({:?}, LINEAR)",
                allocator.node.display(),
                formats
            ),
            DmabufState::Unusable(why) => why.clone(),
        }
    }

    fn done(&mut self) {
        let fb = std::mem::take(&mut self.incoming);
        let formats = linear_formats(&fb.table);
        self.state = match (fb.main_device, formats.first()) {
            (None, _) => DmabufState::Unusable("the compositor named no main device".into()),
            (_, None) => DmabufState::Unusable(
                "the compositor takes no LINEAR XRGB8888/ARGB8888 dmabuf".into(),
            ),
            (Some(dev), Some(&first)) => {
                match gbm::GbmAllocator::open(&device::nodes(dev), first) {
                    Ok(allocator) => DmabufState::Usable {
                        allocator: Rc::new(allocator),
                        formats,
                    },
                    Err(why) => DmabufState::Unusable(format!("GBM cannot allocate: {why}")),
                }
            }
        };
        tracing::info!(dmabuf = %self.describe(), "dmabuf feedback");
    }
}

impl State {
    /// What new streams may offer as dmabufs: GBM works, and the capture
    /// protocol can fill a dmabuf (ext-image-copy-capture, or
    /// wlr-screencopy from v3, which announces dmabuf buffers).
    pub fn dmabuf_for_streams(
        &self,
    ) -> Option<(Rc<dyn ion_pipewire::DmabufAllocator>, Vec<ShmFormat>)> {
        let capture = self.image_copy.is_some()
            || self
                .screencopy
                .as_ref()
                .is_some_and(|s| wayland_client::Proxy::version(s) >= 3);
        if !capture {
            return None;
        }
        let (allocator, formats) = self.dmabuf.as_ref()?.usable()?;
        let allocator: Rc<dyn ion_pipewire::DmabufAllocator> = allocator;
        Some((allocator, formats))
    }

    /// The dmabuf line of the connect log and `doctor`.
    pub fn dmabuf_text(&self) -> String {
        match &self.dmabuf {
            Some(d) => d.describe(),
            None if std::env::var(DMABUF_VAR).is_ok_and(|v| v == "0") => {
                format!("turned off ({DMABUF_VAR}=0)")
            }
            None => "no linux-dmabuf v4".into(),
        }
    }
}

/// Our formats that the table has with the LINEAR modifier, in our order.
pub fn linear_formats(table: &[(u32, u64)]) -> Vec<ShmFormat> {
    FORMATS
        .into_iter()
        .filter(|f| table.contains(&(f.fourcc(), MOD_LINEAR)))
        .collect()
}

/// The format table: 16-byte entries, a fourcc, 4 bytes of padding and a
/// modifier, in native byte order.
fn read_table(fd: &OwnedFd, size: u32) -> Result<Vec<(u32, u64)>, String> {
    let mut bytes = vec![0u8; size as usize];
    let file = std::fs::File::from(fd.try_clone().map_err(|e| e.to_string())?);
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut bytes, 0)
        .map_err(|e| format!("reading the {size}-byte format table: {e}"))?;
    Ok(parse_table(&bytes))
}

pub fn parse_table(bytes: &[u8]) -> Vec<(u32, u64)> {
    bytes
        .chunks_exact(16)
        .map(|e| {
            let mut f = [0u8; 4];
            let mut m = [0u8; 8];
            f.copy_from_slice(&e[0..4]);
            m.copy_from_slice(&e[8..16]);
            (u32::from_ne_bytes(f), u64::from_ne_bytes(m))
        })
        .collect()
}

/// A stream buffer's dmabuf as a wl_buffer (`create_immed`: a buffer the
/// compositor refuses comes back as a protocol error, or as a failed
/// capture, never silently). `fd` stays open in the stream's data until
/// its BufferRemoved event, handled after this.
pub fn wl_buffer(
    global: &ZwpLinuxDmabufV1,
    qh: &QueueHandle<State>,
    fd: std::os::fd::BorrowedFd<'_>,
    width: u32,
    height: u32,
    layout: &DmabufLayout,
) -> Option<WlBuffer> {
    let params = global.create_params(qh, ());
    params.add(
        fd.as_fd(),
        0,
        layout.offset,
        layout.stride,
        (layout.modifier >> 32) as u32,
        (layout.modifier & 0xffff_ffff) as u32,
    );
    let buffer = params.create_immed(
        i32::try_from(width).ok()?,
        i32::try_from(height).ok()?,
        layout.fourcc,
        zwp_linux_buffer_params_v1::Flags::empty(),
        qh,
        (),
    );
    params.destroy();
    Some(buffer)
}

impl Dispatch<ZwpLinuxDmabufFeedbackV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ZwpLinuxDmabufFeedbackV1,
        event: zwp_linux_dmabuf_feedback_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwp_linux_dmabuf_feedback_v1::Event as E;
        let Some(d) = state.dmabuf.as_mut() else {
            return;
        };
        match event {
            E::MainDevice { device } => {
                d.incoming.main_device = <[u8; 8]>::try_from(device.as_slice())
                    .ok()
                    .map(u64::from_ne_bytes);
            }
            E::FormatTable { fd, size } => match read_table(&fd, size) {
                Ok(t) => d.incoming.table = t,
                Err(e) => tracing::warn!("dmabuf format table: {e}"),
            },
            E::Done => d.done(),
            // Tranches say which formats suit scan-out; a capture buffer
            // only needs the compositor to render into it, which every
            // entry of the table allows.
            _ => {}
        }
    }
}

impl Dispatch<ZwpLinuxBufferParamsV1, ()> for State {
    fn event(
        _: &mut Self,
        _: &ZwpLinuxBufferParamsV1,
        event: zwp_linux_buffer_params_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwp_linux_buffer_params_v1::Event::Failed = event {
            tracing::warn!("the compositor refused a dmabuf");
        }
    }
}

// v4 sends no events on the global itself (formats come as feedback).
impl Dispatch<ZwpLinuxDmabufV1, ()> for State {
    fn event(
        _: &mut Self,
        _: &ZwpLinuxDmabufV1,
        _: zwp_linux_dmabuf_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gives_our_linear_formats_in_our_order() {
        let mut bytes = Vec::new();
        for (f, m) in [
            (ShmFormat::Argb8888.fourcc(), MOD_LINEAR),
            (ShmFormat::Argb8888.fourcc(), 0x00ff_ffff_ffff_ffff), // INVALID
            (ShmFormat::Xrgb8888.fourcc(), 0x0100_0000_0000_0001), // tiled
            (u32::from_le_bytes(*b"NV12"), MOD_LINEAR),
        ] {
            bytes.extend_from_slice(&f.to_ne_bytes());
            bytes.extend_from_slice(&[0; 4]);
            bytes.extend_from_slice(&m.to_ne_bytes());
        }
        let table = parse_table(&bytes);
        assert_eq!(table.len(), 4);
        assert_eq!(linear_formats(&table), [ShmFormat::Argb8888]);
        bytes.extend_from_slice(&ShmFormat::Xrgb8888.fourcc().to_ne_bytes());
        bytes.extend_from_slice(&[0; 12]);
        assert_eq!(
            linear_formats(&parse_table(&bytes)),
            [ShmFormat::Xrgb8888, ShmFormat::Argb8888]
        );
        // A torn entry at the end is not read.
        assert_eq!(parse_table(&bytes[..20]).len(), 1);
    }
}
