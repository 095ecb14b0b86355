//! The wire format of npm `substream` 0.2.0 (see `tests/plugins/WIRE.md`): plain JSON
//! values written through the parser.
//!
//! - data on a substream: `{"substream":"<name>","args":<payload>}`;
//! - end of a substream: `{"substream":"<name>","args":"substream::end"}`.
//!
//! The key order is the npm code's, so our frames are byte-equal to it.

use primus_core::Value;
use serde::Serialize;

/// The payload that ends a substream (it can never be sent as data).
pub const END_MARKER: &str = "substream::end";

/// Why a substream-shaped value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// `{"substream":…,"args":…}` whose `substream` is not a string.
    #[error("substream packet whose `substream` is not a string: name substreams with strings")]
    NameNotString,
    /// A name longer than the limit.
    #[error("substream name of {len} bytes: at most {max} are accepted (raise `max_name_len` or use shorter names)")]
    NameTooLong {
        /// Length of the name, in bytes.
        len: usize,
        /// [`MultiplexOptions::max_name_len`](super::MultiplexOptions::max_name_len).
        max: usize,
    },
}

/// A decoded substream packet (the name borrowed from the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    pub(crate) name: &'a str,
    pub(crate) end: bool,
}

/// Whether `value` is a substream packet, and if so for which stream (or why it is broken).
///
/// A packet is an object with both a `substream` and an `args` key (other keys are
/// ignored). Everything else (`null`, strings, `{"substream":1}` without `args`, …) is
/// ordinary data.
pub(crate) fn parse(value: &Value, max_name: usize) -> Option<Result<Header<'_>, PacketError>> {
    let obj = value.as_object()?;
    let name = obj.get("substream")?;
    let args = obj.get("args")?;
    let Some(name) = name.as_str() else {
        return Some(Err(PacketError::NameNotString));
    };
    if name.len() > max_name {
        return Some(Err(PacketError::NameTooLong {
            len: name.len(),
            max: max_name,
        }));
    }
    Some(Ok(Header {
        name,
        end: args.as_str() == Some(END_MARKER),
    }))
}

/// The packet for `args` on `name`, ready for `write`.
#[derive(Serialize)]
pub(crate) struct Envelope<'a, T: ?Sized> {
    pub(crate) substream: &'a str,
    pub(crate) args: &'a T,
}

/// An owned packet (for `Sink::start_send`, which takes its item by value).
#[derive(Serialize)]
pub(crate) struct OwnedEnvelope {
    pub(crate) substream: String,
    pub(crate) args: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn frames_are_byte_equal_to_the_npm_plugin() {
        // From tests/plugins/fixtures/substream.json.
        let json = |name: &str, args: &Value| {
            serde_json::to_string(&Envelope {
                substream: name,
                args,
            })
            .unwrap()
        };
        assert_eq!(
            json("news", &value(r#"{"a":1}"#)),
            r#"{"substream":"news","args":{"a":1}}"#
        );
        assert_eq!(
            json("chat", &value(r#"["x",2]"#)),
            r#"{"substream":"chat","args":["x",2]}"#
        );
        assert_eq!(
            json("news", &Value::from(END_MARKER)),
            r#"{"substream":"news","args":"substream::end"}"#
        );
    }

    #[test]
    fn parses_data_and_end() {
        let v = value(r#"{"substream":"news","args":"hi"}"#);
        assert_eq!(
            parse(&v, 10),
            Some(Ok(Header {
                name: "news",
                end: false
            }))
        );
        let v = value(r#"{"substream":"news","args":"substream::end"}"#);
        assert_eq!(
            parse(&v, 10),
            Some(Ok(Header {
                name: "news",
                end: true
            }))
        );
        let v = value(r#"{"substream":"n","args":null}"#);
        assert_eq!(
            parse(&v, 10),
            Some(Ok(Header {
                name: "n",
                end: false
            }))
        );
    }

    #[test]
    fn other_values_are_plain_data() {
        for v in [
            "null",
            "1",
            r#""substream::end""#,
            r#"{"substream":1}"#,
            r#"{"substream":"news"}"#,
            r#"{"args":"x"}"#,
            r#"[{"substream":"a","args":1}]"#,
        ] {
            assert_eq!(parse(&value(v), 10), None, "{v}");
        }
    }

    #[test]
    fn broken_packets_are_errors() {
        assert_eq!(
            parse(&value(r#"{"substream":1,"args":"x"}"#), 10),
            Some(Err(PacketError::NameNotString))
        );
        assert_eq!(
            parse(&value(r#"{"substream":null,"args":"x"}"#), 10),
            Some(Err(PacketError::NameNotString))
        );
        assert_eq!(
            parse(&value(r#"{"substream":"elevenbytes","args":"x"}"#), 10),
            Some(Err(PacketError::NameTooLong { len: 11, max: 10 }))
        );
    }
}
