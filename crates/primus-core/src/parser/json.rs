//! The `json` parser (the default).
//!
//! PLACEHOLDER: plain serde_json; JavaScript number formatting and U+2028/9 escaping
//! are being added.

use super::{Parser, ParserError};
use crate::{Frame, Value};

/// The default parser: `JSON.stringify` / `JSON.parse` semantics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Parser for Json {
    fn name(&self) -> &str {
        "json"
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Frame, ParserError> {
        let s = serde_json::to_string(value).map_err(|e| ParserError::Encode(e.to_string()))?;
        Ok(Frame::text(s))
    }

    fn decode(&self, frame: &Frame) -> Result<Value, ParserError> {
        match frame {
            // Like the reference: a non-text frame is passed through unchanged.
            Frame::Binary(b) => Ok(Value::Binary(b.clone())),
            Frame::Text(b) => serde_json::from_slice(b).map_err(|e| ParserError::Decode(e.to_string())),
        }
    }
}
