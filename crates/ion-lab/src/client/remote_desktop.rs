//! A RemoteDesktop session through the frontend, as RustDesk runs one.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

use super::request::{PortalClient, Response, PORTAL_NAME, PORTAL_PATH};

const IFACE: &str = "org.freedesktop.portal.RemoteDesktop";
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// A stream from Start's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub node_id: u32,
    pub position: Option<(i32, i32)>,
    pub size: Option<(i32, i32)>,
}

#[derive(Debug, Clone)]
pub struct StartResults {
    pub devices: u32,
    pub streams: Vec<Stream>,
    pub raw: HashMap<String, OwnedValue>,
}

pub struct RemoteDesktop<'a> {
    pub client: &'a PortalClient,
    pub session: OwnedObjectPath,
}

fn opts() -> HashMap<&'static str, Value<'static>> {
    HashMap::new()
}

impl<'a> RemoteDesktop<'a> {
    /// CreateSession; the session handle comes from the Response.
    pub async fn create(client: &'a PortalClient) -> Result<Self> {
        let mut options = opts();
        options.insert(
            "session_handle_token",
            Value::from(client.token("ionsession")),
        );
        let results = client
            .request(IFACE, "CreateSession", |o| (o,), options, CALL_TIMEOUT)
            .await?
            .ok()?;
        let handle = results
            .get("session_handle")
            .ok_or_else(|| anyhow!("no session_handle in CreateSession results"))?;
        // Frontends send it as a string ("s"), some as an object path.
        let session = match &**handle {
            Value::Str(s) => OwnedObjectPath::try_from(s.as_str().to_string())?,
            Value::ObjectPath(p) => p.to_owned().into(),
            other => {
                return Err(anyhow!(
                    "session_handle has type {}",
                    other.value_signature()
                ))
            }
        };
        Ok(Self { client, session })
    }

    fn path(&self) -> ObjectPath<'_> {
        self.session.as_ref()
    }

    pub async fn select_devices(&self, types: u32) -> Result<Response> {
        let mut options = opts();
        options.insert("types", Value::from(types));
        let session = self.path().to_owned();
        self.client
            .request(
                IFACE,
                "SelectDevices",
                move |o| (session, o),
                options,
                CALL_TIMEOUT,
            )
            .await
    }

    /// ScreenCast.SelectSources on this RemoteDesktop session, as RustDesk
    /// does (types 1 monitor; multiple; cursor_mode 1 hidden, 2 embedded).
    pub async fn select_sources(
        &self,
        types: u32,
        multiple: bool,
        cursor_mode: u32,
    ) -> Result<Response> {
        let mut options = opts();
        options.insert("types", Value::from(types));
        options.insert("multiple", Value::from(multiple));
        options.insert("cursor_mode", Value::from(cursor_mode));
        let session = self.path().to_owned();
        self.client
            .request(
                "org.freedesktop.portal.ScreenCast",
                "SelectSources",
                move |o| (session, o),
                options,
                CALL_TIMEOUT,
            )
            .await
    }

    pub async fn start(&self) -> Result<(Response, Option<StartResults>)> {
        let session = self.path().to_owned();
        let resp = self
            .client
            .request(
                IFACE,
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
                });
            }
        }
        let results = StartResults {
            devices,
            streams,
            raw: resp.results.clone(),
        };
        Ok((resp, Some(results)))
    }

    async fn notify<B>(&self, method: &str, body: &B) -> Result<()>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.client
            .conn
            .call_method(Some(PORTAL_NAME), PORTAL_PATH, Some(IFACE), method, body)
            .await
            .with_context(|| format!("calling {method}"))?;
        Ok(())
    }

    pub async fn pointer_motion(&self, dx: f64, dy: f64) -> Result<()> {
        self.notify("NotifyPointerMotion", &(self.path(), opts(), dx, dy))
            .await
    }

    pub async fn pointer_motion_absolute(&self, stream: u32, x: f64, y: f64) -> Result<()> {
        self.notify(
            "NotifyPointerMotionAbsolute",
            &(self.path(), opts(), stream, x, y),
        )
        .await
    }

    pub async fn pointer_button(&self, button: i32, pressed: bool) -> Result<()> {
        self.notify(
            "NotifyPointerButton",
            &(self.path(), opts(), button, u32::from(pressed)),
        )
        .await
    }

    pub async fn pointer_axis(&self, dx: f64, dy: f64, finish: bool) -> Result<()> {
        let mut o = opts();
        o.insert("finish", Value::from(finish));
        self.notify("NotifyPointerAxis", &(self.path(), o, dx, dy))
            .await
    }

    pub async fn pointer_axis_discrete(&self, axis: u32, steps: i32) -> Result<()> {
        self.notify(
            "NotifyPointerAxisDiscrete",
            &(self.path(), opts(), axis, steps),
        )
        .await
    }

    pub async fn keycode(&self, keycode: i32, pressed: bool) -> Result<()> {
        self.notify(
            "NotifyKeyboardKeycode",
            &(self.path(), opts(), keycode, u32::from(pressed)),
        )
        .await
    }

    pub async fn keysym(&self, keysym: i32, pressed: bool) -> Result<()> {
        self.notify(
            "NotifyKeyboardKeysym",
            &(self.path(), opts(), keysym, u32::from(pressed)),
        )
        .await
    }

    /// ScreenCast.OpenPipeWireRemote: a PipeWire connection restricted by
    /// the frontend to this session's streams.
    pub async fn open_pipewire_remote(&self) -> Result<std::os::fd::OwnedFd> {
        let reply = self
            .client
            .conn
            .call_method(
                Some(PORTAL_NAME),
                PORTAL_PATH,
                Some("org.freedesktop.portal.ScreenCast"),
                "OpenPipeWireRemote",
                &(self.path(), opts()),
            )
            .await
            .context("OpenPipeWireRemote")?;
        let fd: zbus::zvariant::OwnedFd = reply.body().deserialize()?;
        Ok(fd.into())
    }

    /// Session.Close on the frontend's session object.
    pub async fn close(&self) -> Result<()> {
        self.client
            .conn
            .call_method(
                Some(PORTAL_NAME),
                self.path(),
                Some("org.freedesktop.portal.Session"),
                "Close",
                &(),
            )
            .await
            .context("closing the session")?;
        Ok(())
    }
}
