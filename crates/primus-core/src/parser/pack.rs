//! What the two MessagePack-like formats share: `msgpack` (msgpack-lite) and `binary`
//! (BinaryPack). Both lay values out as a tag byte, a big-endian length or number, then
//! the contents; they differ only in which tag they pick for which value.
//!
//! - [`PackSerializer`] writes any serde value straight into a byte buffer (no
//!   intermediate [`Value`]), asking a [`Format`] for every tag;
//! - [`Cursor`] reads a frame with bounds checks, and hands out zero-copy slices of it;
//! - [`js_key`] turns a decoded non-string map key into the string JavaScript would use
//!   (`obj[key] = value` stringifies the key).

use crate::value::JsNumber;
use crate::{Map, Value};
use bytes::Bytes;
use serde::ser::{self, Serialize};
use std::fmt;

/// How deep an outgoing message may nest before encoding fails (instead of overflowing
/// the stack), the same limit as the JSON parser's.
pub(super) const MAX_ENCODE_DEPTH: usize = 512;

/// How deep an incoming message may nest before decoding fails. Decoding is iterative
/// (no recursion per level), so this bounds work and memory, not stack use; anything we
/// encode can be decoded.
pub(super) const MAX_DECODE_DEPTH: usize = 512;

/// Initial output buffer: most messages (protocol pings, small objects) fit.
const INITIAL_CAPACITY: usize = 64;

/// The tag choices of one format. Every method appends to `out`; errors are the
/// reference encoder's refusals (`Invalid integer`, `Invalid length`).
pub(super) trait Format: Copy {
    /// An integer (any Rust integer type; JavaScript would hold it in a double).
    fn int(self, out: &mut Vec<u8>, v: i128) -> Result<(), String>;
    /// A double.
    fn float(self, out: &mut Vec<u8>, v: f64) -> Result<(), String>;
    /// A string header for `len` UTF-8 bytes.
    fn str_header(self, out: &mut Vec<u8>, len: usize) -> Result<(), String>;
    /// A binary header for `len` bytes.
    fn bin_header(self, out: &mut Vec<u8>, len: usize) -> Result<(), String>;
    /// An array header for `len` elements.
    fn array_header(self, out: &mut Vec<u8>, len: usize) -> Result<(), String>;
    /// A map header for `len` entries.
    fn map_header(self, out: &mut Vec<u8>, len: usize) -> Result<(), String>;
}

/// `nil`, the same byte in both formats (`null`, `undefined`, `()` and `None`).
pub(super) const NIL: u8 = 0xc0;
/// `false`.
pub(super) const FALSE: u8 = 0xc2;
/// `true`.
pub(super) const TRUE: u8 = 0xc3;

/// Encode `value` with format `f`.
pub(super) fn encode<F: Format>(
    f: F,
    value: &dyn erased_serde::Serialize,
) -> Result<Vec<u8>, String> {
    let mut ser = PackSerializer {
        f,
        out: Vec::with_capacity(INITIAL_CAPACITY),
        depth: 0,
    };
    erased_serde::serialize(value, &mut ser).map_err(|e| e.to_string())?;
    Ok(ser.out)
}

/// `f32` → `f64` through its shortest decimal digits, so `0.1f32` becomes `0.1` (what
/// a JavaScript peer would have written).
pub(super) fn f32_to_f64(v: f32) -> f64 {
    if !v.is_finite() || v.fract() == 0.0 {
        return f64::from(v);
    }
    zmij::Buffer::new()
        .format_finite(v)
        .parse()
        .unwrap_or(f64::from(v))
}

/// An encoding error (serde needs its own error type).
#[derive(Debug)]
pub(super) struct PackError(String);

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PackError {}

impl ser::Error for PackError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PackError(msg.to_string())
    }
}

impl From<String> for PackError {
    fn from(s: String) -> Self {
        PackError(s)
    }
}

/// Writes serde values with the tags of format `F`.
pub(super) struct PackSerializer<F> {
    f: F,
    out: Vec<u8>,
    depth: usize,
}

impl<F: Format> PackSerializer<F> {
    fn enter(&mut self) -> Result<(), PackError> {
        if self.depth >= MAX_ENCODE_DEPTH {
            return Err(PackError(format!(
                "value nested deeper than {MAX_ENCODE_DEPTH} levels"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn str(&mut self, s: &str) -> Result<(), PackError> {
        self.f.str_header(&mut self.out, s.len())?;
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }

    /// Open a container whose length serde announced (or not): write the header for
    /// that length now, and remember where it is so [`Compound::close`] can fix it.
    /// `variant`: [`Self::variant_key`] opened a map around it.
    fn open(
        &mut self,
        map: bool,
        len: Option<usize>,
        variant: bool,
    ) -> Result<Compound<'_, F>, PackError> {
        self.enter()?;
        let start = self.out.len();
        let announced = len.unwrap_or(0);
        if map {
            self.f.map_header(&mut self.out, announced)?;
        } else {
            self.f.array_header(&mut self.out, announced)?;
        }
        Ok(Compound {
            ser: self,
            map,
            variant,
            start,
            announced,
            count: 0,
        })
    }

    /// `{variant: …}` around an enum variant's contents.
    fn variant_key(&mut self, variant: &str) -> Result<(), PackError> {
        self.enter()?;
        self.f.map_header(&mut self.out, 1)?;
        self.str(variant)
    }
}

/// An array or map being written.
pub(super) struct Compound<'a, F: Format> {
    ser: &'a mut PackSerializer<F>,
    map: bool,
    /// Whether a `{variant: …}` map was opened around this container.
    variant: bool,
    /// Where the header starts.
    start: usize,
    /// The length written in the header.
    announced: usize,
    count: usize,
}

impl<F: Format> Compound<'_, F> {
    /// Finish the container; when serde's length was missing or wrong, rewrite the
    /// header with the real count (rare: `#[serde(flatten)]`, iterators without a size).
    fn close(self) -> Result<(), PackError> {
        let ser = self.ser;
        ser.depth -= 1 + usize::from(self.variant);
        if self.count != self.announced {
            let mut header = Vec::with_capacity(5);
            let mut old = Vec::with_capacity(5);
            if self.map {
                ser.f.map_header(&mut header, self.count)?;
                ser.f.map_header(&mut old, self.announced)?;
            } else {
                ser.f.array_header(&mut header, self.count)?;
                ser.f.array_header(&mut old, self.announced)?;
            }
            ser.out.splice(self.start..self.start + old.len(), header);
        }
        Ok(())
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), PackError> {
        let key = key.serialize(KeySerializer)?;
        self.ser.str(&key)?;
        self.count += 1;
        Ok(())
    }
}

/// Map keys become strings, as in a JavaScript object: numbers as JavaScript prints
/// them, booleans as `true`/`false`, unit variants by name.
struct KeySerializer;

macro_rules! key_int {
    ($($m:ident: $t:ty),*) => {$(
        fn $m(self, v: $t) -> Result<String, PackError> {
            Ok(v.to_string())
        }
    )*};
}

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = PackError;
    type SerializeSeq = ser::Impossible<String, PackError>;
    type SerializeTuple = ser::Impossible<String, PackError>;
    type SerializeTupleStruct = ser::Impossible<String, PackError>;
    type SerializeTupleVariant = ser::Impossible<String, PackError>;
    type SerializeMap = ser::Impossible<String, PackError>;
    type SerializeStruct = ser::Impossible<String, PackError>;
    type SerializeStructVariant = ser::Impossible<String, PackError>;

    key_int!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128, serialize_char: char);

    fn serialize_bool(self, v: bool) -> Result<String, PackError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, v: f32) -> Result<String, PackError> {
        Ok(js_number_key(f32_to_f64(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<String, PackError> {
        Ok(js_number_key(v))
    }
    fn serialize_str(self, v: &str) -> Result<String, PackError> {
        Ok(v.to_string())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, PackError> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<String, PackError> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, PackError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, PackError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, PackError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, PackError> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, PackError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, PackError> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, PackError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, PackError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, PackError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, PackError> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, PackError> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, PackError> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, PackError> {
        Err(key_must_be_a_string())
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<String, PackError> {
        Ok(value.to_string())
    }
}

fn key_must_be_a_string() -> PackError {
    PackError("map key must be a string, a number, a boolean or a char".into())
}

/// `String(number)` in JavaScript.
pub(super) fn js_number_key(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        JsNumber::new().format_f64(v).to_string()
    }
}

impl<'a, F: Format> ser::Serializer for &'a mut PackSerializer<F> {
    type Ok = ();
    type Error = PackError;
    type SerializeSeq = Compound<'a, F>;
    type SerializeTuple = Compound<'a, F>;
    type SerializeTupleStruct = Compound<'a, F>;
    type SerializeTupleVariant = Compound<'a, F>;
    type SerializeMap = Compound<'a, F>;
    type SerializeStruct = Compound<'a, F>;
    type SerializeStructVariant = Compound<'a, F>;

    fn serialize_bool(self, v: bool) -> Result<(), PackError> {
        self.out.push(if v { TRUE } else { FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), PackError> {
        Ok(self.f.int(&mut self.out, v.into())?)
    }
    fn serialize_i16(self, v: i16) -> Result<(), PackError> {
        Ok(self.f.int(&mut self.out, v.into())?)
    }
    fn serialize_i32(self, v: i32) -> Result<(), PackError> {
        Ok(self.f.int(&mut self.out, v.into())?)
    }
    fn serialize_i64(self, v: i64) -> Result<(), PackError> {
        Ok(self.f.int(&mut self.out, v.into())?)
    }
    fn serialize_i128(self, v: i128) -> Result<(), PackError> {
        Ok(self.f.int(&mut self.out, v)?)
    }
    fn serialize_u8(self, v: u8) -> Result<(), PackError> {
        Ok(self.f.int(&mut self.out, v.into())?)
    }
    fn serialize_u16(self, v: u16) -> Result<(), PackError> {
        Ok(self.f.int(&mut self.out, v.into())?)
    }
    fn serialize_u32(self, v: u32) -> Result<(), PackError> {
        Ok(self.f.int(&mut self.out, v.into())?)
    }
    fn serialize_u64(self, v: u64) -> Result<(), PackError> {
        Ok(self.f.int(&mut self.out, v.into())?)
    }
    fn serialize_u128(self, v: u128) -> Result<(), PackError> {
        let v = i128::try_from(v).map_err(|_| PackError(format!("number out of range: {v}")))?;
        Ok(self.f.int(&mut self.out, v)?)
    }
    fn serialize_f32(self, v: f32) -> Result<(), PackError> {
        Ok(self.f.float(&mut self.out, f32_to_f64(v))?)
    }
    fn serialize_f64(self, v: f64) -> Result<(), PackError> {
        Ok(self.f.float(&mut self.out, v)?)
    }
    fn serialize_char(self, v: char) -> Result<(), PackError> {
        self.str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), PackError> {
        self.str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), PackError> {
        self.f.bin_header(&mut self.out, v.len())?;
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), PackError> {
        self.out.push(NIL);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), PackError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), PackError> {
        self.out.push(NIL);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), PackError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), PackError> {
        self.str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), PackError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), PackError> {
        self.variant_key(variant)?;
        value.serialize(&mut *self)?;
        self.depth -= 1;
        Ok(())
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a, F>, PackError> {
        self.open(false, len, false)
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, F>, PackError> {
        self.open(false, Some(len), false)
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, F>, PackError> {
        self.open(false, Some(len), false)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a, F>, PackError> {
        self.variant_key(variant)?;
        self.open(false, Some(len), true)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a, F>, PackError> {
        self.open(true, len, false)
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, F>, PackError> {
        self.open(true, Some(len), false)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a, F>, PackError> {
        self.variant_key(variant)?;
        self.open(true, Some(len), true)
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), PackError> {
        self.str(&value.to_string())
    }
}

impl<F: Format> ser::SerializeSeq for Compound<'_, F> {
    type Ok = ();
    type Error = PackError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PackError> {
        self.count += 1;
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), PackError> {
        self.close()
    }
}

impl<F: Format> ser::SerializeTuple for Compound<'_, F> {
    type Ok = ();
    type Error = PackError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PackError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), PackError> {
        self.close()
    }
}

impl<F: Format> ser::SerializeTupleStruct for Compound<'_, F> {
    type Ok = ();
    type Error = PackError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PackError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), PackError> {
        self.close()
    }
}

impl<F: Format> ser::SerializeTupleVariant for Compound<'_, F> {
    type Ok = ();
    type Error = PackError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PackError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), PackError> {
        self.close()
    }
}

impl<F: Format> ser::SerializeMap for Compound<'_, F> {
    type Ok = ();
    type Error = PackError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), PackError> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PackError> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), PackError> {
        self.close()
    }
}

impl<F: Format> ser::SerializeStruct for Compound<'_, F> {
    type Ok = ();
    type Error = PackError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), PackError> {
        self.key(key)?;
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), PackError> {
        self.close()
    }
}

impl<F: Format> ser::SerializeStructVariant for Compound<'_, F> {
    type Ok = ();
    type Error = PackError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), PackError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), PackError> {
        self.close()
    }
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// Reads a frame front to back. Every read is bounds checked; slices share the frame's
/// buffer (no copy).
#[derive(Debug)]
pub(super) struct Cursor<'a> {
    bytes: &'a Bytes,
    pos: usize,
}

/// The input ended before the value did.
pub(super) fn truncated() -> String {
    "unexpected end of input".into()
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub(super) fn new(bytes: &'a Bytes) -> Self {
        Cursor { bytes, pos: 0 }
    }

    /// Bytes left to read.
    pub(super) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// One byte.
    pub(super) fn u8(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.pos).ok_or_else(truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// `N` bytes.
    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let end = self.pos.checked_add(N).ok_or_else(truncated)?;
        let a: [u8; N] = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(truncated)?
            .try_into()
            .map_err(|_| truncated())?;
        self.pos = end;
        Ok(a)
    }

    /// A big-endian `u16`.
    pub(super) fn u16(&mut self) -> Result<u16, String> {
        self.array().map(u16::from_be_bytes)
    }

    /// A big-endian `u32`.
    pub(super) fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_be_bytes)
    }

    /// `len` bytes as a shared slice of the frame. A length beyond the end of the input
    /// is an error before anything is allocated.
    pub(super) fn take(&mut self, len: usize) -> Result<Bytes, String> {
        if len > self.remaining() {
            return Err(format!(
                "length {len} is beyond the end of the input ({} bytes left)",
                self.remaining()
            ));
        }
        let b = self.bytes.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(b)
    }

    /// `len` bytes of UTF-8.
    pub(super) fn string(&mut self, len: usize) -> Result<String, String> {
        let b = self.take(len)?;
        String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8 in a string".into())
    }
}

/// One step of a decoder: a whole scalar, or the header of a container whose items follow.
#[derive(Debug)]
pub(super) enum Token {
    /// A complete value.
    Value(Value),
    /// NaN or ±∞: `null` as a value (a [`Value`] number is finite), `"NaN"` /
    /// `"Infinity"` / `"-Infinity"` as a map key.
    NonFinite(f64),
    /// JavaScript's `undefined` (BinaryPack): `null` as a value, `"undefined"` as a key.
    Undefined,
    /// An array of this many items.
    Array(usize),
    /// A map of this many entries.
    Map(usize),
}

/// A container being filled.
enum Open {
    Array(Vec<Value>, usize),
    Map {
        map: Map,
        left: usize,
        key: Option<String>,
    },
}

/// Decode one value, reading tokens with `next` (which gets the depth of the token it
/// reads). Containers are kept on a heap stack, so nesting costs no call stack; it is
/// limited to [`MAX_DECODE_DEPTH`] levels below `depth0`. Map keys that are not strings
/// are converted with [`js_key`], and a repeated key keeps its first position and last
/// value, as in a JavaScript object.
pub(super) fn decode_tokens(
    c: &mut Cursor<'_>,
    depth0: usize,
    mut next: impl FnMut(&mut Cursor<'_>, usize) -> Result<Token, String>,
) -> Result<Value, String> {
    let mut stack: Vec<Open> = Vec::new();
    loop {
        let depth = depth0 + stack.len();
        let in_key = matches!(stack.last(), Some(Open::Map { key: None, .. }));
        let mut done = match next(c, depth)? {
            Token::Value(v) => v,
            Token::NonFinite(f) if in_key => Value::String(js_number_key(f)),
            Token::Undefined if in_key => Value::from("undefined"),
            Token::NonFinite(_) | Token::Undefined => Value::Null,
            Token::Array(len) | Token::Map(len) if depth >= MAX_DECODE_DEPTH => {
                let _ = len;
                return Err(format!(
                    "value nested deeper than {MAX_DECODE_DEPTH} levels"
                ));
            }
            Token::Array(0) => Value::Array(Vec::new()),
            Token::Map(0) => Value::Object(Map::new()),
            Token::Array(len) => {
                // Every element takes at least one byte.
                stack.push(Open::Array(Vec::with_capacity(capped(len, c, 1)), len));
                continue;
            }
            Token::Map(len) => {
                // Every entry takes at least two bytes.
                stack.push(Open::Map {
                    map: Map::with_capacity(capped(len, c, 2)),
                    left: len,
                    key: None,
                });
                continue;
            }
        };
        // Hand the finished value to its container, closing the containers it completes.
        loop {
            match stack.last_mut() {
                None => return Ok(done),
                Some(Open::Array(items, len)) => {
                    items.push(done);
                    if items.len() < *len {
                        break;
                    }
                }
                Some(Open::Map { map, left, key }) => match key.take() {
                    None => {
                        *key = Some(js_key(done));
                        break;
                    }
                    Some(k) => {
                        map.insert(k, done);
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                    }
                },
            }
            done = match stack.pop() {
                Some(Open::Array(items, _)) => Value::Array(items),
                Some(Open::Map { map, .. }) => Value::Object(map),
                None => unreachable!("the stack had a last element"),
            };
        }
    }
}

/// Room to reserve for `len` items each taking at least `min_bytes` of input: a header
/// claiming 4 billion elements in a 10-byte frame reserves room for 10 at most.
pub(super) fn capped(len: usize, cursor: &Cursor<'_>, min_bytes: usize) -> usize {
    len.min(cursor.remaining() / min_bytes)
}

/// The string JavaScript makes of a map key that is not a string (`obj[key] = value`):
/// numbers as `String(n)`, `null`, `true`, arrays joined with `,`, binary as UTF-8 (with
/// replacement characters), objects as `[object Object]`.
pub(super) fn js_key(key: Value) -> String {
    if key.as_str().is_some() {
        return key.into_string().unwrap_or_default();
    }
    let mut s = String::new();
    push_js_string(&mut s, &key, 0);
    s
}

fn push_js_string(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Null => out.push_str(if depth == 0 { "null" } else { "" }),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&js_number_key(i as f64));
            } else if let Some(u) = n.as_u64() {
                out.push_str(&js_number_key(u as f64));
            } else {
                out.push_str(&js_number_key(n.as_f64().unwrap_or(f64::NAN)));
            }
        }
        Value::String(s) => out.push_str(s),
        Value::Binary(b) => out.push_str(&String::from_utf8_lossy(b)),
        Value::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // Array.prototype.join writes null and undefined as empty strings.
                push_js_string(out, item, depth + 1);
            }
        }
        Value::Object(_) => out.push_str("[object Object]"),
    }
}
