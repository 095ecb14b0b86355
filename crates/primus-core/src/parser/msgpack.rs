//! The `msgpack` parser: MessagePack exactly as the reference's `primus-msgpack` 1.0.2
//! (msgpack-lite 0.1.26) writes and reads it.

use super::pack::{self, decode_tokens, Cursor, Format, Token, MAX_DECODE_DEPTH, NIL};
use super::{Parser, ParserError};
use crate::{Frame, Map, Number, Value};
use bytes::Bytes;

/// MessagePack, interoperable with `primus-msgpack` (msgpack-lite 0.1.26) in both
/// directions. Binary frames.
///
/// Encoding picks the tags msgpack-lite picks, so the bytes are the reference's:
///
/// - integers in the 32-bit signed range use the smallest of fixint, `uint8/16/32`
///   (non-negative) or `int8/16/32` (negative); every other number is a `float64`, as
///   msgpack-lite writes any double that is not an `int32` (`2^31` → `cb 41e0…`). An
///   integer beyond 2^53 that a double cannot hold exactly is written as `uint64` /
///   `int64` instead, so it stays exact (msgpack-lite reads those as the nearest double);
/// - NaN and ±∞ are `float64` (not `null` as in JSON); `-0.0` is `0`;
/// - strings use fixstr (< 32 bytes), `str8`, `str16`, `str32`; bytes use `bin8` below
///   255 bytes, `bin16` from 255 (msgpack-lite's choice), `bin32`;
/// - objects are maps with string keys (numeric, boolean and char keys are written as
///   JavaScript would print them), enums are externally tagged like in JSON, `()` and
///   `None` are `nil`. Values nested more than 512 levels are refused.
///
/// Decoding follows msgpack-lite: one value is read and trailing bytes are ignored;
/// `bin` and the typed-array/`Buffer` extensions become [`Value::Binary`] (sharing the
/// frame's buffer); 64-bit integers are kept exact; map keys that are not strings are
/// converted the way a JavaScript object converts them (`1` → `"1"`, `nil` → `"null"`,
/// `[1,nil]` → `"1,"`, a map → `"[object Object]"`, binary → its UTF-8 text), and a
/// repeated key keeps its first position and last value. msgpack-lite's extension types
/// become plain values: `Date` (0x0D) its milliseconds, `Boolean`/`String`/`Number`
/// objects their primitive, errors their `{name, message, stack}` map, a `RegExp` its
/// `[source, flags]` array, any other type `{"buffer": <binary>, "type": n}` (the shape
/// of msgpack-lite's `ExtBuffer`).
///
/// NaN and ±∞ decode to [`Value::Null`] (a [`Value`] number is finite). Truncated
/// input, the reserved tag `0xc1`, invalid UTF-8 (msgpack-lite would substitute U+FFFD)
/// and nesting deeper than 512 levels are [`ParserError::Decode`] errors. Lengths are
/// checked against the input before anything is allocated, so a header claiming 4 GiB
/// costs nothing. A text frame is decoded from its bytes.
///
/// ```
/// use primus_core::{parser::MsgPack, Frame, Parser, Value};
/// let frame = MsgPack.encode(&(1, "a", 1.5)).unwrap();
/// assert_eq!(frame, Frame::binary(&b"\x93\x01\xa1a\xcb\x3f\xf8\0\0\0\0\0\0"[..]));
/// assert_eq!(MsgPack.decode(&frame).unwrap().to_string(), r#"[1,"a",1.5]"#);
/// assert!(MsgPack.decode(&Frame::binary(&b"\x92\x01"[..])).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgPack;

impl Parser for MsgPack {
    fn name(&self) -> &str {
        "msgpack"
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Frame, ParserError> {
        pack::encode(Lite, value)
            .map(|out| Frame::Binary(Bytes::from(out)))
            .map_err(ParserError::Encode)
    }

    fn decode(&self, frame: &Frame) -> Result<Value, ParserError> {
        let mut cursor = Cursor::new(frame.bytes());
        read(&mut cursor, 0, 0).map_err(ParserError::Decode)
    }

    fn is_binary(&self) -> bool {
        true
    }
}

/// msgpack-lite's tag choices.
#[derive(Clone, Copy)]
struct Lite;

/// A length that needs no more than 32 bits (msgpack's largest header).
fn len32(len: usize) -> Result<u32, String> {
    u32::try_from(len).map_err(|_| format!("length {len} does not fit in 32 bits"))
}

/// `fix` + len below `fix_max`, else the 16- or 32-bit tag.
fn header(
    out: &mut Vec<u8>,
    len: usize,
    fix: u8,
    fix_max: usize,
    t16: u8,
    t32: u8,
) -> Result<(), String> {
    if len < fix_max {
        out.push(fix + len as u8);
    } else if len <= 0xffff {
        out.push(t16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(t32);
        out.extend_from_slice(&len32(len)?.to_be_bytes());
    }
    Ok(())
}

impl Format for Lite {
    fn int(self, out: &mut Vec<u8>, v: i128) -> Result<(), String> {
        if let Ok(i) = i32::try_from(v) {
            write_int32(out, i);
        } else if (v as f64) as i128 == v {
            // What msgpack-lite does with every double outside the int32 range.
            write_f64(out, v as f64);
        } else if let Ok(i) = i64::try_from(v) {
            out.push(0xd3);
            out.extend_from_slice(&i.to_be_bytes());
        } else if let Ok(u) = u64::try_from(v) {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        } else {
            return Err(format!("number out of range: {v}"));
        }
        Ok(())
    }

    fn float(self, out: &mut Vec<u8>, v: f64) -> Result<(), String> {
        // `value | 0 === value`: an integral double in the int32 range (-0 included).
        if v.fract() == 0.0 && (-2147483648.0..=2147483647.0).contains(&v) {
            write_int32(out, v as i32);
        } else {
            write_f64(out, v);
        }
        Ok(())
    }

    fn str_header(self, out: &mut Vec<u8>, len: usize) -> Result<(), String> {
        if len < 32 {
            out.push(0xa0 + len as u8);
        } else if len <= 0xff {
            out.extend_from_slice(&[0xd9, len as u8]);
        } else {
            header(out, len, 0, 0, 0xda, 0xdb)?;
        }
        Ok(())
    }

    fn bin_header(self, out: &mut Vec<u8>, len: usize) -> Result<(), String> {
        // msgpack-lite: `length < 0xFF` → bin8, so 255 bytes take a bin16 header.
        if len < 0xff {
            out.extend_from_slice(&[0xc4, len as u8]);
            Ok(())
        } else {
            header(out, len, 0, 0, 0xc5, 0xc6)
        }
    }

    fn array_header(self, out: &mut Vec<u8>, len: usize) -> Result<(), String> {
        header(out, len, 0x90, 16, 0xdc, 0xdd)
    }

    fn map_header(self, out: &mut Vec<u8>, len: usize) -> Result<(), String> {
        header(out, len, 0x80, 16, 0xde, 0xdf)
    }
}

fn write_int32(out: &mut Vec<u8>, i: i32) {
    match i {
        -0x20..=0x7f => out.push(i as u8),
        0x80..=0xff => out.extend_from_slice(&[0xcc, i as u8]),
        0x100..=0xffff => {
            out.push(0xcd);
            out.extend_from_slice(&(i as u16).to_be_bytes());
        }
        0x1_0000.. => {
            out.push(0xce);
            out.extend_from_slice(&(i as u32).to_be_bytes());
        }
        -0x80..=-0x21 => out.extend_from_slice(&[0xd0, i as u8]),
        -0x8000..=-0x81 => {
            out.push(0xd1);
            out.extend_from_slice(&(i as i16).to_be_bytes());
        }
        _ => {
            out.push(0xd2);
            out.extend_from_slice(&i.to_be_bytes());
        }
    }
}

fn write_f64(out: &mut Vec<u8>, v: f64) {
    out.push(0xcb);
    out.extend_from_slice(&v.to_be_bytes());
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// A double: a number, or [`Token::NonFinite`].
fn float(v: f64) -> Token {
    if v.is_finite() {
        Token::Value(Value::from(v))
    } else {
        Token::NonFinite(v)
    }
}

/// How many extensions may nest inside one another (each is decoded on its own, with a
/// recursive call).
const MAX_EXT_NESTING: usize = 8;

/// Decode one value; `ext` counts the extensions around it.
fn read(c: &mut Cursor<'_>, depth0: usize, ext: usize) -> Result<Value, String> {
    decode_tokens(c, depth0, |c, depth| token(c, depth, ext))
}

/// Read one token. `depth` counts the containers around it.
fn token(c: &mut Cursor<'_>, depth: usize, ext: usize) -> Result<Token, String> {
    let tag = c.u8()?;
    let v = match tag {
        0x00..=0x7f => Value::from(u64::from(tag)),
        0x80..=0x8f => return Ok(Token::Map(usize::from(tag - 0x80))),
        0x90..=0x9f => return Ok(Token::Array(usize::from(tag - 0x90))),
        0xa0..=0xbf => Value::String(c.string(usize::from(tag - 0xa0))?),
        NIL => Value::Null,
        0xc1 => return Err("Invalid type: 0xc1".into()),
        0xc2 => Value::Bool(false),
        0xc3 => Value::Bool(true),
        0xc4 => {
            let len = c.u8()?;
            Value::Binary(c.take(usize::from(len))?)
        }
        0xc5 => {
            let len = c.u16()?;
            Value::Binary(c.take(usize::from(len))?)
        }
        0xc6 => {
            let len = c.u32()?;
            Value::Binary(c.take(len as usize)?)
        }
        0xc7 => {
            let len = c.u8()?;
            read_ext(c, usize::from(len), depth, ext)?
        }
        0xc8 => {
            let len = c.u16()?;
            read_ext(c, usize::from(len), depth, ext)?
        }
        0xc9 => {
            let len = c.u32()?;
            read_ext(c, len as usize, depth, ext)?
        }
        0xca => return Ok(float(f64::from(f32::from_be_bytes(c.array()?)))),
        0xcb => return Ok(float(f64::from_be_bytes(c.array()?))),
        0xcc => Value::from(u64::from(c.u8()?)),
        0xcd => Value::from(u64::from(c.u16()?)),
        0xce => Value::from(u64::from(c.u32()?)),
        0xcf => Value::from(u64::from_be_bytes(c.array()?)),
        0xd0 => Value::from(i64::from(c.u8()? as i8)),
        0xd1 => Value::from(i64::from(i16::from_be_bytes(c.array()?))),
        0xd2 => Value::from(i64::from(i32::from_be_bytes(c.array()?))),
        0xd3 => Value::from(i64::from_be_bytes(c.array()?)),
        0xd4 => read_ext(c, 1, depth, ext)?,
        0xd5 => read_ext(c, 2, depth, ext)?,
        0xd6 => read_ext(c, 4, depth, ext)?,
        0xd7 => read_ext(c, 8, depth, ext)?,
        0xd8 => read_ext(c, 16, depth, ext)?,
        0xd9 => {
            let len = c.u8()?;
            Value::String(c.string(usize::from(len))?)
        }
        0xda => {
            let len = c.u16()?;
            Value::String(c.string(usize::from(len))?)
        }
        0xdb => {
            let len = c.u32()?;
            Value::String(c.string(len as usize)?)
        }
        0xdc => return Ok(Token::Array(usize::from(c.u16()?))),
        0xdd => return Ok(Token::Array(c.u32()? as usize)),
        0xde => return Ok(Token::Map(usize::from(c.u16()?))),
        0xdf => return Ok(Token::Map(c.u32()? as usize)),
        0xe0..=0xff => Value::from(i64::from(tag as i8)),
    };
    Ok(Token::Value(v))
}

/// An extension value: msgpack-lite's preset types become plain values.
fn read_ext(c: &mut Cursor<'_>, len: usize, depth: usize, ext: usize) -> Result<Value, String> {
    let ext_type = c.u8()?;
    let payload = c.take(len)?;
    Ok(match ext_type {
        // Error types, RegExp, Boolean, String, Date, Number: a MessagePack value inside.
        0x01..=0x06 | 0x0a..=0x0f => {
            if ext >= MAX_EXT_NESTING || depth >= MAX_DECODE_DEPTH {
                return Err(format!(
                    "extension types nested deeper than {MAX_EXT_NESTING} levels"
                ));
            }
            let mut inner = Cursor::new(&payload);
            read(&mut inner, depth + 1, ext + 1)?
        }
        // Typed arrays, ArrayBuffer, Buffer, DataView: their bytes.
        0x11..=0x1b | 0x1d => Value::Binary(payload),
        other => {
            let mut map = Map::with_capacity(2);
            map.insert("buffer".into(), Value::Binary(payload));
            map.insert("type".into(), Value::Number(Number::from(other)));
            Value::Object(map)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(f: &Frame) -> String {
        f.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn numbers_like_msgpack_lite() {
        let cases: &[(f64, &str)] = &[
            (2147483648.0, "cb41e0000000000000"),
            (-2147483649.0, "cbc1e0000000200000"),
            (4294967295.0, "cb41efffffffe00000"),
            (1.5, "cb3ff8000000000000"),
            (-0.0, "00"),
            (f64::NAN, "cb7ff8000000000000"),
            (f64::INFINITY, "cb7ff0000000000000"),
            (9007199254740992.0, "cb4340000000000000"),
        ];
        for (v, want) in cases {
            assert_eq!(hex(&MsgPack.encode(v).unwrap()), *want, "{v}");
        }
        assert_eq!(
            hex(&MsgPack.encode(&2147483648u64).unwrap()),
            "cb41e0000000000000"
        );
        assert_eq!(
            hex(&MsgPack.encode(&(u64::MAX - 1)).unwrap()),
            "cffffffffffffffffe"
        );
        assert_eq!(hex(&MsgPack.encode(&-200).unwrap()), "d1ff38");
        assert_eq!(hex(&MsgPack.encode(&-200i64).unwrap()), "d1ff38");
    }

    #[test]
    fn bin_255_takes_bin16() {
        let f = MsgPack
            .encode(&Value::Binary(Bytes::from(vec![0; 255])))
            .unwrap();
        assert_eq!(&f.as_bytes()[..3], &[0xc5, 0x00, 0xff]);
        let f = MsgPack
            .encode(&Value::Binary(Bytes::from(vec![0; 254])))
            .unwrap();
        assert_eq!(&f.as_bytes()[..2], &[0xc4, 0xfe]);
    }

    #[test]
    fn keys_become_javascript_strings() {
        let frame = Frame::binary(
            &b"\x85\x01\x01\xc0\x02\xc3\x03\x92\x01\xc0\x04\xcb\x3f\xf8\0\0\0\0\0\0\x05"[..],
        );
        assert_eq!(
            MsgPack.decode(&frame).unwrap().to_string(),
            r#"{"1":1,"null":2,"true":3,"1,":4,"1.5":5}"#
        );
    }

    #[test]
    fn unknown_ext_is_an_ext_buffer() {
        let v = MsgPack
            .decode(&Frame::binary(&b"\xd4\x40\x01"[..]))
            .unwrap();
        assert_eq!(v.get("type"), Some(&Value::from(64)));
        assert_eq!(
            v.get("buffer"),
            Some(&Value::Binary(Bytes::from_static(b"\x01")))
        );
        let date = MsgPack
            .decode(&Frame::binary(&b"\xd4\x0d\x00"[..]))
            .unwrap();
        assert_eq!(date, Value::from(0));
    }
}
