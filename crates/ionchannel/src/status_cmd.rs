//! `ionchannel status`: the running daemon's sessions and what became of
//! their input, from `org.ionchannel.Status1`.

use anyhow::{bail, Context};
use ion_portal::status_iface::{Status, STATUS_INTERFACE, STATUS_PATH};
use ion_portal::BUS_NAME;

pub async fn status(json: bool) -> anyhow::Result<()> {
    let conn = zbus::Connection::session()
        .await
        .context("error connecting to the session bus")?;
    let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
    let name = zbus::names::BusName::try_from(BUS_NAME)?;
    if !dbus.name_has_owner(name).await? {
        bail!("no ionChannel runs on this session bus ({BUS_NAME} has no owner)");
    }
    let proxy = zbus::Proxy::new(&conn, BUS_NAME, STATUS_PATH, STATUS_INTERFACE).await?;
    let text: String = proxy
        .call("Status", &())
        .await
        .context("error asking the daemon for its status")?;
    let status: Status = serde_json::from_str(&text).context("the daemon's answer")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    print!("{}", table(&status));
    Ok(())
}

/// The human table.
pub fn table(status: &Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ionChannel: {} session(s); rate limit {}/s (burst {}); order repair window {} ms",
        status.sessions.len(),
        status.rate_per_second,
        status.rate_burst,
        status.reorder_window_ms
    );
    if status.sessions.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{:>4}  {:<14}  {:<24}  {:<8}  {:<9}  {:>9}  {:>7}  {:>8}  {:>8}  HELD",
        "ID", "KIND", "APP", "STATE", "EIS", "INJECTED", "REFUSED", "LIMITED", "REPAIRED"
    );
    for s in &status.sessions {
        let app = if s.app_id.is_empty() {
            "(host app)"
        } else {
            &s.app_id
        };
        let _ = writeln!(
            out,
            "{:>4}  {:<14}  {:<24}  {:<8}  {:<9}  {:>9}  {:>7}  {:>8}  {:>8}  {}",
            s.id,
            s.kind,
            app,
            s.state,
            s.eis,
            s.input.injected,
            s.input.refused,
            s.input.rate_limited,
            s.input.repaired,
            if s.input.held { "yes" } else { "no" }
        );
        if s.clipboard {
            let _ = writeln!(out, "      clipboard: on");
        }
        let i = &s.input;
        if i.repaired + i.stray_releases + i.dropped_presses > 0 {
            let _ = writeln!(
                out,
                "      repaired: {} early release(s), {} overtaken press(es), {} provisional release(s); \
                 dropped: {} stray release(s), {} repeated press(es); latest repaired call {:.1} ms late",
                i.early_releases,
                i.overtaken_presses,
                i.provisional_releases,
                i.stray_releases,
                i.dropped_presses,
                i.max_lag_us as f64 / 1000.0
            );
        }
    }
    out
}
