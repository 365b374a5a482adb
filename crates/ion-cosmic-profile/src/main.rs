//! `ion-cosmic-profile`: a STAND-IN for cosmic-comp, COSMIC's compositor,
//! in ionChannel's end-to-end tests (cosmic-comp itself cannot be built
//! here: its dependencies come from git).
//!
//! A headless, software-rendered (pixman) Wayland compositor on smithay
//! 0.7 offering the globals of cosmic-comp that ionChannel meets —
//! through the same smithay code where cosmic-comp uses smithay's
//! (virtual keyboard, data control, foreign toplevel list, seat,
//! selections, outputs with xdg-output) — plus ext-image-copy-capture and
//! wlr-output-management written here. What differs from a real
//! cosmic-comp is listed in this crate's README.md.

mod cli;
mod clock;
mod focus;
mod handlers;
mod image_copy;
mod output;
mod output_management;
mod shell;
mod state;
mod toplevels;

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::{EventLoop, Interest, Mode, PostAction};
use smithay::reexports::wayland_server::Display;
use smithay::wayland::socket::ListeningSocketSource;

use crate::cli::Cli;
use crate::state::{ClientState, LoopData, State};

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if let Err(e) = run(&cli) {
        tracing::error!("{e:#}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<()> {
    let mut event_loop: EventLoop<'static, LoopData> =
        EventLoop::try_new().context("the event loop")?;
    let mut display: Display<State> = Display::new().context("the Wayland display")?;
    let mut state = State::new(&display, event_loop.handle(), event_loop.get_signal())?;
    state.create_headless_outputs(cli.outputs, &cli.transforms);

    // A new `wayland-N` in $XDG_RUNTIME_DIR; an inherited WAYLAND_DISPLAY
    // names the compositor we might run inside, not us, so it is ignored.
    let socket = ListeningSocketSource::new_auto().context("the Wayland socket")?;
    let socket_name = socket.socket_name().to_string_lossy().into_owned();
    event_loop
        .handle()
        .insert_source(socket, |stream, _, data: &mut LoopData| {
            if let Err(e) = data
                .state
                .dh
                .insert_client(stream, Arc::new(ClientState::default()))
            {
                tracing::warn!("a client could not be added: {e}");
            }
        })
        .map_err(|e| anyhow::anyhow!("the socket source: {e}"))?;

    let poll_fd = display
        .backend()
        .poll_fd()
        .try_clone_to_owned()
        .context("the display's fd")?;
    event_loop
        .handle()
        .insert_source(
            Generic::new(poll_fd, Interest::READ, Mode::Level),
            |_, _, data: &mut LoopData| {
                if let Err(e) = data.display.dispatch_clients(&mut data.state) {
                    tracing::warn!("dispatching clients: {e}");
                }
                Ok(PostAction::Continue)
            },
        )
        .map_err(|e| anyhow::anyhow!("the display source: {e}"))?;

    let signals = calloop::signals::Signals::new(&[
        calloop::signals::Signal::SIGTERM,
        calloop::signals::Signal::SIGINT,
    ])
    .context("the signal source")?;
    event_loop
        .handle()
        .insert_source(signals, |event, _, data: &mut LoopData| {
            tracing::info!("{:?}: exiting", event.signal());
            data.state.loop_signal.stop();
        })
        .map_err(|e| anyhow::anyhow!("the signal source: {e}"))?;

    clock::start(&state)?;

    tracing::info!(
        "ion-cosmic-profile {} (stand-in for cosmic-comp) listening on WAYLAND_DISPLAY={socket_name}",
        env!("CARGO_PKG_VERSION")
    );
    let mut data = LoopData { state, display };
    event_loop
        .run(None, &mut data, |data| {
            if let Err(e) = data.display.flush_clients() {
                tracing::warn!("flushing clients: {e}");
            }
        })
        .context("the event loop")?;
    tracing::info!("stopped");
    Ok(())
}
