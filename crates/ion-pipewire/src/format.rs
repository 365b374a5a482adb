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
}

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

/// The EnumFormat pod: raw video, our formats, our size, 0..max_fps.
pub fn enum_format(p: &VideoParams) -> Result<Vec<u8>, String> {
    let formats: Vec<Id> = p.formats.iter().map(|f| Id(f.spa().as_raw())).collect();
    let first = *formats.first().ok_or("no format to offer")?;
    let obj = Object {
        type_: spa::sys::SPA_TYPE_OBJECT_Format,
        id: spa::sys::SPA_PARAM_EnumFormat,
        properties: vec![
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
        ],
    };
    serialize(Value::Object(obj))
}

/// Buffers: memfd memory that we allocate ourselves (so the same memory
/// can be given to the compositor), one plane of `stride * height` bytes.
pub fn buffers(width: u32, height: u32) -> Result<Vec<u8>, String> {
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
                        default: 1 << spa::sys::SPA_DATA_MemFd,
                        flags: vec![1 << spa::sys::SPA_DATA_MemFd],
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
        };
        assert!(enum_format(&p).unwrap().len() > 64);
        assert!(buffers(1920, 1080).unwrap().len() > 32);
        assert!(meta(spa::sys::SPA_META_Header, 32).is_ok());
        let empty = VideoParams {
            formats: vec![],
            ..p
        };
        assert!(enum_format(&empty).is_err());
    }
}
