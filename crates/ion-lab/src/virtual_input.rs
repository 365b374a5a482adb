//! A virtual pointer and keyboard for tests that act on the testbed as a
//! person would: move the pointer to a spot on the screen and click, tap a
//! key. A plain in-process Wayland client of the testbed's compositor
//! (`zwlr_virtual_pointer_v1`, `zwp_virtual_keyboard_v1`), independent of
//! ionChannel, so that what it clicks is what a user would have clicked.
//!
//! Positions are in the global logical layout (a full-layout screenshot's
//! pixels when every output has scale 1); absolute motion is sent over the
//! layout's bounding box, which wlroots maps back onto the layout.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use wayland_client::globals::{registry_queue_init, GlobalListContents};
use wayland_client::protocol::{wl_keyboard, wl_pointer, wl_registry, wl_seat::WlSeat};
use wayland_client::{delegate_noop, Connection, Dispatch, EventQueue, QueueHandle};
use wayland_protocols_misc::zwp_virtual_keyboard_v1::client::{
    zwp_virtual_keyboard_manager_v1::ZwpVirtualKeyboardManagerV1,
    zwp_virtual_keyboard_v1::ZwpVirtualKeyboardV1,
};
use wayland_protocols_wlr::virtual_pointer::v1::client::{
    zwlr_virtual_pointer_manager_v1::ZwlrVirtualPointerManagerV1,
    zwlr_virtual_pointer_v1::ZwlrVirtualPointerV1,
};
use xkbcommon::xkb;

/// The left mouse button (`BTN_LEFT`).
pub const BTN_LEFT: u32 = 0x110;
/// Evdev key codes the tests tap.
pub const KEY_ESC: u32 = 1;
pub const KEY_TAB: u32 = 15;
pub const KEY_ENTER: u32 = 28;
pub const KEY_SPACE: u32 = 57;

/// The layout's bounding box: where absolute positions are measured from
/// and over what extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutExtent {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

struct State;

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for State {
    fn event(
        _: &mut Self,
        _: &wl_registry::WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

delegate_noop!(State: ignore WlSeat);
delegate_noop!(State: ZwlrVirtualPointerManagerV1);
delegate_noop!(State: ZwlrVirtualPointerV1);
delegate_noop!(State: ZwpVirtualKeyboardManagerV1);
delegate_noop!(State: ZwpVirtualKeyboardV1);

/// A connected virtual pointer and keyboard on the compositor's seat.
pub struct VirtualInput {
    conn: Connection,
    queue: EventQueue<State>,
    pointer: ZwlrVirtualPointerV1,
    keyboard: ZwpVirtualKeyboardV1,
    layout: LayoutExtent,
    start: Instant,
}

impl VirtualInput {
    /// Connects to the compositor listening on `socket` (the runtime dir's
    /// `wayland-N`) and creates the devices on its first seat; the keyboard
    /// gets a US keymap.
    pub fn connect(socket: &Path, layout: LayoutExtent) -> Result<VirtualInput> {
        let stream = UnixStream::connect(socket)
            .with_context(|| format!("connecting to the compositor at {}", socket.display()))?;
        let conn = Connection::from_socket(stream).context("starting the Wayland connection")?;
        let (globals, mut queue) =
            registry_queue_init::<State>(&conn).context("listing the compositor's globals")?;
        let qh = queue.handle();
        let seat: WlSeat = globals.bind(&qh, 1..=1, ()).context("binding wl_seat")?;
        let pointers: ZwlrVirtualPointerManagerV1 = globals
            .bind(&qh, 1..=2, ())
            .context("the compositor offers no zwlr_virtual_pointer_manager_v1")?;
        let keyboards: ZwpVirtualKeyboardManagerV1 = globals
            .bind(&qh, 1..=1, ())
            .context("the compositor offers no zwp_virtual_keyboard_manager_v1")?;
        let pointer = pointers.create_virtual_pointer(Some(&seat), &qh, ());
        let keyboard = keyboards.create_virtual_keyboard(&seat, &qh, ());
        upload_us_keymap(&keyboard)?;
        queue
            .roundtrip(&mut State)
            .context("creating the virtual devices")?;
        Ok(VirtualInput {
            conn,
            queue,
            pointer,
            keyboard,
            layout,
            start: Instant::now(),
        })
    }

    fn time(&self) -> u32 {
        // Wraps after 49 days, as the protocol's millisecond clock does.
        self.start.elapsed().as_millis() as u32
    }

    /// Sends what was queued and waits until the compositor has handled it.
    fn sync(&mut self) -> Result<()> {
        self.conn.flush().context("sending to the compositor")?;
        self.queue
            .roundtrip(&mut State)
            .context("waiting for the compositor")?;
        Ok(())
    }

    /// Moves the pointer to `(x, y)` in the global layout.
    pub fn move_to(&mut self, x: i32, y: i32) -> Result<()> {
        let l = self.layout;
        let (Ok(dx), Ok(dy)) = (u32::try_from(x - l.x), u32::try_from(y - l.y)) else {
            bail!("({x}, {y}) is outside the layout {l:?}");
        };
        if dx >= l.width || dy >= l.height {
            bail!("({x}, {y}) is outside the layout {l:?}");
        }
        let time = self.time();
        self.pointer
            .motion_absolute(time, dx, dy, l.width, l.height);
        self.pointer.frame();
        self.sync()
    }

    /// Presses and releases the left button where the pointer is, each in
    /// its own frame.
    pub fn click(&mut self) -> Result<()> {
        for state in [
            wl_pointer::ButtonState::Pressed,
            wl_pointer::ButtonState::Released,
        ] {
            let time = self.time();
            self.pointer.button(time, BTN_LEFT, state);
            self.pointer.frame();
            self.sync()?;
        }
        Ok(())
    }

    /// Moves to `(x, y)` and clicks there.
    pub fn click_at(&mut self, x: i32, y: i32) -> Result<()> {
        self.move_to(x, y)?;
        self.click()
    }

    /// Presses and releases the evdev key `key` (e.g. [`KEY_ESC`]).
    pub fn tap(&mut self, key: u32) -> Result<()> {
        for state in [
            wl_keyboard::KeyState::Pressed,
            wl_keyboard::KeyState::Released,
        ] {
            let time = self.time();
            self.keyboard.key(time, key, state.into());
            self.sync()?;
        }
        Ok(())
    }
}

impl Drop for VirtualInput {
    fn drop(&mut self) {
        self.pointer.destroy();
        self.keyboard.destroy();
        // The compositor may be gone already; nothing to do then.
        let _ = self.conn.flush();
    }
}

/// The compositor takes no key before a keymap.
fn upload_us_keymap(keyboard: &ZwpVirtualKeyboardV1) -> Result<()> {
    let context = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
    let keymap = xkb::Keymap::new_from_names(
        &context,
        "",
        "",
        "us",
        "",
        None,
        xkb::KEYMAP_COMPILE_NO_FLAGS,
    )
    .context("xkbcommon cannot compile the us keymap (xkb-data missing?)")?;
    let text = keymap.get_as_string(xkb::KEYMAP_FORMAT_TEXT_V1);
    let fd = rustix::fs::memfd_create("ion-lab-keymap", rustix::fs::MemfdFlags::CLOEXEC)
        .context("memfd_create")?;
    let mut file = std::fs::File::from(fd);
    file.write_all(text.as_bytes())?;
    // The protocol's size counts the terminating NUL.
    file.write_all(&[0])?;
    let size = u32::try_from(text.len() + 1).context("keymap size")?;
    keyboard.keymap(wl_keyboard::KeymapFormat::XkbV1.into(), file.as_fd(), size);
    Ok(())
}
