//! Hostile input for the msgpack, binary and ejson decoders: every case must be a
//! `ParserError::Decode` (or a value), never a panic, a stack overflow or a huge allocation.

use primus_core::parser::{by_name, Binary, Ejson, MsgPack};
use primus_core::{Frame, Parser, ParserError, Value};
use std::time::Instant;

fn decode_err(p: &dyn Parser, bytes: &[u8]) -> String {
    let frame = if p.is_binary() {
        Frame::binary(bytes.to_vec())
    } else {
        match std::str::from_utf8(bytes) {
            Ok(s) => Frame::text(s),
            Err(_) => Frame::binary(bytes.to_vec()),
        }
    };
    match p.decode(&frame) {
        Err(ParserError::Decode(msg)) => msg,
        other => panic!(
            "{} {bytes:02x?}: expected a decode error, got {other:?}",
            p.name()
        ),
    }
}

#[test]
fn names_are_case_insensitive() {
    for (name, binary) in [
        ("msgpack", true),
        ("MSGPACK", true),
        ("EJson", false),
        ("binary", true),
        ("Binary", true),
    ] {
        let p = by_name(name).unwrap();
        assert_eq!(p.name(), name.to_ascii_lowercase());
        assert_eq!(p.is_binary(), binary);
    }
}

#[test]
fn empty_input() {
    decode_err(&MsgPack, b"");
    decode_err(&Binary, b"");
    decode_err(&Ejson, b"");
}

/// A value exercising every container and scalar kind.
fn sample() -> Value {
    serde_json::from_str::<Value>(
        r#"{"a":[1,-1,200,-200,70000,-70000,5000000000,1.5,null,true,false,"str"],
            "long string more than thirty-two bytes long":{"x":[[],{}]}}"#,
    )
    .map(|mut v| {
        v.as_object_mut()
            .unwrap()
            .insert("bin".into(), Value::from(vec![1u8, 2, 3]));
        v
    })
    .unwrap()
}

#[test]
fn every_truncation_is_an_error() {
    for p in [&MsgPack as &dyn Parser, &Binary] {
        let full = p.encode(&sample()).unwrap();
        let bytes = full.as_bytes();
        assert_eq!(p.decode(&full).unwrap(), sample());
        for cut in 0..bytes.len() {
            decode_err(p, &bytes[..cut]);
        }
    }
    // JSON text: a prefix can be a valid value ("1" of "12"), but never panics.
    let full = Ejson.encode(&sample()).unwrap();
    let text = full.as_str().unwrap();
    for cut in 0..text.len() {
        if text.is_char_boundary(cut) {
            let _ = Ejson.decode(&Frame::text(&text[..cut]));
        }
    }
}

#[test]
fn absurd_lengths_allocate_nothing() {
    let headers: &[(&dyn Parser, &[u8])] = &[
        (&MsgPack, b"\xdd\xff\xff\xff\xff"),     // array32
        (&MsgPack, b"\xdf\xff\xff\xff\xff"),     // map32
        (&MsgPack, b"\xdb\xff\xff\xff\xff"),     // str32
        (&MsgPack, b"\xc6\xff\xff\xff\xff"),     // bin32
        (&MsgPack, b"\xc9\xff\xff\xff\xff\x01"), // ext32
        (&MsgPack, b"\xdc\xff\xff"),             // array16
        (&Binary, b"\xdd\xff\xff\xff\xff"),
        (&Binary, b"\xdf\xff\xff\xff\xff"),
        (&Binary, b"\xd9\xff\xff\xff\xff"), // string32
        (&Binary, b"\xdb\xff\xff\xff\xff"), // raw32
    ];
    let start = Instant::now();
    for _ in 0..1000 {
        for (p, h) in headers {
            // A 4 GiB claim followed by a few real elements.
            let mut bytes = h.to_vec();
            bytes.extend_from_slice(&[0x01; 64]);
            let msg = decode_err(*p, &bytes);
            assert!(
                msg.contains("end of input") || msg.contains("beyond the end"),
                "{msg}"
            );
        }
    }
    // Reserving 4 GiB per frame would take far longer (and likely abort).
    assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
}

fn deep(open: &[u8], leaf: &[u8], levels: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(open.len() * levels + leaf.len());
    for _ in 0..levels {
        v.extend_from_slice(open);
    }
    v.extend_from_slice(leaf);
    v
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // On a small stack, to be sure the limit comes well before the stack does.
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            let n = 100_000;
            for (p, open) in [
                (&MsgPack as &dyn Parser, &b"\x91"[..]), // fixarray of 1
                (&MsgPack, b"\x81\xa1k"),                // fixmap {"k": …}
                (&MsgPack, b"\xdc\x00\x01"),             // array16 of 1
                (&Binary, b"\x91"),
                (&Binary, b"\x81\xb1k"),
            ] {
                let msg = decode_err(p, &deep(open, b"\x01", n));
                assert!(msg.contains("nested"), "{}: {msg}", p.name());
            }
            // Extensions inside extensions (ext32 "Number" objects, each holding the next):
            // every level is decoded on its own, so they have their own limit.
            let mut ext = Vec::with_capacity(6 * n + 1);
            for level in (0..n).rev() {
                ext.push(0xc9);
                ext.extend_from_slice(&(1 + 6 * level as u32).to_be_bytes());
                ext.push(0x0f);
            }
            ext.push(0x01);
            let msg = decode_err(&MsgPack, &ext);
            assert!(msg.contains("extension types nested"), "{msg}");
            let text = format!("{}1{}", "[".repeat(n), "]".repeat(n));
            decode_err(&Ejson, text.as_bytes());
            let text = format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
            decode_err(&Ejson, text.as_bytes());
            // Exactly at the limit is fine.
            let ok = deep(b"\x91", b"\x01", 512);
            assert!(MsgPack.decode(&Frame::binary(ok.clone())).is_ok());
            assert!(Binary.decode(&Frame::binary(ok)).is_ok());
            decode_err(&MsgPack, &deep(b"\x91", b"\x01", 513));
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn deep_values_are_refused_when_encoding() {
    let mut v = Value::Null;
    for _ in 0..600 {
        v = Value::Array(vec![v]);
    }
    for p in [&MsgPack as &dyn Parser, &Binary, &Ejson] {
        assert!(
            matches!(p.encode(&v), Err(ParserError::Encode(_))),
            "{}",
            p.name()
        );
    }
}

#[test]
fn invalid_utf8_is_an_error() {
    decode_err(&MsgPack, b"\xa2\xff\xfe");
    decode_err(&MsgPack, b"\x81\xa2\xc3\x28\x01"); // as a map key
    decode_err(&MsgPack, b"\xd9\x02\xed\xa0"); // truncated surrogate
    decode_err(&Binary, b"\xb2\xff\xfe");
    decode_err(&Binary, b"\x81\xb2\xc3\x28\x01");
    // A binary frame is never text for EJSON.
    let msg = decode_err(&Ejson, b"\"\xff\"");
    assert!(msg.contains("should be a string"), "{msg}");
}

#[test]
fn wrong_types() {
    decode_err(&MsgPack, b"\xc1"); // never used
    decode_err(&MsgPack, b"\x92\x01\xc1");
    for bad in [
        r#"{"$binary":5}"#,
        r#"{"$binary":"!!!!"}"#,
        r#"{"$binary":"A"}"#,
        "NaN",
        "Infinity",
        "[1,]",
        "{'a':1}",
        "1e400",
        r#""\ud800""#,
    ] {
        decode_err(&Ejson, bad.as_bytes());
    }
    // Binary frames for ejson.
    assert!(Ejson.decode(&Frame::binary(&b"1"[..])).is_err());
}

#[test]
fn binary_undefined_tags_are_null_and_consume_one_byte() {
    for tag in [
        0xc1u8, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7,
    ] {
        let v = Binary
            .decode(&Frame::binary(vec![0x92, tag, 0x05]))
            .unwrap();
        assert_eq!(v.to_string(), "[null,5]", "{tag:02x}");
    }
}

#[test]
fn ejson_binary_in_text_frames_with_u2028() {
    let f = Ejson.encode(&"a\u{2028}b").unwrap();
    assert_eq!(f.as_str(), Some(r#""a\u2028b""#));
}
