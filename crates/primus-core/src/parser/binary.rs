//! The `binary` parser: the BinaryPack format (PeerJS's MessagePack dialect, **not**
//! MessagePack) exactly as the reference's `binary-pack` 1.0.2 (`binarypack` 0.0.4)
//! writes and reads it.

use super::pack::{self, decode_tokens, Cursor, Format, Token, NIL};
use super::{Parser, ParserError};
use crate::{Frame, Value};
use bytes::Bytes;

/// BinaryPack, interoperable with `binary-pack` 1.0.2. Binary frames.
///
/// BinaryPack looks like early MessagePack but is its own format: strings have their own
/// tags (`0xb0`–`0xbf`, `0xd8`, `0xd9`) and `0xa0`–`0xaf`, `0xda`, `0xdb` are raw bytes.
/// Encoding writes what `BinaryPack.pack` writes, quirks included:
///
/// - every integral number, whatever its Rust type (`3.0` too), is an integer: fixint,
///   `uint8/16/32`, `int8/16/32`, then `int64` (`0xd3`) up to 2^63, where the
///   reference writes 2^63 itself as the bits of -2^63;
/// - integers above 2^63 (and `1e21`), ±∞ and 128-bit values the reference cannot
///   write are refused with [`ParserError::Encode`] (`Invalid integer`), as
///   `BinaryPack.pack` throws; so is empty binary (`Invalid length`: the reference
///   takes the length of an empty buffer for `undefined`);
/// - other doubles and NaN are `float64`; `-0.0` is `0`;
/// - objects are maps with string keys (numeric, boolean and char keys are written as
///   JavaScript prints them), enums are externally tagged, `()` / `None` are `nil`.
///   Values nested more than 512 levels are refused.
///
/// Decoding reads everything `BinaryPack.unpack` reads, the same way: one value, trailing
/// bytes ignored; the tags it answers with `undefined` (`0xc1`, `0xc4`–`0xc9`,
/// `0xd4`–`0xd7`, which consume no further bytes) decode to [`Value::Null`]; raw bytes
/// become [`Value::Binary`] sharing the frame's buffer; non-string map keys are converted
/// the way a JavaScript object converts them (`1` → `"1"`, `nil` → `"null"`, `undefined`
/// → `"undefined"`, `[1,nil]` → `"1,"`, binary → its UTF-8 text). Two differences, both
/// where the reference is broken: `int64` is read (the reference overflows its stack on
/// it, so a Node peer cannot read integers beyond 32 bits that either side writes) and
/// `uint64` is read exactly (the reference reads NaN).
///
/// NaN and ±∞ decode to [`Value::Null`]. Truncated input, invalid UTF-8 (the reference
/// would substitute U+FFFD) and nesting deeper than 512 levels are [`ParserError::Decode`]
/// errors; lengths are checked against the input before anything is allocated.
///
/// ```
/// use primus_core::{parser::Binary, Frame, Parser, Value};
/// let frame = Binary.encode(&("a", 200, 1.0)).unwrap();
/// assert_eq!(frame, Frame::binary(&b"\x93\xb1a\xcc\xc8\x01"[..]));
/// assert_eq!(Binary.decode(&frame).unwrap().to_string(), r#"["a",200,1]"#);
/// assert!(Binary.encode(&1e21).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Binary;

impl Parser for Binary {
    fn name(&self) -> &str {
        "binary"
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Frame, ParserError> {
        pack::encode(BinaryPack, value)
            .map(|out| Frame::Binary(Bytes::from(out)))
            .map_err(ParserError::Encode)
    }

    fn decode(&self, frame: &Frame) -> Result<Value, ParserError> {
        let mut cursor = Cursor::new(frame.bytes());
        decode_tokens(&mut cursor, 0, |c, _| token(c)).map_err(ParserError::Decode)
    }

    fn is_binary(&self) -> bool {
        true
    }
}

/// binarypack 0.0.4's tag choices.
#[derive(Clone, Copy)]
struct BinaryPack;

const INVALID_INTEGER: &str = "Invalid integer";

/// `fix` + len up to 15, else the 16- or 32-bit tag; longer is `Invalid length`.
fn header(out: &mut Vec<u8>, len: usize, fix: u8, t16: u8, t32: u8) -> Result<(), String> {
    if len <= 0x0f {
        out.push(fix + len as u8);
    } else if len <= 0xffff {
        out.push(t16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        let len = u32::try_from(len).map_err(|_| "Invalid length".to_string())?;
        out.push(t32);
        out.extend_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

impl Format for BinaryPack {
    fn int(self, out: &mut Vec<u8>, v: i128) -> Result<(), String> {
        // `Packer.prototype.pack_integer`'s ranges, in its order.
        match v {
            -0x20..=0x7f => out.push(v as u8),
            0x80..=0xff => out.extend_from_slice(&[0xcc, v as u8]),
            -0x80..=-0x21 => out.extend_from_slice(&[0xd0, v as u8]),
            0x100..=0xffff => {
                out.push(0xcd);
                out.extend_from_slice(&(v as u16).to_be_bytes());
            }
            -0x8000..=-0x81 => {
                out.push(0xd1);
                out.extend_from_slice(&(v as i16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(0xce);
                out.extend_from_slice(&(v as u32).to_be_bytes());
            }
            -0x8000_0000..=-0x8001 => {
                out.push(0xd2);
                out.extend_from_slice(&(v as i32).to_be_bytes());
            }
            // The reference's upper bound is the double 0x7FFFFFFFFFFFFFFF, i.e. 2^63,
            // which its pack_int64 writes as 80 00 00 00 00 00 00 00.
            -0x8000_0000_0000_0000..=0x8000_0000_0000_0000 => {
                out.push(0xd3);
                out.extend_from_slice(&(v as u64).to_be_bytes());
            }
            _ => return Err(INVALID_INTEGER.into()),
        }
        Ok(())
    }

    fn float(self, out: &mut Vec<u8>, v: f64) -> Result<(), String> {
        // `Math.floor(value) === value` sends integral doubles (and ±∞) to pack_integer.
        if v.floor() == v {
            if !v.is_finite() {
                return Err(INVALID_INTEGER.into());
            }
            // `as` saturates far beyond the int64 range, which `int` refuses.
            self.int(out, v as i128)
        } else {
            out.push(0xcb);
            out.extend_from_slice(&v.to_be_bytes());
            Ok(())
        }
    }

    fn str_header(self, out: &mut Vec<u8>, len: usize) -> Result<(), String> {
        header(out, len, 0xb0, 0xd8, 0xd9)
    }

    fn bin_header(self, out: &mut Vec<u8>, len: usize) -> Result<(), String> {
        // pack_bin takes `blob.length || blob.byteLength || blob.size`: undefined for an
        // empty buffer, which then fails every range check.
        if len == 0 {
            return Err("Invalid length".into());
        }
        header(out, len, 0xa0, 0xda, 0xdb)
    }

    fn array_header(self, out: &mut Vec<u8>, len: usize) -> Result<(), String> {
        header(out, len, 0x90, 0xdc, 0xdd)
    }

    fn map_header(self, out: &mut Vec<u8>, len: usize) -> Result<(), String> {
        header(out, len, 0x80, 0xde, 0xdf)
    }
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// Tags `BinaryPack.unpack` answers with `undefined`, reading nothing more.
fn is_undefined(tag: u8) -> bool {
    matches!(tag, 0xc1 | 0xc4..=0xc9 | 0xd4..=0xd7)
}

/// Read one token.
fn token(c: &mut Cursor<'_>) -> Result<Token, String> {
    let tag = c.u8()?;
    let v = match tag {
        0x00..=0x7f => Value::from(u64::from(tag)),
        0xe0..=0xff => Value::from(i64::from(tag as i8)),
        0xa0..=0xaf => Value::Binary(c.take(usize::from(tag - 0xa0))?),
        0xb0..=0xbf => Value::String(c.string(usize::from(tag - 0xb0))?),
        0x90..=0x9f => return Ok(Token::Array(usize::from(tag - 0x90))),
        0x80..=0x8f => return Ok(Token::Map(usize::from(tag - 0x80))),
        NIL => Value::Null,
        0xc2 => Value::Bool(false),
        0xc3 => Value::Bool(true),
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
        0xd8 => {
            let len = c.u16()?;
            Value::String(c.string(usize::from(len))?)
        }
        0xd9 => {
            let len = c.u32()?;
            Value::String(c.string(len as usize)?)
        }
        0xda => {
            let len = c.u16()?;
            Value::Binary(c.take(usize::from(len))?)
        }
        0xdb => {
            let len = c.u32()?;
            Value::Binary(c.take(len as usize)?)
        }
        0xdc => return Ok(Token::Array(usize::from(c.u16()?))),
        0xdd => return Ok(Token::Array(c.u32()? as usize)),
        0xde => return Ok(Token::Map(usize::from(c.u16()?))),
        0xdf => return Ok(Token::Map(c.u32()? as usize)),
        // 0xc1, 0xc4–0xc9, 0xd4–0xd7: `undefined`.
        _ => {
            debug_assert!(is_undefined(tag));
            return Ok(Token::Undefined);
        }
    };
    Ok(Token::Value(v))
}

/// A double: a number, or [`Token::NonFinite`].
fn float(v: f64) -> Token {
    if v.is_finite() {
        Token::Value(Value::from(v))
    } else {
        Token::NonFinite(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(f: &Frame) -> String {
        f.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn integers_like_binarypack() {
        // What node prints for BinaryPack.pack(x) with binary-pack 1.0.2.
        let cases: &[(f64, &str)] = &[
            (0.0, "00"),
            (-1.0, "ff"),
            (-32.0, "e0"),
            (-33.0, "d0df"),
            (127.0, "7f"),
            (128.0, "cc80"),
            (255.0, "ccff"),
            (256.0, "cd0100"),
            (-128.0, "d080"),
            (-129.0, "d1ff7f"),
            (65535.0, "cdffff"),
            (65536.0, "ce00010000"),
            (-32768.0, "d18000"),
            (-32769.0, "d2ffff7fff"),
            (4294967295.0, "ceffffffff"),
            (4294967296.0, "d30000000100000000"),
            (-2147483648.0, "d280000000"),
            (-2147483649.0, "d3ffffffff7fffffff"),
            (9007199254740992.0, "d30020000000000000"),
            (-9007199254740992.0, "d3ffe0000000000000"),
            (9223372036854775808.0, "d38000000000000000"),
            (1.5, "cb3ff8000000000000"),
            (f64::NAN, "cb7ff8000000000000"),
            (-0.0, "00"),
        ];
        for (v, want) in cases {
            assert_eq!(hex(&Binary.encode(v).unwrap()), *want, "{v}");
            if v.is_finite() && v.fract() == 0.0 && v.abs() < 9e18 {
                assert_eq!(hex(&Binary.encode(&(*v as i64)).unwrap()), *want, "{v}");
            }
        }
        for bad in [
            1e21,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.5 * 9223372036854775808.0,
        ] {
            let err = Binary.encode(&bad).unwrap_err();
            assert!(err.to_string().contains("Invalid integer"), "{bad}: {err}");
        }
        assert!(Binary.encode(&u64::MAX).is_err());
    }

    #[test]
    fn undefined_tags_read_nothing() {
        let v = Binary
            .decode(&Frame::binary(&b"\x93\xc4\xd5\x01"[..]))
            .unwrap();
        assert_eq!(v.to_string(), "[null,null,1]");
        let v = Binary
            .decode(&Frame::binary(
                &b"\x85\x01\x01\xc0\x02\xc3\x03\x92\x01\xc0\x04\xc1\x05"[..],
            ))
            .unwrap();
        assert_eq!(
            v.to_string(),
            r#"{"1":1,"null":2,"true":3,"1,":4,"undefined":5}"#
        );
    }
}
