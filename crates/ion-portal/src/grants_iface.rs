//! `org.ionchannel.Grants1` at `/org/ionchannel/Grants`: what
//! `ionchannel grants` talks to while the daemon runs, so that revoking a
//! grant also closes the sessions running under it.
//!
//! Any host client of the user's session bus may call it: listing shows
//! which apps were allowed, revoking only ever takes access away. Both are
//! what the user could do with the grants file itself. Sandboxed apps
//! (Flatpak, Snap) are refused (`sandbox.rs`): which apps were allowed,
//! and taking another app's access away, are not theirs to see or do.

use std::sync::Arc;

use ion_core::grants::Grant;
use zbus::message::Header;
use zbus::zvariant::OwnedObjectPath;
use zbus::{interface, Connection};

use crate::portal::{CloseReason, Portal};

pub const GRANTS_PATH: &str = "/org/ionchannel/Grants";
pub const GRANTS_INTERFACE: &str = "org.ionchannel.Grants1";

pub struct Grants {
    pub portal: Arc<Portal>,
}

#[interface(name = "org.ionchannel.Grants1")]
impl Grants {
    /// Every grant, as the grants file's JSON (transient ones included).
    async fn list(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> zbus::fdo::Result<String> {
        crate::sandbox::refuse_sandboxed(conn, &header, "listing grants").await?;
        let file = self
            .portal
            .grants
            .load()
            .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
        Ok(file.to_text())
    }

    /// Revokes grants by id; returns the ids revoked.
    async fn revoke(
        &self,
        ids: Vec<String>,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> zbus::fdo::Result<Vec<String>> {
        crate::sandbox::refuse_sandboxed(conn, &header, "revoking grants").await?;
        self.revoke_where(conn, |g| ids.contains(&g.id)).await
    }

    /// Revokes every grant of an app ("" for host apps).
    async fn revoke_app(
        &self,
        app_id: String,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> zbus::fdo::Result<Vec<String>> {
        crate::sandbox::refuse_sandboxed(conn, &header, "revoking grants").await?;
        self.revoke_where(conn, |g| g.app_id == app_id).await
    }

    async fn revoke_all(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> zbus::fdo::Result<Vec<String>> {
        crate::sandbox::refuse_sandboxed(conn, &header, "revoking grants").await?;
        self.revoke_where(conn, |_| true).await
    }
}

impl Grants {
    async fn revoke_where(
        &self,
        conn: &Connection,
        pick: impl Fn(&Grant) -> bool,
    ) -> zbus::fdo::Result<Vec<String>> {
        let gone = self
            .portal
            .grants
            .remove(pick)
            .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
        let ids: Vec<String> = gone.into_iter().map(|g| g.id).collect();
        for path in self.portal.sessions_under(&ids) {
            if let Ok(path) = OwnedObjectPath::try_from(path) {
                self.portal
                    .close_session(conn, &path, CloseReason::Revoked)
                    .await;
            }
        }
        tracing::info!(grants = ?ids, "grants revoked");
        Ok(ids)
    }
}
