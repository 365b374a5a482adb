//! Video formats: what the compositor's shm buffers hold, as PipeWire
//! names it, and the parameter pods a stream offers.

use pipewire as pw;
use pw::spa;
use spa::param::video::VideoFormat;
use spa::pod::{ChoiceValue, Object, Property, PropertyFlags, Value};
use spa::utils::{Choice, ChoiceEnum, ChoiceFlags, Fraction, Id, Rectangle};

/// A wl_shm format ionChannel can stream, by its wl_shm code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShmFormat {
    Argb8888,
    Xrgb8888,
    Abgr8888,
    Xbgr8888,
}

impl ShmFormat {
    pub fn from_wl_shm(code: u32) -> Option<Self> {
        match code {
            0 => Some(Self::Argb8888),
            1 => Some(Self::Xrgb8888),
            0x3432_4241 => Some(Self::Abgr8888),
            0x3432_4258 => Some(Self::Xbgr8888),
            _ => None,
        }
    }

    pub fn wl_shm(self) -> u32 {
        match self {
            Self::Argb8888 => 0,
            Self::Xrgb8888 => 1,
            Self::Abgr8888 => 0x3432_4241,
            Self::Xbgr8888 => 0x3432_4258,
        }
    }

    /// The same memory layout in PipeWire's names: wl_shm formats name a
    /// little-endian 32-bit word, SPA names the bytes in memory order.
    pub fn spa(self) -> VideoFormat {
        match self {
            Self::Argb8888 => VideoFormat::BGRA,
            Self::Xrgb8888 => VideoFormat::BGRx,
            Self::Abgr8888 => VideoFormat::RGBA,
            Self::Xbgr8888 => VideoFormat::RGBx,
        }
    }

    pub fn from_spa(f: VideoFormat) -> Option<Self> {
        [
            Self::Argb8888,
            Self::Xrgb8888,
            Self::Abgr8888,
            Self::Xbgr8888,
        ]
        .into_iter()
        .find(|s| s.spa() == f)
    }

    pub const BYTES_PER_PIXEL: u32 = 4;

    /// The DRM fourcc of the same layout (what linux-dmabuf and GBM name):
    /// wl_shm's codes are the fourccs but for its first two.
    pub fn fourcc(self) -> u32 {
        match self {
            Self::Argb8888 => 0x3432_5241, // AR24
            Self::Xrgb8888 => 0x3432_5258, // XR24
            Self::Abgr8888 => 0x3432_4241, // AB24
            Self::Xbgr8888 => 0x3432_4258, // XB24
        }
    }

    pub fn from_fourcc(fourcc: u32) -> Option<Self> {
        [
            Self::Argb8888,
            Self::Xrgb8888,
            Self::Abgr8888,
            Self::Xbgr8888,
        ]
        .into_iter()
        .find(|s| s.fourcc() == fourcc)
    }
}

/// `DRM_FORMAT_MOD_LINEAR`: rows one after another, as in shm. The only
/// modifier ionChannel offers for now: every GPU and consumer can take it,
/// and it is what the VM lab's software renderer has (see ARCHITECTURE).
pub const MOD_LINEAR: u64 = 0;

/// What a stream offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoParams {
    /// Size in pixels (what the compositor copies).
    pub width: u32,
    pub height: u32,
    /// Formats the compositor offers for this source, preferred first.
    pub formats: Vec<ShmFormat>,
    /// Upper bound on the frame rate.
    pub max_fps: u32,
    /// Buffers carry cursor metadata (SPA_META_Cursor).
    pub cursor_meta: bool,
    /// Formats also offered as LINEAR dmabufs, preferred first (offered
    /// before the shm ones: a consumer that can take dmabufs picks them).
    /// Empty: shm only.
    pub dmabuf: Vec<ShmFormat>,
}

/// A pod's bytes.
pub fn serialize(value: Value) -> Result<Vec<u8>, String> {
    spa::pod::serialize::PodSerializer::serialize(std::io::Cursor::new(Vec::new()), &value)
        .map(|(cursor, _)| cursor.into_inner())
        .map_err(|e| format!("cannot serialize a pod: {e:?}"))
}

/// A pod object property without flags.
pub fn prop(key: u32, value: Value) -> Property {
    Property {
        key,
        flags: PropertyFlags::empty(),
        value,
    }
}

/// The EnumFormat pods, in order of preference: one per dmabuf format
/// (a modifier is per format), then the shm one.
pub fn enum_formats(p: &VideoParams) -> Result<Vec<Vec<u8>>, String> {
    let mut pods = Vec::new();
    for f in &p.dmabuf {
        pods.push(enum_format_with(
            p,
            std::slice::from_ref(f),
            Some(MOD_LINEAR),
        )?);
    }
    pods.push(enum_format(p)?);
    Ok(pods)
}

/// The EnumFormat pod: raw video, our formats, our size, 0..max_fps.
pub fn enum_format(p: &VideoParams) -> Result<Vec<u8>, String> {
    enum_format_with(p, &p.formats, None)
}

/// An EnumFormat pod for `formats`; with a modifier, a dmabuf one: the
/// modifier property is mandatory, so a consumer that cannot take dmabufs
/// skips the pod (PipeWire's convention, as xdg-desktop-portal-wlr and
/// mutter offer them).
fn enum_format_with(
    p: &VideoParams,
    formats: &[ShmFormat],
    modifier: Option<u64>,
) -> Result<Vec<u8>, String> {
    let formats: Vec<Id> = formats.iter().map(|f| Id(f.spa().as_raw())).collect();
    let first = *formats.first().ok_or("no format to offer")?;
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
                    default: first,
                    alternatives: formats,
                },
            ))),
        ),
        prop(
            spa::sys::SPA_FORMAT_VIDEO_size,
            Value::Rectangle(Rectangle {
                width: p.width,
                height: p.height,
            }),
        ),
        // Frames are pushed when something changed: a variable rate,
        // 0/1, with the cap as maxFramerate.
        prop(
            spa::sys::SPA_FORMAT_VIDEO_framerate,
            Value::Fraction(Fraction { num: 0, denom: 1 }),
        ),
        prop(
            spa::sys::SPA_FORMAT_VIDEO_maxFramerate,
            Value::Choice(ChoiceValue::Fraction(Choice(
                ChoiceFlags::empty(),
                ChoiceEnum::Range {
                    default: Fraction {
                        num: p.max_fps,
                        denom: 1,
                    },
                    min: Fraction { num: 1, denom: 1 },
                    max: Fraction {
                        num: p.max_fps,
                        denom: 1,
                    },
                },
            ))),
        ),
    ];
    if let Some(modifier) = modifier {
        properties.push(modifier_prop(modifier));
    }
    let obj = Object {
        type_: spa::sys::SPA_TYPE_OBJECT_Format,
        id: spa::sys::SPA_PARAM_EnumFormat,
        properties,
    };
    serialize(Value::Object(obj))
}

/// The mandatory modifier property of a dmabuf format pod: an enum of
/// one, as xdg-desktop-portal-wlr writes its list (consumers read a
/// choice). Mandatory, so a peer that cannot take dmabufs skips the pod.
pub fn modifier_prop(modifier: u64) -> Property {
    // The pod's Long is signed; the modifier's bits go as they are.
    let m = modifier as i64;
    Property {
        key: spa::sys::SPA_FORMAT_VIDEO_modifier,
        flags: PropertyFlags::MANDATORY,
        value: Value::Choice(ChoiceValue::Long(Choice(
            ChoiceFlags::empty(),
            ChoiceEnum::Enum {
                default: m,
                alternatives: vec![m],
            },
        ))),
    }
}

/// Buffers: memory that we allocate ourselves (so the same memory can be
/// given to the compositor), one plane of `stride * height` bytes: memfds,
/// or dmabufs when the consumer chose a dmabuf format.
pub fn buffers(width: u32, height: u32) -> Result<Vec<u8>, String> {
    buffers_of(width, height, spa::sys::SPA_DATA_MemFd)
}

pub fn buffers_of(width: u32, height: u32, data_type: u32) -> Result<Vec<u8>, String> {
    let stride = width * ShmFormat::BYTES_PER_PIXEL;
    let size = i32::try_from(u64::from(stride) * u64::from(height))
        .map_err(|_| "frame larger than 2 GiB")?;
    let stride = i32::try_from(stride).map_err(|_| "stride too large")?;
    let obj = Object {
        type_: spa::sys::SPA_TYPE_OBJECT_ParamBuffers,
        id: spa::sys::SPA_PARAM_Buffers,
        properties: vec![
            prop(
                spa::sys::SPA_PARAM_BUFFERS_buffers,
                Value::Choice(ChoiceValue::Int(Choice(
                    ChoiceFlags::empty(),
                    ChoiceEnum::Range {
                        default: 4,
                        min: 2,
                        max: 16,
                    },
                ))),
            ),
            prop(spa::sys::SPA_PARAM_BUFFERS_blocks, Value::Int(1)),
            prop(spa::sys::SPA_PARAM_BUFFERS_size, Value::Int(size)),
            prop(spa::sys::SPA_PARAM_BUFFERS_stride, Value::Int(stride)),
            prop(
                spa::sys::SPA_PARAM_BUFFERS_dataType,
                Value::Choice(ChoiceValue::Int(Choice(
                    ChoiceFlags::empty(),
                    ChoiceEnum::Flags {
                        default: 1 << data_type,
                        flags: vec![1 << data_type],
                    },
                ))),
            ),
        ],
    };
    serialize(Value::Object(obj))
}

/// A metadata block every buffer carries.
pub fn meta(kind: u32, size: usize) -> Result<Vec<u8>, String> {
    let size = i32::try_from(size).map_err(|_| "meta too large")?;
    let obj = Object {
        type_: spa::sys::SPA_TYPE_OBJECT_ParamMeta,
        id: spa::sys::SPA_PARAM_Meta,
        properties: vec![
            prop(spa::sys::SPA_PARAM_META_type, Value::Id(Id(kind))),
            prop(spa::sys::SPA_PARAM_META_size, Value::Int(size)),
        ],
    };
    serialize(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shm_formats_map_to_spa_byte_order() {
        for code in [0u32, 1, 0x3432_4241, 0x3432_4258] {
            let f = ShmFormat::from_wl_shm(code).unwrap();
            assert_eq!(f.wl_shm(), code);
            assert_eq!(ShmFormat::from_spa(f.spa()), Some(f));
        }
        assert_eq!(ShmFormat::Xrgb8888.spa(), VideoFormat::BGRx);
        assert!(ShmFormat::from_wl_shm(0x3231_5258).is_none());
    }

    #[test]
    fn pods_serialize() {
        let p = VideoParams {
            width: 1920,
            height: 1080,
            formats: vec![ShmFormat::Xrgb8888, ShmFormat::Argb8888],
            max_fps: 60,
            cursor_meta: false,
            dmabuf: vec![ShmFormat::Xrgb8888],
        };
        assert!(enum_format(&p).unwrap().len() > 64);
        let all = enum_formats(&p).unwrap();
        assert_eq!(all.len(), 2, "the dmabuf pod, then shm");
        assert!(
            all[0].len() > all[1].len() - 8,
            "the dmabuf pod has a modifier"
        );
        for f in [
            ShmFormat::Argb8888,
            ShmFormat::Xrgb8888,
            ShmFormat::Abgr8888,
            ShmFormat::Xbgr8888,
        ] {
            assert_eq!(ShmFormat::from_fourcc(f.fourcc()), Some(f));
        }
        assert_eq!(ShmFormat::Xrgb8888.fourcc(), u32::from_le_bytes(*b"XR24"));
        assert!(buffers(1920, 1080).unwrap().len() > 32);
        assert!(meta(spa::sys::SPA_META_Header, 32).is_ok());
        let empty = VideoParams {
            formats: vec![],
            ..p
        };
        assert!(enum_format(&empty).is_err());
    }
}
