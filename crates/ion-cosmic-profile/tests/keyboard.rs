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
