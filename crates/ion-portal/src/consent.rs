//! Who decides a Start, in order:
//!
//! 1. the policy file's rules (pre-authorised apps on unattended machines);
//! 2. a remembered grant, when the app brought restore data that still
//!    matches (same app and kind, no more devices, the clipboard only if
//!    the grant shared it, every source still there);
//! 3. the user, through the dialog helper or the configured chooser.
//!
//! An unusable policy file denies everything (a typo never widens access,
//! and never turns into a question either: the user meant a rule). With
//! no way to ask (no dialog program, or `[dialog] enabled = false`), what
//! the first two do not allow is denied.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ion_core::consent::{
    ConsentRequest, OutputOffer, SessionKind as ConsentKind, SourceChoice, WindowOffer,
    PROTOCOL_VERSION,
};
use ion_core::grants::{
    self, Grant, OutputName, Present, RestoreAsk, RestoreData, WindowName, PERSIST_NONE,
    PERSIST_PERSISTENT,
};
use ion_core::policy::{Decision, DialogConfig, DEFAULT_DIALOG_TIMEOUT};
use ion_core::{DeviceTypes, Policy};
use ion_wayland::{Snapshot, SourceRef};
use zbus::zvariant::OwnedValue;

use crate::asker::Asker;
use crate::portal::{Portal, RESPONSE_CANCELLED, RESPONSE_OTHER, SOURCE_MONITOR, SOURCE_WINDOW};
use crate::sessions::{SessionKind, SourceSelection};

/// What SelectSources or SelectDevices said about persistence.
#[derive(Debug, Default)]
pub struct PersistAsk {
    pub mode: u32,
    pub restore: Option<(String, u32, OwnedValue)>,
}

impl PersistAsk {
    pub fn try_clone(&self) -> Self {
        Self {
            mode: self.mode,
            restore: self
                .restore
                .as_ref()
                .and_then(|(s, v, d)| Some((s.clone(), *v, d.try_clone().ok()?))),
        }
    }
}

/// Which sources a Start shares.
#[derive(Debug, Clone)]
pub enum Approved {
    /// A policy rule's source types and windows: the daemon picks.
    /// `remember`: the rule has `persist` and the app asked to persist, so
    /// what is picked is stored as a grant once known.
    ByRule {
        types: u32,
        windows: Vec<ion_core::selection::WindowMatch>,
        remember: bool,
    },
    /// Named by the user or a remembered grant.
    Named(Vec<SourceRef>),
}

/// A yes, and what it covers.
#[derive(Debug, Clone)]
pub struct Approval {
    pub devices: DeviceTypes,
    pub sources: Approved,
    /// The clipboard is shared: the session asked for it ([`Ask::clipboard`])
    /// and the rule, the remembered grant or the user granted it. A session
    /// that asked can be allowed without it.
    pub clipboard: bool,
    /// The remembered grant behind it (revoking it ends the session).
    pub grant_id: Option<String>,
    /// What Start returns for it: restore data and persist_mode.
    pub grant: Option<GrantRef>,
}

#[derive(Debug, Clone)]
pub struct GrantRef {
    pub id: String,
    pub restore: RestoreData,
    pub persist_mode: u32,
}

pub struct Ask<'a> {
    pub id: u64,
    pub app_id: &'a str,
    pub kind: SessionKind,
    pub devices: DeviceTypes,
    pub sources: Option<SourceSelection>,
    pub persist: &'a PersistAsk,
    /// The session asks for the clipboard (RemoteDesktop only: false for
    /// ScreenCast). Only what can be given is asked about: false when the
    /// compositor has no data-control protocol.
    pub clipboard: bool,
}

/// Whether `ask` asks for the clipboard: only a RemoteDesktop session can.
fn asks_clipboard(ask: &Ask<'_>) -> bool {
    ask.clipboard && ask.kind == SessionKind::RemoteDesktop
}

fn consent_kind(kind: SessionKind) -> ConsentKind {
    match kind {
        SessionKind::ScreenCast => ConsentKind::Screencast,
        SessionKind::RemoteDesktop => ConsentKind::RemoteDesktop,
    }
}

impl Portal {
    /// Decides a Start (see the module's order). Err is the response code.
    pub(crate) async fn consent(
        &self,
        ask: &Ask<'_>,
        snapshot: &Snapshot,
    ) -> Result<Approval, u32> {
        let id = ask.id;
        let source_types = ask.sources.map_or(0, |s| s.types);
        let policy = match self.read_policy().await {
            Ok(p) => p,
            Err(reason) => {
                tracing::warn!(session = id, "{} refused: {reason}", ask.kind.name());
                return Err(RESPONSE_CANCELLED);
            }
        };
        let asks_clipboard = asks_clipboard(ask);
        match policy.decide(ask.app_id, ask.devices, source_types, asks_clipboard) {
            Decision::Allow {
                devices,
                sources,
                windows,
                clipboard,
                persist,
            } => {
                tracing::info!(
                    session = id,
                    clipboard,
                    "allowed by a rule in {}",
                    self.config.policy_path.display()
                );
                if asks_clipboard && !clipboard {
                    tracing::info!(
                        session = id,
                        "the session asked for the clipboard; the rule does not share it (clipboard = true would)"
                    );
                }
                return Ok(Approval {
                    devices,
                    clipboard,
                    sources: Approved::ByRule {
                        types: sources,
                        windows,
                        remember: persist && ask.persist.mode != PERSIST_NONE,
                    },
                    grant_id: None,
                    grant: None,
                });
            }
            Decision::Deny { reason } => tracing::debug!(session = id, "no rule: {reason}"),
        }
        if let Some(approval) = self.restore(ask, snapshot) {
            return Ok(approval);
        }
        self.ask_user(ask, snapshot, &policy.dialog).await
    }

    async fn read_policy(&self) -> Result<Policy, String> {
        let path = self.config.policy_path.clone();
        let text = tokio::task::spawn_blocking(move || crate::policy_file::read(&path))
            .await
            .map_err(|e| format!("cannot read the policy file: {e}"))?
            .map_err(|e| e.to_string())?;
        let path = &self.config.policy_path;
        Policy::parse(&text).map_err(|e| format!("{} is unusable: {e}", path.display()))
    }

    /// A remembered grant that still matches, or None (then the user is
    /// asked; the log says why the restore did not apply).
    fn restore(&self, ask: &Ask<'_>, snapshot: &Snapshot) -> Option<Approval> {
        let (vendor, version, value) = ask.persist.restore.as_ref()?;
        let file = match self.grants.load() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(session = ask.id, "restore ignored: {e}");
                return None;
            }
        };
        let data = crate::restore_value::from_value(value);
        let restore_ask = RestoreAsk {
            app_id: ask.app_id,
            kind: consent_kind(ask.kind),
            devices: if ask.kind == SessionKind::RemoteDesktop {
                ask.devices
            } else {
                DeviceTypes::EMPTY
            },
            source_types: ask.sources.map_or(0, |s| s.types),
            multiple: ask.sources.is_some_and(|s| s.multiple),
            clipboard: asks_clipboard(ask),
        };
        let present = Present {
            outputs: snapshot
                .outputs
                .iter()
                .map(|o| OutputName {
                    name: o.name.clone(),
                    description: o.description.clone(),
                })
                .collect(),
            windows: snapshot
                .windows
                .iter()
                .map(|w| (w.identifier.clone(), w.app_id.clone()))
                .collect(),
        };
        match grants::restore(
            &file,
            vendor,
            *version,
            data.as_ref(),
            &restore_ask,
            &present,
        ) {
            Ok(r) => {
                tracing::info!(session = ask.id, grant = %r.grant, clipboard = r.clipboard, "restored a remembered grant: no dialog");
                let grant = file.get(&r.grant)?;
                let mut sources: Vec<SourceRef> =
                    r.outputs.into_iter().map(SourceRef::Output).collect();
                sources.extend(r.windows.into_iter().map(SourceRef::Window));
                // The grant's own mode bounds what is handed back: a
                // transient grant is not promoted by a later ask.
                let grant_mode = if self.grants.is_transient(&grant.id) {
                    grants::PERSIST_TRANSIENT
                } else {
                    PERSIST_PERSISTENT
                };
                let persist_mode = grant_mode.min(ask.persist.mode);
                Some(Approval {
                    devices: r.devices,
                    sources: Approved::Named(sources),
                    clipboard: r.clipboard,
                    grant_id: Some(r.grant.clone()),
                    grant: (persist_mode != PERSIST_NONE).then(|| GrantRef {
                        id: r.grant,
                        restore: grant.restore_data(),
                        persist_mode,
                    }),
                })
            }
            Err(miss) => {
                tracing::info!(session = ask.id, "restore data not used ({miss}): asking");
                None
            }
        }
    }

    async fn ask_user(
        &self,
        ask: &Ask<'_>,
        snapshot: &Snapshot,
        dialog: &DialogConfig,
    ) -> Result<Approval, u32> {
        let id = ask.id;
        let command = match (dialog.enabled, &dialog.command, &self.config.dialog_program) {
            (Some(false), _, _) => None,
            (_, Some(c), _) => Some(c.clone()),
            (_, None, Some(p)) => Some(vec![p.to_string_lossy().into_owned()]),
            (_, None, None) => None,
        };
        let Some(command) = command else {
            tracing::warn!(
                session = id,
                "{} refused: no rule allows {:?} and there is no dialog to ask (see [dialog] in {}). A rule that allows it:\n{}",
                ask.kind.name(),
                ask.app_id,
                self.config.policy_path.display(),
                Policy::example_rule(ask.app_id)
            );
            return Err(RESPONSE_CANCELLED);
        };
        let request = self.consent_request(ask, snapshot);
        if request
            .sources
            .as_ref()
            .is_some_and(|s| s.outputs.is_empty() && s.windows.is_empty())
        {
            tracing::error!(session = id, "nothing to share: no output or window");
            return Err(RESPONSE_OTHER);
        }
        let asker = Asker {
            command,
            timeout: Duration::from_secs(dialog.timeout.unwrap_or(DEFAULT_DIALOG_TIMEOUT)),
            env: self.config.dialog_env.clone(),
        };
        tracing::info!(session = id, program = %asker.command[0], "asking the user");
        let answer = match asker.ask(&request).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(session = id, "{} refused: {e}", ask.kind.name());
                return Err(RESPONSE_CANCELLED);
            }
        };
        let granted = match answer.check(&request) {
            Ok(g) => g,
            Err(e) => {
                tracing::info!(session = id, "{} refused: {e}", ask.kind.name());
                return Err(RESPONSE_CANCELLED);
            }
        };
        let mut sources: Vec<SourceRef> = granted
            .outputs
            .iter()
            .cloned()
            .map(SourceRef::Output)
            .collect();
        sources.extend(granted.windows.iter().cloned().map(SourceRef::Window));
        let grant = if granted.remember && ask.persist.mode != PERSIST_NONE {
            self.remember(ask, snapshot, granted.devices, granted.clipboard, &sources)
        } else {
            None
        };
        tracing::info!(session = id, devices = %granted.devices, sources = sources.len(), clipboard = granted.clipboard, remembered = grant.is_some(), "the user allowed it");
        if request.clipboard && !granted.clipboard {
            tracing::info!(session = id, "the user left the clipboard out");
        }
        Ok(Approval {
            devices: granted.devices,
            sources: Approved::Named(sources),
            clipboard: granted.clipboard,
            grant_id: grant.as_ref().map(|g| g.id.clone()),
            grant,
        })
    }

    fn consent_request(&self, ask: &Ask<'_>, snapshot: &Snapshot) -> ConsentRequest {
        let sources = ask.sources.map(|sel| SourceChoice {
            multiple: sel.multiple,
            outputs: if sel.types & SOURCE_MONITOR != 0 {
                snapshot
                    .outputs
                    .iter()
                    .map(|o| OutputOffer {
                        name: o.name.clone(),
                        description: o.description.clone(),
                        width: u32::try_from(o.logical.width).unwrap_or(0),
                        height: u32::try_from(o.logical.height).unwrap_or(0),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            windows: if sel.types & SOURCE_WINDOW != 0 && snapshot.window_capture {
                snapshot
                    .windows
                    .iter()
                    .map(|w| WindowOffer {
                        id: w.identifier.clone(),
                        app_id: w.app_id.clone(),
                        title: w.title.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        });
        ConsentRequest {
            version: PROTOCOL_VERSION,
            app_id: ask.app_id.to_string(),
            kind: consent_kind(ask.kind),
            devices: if ask.kind == SessionKind::RemoteDesktop {
                ask.devices.iter().map(|d| d.name().to_string()).collect()
            } else {
                Vec::new()
            },
            sources,
            persist: ask.persist.mode != PERSIST_NONE,
            clipboard: asks_clipboard(ask),
        }
    }

    /// Stores a grant for what the session shares (`clipboard`: the
    /// clipboard was granted); None (and a warning) if it cannot be
    /// stored: the session still starts, it just is not remembered.
    pub(crate) fn remember(
        &self,
        ask: &Ask<'_>,
        snapshot: &Snapshot,
        devices: DeviceTypes,
        clipboard: bool,
        sources: &[SourceRef],
    ) -> Option<GrantRef> {
        let id = match crate::grant_store::new_grant_id() {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(session = ask.id, "grant not remembered: no random id: {e}");
                return None;
            }
        };
        let mut outputs = Vec::new();
        let mut windows = Vec::new();
        for source in sources {
            match source {
                SourceRef::Output(name) => {
                    if let Some(o) = snapshot.outputs.iter().find(|o| &o.name == name) {
                        outputs.push(OutputName {
                            name: o.name.clone(),
                            description: o.description.clone(),
                        });
                    }
                }
                SourceRef::Window(wid) => {
                    if let Some(w) = snapshot.windows.iter().find(|w| &w.identifier == wid) {
                        windows.push(WindowName {
                            app_id: w.app_id.clone(),
                        });
                    }
                }
            }
        }
        let grant = Grant {
            id: id.clone(),
            app_id: ask.app_id.to_string(),
            kind: consent_kind(ask.kind),
            devices: devices.iter().map(|d| d.name().to_string()).collect(),
            outputs,
            windows,
            clipboard: clipboard && asks_clipboard(ask),
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let restore = grant.restore_data();
        let grant_clipboard = grant.clipboard;
        let persistent = ask.persist.mode == PERSIST_PERSISTENT;
        if let Err(e) = self.grants.add(grant, persistent) {
            tracing::warn!(session = ask.id, "grant not remembered: {e}");
            return None;
        }
        tracing::info!(session = ask.id, grant = %id, persistent, clipboard = grant_clipboard, "grant remembered");
        Some(GrantRef {
            id,
            restore,
            persist_mode: ask.persist.mode,
        })
    }
}
