//! `org.freedesktop.impl.portal.ScreenCast` (version 4: monitor sources,
//! hidden and embedded cursor; persistence is not offered yet, so
//! `persist_mode` is accepted and nothing is remembered).

use std::collections::HashMap;
use std::sync::Arc;

use zbus::message::Header;
use zbus::zvariant::{ObjectPath, OwnedValue};
use zbus::{interface, Connection};

use crate::error::PortalError;
use crate::options::SelectSourcesOptions;
use crate::portal::{Portal, Results};
use crate::sessions::SessionKind;

pub struct ScreenCast {
    pub portal: Arc<Portal>,
}

// The D-Bus signatures fix the argument lists.
#[allow(clippy::too_many_arguments)]
#[interface(name = "org.freedesktop.impl.portal.ScreenCast")]
impl ScreenCast {
    async fn create_session(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] header: Header<'_>,
        handle: ObjectPath<'_>,
        session_handle: ObjectPath<'_>,
        app_id: String,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<(u32, Results), PortalError> {
        self.portal
            .create_session(
                conn,
                &header,
                handle,
                session_handle,
                app_id,
                SessionKind::ScreenCast,
            )
            .await
    }

    /// Also called by the frontend on RemoteDesktop sessions.
    async fn select_sources(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] header: Header<'_>,
        handle: ObjectPath<'_>,
        session_handle: ObjectPath<'_>,
        _app_id: String,
        options: SelectSourcesOptions,
    ) -> Result<(u32, Results), PortalError> {
        self.portal
            .select_sources(conn, &header, handle, session_handle, options)
            .await
    }

    async fn start(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] header: Header<'_>,
        handle: ObjectPath<'_>,
        session_handle: ObjectPath<'_>,
        _app_id: String,
        _parent_window: String,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<(u32, Results), PortalError> {
        self.portal
            .start(
                conn,
                &header,
                handle,
                session_handle,
                SessionKind::ScreenCast,
            )
            .await
    }

    #[zbus(property)]
    fn available_source_types(&self) -> u32 {
        self.portal.config.available_sources
    }

    #[zbus(property)]
    fn available_cursor_modes(&self) -> u32 {
        self.portal.config.available_cursor_modes
    }

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        4
    }
}
