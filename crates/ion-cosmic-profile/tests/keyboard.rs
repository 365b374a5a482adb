//! The virtual keyboard (smithay's, as in cosmic-comp) and keyboard focus.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::fd::AsFd;

use common::client::KeyboardEvent;
use common::*;
use wayland_client::protocol::{wl_keyboard::WlKeyboard, wl_seat::WlSeat};
use wayland_client::{Connection, EventQueue, Proxy};
use wayland_protocols_misc::zwp_virtual_keyboard_v1::client::zwp_virtual_keyboard_manager_v1::ZwpVirtualKeyboardManagerV1;

const KEY_A: u32 = 30;

fn keyboard(queue: &EventQueue<App>, app: &App) -> WlKeyboard {
    let seat: WlSeat = app.bind(&queue.handle(), "wl_seat", 9, ());
    seat.get_keyboard(&queue.handle(), ())
}

fn entered(app: &App) -> Option<wayland_client::backend::ObjectId> {
    app.keyboard.iter().rev().find_map(|e| match e {
        KeyboardEvent::Enter(id) => Some(id.clone()),
        KeyboardEvent::Leave => None,
        _ => None,
    })
}

fn focused(app: &App) -> Option<wayland_client::backend::ObjectId> {
    // The last Enter counts unless a Leave came after it.
    match app
        .keyboard
        .iter()
        .rev()
        .find(|e| matches!(e, KeyboardEvent::Enter(_) | KeyboardEvent::Leave))
    {
        Some(KeyboardEvent::Enter(id)) => Some(id.clone()),
        _ => None,
    }
}

/// The keymap the way ionChannel sends it (ion-wayland's keymap_file.rs):
/// the text then a NUL in a memfd, `size` = the text's length without it.
fn send_keymap(conn: &Connection, queue: &EventQueue<App>, app: &App, text: &str) -> impl Proxy {
    let qh = queue.handle();
    let seat: WlSeat = app.bind(&qh, "wl_seat", 9, ());
    let manager: ZwpVirtualKeyboardManagerV1 =
        app.bind(&qh, "zwp_virtual_keyboard_manager_v1", 1, ());
    let vk = manager.create_virtual_keyboard(&seat, &qh, ());
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    let fd = memfd("keymap", &bytes);
    vk.keymap(1, fd.as_fd(), text.len() as u32);
    vk.key(0, KEY_A, 1);
    vk.key(10, KEY_A, 0);
    conn.flush().unwrap();
    vk
}

#[test]
fn virtual_keys_reach_the_focused_window_and_focus_follows_windows() {
    let compositor = Compositor::start(&["--outputs", "1"]);
    let (_conn, mut q, mut app) = compositor.connect();
    let _kbd = keyboard(&q, &app);
    let first = TestWindow::map(&mut q, &mut app, "org.test.First", (100, 100));
    dispatch_until(&mut q, &mut app, "focus on the first window", |a| {
        focused(a) == Some(first.surface.id())
    });
    let keymap = app
        .keyboard
        .iter()
        .find_map(|e| match e {
            KeyboardEvent::Keymap(k) => Some(k.clone()),
            _ => None,
        })
        .unwrap();
    assert!(keymap.contains("xkb_keymap"), "{keymap}");

    // A newer window takes focus; when it goes, the first gets it back.
    let second = TestWindow::map(&mut q, &mut app, "org.test.Second", (100, 100));
    dispatch_until(&mut q, &mut app, "focus on the second window", |a| {
        focused(a) == Some(second.surface.id())
    });
    second.close();
    dispatch_until(&mut q, &mut app, "focus back on the first window", |a| {
        focused(a) == Some(first.surface.id())
    });

    // Another client's virtual keyboard types into the focused window.
    let (vconn, vq, vapp) = compositor.connect();
    let _vk = send_keymap(&vconn, &vq, &vapp, &keymap);
    dispatch_until(&mut q, &mut app, "the key press and release", |a| {
        let keys: Vec<_> = a
            .keyboard
            .iter()
            .filter(|e| matches!(e, KeyboardEvent::Key { .. }))
            .collect();
        keys == [
            &KeyboardEvent::Key {
                key: KEY_A,
                pressed: true,
            },
            &KeyboardEvent::Key {
                key: KEY_A,
                pressed: false,
            },
        ]
    });
    assert_eq!(entered(&app), Some(first.surface.id()));
}

#[test]
fn a_key_before_any_keymap_ends_that_client_only() {
    let compositor = Compositor::start(&["--outputs", "1"]);
    let (_conn, mut q, mut app) = compositor.connect();
    let _kbd = keyboard(&q, &app);
    let window = TestWindow::map(&mut q, &mut app, "org.test.Focus", (100, 100));
    dispatch_until(&mut q, &mut app, "focus", |a| {
        focused(a) == Some(window.surface.id())
    });

    // A key without a keymap: smithay (and so cosmic-comp) ends the
    // client with a protocol error.
    let (bconn, mut bq, mut bapp) = compositor.connect();
    let qh = bq.handle();
    let seat: WlSeat = bapp.bind(&qh, "wl_seat", 9, ());
    let manager: ZwpVirtualKeyboardManagerV1 =
        bapp.bind(&qh, "zwp_virtual_keyboard_manager_v1", 1, ());
    let vk = manager.create_virtual_keyboard(&seat, &qh, ());
    vk.key(0, KEY_A, 1);
    bconn.flush().unwrap();
    // Read (without writing anything more) until the connection ends.
    let err = loop {
        if let Err(e) = bq.blocking_dispatch(&mut bapp) {
            break e;
        }
    };
    let error = bconn
        .protocol_error()
        .unwrap_or_else(|| panic!("a protocol error, not {err}"));
    assert_eq!(
        error.object_interface, "zwp_virtual_keyboard_v1",
        "the error is on the virtual keyboard: {error:?}"
    );

    // The compositor goes on: the focused window got nothing, a new
    // client is served.
    let (_cconn, mut cq, mut capp) = compositor.connect();
    cq.roundtrip(&mut capp).unwrap();
    dispatch_for(&mut q, &mut app, std::time::Duration::from_millis(100));
    assert!(
        !app.keyboard
            .iter()
            .any(|e| matches!(e, KeyboardEvent::Key { .. })),
        "{:?}",
        app.keyboard
    );
    let mut compositor = compositor;
    assert!(compositor.is_running());
    // The compositor logs it.
    let start = std::time::Instant::now();
    while !compositor.log().contains("protocol error") && start.elapsed() < WAIT {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        compositor.log().contains("protocol error"),
        "{}",
        compositor.log()
    );
}

#[test]
fn an_exclusive_overlay_layer_surface_keeps_focus_while_it_is_mapped() {
    use wayland_client::protocol::{wl_compositor::WlCompositor, wl_shm, wl_shm::WlShm};
    use wayland_protocols_wlr::layer_shell::v1::client::{
        zwlr_layer_shell_v1::{Layer, ZwlrLayerShellV1},
        zwlr_layer_surface_v1::{Anchor, KeyboardInteractivity},
    };

    let compositor = Compositor::start(&["--outputs", "1"]);
    let (_conn, mut q, mut app) = compositor.connect();
    let qh = q.handle();
    let _kbd = keyboard(&q, &app);

    // What the probe does: an OVERLAY layer surface over the whole output
    // with EXCLUSIVE keyboard interactivity.
    let wl_compositor: WlCompositor = app.bind(&qh, "wl_compositor", 4, ());
    let shm: WlShm = app.bind(&qh, "wl_shm", 1, ());
    let shell: ZwlrLayerShellV1 = app.bind(&qh, "zwlr_layer_shell_v1", 4, ());
    let surface = wl_compositor.create_surface(&qh, ());
    let layer = shell.get_layer_surface(&surface, None, Layer::Overlay, "test".into(), &qh, ());
    layer.set_size(0, 0);
    layer.set_anchor(Anchor::Top | Anchor::Bottom | Anchor::Left | Anchor::Right);
    layer.set_exclusive_zone(-1);
    layer.set_keyboard_interactivity(KeyboardInteractivity::Exclusive);
    surface.commit();
    dispatch_until(&mut q, &mut app, "the layer configure", |a| {
        a.layer_configured.is_some()
    });
    assert_eq!(app.layer_configured, Some((1920, 1080)), "the whole output");
    let fd = memfd("layer", &vec![0x40; 1920 * 1080 * 4]);
    let pool = shm.create_pool(fd.as_fd(), 1920 * 1080 * 4, &qh, ());
    let buffer = pool.create_buffer(0, 1920, 1080, 1920 * 4, wl_shm::Format::Xrgb8888, &qh, ());
    surface.attach(Some(&buffer), 0, 0);
    surface.commit();
    dispatch_until(&mut q, &mut app, "focus on the layer surface", |a| {
        focused(a) == Some(surface.id())
    });

    // A window maps under it: the layer surface keeps the keyboard.
    let window = TestWindow::map(&mut q, &mut app, "org.test.Under", (100, 100));
    dispatch_for(&mut q, &mut app, std::time::Duration::from_millis(200));
    assert_eq!(focused(&app), Some(surface.id()), "{:?}", app.keyboard);

    // The layer surface goes: the window gets the keyboard.
    layer.destroy();
    surface.destroy();
    dispatch_until(&mut q, &mut app, "focus on the window", |a| {
        focused(a) == Some(window.surface.id())
    });
    assert!(!app.layer_closed);
}
