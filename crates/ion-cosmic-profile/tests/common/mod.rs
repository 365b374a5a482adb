//! The test harness: starts `ion-cosmic-profile` in a private
//! XDG_RUNTIME_DIR and talks to it as a Wayland client.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod client;

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use wayland_client::{Connection, EventQueue};

pub use client::App;

pub const WAIT: Duration = Duration::from_secs(15);

pub struct Compositor {
    child: Child,
    dir: tempfile::TempDir,
    pub socket: PathBuf,
    log: PathBuf,
}

impl Compositor {
    /// Starts the compositor and waits for its socket.
    pub fn start(args: &[&str]) -> Compositor {
        let dir = tempfile::Builder::new()
            .prefix("ion-cosmic-profile-test")
            .tempdir()
            .unwrap();
        let runtime = dir.path().join("run");
        std::fs::create_dir(&runtime).unwrap();
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let log = dir.path().join("compositor.log");
        let child = Command::new(env!("CARGO_BIN_EXE_ion-cosmic-profile"))
            .args(args)
            .env("XDG_RUNTIME_DIR", &runtime)
            // An inherited WAYLAND_DISPLAY must not matter.
            .env("WAYLAND_DISPLAY", "wayland-nonexistent")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // The socket is ready once the compositor says where it listens
        // (the file exists a moment before it accepts).
        let start = Instant::now();
        let socket = loop {
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = log_text.split("listening on WAYLAND_DISPLAY=").nth(1) {
                let name: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                break runtime.join(name);
            }
            assert!(
                start.elapsed() < WAIT,
                "the compositor did not start: {log_text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Compositor {
            child,
            dir,
            socket,
            log,
        }
    }

    pub fn connect(&self) -> (Connection, EventQueue<App>, App) {
        let stream = UnixStream::connect(&self.socket).unwrap();
        let conn = Connection::from_socket(stream).unwrap();
        let mut queue = conn.new_event_queue();
        let mut app = App::default();
        conn.display().get_registry(&queue.handle(), ());
        queue.roundtrip(&mut app).unwrap();
        // A second round trip: outputs, seat and managers send their
        // first events.
        queue.roundtrip(&mut app).unwrap();
        (conn, queue, app)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> ExitStatus {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < WAIT, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Compositor {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("compositor log:\n{}", self.log());
        }
    }
}

/// Dispatches until `pred` holds (panics after [`WAIT`]).
pub fn dispatch_until(
    queue: &mut EventQueue<App>,
    app: &mut App,
    what: &str,
    mut pred: impl FnMut(&App) -> bool,
) {
    let start = Instant::now();
    loop {
        queue.dispatch_pending(app).unwrap();
        if pred(app) {
            return;
        }
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        queue.flush().unwrap();
        if let Some(guard) = queue.prepare_read() {
            let readable = {
                let fd = guard.connection_fd();
                let mut fds = [rustix::event::PollFd::new(
                    &fd,
                    rustix::event::PollFlags::IN,
                )];
                let timeout = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 50_000_000,
                };
                rustix::event::poll(&mut fds, Some(&timeout)).unwrap_or(0) > 0
            };
            if readable {
                match guard.read() {
                    Ok(_) => {}
                    Err(wayland_client::backend::WaylandError::Io(e))
                        if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("reading from the compositor: {e}"),
                }
            }
        }
    }
}

/// Dispatches for a while (for "nothing happens" checks).
pub fn dispatch_for(queue: &mut EventQueue<App>, app: &mut App, d: Duration) {
    let start = Instant::now();
    dispatch_until(queue, app, "a pause", |_| start.elapsed() >= d);
}

/// A memfd with `bytes` in it.
pub fn memfd(name: &str, bytes: &[u8]) -> OwnedFd {
    let fd = rustix::fs::memfd_create(name, rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes).unwrap();
    file.into()
}

/// Reads a memfd's whole contents.
pub fn read_fd(fd: &OwnedFd, len: usize) -> Vec<u8> {
    let file = std::fs::File::from(fd.try_clone().unwrap());
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, 0).unwrap();
    buf
}

/// The test windows' picture: red = x, green = y, blue = 0x5a (opaque
/// XRGB), so position and orientation both show.
pub fn window_pixel(x: u32, y: u32) -> [u8; 3] {
    [(x % 256) as u8, (y % 256) as u8, 0x5a]
}

/// XRGB8888 bytes (little endian: B, G, R, X) of the window picture.
pub fn window_picture(w: u32, h: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let [r, g, b] = window_pixel(x, y);
            v.extend_from_slice(&[b, g, r, 0xff]);
        }
    }
    v
}

use wayland_client::protocol::{
    wl_buffer::WlBuffer, wl_compositor::WlCompositor, wl_shm, wl_shm::WlShm,
    wl_shm_pool::WlShmPool, wl_surface::WlSurface,
};
use wayland_protocols::ext::image_copy_capture::v1::client::{
    ext_image_copy_capture_frame_v1::ExtImageCopyCaptureFrameV1,
    ext_image_copy_capture_session_v1::ExtImageCopyCaptureSessionV1,
};
use wayland_protocols::xdg::shell::client::{
    xdg_surface::XdgSurface, xdg_toplevel::XdgToplevel, xdg_wm_base::XdgWmBase,
};

/// An xdg toplevel showing [`window_picture`].
pub struct TestWindow {
    pub surface: WlSurface,
    pub xdg: XdgSurface,
    pub toplevel: XdgToplevel,
    pub buffer: WlBuffer,
    pub pool: WlShmPool,
    pub fd: OwnedFd,
    pub size: (u32, u32),
}

impl TestWindow {
    /// Maps a window of `w`x`h` and waits until the compositor has seen
    /// its buffer.
    pub fn map(
        queue: &mut EventQueue<App>,
        app: &mut App,
        app_id: &str,
        (w, h): (u32, u32),
    ) -> TestWindow {
        let qh = queue.handle();
        let compositor: WlCompositor = app.bind(&qh, "wl_compositor", 4, ());
        let shm: WlShm = app.bind(&qh, "wl_shm", 1, ());
        let wm: XdgWmBase = app.bind(&qh, "xdg_wm_base", 2, ());
        let surface = compositor.create_surface(&qh, ());
        let xdg = wm.get_xdg_surface(&surface, &qh, ());
        let toplevel = xdg.get_toplevel(&qh, ());
        toplevel.set_app_id(app_id.to_owned());
        toplevel.set_title(format!("{app_id} window"));
        surface.commit();
        let before = app.configures;
        dispatch_until(queue, app, "the first configure", |a| a.configures > before);
        let fd = memfd("window", &window_picture(w, h));
        let pool = shm.create_pool(std::os::fd::AsFd::as_fd(&fd), (w * h * 4) as i32, &qh, ());
        let buffer = pool.create_buffer(
            0,
            w as i32,
            h as i32,
            (w * 4) as i32,
            wl_shm::Format::Xrgb8888,
            &qh,
            (),
        );
        surface.attach(Some(&buffer), 0, 0);
        surface.damage_buffer(0, 0, w as i32, h as i32);
        surface.commit();
        queue.roundtrip(app).unwrap();
        TestWindow {
            surface,
            xdg,
            toplevel,
            buffer,
            pool,
            fd,
            size: (w, h),
        }
    }

    /// Paints a rectangle of the buffer in one colour (XRGB) and commits
    /// it with that damage.
    pub fn paint(&self, (x, y, w, h): (u32, u32, u32, u32), rgb: [u8; 3]) {
        let file = std::fs::File::from(self.fd.try_clone().unwrap());
        let px = [rgb[2], rgb[1], rgb[0], 0xff];
        let row: Vec<u8> = px.iter().copied().cycle().take((w * 4) as usize).collect();
        for yy in y..y + h {
            let off = ((yy * self.size.0 + x) * 4) as u64;
            file.write_all_at(&row, off).unwrap();
        }
        self.surface.attach(Some(&self.buffer), 0, 0);
        self.surface
            .damage_buffer(x as i32, y as i32, w as i32, h as i32);
        self.surface.commit();
    }

    /// Shows the picture at another size (a new buffer).
    pub fn resize(&mut self, queue: &EventQueue<App>, app: &App, (w, h): (u32, u32)) {
        let qh = queue.handle();
        let shm: WlShm = app.bind(&qh, "wl_shm", 1, ());
        let fd = memfd("window", &window_picture(w, h));
        let pool = shm.create_pool(std::os::fd::AsFd::as_fd(&fd), (w * h * 4) as i32, &qh, ());
        let buffer = pool.create_buffer(
            0,
            w as i32,
            h as i32,
            (w * 4) as i32,
            wl_shm::Format::Xrgb8888,
            &qh,
            (),
        );
        self.surface.attach(Some(&buffer), 0, 0);
        self.surface.damage_buffer(0, 0, w as i32, h as i32);
        self.surface.commit();
        self.buffer.destroy();
        self.pool.destroy();
        (self.fd, self.buffer, self.pool, self.size) = (fd, buffer, pool, (w, h));
    }

    pub fn close(self) {
        self.toplevel.destroy();
        self.xdg.destroy();
        self.surface.destroy();
    }
}

/// A shm buffer for captures, in a memfd we read back.
pub struct CaptureBuffer {
    pub fd: OwnedFd,
    pub buffer: WlBuffer,
    pub size: (u32, u32),
}

impl CaptureBuffer {
    pub fn new(
        queue: &EventQueue<App>,
        app: &App,
        (w, h): (u32, u32),
        format: wl_shm::Format,
    ) -> CaptureBuffer {
        let qh = queue.handle();
        let shm: WlShm = app.bind(&qh, "wl_shm", 1, ());
        let len = (w * h * 4) as usize;
        let fd = memfd("capture", &vec![0u8; len]);
        let pool = shm.create_pool(std::os::fd::AsFd::as_fd(&fd), len as i32, &qh, ());
        let buffer = pool.create_buffer(0, w as i32, h as i32, (w * 4) as i32, format, &qh, ());
        pool.destroy();
        CaptureBuffer {
            fd,
            buffer,
            size: (w, h),
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        read_fd(&self.fd, (self.size.0 * self.size.1 * 4) as usize)
    }

    /// The pixel at (x, y) as [r, g, b], for XRGB/ARGB buffers.
    pub fn rgb_xrgb(bytes: &[u8], width: u32, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * width + x) * 4) as usize;
        [bytes[i + 2], bytes[i + 1], bytes[i]]
    }

    /// The pixel at (x, y) as [r, g, b], for XBGR/ABGR buffers.
    pub fn rgb_xbgr(bytes: &[u8], width: u32, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * width + x) * 4) as usize;
        [bytes[i], bytes[i + 1], bytes[i + 2]]
    }
}

/// Creates a frame on `session`, attaches `buffer`, captures; returns the
/// frame and its index in `app.frames`.
pub fn capture(
    queue: &mut EventQueue<App>,
    app: &mut App,
    session: &ExtImageCopyCaptureSessionV1,
    buffer: &WlBuffer,
) -> (ExtImageCopyCaptureFrameV1, usize) {
    let qh = queue.handle();
    let index = app.frames.len();
    app.frames.push(Default::default());
    let frame = session.create_frame(&qh, index);
    frame.attach_buffer(buffer);
    frame.damage_buffer(0, 0, i32::MAX, i32::MAX);
    frame.capture();
    (frame, index)
}

/// Waits for a frame's answer (ready or failed).
pub fn wait_frame(queue: &mut EventQueue<App>, app: &mut App, index: usize) {
    dispatch_until(queue, app, "a frame's ready or failed", |a| {
        a.frames[index].ready || a.frames[index].failed.is_some()
    });
}
