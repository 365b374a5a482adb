//! Input calls in arrival order, long calls concurrently, on one interface.
//!
//! zbus either spawns a task per method call (calls may then run out of
//! order) or runs every call inline (a Start waiting for consent would then
//! block all input). Neither fits a remote-desktop backend: Notify* calls
//! must reach the compositor in the order they were sent, and Start may
//! wait on the user. `Ordered` wraps a `#[interface]` type, tells zbus not to
//! spawn, and itself spawns every method whose name does not start with
//! `Notify`. Notify* methods never await, so inline dispatch costs nothing.
//!
//! This implements zbus's `Interface` trait by hand (zbus allows that trait
//! to change in minor versions, hence the pinned zbus version); everything
//! except `call` is delegated to the generated implementation.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use async_trait::async_trait;
use zbus::message::{Header, Message};
use zbus::names::{InterfaceName, MemberName};
use zbus::object_server::{DispatchResult2, Interface, ObjectServer, SignalEmitter};
use zbus::zvariant::{OwnedValue, Value};
use zbus::{fdo, Connection};

pub struct Ordered<T> {
    inner: Arc<T>,
}

impl<T> Ordered<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    pub fn inner(&self) -> &Arc<T> {
        &self.inner
    }
}

/// Whether a member runs inline, in arrival order.
pub fn is_ordered(member: &str) -> bool {
    member.starts_with("Notify")
}

#[async_trait]
impl<T: Interface> Interface for Ordered<T> {
    fn name() -> InterfaceName<'static> {
        T::name()
    }

    fn spawn_tasks_for_methods(&self) -> bool {
        false
    }

    async fn get(
        &self,
        property_name: &str,
        server: &ObjectServer,
        connection: &Connection,
        header: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> Option<fdo::Result<OwnedValue>> {
        self.inner
            .get(property_name, server, connection, header, emitter)
            .await
    }

    async fn get_all(
        &self,
        server: &ObjectServer,
        connection: &Connection,
        header: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> fdo::Result<HashMap<String, OwnedValue>> {
        self.inner
            .get_all(server, connection, header, emitter)
            .await
    }

    fn set<'call>(
        &'call self,
        property_name: &'call str,
        value: &'call Value<'_>,
        server: &'call ObjectServer,
        connection: &'call Connection,
        header: Option<&'call Header<'_>>,
        emitter: &'call SignalEmitter<'_>,
    ) -> DispatchResult2<'call> {
        self.inner
            .set(property_name, value, server, connection, header, emitter)
    }

    async fn set_mut(
        &mut self,
        property_name: &str,
        _value: &Value<'_>,
        _server: &ObjectServer,
        _connection: &Connection,
        _header: Option<&Header<'_>>,
        _emitter: &SignalEmitter<'_>,
    ) -> Option<fdo::Result<()>> {
        // The wrapped interfaces have read-only properties.
        Some(Err(fdo::Error::PropertyReadOnly(format!(
            "property {property_name} is read-only"
        ))))
    }

    fn call<'call>(
        &'call self,
        server: &'call ObjectServer,
        connection: &'call Connection,
        msg: &'call Message,
        name: MemberName<'call>,
    ) -> DispatchResult2<'call> {
        if is_ordered(name.as_str()) {
            return self.inner.call(server, connection, msg, name);
        }
        let inner = self.inner.clone();
        let conn = connection.clone();
        let msg = msg.clone();
        let name = name.to_owned();
        DispatchResult2::Async(Box::pin(async move {
            let executor = conn.executor().clone();
            executor
                .spawn(
                    async move {
                        let server = conn.object_server();
                        let outcome = match inner.call(server, &conn, &msg, name.as_ref()) {
                            DispatchResult2::Async(f) => f.await,
                            _ => Err(fdo::Error::UnknownMethod(format!("unknown method {name}"))),
                        };
                        if let Err(e) = outcome {
                            if let Err(e) = conn.reply_dbus_error(&msg.header(), e).await {
                                tracing::debug!("cannot send an error reply: {e}");
                            }
                        }
                    },
                    "portal call",
                )
                .detach();
            Ok(())
        }))
    }

    fn call_mut<'call>(
        &'call mut self,
        _server: &'call ObjectServer,
        _connection: &'call Connection,
        _msg: &'call Message,
        _name: MemberName<'call>,
    ) -> DispatchResult2<'call> {
        // `call` handles every method through the shared inner value.
        DispatchResult2::NotFound
    }

    fn introspect_to_writer(&self, writer: &mut dyn Write, level: usize) {
        self.inner.introspect_to_writer(writer, level)
    }
}
