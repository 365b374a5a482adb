//! The consumer's PipeWire side: an Input video stream that follows every
//! format the source offers, maps its buffers and records each frame.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use ion_pipewire::format::{self, prop};
use pipewire as pw;
use pw::spa;
use spa::param::video::VideoFormat;
use spa::pod::{ChoiceValue, Object, Value};
use spa::utils::{Choice, ChoiceEnum, ChoiceFlags, Fraction, Id, Rectangle};

use super::{ConsumerOptions, FrameRecord};
use crate::probe::{decode_counter_packed, tiles};

struct Data {
    format: Option<(VideoFormat, u32, u32)>,
    out: std::io::LineWriter<std::fs::File>,
    save: Option<std::path::PathBuf>,
    frames: u64,
    /// `--check-tiles`.
    check_tiles: Option<u32>,
    /// The stream's buffers by address, numbered as first seen.
    buffer_ids: std::collections::HashMap<usize, u32>,
    /// Set when the stream ended or failed: the loop leaves.
    ended: Rc<RefCell<Option<String>>>,
    /// Set when PipeWire handed us a buffer without memory: the loop
    /// reconnects the stream (see `on_add_buffer`).
    memoryless: Rc<Cell<bool>>,
    /// Set while the loop relinks the stream.
    relinking: Rc<Cell<bool>>,
}

/// Consumes `opts.node` until the duration is over, the stream ends, or
/// the process is killed (every frame line is flushed as it is written).
pub fn run(opts: &ConsumerOptions) -> Result<()> {
    pw::init();
    let main_loop = pw::main_loop::MainLoop::new(None).context("PipeWire main loop")?;
    let context = pw::context::Context::new(&main_loop).context("PipeWire context")?;
    let core = match opts.fd {
        // SAFETY: the caller hands this inherited descriptor over to us;
        // nothing else in the process uses it.
        Some(fd) => context
            .connect_fd(unsafe { OwnedFd::from_raw_fd(fd) }, None)
            .context("connect to the PipeWire remote fd")?,
        None => context.connect(None).context("connect to PipeWire")?,
    };
    let ended: Rc<RefCell<Option<String>>> = Rc::default();
    // A stream whose source goes away is only paused (it may be relinked
    // to another node); a screen consumer ends with its source, as apps do
    // when the portal's node is removed.
    let registry = core.get_registry().context("PipeWire registry")?;
    let node = opts.node;
    let on_remove = ended.clone();
    let _registry_listener = registry
        .add_listener_local()
        .global_remove(move |id| {
            if id == node {
                *on_remove.borrow_mut() = Some("the source node was removed".into());
            }
        })
        .register();
    let out = std::fs::File::create(&opts.out)
        .with_context(|| format!("create {}", opts.out.display()))?;
    if let Some(dir) = &opts.save {
        std::fs::create_dir_all(dir)?;
    }
    let memoryless: Rc<Cell<bool>> = Rc::default();
    let relinking: Rc<Cell<bool>> = Rc::default();
    let data = Data {
        format: None,
        out: std::io::LineWriter::new(out),
        save: opts.save.clone(),
        frames: 0,
        check_tiles: opts.check_tiles,
        buffer_ids: Default::default(),
        ended: ended.clone(),
        memoryless: memoryless.clone(),
        relinking: relinking.clone(),
    };
    let props = pw::properties::properties! {
        *pw::keys::MEDIA_TYPE => "Video",
        *pw::keys::MEDIA_CATEGORY => "Capture",
        *pw::keys::MEDIA_ROLE => "Screen",
    };
    let stream = pw::stream::Stream::new(&core, "ion-consumer", props)?;
    let _listener = stream
        .add_local_listener_with_user_data(data)
        .state_changed(|_, data, old, new| {
            tracing::debug!(?old, ?new, "consumer stream state");
            match new {
                pw::stream::StreamState::Error(e) => {
                    *data.ended.borrow_mut() = Some(format!("stream error: {e}"))
                }
                // Our own relink (see `on_add_buffer`) passes through
                // Unconnected: that one does not end the consumer.
                pw::stream::StreamState::Unconnected if !data.relinking.take() => {
                    *data.ended.borrow_mut() = Some("stream unconnected".into())
                }
                _ => {}
            }
        })
        .param_changed(on_param)
        .add_buffer(|_, data, buffer| on_add_buffer(data, buffer))
        .process(on_process)
        .register()?;
    let formats = accepted_formats(&opts.formats)?;
    let mut enum_formats = Vec::new();
    if opts.dmabuf || opts.prefer_dmabuf {
        enum_formats.push(serialize(enum_format(&formats, opts.max_fps, true))?);
    }
    if !opts.dmabuf {
        enum_formats.push(serialize(enum_format(&formats, opts.max_fps, false))?);
    }
    let connect = || -> Result<()> {
        let mut pods = enum_formats
            .iter()
            .map(|b| spa::pod::Pod::from_bytes(b).context("EnumFormat pod"))
            .collect::<Result<Vec<_>>>()?;
        stream.connect(
            spa::utils::Direction::Input,
            Some(opts.node),
            pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
            &mut pods,
        )?;
        Ok(())
    };
    connect()?;
    let mut reconnects = 0;
    let start = Instant::now();
    let duration = opts.duration();
    // Entered for the whole run: `process` then runs on this thread,
    // queued by PipeWire's data thread (an un-entered loop runs it on the
    // data thread, racing with format changes here).
    // SAFETY: paired with the `leave` below, on this thread.
    unsafe { main_loop.loop_().enter() };
    loop {
        // SAFETY: entered above.
        unsafe {
            main_loop
                .loop_()
                .iterate_unguarded(Duration::from_millis(50))
        };
        if memoryless.take() {
            // A new link allocates new buffers. Bounded: a stream that
            // keeps getting them is reported as ended.
            reconnects += 1;
            if reconnects > MAX_RECONNECTS {
                tracing::warn!("buffers without memory after {MAX_RECONNECTS} reconnects");
                break;
            }
            tracing::warn!("PipeWire gave buffers without memory: reconnecting");
            relinking.set(true);
            stream.disconnect()?;
            connect()?;
            continue;
        }
        if let Some(reason) = ended.borrow().as_ref() {
            tracing::info!("consumer ends: {reason}");
            break;
        }
        if duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
    }
    // SAFETY: paired with the `enter` above.
    unsafe { main_loop.loop_().leave() };
    Ok(())
}

fn serialize(value: Value) -> Result<Vec<u8>> {
    format::serialize(value).map_err(|e| anyhow::anyhow!(e))
}

/// Raw video in any of the 32-bit RGB layouts screen sources use, any
/// size, any rate; `max_fps` asks the source to cap its rate.
/// `--formats` as SPA formats (all four, BGRx first, when empty).
fn accepted_formats(names: &[String]) -> Result<Vec<VideoFormat>> {
    const ALL: [(&str, VideoFormat); 4] = [
        ("BGRx", VideoFormat::BGRx),
        ("BGRA", VideoFormat::BGRA),
        ("RGBx", VideoFormat::RGBx),
        ("RGBA", VideoFormat::RGBA),
    ];
    if names.is_empty() {
        return Ok(ALL.iter().map(|(_, f)| *f).collect());
    }
    names
        .iter()
        .map(|n| {
            ALL.iter()
                .find(|(name, _)| name == n)
                .map(|(_, f)| *f)
                .with_context(|| format!("unknown format {n}: BGRx, BGRA, RGBx or RGBA"))
        })
        .collect()
}

fn enum_format(formats: &[VideoFormat], max_fps: Option<u32>, dmabuf: bool) -> Value {
    let ids: Vec<Id> = formats.iter().map(|f| Id(f.as_raw())).collect();
    let mut properties = vec![
        prop(
            spa::sys::SPA_FORMAT_mediaType,
            Value::Id(Id(spa::sys::SPA_MEDIA_TYPE_video)),
        ),
        prop(
            spa::sys::SPA_FORMAT_mediaSubtype,
            Value::Id(Id(spa::sys::SPA_MEDIA_SUBTYPE_raw)),
        ),
        prop(
            spa::sys::SPA_FORMAT_VIDEO_format,
            Value::Choice(ChoiceValue::Id(Choice(
                ChoiceFlags::empty(),
                ChoiceEnum::Enum {
                    default: ids[0],
                    alternatives: ids,
                },
            ))),
        ),
        prop(
            spa::sys::SPA_FORMAT_VIDEO_size,
            Value::Choice(ChoiceValue::Rectangle(Choice(
                ChoiceFlags::empty(),
                ChoiceEnum::Range {
                    default: Rectangle {
                        width: 1920,
                        height: 1080,
                    },
                    min: Rectangle {
                        width: 1,
                        height: 1,
                    },
                    max: Rectangle {
                        width: 16384,
                        height: 16384,
                    },
                },
            ))),
        ),
        prop(
            spa::sys::SPA_FORMAT_VIDEO_framerate,
            Value::Choice(ChoiceValue::Fraction(Choice(
                ChoiceFlags::empty(),
                ChoiceEnum::Range {
                    default: Fraction { num: 0, denom: 1 },
                    min: Fraction { num: 0, denom: 1 },
                    max: Fraction {
                        num: 1000,
                        denom: 1,
                    },
                },
            ))),
        ),
    ];
    if dmabuf {
        // A LINEAR dmabuf, mandatory: shm is not taken.
        properties.push(format::modifier_prop(ion_pipewire::MOD_LINEAR));
    }
    if let Some(fps) = max_fps {
        properties.push(prop(
            spa::sys::SPA_FORMAT_VIDEO_maxFramerate,
            Value::Choice(ChoiceValue::Fraction(Choice(
                ChoiceFlags::empty(),
                ChoiceEnum::Range {
                    default: Fraction { num: fps, denom: 1 },
                    min: Fraction { num: 0, denom: 1 },
                    max: Fraction { num: fps, denom: 1 },
                },
            ))),
        ));
    }
    Value::Object(Object {
        type_: spa::sys::SPA_TYPE_OBJECT_Format,
        id: spa::sys::SPA_PARAM_EnumFormat,
        properties,
    })
}

fn on_param(stream: &pw::stream::StreamRef, data: &mut Data, id: u32, pod: Option<&spa::pod::Pod>) {
    let Some(pod) = pod else { return };
    if id != spa::param::ParamType::Format.as_raw() {
        return;
    }
    let mut info = spa::param::video::VideoInfoRaw::new();
    if let Err(e) = info.parse(pod) {
        *data.ended.borrow_mut() = Some(format!("unreadable format: {e:?}"));
        return;
    }
    let size = info.size();
    tracing::info!(format = ?info.format(), size.width, size.height, "consumer format");
    data.format = Some((info.format(), size.width, size.height));
    // Ask for the metadata a screen consumer reads: header, damage and
    // the cursor.
    let pods: Vec<Vec<u8>> = [
        format::meta(
            spa::sys::SPA_META_Header,
            std::mem::size_of::<spa::sys::spa_meta_header>(),
        ),
        format::meta(
            spa::sys::SPA_META_VideoDamage,
            16 * std::mem::size_of::<spa::sys::spa_meta_region>(),
        ),
        format::meta(spa::sys::SPA_META_Cursor, ion_pipewire::cursor_meta_size()),
    ]
    .into_iter()
    .filter_map(Result::ok)
    .collect();
    let mut params: Vec<&spa::pod::Pod> = pods
        .iter()
        .filter_map(|b| spa::pod::Pod::from_bytes(b))
        .collect();
    if let Err(e) = stream.update_params(&mut params) {
        tracing::warn!("cannot set meta params: {e}");
    }
}

fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// Byte offsets of red, green and blue in a 4-byte pixel.
fn rgb_offsets(f: VideoFormat) -> [usize; 3] {
    if f == VideoFormat::RGBx || f == VideoFormat::RGBA {
        [0, 1, 2]
    } else {
        [2, 1, 0]
    }
}

/// How long a wrong dmabuf picture is looked at again (see `read_frame`):
/// up to LATE_TRIES times LATE_STEP.
const LATE_TRIES: u32 = 20;
const LATE_STEP: Duration = Duration::from_millis(50);

/// How often a stream given buffers without memory is reconnected.
const MAX_RECONNECTS: u32 = 3;

/// Notes a buffer whose data has no memory type we can map. PipeWire
/// 0.3.65 (Debian 12) does this when a client's node answers a parameter
/// enumeration with the same sequence number as the link's pending buffer
/// allocation: the link completes early and hands the input port the
/// producer's skeleton buffers before the producer filled in its memory
/// (the daemon logs "invalid memory type"; measured with PIPEWIRE_DEBUG,
/// not seen with PipeWire 1.6). Every frame of such a link reads as
/// nothing, so the consumer relinks, as a careful app would.
fn on_add_buffer(data: &mut Data, buffer: *mut pw::sys::pw_buffer) {
    // SAFETY: PipeWire hands a valid pw_buffer for the callback's length;
    // every pointer is checked before it is read.
    let ok = unsafe {
        let b = (*buffer).buffer;
        !b.is_null()
            && (*b).n_datas >= 1
            && !(*b).datas.is_null()
            && matches!(
                (*(*b).datas).type_,
                spa::sys::SPA_DATA_MemPtr | spa::sys::SPA_DATA_MemFd | spa::sys::SPA_DATA_DmaBuf
            )
    };
    if !ok {
        data.memoryless.set(true);
    }
}

fn on_process(stream: &pw::stream::StreamRef, data: &mut Data) {
    let t_ns = monotonic_ns();
    // SAFETY: raw access because the safe Buffer has no meta accessors.
    // The buffer is ours between dequeue and queue; MAP_BUFFERS mapped its
    // data; every pointer is checked before use and every length is
    // bounded by maxsize.
    unsafe {
        let b = stream.dequeue_raw_buffer();
        if b.is_null() {
            return;
        }
        let record = read_frame(data, (*b).buffer, t_ns);
        stream.queue_raw_buffer(b);
        if let Some(r) = record {
            data.frames += 1;
            if let Ok(line) = serde_json::to_string(&r) {
                let _ = writeln!(data.out, "{line}");
            }
        }
    }
}

unsafe fn find_meta(buf: *mut spa::sys::spa_buffer, kind: u32) -> Option<(*mut u8, usize)> {
    if (*buf).metas.is_null() {
        return None;
    }
    for i in 0..(*buf).n_metas as usize {
        let m = &*(*buf).metas.add(i);
        if m.type_ == kind && !m.data.is_null() {
            return Some((m.data.cast(), m.size as usize));
        }
    }
    None
}

unsafe fn read_frame(
    data: &mut Data,
    buf: *mut spa::sys::spa_buffer,
    t_ns: u64,
) -> Option<FrameRecord> {
    let (format, width, height) = data.format?;
    if buf.is_null() || (*buf).n_datas < 1 || (*buf).datas.is_null() {
        return None;
    }
    let d = &*(*buf).datas;
    let chunk = d.chunk.as_ref()?;
    let (mut seq, mut pts_ns) = (None, None);
    if let Some((h, size)) = find_meta(buf, spa::sys::SPA_META_Header) {
        if size >= std::mem::size_of::<spa::sys::spa_meta_header>() {
            let h = &*h.cast::<spa::sys::spa_meta_header>();
            seq = Some(h.seq);
            pts_ns = Some(h.pts);
        }
    }
    let damage = find_meta(buf, spa::sys::SPA_META_VideoDamage).map(|(p, size)| {
        let n = size / std::mem::size_of::<spa::sys::spa_meta_region>();
        let regions = p.cast::<spa::sys::spa_meta_region>();
        (0..n)
            .map(|i| &*regions.add(i))
            .take_while(|r| r.region.size.width > 0 && r.region.size.height > 0)
            .map(|r| {
                (
                    r.region.position.x,
                    r.region.position.y,
                    r.region.size.width,
                    r.region.size.height,
                )
            })
            .collect()
    });
    let corrupted = chunk.flags & spa::sys::SPA_CHUNK_FLAG_CORRUPTED as i32 != 0;
    let offset = (chunk.offset % d.maxsize.max(1)) as usize;
    let len = (chunk.size.min(d.maxsize.saturating_sub(offset as u32))) as usize;
    // A cursor-only buffer has no picture (and may carry no stride).
    let stride = usize::try_from(chunk.stride).unwrap_or(0);
    let cursor = read_cursor(buf);
    let dmabuf = d.type_ == spa::sys::SPA_DATA_DmaBuf;
    // PipeWire maps no dmabuf (MAP_BUFFERS leaves them): mapped here for
    // this frame, as a CPU consumer of dmabufs does.
    let mapping = if dmabuf && !corrupted && stride > 0 && chunk.size > 0 {
        DmabufMap::new(d.fd, d.mapoffset, d.maxsize)
    } else {
        None
    };
    let base: *const u8 = match &mapping {
        Some(m) => m.ptr,
        None => d.data.cast::<u8>(),
    };
    let pixels: &[u8] = if base.is_null() || corrupted || stride == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(base.add(offset), len)
    };
    let valid = !pixels.is_empty() && pixels.len() >= stride * height as usize;
    // Why a buffer with a picture size is not a picture, for test reports.
    let invalid = (!valid && chunk.size > 0).then(|| {
        if base.is_null() {
            "unmapped data".to_owned()
        } else if corrupted {
            "corrupted chunk".to_owned()
        } else if stride == 0 {
            format!("stride {}", chunk.stride)
        } else {
            format!("{} bytes for stride {stride}", pixels.len())
        }
    });
    let offsets = rgb_offsets(format);
    let counter = valid
        .then(|| decode_counter_packed(pixels, stride, 4, offsets, (0, 0)))
        .flatten();
    let check = data.check_tiles.filter(|_| valid).map(|n| {
        let verdict = |pixels: &[u8]| {
            let pixel = |x: u32, y: u32| {
                let i = y as usize * stride + x as usize * 4;
                pixels
                    .get(i..i + 4)
                    .map_or([0x80; 3], |p| [p[offsets[0]], p[offsets[1]], p[offsets[2]]])
            };
            tiles::check_frame(pixel, width, height, n)
        };
        match verdict(pixels) {
            Ok(_) => "ok".to_owned(),
            // A dmabuf comes without a fence (ext-image-copy-capture v1 and
            // wlr-screencopy have none), and where the compositor renders
            // on the CPU (llvmpipe in the VM lab) no implicit one either:
            // its copy may still be under way when the frame arrives.
            // Nothing else writes the buffer while we hold it, so a picture
            // that becomes whole when looked at again was a late copy; one
            // that stays wrong was never asked to be updated.
            Err(wrong) if dmabuf => {
                let mut late = false;
                for _ in 0..LATE_TRIES {
                    std::thread::sleep(LATE_STEP);
                    let again = DmabufMap::new(d.fd, d.mapoffset, d.maxsize).map(|m| {
                        let later = std::slice::from_raw_parts(m.ptr.add(offset), len);
                        verdict(later).is_ok()
                    });
                    if again == Some(true) {
                        late = true;
                        break;
                    }
                }
                if late {
                    format!("late: {wrong}")
                } else {
                    wrong
                }
            }
            Err(wrong) => wrong,
        }
    });
    let next_id = data.buffer_ids.len() as u32;
    let buffer = Some(*data.buffer_ids.entry(buf as usize).or_insert(next_id));
    let format = format!("{format:?}")
        .trim_start_matches("VideoFormat::")
        .to_owned();
    if valid {
        if let Some(dir) = &data.save {
            save_raw(dir, data.frames, pixels, stride, width, height, &format);
        }
    }
    Some(FrameRecord {
        t_ns,
        width,
        height,
        format,
        size: chunk.size,
        seq,
        pts_ns,
        damage,
        counter,
        valid,
        invalid,
        cursor,
        dmabuf,
        buffer,
        check,
    })
}

/// A dmabuf mapped read-only for one frame, between DMA_BUF_IOCTL_SYNC
/// start and end (the kernel's rule for CPU access to a dmabuf).
struct DmabufMap {
    base: *mut std::ffi::c_void,
    len: usize,
    /// Where the plane starts in the mapping.
    ptr: *const u8,
    fd: std::os::fd::BorrowedFd<'static>,
}

/// `struct dma_buf_sync`'s flags and its ioctl (linux/dma-buf.h).
const DMA_BUF_SYNC_READ: u64 = 1;
const DMA_BUF_SYNC_START: u64 = 0;
const DMA_BUF_SYNC_END: u64 = 4;
const DMA_BUF_IOCTL_SYNC: rustix::ioctl::Opcode = rustix::ioctl::opcode::write::<u64>(b'b', 0);

impl DmabufMap {
    /// SAFETY (of the caller): `fd` is the buffer's dmabuf, open while the
    /// buffer is dequeued, which outlives the map.
    unsafe fn new(fd: i64, mapoffset: u32, maxsize: u32) -> Option<Self> {
        let fd = std::os::fd::BorrowedFd::borrow_raw(i32::try_from(fd).ok()?);
        let len = (mapoffset as usize).checked_add(maxsize as usize)?;
        let base = rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            rustix::mm::ProtFlags::READ,
            rustix::mm::MapFlags::SHARED,
            fd,
            0,
        )
        .map_err(|e| tracing::warn!("cannot map a dmabuf: {e}"))
        .ok()?;
        sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
        Some(Self {
            base,
            len,
            ptr: base.cast::<u8>().add(mapoffset as usize),
            fd,
        })
    }
}

fn sync(fd: std::os::fd::BorrowedFd<'_>, flags: u64) {
    // SAFETY: DMA_BUF_IOCTL_SYNC takes a `struct dma_buf_sync { __u64 flags; }`.
    let r = unsafe {
        rustix::ioctl::ioctl(
            fd,
            rustix::ioctl::Setter::<DMA_BUF_IOCTL_SYNC, u64>::new(flags),
        )
    };
    if let Err(e) = r {
        tracing::debug!("DMA_BUF_IOCTL_SYNC: {e}");
    }
}

impl Drop for DmabufMap {
    fn drop(&mut self) {
        sync(self.fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
        // SAFETY: exactly what `new` mapped; no slice of it outlives the
        // frame's read.
        let _ = unsafe { rustix::mm::munmap(self.base, self.len) };
    }
}

/// The buffer's SPA_META_Cursor, if it has one with a cursor id.
unsafe fn read_cursor(buf: *mut spa::sys::spa_buffer) -> Option<super::CursorRecord> {
    let (p, size) = find_meta(buf, spa::sys::SPA_META_Cursor)?;
    let cursor_size = std::mem::size_of::<spa::sys::spa_meta_cursor>();
    if size < cursor_size {
        return None;
    }
    let c = &*p.cast::<spa::sys::spa_meta_cursor>();
    let (mut bitmap, mut bitmap_opaque, mut bitmap_digest) = (None, None, None);
    let off = c.bitmap_offset as usize;
    let bitmap_size = std::mem::size_of::<spa::sys::spa_meta_bitmap>();
    if off >= cursor_size && off + bitmap_size <= size {
        let b = &*p.add(off).cast::<spa::sys::spa_meta_bitmap>();
        let (w, h) = (b.size.width, b.size.height);
        let stride = usize::try_from(b.stride).unwrap_or(0);
        let start = off + b.offset as usize;
        if b.format != 0 && b.offset as usize >= bitmap_size && start + stride * h as usize <= size
        {
            bitmap = Some((w, h));
            let px = std::slice::from_raw_parts(p.add(start), stride * h as usize);
            // BGRA: alpha is the fourth byte.
            let opaque = px
                .chunks(stride.max(1))
                .flat_map(|row| row.chunks_exact(4).take(w as usize))
                .filter(|p| p[3] != 0)
                .count();
            bitmap_opaque = Some(u32::try_from(opaque).unwrap_or(u32::MAX));
            // FNV-1a of the pixels, row by row: two images compare equal
            // (the same cursor, the same way up) without storing them.
            let digest = px
                .chunks(stride.max(1))
                .flat_map(|row| row.iter().take(w as usize * 4))
                .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
            bitmap_digest = Some(digest);
        }
    }
    Some(super::CursorRecord {
        id: c.id,
        x: c.position.x,
        y: c.position.y,
        hotspot_x: c.hotspot.x,
        hotspot_y: c.hotspot.y,
        bitmap,
        bitmap_opaque,
        bitmap_digest,
    })
}

/// Writes the frame's pixels as they came (4 bytes a pixel, rows packed),
/// through a temporary name so a reader never sees half a file. Kept raw
/// so that a consumer saving every frame stays as fast as one that does
/// not; [`super::to_rgb`] converts.
fn save_raw(
    dir: &std::path::Path,
    index: u64,
    pixels: &[u8],
    stride: usize,
    width: u32,
    height: u32,
    format: &str,
) {
    let row = width as usize * 4;
    let mut raw = Vec::with_capacity(row * height as usize);
    for r in pixels.chunks(stride).take(height as usize) {
        raw.extend_from_slice(&r[..row.min(r.len())]);
    }
    let name = format!(
        "{index:05}-{width}x{height}.{}",
        format.to_ascii_lowercase()
    );
    let tmp = dir.join(format!(".{name}"));
    if std::fs::write(&tmp, &raw).is_ok() {
        let _ = std::fs::rename(&tmp, dir.join(name));
    }
}
