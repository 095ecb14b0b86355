//! Round-trip property tests for the msgpack, binary and ejson parsers: any value they
//! can encode decodes back to an equal value, and typed serde structs survive the trip.

use bytes::Bytes;
use primus_core::parser::{Binary, Ejson, MsgPack};
use primus_core::{from_value, Map, Parser, Value};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// Which numbers a parser round-trips exactly.
#[derive(Clone, Copy, Debug)]
enum Flavor {
    MsgPack,
    Binary,
    Ejson,
}

fn number(flavor: Flavor) -> BoxedStrategy<Value> {
    let any_f64 = any::<f64>().prop_filter("finite", |f| f.is_finite());
    match flavor {
        Flavor::MsgPack | Flavor::Ejson => prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            any_f64.prop_map(Value::from),
        ]
        .boxed(),
        // BinaryPack refuses integers above 2^63 (`Invalid integer`), and writes 2^63
        // itself as the bits of -2^63.
        Flavor::Binary => prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            (0..=i64::MAX as u64).prop_map(Value::from),
            any_f64
                .prop_filter("BinaryPack integer range", |f| f.fract() != 0.0
                    || f.abs() < 9.2e18)
                .prop_map(Value::from),
        ]
        .boxed(),
    }
}

fn key(flavor: Flavor) -> BoxedStrategy<String> {
    let k = prop_oneof![".{0,8}", "[a-z]{1,40}", Just(String::new())];
    match flavor {
        // A one-key object {"$binary": "…"} is EJSON for bytes.
        Flavor::Ejson => k.prop_filter("not $binary", |k| k != "$binary").boxed(),
        _ => k.boxed(),
    }
}

fn value(flavor: Flavor) -> impl Strategy<Value = Value> {
    let min_bin = usize::from(matches!(flavor, Flavor::Binary)); // no empty buffers
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(flavor),
        ".{0,40}".prop_map(Value::from),
        "[a-z]{200,300}".prop_map(Value::from),
        prop::collection::vec(any::<u8>(), min_bin..300).prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 200, 20, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
            prop::collection::vec((key(flavor), inner), 0..20)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map>())),
        ]
    })
}

fn round_trip(p: &dyn Parser, v: &Value) -> Result<(), TestCaseError> {
    let frame = p
        .encode(v)
        .map_err(|e| TestCaseError::fail(format!("{e}")))?;
    prop_assert_eq!(frame.is_text(), !p.is_binary());
    let back = p
        .decode(&frame)
        .map_err(|e| TestCaseError::fail(format!("{e}")))?;
    prop_assert_eq!(&back, v);
    // Encoding is deterministic and stable across a round trip.
    prop_assert_eq!(p.encode(&back).unwrap(), frame);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn msgpack_round_trips(v in value(Flavor::MsgPack)) {
        round_trip(&MsgPack, &v)?;
    }

    #[test]
    fn binary_round_trips(v in value(Flavor::Binary)) {
        round_trip(&Binary, &v)?;
    }

    #[test]
    fn ejson_round_trips(v in value(Flavor::Ejson)) {
        round_trip(&Ejson, &v)?;
    }

    #[test]
    fn structs_round_trip(m in message()) {
        for p in [&MsgPack as &dyn Parser, &Binary, &Ejson] {
            let frame = p.encode(&m).unwrap();
            let back: Message = from_value(p.decode(&frame).unwrap()).unwrap();
            prop_assert_eq!(&back, &m, "{}", p.name());
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        for p in [&MsgPack as &dyn Parser, &Binary] {
            let _ = p.decode(&primus_core::Frame::binary(bytes.clone()));
        }
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = Ejson.decode(&primus_core::Frame::text(s));
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Kind {
    Unit,
    Tuple(i32, String),
    Struct { x: f64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Message {
    id: u32,
    room: String,
    text: Option<String>,
    tags: Vec<String>,
    payload: Bytes,
    score: f64,
    small: i8,
    kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    reply_to: Option<u64>,
}

fn message() -> impl Strategy<Value = Message> {
    let kind = prop_oneof![
        Just(Kind::Unit),
        (any::<i32>(), ".{0,5}").prop_map(|(a, b)| Kind::Tuple(a, b)),
        (-1e9..1e9f64).prop_map(|x| Kind::Struct { x }),
    ];
    (
        any::<u32>(),
        ".{0,20}",
        proptest::option::of(".{0,20}"),
        prop::collection::vec("[a-z]{0,5}", 0..5),
        prop::collection::vec(any::<u8>(), 1..50),
        -1e12..1e12f64,
        any::<i8>(),
        kind,
        proptest::option::of(0..u32::MAX as u64),
    )
        .prop_map(
            |(id, room, text, tags, payload, score, small, kind, reply_to)| Message {
                id,
                room,
                text,
                tags,
                payload: Bytes::from(payload),
                score,
                small,
                kind,
                reply_to,
            },
        )
}

#[test]
fn big_integers_stay_exact() {
    for v in [u64::MAX, (1 << 53) + 1, 1 << 60] {
        for p in [&MsgPack as &dyn Parser, &Ejson] {
            let back = p.decode(&p.encode(&v).unwrap()).unwrap();
            assert_eq!(back.as_u64(), Some(v), "{} {v}", p.name());
        }
    }
    let v = i64::MIN + 1;
    for p in [&MsgPack as &dyn Parser, &Binary, &Ejson] {
        let back = p.decode(&p.encode(&v).unwrap()).unwrap();
        assert_eq!(back.as_i64(), Some(v), "{}", p.name());
    }
}
