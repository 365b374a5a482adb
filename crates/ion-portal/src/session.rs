//! `org.freedesktop.impl.portal.Session`: exported at the session handle for
//! the session's whole life. `Close` comes from the frontend; `Closed` is
//! emitted when the backend ends a session itself.

use std::sync::Arc;

use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::OwnedObjectPath;
use zbus::{interface, Connection};

use crate::caller::sender_of;
use crate::error::PortalError;
use crate::portal::{CloseReason, Portal};

pub struct SessionObject {
    pub portal: Arc<Portal>,
    pub path: OwnedObjectPath,
    pub owner: String,
}

#[interface(name = "org.freedesktop.impl.portal.Session")]
impl SessionObject {
    async fn close(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), PortalError> {
        let sender = sender_of(&header);
        if sender != self.owner {
            return Err(PortalError::NotAllowed(format!(
                "session {} belongs to another connection",
                self.path.as_str()
            )));
        }
        self.portal
            .close_session(conn, &self.path, CloseReason::Requested)
            .await;
        Ok(())
    }

    #[zbus(signal)]
    pub async fn closed(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        1
    }
}
