//! The compositor's toplevel windows, from ext-foreign-toplevel-list-v1:
//! what window sources can name (identifier, app id, title) and the
//! handles a toplevel capture source is made from.

use wayland_client::{event_created_child, Connection, Dispatch, QueueHandle};
use wayland_protocols::ext::foreign_toplevel_list::v1::client::{
    ext_foreign_toplevel_handle_v1::{self, ExtForeignToplevelHandleV1},
    ext_foreign_toplevel_list_v1::{self, ExtForeignToplevelListV1},
};
use wayland_protocols::ext::image_capture_source::v1::client::ext_foreign_toplevel_image_capture_source_manager_v1::ExtForeignToplevelImageCaptureSourceManagerV1;

use crate::command::WindowInfo;
use crate::state::State;

/// The globals window capture needs beside ext-image-copy-capture.
pub struct WindowCapture {
    pub list: ExtForeignToplevelListV1,
    pub sources: ExtForeignToplevelImageCaptureSourceManagerV1,
}

impl Drop for WindowCapture {
    fn drop(&mut self) {
        self.list.stop();
        self.sources.destroy();
    }
}

/// One toplevel; listed once its first `done` came.
pub struct Toplevel {
    pub handle: ExtForeignToplevelHandleV1,
    /// Pending state, applied at `done`.
    pending: WindowInfo,
    pub info: Option<WindowInfo>,
}

#[derive(Default)]
pub struct Toplevels {
    pub list: Vec<Toplevel>,
}

impl Toplevels {
    pub fn windows(&self) -> Vec<WindowInfo> {
        self.list.iter().filter_map(|t| t.info.clone()).collect()
    }

    pub fn handle_of(&self, identifier: &str) -> Option<&ExtForeignToplevelHandleV1> {
        self.list
            .iter()
            .find(|t| t.info.as_ref().is_some_and(|i| i.identifier == identifier))
            .map(|t| &t.handle)
    }

    fn get_mut(&mut self, handle: &ExtForeignToplevelHandleV1) -> Option<&mut Toplevel> {
        self.list.iter_mut().find(|t| &t.handle == handle)
    }
}

impl Dispatch<ExtForeignToplevelListV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ExtForeignToplevelListV1,
        event: ext_foreign_toplevel_list_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            ext_foreign_toplevel_list_v1::Event::Toplevel { toplevel } => {
                state.toplevels.list.push(Toplevel {
                    handle: toplevel,
                    pending: WindowInfo {
                        identifier: String::new(),
                        app_id: String::new(),
                        title: String::new(),
                    },
                    info: None,
                });
            }
            ext_foreign_toplevel_list_v1::Event::Finished => {
                tracing::info!("the compositor stopped listing toplevels");
            }
            _ => {}
        }
    }

    event_created_child!(State, ExtForeignToplevelListV1, [
        ext_foreign_toplevel_list_v1::EVT_TOPLEVEL_OPCODE => (ExtForeignToplevelHandleV1, ()),
    ]);
}

impl Dispatch<ExtForeignToplevelHandleV1, ()> for State {
    fn event(
        state: &mut Self,
        handle: &ExtForeignToplevelHandleV1,
        event: ext_foreign_toplevel_handle_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use ext_foreign_toplevel_handle_v1::Event as E;
        if let E::Closed = event {
            // Its streams end through their capture sessions' `stopped`.
            state.toplevels.list.retain(|t| {
                if &t.handle == handle {
                    tracing::debug!(window = ?t.info, "toplevel closed");
                    t.handle.destroy();
                    false
                } else {
                    true
                }
            });
            return;
        }
        let Some(t) = state.toplevels.get_mut(handle) else {
            return;
        };
        match event {
            E::Identifier { identifier } => t.pending.identifier = identifier,
            E::AppId { app_id } => t.pending.app_id = app_id,
            E::Title { title } => t.pending.title = title,
            E::Done => {
                if t.info.is_none() {
                    tracing::debug!(window = ?t.pending, "toplevel listed");
                }
                t.info = Some(t.pending.clone());
            }
            _ => {}
        }
    }
}

wayland_client::delegate_noop!(State: ignore ExtForeignToplevelImageCaptureSourceManagerV1);
