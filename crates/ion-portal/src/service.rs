//! The daemon's D-Bus side: registers the interfaces, owns the bus name,
//! and ends sessions when their owner, the compositor or the daemon goes.

use std::sync::Arc;

use futures_util::StreamExt;
use ion_wayland::{Event, WaylandThread};
use tokio::signal::unix::{signal, SignalKind};
use zbus::fdo::{DBusProxy, RequestNameFlags, RequestNameReply};
use zbus::names::WellKnownName;

use crate::ordered::Ordered;
use crate::portal::{CloseReason, Portal, PortalConfig};
use crate::remote_desktop::RemoteDesktop;
use crate::screen_cast::ScreenCast;
use crate::{BUS_NAME, DESKTOP_PATH};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("D-Bus: {0}")]
    Bus(#[from] zbus::Error),
    #[error("D-Bus: {0}")]
    Fdo(#[from] zbus::fdo::Error),
    #[error("{BUS_NAME} is already owned: another ionChannel is running on this bus")]
    NameTaken,
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
}

/// How the daemon ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// SIGTERM or SIGINT.
    Signal,
    /// The compositor went away (the daemon cannot serve without it).
    CompositorGone(String),
    /// We lost our bus connection.
    BusGone,
}

/// Makes a new compositor connection (a new Wayland thread).
pub type Reconnect =
    Arc<dyn Fn() -> Result<WaylandThread, ion_wayland::WaylandError> + Send + Sync>;

pub struct ServeOptions {
    pub config: PortalConfig,
    /// After the compositor ended our connection with a protocol error
    /// (it refused one of our requests, but it is still there): how to
    /// connect again. None: the daemon exits, as when the compositor is
    /// gone.
    pub reconnect: Option<Reconnect>,
}

/// More protocol errors than this within [`RECONNECT_WINDOW`] and the
/// daemon gives up: something it does keeps failing.
const MAX_RECONNECTS: usize = 5;
const RECONNECT_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// Adds the backend's interfaces to a connection being built, and starts
/// the portal's own tasks.
///
/// Through the builder, not `object_server().at()` on a built connection:
/// zbus then subscribes its method dispatcher before it starts reading the
/// socket. On a built connection the dispatcher subscribes from a task of
/// its own, and a call that arrives before that task first runs is dropped
/// with no reply (the caller waits forever). In-process tests, which call
/// the moment the connection is up, hit that in about one run of ten of
/// the five clipboard tests (ARCHITECTURE, known issues, until now).
pub fn with_interfaces<'a>(
    builder: zbus::connection::Builder<'a>,
    portal: &Arc<Portal>,
) -> zbus::Result<zbus::connection::Builder<'a>> {
    portal.start_tasks();
    builder
        .serve_at(
            DESKTOP_PATH,
            Ordered::new(RemoteDesktop {
                portal: portal.clone(),
            }),
        )?
        .serve_at(
            DESKTOP_PATH,
            ScreenCast {
                portal: portal.clone(),
            },
        )?
        .serve_at(
            DESKTOP_PATH,
            crate::clipboard::iface::Clipboard {
                portal: portal.clone(),
            },
        )?
        .serve_at(
            crate::grants_iface::GRANTS_PATH,
            crate::grants_iface::Grants {
                portal: portal.clone(),
            },
        )?
        .serve_at(
            crate::status_iface::STATUS_PATH,
            crate::status_iface::StatusIface {
                portal: portal.clone(),
            },
        )
}

/// Runs the daemon on the session bus until a signal, or until the
/// compositor or the bus goes away. Every session is closed on the way out,
/// releasing everything it holds.
pub async fn serve(opts: ServeOptions, wayland: WaylandThread) -> Result<Ended, ServeError> {
    let WaylandThread {
        handle,
        mut events,
        mut join,
    } = wayland;
    let mut reconnects: std::collections::VecDeque<std::time::Instant> = Default::default();
    let portal = Arc::new(Portal::new(opts.config, handle.clone()));
    let conn = with_interfaces(zbus::connection::Builder::session()?, &portal)?
        .build()
        .await?;

    let dbus = DBusProxy::new(&conn).await?;
    // Watch owners before taking the name, so no vanishing goes unseen.
    let mut owners = dbus.receive_name_owner_changed().await?;
    let name = WellKnownName::from_static_str(BUS_NAME).map_err(zbus::Error::from)?;
    match dbus
        .request_name(name, RequestNameFlags::DoNotQueue.into())
        .await?
    {
        RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner => {}
        _ => return Err(ServeError::NameTaken),
    }
    tracing::info!(
        name = BUS_NAME,
        devices = %portal.config.available_devices,
        sources = portal.config.available_sources,
        "serving RemoteDesktop and ScreenCast"
    );

    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;
    let ended = loop {
        tokio::select! {
            _ = term.recv() => break Ended::Signal,
            _ = int.recv() => break Ended::Signal,
            ev = events.recv() => match ev {
                Some(Event::OutputsChanged(outputs)) => {
                    tracing::info!(count = outputs.len(), "outputs changed");
                    portal.outputs_changed(&outputs);
                }
                Some(Event::StreamsFailed { session }) => {
                    portal.close_by_id(&conn, session, CloseReason::StreamsEnded).await;
                }
                Some(Event::PipeWireGone { reason }) => {
                    tracing::warn!("PipeWire went away ({reason}): closing sessions with streams");
                    portal.close_streaming(&conn, CloseReason::StreamsEnded).await;
                }
                Some(Event::Disconnected { reason, protocol_error: Some(error) }) if opts.reconnect.is_some() => {
                    // Every session is closed: its devices and streams died
                    // with the connection. Then a new connection serves new
                    // sessions.
                    tracing::error!(sessions = portal.session_count(), "compositor refused a request ({error}): closing every session and reconnecting");
                    portal.close_all(&conn, CloseReason::CompositorError).await;
                    let now = std::time::Instant::now();
                    reconnects.retain(|t| now.duration_since(*t) < RECONNECT_WINDOW);
                    reconnects.push_back(now);
                    if reconnects.len() > MAX_RECONNECTS {
                        break Ended::CompositorGone(format!("{error} ({} protocol errors within {} s: giving up)", reconnects.len(), RECONNECT_WINDOW.as_secs()));
                    }
                    let Some(reconnect) = opts.reconnect.clone() else { break Ended::CompositorGone(error) };
                    // Connecting waits for the new thread's set-up.
                    let made = tokio::task::spawn_blocking(move || reconnect())
                        .await
                        .unwrap_or_else(|e| Err(ion_wayland::WaylandError::Setup(e.to_string())));
                    match made {
                        Ok(new) => {
                            handle.replace(&new.handle);
                            events = new.events;
                            let old = std::mem::replace(&mut join, new.join);
                            // The old thread ended right after reporting.
                            let _ = tokio::task::spawn_blocking(move || old.join()).await;
                            tracing::info!("reconnected to the compositor: serving new sessions");
                        }
                        Err(e) => break Ended::CompositorGone(format!("{error}; then cannot reconnect: {e} ({reason})")),
                    }
                }
                Some(Event::SelectionChanged { mime_types, owner }) => {
                    portal.on_selection_changed(&conn, mime_types, owner).await;
                }
                Some(Event::SelectionSend { session, mime_type, fd }) => {
                    portal.on_selection_send(&conn, session, mime_type, fd).await;
                }
                Some(Event::Disconnected { reason, .. }) => break Ended::CompositorGone(reason),
                None => break Ended::CompositorGone("the Wayland thread ended".into()),
            },
            change = owners.next() => {
                let Some(change) = change else { break Ended::BusGone };
                let Ok(args) = change.args() else { continue };
                // A unique name losing its owner is a connection gone.
                if args.name().starts_with(':') && args.new_owner().is_none() {
                    portal.close_owned_by(&conn, args.name()).await;
                }
            }
        }
    };
    tracing::info!(?ended, sessions = portal.session_count(), "stopping");
    let reason = match ended {
        Ended::Signal | Ended::BusGone => CloseReason::Shutdown,
        Ended::CompositorGone(_) => CloseReason::CompositorGone,
    };
    portal.close_all(&conn, reason).await;
    // Releases are sent; now let the Wayland thread finish and flush.
    let _ = handle.send(ion_wayland::Command::Shutdown);
    drop(handle);
    drop(portal);
    if tokio::task::spawn_blocking(move || join.join())
        .await
        .is_err()
    {
        tracing::warn!("the Wayland thread did not stop cleanly");
    }
    // Drop the bus name last, so the frontend sees the Closed signals first.
    let _ = conn.release_name(BUS_NAME).await;
    Ok(ended)
}
