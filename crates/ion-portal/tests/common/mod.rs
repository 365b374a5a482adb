//! What the in-process D-Bus tests share: a Portal on the recording
//! stand-in, served over a peer-to-peer connection whose other end plays
//! the frontend.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;
use std::sync::Arc;

use ion_core::DeviceTypes;
use ion_portal::caller::Trust;
use ion_portal::{Portal, PortalConfig};
use ion_wayland::command::LogicalRect;
use ion_wayland::{OutputInfo, WaylandHandle};
use zbus::Connection;

/// The daemon's configuration for a test in `dir`: keyboard and pointer,
/// monitors, hidden and embedded cursors, the policy file and grants in
/// `dir`, no dialog.
pub fn config(dir: &Path, rate_per_second: u32, rate_burst: u32) -> PortalConfig {
    PortalConfig {
        trust: Trust::Peer,
        policy_path: dir.join("policy.toml"),
        available_devices: DeviceTypes::from_bits(3).unwrap(),
        available_sources: 1,
        available_cursor_modes: 3,
        rate_per_second,
        rate_burst,
        grants_path: dir.join("data/grants.json"),
        dialog_program: None,
        dialog_env: vec![],
        reorder_window: ion_core::order::REORDER_WINDOW,
    }
}

/// Serves `portal`'s interfaces on one end of a socket pair; returns the
/// (client, server) connections.
pub async fn serve(config: PortalConfig, handle: WaylandHandle) -> (Connection, Connection) {
    let (client, server, _) = serve_portal(config, handle).await;
    (client, server)
}

/// Like [`serve`], and also hands back the portal (to tell it what the
/// Wayland thread would: outputs changed).
pub async fn serve_portal(
    config: PortalConfig,
    handle: WaylandHandle,
) -> (Connection, Connection, Arc<Portal>) {
    let portal = Arc::new(Portal::new(config, handle));
    let (a, b) = tokio::net::UnixStream::pair().unwrap();
    let server = ion_portal::service::with_interfaces(
        zbus::connection::Builder::unix_stream(a)
            .server(zbus::Guid::generate())
            .unwrap()
            .p2p(),
        &portal,
    )
    .unwrap()
    .build();
    let client = zbus::connection::Builder::unix_stream(b).p2p().build();
    let (server, client) = tokio::try_join!(server, client).unwrap();
    (client, server, portal)
}

/// An output of the stand-in's layout, on the top edge.
pub fn output(global: u32, name: &str, x: i32, width: i32, height: i32) -> OutputInfo {
    OutputInfo {
        global,
        name: name.into(),
        description: format!("Headless output {global}"),
        logical: LogicalRect {
            x,
            y: 0,
            width,
            height,
        },
        mode_width: width,
        mode_height: height,
        scale: 1,
        transform: 0,
    }
}

/// A method call on the backend's interfaces at the desktop path, as the
/// frontend makes it.
pub async fn call<B>(
    client: &Connection,
    iface: &str,
    method: &str,
    body: &B,
) -> zbus::Result<zbus::message::Message>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    client
        .call_method(
            None::<&str>,
            ion_portal::DESKTOP_PATH,
            Some(iface),
            method,
            body,
        )
        .await
}
