//! The table of live sessions.
//!
//! Locked only for short synchronous steps (validation, state changes),
//! never across an `.await`: input calls validate against it inline, in
//! arrival order, while long calls run in their own tasks.

use std::collections::HashMap;

use std::time::Duration;

use ion_core::order::OrderRepair;
use ion_core::refusals::{InputCounts, RefusalLog};
use ion_core::session::Lifecycle;
use ion_core::{DeviceTypes, RateLimiter, Rect, StreamRegion};

use crate::eis::EisRegion;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    RemoteDesktop,
    ScreenCast,
}

impl SessionKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::RemoteDesktop => "RemoteDesktop",
            Self::ScreenCast => "ScreenCast",
        }
    }
}

#[derive(Debug)]
pub struct SessionEntry {
    pub id: u64,
    pub kind: SessionKind,
    /// Unique bus name of the connection that created the session.
    pub owner: String,
    pub app_id: String,
    pub lifecycle: Lifecycle,
    /// What SelectDevices asked for (all, if it was not called).
    pub requested_devices: DeviceTypes,
    /// What Start granted and the compositor could provide.
    pub granted_devices: DeviceTypes,
    pub devices_created: bool,
    /// What SelectSources asked for, if it was called.
    pub sources: Option<SourceSelection>,
    /// The streams Start made: their regions for absolute input, and what
    /// Start returned about them.
    pub streams: Vec<StreamRegion>,
    pub stream_infos: Vec<ion_wayland::StreamInfo>,
    pub rate: RateLimiter,
    /// ConnectToEIS's connection, if it was called.
    pub eis: EisLink,
    /// What SelectSources/SelectDevices said about persistence.
    pub persist: crate::consent::PersistAsk,
    /// The remembered grant the session runs under, once started.
    pub grant: Option<String>,
    /// What became of its input: order repair, counts, refusals.
    pub input: InputBook,
    /// Its clipboard (RemoteDesktop only).
    pub clipboard: crate::clipboard::ClipboardSession,
    /// Dropped with the session: whatever waits on it (a Start asking the
    /// user) sees the session end through a receiver's `changed()`.
    pub alive: tokio::sync::watch::Sender<()>,
}

/// A session's input beyond validation: order repair
/// (`ion_core::order`), what was injected and refused, and when the
/// timekeeper comes back to it.
#[derive(Debug)]
pub struct InputBook {
    pub order: OrderRepair,
    pub counts: InputCounts,
    pub refusals: RefusalLog,
    /// The outputs' logical rectangles, for EIS positions in the global
    /// layout (sessions without streams).
    pub layout: Vec<Rect>,
    /// The earliest visit the timekeeper has been asked for.
    pub wake_at: Option<Duration>,
}

impl InputBook {
    pub fn new(reorder_window: Duration) -> Self {
        Self {
            order: OrderRepair::new(reorder_window),
            counts: InputCounts::default(),
            refusals: RefusalLog::default(),
            layout: Vec::new(),
            wake_at: None,
        }
    }

    /// When something is due: a window of order repair, a summary.
    pub fn next_deadline(&self) -> Option<Duration> {
        match (self.order.next_deadline(), self.refusals.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A session's EIS connection, as the session table sees it.
#[derive(Debug, Default)]
pub enum EisLink {
    /// ConnectToEIS was not called: input comes through Notify*.
    #[default]
    None,
    /// A connection serves the session. Dropping `_stop` (the session
    /// ends, its entry goes) tells the connection's task to close.
    Connected {
        id: u64,
        _stop: tokio::sync::oneshot::Sender<()>,
        /// The absolute pointer's regions, for a session without streams:
        /// they follow the outputs.
        regions: Option<tokio::sync::watch::Sender<Vec<EisRegion>>>,
    },
    /// The connection ended. ConnectToEIS is allowed once, and Notify*
    /// stays refused: the session's input belonged to EIS.
    Ended,
}

impl EisLink {
    /// Whether ConnectToEIS was ever called.
    pub fn is_used(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// Whether connection `id` serves the session now.
    pub fn is(&self, id: u64) -> bool {
        matches!(self, Self::Connected { id: own, .. } if *own == id)
    }
}

/// ScreenCast's SelectSources options, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceSelection {
    pub types: u32,
    pub multiple: bool,
    pub cursor_mode: u32,
}

#[derive(Debug, Default)]
pub struct SessionTable {
    by_path: HashMap<String, SessionEntry>,
}

impl SessionTable {
    pub fn get(&self, path: &str) -> Option<&SessionEntry> {
        self.by_path.get(path)
    }

    pub fn get_mut(&mut self, path: &str) -> Option<&mut SessionEntry> {
        self.by_path.get_mut(path)
    }

    pub fn insert(&mut self, path: String, entry: SessionEntry) -> bool {
        if self.by_path.contains_key(&path) {
            return false;
        }
        self.by_path.insert(path, entry);
        true
    }

    pub fn remove(&mut self, path: &str) -> Option<SessionEntry> {
        self.by_path.remove(path)
    }

    pub fn paths_owned_by(&self, owner: &str) -> Vec<String> {
        self.by_path
            .iter()
            .filter(|(_, e)| e.owner == owner)
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub fn paths_under(&self, grants: &[String]) -> Vec<String> {
        self.by_path
            .iter()
            .filter(|(_, e)| e.grant.as_ref().is_some_and(|g| grants.contains(g)))
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub fn get_mut_by_id(&mut self, id: u64) -> Option<&mut SessionEntry> {
        self.by_path.values_mut().find(|e| e.id == id)
    }

    pub fn path_of(&self, id: u64) -> Option<String> {
        self.by_path
            .iter()
            .find(|(_, e)| e.id == id)
            .map(|(p, _)| p.clone())
    }

    /// Sessions whose clipboard is enabled: (id, path).
    pub fn with_clipboard(&self) -> Vec<(u64, String)> {
        self.by_path
            .iter()
            .filter(|(_, e)| e.clipboard.enabled)
            .map(|(p, e)| (e.id, p.clone()))
            .collect()
    }

    pub fn paths_with_streams(&self) -> Vec<String> {
        self.by_path
            .iter()
            .filter(|(_, e)| !e.stream_infos.is_empty())
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Follows outputs that moved, changed mode or scale: each stream's
    /// region becomes its output's current rectangle (an output that is
    /// gone keeps its last one; its stream is ending).
    pub fn outputs_changed(&mut self, outputs: &[ion_wayland::OutputInfo]) {
        let layout: Vec<Rect> = outputs.iter().map(|o| o.logical.into()).collect();
        let regions = crate::eis::layout_regions(outputs);
        for e in self.by_path.values_mut() {
            e.input.layout.clone_from(&layout);
            if let EisLink::Connected {
                regions: Some(tx), ..
            } = &e.eis
            {
                tx.send_if_modified(|now| {
                    let changed = *now != regions;
                    if changed {
                        tracing::info!(
                            session = e.id,
                            regions = regions.len(),
                            "EIS absolute regions follow the outputs"
                        );
                        now.clone_from(&regions);
                    }
                    changed
                });
            }
            let monitors = e.stream_infos.iter().filter_map(|i| i.output());
            for (region, info) in e.streams.iter_mut().zip(monitors) {
                let Some(now) = outputs.iter().find(|o| o.global == info.global) else {
                    continue;
                };
                let rect = now.logical.into();
                if rect != region.logical {
                    tracing::info!(session = e.id, stream = region.stream_id, output = %now.name, ?rect, "stream's output changed");
                    region.moved_to(rect);
                }
            }
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = &SessionEntry> {
        self.by_path.values()
    }

    pub fn paths(&self) -> Vec<String> {
        self.by_path.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
}
