//! The probe's main loop: Wayland events and termination signals, polled
//! together (`prepare_read`, poll, read, dispatch).

use std::os::fd::AsFd;
use std::time::Instant;

use anyhow::{Context, Result};
use rustix::event::{PollFd, PollFlags};
use wayland_client::backend::WaylandError;
use wayland_client::Connection;

use super::record::{Event, Recorder};
use super::state::Probe;
use super::ProbeOptions;
use crate::signals::Signals;

/// Flushes requests; a full socket buffer is not an error (the rest goes
/// out on a later flush).
fn flush(conn: &Connection) -> Result<()> {
    match conn.flush() {
        Ok(()) => Ok(()),
        Err(WaylandError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e).context("flushing requests to the compositor (disconnected?)"),
    }
}

/// Runs the probe until a signal, `--max-runtime`, or an error (a
/// compositor disconnect or protocol error is an error).
pub fn run(opts: ProbeOptions) -> Result<()> {
    let signals = Signals::new(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP])?;
    let recorder = match opts.events.as_deref() {
        None => Recorder::stdout(),
        Some(p) if p.as_os_str() == "-" => Recorder::stdout(),
        Some(p) => Recorder::to_file(p)?,
    };
    let deadline = opts
        .max_runtime
        .map(|s| Instant::now() + std::time::Duration::from_secs_f64(s));

    let conn = Connection::connect_to_env().context("connecting to the Wayland compositor")?;
    let mut queue = conn.new_event_queue::<Probe>();
    let qh = queue.handle();
    let display = conn.display();
    let animate = opts.animate;
    let mut probe = Probe::new(opts, recorder, display.clone());
    probe.record(Event::Started {
        pid: std::process::id(),
        animate,
    });
    display.get_registry(&qh, ());
    queue
        .roundtrip(&mut probe)
        .context("first round trip (registry)")?;
    probe.check_globals()?;
    // Outputs' names, scales and xdg-output geometry.
    queue
        .roundtrip(&mut probe)
        .context("second round trip (output information)")?;
    probe.finish_startup();
    tracing::info!(
        "ion-probe connected: {} output(s), seat {}",
        probe.outputs.len(),
        if probe.seat.is_some() {
            "bound"
        } else {
            "absent"
        }
    );

    loop {
        queue
            .dispatch_pending(&mut probe)
            .context("dispatching Wayland events")?;
        probe.after_dispatch(&qh)?;
        flush(&conn)?;

        let timeout = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    tracing::info!("ion-probe: --max-runtime reached, exiting");
                    return Ok(());
                }
                Some(rustix::time::Timespec {
                    tv_sec: left.as_secs() as _,
                    tv_nsec: left.subsec_nanos() as _,
                })
            }
            None => None,
        };

        let Some(guard) = queue.prepare_read() else {
            continue; // events already queued: dispatch them first
        };
        let (wl_ready, sig_ready) = {
            let wl_fd = guard.connection_fd();
            let sig_fd = signals.as_fd();
            let mut fds = [
                PollFd::new(&wl_fd, PollFlags::IN),
                PollFd::new(&sig_fd, PollFlags::IN),
            ];
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e).context("poll"),
            }
            let wake = PollFlags::IN | PollFlags::HUP | PollFlags::ERR;
            (
                fds[0].revents().intersects(wake),
                fds[1].revents().intersects(PollFlags::IN),
            )
        };
        if sig_ready {
            if let Some(sig) = signals.read() {
                drop(guard);
                tracing::info!("ion-probe: signal {sig}, exiting");
                return Ok(());
            }
        }
        if wl_ready {
            match guard.read() {
                Ok(_) => {}
                Err(WaylandError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    return Err(e).context("reading from the compositor (disconnected?)");
                }
            }
        }
    }
}
