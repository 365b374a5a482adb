//! D-Bus errors of the backend. The names are the portal's own
//! (`org.freedesktop.portal.Error.*`) so clients and the frontend know them.

use ion_core::InputError;
use zbus::DBusError;

#[derive(Debug, DBusError)]
#[zbus(prefix = "org.freedesktop.portal.Error")]
pub enum PortalError {
    #[zbus(error)]
    ZBus(zbus::Error),
    /// Something went wrong that the caller could not have prevented.
    Failed(String),
    /// An argument is malformed or out of range.
    InvalidArgument(String),
    /// The session, stream or object named does not exist.
    NotFound(String),
    /// The caller may not do this (not the frontend, not the session's
    /// owner, device not granted).
    NotAllowed(String),
}

impl From<InputError> for PortalError {
    fn from(e: InputError) -> Self {
        let msg = e.to_string();
        match e {
            InputError::WrongState(_)
            | InputError::EisActive
            | InputError::NoEis
            | InputError::RateLimited { .. } => Self::Failed(msg),
            InputError::DeviceNotGranted(_) => Self::NotAllowed(msg),
            InputError::UnknownStream(_) => Self::NotFound(msg),
            InputError::NotFinite { .. }
            | InputError::OutOfRange { .. }
            | InputError::OffLayout { .. } => Self::InvalidArgument(msg),
        }
    }
}

impl From<ion_core::StateError> for PortalError {
    fn from(e: ion_core::StateError) -> Self {
        Self::Failed(e.to_string())
    }
}

impl From<ion_core::clipboard::ClipboardError> for PortalError {
    fn from(e: ion_core::clipboard::ClipboardError) -> Self {
        use ion_core::clipboard::ClipboardError;
        match e {
            ClipboardError::UnknownSerial(_) => Self::NotFound(e.to_string()),
            _ => Self::InvalidArgument(e.to_string()),
        }
    }
}
