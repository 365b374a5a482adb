//! `org.freedesktop.impl.portal.Clipboard` (version 1): the D-Bus face of
//! `clipboard/mod.rs`. The frontend (1.20 and newer) forwards the app's
//! calls on RemoteDesktop sessions; SetSelection and SelectionWriteDone
//! without waiting for the answer.

use std::collections::HashMap;
use std::sync::Arc;

use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedFd, OwnedValue, Value};
use zbus::{interface, Connection};

use crate::error::PortalError;
use crate::portal::Portal;

pub struct Clipboard {
    pub portal: Arc<Portal>,
}

#[interface(name = "org.freedesktop.impl.portal.Clipboard")]
impl Clipboard {
    async fn request_clipboard(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<(), PortalError> {
        self.portal
            .request_clipboard(conn, &header, &session_handle)
            .await
    }

    async fn set_selection(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        options: HashMap<String, OwnedValue>,
    ) -> Result<(), PortalError> {
        let mime_types = match options.get("mime_types") {
            None => None,
            Some(v) => Some(Vec::<String>::try_from(v.clone()).map_err(|_| {
                PortalError::InvalidArgument("mime_types must be an array of strings (as)".into())
            })?),
        };
        self.portal
            .set_selection(conn, &header, &session_handle, mime_types)
            .await
    }

    async fn selection_write(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        serial: u32,
    ) -> Result<OwnedFd, PortalError> {
        self.portal
            .selection_write(conn, &header, &session_handle, serial)
            .await
            .map(OwnedFd::from)
    }

    async fn selection_write_done(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        serial: u32,
        success: bool,
    ) -> Result<(), PortalError> {
        self.portal
            .selection_write_done(conn, &header, &session_handle, serial, success)
            .await
    }

    async fn selection_read(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        mime_type: String,
    ) -> Result<OwnedFd, PortalError> {
        self.portal
            .selection_read(conn, &header, &session_handle, mime_type)
            .await
            .map(OwnedFd::from)
    }

    /// The local selection changed: its MIME types (`mime_types as`) and
    /// whether it is this session's own (`session_is_owner b`).
    #[zbus(signal)]
    pub async fn selection_owner_changed(
        emitter: &SignalEmitter<'_>,
        session_handle: ObjectPath<'_>,
        options: HashMap<&str, Value<'_>>,
    ) -> zbus::Result<()>;

    /// A local app pastes `mime_type` from the session's selection: the
    /// remote side answers with SelectionWrite(serial).
    #[zbus(signal)]
    pub async fn selection_transfer(
        emitter: &SignalEmitter<'_>,
        session_handle: ObjectPath<'_>,
        mime_type: &str,
        serial: u32,
    ) -> zbus::Result<()>;

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        1
    }
}
