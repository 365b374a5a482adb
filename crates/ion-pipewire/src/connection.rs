//! The connection to the user's PipeWire daemon.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use pipewire as pw;

use crate::format::VideoParams;
use crate::stream::{StreamEvent, StreamKey, VideoStream};

#[derive(Debug, thiserror::Error)]
pub enum PipeWireError {
    #[error("cannot connect to PipeWire (is it running in this session?): {0}")]
    Connect(String),
    #[error("PipeWire stream: {0}")]
    Stream(String),
}

pub struct PipeWire {
    // Field order is drop order: streams' owner (the caller) drops them
    // first; the core before the context before the loop.
    // The registry's listener goes before the registry.
    _registry_listener: pw::registry::Listener,
    _registry: pw::registry::Registry,
    core: pw::core::Core,
    _core_listener: pw::core::Listener,
    _context: pw::context::Context,
    main_loop: pw::main_loop::MainLoop,
    events: Rc<RefCell<VecDeque<StreamEvent>>>,
}

impl PipeWire {
    /// Connects to the PipeWire daemon named by the environment
    /// (PIPEWIRE_REMOTE, XDG_RUNTIME_DIR).
    pub fn connect() -> Result<Self, PipeWireError> {
        pw::init();
        let err = |e: pw::Error| PipeWireError::Connect(e.to_string());
        let main_loop = pw::main_loop::MainLoop::new(None).map_err(err)?;
        // Enter the loop for good on this thread: callbacks that PipeWire's
        // data thread hands to the main loop (a stream's `process`) are then
        // queued for our iteration. A loop that is not entered runs them at
        // once on the data thread, racing with everything here.
        // SAFETY: paired with the `leave` in Drop, on the same thread (the
        // type is !Send).
        unsafe { main_loop.loop_().enter() };
        let context = pw::context::Context::new(&main_loop).map_err(err)?;
        let core = context.connect(None).map_err(err)?;
        let events: Rc<RefCell<VecDeque<StreamEvent>>> = Rc::default();
        let on_error = events.clone();
        let core_listener = core
            .add_listener_local()
            .error(move |id, _seq, res, message| {
                // id 0 is the core itself: the daemon is gone or refused us.
                if id == pw::core::PW_ID_CORE {
                    on_error.borrow_mut().push_back(StreamEvent::Disconnected {
                        reason: format!("{message} ({res})"),
                    });
                } else {
                    tracing::debug!(id, res, "PipeWire object error: {message}");
                }
            })
            .register();
        // Links appearing in the graph: a consumer that links to a stream
        // already streaming to another changes nothing in the stream's own
        // state, and on a static screen it would get no picture.
        let registry = core.get_registry().map_err(err)?;
        let on_link = events.clone();
        let registry_listener = registry
            .add_listener_local()
            .global(move |g| {
                if g.type_ != pw::types::ObjectType::Link {
                    return;
                }
                let output_node = g
                    .props
                    .and_then(|p| p.get("link.output.node"))
                    .and_then(|v| v.parse().ok());
                if let Some(output_node) = output_node {
                    on_link
                        .borrow_mut()
                        .push_back(StreamEvent::Linked { output_node });
                }
            })
            .register();
        Ok(Self {
            _registry_listener: registry_listener,
            _registry: registry,
            core,
            _core_listener: core_listener,
            _context: context,
            main_loop,
            events,
        })
    }

    /// A descriptor to poll for readability; then call [`Self::iterate`].
    /// (It also wakes up for calls the data thread queued.)
    pub fn poll_fd(&self) -> Result<OwnedFd, PipeWireError> {
        rustix::io::dup(self.main_loop.loop_().fd().as_fd())
            .map_err(|e| PipeWireError::Connect(format!("cannot dup the loop fd: {e}")))
    }

    /// Runs PipeWire's ready callbacks without blocking.
    pub fn iterate(&self) {
        // SAFETY: the loop was entered in `connect` and is left on drop.
        unsafe { self.main_loop.loop_().iterate_unguarded(Duration::ZERO) };
    }

    /// What happened during the last iterations.
    pub fn drain_events(&self) -> Vec<StreamEvent> {
        self.events.borrow_mut().drain(..).collect()
    }

    /// Creates a `Video/Source` node offering `params`. Its node id arrives
    /// as [`StreamEvent::NodeId`].
    pub fn create_stream(
        &self,
        key: StreamKey,
        name: &str,
        params: VideoParams,
        allocator: Option<std::rc::Rc<dyn crate::stream::DmabufAllocator>>,
    ) -> Result<VideoStream, PipeWireError> {
        VideoStream::new(
            &self.core,
            key,
            name,
            params,
            self.events.clone(),
            allocator,
        )
    }
}

impl Drop for PipeWire {
    fn drop(&mut self) {
        // SAFETY: paired with the `enter` in `connect`; the fields (core,
        // context, loop) are destroyed after this.
        unsafe { self.main_loop.loop_().leave() };
    }
}
