//! The daemon's `org.ionchannel.Status1`, as `ionchannel status --json`
//! prints it, read the way the lab reads everything: as a client of the
//! session bus. Only the figures the lab checks are read.

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::testbed::BACKEND_NAME;

/// A session's input figures (a subset of the daemon's JSON).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct InputFigures {
    pub injected: u64,
    pub refused: u64,
    pub rate_limited: u64,
    pub repaired: u64,
    pub early_releases: u64,
    pub overtaken_presses: u64,
    pub provisional_releases: u64,
    pub stray_releases: u64,
    pub dropped_presses: u64,
    pub max_lag_us: u64,
    pub held: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionFigures {
    pub id: u64,
    pub kind: String,
    pub app_id: String,
    pub input: InputFigures,
}

#[derive(Debug, Clone, Deserialize)]
struct Status {
    sessions: Vec<SessionFigures>,
}

/// Every live session's figures, by id.
pub async fn sessions(conn: &zbus::Connection) -> Result<Vec<SessionFigures>> {
    let reply = conn
        .call_method(
            Some(BACKEND_NAME),
            "/org/ionchannel/Status",
            Some("org.ionchannel.Status1"),
            "Status",
            &(),
        )
        .await
        .context("asking ionChannel for its status")?;
    let text: String = reply.body().deserialize()?;
    let status: Status = serde_json::from_str(&text).context("ionChannel's status JSON")?;
    Ok(status.sessions)
}

/// The figures summed over every live session.
pub async fn total(conn: &zbus::Connection) -> Result<InputFigures> {
    let mut t = InputFigures::default();
    for s in sessions(conn).await? {
        let i = s.input;
        t.injected += i.injected;
        t.refused += i.refused;
        t.rate_limited += i.rate_limited;
        t.repaired += i.repaired;
        t.early_releases += i.early_releases;
        t.overtaken_presses += i.overtaken_presses;
        t.provisional_releases += i.provisional_releases;
        t.stray_releases += i.stray_releases;
        t.dropped_presses += i.dropped_presses;
        t.max_lag_us = t.max_lag_us.max(i.max_lag_us);
        t.held |= i.held;
    }
    Ok(t)
}
