//! `Value` ↔ Rust types through serde, without JSON text in between.

use bytes::Bytes;
use primus_core::{from_value, to_value, Map, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Unit;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Id(u64);

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Pair(i32, String);

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Kind {
    Plain,
    Wrapped(String),
    Point(i32, i32),
    Named { x: f64, label: Option<String> },
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Everything {
    b: bool,
    small: i8,
    big: u64,
    neg: i64,
    wide: i128,
    f: f64,
    g: f32,
    c: char,
    s: String,
    opt_none: Option<u8>,
    opt_some: Option<Vec<u8>>,
    unit: (),
    unit_struct: Unit,
    id: Id,
    pair: Pair,
    tuple: (u8, String, bool),
    kinds: Vec<Kind>,
    by_num: BTreeMap<u32, String>,
    by_str: HashMap<String, i64>,
    bytes: Bytes,
    nested: Option<Box<Everything>>,
}

fn sample() -> Everything {
    Everything {
        b: true,
        small: -8,
        big: u64::MAX,
        neg: i64::MIN,
        wide: -5,
        f: 0.1,
        g: 0.25,
        c: 'é',
        s: "line\u{2028}sep \"quoted\"".into(),
        opt_none: None,
        opt_some: Some(vec![1, 2, 3]),
        unit: (),
        unit_struct: Unit,
        id: Id(42),
        pair: Pair(-1, "one".into()),
        tuple: (7, "seven".into(), false),
        kinds: vec![
            Kind::Plain,
            Kind::Wrapped("w".into()),
            Kind::Point(1, -2),
            Kind::Named {
                x: 1.5,
                label: None,
            },
        ],
        by_num: BTreeMap::from([(1, "a".into()), (20, "b".into())]),
        by_str: HashMap::from([("k".into(), 9)]),
        bytes: Bytes::from_static(b"\x00\xffbin"),
        nested: Some(Box::new(Everything {
            nested: None,
            kinds: vec![],
            ..sample_leaf()
        })),
    }
}

fn sample_leaf() -> Everything {
    Everything {
        b: false,
        small: 0,
        big: 0,
        neg: 0,
        wide: 0,
        f: 0.0,
        g: 0.0,
        c: 'x',
        s: String::new(),
        opt_none: None,
        opt_some: None,
        unit: (),
        unit_struct: Unit,
        id: Id(0),
        pair: Pair(0, String::new()),
        tuple: (0, String::new(), true),
        kinds: vec![],
        by_num: BTreeMap::new(),
        by_str: HashMap::new(),
        bytes: Bytes::new(),
        nested: None,
    }
}

#[test]
fn derived_types_round_trip() {
    let original = sample();
    let value = to_value(&original).unwrap();
    assert_eq!(from_value::<Everything>(value.clone()).unwrap(), original);
    // Borrowing deserialization gives the same result.
    assert_eq!(value.deserialize_into::<Everything>().unwrap(), original);
    // And so does going through JSON text (bytes become an array of numbers there).
    let text = serde_json::to_string(&value).unwrap();
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(from_value::<Everything>(back).unwrap(), original);
}

#[test]
fn to_value_shapes() {
    let v = to_value(&sample()).unwrap();
    assert_eq!(v.get("b"), Some(&Value::Bool(true)));
    assert_eq!(v.get("big").and_then(Value::as_u64), Some(u64::MAX));
    assert_eq!(v.get("neg").and_then(Value::as_i64), Some(i64::MIN));
    assert_eq!(v.get("g").map(Value::to_string).as_deref(), Some("0.25"));
    assert_eq!(v.get("c"), Some(&Value::from("é")));
    assert_eq!(v.get("opt_none"), Some(&Value::Null));
    assert_eq!(v.get("unit"), Some(&Value::Null));
    assert_eq!(v.get("unit_struct"), Some(&Value::Null));
    // Newtype structs are transparent; tuple structs and tuples are arrays.
    assert_eq!(v.get("id"), Some(&Value::from(42)));
    assert_eq!(
        v.get("pair").map(Value::to_string).as_deref(),
        Some(r#"[-1,"one"]"#)
    );
    assert_eq!(
        v.get("kinds").map(Value::to_string).as_deref(),
        Some(r#"["Plain",{"Wrapped":"w"},{"Point":[1,-2]},{"Named":{"x":1.5,"label":null}}]"#)
    );
    assert_eq!(
        v.get("by_num").map(Value::to_string).as_deref(),
        Some(r#"{"1":"a","20":"b"}"#)
    );
    // Bytes (serialize_bytes) become Binary; a Vec<u8> is a sequence, so an array.
    assert_eq!(
        v.get("bytes"),
        Some(&Value::Binary(Bytes::from_static(b"\x00\xffbin")))
    );
    assert_eq!(
        v.get("opt_some").map(Value::to_string).as_deref(),
        Some("[1,2,3]")
    );
    assert!(matches!(v.get("opt_some"), Some(Value::Array(_))));
}

#[test]
fn to_value_floats_like_json_stringify() {
    assert_eq!(to_value(&f64::NAN).unwrap(), Value::Null);
    assert_eq!(to_value(&f64::NEG_INFINITY).unwrap(), Value::Null);
    assert_eq!(
        to_value(&vec![1.0, f64::INFINITY]).unwrap().to_string(),
        "[1,null]"
    );
    // f32 keeps its shortest digits.
    assert_eq!(to_value(&0.1f32).unwrap().as_f64(), Some(0.1));
    assert_eq!(to_value(&f32::NAN).unwrap(), Value::Null);
}

#[test]
fn to_value_map_keys() {
    assert_eq!(
        to_value(&BTreeMap::from([(true, 1)])).unwrap().to_string(),
        r#"{"true":1}"#
    );
    assert_eq!(
        to_value(&BTreeMap::from([('c', 1)])).unwrap().to_string(),
        r#"{"c":1}"#
    );
    assert_eq!(
        to_value(&BTreeMap::from([(-3i64, 1)])).unwrap().to_string(),
        r#"{"-3":1}"#
    );
    assert_eq!(
        to_value(&BTreeMap::from([(Id(5), 1)])).unwrap().to_string(),
        r#"{"5":1}"#
    );

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    enum K {
        Alpha,
    }
    assert_eq!(
        to_value(&BTreeMap::from([(K::Alpha, 1)]))
            .unwrap()
            .to_string(),
        r#"{"Alpha":1}"#
    );

    let err = to_value(&BTreeMap::from([(vec![1], 1)])).unwrap_err();
    assert_eq!(err.to_string(), "key must be a string");
    assert!(to_value(&BTreeMap::from([((), 1)])).is_err());
}

#[test]
fn to_value_integers_out_of_range() {
    assert_eq!(
        to_value(&(u64::MAX as u128)).unwrap().as_u64(),
        Some(u64::MAX)
    );
    assert_eq!(
        to_value(&(i64::MIN as i128)).unwrap().as_i64(),
        Some(i64::MIN)
    );
    assert!(to_value(&(u64::MAX as u128 + 1)).is_err());
    assert!(to_value(&(i64::MIN as i128 - 1)).is_err());
}

#[test]
fn to_value_refuses_very_deep_values() {
    #[derive(Serialize)]
    struct Node {
        next: Option<Box<Node>>,
    }
    let mut list = Node { next: None };
    for _ in 0..10_000 {
        list = Node {
            next: Some(Box::new(list)),
        };
    }
    let err = to_value(&list).unwrap_err();
    assert!(err.to_string().contains("nested deeper"), "{err}");
    // Drop the list iteratively: Box<Node>'s own drop would recurse 10 000 levels.
    let mut next = list.next.take();
    while let Some(mut node) = next {
        next = node.next.take();
    }

    let mut shallow = Node { next: None };
    for _ in 0..100 {
        shallow = Node {
            next: Some(Box::new(shallow)),
        };
    }
    assert!(to_value(&shallow).is_ok());
}

#[test]
fn integer_conversions_are_range_checked() {
    assert_eq!(from_value::<u8>(Value::from(255)).unwrap(), 255);
    let err = from_value::<u8>(Value::from(256)).unwrap_err();
    assert_eq!(err.to_string(), "invalid value: integer `256`, expected u8");
    assert!(from_value::<u32>(Value::from(-1)).is_err());
    assert_eq!(from_value::<i8>(Value::from(-128)).unwrap(), -128);
    assert!(from_value::<i8>(Value::from(-129)).is_err());
    assert_eq!(from_value::<u64>(Value::from(u64::MAX)).unwrap(), u64::MAX);
    assert!(from_value::<i64>(Value::from(u64::MAX)).is_err());
    assert_eq!(
        from_value::<i128>(Value::from(i64::MIN)).unwrap(),
        i128::from(i64::MIN)
    );
    // Integral floats are integers (JavaScript has only doubles).
    assert_eq!(from_value::<u32>(Value::from(3.0)).unwrap(), 3);
    assert_eq!(from_value::<i16>(Value::from(-2.0)).unwrap(), -2);
    assert!(from_value::<u8>(Value::from(256.0)).is_err());
    let err = from_value::<i32>(Value::from(1.5)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: floating point `1.5`, expected i32"
    );
    // Floats accept integers.
    assert_eq!(
        from_value::<f64>(Value::from(u64::MAX)).unwrap(),
        u64::MAX as f64
    );
    assert_eq!(from_value::<f32>(Value::from(2)).unwrap(), 2.0);
    // Borrowed too.
    assert_eq!(Value::from(7.0).deserialize_into::<u8>().unwrap(), 7);
    assert!(Value::from(700).deserialize_into::<u8>().is_err());
}

#[test]
fn type_mismatches_are_errors() {
    let err = from_value::<String>(Value::from(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: integer `1`, expected a string"
    );
    let err = from_value::<bool>(Value::Null).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: unit value, expected a boolean"
    );
    assert!(from_value::<Vec<u8>>(Value::from("abc")).is_err());
    assert!(from_value::<()>(Value::from(false)).is_err());
    assert!(from_value::<HashMap<String, u8>>(Value::Array(vec![])).is_err());
    assert!(from_value::<Everything>(Value::from("x")).is_err());
    // Too many elements for a tuple.
    let err = from_value::<(u8, u8)>(json("[1,2,3]")).unwrap_err();
    assert!(err.to_string().contains("invalid length 3"), "{err}");
    // Too few.
    assert!(from_value::<(u8, u8)>(json("[1]")).is_err());
}

#[test]
fn options() {
    assert_eq!(from_value::<Option<u8>>(Value::Null).unwrap(), None);
    assert_eq!(from_value::<Option<u8>>(Value::from(1)).unwrap(), Some(1));
    assert_eq!(
        from_value::<Option<Option<u8>>>(Value::from(1)).unwrap(),
        Some(Some(1))
    );
    #[derive(Deserialize, Debug, PartialEq)]
    struct S {
        a: Option<u8>,
        #[serde(default)]
        b: Option<u8>,
    }
    assert_eq!(
        from_value::<S>(json(r#"{"a":null}"#)).unwrap(),
        S { a: None, b: None }
    );
    // A missing Option field is None, as with serde_json.
    assert_eq!(from_value::<S>(json("{}")).unwrap(), S { a: None, b: None });
}

#[test]
fn enums_from_string_or_single_key_object() {
    assert_eq!(from_value::<Kind>(json(r#""Plain""#)).unwrap(), Kind::Plain);
    assert_eq!(
        from_value::<Kind>(json(r#"{"Plain":null}"#)).unwrap(),
        Kind::Plain
    );
    assert_eq!(
        from_value::<Kind>(json(r#"{"Wrapped":"x"}"#)).unwrap(),
        Kind::Wrapped("x".into())
    );
    assert_eq!(
        from_value::<Kind>(json(r#"{"Point":[1,2]}"#)).unwrap(),
        Kind::Point(1, 2)
    );
    assert_eq!(
        from_value::<Kind>(json(r#"{"Named":{"x":2,"label":"l"}}"#)).unwrap(),
        Kind::Named {
            x: 2.0,
            label: Some("l".into())
        }
    );
    let err = from_value::<Kind>(json(r#"{"Plain":null,"Wrapped":"x"}"#)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value: map, expected map with a single key"
    );
    assert!(from_value::<Kind>(json("{}")).is_err());
    assert!(from_value::<Kind>(json(r#""Nope""#))
        .unwrap_err()
        .to_string()
        .contains("unknown variant"));
    assert!(from_value::<Kind>(json("1")).is_err());
    assert!(from_value::<Kind>(json(r#""Wrapped""#)).is_err());
    assert!(from_value::<Kind>(json(r#"{"Point":1}"#)).is_err());
    // Borrowed.
    let v = json(r#"{"Point":[3,4]}"#);
    assert_eq!(v.deserialize_into::<Kind>().unwrap(), Kind::Point(3, 4));

    // Internally and untagged representations go through deserialize_any.
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(tag = "type")]
    enum Tagged {
        Ping { at: u64 },
    }
    assert_eq!(
        from_value::<Tagged>(json(r#"{"type":"Ping","at":5}"#)).unwrap(),
        Tagged::Ping { at: 5 }
    );
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(untagged)]
    enum Either {
        N(u8),
        S(String),
    }
    assert_eq!(
        from_value::<Either>(json(r#""s""#)).unwrap(),
        Either::S("s".into())
    );
    assert_eq!(from_value::<Either>(json("3")).unwrap(), Either::N(3));
}

#[test]
fn map_keys_parse_as_numbers_and_bools() {
    let m: HashMap<u32, u8> = from_value(json(r#"{"1":1,"22":2}"#)).unwrap();
    assert_eq!(m, HashMap::from([(1, 1), (22, 2)]));
    let m: BTreeMap<bool, u8> = from_value(json(r#"{"true":1}"#)).unwrap();
    assert_eq!(m, BTreeMap::from([(true, 1)]));
    assert!(from_value::<HashMap<u32, u8>>(json(r#"{"x":1}"#)).is_err());
    let m: BTreeMap<Id, u8> = json(r#"{"7":1}"#).deserialize_into().unwrap();
    assert_eq!(m.keys().next(), Some(&Id(7)));
}

impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Id {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}
impl Eq for Id {}

#[test]
fn structs_ignore_unknown_fields_and_accept_arrays() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct P {
        x: u8,
        y: u8,
    }
    let v = json(r#"{"x":1,"junk":{"deep":[1,2,{"a":null}]},"y":2}"#);
    assert_eq!(from_value::<P>(v.clone()).unwrap(), P { x: 1, y: 2 });
    assert_eq!(v.deserialize_into::<P>().unwrap(), P { x: 1, y: 2 });
    // Like serde_json, a struct can be read from an array of its fields.
    assert_eq!(from_value::<P>(json("[3,4]")).unwrap(), P { x: 3, y: 4 });

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        x: u8,
    }
    assert!(from_value::<Strict>(json(r#"{"x":1,"y":2}"#)).is_err());
    assert!(from_value::<Strict>(json(r#"{}"#))
        .unwrap_err()
        .to_string()
        .contains("missing field"));
}

#[test]
fn binary_deserializes_as_bytes_or_u8_sequence() {
    let bin = Value::from(vec![1u8, 2, 255]);
    assert_eq!(
        from_value::<Bytes>(bin.clone()).unwrap(),
        Bytes::from_static(&[1, 2, 255])
    );
    assert_eq!(from_value::<Vec<u8>>(bin.clone()).unwrap(), vec![1, 2, 255]);
    assert_eq!(from_value::<[u8; 3]>(bin.clone()).unwrap(), [1, 2, 255]);
    assert!(from_value::<[u8; 2]>(bin.clone()).is_err());
    assert_eq!(from_value::<Value>(bin.clone()).unwrap(), bin);
    // Borrowed: &[u8] lends the bytes.
    let borrowed: &[u8] = bin.deserialize_into().unwrap();
    assert_eq!(borrowed, &[1, 2, 255]);
    assert_eq!(bin.deserialize_into::<Vec<u16>>().unwrap(), vec![1, 2, 255]);
    // Bytes also read from an array of numbers (binary that went through JSON).
    assert_eq!(
        from_value::<Bytes>(json("[1,2]")).unwrap(),
        Bytes::from_static(&[1, 2])
    );
    assert!(from_value::<Bytes>(json("[1,256]")).is_err());
    assert!(from_value::<Bytes>(Value::from(1)).is_err());
}

#[test]
fn borrowed_strings() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct Msg<'a> {
        room: &'a str,
        #[serde(borrow)]
        tags: Vec<&'a str>,
    }
    let v = json(r#"{"room":"lobby","tags":["a","b"]}"#);
    let msg: Msg<'_> = v.deserialize_into().unwrap();
    assert_eq!(
        msg,
        Msg {
            room: "lobby",
            tags: vec!["a", "b"]
        }
    );
    // An owned Value cannot lend.
    assert!(from_value::<Value>(v.clone()).is_ok());
    let s: &str = Value::from("x")
        .deserialize_into()
        .map(|_: &str| "ok")
        .unwrap();
    assert_eq!(s, "ok");
    assert_eq!(from_value::<char>(Value::from("é")).unwrap(), 'é');
    assert!(from_value::<char>(Value::from("ab")).is_err());
}

#[test]
fn value_to_value_is_identity() {
    let v = json(r#"{"a":[1,-2,3.5,"s",null,true,{}],"b":{"c":[]}}"#);
    assert_eq!(to_value(&v).unwrap(), v);
    assert_eq!(from_value::<Value>(v.clone()).unwrap(), v);
    assert_eq!(v.deserialize_into::<Value>().unwrap(), v);
    // Key order survives.
    assert_eq!(to_value(&v).unwrap().to_string(), v.to_string());
    // serde_json::Value can be read out of a Value (without binary).
    let sj: serde_json::Value = from_value(v.clone()).unwrap();
    assert_eq!(sj["a"][2], serde_json::json!(3.5));
    assert_eq!(to_value(&sj).unwrap(), v);
}

#[test]
fn deserialize_value_from_other_formats() {
    use serde::de::value::{BytesDeserializer, Error, MapDeserializer, U64Deserializer};
    use serde::de::IntoDeserializer;

    let v = Value::deserialize(BytesDeserializer::<Error>::new(b"ab")).unwrap();
    assert_eq!(v, Value::Binary(Bytes::from_static(b"ab")));
    let v = Value::deserialize(U64Deserializer::<Error>::new(7)).unwrap();
    assert_eq!(v, Value::from(7));
    // Non-string keys (a binary format's map) become strings like JavaScript keys.
    let entries = vec![(1u32, "one"), (2, "two")];
    let de: MapDeserializer<'_, _, Error> = MapDeserializer::new(entries.into_iter());
    let v = Value::deserialize(de).unwrap();
    assert_eq!(v.to_string(), r#"{"1":"one","2":"two"}"#);
    let v = Value::deserialize(IntoDeserializer::<Error>::into_deserializer(2.5f64)).unwrap();
    assert_eq!(v, Value::from(2.5));
    let v = Value::deserialize(IntoDeserializer::<Error>::into_deserializer(f64::NAN)).unwrap();
    assert_eq!(v, Value::Null);
    let v = Value::deserialize(IntoDeserializer::<Error>::into_deserializer(0.1f32)).unwrap();
    assert_eq!(v.to_string(), "0.1");
    let err =
        Value::deserialize(IntoDeserializer::<Error>::into_deserializer(u128::MAX)).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn equality_is_numeric() {
    assert_eq!(Value::from(1), Value::from(1.0));
    assert_eq!(Value::from(0), Value::from(-0.0));
    assert_eq!(Value::from(-1i64), Value::from(-1.0));
    assert_ne!(Value::from(1), Value::from(1.5));
    assert_ne!(Value::from(u64::MAX), Value::from(-1));
    assert_ne!(Value::from(1), Value::from("1"));
    assert_ne!(Value::Null, Value::from(false));
    // Objects compare as maps.
    assert_eq!(json(r#"{"a":1,"b":2}"#), json(r#"{"b":2,"a":1}"#));
    assert_ne!(json("[1,2]"), json("[2,1]"));
    let x = Value::from("x");
    assert!(x == "x" && x != "y");
}

#[test]
fn accessors() {
    let mut v = json(r#"{"a":[1,"two",null],"n":-4,"f":2.5,"t":true}"#);
    assert_eq!(v.get("n").and_then(Value::as_i64), Some(-4));
    assert_eq!(v.get("n").and_then(Value::as_u64), None);
    assert_eq!(v.get("f").and_then(Value::as_f64), Some(2.5));
    assert_eq!(v.get("f").and_then(Value::as_i64), None);
    assert_eq!(v.get("t").and_then(Value::as_bool), Some(true));
    assert!(v.get("a").unwrap().as_array().unwrap()[2].is_null());
    assert_eq!(
        v.get("a").unwrap().as_array().unwrap()[1].as_str(),
        Some("two")
    );
    assert!(v.get("zz").is_none());
    assert!(v.as_object().is_some() && v.as_array().is_none() && v.as_bytes().is_none());
    v.get_mut("a")
        .unwrap()
        .as_array_mut()
        .unwrap()
        .push(Value::from(vec![9u8]));
    assert_eq!(v.get("a").unwrap().to_string(), r#"[1,"two",null,[9]]"#);
    let a = v.get_mut("a").unwrap().take();
    assert_eq!(a.into_array().map(|a| a.len()), Some(4));
    assert_eq!(v.get("a"), Some(&Value::Null));
    assert_eq!(Value::from("s").into_array(), None);
    assert_eq!(v.clone().into_object().map(|o| o.len()), Some(4));
    assert_eq!(
        Value::from(Bytes::from_static(b"z")).into_bytes(),
        Some(Bytes::from_static(b"z"))
    );
    assert_eq!(
        Value::from(String::from("s")).into_string(),
        Some("s".to_string())
    );
    assert_eq!(Value::default(), Value::Null);
    assert_eq!(Value::from(5u32), Value::from(5i32));
    assert_eq!(Value::from(Map::new()).to_string(), "{}");
    assert_eq!(Value::from(vec![Value::Null]).to_string(), "[null]");
}

#[test]
fn display_is_compact_json() {
    let v = json(r#"{ "k\"ey": [ 1.0, 1e21, 0.000001, 1e-7, "\u0000\t\u2028" ], "e": {} }"#);
    assert_eq!(
        v.to_string(),
        r#"{"k\"ey":[1,1e+21,0.000001,1e-7,"\u0000\t\u2028"],"e":{}}"#
    );
    assert_eq!(Value::Binary(Bytes::new()).to_string(), "[]");
    assert_eq!(json(r#""é""#).to_string(), "\"é\"");
}

/// Runs `f` on a thread with a small stack: anything recursive per nesting level would
/// overflow (and abort the test binary) at the depths used here.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

fn deep_array(depth: usize) -> Value {
    let mut v = Value::Null;
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

#[test]
fn dropping_deep_values_does_not_overflow() {
    on_small_stack(|| {
        drop(deep_array(100_000));

        let mut v = Value::from("leaf");
        for i in 0..100_000 {
            let mut map = Map::new();
            map.insert(format!("k{i}"), v);
            map.insert("sibling".into(), Value::from(vec![Value::from(i)]));
            v = Value::Object(map);
        }
        drop(v);

        // Mixed, with wide levels.
        let mut v = Value::Null;
        for i in 0..50_000 {
            v = if i % 2 == 0 {
                Value::Array(vec![Value::from(1), v, Value::Array(vec![Value::Null; 3])])
            } else {
                Value::Object(Map::from_iter([("x".to_string(), v)]))
            };
        }
        drop(v);
    });
}

#[test]
fn dropping_deep_values_inside_containers() {
    on_small_stack(|| {
        // A deep value held by a Vec and a Map (dropped by their own drop glue).
        let holder = vec![deep_array(100_000), deep_array(100_000)];
        drop(holder);
        let map = Map::from_iter([("deep".to_string(), deep_array(100_000))]);
        drop(map);
        // Replacing a deep value through a mutable reference.
        let mut v = deep_array(100_000);
        assert!(v.as_array().is_some());
        v = Value::Null;
        assert!(v.is_null());
    });
}

#[test]
fn displaying_deep_values_does_not_overflow() {
    on_small_stack(|| {
        let v = deep_array(100_000);
        let text = v.to_string();
        assert_eq!(text, "[".repeat(100_000) + "null" + &"]".repeat(100_000));
    });
}

#[test]
fn wide_values() {
    let v = Value::Array((0..100_000).map(Value::from).collect());
    assert_eq!(from_value::<Vec<u32>>(v.clone()).unwrap().len(), 100_000);
    assert_eq!(to_value(&v).unwrap(), v);
}
