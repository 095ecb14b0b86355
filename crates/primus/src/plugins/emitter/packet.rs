//! The wire format of npm `primus-emitter` 3.x (see `tests/plugins/WIRE.md`): plain JSON
//! values written through the parser.
//!
//! - event: `{"type":0,"data":[name, args…]}`, plus `"id":N` when the sender wants an
//!   acknowledgement;
//! - acknowledgement: `{"id":N,"type":1,"data":[args…]}`.
//!
//! The key order is the npm code's, so our frames are byte-equal to it.

use primus_core::Value;
use serde::Serialize;

/// `type` of an event packet.
const EVENT: u64 = 0;
/// `type` of an acknowledgement packet.
const ACK: u64 = 1;

/// A decoded emitter packet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Packet {
    /// An event; `id` when the sender waits for an acknowledgement.
    Event {
        name: String,
        args: Vec<Value>,
        id: Option<u64>,
    },
    /// The acknowledgement of the event the peer sent with `id`.
    Ack { id: u64, args: Vec<Value> },
}

/// Why an emitter-shaped value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// An event packet whose `data` does not start with a string name.
    #[error("emitter event without a name: `data` must start with the event name (a string)")]
    NoName,
    /// An acknowledgement without a usable id.
    #[error("emitter acknowledgement without a numeric `id`")]
    AckWithoutId,
    /// More arguments than [`MAX_ARGS`].
    #[error("emitter packet with {0} arguments: at most {MAX_ARGS} are accepted")]
    TooManyArgs(usize),
    /// An event name longer than [`MAX_NAME`] bytes.
    #[error("emitter event name of {0} bytes: at most {MAX_NAME} are accepted")]
    NameTooLong(usize),
}

/// Most arguments one packet may carry.
pub const MAX_ARGS: usize = 256;
/// Longest event name, in bytes.
pub const MAX_NAME: usize = 256;

/// Whether `value` is an emitter packet, and if so which (or why it is broken).
///
/// Like the npm plugin, only objects with `type` 0 or 1, an array `data` and an `id` that is
/// absent, falsy or a number are packets; anything else (`null`, strings, other objects) is
/// ordinary data. `id` 0 means no acknowledgement.
pub(crate) fn parse(value: &Value) -> Option<Result<Packet, PacketError>> {
    let obj = value.as_object()?;
    let kind = obj.get("type")?.as_u64()?;
    if kind != EVENT && kind != ACK {
        return None;
    }
    let data = obj.get("data")?.as_array()?;
    let id = match obj.get("id") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => None,
            Some(id) => Some(id),
            // Negative or fractional ids: the npm plugin would use them as keys; we
            // answer nothing and treat the event as one without acknowledgement.
            None => None,
        },
        Some(_) => return None,
    };
    if data.len() > MAX_ARGS + 1 {
        return Some(Err(PacketError::TooManyArgs(data.len())));
    }
    Some(if kind == EVENT {
        match data.split_first() {
            Some((Value::String(name), args)) if name.len() <= MAX_NAME => Ok(Packet::Event {
                name: name.clone(),
                args: args.to_vec(),
                id,
            }),
            Some((Value::String(name), _)) => Err(PacketError::NameTooLong(name.len())),
            _ => Err(PacketError::NoName),
        }
    } else {
        match id {
            Some(id) => Ok(Packet::Ack {
                id,
                args: data.clone(),
            }),
            None => Err(PacketError::AckWithoutId),
        }
    })
}

#[derive(Serialize)]
struct EventOut<'a> {
    #[serde(rename = "type")]
    kind: u64,
    data: EventData<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
}

/// `[name, args…]` without building a new vector.
struct EventData<'a> {
    name: &'a str,
    args: &'a [Value],
}

impl Serialize for EventData<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.args.len() + 1))?;
        seq.serialize_element(self.name)?;
        for a in self.args {
            seq.serialize_element(a)?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct AckOut<'a> {
    id: u64,
    #[serde(rename = "type")]
    kind: u64,
    data: &'a [Value],
}

/// The event packet, ready for `write`.
pub(crate) fn event<'a>(name: &'a str, args: &'a [Value], id: Option<u64>) -> impl Serialize + 'a {
    EventOut {
        kind: EVENT,
        data: EventData { name, args },
        id,
    }
}

/// The acknowledgement packet, ready for `write`.
pub(crate) fn ack(id: u64, args: &[Value]) -> impl Serialize + '_ {
    AckOut {
        id,
        kind: ACK,
        data: args,
    }
}

/// The arguments of an event as values: a tuple or array becomes several arguments,
/// `()` none, anything else one.
pub(crate) fn args_of<T: Serialize + ?Sized>(
    args: &T,
) -> Result<Vec<Value>, primus_core::ValueError> {
    let mut value = primus_core::to_value(args)?;
    Ok(match &mut value {
        Value::Array(items) => std::mem::take(items),
        Value::Null => Vec::new(),
        _ => vec![value],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: impl Serialize) -> String {
        serde_json::to_string(&v).unwrap()
    }

    fn value(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn frames_are_byte_equal_to_the_npm_plugin() {
        // From tests/plugins/fixtures/primus-emitter.json.
        let a: Vec<Value> = vec![value(r#"{"a":1}"#)];
        assert_eq!(
            json(event("news", &a, None)),
            r#"{"type":0,"data":["news",{"a":1}]}"#
        );
        let q = vec![Value::from("q")];
        assert_eq!(
            json(event("ask", &q, Some(1))),
            r#"{"type":0,"data":["ask","q"],"id":1}"#
        );
        let answer = vec![Value::from("answer"), value(r#"{"ok":true}"#)];
        assert_eq!(
            json(ack(1, &answer)),
            r#"{"id":1,"type":1,"data":["answer",{"ok":true}]}"#
        );
        assert_eq!(json(ack(2, &[])), r#"{"id":2,"type":1,"data":[]}"#);
        assert_eq!(
            json(event("noargs", &[], None)),
            r#"{"type":0,"data":["noargs"]}"#
        );
    }

    #[test]
    fn parses_events_and_acks() {
        assert_eq!(
            parse(&value(r#"{"type":0,"data":["hello","x",2]}"#)),
            Some(Ok(Packet::Event {
                name: "hello".into(),
                args: vec![Value::from("x"), Value::from(2)],
                id: None
            }))
        );
        assert_eq!(
            parse(&value(r#"{"type":0,"data":["ask"],"id":0}"#)),
            Some(Ok(Packet::Event {
                name: "ask".into(),
                args: vec![],
                id: None
            }))
        );
        assert_eq!(
            parse(&value(r#"{"id":7,"type":1,"data":[]}"#)),
            Some(Ok(Packet::Ack {
                id: 7,
                args: vec![]
            }))
        );
    }

    #[test]
    fn other_values_are_plain_data() {
        for v in [
            "null",
            "1",
            r#""s""#,
            "[0,[]]",
            r#"{"type":2,"data":[]}"#,
            r#"{"type":0}"#,
            r#"{"type":0,"data":{}}"#,
            r#"{"type":0,"data":["e"],"id":"abc"}"#,
        ] {
            assert_eq!(parse(&value(v)), None, "{v}");
        }
    }

    #[test]
    fn broken_packets_are_errors() {
        assert_eq!(
            parse(&value(r#"{"type":0,"data":[]}"#)),
            Some(Err(PacketError::NoName))
        );
        assert_eq!(
            parse(&value(r#"{"type":0,"data":[1]}"#)),
            Some(Err(PacketError::NoName))
        );
        assert_eq!(
            parse(&value(r#"{"type":1,"data":[]}"#)),
            Some(Err(PacketError::AckWithoutId))
        );
        let many = format!(r#"{{"type":0,"data":["e"{}]}}"#, ",0".repeat(300));
        assert_eq!(
            parse(&value(&many)),
            Some(Err(PacketError::TooManyArgs(301)))
        );
        let long = format!(r#"{{"type":0,"data":["{}"]}}"#, "n".repeat(300));
        assert_eq!(
            parse(&value(&long)),
            Some(Err(PacketError::NameTooLong(300)))
        );
    }

    #[test]
    fn arguments_from_tuples() {
        assert_eq!(
            args_of(&("x", 2)).unwrap(),
            vec![Value::from("x"), Value::from(2)]
        );
        assert_eq!(args_of(&()).unwrap(), Vec::<Value>::new());
        assert_eq!(args_of(&"one").unwrap(), vec![Value::from("one")]);
    }
}
