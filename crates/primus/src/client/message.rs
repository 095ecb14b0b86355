//! A received message.

use primus_core::{from_value, Frame, Value, ValueError};
use serde::de::DeserializeOwned;

/// One message received from the server, after decoding and the incoming transforms
/// (the reference's `data(data, raw)`).
///
/// ```
/// use primus::client::Message;
/// use primus::{Frame, Value};
/// let m = Message::new(Value::from("hi"), Frame::text("\"hi\""));
/// assert_eq!(m.decode::<String>().unwrap(), "hi");
/// assert_eq!(m.raw().as_str(), Some("\"hi\""));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    value: Value,
    raw: Frame,
}

impl Message {
    /// A message from its decoded value and the frame it came in.
    pub fn new(value: Value, raw: Frame) -> Self {
        Message { value, raw }
    }

    /// The decoded value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The frame as it arrived (before the incoming transforms).
    pub fn raw(&self) -> &Frame {
        &self.raw
    }

    /// Convert the value into any deserialisable type.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        from_value(self.value.clone())
    }

    /// Take the decoded value.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// Take the value and the raw frame.
    pub fn into_parts(self) -> (Value, Frame) {
        (self.value, self.raw)
    }
}
