//! The dynamic message value: everything JSON can say, plus binary.
//!
//! [`Value`] is what a parser decodes a frame into and what `data` handlers receive. It
//! converts to and from any serde type without going through JSON text:
//!
//! - [`to_value`] runs a dedicated `serde::Serializer` that builds a [`Value`] directly
//!   (bytes become [`Value::Binary`], `()`/`None` become [`Value::Null`], enums are
//!   externally tagged like `serde_json`, non-finite floats become `null` like
//!   `JSON.stringify`);
//! - [`from_value`] (and [`Value::deserialize_into`] for borrowing) use [`Value`] itself as
//!   a `serde::Deserializer`.
//!
//! ```
//! use primus_core::{from_value, to_value, Value};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Chat { room: String, text: String, seq: u32 }
//!
//! let msg = Chat { room: "lobby".into(), text: "hi".into(), seq: 7 };
//! let value = to_value(&msg).unwrap();
//! assert_eq!(value.to_string(), r#"{"room":"lobby","text":"hi","seq":7}"#);
//! assert_eq!(from_value::<Chat>(value).unwrap(), msg);
//! ```
//!
//! # Numbers
//!
//! Numbers are [`serde_json::Number`]s: an `i64`, a `u64` or a finite `f64`. JavaScript
//! only has doubles, so [`Value`] treats a number by its numeric value: `1` and `1.0` are
//! equal, [`Value::as_i64`] accepts `3.0`, and deserializing an integer type from an
//! integral float works. Integers are kept exact (JavaScript would round those above 2^53).
//!
//! # Nesting depth
//!
//! Dropping a [`Value`] is iterative, so even a value nested 100 000 levels deep (which
//! only hand-written code can build: the JSON parser refuses 128 levels) is freed without
//! overflowing the stack, and so is [`Display`](fmt::Display). Because `Value` implements
//! [`Drop`], its containers cannot be moved out by a by-value `match`; use
//! [`Value::take`] or the `into_*` methods ([`Value::into_array`], …) instead.
//!
//! [`to_value`] refuses to nest deeper than 512 levels (an error instead of a stack
//! overflow on, say, a very long linked list). `Clone`, `Debug`, `PartialEq`,
//! `Serialize` and [`from_value`] are recursive: keep values you build by hand within a
//! few hundred levels.

use bytes::Bytes;
use indexmap::IndexMap;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde::ser::{self, Serialize};
use serde::{forward_to_deserialize_any, Deserialize, Deserializer};
use std::borrow::Cow;
use std::fmt::{self, Write as _};

pub use serde_json::Number;

/// An object: string keys in insertion order (like a JavaScript object).
///
/// One difference: a JavaScript object lists integer-like keys (`"0"`, `"1"`, …) first, in
/// numeric order, whatever the insertion order; a [`Map`] keeps the order it was given.
/// `{"b":1,"1":2}` is re-encoded as is, where `JSON.stringify(JSON.parse(…))` would
/// print `{"1":2,"b":1}`.
pub type Map = IndexMap<String, Value>;

/// How deep [`to_value`] nests before giving up with an error.
const MAX_DEPTH: usize = 512;

/// A dynamically typed message value.
///
/// ```
/// use primus_core::Value;
/// let v: Value = serde_json::from_str(r#"{"a":[1,2.5,"x",null,true]}"#).unwrap();
/// assert_eq!(v.get("a").and_then(Value::as_array).map(Vec::len), Some(5));
/// assert_eq!(v.to_string(), r#"{"a":[1,2.5,"x",null,true]}"#);
/// ```
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// Raw bytes (binary parsers; the JSON parser's pass-through of binary frames).
    Binary(Bytes),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Map),
}

/// A value could not be converted to or from a Rust type.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(String);

impl ValueError {
    fn new(msg: impl fmt::Display) -> Self {
        ValueError(msg.to_string())
    }
}

impl ser::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError::new(msg)
    }
}

impl de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError::new(msg)
    }
}

// ---------------------------------------------------------------------------------------
// Drop, equality
// ---------------------------------------------------------------------------------------

impl Value {
    /// A non-empty array or object: dropping it recurses into its children.
    fn is_nonempty_container(&self) -> bool {
        match self {
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => false,
        }
    }

    /// A container holding at least one non-empty container: dropping it may recurse
    /// more than two levels.
    fn has_nested_children(&self) -> bool {
        match self {
            Value::Array(a) => a.iter().any(Value::is_nonempty_container),
            Value::Object(o) => o.values().any(Value::is_nonempty_container),
            _ => false,
        }
    }

    /// Move the children that could recurse onto `stack`; drop the others here.
    fn drain_children_into(&mut self, stack: &mut Vec<Value>) {
        let mut keep = |child: Value| {
            if child.has_nested_children() {
                stack.push(child);
            }
        };
        match self {
            Value::Array(a) => a.drain(..).for_each(&mut keep),
            Value::Object(o) => o.drain(..).for_each(|(_, v)| keep(v)),
            _ => {}
        }
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        if !self.has_nested_children() {
            // At most two levels of drop glue below this one.
            return;
        }
        let mut stack = Vec::new();
        self.drain_children_into(&mut stack);
        while let Some(mut value) = stack.pop() {
            value.drain_children_into(&mut stack);
            // `value` has no children left: dropping it here does not recurse.
        }
    }
}

fn number_eq(a: &Number, b: &Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    if a.is_f64() || b.is_f64() {
        return a.as_f64() == b.as_f64();
    }
    // A negative integer and one above i64::MAX.
    false
}

/// Structural equality with JavaScript's view of numbers: `1 == 1.0`, `0 == -0.0`.
/// Objects compare as maps (key order is ignored).
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => number_eq(a, b),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Binary(a), Value::Binary(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

// ---------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------

/// `f` as an `i64` if it is integral and in range.
fn f64_to_i64(f: f64) -> Option<i64> {
    // -2^63 is exact; 2^63 is the first value out of range.
    (f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f))
        .then_some(f as i64)
}

/// `f` as a `u64` if it is integral and in range.
fn f64_to_u64(f: f64) -> Option<u64> {
    (f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f)).then_some(f as u64)
}

impl Value {
    /// Whether this is `null`.
    ///
    /// ```
    /// # use primus_core::Value;
    /// assert!(Value::Null.is_null());
    /// assert!(!Value::from(0).is_null());
    /// ```
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The boolean, if this is a boolean.
    ///
    /// ```
    /// # use primus_core::Value;
    /// assert_eq!(Value::from(true).as_bool(), Some(true));
    /// assert_eq!(Value::from("true").as_bool(), None);
    /// ```
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, if this is a number.
    ///
    /// ```
    /// # use primus_core::Value;
    /// assert_eq!(Value::from(7).as_number().and_then(|n| n.as_u64()), Some(7));
    /// ```
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// Any number as an `f64` (large integers are rounded, as in JavaScript).
    ///
    /// ```
    /// # use primus_core::Value;
    /// assert_eq!(Value::from(2).as_f64(), Some(2.0));
    /// assert_eq!(Value::from(0.5).as_f64(), Some(0.5));
    /// assert_eq!(Value::Null.as_f64(), None);
    /// ```
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().and_then(Number::as_f64)
    }

    /// The number as an `i64`, if it is an integer (or an integral float) in range.
    ///
    /// ```
    /// # use primus_core::Value;
    /// assert_eq!(Value::from(-3).as_i64(), Some(-3));
    /// assert_eq!(Value::from(3.0).as_i64(), Some(3));
    /// assert_eq!(Value::from(3.5).as_i64(), None);
    /// assert_eq!(Value::from(u64::MAX).as_i64(), None);
    /// ```
    pub fn as_i64(&self) -> Option<i64> {
        let n = self.as_number()?;
        n.as_i64().or_else(|| {
            if n.is_f64() {
                n.as_f64().and_then(f64_to_i64)
            } else {
                None
            }
        })
    }

    /// The number as a `u64`, if it is a non-negative integer (or integral float) in range.
    ///
    /// ```
    /// # use primus_core::Value;
    /// assert_eq!(Value::from(u64::MAX).as_u64(), Some(u64::MAX));
    /// assert_eq!(Value::from(1e3).as_u64(), Some(1000));
    /// assert_eq!(Value::from(-1).as_u64(), None);
    /// ```
    pub fn as_u64(&self) -> Option<u64> {
        let n = self.as_number()?;
        n.as_u64().or_else(|| {
            if n.is_f64() {
                n.as_f64().and_then(f64_to_u64)
            } else {
                None
            }
        })
    }

    /// The string, if this is a string.
    ///
    /// ```
    /// # use primus_core::Value;
    /// assert_eq!(Value::from("hi").as_str(), Some("hi"));
    /// assert_eq!(Value::Null.as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if this is binary.
    ///
    /// ```
    /// # use primus_core::Value;
    /// assert_eq!(Value::from(vec![1u8, 2]).as_bytes().map(|b| &b[..]), Some(&[1u8, 2][..]));
    /// assert_eq!(Value::from("12").as_bytes(), None);
    /// ```
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    ///
    /// ```
    /// # use primus_core::Value;
    /// let v = Value::from(vec![Value::from(1), Value::Null]);
    /// assert_eq!(v.as_array().unwrap().len(), 2);
    /// ```
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The elements, mutably, if this is an array.
    ///
    /// ```
    /// # use primus_core::Value;
    /// let mut v = Value::Array(Vec::new());
    /// v.as_array_mut().unwrap().push(Value::from("x"));
    /// assert_eq!(v.to_string(), r#"["x"]"#);
    /// ```
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The entries, if this is an object.
    ///
    /// ```
    /// # use primus_core::{Map, Value};
    /// let v = Value::from(Map::from_iter([("a".to_string(), Value::from(1))]));
    /// assert_eq!(v.as_object().unwrap().len(), 1);
    /// ```
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The entries, mutably, if this is an object.
    ///
    /// ```
    /// # use primus_core::{Map, Value};
    /// let mut v = Value::from(Map::new());
    /// v.as_object_mut().unwrap().insert("k".into(), Value::from(true));
    /// assert_eq!(v.to_string(), r#"{"k":true}"#);
    /// ```
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The member `key`, if this is an object that has it.
    ///
    /// ```
    /// # use primus_core::Value;
    /// let v: Value = serde_json::from_str(r#"{"a":{"b":2}}"#).unwrap();
    /// assert_eq!(v.get("a").and_then(|a| a.get("b")).and_then(Value::as_u64), Some(2));
    /// assert!(v.get("zz").is_none());
    /// assert!(Value::from("a").get("a").is_none());
    /// ```
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.get(key)
    }

    /// The member `key`, mutably, if this is an object that has it.
    ///
    /// ```
    /// # use primus_core::Value;
    /// let mut v: Value = serde_json::from_str(r#"{"n":1}"#).unwrap();
    /// *v.get_mut("n").unwrap() = Value::from(2);
    /// assert_eq!(v.to_string(), r#"{"n":2}"#);
    /// ```
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.as_object_mut()?.get_mut(key)
    }

    /// Take the value out, leaving `null` in its place.
    ///
    /// ```
    /// # use primus_core::Value;
    /// let mut v = Value::from("x");
    /// assert_eq!(v.take(), Value::from("x"));
    /// assert!(v.is_null());
    /// ```
    pub fn take(&mut self) -> Value {
        std::mem::take(self)
    }

    /// The string, by value, if this is a string.
    ///
    /// ```
    /// # use primus_core::Value;
    /// assert_eq!(Value::from("x").into_string().as_deref(), Some("x"));
    /// ```
    pub fn into_string(mut self) -> Option<String> {
        match &mut self {
            Value::String(s) => Some(std::mem::take(s)),
            _ => None,
        }
    }

    /// The bytes, by value, if this is binary.
    ///
    /// ```
    /// # use primus_core::Value;
    /// assert_eq!(Value::from(vec![9u8]).into_bytes().unwrap(), &[9u8][..]);
    /// ```
    pub fn into_bytes(mut self) -> Option<Bytes> {
        match &mut self {
            Value::Binary(b) => Some(std::mem::take(b)),
            _ => None,
        }
    }

    /// The elements, by value, if this is an array.
    ///
    /// ```
    /// # use primus_core::Value;
    /// let v = Value::from(vec![Value::from(1)]);
    /// assert_eq!(v.into_array().unwrap(), vec![Value::from(1)]);
    /// ```
    pub fn into_array(mut self) -> Option<Vec<Value>> {
        match &mut self {
            Value::Array(a) => Some(std::mem::take(a)),
            _ => None,
        }
    }

    /// The entries, by value, if this is an object.
    ///
    /// ```
    /// # use primus_core::Value;
    /// let v: Value = serde_json::from_str(r#"{"a":1}"#).unwrap();
    /// assert_eq!(v.into_object().unwrap().len(), 1);
    /// ```
    pub fn into_object(mut self) -> Option<Map> {
        match &mut self {
            Value::Object(o) => Some(std::mem::take(o)),
            _ => None,
        }
    }

    /// Deserialize a Rust value from this value without consuming or cloning it; strings
    /// and bytes can be borrowed.
    ///
    /// ```
    /// # use primus_core::Value;
    /// let v: Value = serde_json::from_str(r#"["a",1]"#).unwrap();
    /// let (s, n): (&str, u8) = v.deserialize_into().unwrap();
    /// assert_eq!((s, n), ("a", 1));
    /// ```
    pub fn deserialize_into<'de, T: Deserialize<'de>>(&'de self) -> Result<T, ValueError> {
        T::deserialize(self)
    }

    /// The owned contents, without the `Drop` impl that stops by-value matching.
    fn into_owned(mut self) -> Owned {
        match &mut self {
            Value::Null => Owned::Null,
            Value::Bool(b) => Owned::Bool(*b),
            Value::Number(n) => Owned::Number(n.clone()),
            Value::String(s) => Owned::String(std::mem::take(s)),
            Value::Binary(b) => Owned::Binary(std::mem::take(b)),
            Value::Array(a) => Owned::Array(std::mem::take(a)),
            Value::Object(o) => Owned::Object(std::mem::take(o)),
        }
    }

    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Value::Null => Unexpected::Unit,
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Number(n) => unexpected_number(n),
            Value::String(s) => Unexpected::Str(s),
            Value::Binary(b) => Unexpected::Bytes(b),
            Value::Array(_) => Unexpected::Seq,
            Value::Object(_) => Unexpected::Map,
        }
    }

    #[cold]
    fn invalid_type<E: de::Error>(&self, exp: &dyn de::Expected) -> E {
        E::invalid_type(self.unexpected(), exp)
    }
}

fn unexpected_number(n: &Number) -> Unexpected<'static> {
    if let Some(u) = n.as_u64() {
        Unexpected::Unsigned(u)
    } else if let Some(i) = n.as_i64() {
        Unexpected::Signed(i)
    } else {
        Unexpected::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// [`Value`]'s contents, movable out of a `match`.
enum Owned {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Binary(Bytes),
    Array(Vec<Value>),
    Object(Map),
}

// ---------------------------------------------------------------------------------------
// From impls
// ---------------------------------------------------------------------------------------

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Value::Number(n)
    }
}

macro_rules! from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Value::Number(Number::from(n))
            }
        }
    )*};
}
from_integer!(i32, i64, u32, u64);

/// A finite float becomes a number; NaN and ±∞ become `null`, as `JSON.stringify` does.
///
/// ```
/// # use primus_core::Value;
/// assert_eq!(Value::from(1.5).to_string(), "1.5");
/// assert!(Value::from(f64::NAN).is_null());
/// ```
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

impl From<Map> for Value {
    fn from(o: Map) -> Self {
        Value::Object(o)
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Value::Binary(b)
    }
}

/// Bytes become [`Value::Binary`] (not an array of numbers).
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Binary(Bytes::from(b))
    }
}

/// Collect into an array.
///
/// ```
/// # use primus_core::Value;
/// let v: Value = (1..=3).map(Value::from).collect();
/// assert_eq!(v.to_string(), "[1,2,3]");
/// ```
impl FromIterator<Value> for Value {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        Value::Array(iter.into_iter().collect())
    }
}

/// Collect into an object.
///
/// ```
/// # use primus_core::Value;
/// let v: Value = [("a".to_string(), Value::from(1))].into_iter().collect();
/// assert_eq!(v.to_string(), r#"{"a":1}"#);
/// ```
impl FromIterator<(String, Value)> for Value {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Value::Object(iter.into_iter().collect())
    }
}

// ---------------------------------------------------------------------------------------
// JavaScript text: numbers and strings
// ---------------------------------------------------------------------------------------

/// Formats numbers exactly like JavaScript's `Number.prototype.toString()` (which is what
/// `JSON.stringify` uses), on the stack.
///
/// The digits come from `zmij` (the shortest digits that round-trip, closest to the value,
/// ties to even: the digits ECMAScript asks for, and what `serde_json` itself uses); only
/// the layout is JavaScript's.
pub(crate) struct JsNumber {
    buf: [u8; 32],
    len: usize,
}

/// A `fmt::Write` over a fixed stack buffer.
struct StackWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for StackWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl JsNumber {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        JsNumber {
            buf: [0; 32],
            len: 0,
        }
    }

    /// `value` as JavaScript prints it: `1`, `0.1`, `1e+21`, `1.5e-7`; NaN and ±∞ give
    /// `null` (what `JSON.stringify` writes for them).
    pub(crate) fn format_f64(&mut self, value: f64) -> &str {
        if !value.is_finite() {
            return "null";
        }
        // Integral values that print without an exponent: skip the digit search.
        if value.fract() == 0.0 && value.abs() < 1e15 {
            // Also maps -0 to "0".
            return self.write(format_args!("{}", value as i64));
        }
        let mut digits = zmij::Buffer::new();
        let shortest = digits.format_finite(value.abs());
        self.layout(value < 0.0, shortest)
    }

    /// `value`'s shortest `f32` digits, laid out as JavaScript lays out numbers.
    ///
    /// JavaScript has no `f32`; printing the shortest digits that identify the `f32`
    /// (`0.1f32` → `0.1`, not `0.10000000149011612`) is what a Rust caller means.
    pub(crate) fn format_f32(&mut self, value: f32) -> &str {
        if !value.is_finite() {
            return "null";
        }
        if value == 0.0 {
            return "0";
        }
        let mut digits = zmij::Buffer::new();
        let shortest = digits.format_finite(value.abs());
        self.layout(value < 0.0, shortest)
    }

    fn write(&mut self, args: fmt::Arguments<'_>) -> &str {
        let mut w = StackWriter {
            buf: &mut self.buf,
            len: 0,
        };
        // 32 bytes hold any i64.
        let _ = w.write_fmt(args);
        self.len = w.len;
        self.as_str()
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("null")
    }

    /// ECMAScript `Number::toString(x)` (radix 10) for the positive number that `shortest`
    /// (`zmij`'s output: `123.45`, `0.001`, `1e+21`, `1.5e-7`) spells.
    fn layout(&mut self, negative: bool, shortest: &str) -> &str {
        let (mantissa, exp) = match shortest.split_once('e') {
            Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
            None => (shortest, 0),
        };
        // The significant digits d1…dk, and n with value = 0.d1…dk × 10^n.
        let mut digits = [0u8; 24];
        let mut k = 0usize;
        let mut int_digits = 0i32;
        let mut leading_zeros = 0i32;
        let mut seen_point = false;
        for b in mantissa.bytes() {
            match b {
                b'.' => seen_point = true,
                b'0'..=b'9' => {
                    if !seen_point {
                        int_digits += 1;
                    }
                    if k == 0 && b == b'0' {
                        leading_zeros += 1;
                    } else if k < digits.len() {
                        digits[k] = b;
                        k += 1;
                    }
                }
                _ => {}
            }
        }
        while k > 1 && digits[k - 1] == b'0' {
            k -= 1;
        }
        if k == 0 {
            return "0";
        }
        let n = int_digits - leading_zeros + exp;
        let k_i = k as i32;
        // ASCII digits.
        let ds = std::str::from_utf8(&digits[..k]).unwrap_or("0");

        let mut out = StackWriter {
            buf: &mut self.buf,
            len: 0,
        };
        let _ = (|| -> fmt::Result {
            if negative {
                out.write_char('-')?;
            }
            if k_i <= n && n <= 21 {
                // 123, 100000000000000000000: the digits, then zeros.
                out.write_str(ds)?;
                for _ in 0..n - k_i {
                    out.write_char('0')?;
                }
            } else if 0 < n && n <= 21 {
                // 12.5
                let n = n as usize;
                out.write_str(&ds[..n])?;
                out.write_char('.')?;
                out.write_str(&ds[n..])?;
            } else if -6 < n && n <= 0 {
                // 0.000001
                out.write_str("0.")?;
                for _ in 0..-n {
                    out.write_char('0')?;
                }
                out.write_str(ds)?;
            } else {
                // 1e+21, 1.5e-7
                out.write_str(&ds[..1])?;
                if k > 1 {
                    out.write_char('.')?;
                    out.write_str(&ds[1..])?;
                }
                let e = n - 1;
                write!(
                    out,
                    "e{}{}",
                    if e < 0 { '-' } else { '+' },
                    e.unsigned_abs()
                )?;
            }
            Ok(())
        })();
        self.len = out.len;
        self.as_str()
    }
}

/// Write `n` as `JSON.stringify` would.
fn write_number<W: fmt::Write + ?Sized>(out: &mut W, n: &Number) -> fmt::Result {
    if let Some(u) = n.as_u64() {
        write!(out, "{u}")
    } else if let Some(i) = n.as_i64() {
        write!(out, "{i}")
    } else {
        out.write_str(JsNumber::new().format_f64(n.as_f64().unwrap_or(f64::NAN)))
    }
}

/// The escape `JSON.stringify` (plus Primus' U+2028/U+2029 step) writes for the character
/// starting at `bytes[i]`, with its length in bytes; `None` if it is written as is.
#[inline]
fn escape_at(bytes: &[u8], i: usize) -> Option<(&'static str, usize)> {
    const CONTROL: [&str; 32] = [
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
        "\\b", "\\t", "\\n", "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f", "\\u0010", "\\u0011",
        "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017", "\\u0018", "\\u0019",
        "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
    ];
    match bytes[i] {
        b @ 0..=0x1f => Some((CONTROL[b as usize], 1)),
        b'"' => Some(("\\\"", 1)),
        b'\\' => Some(("\\\\", 1)),
        0xe2 => match bytes.get(i + 1..i + 3) {
            Some([0x80, 0xa8]) => Some(("\\u2028", 3)),
            Some([0x80, 0xa9]) => Some(("\\u2029", 3)),
            _ => None,
        },
        _ => None,
    }
}

/// Write `s` as a JSON string literal, escaped like `JSON.stringify` and with U+2028 and
/// U+2029 escaped the way Primus does before sending.
pub(crate) fn write_string<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    out.write_char('"')?;
    write_string_contents(out, s)?;
    out.write_char('"')
}

/// [`write_string`] without the quotes.
fn write_string_contents<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match escape_at(bytes, i) {
            None => i += 1,
            Some((escape, len)) => {
                // `i` is at an ASCII byte or a UTF-8 lead byte: a char boundary.
                out.write_str(&s[start..i])?;
                out.write_str(escape)?;
                i += len;
                start = i;
            }
        }
    }
    out.write_str(&s[start..])
}

/// Compact JSON, exactly as the JSON parser encodes the value: JavaScript number
/// formatting, `JSON.stringify` string escapes plus `\u2028`/`\u2029`, key order kept,
/// binary as an array of byte values. Not recursive, so any depth prints.
///
/// ```
/// # use primus_core::Value;
/// let v: Value = serde_json::from_str(r#"{"n":1e21,"s":"\u2028é","b":null}"#).unwrap();
/// assert_eq!(v.to_string(), r#"{"n":1e+21,"s":"\u2028é","b":null}"#);
/// assert_eq!(Value::from(vec![1u8, 2]).to_string(), "[1,2]");
/// ```
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        enum Open<'a> {
            Array(std::slice::Iter<'a, Value>),
            Object(indexmap::map::Iter<'a, String, Value>),
        }

        // Write a scalar, or open a container and return its iterator.
        fn start<'a>(
            f: &mut fmt::Formatter<'_>,
            v: &'a Value,
        ) -> Result<Option<Open<'a>>, fmt::Error> {
            match v {
                Value::Null => f.write_str("null")?,
                Value::Bool(b) => f.write_str(if *b { "true" } else { "false" })?,
                Value::Number(n) => write_number(f, n)?,
                Value::String(s) => write_string(f, s)?,
                Value::Binary(b) => {
                    f.write_char('[')?;
                    for (i, byte) in b.iter().enumerate() {
                        if i > 0 {
                            f.write_char(',')?;
                        }
                        write!(f, "{byte}")?;
                    }
                    f.write_char(']')?;
                }
                Value::Array(a) => {
                    f.write_char('[')?;
                    return Ok(Some(Open::Array(a.iter())));
                }
                Value::Object(o) => {
                    f.write_char('{')?;
                    return Ok(Some(Open::Object(o.iter())));
                }
            }
            Ok(None)
        }

        let mut stack: Vec<(Open<'_>, bool)> = Vec::new();
        if let Some(open) = start(f, self)? {
            stack.push((open, true));
        }
        while let Some((open, first)) = stack.last_mut() {
            let next = match open {
                Open::Array(it) => match it.next() {
                    Some(v) => {
                        if !*first {
                            f.write_char(',')?;
                        }
                        Some(v)
                    }
                    None => {
                        f.write_char(']')?;
                        None
                    }
                },
                Open::Object(it) => match it.next() {
                    Some((k, v)) => {
                        if !*first {
                            f.write_char(',')?;
                        }
                        write_string(f, k)?;
                        f.write_char(':')?;
                        Some(v)
                    }
                    None => {
                        f.write_char('}')?;
                        None
                    }
                },
            };
            match next {
                Some(v) => {
                    *first = false;
                    if let Some(open) = start(f, v)? {
                        stack.push((open, true));
                    }
                }
                None => {
                    stack.pop();
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Serialize for Value
// ---------------------------------------------------------------------------------------

/// Serializes as the JSON data model; [`Value::Binary`] goes through `serialize_bytes`
/// (an array of byte values in JSON).
impl Serialize for Value {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => n.serialize(s),
            Value::String(v) => s.serialize_str(v),
            Value::Binary(b) => s.serialize_bytes(b),
            Value::Array(a) => {
                use ser::SerializeSeq;
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(o) => {
                use ser::SerializeMap;
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// to_value: a Serializer producing Value
// ---------------------------------------------------------------------------------------

/// Convert any serde value into a [`Value`], without going through JSON text.
///
/// Follows `serde_json::to_value`: externally tagged enums, `None`/`()` → `null`,
/// newtype structs transparent, NaN and ±∞ → `null` (as `JSON.stringify` writes them),
/// map keys must be strings, or numbers, booleans and chars, which are stringified.
/// Differences: bytes (`serialize_bytes`) become [`Value::Binary`] rather than an array
/// of numbers, an `f32` keeps its own shortest digits (`0.1f32` → `0.1`), and nesting
/// deeper than 512 levels is an error.
///
/// ```
/// use primus_core::{to_value, Value};
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// enum Shape { Circle { r: f64 }, Unit }
///
/// assert_eq!(to_value(&Shape::Circle { r: 1.0 }).unwrap().to_string(), r#"{"Circle":{"r":1}}"#);
/// assert_eq!(to_value(&Shape::Unit).unwrap(), Value::from("Unit"));
/// assert_eq!(to_value(&f64::INFINITY).unwrap(), Value::Null);
/// let map = std::collections::BTreeMap::from([(1, "one")]);
/// assert_eq!(to_value(&map).unwrap().to_string(), r#"{"1":"one"}"#);
/// ```
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
    value.serialize(ValueSerializer { depth: 0 })
}

/// Builds a [`Value`]; `depth` counts the nested calls above this one.
#[derive(Clone, Copy)]
struct ValueSerializer {
    depth: usize,
}

impl ValueSerializer {
    /// The serializer for a nested value.
    fn nested(self) -> Result<ValueSerializer, ValueError> {
        if self.depth >= MAX_DEPTH {
            Err(ValueError::new(format_args!(
                "value nested deeper than {MAX_DEPTH} levels"
            )))
        } else {
            Ok(ValueSerializer {
                depth: self.depth + 1,
            })
        }
    }
}

/// `f32` → `f64` through its shortest decimal digits, so `0.1f32` becomes `0.1`.
fn f32_to_f64(v: f32) -> f64 {
    if !v.is_finite() || v.fract() == 0.0 {
        return f64::from(v);
    }
    zmij::Buffer::new()
        .format_finite(v)
        .parse()
        .unwrap_or(f64::from(v))
}

fn int128<T: TryInto<i64> + TryInto<u64> + fmt::Display + Copy>(v: T) -> Result<Value, ValueError> {
    if let Ok(u) = TryInto::<u64>::try_into(v) {
        Ok(Value::from(u))
    } else if let Ok(i) = TryInto::<i64>::try_into(v) {
        Ok(Value::from(i))
    } else {
        Err(ValueError::new(format_args!("number out of range: {v}")))
    }
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = SerializeVec;
    type SerializeTuple = SerializeVec;
    type SerializeTupleStruct = SerializeVec;
    type SerializeTupleVariant = SerializeTupleVariant;
    type SerializeMap = SerializeMap;
    type SerializeStruct = SerializeMap;
    type SerializeStructVariant = SerializeStructVariant;

    fn serialize_bool(self, v: bool) -> Result<Value, ValueError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ValueError> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ValueError> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, ValueError> {
        int128(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ValueError> {
        Ok(Value::from(u64::from(v)))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ValueError> {
        Ok(Value::from(u64::from(v)))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, ValueError> {
        int128(v)
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ValueError> {
        Ok(Value::from(f32_to_f64(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, ValueError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ValueError> {
        Ok(Value::Binary(Bytes::copy_from_slice(v)))
    }
    fn serialize_none(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ValueError> {
        value.serialize(self.nested()?)
    }
    fn serialize_unit(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, ValueError> {
        Ok(Value::from(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        value.serialize(self.nested()?)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        let inner = value.serialize(self.nested()?)?;
        let mut map = Map::with_capacity(1);
        map.insert(variant.to_string(), inner);
        Ok(Value::Object(map))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SerializeVec, ValueError> {
        Ok(SerializeVec {
            ser: self.nested()?,
            vec: Vec::with_capacity(len.unwrap_or(0).min(4096)),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SerializeVec, ValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SerializeVec, ValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SerializeTupleVariant, ValueError> {
        Ok(SerializeTupleVariant {
            variant,
            inner: self.nested()?.serialize_seq(Some(len))?,
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<SerializeMap, ValueError> {
        Ok(SerializeMap {
            ser: self.nested()?,
            map: Map::with_capacity(len.unwrap_or(0).min(4096)),
            next_key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<SerializeMap, ValueError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SerializeStructVariant, ValueError> {
        Ok(SerializeStructVariant {
            variant,
            inner: self.nested()?.serialize_map(Some(len))?,
        })
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<Value, ValueError> {
        Ok(Value::String(value.to_string()))
    }
}

/// Array under construction.
struct SerializeVec {
    ser: ValueSerializer,
    vec: Vec<Value>,
}

impl ser::SerializeSeq for SerializeVec {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.vec.push(value.serialize(self.ser)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Array(self.vec))
    }
}

impl ser::SerializeTuple for SerializeVec {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, ValueError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SerializeVec {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, ValueError> {
        ser::SerializeSeq::end(self)
    }
}

/// `{"Variant": [..]}` under construction.
struct SerializeTupleVariant {
    variant: &'static str,
    inner: SerializeVec,
}

impl ser::SerializeTupleVariant for SerializeTupleVariant {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(&mut self.inner, value)
    }
    fn end(self) -> Result<Value, ValueError> {
        let mut map = Map::with_capacity(1);
        map.insert(self.variant.to_string(), Value::Array(self.inner.vec));
        Ok(Value::Object(map))
    }
}

/// Object under construction.
struct SerializeMap {
    ser: ValueSerializer,
    map: Map,
    next_key: Option<String>,
}

impl ser::SerializeMap for SerializeMap {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        self.next_key = Some(key.serialize(MapKeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let key = self
            .next_key
            .take()
            .ok_or_else(|| ValueError::new("serialize_value called before serialize_key"))?;
        let value = value.serialize(self.ser)?;
        self.map.insert(key, value);
        Ok(())
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Object(self.map))
    }
}

impl ser::SerializeStruct for SerializeMap {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        let value = value.serialize(self.ser)?;
        self.map.insert(key.to_string(), value);
        Ok(())
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Object(self.map))
    }
}

/// `{"Variant": {..}}` under construction.
struct SerializeStructVariant {
    variant: &'static str,
    inner: SerializeMap,
}

impl ser::SerializeStructVariant for SerializeStructVariant {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        ser::SerializeStruct::serialize_field(&mut self.inner, key, value)
    }
    fn end(self) -> Result<Value, ValueError> {
        let mut map = Map::with_capacity(1);
        map.insert(self.variant.to_string(), Value::Object(self.inner.map));
        Ok(Value::Object(map))
    }
}

/// Map keys: strings, or scalars that `serde_json` would stringify.
struct MapKeySerializer;

fn key_must_be_a_string() -> ValueError {
    ValueError::new("key must be a string")
}

impl ser::Serializer for MapKeySerializer {
    type Ok = String;
    type Error = ValueError;
    type SerializeSeq = ser::Impossible<String, ValueError>;
    type SerializeTuple = ser::Impossible<String, ValueError>;
    type SerializeTupleStruct = ser::Impossible<String, ValueError>;
    type SerializeTupleVariant = ser::Impossible<String, ValueError>;
    type SerializeMap = ser::Impossible<String, ValueError>;
    type SerializeStruct = ser::Impossible<String, ValueError>;
    type SerializeStructVariant = ser::Impossible<String, ValueError>;

    fn serialize_bool(self, v: bool) -> Result<String, ValueError> {
        Ok(if v { "true" } else { "false" }.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, v: f32) -> Result<String, ValueError> {
        if !v.is_finite() {
            return Err(ValueError::new(
                "float key must be finite (got NaN or +/-inf)",
            ));
        }
        Ok(JsNumber::new().format_f32(v).to_string())
    }
    fn serialize_f64(self, v: f64) -> Result<String, ValueError> {
        if !v.is_finite() {
            return Err(ValueError::new(
                "float key must be finite (got NaN or +/-inf)",
            ));
        }
        Ok(JsNumber::new().format_f64(v).to_string())
    }
    fn serialize_char(self, v: char) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, ValueError> {
        Ok(v.to_string())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, ValueError> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<String, ValueError> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, ValueError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<String, ValueError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, ValueError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, ValueError> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, ValueError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, ValueError> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, ValueError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, ValueError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, ValueError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, ValueError> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, ValueError> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, ValueError> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, ValueError> {
        Err(key_must_be_a_string())
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<String, ValueError> {
        Ok(value.to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Deserialize for Value
// ---------------------------------------------------------------------------------------

/// Accepts the whole serde data model: bytes become [`Value::Binary`], `None`/`()`
/// become `null`, non-finite floats become `null`, and non-string map keys (from binary
/// formats) are stringified like JavaScript object keys.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        int128(v).map_err(E::custom)
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        int128(v).map_err(E::custom)
    }
    fn visit_f32<E>(self, v: f32) -> Result<Value, E> {
        Ok(Value::from(f32_to_f64(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Binary(Bytes::copy_from_slice(v)))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Binary(Bytes::from(v)))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut vec = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element()? {
            vec.push(v);
        }
        Ok(Value::Array(vec))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::with_capacity(access.size_hint().unwrap_or(0).min(4096));
        while let Some(KeyString(k)) = access.next_key()? {
            let v = access.next_value()?;
            // Like a JavaScript object: a repeated key keeps its first position and takes
            // the last value.
            map.insert(k, v);
        }
        Ok(Value::Object(map))
    }
}

/// An object key: a string, or a scalar stringified as JavaScript would.
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean map key")
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u128<E>(self, v: u128) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyString, E> {
                let s = if v.is_nan() {
                    "NaN"
                } else if v.is_infinite() {
                    if v > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    }
                } else {
                    return Ok(KeyString(JsNumber::new().format_f64(v).to_string()));
                };
                Ok(KeyString(s.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<KeyString, E> {
                Ok(KeyString(v))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<KeyString, E> {
                match std::str::from_utf8(v) {
                    Ok(s) => Ok(KeyString(s.to_string())),
                    Err(_) => Err(E::invalid_value(Unexpected::Bytes(v), &self)),
                }
            }
            fn visit_unit<E>(self) -> Result<KeyString, E> {
                Ok(KeyString("null".to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------
// Deserializer for Value and &Value
// ---------------------------------------------------------------------------------------

/// Convert a [`Value`] into any serde type, without going through JSON text.
///
/// Binary deserializes as bytes (`bytes::Bytes`, `serde_bytes`) or as a sequence of `u8`
/// (`Vec<u8>`); enums are read from a string (unit variants) or a single-key object;
/// integer types accept integral floats, with range checks.
///
/// ```
/// use primus_core::{from_value, Value};
/// use serde::Deserialize;
///
/// #[derive(Deserialize, Debug, PartialEq)]
/// enum Cmd { Join(String), Leave }
///
/// let v: Value = serde_json::from_str(r#"[{"Join":"lobby"},"Leave"]"#).unwrap();
/// assert_eq!(from_value::<Vec<Cmd>>(v).unwrap(), [Cmd::Join("lobby".into()), Cmd::Leave]);
/// assert!(from_value::<u8>(Value::from(300)).is_err());
/// assert_eq!(from_value::<Vec<u8>>(Value::from(vec![1u8, 2])).unwrap(), [1, 2]);
/// ```
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    T::deserialize(value)
}

impl<'de> IntoDeserializer<'de, ValueError> for Value {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> IntoDeserializer<'de, ValueError> for &'de Value {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// Visit a number as `serde_json` does: `u64`, else `i64`, else `f64`.
fn visit_number<'de, V: Visitor<'de>>(n: &Number, visitor: V) -> Result<V::Value, ValueError> {
    if let Some(u) = n.as_u64() {
        visitor.visit_u64(u)
    } else if let Some(i) = n.as_i64() {
        visitor.visit_i64(i)
    } else {
        visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Visit a number for an integer type: integral floats are visited as integers (JavaScript
/// has no separate integer type); the visitor does the range check.
fn visit_integer<'de, V: Visitor<'de>>(n: &Number, visitor: V) -> Result<V::Value, ValueError> {
    if n.is_f64() {
        let f = n.as_f64().unwrap_or(f64::NAN);
        if let Some(u) = f64_to_u64(f) {
            return visitor.visit_u64(u);
        }
        if let Some(i) = f64_to_i64(f) {
            return visitor.visit_i64(i);
        }
    }
    visit_number(n, visitor)
}

fn visit_array<'de, V: Visitor<'de>>(
    array: Vec<Value>,
    visitor: V,
) -> Result<V::Value, ValueError> {
    let len = array.len();
    let mut seq = SeqDeserializer {
        iter: array.into_iter(),
    };
    let value = visitor.visit_seq(&mut seq)?;
    if seq.iter.len() == 0 {
        Ok(value)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in array"))
    }
}

fn visit_array_ref<'de, V: Visitor<'de>>(
    array: &'de [Value],
    visitor: V,
) -> Result<V::Value, ValueError> {
    let len = array.len();
    let mut seq = SeqRefDeserializer { iter: array.iter() };
    let value = visitor.visit_seq(&mut seq)?;
    if seq.iter.len() == 0 {
        Ok(value)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in array"))
    }
}

fn visit_bytes_seq<'de, V: Visitor<'de>>(bytes: Bytes, visitor: V) -> Result<V::Value, ValueError> {
    let len = bytes.len();
    let mut seq = BytesSeq { bytes, pos: 0 };
    let value = visitor.visit_seq(&mut seq)?;
    if seq.pos == len {
        Ok(value)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in array"))
    }
}

fn visit_object<'de, V: Visitor<'de>>(object: Map, visitor: V) -> Result<V::Value, ValueError> {
    let len = object.len();
    let mut map = MapDeserializer {
        iter: object.into_iter(),
        value: None,
    };
    let value = visitor.visit_map(&mut map)?;
    if map.iter.len() == 0 {
        Ok(value)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in map"))
    }
}

fn visit_object_ref<'de, V: Visitor<'de>>(
    object: &'de Map,
    visitor: V,
) -> Result<V::Value, ValueError> {
    let len = object.len();
    let mut map = MapRefDeserializer {
        iter: object.iter(),
        value: None,
    };
    let value = visitor.visit_map(&mut map)?;
    if map.iter.len() == 0 {
        Ok(value)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in map"))
    }
}

macro_rules! deserialize_integers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            match &self {
                Value::Number(n) => visit_integer(n, visitor),
                _ => Err(self.invalid_type(&visitor)),
            }
        }
    )*};
}

macro_rules! deserialize_floats {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            match &self {
                Value::Number(n) => visit_number(n, visitor),
                _ => Err(self.invalid_type(&visitor)),
            }
        }
    )*};
}

/// Deserialize a Rust value out of an owned [`Value`] (see [`from_value`]).
impl<'de> Deserializer<'de> for Value {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.into_owned() {
            Owned::Null => visitor.visit_unit(),
            Owned::Bool(b) => visitor.visit_bool(b),
            Owned::Number(n) => visit_number(&n, visitor),
            Owned::String(s) => visitor.visit_string(s),
            Owned::Binary(b) => visitor.visit_byte_buf(Vec::from(b)),
            Owned::Array(a) => visit_array(a, visitor),
            Owned::Object(o) => visit_object(o, visitor),
        }
    }

    deserialize_integers!(
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    );
    deserialize_floats!(deserialize_f32 deserialize_f64);

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Bool(b) => visitor.visit_bool(b),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.as_str() {
            Some(_) => visitor.visit_string(self.into_string().unwrap_or_default()),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Binary(_) | Value::String(_) | Value::Array(_) => match self.into_owned() {
                Owned::Binary(b) => visitor.visit_byte_buf(Vec::from(b)),
                Owned::String(s) => visitor.visit_string(s),
                Owned::Array(a) => visit_array(a, visitor),
                _ => unreachable!("checked above"),
            },
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Array(_) | Value::Binary(_) => match self.into_owned() {
                Owned::Array(a) => visit_array(a, visitor),
                Owned::Binary(b) => visit_bytes_seq(b, visitor),
                _ => unreachable!("checked above"),
            },
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.as_object() {
            Some(_) => visit_object(self.into_object().unwrap_or_default(), visitor),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::Object(_) | Value::Array(_) => match self.into_owned() {
                Owned::Object(o) => visit_object(o, visitor),
                Owned::Array(a) => visit_array(a, visitor),
                _ => unreachable!("checked above"),
            },
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::String(_) => visitor.visit_enum(EnumDeserializer::<Value> {
                variant: Cow::Owned(self.into_string().unwrap_or_default()),
                value: None,
            }),
            Value::Object(ref o) if o.len() == 1 => {
                let Some((variant, value)) = self.into_object().and_then(|o| o.into_iter().next())
                else {
                    unreachable!("checked above")
                };
                visitor.visit_enum(EnumDeserializer {
                    variant: Cow::Owned(variant),
                    value: Some(value),
                })
            }
            Value::Object(_) => Err(de::Error::invalid_value(
                Unexpected::Map,
                &"map with a single key",
            )),
            _ => Err(de::Error::invalid_type(self.unexpected(), &"string or map")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        drop(self);
        visitor.visit_unit()
    }
}

/// Deserialize a Rust value out of a borrowed [`Value`] (see [`Value::deserialize_into`]);
/// strings and bytes are lent to the visitor.
impl<'de> Deserializer<'de> for &'de Value {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => visit_number(n, visitor),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Binary(b) => visitor.visit_borrowed_bytes(b),
            Value::Array(a) => visit_array_ref(a, visitor),
            Value::Object(o) => visit_object_ref(o, visitor),
        }
    }

    deserialize_integers!(
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    );
    deserialize_floats!(deserialize_f32 deserialize_f64);

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Bool(b) => visitor.visit_bool(*b),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::String(s) => visitor.visit_borrowed_str(s),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Binary(b) => visitor.visit_borrowed_bytes(b),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(a) => visit_array_ref(a, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Array(a) => visit_array_ref(a, visitor),
            Value::Binary(b) => visit_bytes_seq(b.clone(), visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Object(o) => visit_object_ref(o, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::Object(o) => visit_object_ref(o, visitor),
            Value::Array(a) => visit_array_ref(a, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::String(s) => visitor.visit_enum(EnumDeserializer::<&Value> {
                variant: Cow::Borrowed(s),
                value: None,
            }),
            Value::Object(o) => match o.iter().next() {
                Some((variant, value)) if o.len() == 1 => visitor.visit_enum(EnumDeserializer {
                    variant: Cow::Borrowed(variant),
                    value: Some(value),
                }),
                _ => Err(de::Error::invalid_value(
                    Unexpected::Map,
                    &"map with a single key",
                )),
            },
            _ => Err(de::Error::invalid_type(self.unexpected(), &"string or map")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }
}

/// The elements of an owned array.
struct SeqDeserializer {
    iter: std::vec::IntoIter<Value>,
}

impl<'de> SeqAccess<'de> for SeqDeserializer {
    type Error = ValueError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        self.iter.next().map(|v| seed.deserialize(v)).transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// The elements of a borrowed array.
struct SeqRefDeserializer<'de> {
    iter: std::slice::Iter<'de, Value>,
}

impl<'de> SeqAccess<'de> for SeqRefDeserializer<'de> {
    type Error = ValueError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        self.iter.next().map(|v| seed.deserialize(v)).transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// Binary as a sequence of `u8`.
struct BytesSeq {
    bytes: Bytes,
    pos: usize,
}

impl<'de> SeqAccess<'de> for BytesSeq {
    type Error = ValueError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        let Some(&byte) = self.bytes.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        seed.deserialize(IntoDeserializer::<ValueError>::into_deserializer(byte))
            .map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.bytes.len() - self.pos)
    }
}

/// The entries of an owned object.
struct MapDeserializer {
    iter: indexmap::map::IntoIter<String, Value>,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for MapDeserializer {
    type Error = ValueError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(KeyDeserializer {
                    key: Cow::Owned(key),
                })
                .map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::custom("value is missing")),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// The entries of a borrowed object.
struct MapRefDeserializer<'de> {
    iter: indexmap::map::Iter<'de, String, Value>,
    value: Option<&'de Value>,
}

impl<'de> MapAccess<'de> for MapRefDeserializer<'de> {
    type Error = ValueError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(KeyDeserializer {
                    key: Cow::Borrowed(key),
                })
                .map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::custom("value is missing")),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// An object key or enum variant name. Like `serde_json`, keys can be read as numbers or
/// booleans (`HashMap<u32, _>` from `{"1": …}`).
struct KeyDeserializer<'de> {
    key: Cow<'de, str>,
}

macro_rules! deserialize_parsed_key {
    ($($method:ident => $visit:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            match self.key.parse() {
                Ok(n) => visitor.$visit(n),
                Err(_) => Err(de::Error::invalid_type(Unexpected::Str(&self.key), &visitor)),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for KeyDeserializer<'de> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.key {
            Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
            Cow::Owned(s) => visitor.visit_string(s),
        }
    }

    deserialize_parsed_key!(
        deserialize_bool => visit_bool,
        deserialize_i8 => visit_i8, deserialize_i16 => visit_i16,
        deserialize_i32 => visit_i32, deserialize_i64 => visit_i64,
        deserialize_i128 => visit_i128,
        deserialize_u8 => visit_u8, deserialize_u16 => visit_u16,
        deserialize_u32 => visit_u32, deserialize_u64 => visit_u64,
        deserialize_u128 => visit_u128,
        deserialize_f32 => visit_f32, deserialize_f64 => visit_f64
    );

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_enum(EnumDeserializer::<Value> {
            variant: self.key,
            value: None,
        })
    }

    forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

/// An externally tagged enum: the variant name and, unless it is a unit variant, its
/// content (`D` is [`Value`] or `&Value`).
struct EnumDeserializer<'de, D> {
    variant: Cow<'de, str>,
    value: Option<D>,
}

impl<'de, D: Deserializer<'de, Error = ValueError>> EnumAccess<'de> for EnumDeserializer<'de, D> {
    type Error = ValueError;
    type Variant = VariantDeserializer<D>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), ValueError> {
        let variant = seed.deserialize(KeyDeserializer { key: self.variant })?;
        Ok((variant, VariantDeserializer { value: self.value }))
    }
}

/// The content of an enum variant.
struct VariantDeserializer<D> {
    value: Option<D>,
}

impl<'de, D: Deserializer<'de, Error = ValueError>> VariantAccess<'de> for VariantDeserializer<D> {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self.value {
            Some(value) => <()>::deserialize(value),
            None => Ok(()),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        match self.value {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.value {
            Some(value) => value.deserialize_seq(visitor),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.value {
            Some(value) => value.deserialize_map(visitor),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}
