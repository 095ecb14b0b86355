//! The Primus heartbeat as it looks on the wire with the JSON parser (protocol.md §2.2).
//!
//! The server sends the JSON string `"primus::ping::<ms>"` as a text frame and the client
//! answers `"primus::pong::<ms>"` with the same `<ms>`. Both the load generator and the raw
//! echo server use these helpers so every server under test does the same heartbeat work.

use std::time::{SystemTime, UNIX_EPOCH};

const PING_PREFIX: &str = "\"primus::ping::";
const PONG_PREFIX: &str = "\"primus::pong::";

/// Returns the `<ms>` value when `text` is a JSON-encoded `primus::ping::<ms>` frame.
pub fn ping_value(text: &str) -> Option<&str> {
    text.strip_prefix(PING_PREFIX)?.strip_suffix('"')
}

/// True when `text` is a JSON-encoded `primus::pong::…` frame (the value is not checked,
/// like the reference server).
pub fn is_pong(text: &str) -> bool {
    text.starts_with(PONG_PREFIX) && text.ends_with('"')
}

/// The text frame answering a ping with value `ms`.
pub fn pong_frame(ms: &str) -> String {
    format!("{PONG_PREFIX}{ms}\"")
}

/// A ping text frame carrying the current time in milliseconds since the epoch.
pub fn ping_frame_now() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{PING_PREFIX}{ms}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(
            ping_value("\"primus::ping::1795303241019\""),
            Some("1795303241019")
        );
        assert_eq!(
            pong_frame("1795303241019"),
            "\"primus::pong::1795303241019\""
        );
        assert_eq!(pong_frame("1").len(), 17);
        assert!(is_pong("\"primus::pong::abc\""));
        assert!(ping_value("\"hello\"").is_none());
        let ping = ping_frame_now();
        assert_eq!(ping.len(), 29, "{ping}");
        assert!(ping_value(&ping).is_some());
    }
}
