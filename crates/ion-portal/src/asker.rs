//! Asks the user: runs the dialog helper or the configured chooser command
//! with a consent request (see `ion_core::consent`), in its own process so
//! a toolkit crash cannot take the daemon's sessions down.
//!
//! Whatever goes wrong is a denial: the program cannot start, exits
//! without an answer, answers garbage, or takes longer than the timeout.
//! Dropping the future (the frontend closed the request) kills the
//! program.

use std::process::Stdio;
use std::time::Duration;

use ion_core::consent::{ConsentAnswer, ConsentRequest};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Why there is no answer.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} gave no answer ({status})")]
    NoAnswer { program: String, status: String },
    #[error("{program} answered something that is not an answer: {reason}")]
    Garbage { program: String, reason: String },
    #[error("{program} did not answer within {0:?}", .timeout)]
    Timeout { program: String, timeout: Duration },
}

/// The program and how long the user has.
#[derive(Debug, Clone)]
pub struct Asker {
    pub command: Vec<String>,
    pub timeout: Duration,
    /// Extra environment (the compositor's WAYLAND_DISPLAY, when the daemon
    /// knows it).
    pub env: Vec<(String, String)>,
}

impl Asker {
    pub async fn ask(&self, request: &ConsentRequest) -> Result<ConsentAnswer, AskError> {
        let program = self.command.first().cloned().unwrap_or_default();
        let mut child = tokio::process::Command::new(&program)
            .args(self.command.iter().skip(1))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| AskError::Spawn {
                program: program.clone(),
                source,
            })?;
        let json = serde_json::to_vec(request).unwrap_or_default();
        if let Some(mut stdin) = child.stdin.take() {
            // A program that exits without reading is answered below.
            let _ = stdin.write_all(&json).await;
            let _ = stdin.shutdown().await;
        }
        let Some(stdout) = child.stdout.take() else {
            return Err(AskError::NoAnswer {
                program,
                status: "no stdout".into(),
            });
        };
        let read = async {
            let mut line = String::new();
            // One line; a program writing forever is stopped by the timeout.
            let n = BufReader::new(stdout).read_line(&mut line).await;
            (n, line)
        };
        let (n, line) = match tokio::time::timeout(self.timeout, read).await {
            Ok(r) => r,
            Err(_) => {
                let _ = child.start_kill();
                return Err(AskError::Timeout {
                    program,
                    timeout: self.timeout,
                });
            }
        };
        if matches!(n, Ok(0) | Err(_)) || line.trim().is_empty() {
            let status = match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
                Ok(Ok(s)) => s.to_string(),
                _ => "still running".into(),
            };
            let _ = child.start_kill();
            return Err(AskError::NoAnswer { program, status });
        }
        // The answer is in; the program may take its time to exit.
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        });
        serde_json::from_str(line.trim()).map_err(|e| AskError::Garbage {
            program,
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ion_core::consent::{SessionKind, PROTOCOL_VERSION};

    fn request() -> ConsentRequest {
        ConsentRequest {
            version: PROTOCOL_VERSION,
            app_id: "a.b".into(),
            kind: SessionKind::Screencast,
            devices: vec![],
            sources: None,
            persist: false,
            clipboard: false,
        }
    }

    fn sh(script: &str, timeout_ms: u64) -> Asker {
        Asker {
            command: vec!["sh".into(), "-c".into(), script.into()],
            timeout: Duration::from_millis(timeout_ms),
            env: vec![],
        }
    }

    #[tokio::test]
    async fn the_answer_comes_from_stdout_and_the_request_from_stdin() {
        // The script answers only if it read our request.
        let a = sh(
            r#"grep -q '"app_id":"a.b"' && echo '{"allow":true,"remember":true}'"#,
            5000,
        );
        let answer = a.ask(&request()).await.unwrap();
        assert!(answer.allow && answer.remember);
    }

    #[tokio::test]
    async fn the_clipboard_is_asked_and_answered() {
        // The chooser sees the clipboard asked for and leaves it out.
        let a = sh(
            r#"grep -q '"clipboard":true' && echo '{"allow":true,"clipboard":false}'"#,
            5000,
        );
        let mut r = request();
        r.kind = SessionKind::RemoteDesktop;
        r.devices = vec!["pointer".into()];
        r.clipboard = true;
        let answer = a.ask(&r).await.unwrap();
        assert_eq!(answer.clipboard, Some(false));
        let granted = answer.check(&r).unwrap();
        assert!(!granted.clipboard && !granted.devices.is_empty());
    }

    #[tokio::test]
    async fn every_failure_is_a_denial() {
        assert!(matches!(
            sh("exit 3", 5000).ask(&request()).await,
            Err(AskError::NoAnswer { .. })
        ));
        assert!(matches!(
            sh("echo yes", 5000).ask(&request()).await,
            Err(AskError::Garbage { .. })
        ));
        assert!(matches!(
            sh("sleep 5", 200).ask(&request()).await,
            Err(AskError::Timeout { .. })
        ));
        let missing = Asker {
            command: vec!["/nonexistent/chooser".into()],
            timeout: Duration::from_secs(1),
            env: vec![],
        };
        assert!(matches!(
            missing.ask(&request()).await,
            Err(AskError::Spawn { .. })
        ));
    }
}
