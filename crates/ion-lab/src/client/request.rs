//! Portal calls that answer through a Request object's `Response` signal.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zbus::{Connection, MatchRule, MessageStream};

pub const PORTAL_NAME: &str = "org.freedesktop.portal.Desktop";
pub const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";

/// The answer of a Request: 0 success, 1 cancelled, 2 other.
#[derive(Debug, Clone)]
pub struct Response {
    pub code: u32,
    pub results: HashMap<String, OwnedValue>,
}

impl Response {
    pub fn ok(self) -> Result<HashMap<String, OwnedValue>> {
        if self.code != 0 {
            bail!("portal answered {} (1 cancelled, 2 other error)", self.code);
        }
        Ok(self.results)
    }
}

pub struct PortalClient {
    pub conn: Connection,
    /// Our unique name as the frontend writes it into request paths.
    sender_part: String,
    counter: std::sync::atomic::AtomicU32,
}

impl PortalClient {
    /// A `u` property of one of the frontend's portal interfaces (its
    /// `version`, RemoteDesktop's `AvailableDeviceTypes`).
    pub async fn property_u32(&self, iface: &str, name: &str) -> Result<u32> {
        let reply = self
            .conn
            .call_method(
                Some(PORTAL_NAME),
                PORTAL_PATH,
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &(iface, name),
            )
            .await
            .with_context(|| format!("reading {iface}.{name}"))?;
        let value: OwnedValue = reply.body().deserialize()?;
        Ok(u32::try_from(value)?)
    }

    pub async fn connect(bus_address: &str) -> Result<Self> {
        let conn = zbus::connection::Builder::address(bus_address)?
            .build()
            .await
            .context("connecting to the session bus")?;
        let unique = conn
            .unique_name()
            .ok_or_else(|| anyhow!("no unique name on the bus"))?
            .to_string();
        let sender_part = unique.trim_start_matches(':').replace('.', "_");
        Ok(Self {
            conn,
            sender_part,
            counter: std::sync::atomic::AtomicU32::new(0),
        })
    }

    pub fn token(&self, prefix: &str) -> String {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{prefix}{}_{n}", std::process::id())
    }

    /// Calls `method` on `interface` with a fresh `handle_token` added to the
    /// options (the last argument), and waits for the Response signal. The
    /// signal is subscribed before the call so it cannot be missed.
    pub async fn request<B>(
        &self,
        interface: &str,
        method: &str,
        body: impl FnOnce(HashMap<&'static str, Value<'static>>) -> B,
        mut options: HashMap<&'static str, Value<'static>>,
        timeout: Duration,
    ) -> Result<Response>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        let token = self.token("ionlab");
        let path = format!("{PORTAL_PATH}/request/{}/{token}", self.sender_part);
        options.insert("handle_token", Value::from(token));
        let rule = MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface("org.freedesktop.portal.Request")?
            .member("Response")?
            .path(path.as_str())?
            .build();
        let mut stream = MessageStream::for_match_rule(rule, &self.conn, Some(8)).await?;
        let reply = self
            .conn
            .call_method(
                Some(PORTAL_NAME),
                PORTAL_PATH,
                Some(interface),
                method,
                &body(options),
            )
            .await
            .with_context(|| format!("calling {interface}.{method}"))?;
        let handle: OwnedObjectPath = reply.body().deserialize()?;
        if handle.as_str() != path {
            bail!("frontend returned request {handle}, expected {path}");
        }
        let msg = tokio::time::timeout(timeout, stream.next())
            .await
            .with_context(|| format!("no Response to {method} within {timeout:?}"))?
            .ok_or_else(|| anyhow!("bus closed while waiting for {method}"))??;
        let (code, results): (u32, HashMap<String, OwnedValue>) = msg.body().deserialize()?;
        Ok(Response { code, results })
    }
}
