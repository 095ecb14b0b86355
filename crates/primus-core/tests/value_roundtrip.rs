//! Property tests: `Value` ↔ JSON text through the `json` parser, and Rust types ↔ `Value`.

use bytes::Bytes;
use primus_core::{from_value, parser::Json, to_value, Frame, Map, Number, Parser, Value};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Strings with the characters that need care: quotes, backslashes, control characters,
/// U+2028/U+2029, non-ASCII.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z\"\\\\\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}é€😀]{0,12}",
    ]
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<u64>().prop_map(Number::from),
        any::<i64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        (-1000i32..1000).prop_map(|i| Number::from_f64(f64::from(i) / 8.0).unwrap()),
    ]
}

/// Any value JSON can carry (no binary: it becomes an array of numbers in JSON).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((tricky_string(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map>())),
        ]
    })
}

/// Any value, binary included.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        tricky_string().prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(|b| Value::Binary(Bytes::from(b))),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((tricky_string(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map>())),
        ]
    })
}

/// Binary replaced by what it becomes in JSON: an array of numbers.
fn as_json(v: &Value) -> Value {
    match v {
        Value::Binary(b) => Value::Array(b.iter().map(|&x| Value::from(u32::from(x))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(as_json).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), as_json(v))).collect()),
        other => other.clone(),
    }
}

/// Key order matters on the wire; `PartialEq` ignores it.
fn same_order(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_order(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same_order(va, vb))
        }
        _ => a == b,
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Event {
    Join,
    Say(String),
    Move(i32, i32),
    Data {
        payload: Vec<u8>,
        tag: Option<String>,
    },
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Packet {
    id: u64,
    delta: i64,
    ratio: f64,
    name: String,
    flags: (bool, u8),
    events: Vec<Event>,
    meta: BTreeMap<String, u32>,
    by_id: BTreeMap<u16, String>,
    blob: Bytes,
    maybe: Option<Box<Packet>>,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Join),
        tricky_string().prop_map(Event::Say),
        (any::<i32>(), any::<i32>()).prop_map(|(x, y)| Event::Move(x, y)),
        (
            prop::collection::vec(any::<u8>(), 0..8),
            prop::option::of(tricky_string())
        )
            .prop_map(|(payload, tag)| Event::Data { payload, tag }),
    ]
}

fn finite_f64() -> impl Strategy<Value = f64> {
    any::<f64>().prop_map(|f| if f.is_finite() { f } else { 0.0 })
}

fn packet_leaf() -> impl Strategy<Value = Packet> {
    (
        (any::<u64>(), any::<i64>(), finite_f64(), tricky_string()),
        (any::<(bool, u8)>(), prop::collection::vec(event(), 0..4)),
        prop::collection::btree_map(tricky_string(), any::<u32>(), 0..4),
        prop::collection::btree_map(any::<u16>(), tricky_string(), 0..4),
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(
            |((id, delta, ratio, name), (flags, events), meta, by_id, blob)| Packet {
                id,
                delta,
                ratio,
                name,
                flags,
                events,
                meta,
                by_id,
                blob: Bytes::from(blob),
                maybe: None,
            },
        )
}

fn packet() -> impl Strategy<Value = Packet> {
    (packet_leaf(), prop::option::of(packet_leaf())).prop_map(|(mut p, inner)| {
        p.maybe = inner.map(Box::new);
        p
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// encode → decode gives the value back, key order included; the text is what
    /// `Display` prints, and serde_json reads it as the same JSON.
    #[test]
    fn json_text_round_trip(v in json_value()) {
        let frame = Json.encode(&v).unwrap();
        let text = frame.as_str().unwrap();
        prop_assert_eq!(text, v.to_string());
        let raw_separator = text.contains(['\u{2028}', '\u{2029}']);
        prop_assert!(!raw_separator, "raw U+2028/U+2029 in {:?}", text);
        let back = Json.decode(&frame).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert!(same_order(&back, &v));
        // Stable: encoding the decoded value gives the same bytes.
        prop_assert_eq!(Json.encode(&back).unwrap(), frame.clone());
        let sj: serde_json::Value = serde_json::from_str(text).unwrap();
        prop_assert_eq!(to_value(&sj).unwrap(), v);
    }

    /// Binary goes through JSON as an array of numbers.
    #[test]
    fn json_text_round_trip_with_binary(v in any_value()) {
        let frame = Json.encode(&v).unwrap();
        prop_assert_eq!(frame.as_str().unwrap(), v.to_string());
        prop_assert_eq!(Json.decode(&frame).unwrap(), as_json(&v));
    }

    /// to_value / from_value / deserialize_into are the identity on Values, binary and
    /// key order included.
    #[test]
    fn value_serde_identity(v in any_value()) {
        let via_ser = to_value(&v).unwrap();
        prop_assert!(same_order(&via_ser, &v));
        let via_de: Value = from_value(v.clone()).unwrap();
        prop_assert!(same_order(&via_de, &v));
        let via_ref: Value = v.deserialize_into().unwrap();
        prop_assert!(same_order(&via_ref, &v));
    }

    /// Derived types survive to_value/from_value, and the JSON parser too.
    #[test]
    fn derived_types_round_trip(p in packet()) {
        let v = to_value(&p).unwrap();
        prop_assert_eq!(&from_value::<Packet>(v.clone()).unwrap(), &p);
        prop_assert_eq!(&v.deserialize_into::<Packet>().unwrap(), &p);

        let frame = Json.encode(&p).unwrap();
        // The JSON parser writes exactly what encoding the Value writes.
        prop_assert_eq!(&frame, &Json.encode(&v).unwrap());
        let decoded = Json.decode(&frame).unwrap();
        prop_assert_eq!(&from_value::<Packet>(decoded).unwrap(), &p);
        // And serde_json agrees on the data.
        let text = frame.as_str().unwrap();
        prop_assert_eq!(&serde_json::from_str::<Packet>(text).unwrap(), &p);
    }

    /// A binary frame always decodes, to itself.
    #[test]
    fn binary_frames_pass_through(b in prop::collection::vec(any::<u8>(), 0..64)) {
        let decoded = Json.decode(&Frame::binary(b.clone())).unwrap();
        prop_assert_eq!(decoded.as_bytes().map(|b| b.to_vec()), Some(b));
    }

    /// Garbage text never panics: it decodes or is a Decode error.
    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        let _ = Json.decode(&Frame::text(s));
    }
}
