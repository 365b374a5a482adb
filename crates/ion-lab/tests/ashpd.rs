//! ashpd, the portal client most Rust apps use (a third-party client, as
//! a dev-dependency), through the real frontend: ScreenCast of a monitor
//! with persist_mode 2, the stream's frames, and the restore token's round
//! trip (the next session is not asked, and gets the same output).

mod common;

use anyhow::{Context, Result};
use ashpd::desktop::screencast::{
    CursorMode, Screencast, SelectSourcesOptions, SourceType, StartCastOptions,
};
use ashpd::desktop::PersistMode;
use common::chooser::world_with_chooser;
use common::*;

/// One ScreenCast session as an ashpd app makes it: Start's streams and
/// the restore token, and the session (to close).
async fn cast(
    sc: &Screencast,
    token: Option<&str>,
) -> Result<(
    Vec<ashpd::desktop::screencast::Stream>,
    Option<String>,
    ashpd::desktop::Session<Screencast>,
)> {
    let session = sc.create_session(Default::default()).await?;
    let options = SelectSourcesOptions::default()
        .set_sources(ashpd::enumflags2::BitFlags::from(SourceType::Monitor))
        .set_cursor_mode(CursorMode::Hidden)
        .set_persist_mode(PersistMode::ExplicitlyRevoked)
        .set_restore_token(token);
    sc.select_sources(&session, options).await?.response()?;
    let streams = sc
        .start(&session, None, StartCastOptions::default())
        .await?
        .response()?;
    Ok((
        streams.streams().to_vec(),
        streams.restore_token().map(str::to_owned),
        session,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ashpd_screencast_with_a_restore_token() -> Result<()> {
    let (w, chooser) = world_with_chooser().await?;
    chooser.answer(r#"{"allow":true,"outputs":["HEADLESS-2"],"remember":true}"#)?;
    let connection = zbus::connection::Builder::address(w.testbed.bus_address())?
        .build()
        .await?;
    let sc = Screencast::with_connection(connection).await?;
    println!("ashpd sees ScreenCast version {}", sc.version());
    assert!(sc.version() >= 4, "persistence needs ScreenCast 4");
    assert!(sc
        .available_source_types()
        .await?
        .contains(SourceType::Monitor));

    let (streams, token, session) = cast(&sc, None).await?;
    assert_eq!(streams.len(), 1, "{streams:?}");
    let stream = &streams[0];
    assert_eq!(
        stream.position(),
        Some((1920, 0)),
        "the output the user picked"
    );
    assert_eq!(stream.size(), Some((1280, 720)));
    assert_eq!(stream.source_type(), Some(SourceType::Monitor));
    let token = token.context("a restore token for persist_mode 2")?;
    assert_eq!(chooser.asked().len(), 1);
    // The node ashpd was given carries the picture.
    let consumer = w
        .testbed
        .start_consumer(stream.pipe_wire_node_id(), false, &[])?;
    consumer.wait_for("a frame", WAIT, |f| f.iter().position(|r| r.valid))?;
    session.close().await?;

    // The next start with the token: not asked, the same output.
    let (streams, token2, session) = cast(&sc, Some(&token)).await?;
    assert_eq!(chooser.asked().len(), 1, "a restore must not ask");
    assert_eq!(streams.first().and_then(|s| s.position()), Some((1920, 0)));
    assert!(
        token2.is_some(),
        "a restored session hands out a token again"
    );
    session.close().await?;
    w.done()
}
