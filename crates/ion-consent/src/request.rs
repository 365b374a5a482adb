//! Reading the daemon's [`ConsentRequest`] from stdin.
//!
//! The daemon writes the whole request and closes stdin, so the dialog
//! reads to the end before it shows anything: a request it cannot read is
//! refused before a window appears (exit code 2, see `main.rs`).

use std::io::Read;

use ion_core::consent::{ConsentRequest, PROTOCOL_VERSION};

/// Why the request on stdin cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("cannot read the request from stdin: {0}")]
    Io(#[from] std::io::Error),
    #[error("the request on stdin is not valid JSON for a consent request: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the request speaks protocol version {found}, this dialog speaks {PROTOCOL_VERSION}")]
    Version { found: u32 },
}

/// Reads one request from `input` (to its end) and checks its version.
pub fn read_request(mut input: impl Read) -> Result<ConsentRequest, RequestError> {
    let mut text = String::new();
    input.read_to_string(&mut text)?;
    parse_request(&text)
}

/// Parses one request and checks its version.
pub fn parse_request(text: &str) -> Result<ConsentRequest, RequestError> {
    let request: ConsentRequest = serde_json::from_str(text)?;
    if request.version != PROTOCOL_VERSION {
        return Err(RequestError::Version {
            found: request.version,
        });
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"{"version":1,"app_id":"org.example.App","kind":"screencast",
        "devices":[],"sources":null,"persist":false}"#;

    #[test]
    fn a_valid_request_is_read() {
        let request = read_request(VALID.as_bytes()).unwrap();
        assert_eq!(request.app_id, "org.example.App");
        // Written before the clipboard: no clipboard asked.
        assert!(!request.clipboard);
    }

    #[test]
    fn not_json_is_refused() {
        assert!(matches!(
            read_request("allow everything".as_bytes()),
            Err(RequestError::Json(_))
        ));
        assert!(matches!(
            read_request("".as_bytes()),
            Err(RequestError::Json(_))
        ));
    }

    #[test]
    fn another_version_is_refused() {
        let text = VALID.replace("\"version\":1", "\"version\":2");
        assert!(matches!(
            parse_request(&text),
            Err(RequestError::Version { found: 2 })
        ));
    }
}
