//! The dynamic message value: everything JSON can say, plus binary.
//!
//! PLACEHOLDER: the serde bridges below go through `serde_json::Value` and lose binary;
//! they are being replaced by a direct `Serializer`/`Deserializer` for [`Value`].

use bytes::Bytes;
use indexmap::IndexMap;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub use serde_json::Number;

/// An object: string keys in insertion order (like a JavaScript object).
pub type Map = IndexMap<String, Value>;

/// A dynamically typed message value.
#[derive(Clone, Debug, PartialEq, Default)]
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

impl Value {
    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

fn from_json(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Number(n),
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::Array(a.into_iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, from_json(v))).collect())
        }
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => n.serialize(s),
            Value::String(v) => s.serialize_str(v),
            Value::Binary(b) => s.serialize_bytes(b),
            Value::Array(a) => a.serialize(s),
            Value::Object(o) => o.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(from_json)
    }
}

/// Convert any serde value into a [`Value`].
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
    serde_json::to_value(value).map(from_json).map_err(|e| ValueError(e.to_string()))
}

/// Convert a [`Value`] into any serde type.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    let json = serde_json::to_value(&value).map_err(|e| ValueError(e.to_string()))?;
    serde_json::from_value(json).map_err(|e| ValueError(e.to_string()))
}
