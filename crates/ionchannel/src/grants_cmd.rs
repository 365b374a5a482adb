//! `ionchannel grants list|revoke`: through the running daemon when there
//! is one (so a revoked grant's sessions close at once), else on the
//! grants file directly.

use std::path::Path;

use anyhow::Context;
use ion_core::grants::{Grant, GrantFile};
use ion_portal::grant_store::GrantStore;
use ion_portal::grants_iface::{GRANTS_INTERFACE, GRANTS_PATH};
use ion_portal::BUS_NAME;

/// Which grants `revoke` takes.
pub enum Pick {
    Ids(Vec<String>),
    App(String),
    All,
}

/// The daemon's Grants1 object, if a daemon owns the name on this bus.
async fn daemon() -> Option<zbus::Proxy<'static>> {
    let conn = zbus::Connection::session().await.ok()?;
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.ok()?;
    let name = zbus::names::BusName::try_from(BUS_NAME).ok()?;
    if !dbus.name_has_owner(name).await.ok()? {
        return None;
    }
    zbus::Proxy::new(&conn, BUS_NAME, GRANTS_PATH, GRANTS_INTERFACE)
        .await
        .ok()
}

pub async fn list(path: &Path, json: bool) -> anyhow::Result<()> {
    let file = match daemon().await {
        Some(proxy) => {
            let text: String = proxy
                .call("List", &())
                .await
                .context("error asking the daemon for its grants")?;
            GrantFile::parse(&text).context("the daemon's answer")?
        }
        None => GrantStore::new(path.to_path_buf()).load()?,
    };
    if json {
        print!("{}", file.to_text());
        return Ok(());
    }
    if file.grants.is_empty() {
        println!("no grants ({})", path.display());
        return Ok(());
    }
    println!(
        "{:<32}  {:<28}  {:<14}  {:<26}  SOURCES",
        "ID", "APP", "KIND", "DEVICES"
    );
    for g in &file.grants {
        println!(
            "{:<32}  {:<28}  {:<14}  {:<26}  {}",
            g.id,
            if g.app_id.is_empty() {
                "(host app)"
            } else {
                &g.app_id
            },
            match g.kind {
                ion_core::consent::SessionKind::Screencast => "screencast",
                ion_core::consent::SessionKind::RemoteDesktop => "remote_desktop",
            },
            devices(g),
            sources(g)
        );
    }
    Ok(())
}

/// The devices, and the clipboard when the grant shared it.
fn devices(g: &Grant) -> String {
    let mut text = if g.devices.is_empty() {
        "-".to_string()
    } else {
        g.devices.join(",")
    };
    if g.clipboard {
        text.push_str(" +clipboard");
    }
    text
}

fn sources(g: &Grant) -> String {
    let mut parts: Vec<String> = g
        .outputs
        .iter()
        .map(|o| {
            if o.description.is_empty() {
                format!("output {}", o.name)
            } else {
                format!("output {} ({})", o.name, o.description)
            }
        })
        .collect();
    parts.extend(g.windows.iter().map(|w| format!("window of {}", w.app_id)));
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

pub async fn revoke(path: &Path, pick: Pick) -> anyhow::Result<()> {
    let ids: Vec<String> = match daemon().await {
        Some(proxy) => {
            let reply: zbus::Result<Vec<String>> = match &pick {
                Pick::Ids(ids) => proxy.call("Revoke", &(ids,)).await,
                Pick::App(app) => proxy.call("RevokeApp", &(app,)).await,
                Pick::All => proxy.call("RevokeAll", &()).await,
            };
            reply.context("error asking the daemon to revoke")?
        }
        None => {
            let store = GrantStore::new(path.to_path_buf());
            let gone = match &pick {
                Pick::Ids(ids) => store.remove(|g| ids.contains(&g.id)),
                Pick::App(app) => store.remove(|g| &g.app_id == app),
                Pick::All => store.remove(|_| true),
            }?;
            gone.into_iter().map(|g| g.id).collect()
        }
    };
    if let Pick::Ids(asked) = &pick {
        let unknown: Vec<&String> = asked.iter().filter(|id| !ids.contains(id)).collect();
        if !unknown.is_empty() {
            for id in &ids {
                println!("revoked {id}");
            }
            anyhow::bail!(
                "no such grant: {}",
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if ids.is_empty() {
        println!("no grant matched");
    }
    for id in &ids {
        println!("revoked {id}");
    }
    Ok(())
}
