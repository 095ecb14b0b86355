//! The internal `primus::` protocol (reference: `spark.js` / `primus.js` `protocol()`).
//!
//! Protocol messages are plain strings that travel through the parser like user data:
//! with the JSON parser `primus::ping::1700000000000` is the JSON string
//! `"primus::ping::1700000000000"`. A receiver decodes a frame, and if the value is a
//! string starting with `primus::` of a type it knows, handles it instead of emitting it.
//! Unknown types are delivered as data, as the reference does.

/// Prefix shared by every protocol message.
pub const PREFIX: &str = "primus::";

/// The message the server sends when it ends a spark without asking for a reconnect.
pub const SERVER_CLOSE: &str = "primus::server::close";

/// The id request a client sends (`primus.id(cb)`).
pub const ID_REQUEST: &str = "primus::id::";

/// A recognised-shape protocol message: `primus::<kind>::<value>`.
///
/// ```
/// use primus_core::protocol::{parse, Message};
/// assert_eq!(parse("primus::pong::123"), Some(Message { kind: "pong", value: "123" }));
/// assert_eq!(parse("hello"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// What the message is: `ping`, `pong`, `id`, `server`, or anything else.
    pub kind: &'a str,
    /// What follows the second `::`.
    pub value: &'a str,
}

/// Split a decoded string the way the reference does.
///
/// The reference computes `last = msg.indexOf(':', 8)`, `type = msg.slice(8, last)`,
/// `value = msg.slice(last + 2)`. A message with no further `:` yields a type that is never
/// a known one (JavaScript's `slice(8, -1)`), so we return `None` and it stays user data.
pub fn parse(msg: &str) -> Option<Message<'_>> {
    let rest = msg.strip_prefix(PREFIX)?;
    let colon = rest.find(':')?;
    let kind = &rest[..colon];
    // `last + 2` skips `::`; with a single `:` JavaScript would skip one character of the
    // value, which `get` reproduces (an out-of-range start gives "").
    let value = rest.get(colon + 2..).unwrap_or("");
    Some(Message { kind, value })
}

/// `primus::ping::<ms>` as the server sends it.
pub fn ping(now_ms: u64) -> String {
    format!("primus::ping::{now_ms}")
}

/// `primus::pong::<value>` as a client answers a ping.
pub fn pong(value: &str) -> String {
    format!("primus::pong::{value}")
}

/// `primus::id::<id>` as the server answers an id request.
pub fn id_answer(id: &str) -> String {
    format!("primus::id::{id}")
}

/// The client heartbeat timeout for a server that pings every `ping_interval_ms`:
/// `P + round(P / 2)`, what the reference compiles into its client library (45 000 for the
/// default 30 000).
///
/// ```
/// assert_eq!(primus_core::protocol::ping_timeout_ms(30_000), 45_000);
/// assert_eq!(primus_core::protocol::ping_timeout_ms(25), 38);
/// ```
pub fn ping_timeout_ms(ping_interval_ms: u64) -> u64 {
    ping_interval_ms + ping_interval_ms.div_ceil(2)
}

/// Serialize an optional interval the way `/spec` and the client library write it:
/// milliseconds, or `false` when off. For `#[serde(serialize_with = …)]`.
pub fn serialize_ms_or_false<S: serde::Serializer>(
    value: &Option<u64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(ms) => serializer.serialize_u64(*ms),
        None => serializer.serialize_bool(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_reference() {
        assert_eq!(
            parse("primus::ping::1795303241019"),
            Some(Message {
                kind: "ping",
                value: "1795303241019"
            })
        );
        assert_eq!(
            parse("primus::id::"),
            Some(Message {
                kind: "id",
                value: ""
            })
        );
        assert_eq!(
            parse("primus::server::close"),
            Some(Message {
                kind: "server",
                value: "close"
            })
        );
        // No second `::`: never a known type.
        assert_eq!(parse("primus::ping"), None);
        // A single colon: JavaScript's slice(last + 2) drops one character.
        assert_eq!(
            parse("primus::pong:x12"),
            Some(Message {
                kind: "pong",
                value: "12"
            })
        );
        assert_eq!(
            parse("primus::pong:"),
            Some(Message {
                kind: "pong",
                value: ""
            })
        );
        assert_eq!(parse("xprimus::pong::1"), None);
    }

    #[test]
    fn ping_timeout_rounds_half_up() {
        assert_eq!(ping_timeout_ms(30_000), 45_000);
        assert_eq!(ping_timeout_ms(25), 38);
        assert_eq!(ping_timeout_ms(1), 2);
    }

    #[test]
    fn builds_messages() {
        assert_eq!(ping(5), "primus::ping::5");
        assert_eq!(pong("5"), "primus::pong::5");
        assert_eq!(id_answer("abc"), "primus::id::abc");
    }
}
