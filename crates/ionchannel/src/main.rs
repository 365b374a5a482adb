//! `ionchannel`: the portal backend daemon and its tools.

mod doctor;
mod grants_cmd;
mod paths;
mod status_cmd;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ion_core::DeviceTypes;
use ion_portal::caller::Trust;
use ion_portal::service::Ended;
use ion_portal::{PortalConfig, ServeOptions, FRONTEND_NAME};
use ion_wayland::keymap::KeymapNames;

#[derive(Parser)]
#[command(
    name = "ionchannel",
    version,
    about = "RemoteDesktop and ScreenCast portal backend for wlroots compositors and COSMIC"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the portal backend on the session bus.
    Serve {
        /// Sustained input events per second allowed per session.
        #[arg(long, default_value_t = 8000)]
        rate: u32,
        /// Input events allowed at once per session.
        #[arg(long, default_value_t = 4000)]
        burst: u32,
    },
    /// Show what the compositor offers and what each feature will use.
    Doctor {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The running daemon's sessions and what became of their input
    /// (injected, refused, rate limited, put back in order).
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List or revoke remembered grants (restore tokens).
    Grants {
        #[command(subcommand)]
        action: GrantsAction,
    },
}

#[derive(Subcommand)]
enum GrantsAction {
    /// Every remembered grant.
    List {
        /// Print the grants file's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forget grants: their restore tokens stop working and sessions
    /// running under them close.
    Revoke {
        /// Grant ids (from `ionchannel grants list`).
        #[arg(required_unless_present_any = ["app", "all"], conflicts_with_all = ["app", "all"])]
        ids: Vec<String>,
        /// Every grant of this app id ("" for host apps).
        #[arg(long, conflicts_with = "all")]
        app: Option<String>,
        /// Every grant.
        #[arg(long)]
        all: bool,
    },
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // doctor prints a report: keep its log to warnings unless asked.
    init_logging(
        if matches!(
            cli.command,
            Command::Doctor { .. } | Command::Grants { .. } | Command::Status { .. }
        ) {
            "warn"
        } else {
            "info"
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("error creating the async runtime")?;
    match cli.command {
        Command::Serve { rate, burst } => runtime.block_on(serve(rate, burst)),
        Command::Doctor { json } => runtime.block_on(doctor(json)),
        Command::Status { json } => runtime.block_on(status_cmd::status(json)),
        Command::Grants { action } => {
            let path = paths::grants_file();
            runtime.block_on(async {
                match action {
                    GrantsAction::List { json } => grants_cmd::list(&path, json).await,
                    GrantsAction::Revoke { ids, app, all } => {
                        let pick = match (app, all) {
                            (_, true) => grants_cmd::Pick::All,
                            (Some(app), false) => grants_cmd::Pick::App(app),
                            (None, false) => grants_cmd::Pick::Ids(ids),
                        };
                        grants_cmd::revoke(&path, pick).await
                    }
                }
            })
        }
    }
}

async fn serve(rate: u32, burst: u32) -> anyhow::Result<()> {
    let keymap_names = KeymapNames::from_environment();
    let wayland =
        ion_wayland::spawn(keymap_names.clone()).context("error connecting to the compositor")?;
    let snapshot = wayland
        .handle
        .snapshot()
        .await
        .context("error reading the compositor's globals")?;
    let available: DeviceTypes = snapshot.available_devices();
    // Said once at start, in doctor's words: a compositor without a virtual
    // pointer (cosmic-comp) gets a keyboard-only RemoteDesktop.
    for (device, global) in [
        (ion_core::DeviceType::Pointer, ion_wayland::VIRTUAL_POINTER),
        (
            ion_core::DeviceType::Keyboard,
            ion_wayland::VIRTUAL_KEYBOARD,
        ),
    ] {
        if !available.contains(device) {
            tracing::warn!(
                "{}",
                doctor::missing_injection(
                    device.name(),
                    global,
                    snapshot.seat.is_some(),
                    snapshot.uinput_unusable.as_deref()
                )
            );
        }
    }
    let can_capture = snapshot.has(ion_wayland::WLR_SCREENCOPY)
        || snapshot.has(ion_wayland::EXT_IMAGE_COPY_CAPTURE);
    let available_sources = match (snapshot.pipewire && can_capture, snapshot.window_capture) {
        (true, true) => ion_portal::portal::SOURCE_MONITOR | ion_portal::portal::SOURCE_WINDOW,
        (true, false) => ion_portal::portal::SOURCE_MONITOR,
        (false, _) => 0,
    };
    let config = PortalConfig {
        trust: Trust::NameOwner(FRONTEND_NAME.to_string()),
        policy_path: paths::policy_file(),
        available_devices: available,
        available_sources,
        available_cursor_modes: ion_portal::portal::CURSOR_HIDDEN
            | ion_portal::portal::CURSOR_EMBEDDED
            | if snapshot.cursor_metadata {
                ion_portal::portal::CURSOR_METADATA
            } else {
                0
            },
        rate_per_second: rate,
        rate_burst: burst,
        grants_path: paths::grants_file(),
        dialog_program: paths::dialog_program(),
        dialog_env: Vec::new(),
        reorder_window: ion_core::order::REORDER_WINDOW,
    };
    tracing::info!(
        grants = %config.grants_path.display(),
        dialog = ?config.dialog_program,
        "consent: policy rules, remembered grants, then the dialog"
    );
    // After a protocol error the compositor is still there: connect again.
    let reconnect: ion_portal::service::Reconnect =
        std::sync::Arc::new(move || ion_wayland::spawn(keymap_names.clone()));
    let options = ServeOptions {
        config,
        reconnect: Some(reconnect),
    };
    match ion_portal::serve(options, wayland).await? {
        Ended::Signal => Ok(()),
        Ended::CompositorGone(reason) => anyhow::bail!("compositor gone: {reason}"),
        Ended::BusGone => anyhow::bail!("session bus connection lost"),
    }
}

async fn doctor(json: bool) -> anyhow::Result<()> {
    let wayland = ion_wayland::spawn(KeymapNames::from_environment())
        .context("error connecting to the compositor")?;
    let snapshot = wayland.handle.snapshot().await?;
    let dialog = paths::dialog_program();
    let report = doctor::report(&snapshot, &paths::policy_file(), dialog.as_deref());
    let printed = if json {
        use std::io::Write;
        serde_json::to_string_pretty(&report)
            .map_err(std::io::Error::other)
            .and_then(|text| writeln!(std::io::stdout().lock(), "{text}"))
    } else {
        doctor::print_table(&report)
    };
    if let Err(e) = printed {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("error writing the report");
        }
    }
    let _ = wayland.handle.send(ion_wayland::Command::Shutdown);
    Ok(())
}
