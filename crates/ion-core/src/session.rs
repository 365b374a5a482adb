//! The lifecycle of a portal session.
//!
//! Created → (devices / sources selected, each at most once) → Starting →
//! Started → Closed. Closed is final; every other state can go to Closed.
//! The frontend enforces most of this too, but a backend must not trust its
//! caller: every transition is checked here.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Created,
    /// Start is being decided (consent); input is not yet accepted.
    Starting,
    Started,
    Closed,
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "not started",
            Self::Starting => "starting",
            Self::Started => "started",
            Self::Closed => "closed",
        })
    }
}

/// A call that the session's state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} is not allowed: {reason}")]
pub struct StateError {
    pub call: &'static str,
    pub reason: String,
}

/// The selection steps and state of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    state: SessionState,
    devices_selected: bool,
    sources_selected: bool,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    pub fn new() -> Self {
        Self {
            state: SessionState::Created,
            devices_selected: false,
            sources_selected: false,
        }
    }

    pub fn state(&self) -> SessionState {
        self.state
    }

    pub fn devices_selected(&self) -> bool {
        self.devices_selected
    }

    pub fn sources_selected(&self) -> bool {
        self.sources_selected
    }

    fn refuse(call: &'static str, reason: impl Into<String>) -> StateError {
        StateError {
            call,
            reason: reason.into(),
        }
    }

    fn before_start(&self, call: &'static str) -> Result<(), StateError> {
        match self.state {
            SessionState::Created => Ok(()),
            other => Err(Self::refuse(call, format!("the session is {other}"))),
        }
    }

    pub fn select_devices(&mut self) -> Result<(), StateError> {
        self.before_start("SelectDevices")?;
        if self.devices_selected {
            return Err(Self::refuse(
                "SelectDevices",
                "devices were already selected",
            ));
        }
        self.devices_selected = true;
        Ok(())
    }

    pub fn select_sources(&mut self) -> Result<(), StateError> {
        self.before_start("SelectSources")?;
        if self.sources_selected {
            return Err(Self::refuse(
                "SelectSources",
                "sources were already selected",
            ));
        }
        self.sources_selected = true;
        Ok(())
    }

    pub fn begin_start(&mut self) -> Result<(), StateError> {
        self.before_start("Start")?;
        self.state = SessionState::Starting;
        Ok(())
    }

    /// Start was decided: `granted` says whether the session runs.
    pub fn finish_start(&mut self, granted: bool) -> Result<(), StateError> {
        if self.state != SessionState::Starting {
            return Err(Self::refuse(
                "Start",
                format!("the session is {}", self.state),
            ));
        }
        self.state = if granted {
            SessionState::Started
        } else {
            // A refused Start ends the session: the frontend closes it too.
            SessionState::Closed
        };
        Ok(())
    }

    /// Start was abandoned (the request was closed): back to Created so a
    /// later Start may try again.
    pub fn abandon_start(&mut self) {
        if self.state == SessionState::Starting {
            self.state = SessionState::Created;
        }
    }

    /// Returns whether this call closed the session (false if it was closed).
    pub fn close(&mut self) -> bool {
        let was_open = self.state != SessionState::Closed;
        self.state = SessionState::Closed;
        was_open
    }

    pub fn is_started(&self) -> bool {
        self.state == SessionState::Started
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustdesk_order() {
        let mut l = Lifecycle::new();
        l.select_devices().unwrap();
        l.select_sources().unwrap();
        l.begin_start().unwrap();
        l.finish_start(true).unwrap();
        assert!(l.is_started());
        assert!(l.select_devices().is_err());
        assert!(l.begin_start().is_err());
        assert!(l.close());
        assert!(!l.close());
        assert_eq!(l.state(), SessionState::Closed);
    }

    #[test]
    fn selecting_twice_and_after_close_is_refused() {
        let mut l = Lifecycle::new();
        l.select_devices().unwrap();
        assert!(l.select_devices().is_err());
        l.close();
        assert!(l.select_sources().is_err());
        assert!(l.begin_start().is_err());
    }

    #[test]
    fn refused_start_closes_abandoned_start_reopens() {
        let mut l = Lifecycle::new();
        l.begin_start().unwrap();
        l.abandon_start();
        assert_eq!(l.state(), SessionState::Created);
        l.begin_start().unwrap();
        l.finish_start(false).unwrap();
        assert_eq!(l.state(), SessionState::Closed);
    }
}
