//! The `json` parser: what it sends is what the reference's `JSON.stringify` (plus the
//! U+2028/U+2029 step) sends, and it decodes like `JSON.parse`.

use bytes::Bytes;
use primus_core::{parser::Json, to_value, Frame, Map, Parser, ParserError, Value};
use serde::Serialize;
use std::collections::BTreeMap;

fn enc<T: Serialize + ?Sized>(v: &T) -> String {
    let frame = Json.encode(&v).unwrap();
    assert!(frame.is_text());
    frame.as_str().unwrap().to_string()
}

fn dec(text: &str) -> Result<Value, ParserError> {
    Json.decode(&Frame::text(text))
}

#[test]
fn line_separator_is_escaped_with_a_literal_backslash() {
    let frame = Json.encode(&"a\u{2028}b").unwrap();
    assert_eq!(frame.as_bytes(), br#""a\u2028b""#);
    assert_eq!(frame.len(), 10);
    assert_eq!(enc(&"a\u{2029}b"), r#""a\u2029b""#);
    // Also in keys, and still valid JSON that decodes back to the original.
    let mut map = Map::new();
    map.insert("k\u{2028}".into(), Value::from("\u{2029}"));
    let text = enc(&Value::Object(map.clone()));
    assert_eq!(text, r#"{"k\u2028":"\u2029"}"#);
    assert_eq!(dec(&text).unwrap(), Value::Object(map));
}

#[test]
fn strings_are_escaped_like_json_stringify() {
    assert_eq!(enc(&"quote\" back\\ slash/"), r#""quote\" back\\ slash/""#);
    assert_eq!(enc(&"\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
    assert_eq!(
        enc(&"\u{0}\u{1}\u{b}\u{1f}"),
        r#""\u0000\u0001\u000b\u001f""#
    );
    // DEL and everything above ASCII is written raw, as UTF-8.
    assert_eq!(enc(&"\u{7f}é€😀"), "\"\u{7f}é€😀\"");
    assert_eq!(enc(&'\n'), r#""\n""#);
}

#[test]
fn scalars_and_structures() {
    assert_eq!(enc(&()), "null");
    assert_eq!(enc(&Option::<u8>::None), "null");
    assert_eq!(enc(&true), "true");
    assert_eq!(enc(&""), r#""""#);
    assert_eq!(enc(&0), "0");
    assert_eq!(enc(&vec![1, 2, 3]), "[1,2,3]");
    assert_eq!(enc(&Vec::<u8>::new()), "[]");
    assert_eq!(enc(&Map::new()), "{}");
    assert_eq!(
        enc(&BTreeMap::from([(2, "b"), (1, "a")])),
        r#"{"1":"a","2":"b"}"#
    );
}

#[test]
fn key_order_is_preserved() {
    let v = dec(r#"{"z":1,"a":2,"m":{"y":3,"b":4}}"#).unwrap();
    assert_eq!(enc(&v), r#"{"z":1,"a":2,"m":{"y":3,"b":4}}"#);

    #[derive(Serialize)]
    struct S {
        zeta: u8,
        alpha: u8,
    }
    assert_eq!(enc(&S { zeta: 1, alpha: 2 }), r#"{"zeta":1,"alpha":2}"#);
}

#[test]
fn enums_are_externally_tagged() {
    #[derive(Serialize)]
    enum E {
        Unit,
        New(f64),
        Tuple(u8, u8),
        Struct { a: u8 },
    }
    assert_eq!(enc(&E::Unit), r#""Unit""#);
    assert_eq!(enc(&E::New(2.0)), r#"{"New":2}"#);
    assert_eq!(enc(&E::Tuple(1, 2)), r#"{"Tuple":[1,2]}"#);
    assert_eq!(enc(&E::Struct { a: 1 }), r#"{"Struct":{"a":1}}"#);
}

#[test]
fn binary_values_encode_as_arrays_of_numbers() {
    assert_eq!(
        enc(&Value::Binary(Bytes::from_static(&[1, 2, 255]))),
        "[1,2,255]"
    );
    assert_eq!(enc(&Value::Binary(Bytes::new())), "[]");
}

#[test]
fn encode_errors_are_reported() {
    let mut bad = BTreeMap::new();
    bad.insert(vec![1], 1);
    match Json.encode(&bad) {
        Err(ParserError::Encode(msg)) => assert!(msg.contains("key must be a string"), "{msg}"),
        other => panic!("{other:?}"),
    }

    struct Fails;
    impl Serialize for Fails {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("nope"))
        }
    }
    match Json.encode(&vec![Fails]) {
        Err(e @ ParserError::Encode(_)) => {
            assert_eq!(e.to_string(), "Failed to encode outgoing data: nope")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn encoding_a_deep_value_is_an_error_not_a_crash() {
    let mut v = Value::Null;
    for _ in 0..100_000 {
        v = Value::Array(vec![v]);
    }
    assert!(matches!(Json.encode(&v), Err(ParserError::Encode(_))));
}

#[test]
fn decodes_top_level_scalars_like_json_parse() {
    assert_eq!(dec("0").unwrap(), Value::from(0));
    assert_eq!(dec(r#""""#).unwrap(), Value::from(""));
    assert_eq!(dec("null").unwrap(), Value::Null);
    assert_eq!(dec(" true ").unwrap(), Value::from(true));
    assert_eq!(dec("-1.5e3").unwrap(), Value::from(-1500));
    assert_eq!(dec(r#""\u2028""#).unwrap(), Value::from("\u{2028}"));
}

#[test]
fn decode_numbers() {
    assert_eq!(
        dec("18446744073709551615").unwrap().as_u64(),
        Some(u64::MAX)
    );
    assert_eq!(
        dec("-9223372036854775808").unwrap().as_i64(),
        Some(i64::MIN)
    );
    // Beyond 64 bits: a double, as in JavaScript.
    assert_eq!(
        dec("123456789012345678901234").unwrap().as_f64(),
        Some(1.2345678901234568e23)
    );
    // JSON.parse gives Infinity here; a Value cannot hold it, so this is an error.
    assert!(matches!(dec("1e400"), Err(ParserError::Decode(_))));
    assert_eq!(enc(&dec("1.0").unwrap()), "1");
    assert_eq!(enc(&dec("-0").unwrap()), "0");
    // Exact: JSON.parse is correctly rounded.
    assert_eq!(
        dec("7.341773766165532e141").unwrap().as_f64(),
        Some(7.341773766165532e141)
    );
}

#[test]
fn decode_errors() {
    for bad in [
        "",
        " ",
        "{",
        "[1,]",
        "'x'",
        "undefined",
        "NaN",
        "1 2",
        "{a:1}",
        "\u{feff}1",
    ] {
        match dec(bad) {
            Err(ParserError::Decode(msg)) => assert!(!msg.is_empty()),
            other => panic!("{bad:?} decoded to {other:?}"),
        }
    }
    let err = dec("").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Failed to decode incoming data: EOF while parsing a value at line 1 column 0"
    );
}

#[test]
fn deeply_nested_text_is_a_decode_error_not_a_crash() {
    let text = "[".repeat(100_000) + &"]".repeat(100_000);
    match dec(&text) {
        Err(ParserError::Decode(msg)) => assert!(msg.contains("recursion limit"), "{msg}"),
        other => panic!("{other:?}"),
    }
    let objects = r#"{"a":"#.repeat(100_000);
    assert!(matches!(dec(&objects), Err(ParserError::Decode(_))));
    // serde_json's limit: 127 levels are fine, 128 are not.
    let nested = |n: usize| "[".repeat(n) + &"]".repeat(n);
    assert!(dec(&nested(127)).is_ok());
    assert!(matches!(dec(&nested(128)), Err(ParserError::Decode(_))));
}

#[test]
fn binary_frames_pass_through() {
    let frame = Frame::binary(vec![0u8, 159, 146, 150]);
    assert_eq!(
        Json.decode(&frame).unwrap(),
        Value::Binary(Bytes::from_static(&[0, 159, 146, 150]))
    );
    // Not even checked for JSON: the reference hands the Buffer on as is.
    assert_eq!(
        Json.decode(&Frame::binary(b"not json".to_vec()))
            .unwrap()
            .as_bytes()
            .unwrap(),
        &b"not json"[..]
    );
}

#[test]
fn duplicate_keys_keep_first_position_and_last_value() {
    let v = dec(r#"{"a":1,"b":2,"a":3}"#).unwrap();
    assert_eq!(enc(&v), r#"{"a":3,"b":2}"#);
}

#[test]
fn protocol_messages_round_trip() {
    let ping = primus_core::protocol::ping(1_700_000_000_000);
    let frame = Json.encode(&ping).unwrap();
    assert_eq!(frame.as_str(), Some(r#""primus::ping::1700000000000""#));
    assert_eq!(Json.decode(&frame).unwrap().as_str(), Some(ping.as_str()));
}

#[test]
fn display_matches_the_encoder() {
    let v = dec(
        r#"{"s":"\u2028\"\n\u0001é","n":[1,1.5,1e21,-0.0,1e-7],"o":{},"a":[],"t":true,"z":null}"#,
    )
    .unwrap();
    assert_eq!(v.to_string(), enc(&v));
    assert_eq!(
        v.to_string(),
        r#"{"s":"\u2028\"\n\u0001é","n":[1,1.5,1e+21,0,1e-7],"o":{},"a":[],"t":true,"z":null}"#
    );
    let v = to_value(&(1u8, Bytes::from_static(b"\x01\x02"), "x")).unwrap();
    assert_eq!(v.to_string(), enc(&v));
}
