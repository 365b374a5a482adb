//! Why an input call was refused.

use crate::device::DeviceType;
use crate::session::SessionState;

/// A refused input call. Each variant maps to a D-Bus error at the portal
/// boundary; the message says what was wrong with which argument.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("session is {0}, input needs a started session")]
    WrongState(SessionState),
    #[error("device type {} was not granted to this session", .0.name())]
    DeviceNotGranted(DeviceType),
    #[error("input goes through EIS for this session; Notify* calls are refused")]
    EisActive,
    #[error("this session has no EIS connection")]
    NoEis,
    #[error("unknown stream {0} (not one of this session's streams)")]
    UnknownStream(u32),
    #[error("{what} is not a finite number ({value})")]
    NotFinite { what: &'static str, value: f64 },
    #[error("{what} {value} is out of range ({range})")]
    OutOfRange {
        what: &'static str,
        value: String,
        range: &'static str,
    },
    #[error("position ({x}, {y}) is on no output (the layout changed?)")]
    OffLayout { x: f64, y: f64 },
    #[error("rate limit exceeded: more than {limit} input events per second")]
    RateLimited { limit: u32 },
}
