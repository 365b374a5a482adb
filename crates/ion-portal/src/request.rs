//! `org.freedesktop.impl.portal.Request`: exported at the call's `handle`
//! while a backend call runs; `Close` ends the interaction early.

use tokio::sync::watch;
use zbus::message::Header;
use zbus::zvariant::OwnedObjectPath;
use zbus::{interface, Connection};

use crate::caller::sender_of;
use crate::error::PortalError;

pub struct RequestObject {
    owner: String,
    closed: watch::Sender<bool>,
}

#[interface(name = "org.freedesktop.impl.portal.Request")]
impl RequestObject {
    async fn close(&self, #[zbus(header)] header: Header<'_>) -> Result<(), PortalError> {
        let sender = sender_of(&header);
        if sender != self.owner {
            return Err(PortalError::NotAllowed(format!(
                "the request belongs to {}, not {sender}",
                self.owner
            )));
        }
        tracing::debug!("request closed by the frontend");
        self.closed.send_replace(true);
        Ok(())
    }
}

/// A Request object exported for the duration of one call.
pub struct RequestGuard {
    conn: Connection,
    path: OwnedObjectPath,
    closed: watch::Receiver<bool>,
}

impl RequestGuard {
    pub async fn export(
        conn: &Connection,
        path: OwnedObjectPath,
        owner: &str,
    ) -> Result<Self, PortalError> {
        let (tx, rx) = watch::channel(false);
        let obj = RequestObject {
            owner: owner.to_string(),
            closed: tx,
        };
        let added = conn.object_server().at(&path, obj).await?;
        if !added {
            return Err(PortalError::InvalidArgument(format!(
                "request handle {} is already in use",
                path.as_str()
            )));
        }
        Ok(Self {
            conn: conn.clone(),
            path,
            closed: rx,
        })
    }

    /// Resolves when the frontend closes the request.
    pub async fn cancelled(&self) {
        let mut rx = self.closed.clone();
        // An error means the object is gone: treat as closed.
        let _ = rx.wait_for(|closed| *closed).await;
    }

    pub fn is_cancelled(&self) -> bool {
        *self.closed.borrow()
    }

    /// Unexports the Request object.
    pub async fn finish(self) {
        if let Err(e) = self
            .conn
            .object_server()
            .remove::<RequestObject, _>(&self.path)
            .await
        {
            tracing::debug!("request {} already gone: {e}", self.path.as_str());
        }
    }
}
