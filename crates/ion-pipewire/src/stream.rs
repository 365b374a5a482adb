//! One `Video/Source` stream: its node, its negotiated format, and the
//! buffers we allocate for it (so the compositor can copy straight into
//! the memory the consumer maps): memfds, or dmabufs from the
//! [`DmabufAllocator`] when the consumer chose a dmabuf format.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use pipewire as pw;
use pw::spa;
use pw::stream::{StreamFlags, StreamState};

use crate::connection::PipeWireError;
use crate::format::{self, ShmFormat, VideoParams};

/// The owner's name for a stream.
pub type StreamKey = u64;

/// One plane of a dmabuf: what the consumer and the compositor need to
/// use it.
#[derive(Debug)]
pub struct Dmabuf {
    pub fd: OwnedFd,
    pub stride: u32,
    pub offset: u32,
    pub modifier: u64,
}

/// How a dmabuf buffer is laid out (the event's copy of [`Dmabuf`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmabufLayout {
    pub fourcc: u32,
    pub stride: u32,
    pub offset: u32,
    pub modifier: u64,
}

/// Where dmabufs come from (GBM on the compositor's device, in
/// ion-wayland): the seam keeps this crate free of GPU libraries.
pub trait DmabufAllocator {
    /// A `width`×`height` buffer of the DRM `fourcc` with `modifier`.
    fn allocate(
        &self,
        width: u32,
        height: u32,
        fourcc: u32,
        modifier: u64,
    ) -> Result<Dmabuf, String>;
}

/// What a stream reports, drained by the owner after each iteration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A link from the node `output_node` appeared (a consumer joined).
    Linked {
        output_node: u32,
    },
    /// The node exists in the graph with this id.
    NodeId {
        key: StreamKey,
        node_id: u32,
    },
    /// A consumer agreed on a format.
    Format {
        key: StreamKey,
        format: ShmFormat,
        width: u32,
        height: u32,
        max_fps: u32,
        /// The consumer chose a dmabuf (LINEAR) of this format.
        dmabuf: bool,
    },
    /// A consumer is linked and frames may flow (true), or not (false).
    Streaming {
        key: StreamKey,
        active: bool,
    },
    /// The consumer can take a frame.
    Process {
        key: StreamKey,
    },
    /// A buffer was added: its memory, for the compositor to copy into.
    BufferAdded {
        key: StreamKey,
        buffer: usize,
        fd: i32,
        size: u32,
        /// A dmabuf's layout; None: a memfd.
        dmabuf: Option<DmabufLayout>,
    },
    /// A dmabuf could not be allocated for the format the consumer chose:
    /// the owner offers shm only from now on.
    DmabufFailed {
        key: StreamKey,
        reason: String,
    },
    BufferRemoved {
        key: StreamKey,
        buffer: usize,
    },
    /// The stream failed.
    Error {
        key: StreamKey,
        message: String,
    },
    /// The PipeWire daemon went away.
    Disconnected {
        reason: String,
    },
}

struct StreamData {
    key: StreamKey,
    events: Rc<RefCell<VecDeque<StreamEvent>>>,
    /// Negotiated buffer size in bytes.
    frame_bytes: Option<u32>,
    /// Memory we allocated, by pw_buffer address.
    buffers: HashMap<usize, OwnedFd>,
    /// The pw_buffer addresses PipeWire has not removed yet, shared with
    /// the [`VideoStream`]: events are handled after PipeWire's callbacks
    /// ran, so a buffer named in an event may already be freed.
    live: Rc<RefCell<HashSet<usize>>>,
    node_announced: bool,
    /// Buffers carry SPA_META_Cursor (cursor mode metadata).
    cursor_meta: bool,
    /// The negotiated size and, for a dmabuf format, its fourcc.
    size: (u32, u32),
    dmabuf_format: Option<u32>,
    allocator: Option<Rc<dyn DmabufAllocator>>,
    /// A dmabuf allocation failed for this format: said once.
    dmabuf_failed: bool,
}

impl StreamData {
    fn push(&self, ev: StreamEvent) {
        self.events.borrow_mut().push_back(ev);
    }
}

pub struct VideoStream {
    // The listener goes before the stream it is attached to.
    _listener: pw::stream::StreamListener<StreamData>,
    stream: pw::stream::Stream,
    key: StreamKey,
    live: Rc<RefCell<HashSet<usize>>>,
}

impl VideoStream {
    pub(crate) fn new(
        core: &pw::core::Core,
        key: StreamKey,
        name: &str,
        params: VideoParams,
        events: Rc<RefCell<VecDeque<StreamEvent>>>,
        allocator: Option<Rc<dyn DmabufAllocator>>,
    ) -> Result<Self, PipeWireError> {
        let err = |e: pw::Error| PipeWireError::Stream(e.to_string());
        let props = pw::properties::properties! {
            *pw::keys::MEDIA_CLASS => "Video/Source",
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Capture",
            *pw::keys::MEDIA_ROLE => "Screen",
            *pw::keys::NODE_NAME => name,
            *pw::keys::NODE_DESCRIPTION => "ionChannel screen cast",
        };
        let stream = pw::stream::Stream::new(core, name, props).map_err(err)?;
        let live: Rc<RefCell<HashSet<usize>>> = Rc::default();
        let data = StreamData {
            key,
            live: live.clone(),
            events,
            frame_bytes: None,
            buffers: HashMap::new(),
            node_announced: false,
            cursor_meta: params.cursor_meta,
            size: (0, 0),
            dmabuf_format: None,
            allocator,
            dmabuf_failed: false,
        };
        let listener = stream
            .add_local_listener_with_user_data(data)
            .state_changed(on_state)
            .param_changed(on_param)
            .add_buffer(|_, data, buffer| on_add_buffer(data, buffer))
            .remove_buffer(|_, data, buffer| on_remove_buffer(data, buffer))
            .process(|_, data| data.push(StreamEvent::Process { key: data.key }))
            .register()
            .map_err(err)?;
        let enum_formats = format::enum_formats(&params).map_err(PipeWireError::Stream)?;
        let mut pods = pods(&enum_formats)?;
        stream
            .connect(
                spa::utils::Direction::Output,
                None,
                // DRIVER: we produce frames when something changed, not on
                // a graph clock. ALLOC_BUFFERS: we allocate the memory.
                StreamFlags::DRIVER | StreamFlags::ALLOC_BUFFERS,
                &mut pods,
            )
            .map_err(err)?;
        Ok(Self {
            _listener: listener,
            stream,
            key,
            live,
        })
    }

    pub fn key(&self) -> StreamKey {
        self.key
    }

    pub fn node_id(&self) -> u32 {
        self.stream.node_id()
    }

    pub fn raw(&self) -> &pw::stream::StreamRef {
        &self.stream
    }

    /// Offers a new format (the source changed size): the consumer
    /// renegotiates, and the buffers are remade at the new size.
    pub fn update_format(&self, params: &VideoParams) -> Result<(), PipeWireError> {
        let enum_formats = format::enum_formats(params).map_err(PipeWireError::Stream)?;
        let mut pods = pods(&enum_formats)?;
        // Replaces only the EnumFormat params; PipeWire relinks the port
        // when its EnumFormat changes, and our on_param answers the new
        // Format with buffer parameters of the new size.
        self.stream
            .update_params(&mut pods)
            .map_err(|e| PipeWireError::Stream(e.to_string()))
    }

    /// Asks the graph to call `process` (we drive this stream).
    pub fn trigger(&self) {
        if let Err(e) = self.stream.trigger_process() {
            tracing::debug!(stream = self.key, "trigger_process: {e}");
        }
    }

    /// Whether PipeWire still has this buffer (it frees removed ones).
    pub fn is_live(&self, buffer: usize) -> bool {
        self.live.borrow().contains(&buffer)
    }

    /// A free buffer, by its pw_buffer address, if the consumer left one.
    pub fn dequeue(&self) -> Option<usize> {
        // SAFETY: called on the loop's thread; the pointer is handed back
        // with `queue_frame` or `queue_empty`.
        let b = unsafe { self.stream.dequeue_raw_buffer() };
        (!b.is_null()).then_some(b as usize)
    }

    /// Describes the frame now in `buffer` (chunk, header, damage) and
    /// hands it to the consumer.
    pub fn queue_frame(&self, buffer: usize, frame: &Frame<'_>) {
        if !self.is_live(buffer) {
            tracing::debug!(stream = self.key, "frame for a removed buffer dropped");
            return;
        }
        let b = buffer as *mut pw::sys::pw_buffer;
        // SAFETY: `buffer` came from `dequeue` on this stream and was not
        // queued since; its spa_buffer has the one data block and the
        // metas our params asked for (each looked up, never assumed).
        unsafe {
            let spa_buf = (*b).buffer;
            if !spa_buf.is_null() && (*spa_buf).n_datas >= 1 && !(*spa_buf).datas.is_null() {
                let d = &mut *(*spa_buf).datas;
                if !d.chunk.is_null() {
                    let c = &mut *d.chunk;
                    c.offset = 0;
                    c.size = frame.size;
                    c.stride = frame.stride;
                    c.flags = 0;
                }
                if let Some(h) =
                    find_meta::<spa::sys::spa_meta_header>(spa_buf, spa::sys::SPA_META_Header)
                {
                    (*h).flags = 0;
                    (*h).offset = 0;
                    (*h).pts = i64::try_from(frame.pts_ns).unwrap_or(i64::MAX);
                    (*h).dts_offset = 0;
                    (*h).seq = frame.seq;
                }
                write_damage(spa_buf, frame.damage);
                write_cursor(spa_buf, frame.cursor);
            }
            self.stream.queue_raw_buffer(b);
        }
    }

    /// Hands the consumer a buffer with no picture, only cursor metadata
    /// (the pointer moved over an unchanged screen): chunk size 0, as
    /// consumers of cursor metadata expect (mutter does the same).
    pub fn queue_cursor_only(&self, buffer: usize, cursor: &CursorMeta<'_>, seq: u64, pts_ns: u64) {
        self.queue_frame(
            buffer,
            &Frame {
                size: 0,
                stride: 0,
                pts_ns,
                seq,
                damage: &[],
                cursor: Some(cursor),
            },
        );
    }

    /// Hands a buffer back without a frame (capture failed).
    pub fn queue_empty(&self, buffer: usize) {
        if !self.is_live(buffer) {
            return;
        }
        let b = buffer as *mut pw::sys::pw_buffer;
        // SAFETY: as in `queue_frame`.
        unsafe {
            let spa_buf = (*b).buffer;
            if !spa_buf.is_null() && (*spa_buf).n_datas >= 1 && !(*spa_buf).datas.is_null() {
                let d = &mut *(*spa_buf).datas;
                if !d.chunk.is_null() {
                    (*d.chunk).size = 0;
                    (*d.chunk).flags = spa::sys::SPA_CHUNK_FLAG_CORRUPTED as i32;
                }
            }
            self.stream.queue_raw_buffer(b);
        }
    }
}

/// Pods from serialized bytes.
fn pods(bytes: &[Vec<u8>]) -> Result<Vec<&spa::pod::Pod>, PipeWireError> {
    bytes
        .iter()
        .map(|b| {
            spa::pod::Pod::from_bytes(b)
                .ok_or_else(|| PipeWireError::Stream("bad EnumFormat pod".into()))
        })
        .collect()
}

/// A captured frame's description.
pub struct Frame<'a> {
    pub size: u32,
    pub stride: i32,
    pub pts_ns: u64,
    pub seq: u64,
    /// Damaged rectangles (x, y, width, height) in pixels.
    pub damage: &'a [(u32, u32, u32, u32)],
    /// Cursor metadata (cursor mode metadata), if the stream carries it.
    pub cursor: Option<&'a CursorMeta<'a>>,
}

/// The pointer as SPA_META_Cursor describes it.
#[derive(Debug, Clone, Copy)]
pub struct CursorMeta<'a> {
    /// 0: no cursor over the source (consumers hide theirs).
    pub id: u32,
    /// Position of the hotspot in the frame, in buffer pixels.
    pub x: i32,
    pub y: i32,
    pub hotspot_x: i32,
    pub hotspot_y: i32,
    /// A new image, only when it changed since the last one sent.
    pub bitmap: Option<CursorBitmap<'a>>,
}

/// A cursor image: little-endian ARGB8888 rows (SPA's BGRA).
#[derive(Debug, Clone, Copy)]
pub struct CursorBitmap<'a> {
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    pub pixels: &'a [u8],
}

/// The largest cursor image the metadata has room for (pixels a side).
pub const MAX_CURSOR_SIZE: u32 = 128;

/// Bytes of the SPA_META_Cursor block: the cursor, a bitmap header and
/// the largest image.
pub fn cursor_meta_size() -> usize {
    std::mem::size_of::<spa::sys::spa_meta_cursor>()
        + std::mem::size_of::<spa::sys::spa_meta_bitmap>()
        + (MAX_CURSOR_SIZE * MAX_CURSOR_SIZE * 4) as usize
}

/// Fills the SPA_META_Cursor block, if the buffer has one: position and
/// hotspot always, the bitmap only when `bitmap` is given and fits.
unsafe fn write_cursor(buf: *mut spa::sys::spa_buffer, cursor: Option<&CursorMeta<'_>>) {
    let n = (*buf).n_metas as usize;
    if (*buf).metas.is_null() {
        return;
    }
    let cursor_size = std::mem::size_of::<spa::sys::spa_meta_cursor>();
    let bitmap_size = std::mem::size_of::<spa::sys::spa_meta_bitmap>();
    for i in 0..n {
        let m = &*(*buf).metas.add(i);
        if m.type_ != spa::sys::SPA_META_Cursor
            || m.data.is_null()
            || (m.size as usize) < cursor_size
        {
            continue;
        }
        let c = &mut *m.data.cast::<spa::sys::spa_meta_cursor>();
        let Some(cursor) = cursor else {
            // No cursor information with this frame.
            c.id = 0;
            c.bitmap_offset = 0;
            return;
        };
        c.id = cursor.id;
        c.flags = 0;
        c.position.x = cursor.x;
        c.position.y = cursor.y;
        c.hotspot.x = cursor.hotspot_x;
        c.hotspot.y = cursor.hotspot_y;
        c.bitmap_offset = 0;
        let Some(bm) = cursor.bitmap else { return };
        let rows = bm.stride as usize * bm.height as usize;
        let needed = cursor_size + bitmap_size + rows;
        if needed > m.size as usize || bm.pixels.len() < rows {
            tracing::debug!(
                w = bm.width,
                h = bm.height,
                "cursor image too large for the metadata"
            );
            return;
        }
        c.bitmap_offset = cursor_size as u32;
        let header = m.data.cast::<u8>().add(cursor_size);
        let b = &mut *header.cast::<spa::sys::spa_meta_bitmap>();
        b.format = spa::sys::SPA_VIDEO_FORMAT_BGRA;
        b.size.width = bm.width;
        b.size.height = bm.height;
        b.stride = i32::try_from(bm.stride).unwrap_or(i32::MAX);
        b.offset = bitmap_size as u32;
        std::ptr::copy_nonoverlapping(bm.pixels.as_ptr(), header.add(bitmap_size), rows);
        return;
    }
}

/// The meta block of `kind`, if the buffer has one large enough for `T`.
/// (libspa's spa_buffer_find_meta_data is an inline C function the
/// bindings do not carry.)
unsafe fn find_meta<T>(buf: *mut spa::sys::spa_buffer, kind: u32) -> Option<*mut T> {
    let n = (*buf).n_metas as usize;
    if (*buf).metas.is_null() {
        return None;
    }
    for i in 0..n {
        let m = &*(*buf).metas.add(i);
        if m.type_ == kind && m.size as usize >= std::mem::size_of::<T>() && !m.data.is_null() {
            return Some(m.data.cast());
        }
    }
    None
}

/// Fills the VideoDamage meta: the regions, then a zero-sized terminator
/// if there is room. No meta, no damage information (consumers then take
/// the whole frame as changed).
unsafe fn write_damage(buf: *mut spa::sys::spa_buffer, damage: &[(u32, u32, u32, u32)]) {
    let n = (*buf).n_metas as usize;
    if (*buf).metas.is_null() {
        return;
    }
    for i in 0..n {
        let m = &*(*buf).metas.add(i);
        if m.type_ != spa::sys::SPA_META_VideoDamage || m.data.is_null() {
            continue;
        }
        let cap = m.size as usize / std::mem::size_of::<spa::sys::spa_meta_region>();
        let regions = m.data.cast::<spa::sys::spa_meta_region>();
        let mut written = 0;
        for &(x, y, w, h) in damage.iter().take(cap) {
            let r = &mut *regions.add(written);
            r.region.position.x = i32::try_from(x).unwrap_or(i32::MAX);
            r.region.position.y = i32::try_from(y).unwrap_or(i32::MAX);
            r.region.size.width = w;
            r.region.size.height = h;
            written += 1;
        }
        if written < cap {
            let r = &mut *regions.add(written);
            r.region.size.width = 0;
            r.region.size.height = 0;
        }
        return;
    }
}

fn on_state(
    stream: &pw::stream::StreamRef,
    data: &mut StreamData,
    old: StreamState,
    new: StreamState,
) {
    tracing::debug!(stream = data.key, ?old, ?new, "stream state");
    match new {
        StreamState::Paused | StreamState::Streaming if !data.node_announced => {
            data.node_announced = true;
            data.push(StreamEvent::NodeId {
                key: data.key,
                node_id: stream.node_id(),
            });
        }
        StreamState::Error(message) => data.push(StreamEvent::Error {
            key: data.key,
            message,
        }),
        _ => {}
    }
    match (old, stream.state()) {
        (StreamState::Streaming, s) if s != StreamState::Streaming => {
            data.push(StreamEvent::Streaming {
                key: data.key,
                active: false,
            })
        }
        (o, StreamState::Streaming) if o != StreamState::Streaming => {
            data.push(StreamEvent::Streaming {
                key: data.key,
                active: true,
            })
        }
        _ => {}
    }
}

fn on_param(
    stream: &pw::stream::StreamRef,
    data: &mut StreamData,
    id: u32,
    pod: Option<&spa::pod::Pod>,
) {
    let Some(pod) = pod else { return };
    if id != spa::param::ParamType::Format.as_raw() {
        return;
    }
    let mut info = spa::param::video::VideoInfoRaw::new();
    if let Err(e) = info.parse(pod) {
        tracing::warn!(
            stream = data.key,
            "unreadable format from the consumer: {e:?}"
        );
        return;
    }
    let Some(format) = ShmFormat::from_spa(info.format()) else {
        tracing::warn!(stream = data.key, format = ?info.format(), "consumer chose a format we did not offer");
        return;
    };
    let size = info.size();
    data.frame_bytes = size
        .width
        .checked_mul(ShmFormat::BYTES_PER_PIXEL)
        .and_then(|s| s.checked_mul(size.height));
    data.size = (size.width, size.height);
    // A dmabuf format carries its modifier (we offered LINEAR only).
    // (libspa names the flag only with its v0_3_65 feature.)
    let dmabuf = info.flags().bits() & spa::sys::SPA_VIDEO_FLAG_MODIFIER != 0;
    if dmabuf && info.modifier() != format::MOD_LINEAR {
        tracing::warn!(
            stream = data.key,
            modifier = info.modifier(),
            "consumer chose a modifier we did not offer"
        );
        return;
    }
    data.dmabuf_format = dmabuf.then(|| format.fourcc());
    let max_fps = info.max_framerate();
    let max_fps = max_fps.num.checked_div(max_fps.denom).unwrap_or(0);
    data.push(StreamEvent::Format {
        key: data.key,
        format,
        width: size.width,
        height: size.height,
        max_fps,
        dmabuf,
    });
    let data_type = if dmabuf {
        spa::sys::SPA_DATA_DmaBuf
    } else {
        spa::sys::SPA_DATA_MemFd
    };
    // Buffers and their metadata, now that the size is known.
    let mut pods = vec![
        format::buffers_of(size.width, size.height, data_type),
        format::meta(
            spa::sys::SPA_META_Header,
            std::mem::size_of::<spa::sys::spa_meta_header>(),
        ),
        format::meta(
            spa::sys::SPA_META_VideoDamage,
            // Room for 16 damage rectangles.
            16 * std::mem::size_of::<spa::sys::spa_meta_region>(),
        ),
    ];
    if data.cursor_meta {
        // Cursor mode metadata: position, hotspot and image.
        pods.push(format::meta(spa::sys::SPA_META_Cursor, cursor_meta_size()));
    }
    let mut bytes = Vec::new();
    for p in pods {
        match p {
            Ok(b) => bytes.push(b),
            Err(e) => {
                tracing::error!(stream = data.key, "{e}");
                return;
            }
        }
    }
    let mut params: Vec<&spa::pod::Pod> = bytes
        .iter()
        .filter_map(|b| spa::pod::Pod::from_bytes(b))
        .collect();
    if let Err(e) = stream.update_params(&mut params) {
        tracing::error!(stream = data.key, "cannot set buffer parameters: {e}");
    }
}

/// Allocates one buffer's memory: a memfd, or a dmabuf for a dmabuf
/// format.
///
/// SAFETY of the raw accesses: PipeWire hands us a valid `pw_buffer` whose
/// `spa_buffer` has the data blocks our Buffers param asked for (one); we
/// fill in its memory description as the ALLOC_BUFFERS contract asks.
fn on_add_buffer(data: &mut StreamData, buffer: *mut pw::sys::pw_buffer) {
    // PipeWire owns it from now until remove_buffer, whatever happens here.
    data.live.borrow_mut().insert(buffer as usize);
    let Some(bytes) = data.frame_bytes else {
        tracing::warn!(stream = data.key, "buffer added before a format");
        return;
    };
    let (memory, layout) = match data.dmabuf_format {
        Some(fourcc) => match dmabuf(data, fourcc) {
            Some((d, layout)) => (d, Some(layout)),
            None => return,
        },
        None => match memfd(bytes) {
            Ok(fd) => (fd, None),
            Err(e) => {
                tracing::error!(stream = data.key, "cannot allocate a frame buffer: {e}");
                return;
            }
        },
    };
    let maxsize = match layout {
        // The plane: its rows from its offset (the consumer maps or
        // imports that much).
        Some(l) => l.stride.saturating_mul(data.size.1),
        None => bytes,
    };
    unsafe {
        let spa_buf = (*buffer).buffer;
        if spa_buf.is_null() || (*spa_buf).n_datas < 1 || (*spa_buf).datas.is_null() {
            tracing::error!(stream = data.key, "buffer without data blocks");
            return;
        }
        let d = &mut *(*spa_buf).datas;
        d.type_ = if layout.is_some() {
            spa::sys::SPA_DATA_DmaBuf
        } else {
            spa::sys::SPA_DATA_MemFd
        };
        d.flags = spa::sys::SPA_DATA_FLAG_READWRITE;
        d.fd = i64::from(memory.as_raw_fd());
        d.mapoffset = layout.map_or(0, |l| l.offset);
        d.maxsize = maxsize;
        d.data = std::ptr::null_mut();
        if let (Some(l), false) = (layout, d.chunk.is_null()) {
            (*d.chunk).stride = i32::try_from(l.stride).unwrap_or(i32::MAX);
            (*d.chunk).offset = l.offset;
            (*d.chunk).size = maxsize;
        }
    }
    let key = buffer as usize;
    data.push(StreamEvent::BufferAdded {
        key: data.key,
        buffer: key,
        fd: memory.as_raw_fd(),
        size: maxsize,
        dmabuf: layout,
    });
    data.buffers.insert(key, memory);
}

fn memfd(bytes: u32) -> rustix::io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(
        "ionchannel-frame",
        rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
    )?;
    rustix::fs::ftruncate(&fd, u64::from(bytes))?;
    // Shrinking would let a peer fault the other side's mapping.
    let _ = rustix::fs::fcntl_add_seals(&fd, rustix::fs::SealFlags::SHRINK);
    Ok(fd)
}

/// A dmabuf of the negotiated size; on failure the owner is told (once)
/// and offers shm instead.
fn dmabuf(data: &mut StreamData, fourcc: u32) -> Option<(OwnedFd, DmabufLayout)> {
    let (width, height) = data.size;
    let result = match &data.allocator {
        Some(a) => a.allocate(width, height, fourcc, format::MOD_LINEAR),
        None => Err("no dmabuf allocator".into()),
    };
    match result {
        Ok(d) => {
            let layout = DmabufLayout {
                fourcc,
                stride: d.stride,
                offset: d.offset,
                modifier: d.modifier,
            };
            Some((d.fd, layout))
        }
        Err(reason) => {
            if !data.dmabuf_failed {
                data.dmabuf_failed = true;
                tracing::warn!(stream = data.key, "cannot allocate a dmabuf: {reason}");
                data.push(StreamEvent::DmabufFailed {
                    key: data.key,
                    reason,
                });
            }
            None
        }
    }
}

fn on_remove_buffer(data: &mut StreamData, buffer: *mut pw::sys::pw_buffer) {
    let key = buffer as usize;
    // Dropping the OwnedFd closes our descriptor; the consumer's mapping
    // and the compositor's pool keep their own references.
    data.buffers.remove(&key);
    data.live.borrow_mut().remove(&key);
    data.push(StreamEvent::BufferRemoved {
        key: data.key,
        buffer: key,
    });
}
