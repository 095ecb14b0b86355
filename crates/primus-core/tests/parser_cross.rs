//! Cross-implementation tests for the msgpack, ejson and binary parsers.
//!
//! `tests/parsers/corpus.json` lists values; `tests/parsers/reference.json` holds what the
//! npm packages Primus uses (primus-msgpack 1.0.2, ejson 2.2.3, binary-pack 1.0.2) make of
//! them (`TZ=UTC node tests/parsers/gen-reference.mjs`). Here we check that
//!
//! - our encoding equals the reference's byte for byte (or fails where it fails), except
//!   for the documented differences the corpus lists under `differs`;
//! - we decode the reference's bytes to what the reference decodes them to, in our value
//!   model (see `expected`).
//!
//! Our own encodings are kept in `tests/parsers/ours.json`, which the node side
//! (`tests/parsers/cross.test.mjs`) decodes with the npm packages. This test fails when
//! that file is stale; `PRIMUS_UPDATE_FIXTURES=1 cargo test -p primus-core --test
//! parser_cross` rewrites it.

use primus_core::parser::{Binary, Ejson, MsgPack};
use primus_core::{Frame, Map, Parser, Value};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use std::path::PathBuf;

const PARSERS: [&str; 3] = ["msgpack", "ejson", "binary"];
/// Encodings larger than this are recorded as length + checksum (as in spec.mjs).
const BIG: usize = 4096;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/parsers")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn parser(name: &str) -> &'static dyn Parser {
    match name {
        "msgpack" => &MsgPack,
        "ejson" => &Ejson,
        "binary" => &Binary,
        _ => unreachable!(),
    }
}

fn frame(parser: &str, bytes: Vec<u8>) -> Frame {
    if parser == "ejson" {
        Frame::text(String::from_utf8(bytes).unwrap())
    } else {
        Frame::binary(bytes)
    }
}

/// The single `$tag` of a tagged corpus object.
fn tag(v: &Value) -> Option<(&str, &Value)> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    let (k, v) = o.iter().next()?;
    k.starts_with('$').then_some((k.as_str(), v))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn rep(v: &Value) -> (&Value, usize) {
    let a = v.as_array().unwrap();
    (&a[0], a[1].as_u64().unwrap() as usize)
}

/// `{"$nest": [depth, leaf]}`.
fn nest(v: &Value) -> (&Value, usize) {
    let a = v.as_array().unwrap();
    (&a[1], a[0].as_u64().unwrap() as usize)
}

/// A corpus value as serde sees it: tags become bytes, floats, long strings…
struct Spec<'a>(&'a Value);

impl Serialize for Spec<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Some((t, v)) = tag(self.0) {
            match t {
                "$bin" => return s.serialize_bytes(&hex(v.as_str().unwrap())),
                "$binrep" => {
                    let (b, n) = rep(v);
                    return s.serialize_bytes(&vec![b.as_u64().unwrap() as u8; n]);
                }
                "$strrep" => {
                    let (p, n) = rep(v);
                    return s.serialize_str(&p.as_str().unwrap().repeat(n));
                }
                "$arrrep" => {
                    let (item, n) = rep(v);
                    let mut seq = s.serialize_seq(Some(n))?;
                    for _ in 0..n {
                        seq.serialize_element(&Spec(item))?;
                    }
                    return seq.end();
                }
                "$nest" => {
                    let (leaf, n) = nest(v);
                    return Nest(n, leaf).serialize(s);
                }
                "$f64" => {
                    let f = match v.as_str().unwrap() {
                        "-0" => -0.0,
                        "NaN" => f64::NAN,
                        "Infinity" => f64::INFINITY,
                        "-Infinity" => f64::NEG_INFINITY,
                        other => panic!("{other}"),
                    };
                    return s.serialize_f64(f);
                }
                "$u64" => return s.serialize_u64(v.as_str().unwrap().parse().unwrap()),
                "$i64" => return s.serialize_i64(v.as_str().unwrap().parse().unwrap()),
                _ => {}
            }
        }
        match self.0 {
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for item in a {
                    seq.serialize_element(&Spec(item))?;
                }
                seq.end()
            }
            Value::Object(o) => {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o {
                    map.serialize_entry(k, &Spec(v))?;
                }
                map.end()
            }
            other => other.serialize(s),
        }
    }
}

struct Nest<'a>(usize, &'a Value);

impl Serialize for Nest<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == 0 {
            return Spec(self.1).serialize(s);
        }
        let mut seq = s.serialize_seq(Some(1))?;
        seq.serialize_element(&Nest(self.0 - 1, self.1))?;
        seq.end()
    }
}

/// What our decoder should give for a value in corpus notation (also the notation
/// spec.mjs writes the reference's decoded values in), in our value model.
fn expected(spec: &Value, parser: &str) -> Value {
    if let Some((t, v)) = tag(spec) {
        match t {
            "$bin" => return Value::from(hex(v.as_str().unwrap())),
            "$binrep" => {
                let (b, n) = rep(v);
                return Value::from(vec![b.as_u64().unwrap() as u8; n]);
            }
            "$strrep" => {
                let (p, n) = rep(v);
                return Value::from(p.as_str().unwrap().repeat(n));
            }
            "$arrrep" => {
                let (item, n) = rep(v);
                return (0..n).map(|_| expected(item, parser)).collect();
            }
            "$nest" => {
                let (leaf, n) = nest(v);
                let mut out = expected(leaf, parser);
                for _ in 0..n {
                    out = Value::Array(vec![out]);
                }
                return out;
            }
            "$f64" => {
                let sign = match v.as_str().unwrap() {
                    "-0" => return Value::from(0),
                    "NaN" => 0,
                    "Infinity" => 1,
                    _ => -1,
                };
                // A Value number is finite: EJSON keeps the typed object, the binary
                // formats give null.
                return if parser == "ejson" {
                    one("$InfNaN", Value::from(sign))
                } else {
                    Value::Null
                };
            }
            "$u64" => return Value::from(v.as_str().unwrap().parse::<u64>().unwrap()),
            "$i64" => return Value::from(v.as_str().unwrap().parse::<i64>().unwrap()),
            "$undefined" => return Value::Null,
            "$jsdate" => {
                return match parser {
                    "ejson" => one("$date", v.clone()),
                    // msgpack-lite's Date extension: its milliseconds.
                    _ => v.clone(),
                };
            }
            "$jsregexp" => {
                let a = v.as_array().unwrap();
                return match parser {
                    "ejson" => {
                        let mut m = Map::new();
                        m.insert("$regexp".into(), a[0].clone());
                        m.insert("$flags".into(), a[1].clone());
                        Value::Object(m)
                    }
                    _ => v.clone(),
                };
            }
            _ => {}
        }
    }
    match spec {
        Value::Array(a) => a.iter().map(|v| expected(v, parser)).collect(),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| (k.clone(), expected(v, parser)))
            .collect(),
        other => other.clone(),
    }
}

fn one(k: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(k.into(), v);
    Value::Object(m)
}

fn fnv1a32(bytes: &[u8]) -> String {
    let mut h: u32 = 0x811c9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x01000193);
    }
    format!("{h:08x}")
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = u32::from(c[0]) << 16
            | u32::from(*c.get(1).unwrap_or(&0)) << 8
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                B64[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn b64_decode(s: &str) -> Vec<u8> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::new();
    for c in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &ch) in c.iter().enumerate() {
            let v = B64.iter().position(|&b| b == ch).unwrap() as u32;
            n |= v << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..c.len()]);
    }
    out
}

fn note<'a>(entry: &'a Value, field: &str, parser: &str) -> Option<&'a Value> {
    entry.get(field).and_then(|d| d.get(parser))
}

#[test]
fn cross_implementation() {
    let corpus = load("corpus.json");
    let reference = load("reference.json");
    let corpus = corpus.as_array().unwrap();
    let reference = reference.as_array().unwrap();
    assert_eq!(corpus.len(), reference.len(), "regenerate reference.json");

    let mut ours_out = Vec::new();
    let mut failures = Vec::new();
    let (mut byte_equal, mut decoded, mut differs) = (0, 0, 0);
    for (entry, refs) in corpus.iter().zip(reference) {
        let name = entry.get("name").and_then(Value::as_str).unwrap();
        assert_eq!(refs.get("name").and_then(Value::as_str), Some(name));
        let mut ours_entry = Map::new();
        ours_entry.insert("name".into(), Value::from(name));
        for p in PARSERS {
            let Some(r) = refs.get(p) else { continue };
            let fail = |what: String| format!("{name} / {p}: {what}");
            let mut ours_bytes = None;

            // Encoding.
            if let Some(value) = entry.get("value") {
                let ours = parser(p).encode(&Spec(value));
                let mut rec = Map::new();
                match (&ours, r.get("error")) {
                    (Err(e), Some(_)) => {
                        rec.insert("error".into(), Value::from(e.to_string()));
                    }
                    (Err(e), None) => failures.push(fail(format!("we fail to encode: {e}"))),
                    (Ok(f), Some(err)) => failures.push(fail(format!(
                        "the reference fails ({err}), we encode {:?}",
                        f.as_bytes().get(..32)
                    ))),
                    (Ok(f), None) => {
                        let bytes = f.as_bytes();
                        let same = match r.get("encoded").and_then(Value::as_str) {
                            Some(b64) => b64_decode(b64) == bytes,
                            None => {
                                r.get("encoded_len").and_then(Value::as_u64)
                                    == Some(bytes.len() as u64)
                                    && r.get("encoded_fnv1a32").and_then(Value::as_str)
                                        == Some(fnv1a32(bytes).as_str())
                            }
                        };
                        if note(entry, "differs", p).is_some() {
                            differs += 1;
                            if same {
                                failures.push(fail("listed as differing but equal".into()));
                            }
                        } else if same {
                            byte_equal += 1;
                        } else {
                            failures.push(fail(format!(
                                "bytes differ: ours {} reference {}",
                                b64_encode(&bytes[..bytes.len().min(64)]),
                                r.get("encoded").and_then(Value::as_str).unwrap_or("(big)")
                            )));
                        }
                        if bytes.len() > BIG {
                            rec.insert("encoded_len".into(), Value::from(bytes.len() as u64));
                            rec.insert("encoded_fnv1a32".into(), Value::from(fnv1a32(bytes)));
                        } else {
                            rec.insert("encoded".into(), Value::from(b64_encode(bytes)));
                        }
                        ours_bytes = Some(bytes.to_vec());
                    }
                }
                ours_entry.insert(p.into(), Value::Object(rec));
            }

            // Decoding the reference's bytes (or the raw corpus bytes).
            let bytes = if let Some(raw) = note(entry, "raw", p).and_then(Value::as_str) {
                Some(if p == "ejson" {
                    raw.as_bytes().to_vec()
                } else {
                    hex(raw)
                })
            } else if let Some(b64) = r.get("encoded").and_then(Value::as_str) {
                Some(b64_decode(b64))
            } else if r.get("encoded_len").is_some() {
                // Big: equal to ours (checked above).
                ours_bytes.clone()
            } else {
                None
            };
            let Some(bytes) = bytes else { continue };
            let got = parser(p).decode(&frame(p, bytes));
            let want = if let Some(over) = note(entry, "decoded", p) {
                Some(expected(over, p))
            } else if note(entry, "decode_differs", p).is_some() {
                Some(expected(entry.get("value").unwrap(), p))
            } else if let Some(d) = r.get("decoded") {
                Some(expected(d, p))
            } else if r.get("decode_error").is_some() {
                None
            } else {
                // Big entries: the reference decoded them fine; compare with the value.
                Some(expected(entry.get("value").unwrap(), p))
            };
            match (got, want) {
                (Ok(got), Some(want)) if got == want => decoded += 1,
                (Ok(got), Some(want)) => failures.push(fail(format!(
                    "decoded {} want {}",
                    short(&got),
                    short(&want)
                ))),
                (Err(_), None) => decoded += 1,
                (Ok(got), None) => failures.push(fail(format!(
                    "the reference fails to decode ({}), we decode {}",
                    r.get("decode_error").unwrap(),
                    short(&got)
                ))),
                (Err(e), Some(_)) => failures.push(fail(format!("we fail to decode: {e}"))),
            }
        }
        if entry.get("value").is_some() {
            ours_out.push(Value::Object(ours_entry));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "{} entries: {byte_equal} encodings byte-equal, {differs} documented differences, \
         {decoded} decodings equal",
        corpus.len()
    );

    let ours = format!("{}\n", Value::Array(ours_out));
    let path = dir().join("ours.json");
    if std::env::var_os("PRIMUS_UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, ours).unwrap();
    } else {
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == ours,
            "tests/parsers/ours.json is stale: run PRIMUS_UPDATE_FIXTURES=1 cargo test -p \
             primus-core --test parser_cross"
        );
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}
