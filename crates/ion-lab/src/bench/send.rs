//! The input the benchmarks send, as awaited portal calls or as prebuilt
//! messages to the frontend that expect no reply.

use std::collections::HashMap;

use anyhow::{Context, Result};
use zbus::message::Flags;
use zbus::zvariant::{ObjectPath, Value};
use zbus::Message;

use crate::client::{EisClient, RemoteDesktop, KEY_A};

const PORTAL_NAME: &str = "org.freedesktop.portal.Desktop";
const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";
const REMOTE_DESKTOP: &str = "org.freedesktop.portal.RemoteDesktop";

/// One input event of a benchmark.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    /// Relative horizontal motion by this many pixels.
    Motion(f64),
    /// `KEY_A` pressed (true) or released.
    Key(bool),
}

/// The `i`-th event of a mixed run: motion +1, press, motion −1, release.
/// The pointer stays where it is and no key stays down after a multiple of
/// four events.
pub fn mixed(i: usize) -> Input {
    match i % 4 {
        0 => Input::Motion(1.0),
        1 => Input::Key(true),
        2 => Input::Motion(-1.0),
        _ => Input::Key(false),
    }
}

/// The `i`-th pointer event of a latency run: +1 and −1 px in turn.
pub fn motion(i: usize) -> Input {
    Input::Motion(if i.is_multiple_of(2) { 1.0 } else { -1.0 })
}

/// The `i`-th key event of a latency run: press and release in turn.
pub fn key(i: usize) -> Input {
    Input::Key(i.is_multiple_of(2))
}

/// Sends `input` through the frontend and waits for its reply.
pub async fn call(rd: &RemoteDesktop<'_>, input: Input) -> Result<()> {
    match input {
        Input::Motion(dx) => rd.pointer_motion(dx, 0.0).await,
        Input::Key(pressed) => rd.keycode(KEY_A, pressed).await,
    }
}

/// Sends `input` on the EIS connection: the event and its frame, flushed
/// (EIS has no replies to wait for).
pub fn eis(client: &mut EisClient, input: Input) -> Result<()> {
    match input {
        Input::Motion(dx) => client.motion(dx as f32, 0.0),
        Input::Key(pressed) => client.key(KEY_A.unsigned_abs(), pressed),
    }
}

/// `input` as a method call to the frontend flagged `NoReplyExpected`, for
/// sending back to back with `Connection::send`.
pub fn message(session: &ObjectPath<'_>, input: Input) -> Result<Message> {
    let options: HashMap<&str, Value<'_>> = HashMap::new();
    let call = |method: &'static str| {
        Message::method_call(PORTAL_PATH, method)
            .and_then(|b| b.destination(PORTAL_NAME))
            .and_then(|b| b.interface(REMOTE_DESKTOP))
            .and_then(|b| b.with_flags(Flags::NoReplyExpected))
    };
    let msg = match input {
        Input::Motion(dx) => {
            call("NotifyPointerMotion").and_then(|b| b.build(&(session, &options, dx, 0.0_f64)))
        }
        Input::Key(pressed) => call("NotifyKeyboardKeycode")
            .and_then(|b| b.build(&(session, &options, KEY_A, u32::from(pressed)))),
    };
    msg.with_context(|| format!("building the message for {input:?}"))
}

/// A `NotifyKeyboardKeycode` sent the way libportal sends it: no reply
/// expected.
pub fn keycode_message(session: &ObjectPath<'_>, keycode: i32, pressed: bool) -> Result<Message> {
    let options: HashMap<&str, Value<'_>> = HashMap::new();
    Message::method_call(PORTAL_PATH, "NotifyKeyboardKeycode")
        .and_then(|b| b.destination(PORTAL_NAME))
        .and_then(|b| b.interface(REMOTE_DESKTOP))
        .and_then(|b| b.with_flags(Flags::NoReplyExpected))
        .and_then(|b| b.build(&(session, &options, keycode, u32::from(pressed))))
        .with_context(|| format!("building NotifyKeyboardKeycode {keycode} {pressed}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mixed_runs_leave_nothing_held_and_the_pointer_in_place() {
        let events: Vec<Input> = (0..400).map(mixed).collect();
        let moved: f64 = events
            .iter()
            .filter_map(|e| match e {
                Input::Motion(dx) => Some(*dx),
                Input::Key(_) => None,
            })
            .sum();
        assert_eq!(moved, 0.0);
        assert_eq!(events.last(), Some(&Input::Key(false)));
    }

    #[test]
    fn messages_carry_the_session_and_no_reply_flag() {
        let session =
            ObjectPath::try_from("/org/freedesktop/portal/desktop/session/1_2/x").unwrap();
        let msg = message(&session, Input::Key(true)).unwrap();
        let header = msg.header();
        assert_eq!(header.member().unwrap().as_str(), "NotifyKeyboardKeycode");
        assert!(header.primary().flags().contains(Flags::NoReplyExpected));
        let body = msg.body();
        let (path, _, code, state): (ObjectPath<'_>, HashMap<String, Value<'_>>, i32, u32) =
            body.deserialize().unwrap();
        assert_eq!((path.as_str(), code, state), (session.as_str(), KEY_A, 1));
    }
}
