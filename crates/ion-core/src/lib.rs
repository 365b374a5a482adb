//! The pure core of ionChannel.
//!
//! Nothing here talks to D-Bus, Wayland or PipeWire: this crate holds the
//! session model, the normalized input events that both the portal's Notify*
//! calls and (later) EIS produce, their validation, the mapping from stream
//! coordinates to the compositor's layout, the per-session rate limiter, the
//! record of what a session holds down, and the consent policy. Everything is
//! deterministic and tested by unit and property tests.

pub mod clipboard;
pub mod consent;
pub mod device;
pub mod error;
pub mod frame;
pub mod grants;
pub mod held;
pub mod input;
pub mod layout;
pub mod order;
pub mod policy;
pub mod rate;
pub mod refusals;
pub mod selection;
pub mod session;
pub mod transform;
pub mod uinput;
pub mod validate;

pub use device::{DeviceType, DeviceTypes};
pub use error::InputError;
pub use held::HeldInput;
pub use input::{Axis, InputEvent, KeyState};
pub use layout::{LayoutBox, Rect, StreamRegion};
pub use order::{OrderRepair, RepairStats};
pub use policy::{Decision, Policy};
pub use rate::RateLimiter;
pub use session::{SessionState, StateError};
