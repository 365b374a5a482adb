//! What RemoteDesktop and ScreenCast sessions share on the client side:
//! CreateSession, SelectSources, Start and its `streams`,
//! OpenPipeWireRemote and Session.Close.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

use super::request::{PortalClient, Response, PORTAL_NAME, PORTAL_PATH};

pub const SCREEN_CAST: &str = "org.freedesktop.portal.ScreenCast";
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// A stream from Start's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub node_id: u32,
    pub position: Option<(i32, i32)>,
    pub size: Option<(i32, i32)>,
    pub source_type: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct StartResults {
    pub devices: u32,
    pub streams: Vec<Stream>,
    /// The frontend's restore token, when the session is remembered.
    pub restore_token: Option<String>,
    pub persist_mode: Option<u32>,
    /// RemoteDesktop: the clipboard is on for this session.
    pub clipboard_enabled: bool,
    pub raw: HashMap<String, OwnedValue>,
}

/// What an app asks about persistence: persist_mode and the restore token
/// it kept from last time.
#[derive(Debug, Clone, Default)]
pub struct Persist {
    pub mode: u32,
    pub token: Option<String>,
}

impl Persist {
    pub fn new(mode: u32, token: Option<String>) -> Self {
        Self { mode, token }
    }

    pub(crate) fn add_to(&self, options: &mut HashMap<&'static str, Value<'static>>) {
        options.insert("persist_mode", Value::from(self.mode));
        if let Some(t) = &self.token {
            options.insert("restore_token", Value::from(t.clone()));
        }
    }
}

fn opts() -> HashMap<&'static str, Value<'static>> {
    HashMap::new()
}

/// `iface`.CreateSession; the session handle comes from the Response.
pub async fn create(client: &PortalClient, iface: &str) -> Result<OwnedObjectPath> {
    let mut options = opts();
    options.insert(
        "session_handle_token",
        Value::from(client.token("ionsession")),
    );
    let results = client
        .request(iface, "CreateSession", |o| (o,), options, CALL_TIMEOUT)
        .await?
        .ok()?;
    let handle = results
        .get("session_handle")
        .ok_or_else(|| anyhow!("no session_handle in CreateSession results"))?;
    // Frontends send it as a string ("s"), some as an object path.
    match &**handle {
        Value::Str(s) => Ok(OwnedObjectPath::try_from(s.as_str().to_string())?),
        Value::ObjectPath(p) => Ok(p.to_owned().into()),
        other => Err(anyhow!(
            "session_handle has type {}",
            other.value_signature()
        )),
    }
}

/// ScreenCast.SelectSources (types 1 monitor, 2 window; cursor_mode 1
/// hidden, 2 embedded, 4 metadata).
pub async fn select_sources(
    client: &PortalClient,
    session: ObjectPath<'_>,
    types: u32,
    multiple: bool,
    cursor_mode: u32,
) -> Result<Response> {
    select_sources_persist(client, session, types, multiple, cursor_mode, None).await
}

/// SelectSources with persist_mode and a restore token.
pub async fn select_sources_persist(
    client: &PortalClient,
    session: ObjectPath<'_>,
    types: u32,
    multiple: bool,
    cursor_mode: u32,
    persist: Option<&Persist>,
) -> Result<Response> {
    let mut options = opts();
    options.insert("types", Value::from(types));
    options.insert("multiple", Value::from(multiple));
    options.insert("cursor_mode", Value::from(cursor_mode));
    if let Some(p) = persist {
        p.add_to(&mut options);
    }
    let session = session.to_owned();
    client
        .request(
            SCREEN_CAST,
            "SelectSources",
            move |o| (session, o),
            options,
            CALL_TIMEOUT,
        )
        .await
}

/// `iface`.Start, with its results read.
pub async fn start(
    client: &PortalClient,
    iface: &str,
    session: ObjectPath<'_>,
) -> Result<(Response, Option<StartResults>)> {
    let session = session.to_owned();
    let resp = client
        .request(
            iface,
            "Start",
            move |o| (session, "", o),
            opts(),
            CALL_TIMEOUT,
        )
        .await?;
    if resp.code != 0 {
        return Ok((resp, None));
    }
    let devices = resp
        .results
        .get("devices")
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0);
    let mut streams = Vec::new();
    if let Some(v) = resp.results.get("streams") {
        let list: Vec<(u32, HashMap<String, OwnedValue>)> = v
            .try_clone()?
            .try_into()
            .context("streams has the wrong type")?;
        for (node_id, props) in list {
            let pair = |k: &str| -> Option<(i32, i32)> {
                props
                    .get(k)
                    .and_then(|v| v.try_clone().ok())
                    .and_then(|v| v.try_into().ok())
            };
            streams.push(Stream {
                node_id,
                position: pair("position"),
                size: pair("size"),
                source_type: props.get("source_type").and_then(|v| u32::try_from(v).ok()),
            });
        }
    }
    let results = StartResults {
        devices,
        streams,
        restore_token: resp
            .results
            .get("restore_token")
            .and_then(|v| v.try_clone().ok())
            .and_then(|v| String::try_from(v).ok()),
        persist_mode: resp
            .results
            .get("persist_mode")
            .and_then(|v| u32::try_from(v).ok()),
        clipboard_enabled: resp
            .results
            .get("clipboard_enabled")
            .and_then(|v| bool::try_from(v).ok())
            .unwrap_or(false),
        raw: resp.results.clone(),
    };
    Ok((resp, Some(results)))
}

/// ScreenCast.OpenPipeWireRemote: a PipeWire connection restricted by the
/// frontend to this session's streams.
pub async fn open_pipewire_remote(
    client: &PortalClient,
    session: ObjectPath<'_>,
) -> Result<std::os::fd::OwnedFd> {
    let reply = client
        .conn
        .call_method(
            Some(PORTAL_NAME),
            PORTAL_PATH,
            Some(SCREEN_CAST),
            "OpenPipeWireRemote",
            &(session, opts()),
        )
        .await
        .context("OpenPipeWireRemote")?;
    let fd: zbus::zvariant::OwnedFd = reply.body().deserialize()?;
    Ok(fd.into())
}

/// Session.Close on the frontend's session object.
pub async fn close(client: &PortalClient, session: ObjectPath<'_>) -> Result<()> {
    client
        .conn
        .call_method(
            Some(PORTAL_NAME),
            session,
            Some("org.freedesktop.portal.Session"),
            "Close",
            &(),
        )
        .await
        .context("closing the session")?;
    Ok(())
}

/// A subscription to the frontend's `org.freedesktop.portal.Session.Closed`
/// for one session: what a client sees when the backend ends the session
/// itself (an output gone, the compositor gone).
pub struct ClosedWatch {
    stream: zbus::MessageStream,
}

impl ClosedWatch {
    /// Subscribes before anything can close the session, so the signal
    /// cannot be missed.
    pub async fn subscribe(client: &PortalClient, session: ObjectPath<'_>) -> Result<Self> {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .sender(PORTAL_NAME)?
            .interface("org.freedesktop.portal.Session")?
            .member("Closed")?
            .path(session.to_owned())?
            .build();
        let stream = zbus::MessageStream::for_match_rule(rule, &client.conn, Some(4))
            .await
            .context("subscribing to Session.Closed")?;
        Ok(Self { stream })
    }

    /// Waits up to `timeout` for the signal.
    pub async fn wait(&mut self, timeout: Duration) -> Result<()> {
        use futures_util::StreamExt;
        tokio::time::timeout(timeout, self.stream.next())
            .await
            .with_context(|| format!("no Session.Closed within {timeout:?}"))?
            .ok_or_else(|| anyhow!("bus closed while waiting for Session.Closed"))?
            .context("Session.Closed")?;
        Ok(())
    }

    /// Whether the signal came already (waits only for what the bus has
    /// queued).
    pub async fn arrived(&mut self) -> Result<bool> {
        use futures_util::StreamExt;
        match tokio::time::timeout(Duration::from_millis(50), self.stream.next()).await {
            Err(_elapsed) => Ok(false),
            Ok(Some(message)) => message.context("Session.Closed").map(|_| true),
            Ok(None) => Err(anyhow!("bus closed while watching for Session.Closed")),
        }
    }
}
