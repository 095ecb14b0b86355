//! The `ejson` parser: Meteor's Extended JSON as the reference's `ejson` 2.2.3 package
//! writes and reads it.

use super::{Json, Parser, ParserError};
use crate::{Frame, Value};
use bytes::Bytes;
use serde::ser::{self, Serialize, Serializer};
use std::fmt;

/// EJSON (`EJSON.stringify` / `EJSON.parse`), interoperable with the npm `ejson` 2.2.3
/// package. Text frames.
///
/// EJSON is JSON in which some objects stand for values JSON has no word for:
///
/// | JavaScript | EJSON | here |
/// |---|---|---|
/// | `Uint8Array` | `{"$binary":"<base64>"}` | [`Value::Binary`], and any serde bytes |
/// | `NaN`, `±Infinity` | `{"$InfNaN":0}`, `{"$InfNaN":1}` / `{"$InfNaN":-1}` | written for a non-finite `f32`/`f64`; read as the object |
/// | `Date` | `{"$date":<ms>}` | the object (see [`Date`]) |
/// | `RegExp` | `{"$regexp":…,"$flags":…}` | the object |
/// | a custom type | `{"$type":<name>,"$value":…}` | the object |
/// | a plain object that looks like one of these | `{"$escape":{…}}` | the object, `$escape` included |
///
/// A [`Value`] has a variant for binary only, so it holds the other typed values in
/// their EJSON form: **a [`Value`] is the EJSON JSON value**, binary aside. Decoding
/// turns `{"$binary":…}` into [`Value::Binary`] (except as the direct contents of an
/// `$escape`, where EJSON keeps it literal) and leaves every other object as it is;
/// encoding writes the value through the [`Json`] parser (JavaScript number formatting,
/// U+2028/U+2029 escaped as Primus does) with bytes as `$binary` and non-finite numbers
/// as `$InfNaN`. So whatever a JavaScript peer sends is echoed back byte for byte (a
/// `Date` stays a `Date`, an escaped plain object stays escaped), and a Rust type can
/// send a `Date` or a custom type by serializing to its EJSON form, like [`Date`] does.
/// The flip side: an object *you* build in that form (say `{"$date":5}`) is sent as the
/// typed value, not escaped as `EJSON.stringify` would escape a plain JavaScript object;
/// wrap it in `{"$escape":…}` yourself if a plain object is meant.
///
/// Differences from `EJSON.parse` on bad input, all [`ParserError::Decode`]: invalid
/// base64 in `$binary` (the reference decodes garbage to zero bytes), anything
/// [`Json`] refuses (nesting beyond 128 levels, invalid UTF-8, `1e400`), and binary frames
/// (`EJSON.parse argument should be a string`, as the reference says). Custom `$type`s
/// are passed through where the reference throws unless the type was registered with
/// `EJSON.addType`.
///
/// ```
/// use primus_core::{parser::Ejson, Frame, Parser, Value};
/// let bytes = Value::from(vec![1u8, 2, 3]);
/// assert_eq!(Ejson.encode(&bytes).unwrap(), Frame::text(r#"{"$binary":"AQID"}"#));
/// assert_eq!(Ejson.encode(&f64::NAN).unwrap(), Frame::text(r#"{"$InfNaN":0}"#));
/// assert_eq!(Ejson.decode(&Frame::text(r#"{"$binary":"AQID"}"#)).unwrap(), bytes);
/// let date = Ejson.decode(&Frame::text(r#"{"$date":1700000000000}"#)).unwrap();
/// assert_eq!(date.get("$date"), Some(&Value::from(1700000000000u64)));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Ejson;

impl Parser for Ejson {
    fn name(&self) -> &str {
        "ejson"
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Frame, ParserError> {
        Json.encode(&Typed(value))
    }

    fn decode(&self, frame: &Frame) -> Result<Value, ParserError> {
        if !frame.is_text() {
            return Err(ParserError::Decode(
                "EJSON.parse argument should be a string".into(),
            ));
        }
        let mut value = Json.decode(frame)?;
        from_json_value(&mut value).map_err(ParserError::Decode)?;
        Ok(value)
    }
}

/// A JavaScript `Date` in its EJSON form, `{"$date": <milliseconds since the epoch>}`.
///
/// Serialize it in a message to send a `Date`; deserialize a decoded [`Value`] into it to
/// read one. An invalid JavaScript date (`new Date(NaN)`) arrives as `{"$date":null}`
/// and does not deserialize into this type.
///
/// ```
/// use primus_core::{from_value, parser::{ejson::Date, Ejson}, Frame, Parser};
/// let frame = Ejson.encode(&Date { millis: 1.5e12 }).unwrap();
/// assert_eq!(frame, Frame::text(r#"{"$date":1500000000000}"#));
/// let back: Date = from_value(Ejson.decode(&frame).unwrap()).unwrap();
/// assert_eq!(back.millis, 1.5e12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Date {
    /// Milliseconds since 1970-01-01T00:00:00Z (`Date.prototype.getTime()`).
    #[serde(rename = "$date")]
    pub millis: f64,
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// `EJSON.fromJSONValue` for the one type a [`Value`] has: `{"$binary": …}` becomes
/// bytes. Recursion is bounded by the JSON parser's nesting limit.
fn from_json_value(value: &mut Value) -> Result<(), String> {
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(from_json_value),
        Value::Object(map) => {
            if map.len() == 1 {
                if let Some(b64) = map.get("$binary") {
                    let b64 = b64.as_str().ok_or("$binary must hold a base64 string")?;
                    *value = Value::Binary(Bytes::from(base64_decode(b64)?));
                    return Ok(());
                }
                if let Some(Value::Object(inner)) = map.get_mut("$escape") {
                    // The escaped object itself is literal; its values are EJSON.
                    return inner.values_mut().try_for_each(from_json_value);
                }
            }
            map.values_mut().try_for_each(from_json_value)
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// Encoding: the JSON serializer, with bytes and non-finite numbers as EJSON objects
// ---------------------------------------------------------------------------------------

/// Serializes the wrapped value with [`TypedSerializer`] around whatever serializer it
/// is given, so every nested value gets the same treatment.
struct Typed<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> Serialize for Typed<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(TypedSerializer(s))
    }
}

/// Forwards everything to `S`, except bytes (`{"$binary":…}`) and NaN / ±∞
/// (`{"$InfNaN":…}`).
struct TypedSerializer<S>(S);

impl<S: Serializer> TypedSerializer<S> {
    fn one_entry<V: Serialize + ?Sized>(self, key: &str, v: &V) -> Result<S::Ok, S::Error> {
        use ser::SerializeMap;
        let mut map = self.0.serialize_map(Some(1))?;
        map.serialize_entry(key, v)?;
        map.end()
    }

    fn inf_nan(self, v: f64) -> Result<S::Ok, S::Error> {
        let sign = if v.is_nan() {
            0
        } else if v > 0.0 {
            1
        } else {
            -1
        };
        self.one_entry("$InfNaN", &sign)
    }
}

impl<S: Serializer> Serializer for TypedSerializer<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = TypedCompound<S::SerializeSeq>;
    type SerializeTuple = TypedCompound<S::SerializeTuple>;
    type SerializeTupleStruct = TypedCompound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = TypedCompound<S::SerializeTupleVariant>;
    type SerializeMap = TypedCompound<S::SerializeMap>;
    type SerializeStruct = TypedCompound<S::SerializeStruct>;
    type SerializeStructVariant = TypedCompound<S::SerializeStructVariant>;

    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.0.serialize_bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.0.serialize_i8(v)
    }
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.0.serialize_i16(v)
    }
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.0.serialize_i32(v)
    }
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        self.0.serialize_i64(v)
    }
    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        self.0.serialize_i128(v)
    }
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.0.serialize_u8(v)
    }
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.0.serialize_u16(v)
    }
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.0.serialize_u32(v)
    }
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        self.0.serialize_u64(v)
    }
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        self.0.serialize_u128(v)
    }
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.0.serialize_f32(v)
        } else {
            self.inf_nan(f64::from(v))
        }
    }
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.0.serialize_f64(v)
        } else {
            self.inf_nan(v)
        }
    }
    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.0.serialize_char(v)
    }
    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.0.serialize_str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        self.one_entry("$binary", &base64_encode(v))
    }
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_none()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.0.serialize_some(&Typed(value))
    }
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit()
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit_struct(name)
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit_variant(name, index, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_newtype_struct(name, &Typed(value))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0
            .serialize_newtype_variant(name, index, variant, &Typed(value))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.0.serialize_seq(len).map(TypedCompound)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.0.serialize_tuple(len).map(TypedCompound)
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.0.serialize_tuple_struct(name, len).map(TypedCompound)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.0
            .serialize_tuple_variant(name, index, variant, len)
            .map(TypedCompound)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        self.0.serialize_map(len).map(TypedCompound)
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.0.serialize_struct(name, len).map(TypedCompound)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.0
            .serialize_struct_variant(name, index, variant, len)
            .map(TypedCompound)
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.0.collect_str(value)
    }
    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A container of the inner serializer whose elements are [`Typed`].
struct TypedCompound<C>(C);

impl<C: ser::SerializeSeq> ser::SerializeSeq for TypedCompound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.0.serialize_element(&Typed(v))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: ser::SerializeTuple> ser::SerializeTuple for TypedCompound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.0.serialize_element(&Typed(v))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: ser::SerializeTupleStruct> ser::SerializeTupleStruct for TypedCompound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.0.serialize_field(&Typed(v))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: ser::SerializeTupleVariant> ser::SerializeTupleVariant for TypedCompound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.0.serialize_field(&Typed(v))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: ser::SerializeMap> ser::SerializeMap for TypedCompound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), C::Error> {
        // Keys are strings (or stringified by the JSON serializer): nothing to convert.
        self.0.serialize_key(k)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.0.serialize_value(&Typed(v))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: ser::SerializeStruct> ser::SerializeStruct for TypedCompound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), C::Error> {
        self.0.serialize_field(key, &Typed(v))
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.0.skip_field(key)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

impl<C: ser::SerializeStructVariant> ser::SerializeStructVariant for TypedCompound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), C::Error> {
        self.0.serialize_field(key, &Typed(v))
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.0.skip_field(key)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

// ---------------------------------------------------------------------------------------
// Base64 (standard alphabet, padded), as EJSON's own Base64 writes it
// ---------------------------------------------------------------------------------------

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Standard base64; the padding may be left out (EJSON's decoder does not need it).
fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let invalid = || "invalid base64 string".to_string();
    let data = s.as_bytes();
    let data = data
        .strip_suffix(b"==")
        .or_else(|| data.strip_suffix(b"="))
        .unwrap_or(data);
    if data.len() % 4 == 1 || (s.len() != data.len() && s.len() % 4 != 0) {
        return Err(invalid());
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    for chunk in data.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= b64_value(c).ok_or_else(invalid)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for len in 0..20u8 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            let s = base64_encode(&bytes);
            assert_eq!(s.len() % 4, 0);
            assert_eq!(base64_decode(&s).unwrap(), bytes);
            assert_eq!(base64_decode(s.trim_end_matches('=')).unwrap(), bytes);
        }
        assert_eq!(base64_encode(&[1, 2, 3, 4]), "AQIDBA==");
        assert_eq!(base64_decode("AQI").unwrap(), [1, 2]);
        for bad in ["A", "A!!=", "AQ=I", "AQID=", "====", "A==="] {
            assert!(base64_decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn like_the_reference() {
        // EJSON.stringify({b: NaN, c: new Uint8Array([1,2,3,4]), g: -Infinity}).
        #[derive(serde::Serialize)]
        struct M {
            b: f64,
            #[serde(with = "serde_bytes_like")]
            c: Vec<u8>,
            g: f32,
        }
        mod serde_bytes_like {
            pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
        }
        let m = M {
            b: f64::NAN,
            c: vec![1, 2, 3, 4],
            g: f32::NEG_INFINITY,
        };
        assert_eq!(
            Ejson.encode(&m).unwrap().as_str().unwrap(),
            r#"{"b":{"$InfNaN":0},"c":{"$binary":"AQIDBA=="},"g":{"$InfNaN":-1}}"#
        );
    }

    #[test]
    fn escape_contents_stay_literal() {
        let v = Ejson
            .decode(&Frame::text(
                r#"{"$escape":{"$binary":"AQ==","x":{"$binary":"AQ=="}}}"#,
            ))
            .unwrap();
        let inner = v.get("$escape").unwrap();
        assert_eq!(inner.get("$binary"), Some(&Value::from("AQ==")));
        assert_eq!(inner.get("x"), Some(&Value::from(vec![1u8])));
        let again = Ejson.encode(&v).unwrap();
        assert_eq!(
            again.as_str().unwrap(),
            r#"{"$escape":{"$binary":"AQ==","x":{"$binary":"AQ=="}}}"#
        );
    }

    #[test]
    fn binary_frames_are_refused() {
        assert!(matches!(
            Ejson.decode(&Frame::binary(&b"{}"[..])),
            Err(ParserError::Decode(_))
        ));
        let bad = Ejson.decode(&Frame::text(r#"{"$binary":5}"#));
        assert!(matches!(bad, Err(ParserError::Decode(_))));
    }
}
