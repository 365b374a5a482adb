//! `org.freedesktop.impl.portal.RemoteDesktop` (version 2: ConnectToEIS).

use std::collections::HashMap;
use std::sync::Arc;

use ion_core::validate::NotifyCall;
use zbus::message::Header;
use zbus::zvariant::{ObjectPath, OwnedValue};
use zbus::{interface, Connection};

use crate::error::PortalError;
use crate::options::{NotifyOptions, SelectDevicesOptions};
use crate::portal::{Portal, Results};
use crate::sessions::SessionKind;

pub struct RemoteDesktop {
    pub portal: Arc<Portal>,
}

impl RemoteDesktop {
    fn notify(
        &self,
        header: &Header<'_>,
        session: &ObjectPath<'_>,
        call: NotifyCall,
    ) -> Result<(), PortalError> {
        self.portal.notify(header, session.as_str(), call)
    }
}

// The D-Bus signatures fix the argument lists.
#[allow(clippy::too_many_arguments)]
#[interface(name = "org.freedesktop.impl.portal.RemoteDesktop")]
impl RemoteDesktop {
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
                SessionKind::RemoteDesktop,
            )
            .await
    }

    async fn select_devices(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] header: Header<'_>,
        handle: ObjectPath<'_>,
        session_handle: ObjectPath<'_>,
        _app_id: String,
        options: SelectDevicesOptions,
    ) -> Result<(u32, Results), PortalError> {
        self.portal
            .select_devices(conn, &header, handle, session_handle, options)
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
                SessionKind::RemoteDesktop,
            )
            .await
    }

    fn notify_pointer_motion(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        _options: HashMap<String, OwnedValue>,
        dx: f64,
        dy: f64,
    ) -> Result<(), PortalError> {
        self.notify(
            &header,
            &session_handle,
            NotifyCall::PointerMotion { dx, dy },
        )
    }

    fn notify_pointer_motion_absolute(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        _options: HashMap<String, OwnedValue>,
        stream: u32,
        x: f64,
        y: f64,
    ) -> Result<(), PortalError> {
        self.notify(
            &header,
            &session_handle,
            NotifyCall::PointerMotionAbsolute { stream, x, y },
        )
    }

    fn notify_pointer_button(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        _options: HashMap<String, OwnedValue>,
        button: i32,
        state: u32,
    ) -> Result<(), PortalError> {
        self.notify(
            &header,
            &session_handle,
            NotifyCall::PointerButton { button, state },
        )
    }

    fn notify_pointer_axis(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        options: NotifyOptions,
        dx: f64,
        dy: f64,
    ) -> Result<(), PortalError> {
        let finish = options.finish.unwrap_or(false);
        self.notify(
            &header,
            &session_handle,
            NotifyCall::PointerAxis { dx, dy, finish },
        )
    }

    fn notify_pointer_axis_discrete(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        _options: HashMap<String, OwnedValue>,
        axis: u32,
        steps: i32,
    ) -> Result<(), PortalError> {
        self.notify(
            &header,
            &session_handle,
            NotifyCall::PointerAxisDiscrete { axis, steps },
        )
    }

    fn notify_keyboard_keycode(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        _options: HashMap<String, OwnedValue>,
        keycode: i32,
        state: u32,
    ) -> Result<(), PortalError> {
        self.notify(
            &header,
            &session_handle,
            NotifyCall::KeyboardKeycode { keycode, state },
        )
    }

    fn notify_keyboard_keysym(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        _options: HashMap<String, OwnedValue>,
        keysym: i32,
        state: u32,
    ) -> Result<(), PortalError> {
        self.notify(
            &header,
            &session_handle,
            NotifyCall::KeyboardKeysym { keysym, state },
        )
    }

    fn notify_touch_down(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        _options: HashMap<String, OwnedValue>,
        stream: u32,
        slot: u32,
        x: f64,
        y: f64,
    ) -> Result<(), PortalError> {
        self.notify(
            &header,
            &session_handle,
            NotifyCall::TouchDown { stream, slot, x, y },
        )
    }

    fn notify_touch_motion(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        _options: HashMap<String, OwnedValue>,
        stream: u32,
        slot: u32,
        x: f64,
        y: f64,
    ) -> Result<(), PortalError> {
        self.notify(
            &header,
            &session_handle,
            NotifyCall::TouchMotion { stream, slot, x, y },
        )
    }

    fn notify_touch_up(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        _options: HashMap<String, OwnedValue>,
        slot: u32,
    ) -> Result<(), PortalError> {
        self.notify(&header, &session_handle, NotifyCall::TouchUp { slot })
    }

    /// A socket to an EIS server offering the session's devices. Allowed
    /// once, on a started session; afterwards Notify* calls are refused.
    #[zbus(name = "ConnectToEIS")]
    async fn connect_to_eis(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        app_id: String,
        // No options are defined; unknown keys are ignored, as the
        // specification asks.
        _options: HashMap<String, OwnedValue>,
    ) -> Result<zbus::zvariant::OwnedFd, PortalError> {
        let fd = self
            .portal
            .connect_to_eis(&header, &session_handle, &app_id)
            .await?;
        Ok(fd.into())
    }

    #[zbus(property)]
    fn available_device_types(&self) -> u32 {
        self.portal.config.available_devices.bits()
    }

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        2
    }
}
