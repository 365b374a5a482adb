//! An EIS client (libei's protocol, client side, through `reis`) for the
//! socket RemoteDesktop.ConnectToEIS returns: what Deskflow and Input Leap
//! do with libei. It handshakes as a *sender*, binds the seat's
//! capabilities, waits for the devices to be resumed, and emulates input:
//! `start_emulating` once per device, then each event followed by
//! `ei_device.frame`, flushed at once (one event per frame, as a remote
//! desktop client sends them).

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use reis::ei;
use reis::enumflags2::BitFlags;
use reis::event::{Device, DeviceCapability, EiEvent};
use reis::tokio::EiConvertEventStream;
use reis::Interface;

pub use reis::event::DeviceCapability as Capability;

/// How the server ended the connection, as the client saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// `ei_connection.disconnected` with its reason and explanation.
    Disconnected {
        reason: ei::connection::DisconnectReason,
        explanation: Option<String>,
    },
    /// The socket closed (or failed) without a message.
    Closed(String),
}

/// One region of the absolute pointer, as the server announced it.
#[derive(Debug, Clone, PartialEq)]
pub struct EisRegion {
    pub mapping_id: Option<String>,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub scale: f32,
}

pub struct EisClient {
    context: ei::Context,
    connection: reis::event::Connection,
    events: EiConvertEventStream,
    seat: Option<reis::event::Seat>,
    /// Devices the server added, and whether each is resumed.
    devices: Vec<(Device, bool)>,
    /// Devices we are emulating on.
    emulating: HashMap<u64, ()>,
    sequence: u32,
    epoch: Instant,
    ended: Option<Ended>,
}

fn id_of(device: &Device) -> u64 {
    device.device().as_object().id()
}

impl EisClient {
    /// Handshakes on the socket ConnectToEIS returned.
    pub async fn connect(fd: OwnedFd, name: &str) -> Result<Self> {
        let stream = std::os::unix::net::UnixStream::from(fd);
        let context = ei::Context::new(stream).context("EIS socket")?;
        let (connection, events) = tokio::time::timeout(
            Duration::from_secs(10),
            context.handshake_tokio(name, ei::handshake::ContextType::Sender),
        )
        .await
        .context("EIS handshake timed out")?
        .context("EIS handshake")?;
        Ok(Self {
            context,
            connection,
            events,
            seat: None,
            devices: Vec::new(),
            emulating: HashMap::new(),
            sequence: 0,
            epoch: Instant::now(),
            ended: None,
        })
    }

    /// Handles one event from the server; Ok(false) once the connection
    /// ended.
    fn on_event(&mut self, event: Option<Result<EiEvent, reis::Error>>) -> bool {
        match event {
            None => {
                self.ended
                    .get_or_insert(Ended::Closed("end of stream".into()));
                false
            }
            Some(Err(e)) => {
                self.ended.get_or_insert(Ended::Closed(e.to_string()));
                false
            }
            Some(Ok(EiEvent::Disconnected(d))) => {
                self.ended = Some(Ended::Disconnected {
                    reason: d.reason,
                    explanation: d.explanation,
                });
                false
            }
            Some(Ok(EiEvent::SeatAdded(s))) => {
                self.seat = Some(s.seat);
                true
            }
            Some(Ok(EiEvent::DeviceAdded(d))) => {
                self.devices.push((d.device, false));
                true
            }
            Some(Ok(EiEvent::DeviceResumed(d))) => {
                if let Some(entry) = self.devices.iter_mut().find(|(dev, _)| *dev == d.device) {
                    entry.1 = true;
                }
                true
            }
            Some(Ok(EiEvent::DevicePaused(d))) => {
                if let Some(entry) = self.devices.iter_mut().find(|(dev, _)| *dev == d.device) {
                    entry.1 = false;
                }
                true
            }
            Some(Ok(EiEvent::DeviceRemoved(d))) => {
                self.devices.retain(|(dev, _)| *dev != d.device);
                true
            }
            Some(Ok(_)) => true,
        }
    }

    /// Waits for the next event, up to `timeout`; false when the
    /// connection ended.
    async fn pump(&mut self, timeout: Duration) -> Result<bool> {
        match tokio::time::timeout(timeout, self.events.next()).await {
            Ok(event) => Ok(self.on_event(event)),
            Err(_) => bail!("no EIS event within {timeout:?}"),
        }
    }

    /// Waits for the seat, binds `caps` (those the seat has), and waits
    /// until a resumed device exists for each bound capability.
    pub async fn bind(&mut self, caps: BitFlags<DeviceCapability>) -> Result<()> {
        self.bind_waiting(caps, caps).await
    }

    /// [`EisClient::bind`] of `caps`, waiting only for resumed devices with
    /// the capabilities `wait`: for a server that may offer less than
    /// asked (a seat without a pointer).
    pub async fn bind_waiting(
        &mut self,
        caps: BitFlags<DeviceCapability>,
        wait: BitFlags<DeviceCapability>,
    ) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.seat.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.pump(left).await? {
                bail!(
                    "the EIS connection ended before a seat came: {:?}",
                    self.ended
                );
            }
        }
        if let Some(seat) = &self.seat {
            seat.bind_capabilities(caps);
        }
        self.flush()?;
        while !wait.iter().all(|c| self.resumed(c).is_some()) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "no resumed device for every capability in {wait:?}: {:?}",
                    self.devices
                );
            }
            let pumped = self.pump(left).await.with_context(|| {
                format!(
                    "waiting for a resumed device for every capability in {wait:?}; \
                     devices (resumed?): {:?}",
                    self.devices
                        .iter()
                        .map(|(d, r)| (d.name().unwrap_or("?"), *r))
                        .collect::<Vec<_>>()
                )
            })?;
            if !pumped {
                bail!("the EIS connection ended while binding: {:?}", self.ended);
            }
        }
        Ok(())
    }

    /// Whether any device the server added has this capability.
    pub fn has_device_with(&self, cap: DeviceCapability) -> bool {
        self.devices().any(|d| d.has_capability(cap))
    }

    /// A resumed device with this capability.
    pub fn resumed(&self, cap: DeviceCapability) -> Option<&Device> {
        self.devices
            .iter()
            .find(|(d, resumed)| *resumed && d.has_capability(cap))
            .map(|(d, _)| d)
    }

    /// Every device the server added (resumed or not).
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.iter().map(|(d, _)| d)
    }

    /// The absolute pointer's regions: (mapping id, x, y, width, height,
    /// scale).
    pub fn regions(&self) -> Vec<EisRegion> {
        self.regions_of(DeviceCapability::PointerAbsolute)
    }

    /// The regions of the resumed device with `cap` (the absolute pointer,
    /// the touchscreen).
    pub fn regions_of(&self, cap: DeviceCapability) -> Vec<EisRegion> {
        self.resumed(cap)
            .map(|d| {
                d.regions()
                    .iter()
                    .map(|r| EisRegion {
                        mapping_id: r.mapping_id.clone(),
                        x: r.x,
                        y: r.y,
                        width: r.width,
                        height: r.height,
                        scale: r.scale,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Handles the server's events until `done` holds for the client (new
    /// devices, new regions), up to `timeout`.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        done: impl Fn(&Self) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("not seen within {timeout:?}; devices: {:?}", self.devices);
            }
            if !self.pump(left).await? {
                bail!("the EIS connection ended: {:?}", self.ended);
            }
        }
        Ok(())
    }

    /// The keymap the keyboard device came with, as text.
    pub fn keymap_text(&self) -> Result<Option<String>> {
        let Some(keymap) = self
            .resumed(DeviceCapability::Keyboard)
            .and_then(|d| d.keymap())
        else {
            return Ok(None);
        };
        // Read at offset 0, as a mapping would: the fd's offset is shared
        // with the sender's.
        let file = std::fs::File::from(keymap.fd.try_clone().context("keymap fd")?);
        let mut bytes = vec![0; keymap.size as usize];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut bytes, 0)
            .with_context(|| format!("reading the {}-byte keymap", keymap.size))?;
        if bytes.last() == Some(&0) {
            bytes.pop();
        }
        Ok(Some(
            String::from_utf8(bytes).context("keymap is not UTF-8")?,
        ))
    }

    fn device(&self, cap: DeviceCapability) -> Result<Device> {
        self.resumed(cap)
            .cloned()
            .with_context(|| format!("no resumed device with {cap:?}"))
    }

    /// Starts emulating on the device (once), runs `send`, and ends the
    /// frame; flushed at once.
    fn emit(&mut self, cap: DeviceCapability, send: impl FnOnce(&Device)) -> Result<()> {
        self.emit_with(cap, true, send)
    }

    /// Relative motion *without* start_emulating first: a protocol error,
    /// for abuse tests.
    pub fn motion_unannounced(&mut self, dx: f32, dy: f32) -> Result<()> {
        self.emit_with(DeviceCapability::Pointer, false, |d| {
            if let Some(p) = d.interface::<ei::Pointer>() {
                p.motion_relative(dx, dy);
            }
        })
    }

    fn emit_with(
        &mut self,
        cap: DeviceCapability,
        announce: bool,
        send: impl FnOnce(&Device),
    ) -> Result<()> {
        let device = self.device(cap)?;
        let serial = self.connection.serial();
        if announce && self.emulating.insert(id_of(&device), ()).is_none() {
            self.sequence += 1;
            device.device().start_emulating(serial, self.sequence);
        }
        send(&device);
        let micros = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        device.device().frame(serial, micros);
        self.flush()
    }

    /// Ends emulation on every device (keys held stay held: releasing them
    /// is the client's job, or the server's when the connection ends).
    pub fn stop_emulating(&mut self) -> Result<()> {
        let serial = self.connection.serial();
        for (device, _) in &self.devices {
            if self.emulating.remove(&id_of(device)).is_some() {
                device.device().stop_emulating(serial);
            }
        }
        self.flush()
    }

    pub fn motion(&mut self, dx: f32, dy: f32) -> Result<()> {
        self.emit(DeviceCapability::Pointer, |d| {
            if let Some(p) = d.interface::<ei::Pointer>() {
                p.motion_relative(dx, dy);
            }
        })
    }

    /// Absolute motion in global logical coordinates (inside a region).
    pub fn motion_absolute(&mut self, x: f32, y: f32) -> Result<()> {
        self.emit(DeviceCapability::PointerAbsolute, |d| {
            if let Some(p) = d.interface::<ei::PointerAbsolute>() {
                p.motion_absolute(x, y);
            }
        })
    }

    /// A button (evdev code) on the relative pointer.
    pub fn button(&mut self, button: u32, pressed: bool) -> Result<()> {
        let state = if pressed {
            ei::button::ButtonState::Press
        } else {
            ei::button::ButtonState::Released
        };
        self.emit(DeviceCapability::Button, |d| {
            if let Some(b) = d.interface::<ei::Button>() {
                b.button(button, state);
            }
        })
    }

    /// Smooth scrolling in logical pixels.
    pub fn scroll(&mut self, dx: f32, dy: f32) -> Result<()> {
        self.emit(DeviceCapability::Scroll, |d| {
            if let Some(s) = d.interface::<ei::Scroll>() {
                s.scroll(dx, dy);
            }
        })
    }

    /// Wheel scrolling in 120ths of a click.
    pub fn scroll_discrete(&mut self, dx: i32, dy: i32) -> Result<()> {
        self.emit(DeviceCapability::Scroll, |d| {
            if let Some(s) = d.interface::<ei::Scroll>() {
                s.scroll_discrete(dx, dy);
            }
        })
    }

    /// The end of a scroll sequence on both axes.
    pub fn scroll_stop(&mut self) -> Result<()> {
        self.emit(DeviceCapability::Scroll, |d| {
            if let Some(s) = d.interface::<ei::Scroll>() {
                s.scroll_stop(1, 1, 0);
            }
        })
    }

    /// A key (evdev code).
    pub fn key(&mut self, key: u32, pressed: bool) -> Result<()> {
        let state = if pressed {
            ei::keyboard::KeyState::Press
        } else {
            ei::keyboard::KeyState::Released
        };
        self.emit(DeviceCapability::Keyboard, |d| {
            if let Some(k) = d.interface::<ei::Keyboard>() {
                k.key(key, state);
            }
        })
    }

    /// A contact put down at a global logical position (inside a region);
    /// `id` is the client's own, as libei's counter gives.
    pub fn touch_down(&mut self, id: u32, x: f32, y: f32) -> Result<()> {
        self.emit(DeviceCapability::Touch, |d| {
            if let Some(t) = d.interface::<ei::Touchscreen>() {
                t.down(id, x, y);
            }
        })
    }

    pub fn touch_motion(&mut self, id: u32, x: f32, y: f32) -> Result<()> {
        self.emit(DeviceCapability::Touch, |d| {
            if let Some(t) = d.interface::<ei::Touchscreen>() {
                t.motion(id, x, y);
            }
        })
    }

    pub fn touch_up(&mut self, id: u32) -> Result<()> {
        self.emit(DeviceCapability::Touch, |d| {
            if let Some(t) = d.interface::<ei::Touchscreen>() {
                t.up(id);
            }
        })
    }

    /// `ei_touchscreen.cancel` (protocol version 2); an older server gets
    /// nothing.
    pub fn touch_cancel(&mut self, id: u32) -> Result<()> {
        self.emit(DeviceCapability::Touch, |d| {
            if let Some(t) = d.interface::<ei::Touchscreen>() {
                if t.version() >= 2 {
                    t.cancel(id);
                }
            }
        })
    }

    /// Bytes straight onto the socket, for abuse tests.
    pub fn write_raw(&self, bytes: &[u8]) -> Result<()> {
        rustix::io::write(self.context.as_fd(), bytes).context("writing to the EIS socket")?;
        Ok(())
    }

    /// The protocol's own goodbye (`ei_connection.disconnect`).
    pub fn disconnect(&mut self) -> Result<()> {
        self.connection.connection().disconnect();
        self.flush()
    }

    /// Sends what is buffered. A full socket (a server slower than us, as
    /// in the benchmark's floods) is waited on, up to ten seconds.
    pub fn flush(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.context.flush() {
                Ok(()) => return Ok(()),
                Err(rustix::io::Errno::AGAIN) if Instant::now() < deadline => {
                    let mut fds = [rustix::event::PollFd::new(
                        &self.context,
                        rustix::event::PollFlags::OUT,
                    )];
                    let timeout = rustix::event::Timespec {
                        tv_sec: 0,
                        tv_nsec: 100_000_000,
                    };
                    rustix::event::poll(&mut fds, Some(&timeout))
                        .context("waiting to write to the EIS socket")?;
                }
                Err(e) => return Err(e).context("flushing the EIS socket"),
            }
        }
    }

    /// Waits until the server ends the connection; how it ended.
    pub async fn ended(&mut self, timeout: Duration) -> Result<Ended> {
        let deadline = Instant::now() + timeout;
        while self.ended.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.pump(left).await? {
                break;
            }
        }
        self.ended
            .clone()
            .with_context(|| format!("the EIS connection did not end within {timeout:?}"))
    }

    /// Whether the connection is still up after `wait`: no end seen and a
    /// round trip (`ei_connection.sync`) answered.
    pub async fn alive(&mut self, wait: Duration) -> bool {
        if self.ended.is_some() {
            return false;
        }
        let _callback = self.connection.connection().sync(1);
        if self.flush().is_err() {
            return false;
        }
        let deadline = Instant::now() + wait;
        // Any event (the callback's done included) proves the server
        // answered; none within `wait` is taken as alive too, unless it
        // ended.
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.next()).await {
                Ok(event) => {
                    if !self.on_event(event) {
                        return false;
                    }
                }
                Err(_) => break,
            }
        }
        self.ended.is_none()
    }
}
