//! The portal's Clipboard interface through the frontend (1.20 and later),
//! on a RemoteDesktop session, as a remote-desktop app uses it: request it
//! before Start, offer a selection, answer the pastes it is asked for, read
//! what the local side copied.

use std::collections::HashMap;
use std::os::fd::OwnedFd;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use zbus::zvariant::{ObjectPath, OwnedValue, Value};

use super::request::{PortalClient, PORTAL_NAME, PORTAL_PATH};
use super::RemoteDesktop;

const IFACE: &str = "org.freedesktop.portal.Clipboard";

/// One SelectionOwnerChanged as the app got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerChange {
    pub mime_types: Vec<String>,
    pub session_is_owner: bool,
}

/// One SelectionTransfer: a local paste the app must answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferAsk {
    pub mime_type: String,
    pub serial: u32,
}

/// The Clipboard calls of one RemoteDesktop session.
pub struct Clipboard<'a> {
    client: &'a PortalClient,
    session: ObjectPath<'a>,
}

impl<'a> Clipboard<'a> {
    pub fn of(rd: &'a RemoteDesktop<'a>) -> Self {
        Self {
            client: rd.client,
            session: rd.session.as_ref(),
        }
    }

    async fn call<B>(&self, method: &str, body: &B) -> Result<zbus::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.client
            .conn
            .call_method(Some(PORTAL_NAME), PORTAL_PATH, Some(IFACE), method, body)
            .await
            .with_context(|| format!("Clipboard.{method}"))
    }

    /// The frontend's Clipboard interface version, or None when it has no
    /// Clipboard interface (xdg-desktop-portal before 1.20, e.g. 1.16).
    pub async fn frontend_version(client: &PortalClient) -> Option<u32> {
        client.property_u32(IFACE, "version").await.ok()
    }

    /// RequestClipboard (before Start).
    pub async fn request(&self) -> Result<()> {
        let opts: HashMap<&str, Value<'_>> = HashMap::new();
        self.call("RequestClipboard", &(&self.session, opts))
            .await
            .map(drop)
    }

    pub async fn set_selection(&self, mime_types: &[&str]) -> Result<()> {
        let mut opts: HashMap<&str, Value<'_>> = HashMap::new();
        opts.insert("mime_types", Value::from(mime_types.to_vec()));
        self.call("SetSelection", &(&self.session, opts))
            .await
            .map(drop)
    }

    /// SetSelection with options exactly as given (for bad input).
    pub async fn set_selection_raw(&self, opts: HashMap<&str, Value<'_>>) -> Result<()> {
        self.call("SetSelection", &(&self.session, opts))
            .await
            .map(drop)
    }

    pub async fn selection_write(&self, serial: u32) -> Result<OwnedFd> {
        fd_of(
            &self
                .call("SelectionWrite", &(&self.session, serial))
                .await?,
        )
    }

    pub async fn selection_write_done(&self, serial: u32, success: bool) -> Result<()> {
        self.call("SelectionWriteDone", &(&self.session, serial, success))
            .await
            .map(drop)
    }

    pub async fn selection_read(&self, mime_type: &str) -> Result<OwnedFd> {
        fd_of(
            &self
                .call("SelectionRead", &(&self.session, mime_type))
                .await?,
        )
    }

    /// The Clipboard signals named `member` (of every session: the
    /// callers keep this session's).
    async fn signals(&self, member: &'static str) -> Result<zbus::MessageStream> {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(IFACE)?
            .member(member)?
            .build();
        Ok(zbus::MessageStream::for_match_rule(rule, &self.client.conn, Some(64)).await?)
    }

    /// The stream of SelectionOwnerChanged for this session.
    pub async fn owner_changes(
        &self,
    ) -> Result<impl futures_util::Stream<Item = OwnerChange> + 'a> {
        let session = self.session.to_string();
        let stream = self.signals("SelectionOwnerChanged").await?;
        Ok(stream.filter_map(move |m| {
            let session = session.clone();
            async move {
                let m = m.ok()?;
                let body = m.body();
                let (path, opts): (ObjectPath<'_>, HashMap<String, OwnedValue>) =
                    body.deserialize().ok()?;
                if path.as_str() != session {
                    return None;
                }
                let mime_types = opts
                    .get("mime_types")
                    .and_then(|v| Vec::<String>::try_from(v.clone()).ok())
                    .unwrap_or_default();
                let session_is_owner = opts
                    .get("session_is_owner")
                    .and_then(|v| bool::try_from(v).ok())
                    .unwrap_or(false);
                Some(OwnerChange {
                    mime_types,
                    session_is_owner,
                })
            }
        }))
    }

    /// The stream of SelectionTransfer for this session.
    pub async fn transfers(&self) -> Result<impl futures_util::Stream<Item = TransferAsk> + 'a> {
        let session = self.session.to_string();
        let stream = self.signals("SelectionTransfer").await?;
        Ok(stream.filter_map(move |m| {
            let session = session.clone();
            async move {
                let m = m.ok()?;
                let body = m.body();
                let (path, mime_type, serial): (ObjectPath<'_>, String, u32) =
                    body.deserialize().ok()?;
                (path.as_str() == session).then_some(TransferAsk { mime_type, serial })
            }
        }))
    }
}

/// The fd a SelectionWrite or SelectionRead reply carries.
fn fd_of(reply: &zbus::Message) -> Result<OwnedFd> {
    let fd: zbus::zvariant::OwnedFd = reply.body().deserialize()?;
    Ok(fd.into())
}
