//! A ScreenCast session through the frontend, as OBS or a browser runs
//! one: CreateSession → SelectSources → Start → OpenPipeWireRemote.

use anyhow::Result;
use zbus::zvariant::{ObjectPath, OwnedObjectPath};

use super::request::{PortalClient, Response};
use super::session::{self, ClosedWatch, Persist, StartResults, SCREEN_CAST};

pub struct ScreenCast<'a> {
    pub client: &'a PortalClient,
    pub session: OwnedObjectPath,
}

impl<'a> ScreenCast<'a> {
    pub async fn create(client: &'a PortalClient) -> Result<Self> {
        let session = session::create(client, SCREEN_CAST).await?;
        Ok(Self { client, session })
    }

    fn path(&self) -> ObjectPath<'_> {
        self.session.as_ref()
    }

    pub async fn select_sources(
        &self,
        types: u32,
        multiple: bool,
        cursor_mode: u32,
    ) -> Result<Response> {
        session::select_sources(self.client, self.path(), types, multiple, cursor_mode).await
    }

    /// SelectSources with persist_mode and the restore token from last time.
    pub async fn select_sources_persist(
        &self,
        types: u32,
        multiple: bool,
        cursor_mode: u32,
        persist: &Persist,
    ) -> Result<Response> {
        session::select_sources_persist(
            self.client,
            self.path(),
            types,
            multiple,
            cursor_mode,
            Some(persist),
        )
        .await
    }

    pub async fn start(&self) -> Result<(Response, Option<StartResults>)> {
        session::start(self.client, SCREEN_CAST, self.path()).await
    }

    pub async fn open_pipewire_remote(&self) -> Result<std::os::fd::OwnedFd> {
        session::open_pipewire_remote(self.client, self.path()).await
    }

    /// Watches for the session's `Closed` signal from the frontend.
    pub async fn watch_closed(&self) -> Result<ClosedWatch> {
        ClosedWatch::subscribe(self.client, self.path()).await
    }

    pub async fn close(&self) -> Result<()> {
        session::close(self.client, self.path()).await
    }
}
