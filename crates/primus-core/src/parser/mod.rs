//! Message parsers: how a value becomes a [`Frame`] and back.
//!
//! A parser is chosen by name in the server options (`"json"`, the default) or given as a
//! value implementing [`Parser`]. Protocol messages (`primus::ping::…`) go through the same
//! parser as user data, exactly like the reference implementation.

use crate::{Frame, Value};
use std::fmt::Debug;
use std::sync::Arc;

mod binary;
pub mod ejson;
mod json;
mod msgpack;
mod pack;

pub use binary::Binary;
pub use ejson::Ejson;
pub use json::Json;
pub use msgpack::MsgPack;

/// An encoder/decoder pair for messages.
///
/// Implement it to plug in your own format. `encode` takes any serde value through
/// [`erased_serde`], so the trait stays object safe and parsers can be chosen at run time.
///
/// ```
/// use primus_core::{parser::Json, Parser, Frame, Value};
/// let json = Json;
/// let frame = json.encode(&"hi").unwrap();
/// assert_eq!(frame, Frame::text("\"hi\""));
/// assert_eq!(json.decode(&frame).unwrap(), Value::from("hi"));
/// ```
pub trait Parser: Send + Sync + Debug + 'static {
    /// The lower-case name published in `/primus/spec` (`"json"`, …, or `"custom"`).
    fn name(&self) -> &str;

    /// Encode one message.
    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Frame, ParserError>;

    /// Decode one incoming frame.
    fn decode(&self, frame: &Frame) -> Result<Value, ParserError>;

    /// Whether this parser produces binary frames (text-only transformers refuse those).
    fn is_binary(&self) -> bool {
        false
    }
}

/// A shared parser, as the server and client hold it.
pub type SharedParser = Arc<dyn Parser>;

/// Look up a built-in parser by its (case-insensitive) name: `json`, `msgpack`, `ejson`
/// or `binary`.
///
/// ```
/// assert_eq!(primus_core::parser::by_name("JSON").unwrap().name(), "json");
/// assert_eq!(primus_core::parser::by_name("MsgPack").unwrap().name(), "msgpack");
/// assert!(primus_core::parser::by_name("binary").unwrap().is_binary());
/// assert!(primus_core::parser::by_name("nope").is_err());
/// ```
pub fn by_name(name: &str) -> Result<SharedParser, ParserError> {
    match name.to_ascii_lowercase().as_str() {
        "json" => Ok(Arc::new(Json)),
        "msgpack" => Ok(Arc::new(MsgPack)),
        "ejson" => Ok(Arc::new(Ejson)),
        "binary" => Ok(Arc::new(Binary)),
        other => Err(ParserError::Unknown(other.to_string())),
    }
}

/// Why a message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum ParserError {
    /// The incoming frame is not valid for this parser. The message is dropped; the
    /// connection stays open.
    #[error("Failed to decode incoming data: {0}")]
    Decode(String),
    /// The outgoing value cannot be represented by this parser.
    #[error("Failed to encode outgoing data: {0}")]
    Encode(String),
    /// No built-in parser has this name.
    #[error(
        "unknown parser `{0}`: use one of json, msgpack, ejson, binary, or pass your own `Parser`"
    )]
    Unknown(String),
}
