//! `ion-window`: a plain xdg-shell toplevel with a known app id, title and
//! picture, for window-source tests. It shows the probe's pattern (index
//! [`WINDOW_PATTERN`]) at a fixed size (min = max, so tiling compositors
//! float it), takes the other size on SIGUSR1, and leaves on SIGTERM.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rustix::event::{PollFd, PollFlags};
use wayland_client::backend::WaylandError;
use wayland_client::protocol::{
    wl_buffer::WlBuffer, wl_compositor::WlCompositor, wl_registry, wl_shm::WlShm,
    wl_shm_pool::WlShmPool, wl_surface::WlSurface,
};
use wayland_client::{delegate_noop, Connection, Dispatch, QueueHandle};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

use crate::probe::pattern::fill_pattern_xrgb8888;
use crate::probe::shm::{on_release, BufferBusy, ShmBuffer};
use crate::signals::Signals;

/// The pattern index the window draws (the probe's outputs use 0..=2).
pub const WINDOW_PATTERN: u32 = 3;

#[derive(Debug, Clone, Args)]
pub struct WindowOptions {
    #[arg(long, default_value = "org.ionchannel.TestWindow")]
    pub app_id: String,
    #[arg(long, default_value = "ionChannel test window")]
    pub title: String,
    /// First size, WxH in buffer pixels.
    #[arg(long, default_value = "400x300", value_parser = parse_size)]
    pub size: (u32, u32),
    /// The size SIGUSR1 switches to (and back).
    #[arg(long, default_value = "640x360", value_parser = parse_size)]
    pub resize_to: (u32, u32),
    /// Written (with the current size) once a frame of that size is shown.
    #[arg(long)]
    pub ready: Option<PathBuf>,
}

pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("expected WxH")?;
    let w: u32 = w.parse().map_err(|e| format!("width: {e}"))?;
    let h: u32 = h.parse().map_err(|e| format!("height: {e}"))?;
    if w == 0 || h == 0 || w > 8192 || h > 8192 {
        return Err("sizes are 1..=8192".into());
    }
    Ok((w, h))
}

struct Window {
    opts: WindowOptions,
    compositor: Option<WlCompositor>,
    shm: Option<WlShm>,
    wm_base: Option<xdg_wm_base::XdgWmBase>,
    surface: Option<WlSurface>,
    toplevel: Option<xdg_toplevel::XdgToplevel>,
    configured: bool,
    size: (u32, u32),
    /// The size the last commit showed.
    shown: Option<(u32, u32)>,
    buffers: Vec<ShmBuffer>,
    closed: bool,
}

impl Window {
    /// Draws and commits the current size if it is not shown yet.
    fn draw(&mut self, qh: &QueueHandle<Self>) -> Result<()> {
        if !self.configured || self.shown == Some(self.size) {
            return Ok(());
        }
        let (Some(shm), Some(surface), Some(toplevel)) = (&self.shm, &self.surface, &self.toplevel)
        else {
            return Ok(());
        };
        let (w, h) = self.size;
        // Old buffers the compositor released go; a held one stays until
        // its release.
        self.buffers.retain(|b| b.is_busy());
        let mut buffer = ShmBuffer::new(shm, qh, w, h)?;
        let stride = buffer.stride;
        fill_pattern_xrgb8888(buffer.bytes_mut(), w, h, stride, WINDOW_PATTERN);
        let (wi, hi) = (i32::try_from(w)?, i32::try_from(h)?);
        toplevel.set_min_size(wi, hi);
        toplevel.set_max_size(wi, hi);
        surface.attach(Some(&buffer.buffer), 0, 0);
        surface.damage_buffer(0, 0, wi, hi);
        buffer.set_busy();
        surface.commit();
        self.buffers.push(buffer);
        self.shown = Some(self.size);
        if let Some(ready) = &self.opts.ready {
            std::fs::write(ready, format!("{w}x{h}\n"))
                .with_context(|| format!("writing {}", ready.display()))?;
        }
        tracing::info!(w, h, "ion-window: shown");
        Ok(())
    }
}

/// Runs the window until SIGTERM/SIGINT or the compositor closes it.
pub fn run(opts: WindowOptions) -> Result<()> {
    let signals = Signals::new(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1])?;
    let conn = Connection::connect_to_env().context("connecting to the Wayland compositor")?;
    let mut queue = conn.new_event_queue::<Window>();
    let qh = queue.handle();
    conn.display().get_registry(&qh, ());
    let size = opts.size;
    let mut win = Window {
        opts,
        compositor: None,
        shm: None,
        wm_base: None,
        surface: None,
        toplevel: None,
        configured: false,
        size,
        shown: None,
        buffers: Vec::new(),
        closed: false,
    };
    queue.roundtrip(&mut win).context("registry round trip")?;
    let (Some(compositor), Some(wm_base)) = (&win.compositor, &win.wm_base) else {
        anyhow::bail!("the compositor lacks wl_compositor or xdg_wm_base");
    };
    anyhow::ensure!(win.shm.is_some(), "the compositor lacks wl_shm");
    let surface = compositor.create_surface(&qh, ());
    let xdg = wm_base.get_xdg_surface(&surface, &qh, ());
    let toplevel = xdg.get_toplevel(&qh, ());
    toplevel.set_app_id(win.opts.app_id.clone());
    toplevel.set_title(win.opts.title.clone());
    let (w, h) = win.size;
    toplevel.set_min_size(i32::try_from(w)?, i32::try_from(h)?);
    toplevel.set_max_size(i32::try_from(w)?, i32::try_from(h)?);
    // The first commit, without a buffer, asks for the first configure.
    surface.commit();
    win.surface = Some(surface);
    win.toplevel = Some(toplevel);

    loop {
        queue
            .dispatch_pending(&mut win)
            .context("dispatching Wayland events")?;
        win.draw(&qh)?;
        if win.closed {
            tracing::info!("ion-window: closed by the compositor");
            return Ok(());
        }
        match conn.flush() {
            Ok(()) => {}
            Err(WaylandError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("flushing (disconnected?)"),
        }
        let Some(guard) = queue.prepare_read() else {
            continue;
        };
        let (wl_ready, sig_ready) = {
            let wl_fd = guard.connection_fd();
            let mut fds = [
                PollFd::new(&wl_fd, PollFlags::IN),
                PollFd::new(&signals, PollFlags::IN),
            ];
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e).context("poll"),
            }
            (
                fds[0]
                    .revents()
                    .intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR),
                fds[1].revents().intersects(PollFlags::IN),
            )
        };
        if sig_ready {
            match signals.read() {
                Some(sig) if sig == libc::SIGUSR1 as u32 => {
                    win.size = if win.size == win.opts.size {
                        win.opts.resize_to
                    } else {
                        win.opts.size
                    };
                    tracing::info!(size = ?win.size, "ion-window: resizing");
                }
                Some(sig) => {
                    tracing::info!("ion-window: signal {sig}, exiting");
                    return Ok(());
                }
                None => {}
            }
        }
        if wl_ready {
            match guard.read() {
                Ok(_) => {}
                Err(WaylandError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e).context("reading from the compositor (disconnected?)"),
            }
        }
    }
}

impl Dispatch<wl_registry::WlRegistry, ()> for Window {
    fn event(
        win: &mut Self,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        if let wl_registry::Event::Global {
            name,
            interface,
            version,
        } = event
        {
            match interface.as_str() {
                "wl_compositor" => {
                    win.compositor = Some(registry.bind(name, version.min(4), qh, ()));
                }
                "wl_shm" => win.shm = Some(registry.bind(name, 1, qh, ())),
                "xdg_wm_base" => win.wm_base = Some(registry.bind(name, 1, qh, ())),
                _ => {}
            }
        }
    }
}

impl Dispatch<xdg_wm_base::XdgWmBase, ()> for Window {
    fn event(
        _: &mut Self,
        base: &xdg_wm_base::XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            base.pong(serial);
        }
    }
}

impl Dispatch<xdg_surface::XdgSurface, ()> for Window {
    fn event(
        win: &mut Self,
        xdg: &xdg_surface::XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            xdg.ack_configure(serial);
            win.configured = true;
            // Our size is our own (min = max): a configure's suggestion is
            // not followed, but it must be answered with a commit.
            win.shown = None;
        }
    }
}

impl Dispatch<xdg_toplevel::XdgToplevel, ()> for Window {
    fn event(
        win: &mut Self,
        _: &xdg_toplevel::XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_toplevel::Event::Close = event {
            win.closed = true;
        }
    }
}

impl Dispatch<WlBuffer, BufferBusy> for Window {
    fn event(
        _: &mut Self,
        _: &WlBuffer,
        event: wayland_client::protocol::wl_buffer::Event,
        busy: &BufferBusy,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wayland_client::protocol::wl_buffer::Event::Release = event {
            on_release(busy);
        }
    }
}

delegate_noop!(Window: ignore WlCompositor);
delegate_noop!(Window: ignore WlSurface);
delegate_noop!(Window: ignore WlShm);
delegate_noop!(Window: ignore WlShmPool);
