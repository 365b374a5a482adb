//! A RemoteDesktop session through the frontend, as RustDesk runs one.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use zbus::zvariant::{ObjectPath, OwnedObjectPath, Value};

use super::request::{PortalClient, Response, PORTAL_NAME, PORTAL_PATH};
use super::session::{self, StartResults};

const IFACE: &str = "org.freedesktop.portal.RemoteDesktop";
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

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
        let session = session::create(client, IFACE).await?;
        Ok(Self { client, session })
    }

    /// The session's object path (the frontend's handle, which the
    /// backend is given too).
    pub fn path(&self) -> ObjectPath<'_> {
        self.session.as_ref()
    }

    pub async fn select_devices(&self, types: u32) -> Result<Response> {
        self.select_devices_persist(types, None).await
    }

    /// SelectDevices with persist_mode and the restore token from last
    /// time (RemoteDesktop persists here, not in SelectSources).
    pub async fn select_devices_persist(
        &self,
        types: u32,
        persist: Option<&session::Persist>,
    ) -> Result<Response> {
        let mut options = opts();
        options.insert("types", Value::from(types));
        if let Some(p) = persist {
            p.add_to(&mut options);
        }
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
        session::select_sources(self.client, self.path(), types, multiple, cursor_mode).await
    }

    pub async fn start(&self) -> Result<(Response, Option<StartResults>)> {
        session::start(self.client, IFACE, self.path()).await
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

    pub async fn touch_down(&self, stream: u32, slot: u32, x: f64, y: f64) -> Result<()> {
        self.notify(
            "NotifyTouchDown",
            &(self.path(), opts(), stream, slot, x, y),
        )
        .await
    }

    pub async fn touch_motion(&self, stream: u32, slot: u32, x: f64, y: f64) -> Result<()> {
        self.notify(
            "NotifyTouchMotion",
            &(self.path(), opts(), stream, slot, x, y),
        )
        .await
    }

    pub async fn touch_up(&self, slot: u32) -> Result<()> {
        self.notify("NotifyTouchUp", &(self.path(), opts(), slot))
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
        session::open_pipewire_remote(self.client, self.path()).await
    }

    /// RemoteDesktop.ConnectToEIS (frontend 1.17 and later): the socket
    /// to the backend's EIS server for this session.
    pub async fn connect_to_eis(&self) -> Result<std::os::fd::OwnedFd> {
        let reply = self
            .client
            .conn
            .call_method(
                Some(PORTAL_NAME),
                PORTAL_PATH,
                Some(IFACE),
                "ConnectToEIS",
                &(self.path(), opts()),
            )
            .await
            .context("ConnectToEIS")?;
        let fd: zbus::zvariant::OwnedFd = reply.body().deserialize()?;
        Ok(fd.into())
    }

    /// The frontend's RemoteDesktop version: 2 and later have
    /// ConnectToEIS (frontend 1.17+); 1.16 has 1.
    pub async fn frontend_version(client: &PortalClient) -> Result<u32> {
        client.property_u32(IFACE, "version").await
    }

    /// The frontend's `AvailableDeviceTypes` (1 keyboard, 2 pointer, 4
    /// touchscreen), which it reads from the backend: what ionChannel can
    /// really inject on this compositor.
    pub async fn available_device_types(client: &PortalClient) -> Result<u32> {
        client.property_u32(IFACE, "AvailableDeviceTypes").await
    }

    /// Session.Close on the frontend's session object.
    pub async fn close(&self) -> Result<()> {
        session::close(self.client, self.path()).await
    }
}
