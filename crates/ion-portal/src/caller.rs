//! Who may call the backend.
//!
//! On the session bus the only legitimate caller is the frontend, the
//! connection that owns `org.freedesktop.portal.Desktop`; sessions then
//! belong to the connection that created them. On a peer-to-peer
//! connection (in-process tests) there is no bus and no sender: the peer
//! is the frontend.

use zbus::fdo::DBusProxy;
use zbus::message::Header;
use zbus::names::BusName;
use zbus::Connection;

use crate::error::PortalError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The owner of this well-known name (the frontend's).
    NameOwner(String),
    /// Whoever is at the other end of a peer-to-peer connection.
    Peer,
}

/// The caller's identity as sessions record it.
pub const PEER: &str = ":peer";

pub fn sender_of(header: &Header<'_>) -> String {
    header
        .sender()
        .map(|s| s.to_string())
        .unwrap_or_else(|| PEER.to_string())
}

impl Trust {
    /// Checks that the caller is the frontend; returns its unique name.
    pub async fn check(
        &self,
        conn: &Connection,
        header: &Header<'_>,
    ) -> Result<String, PortalError> {
        let sender = sender_of(header);
        match self {
            Trust::Peer => Ok(sender),
            Trust::NameOwner(name) => {
                let refuse = || {
                    PortalError::NotAllowed(format!(
                        "only the portal frontend ({name}) may call this backend; {sender} is not it"
                    ))
                };
                if sender == PEER {
                    return Err(refuse());
                }
                let bus_name = BusName::try_from(name.as_str())
                    .map_err(|e| PortalError::Failed(format!("bad frontend name: {e}")))?;
                let dbus = DBusProxy::new(conn).await?;
                let owner = match dbus.get_name_owner(bus_name).await {
                    Ok(owner) => owner.to_string(),
                    Err(_) => return Err(refuse()),
                };
                if owner == sender {
                    Ok(sender)
                } else {
                    Err(refuse())
                }
            }
        }
    }
}
