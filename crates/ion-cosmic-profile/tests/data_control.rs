//! ext and wlr data control (smithay's, as in cosmic-comp): a selection
//! set by one client is read by another, across the two protocols.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::os::fd::AsFd;

use common::*;
use wayland_client::protocol::wl_seat::WlSeat;
use wayland_client::EventQueue;
use wayland_protocols::ext::data_control::v1::client::ext_data_control_manager_v1::ExtDataControlManagerV1;
use wayland_protocols_wlr::data_control::v1::client::zwlr_data_control_manager_v1::ZwlrDataControlManagerV1;

const MIME: &str = "text/plain;charset=utf-8";

/// Waits for a selection offering MIME; its index among the offers.
fn wait_selection(q: &mut EventQueue<App>, app: &mut App, after: u32) {
    dispatch_until(q, app, "a selection offering text", |a| {
        a.selection_events > after
            && a.selection
                .as_ref()
                .and_then(|id| a.offers.get(id))
                .is_some_and(|m| m.iter().any(|m| m == MIME))
    });
}

fn read_pipe(read: std::os::fd::OwnedFd) -> String {
    let mut text = String::new();
    std::fs::File::from(read).read_to_string(&mut text).unwrap();
    text
}

#[test]
fn a_selection_set_by_one_client_is_read_by_another() {
    let compositor = Compositor::start(&["--outputs", "1"]);
    let (_aconn, mut aq, mut a) = compositor.connect();
    let (_bconn, mut bq, mut b) = compositor.connect();
    let (aqh, bqh) = (aq.handle(), bq.handle());

    // A: ext data control; B: wlr data control.
    let a_seat: WlSeat = a.bind(&aqh, "wl_seat", 9, ());
    let a_mgr: ExtDataControlManagerV1 = a.bind(&aqh, "ext_data_control_manager_v1", 1, ());
    let _a_dev = a_mgr.get_data_device(&a_seat, &aqh, ());
    let b_seat: WlSeat = b.bind(&bqh, "wl_seat", 9, ());
    let b_mgr: ZwlrDataControlManagerV1 = b.bind(&bqh, "zwlr_data_control_manager_v1", 2, ());
    let b_dev = b_mgr.get_data_device(&b_seat, &bqh, ());
    aq.roundtrip(&mut a).unwrap();
    bq.roundtrip(&mut b).unwrap();

    // A sets the selection through ext; B reads it through wlr.
    a.clipboard_text = Some("from ext data control".into());
    let a_src = a_mgr.create_data_source(&aqh, ());
    a_src.offer(MIME.into());
    _a_dev.set_selection(Some(&a_src));
    aq.roundtrip(&mut a).unwrap();
    let before = b.selection_events;
    wait_selection(&mut bq, &mut b, before);
    let offer = b
        .wlr_offers
        .iter()
        .find(|o| Some(wayland_client::Proxy::id(*o)) == b.selection)
        .cloned()
        .unwrap();
    let (read, write) = rustix::pipe::pipe().unwrap();
    offer.receive(MIME.into(), write.as_fd());
    drop(write);
    bq.roundtrip(&mut b).unwrap();
    aq.roundtrip(&mut a).unwrap(); // A answers `send`
    assert_eq!(read_pipe(read), "from ext data control");

    // B sets it through wlr; A reads it through ext.
    b.clipboard_text = Some("from wlr data control".into());
    let b_src = b_mgr.create_data_source(&bqh, ());
    b_src.offer(MIME.into());
    b_dev.set_selection(Some(&b_src));
    bq.roundtrip(&mut b).unwrap();
    let before = a.selection_events;
    wait_selection(&mut aq, &mut a, before);
    let offer = a
        .ext_offers
        .iter()
        .find(|o| Some(wayland_client::Proxy::id(*o)) == a.selection)
        .cloned()
        .unwrap();
    let (read, write) = rustix::pipe::pipe().unwrap();
    offer.receive(MIME.into(), write.as_fd());
    drop(write);
    aq.roundtrip(&mut a).unwrap();
    bq.roundtrip(&mut b).unwrap();
    assert_eq!(read_pipe(read), "from wlr data control");
}
