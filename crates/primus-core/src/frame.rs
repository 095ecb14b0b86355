use bytes::Bytes;

/// One encoded message, exactly as a transformer carries it: Primus has no framing of its
/// own, so one `Frame` is one WebSocket message, one Engine.IO packet, one SockJS array
/// element.
///
/// Frames are cheap to clone (reference-counted), which is what lets a broadcast encode a
/// message once and share the bytes across every connection.
///
/// ```
/// use primus_core::Frame;
/// let f = Frame::text("\"hello\"");
/// assert_eq!(f.as_bytes(), b"\"hello\"");
/// assert!(f.is_text());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text frame. The bytes are always valid UTF-8 (the constructors guarantee it).
    Text(Bytes),
    /// A binary frame.
    Binary(Bytes),
}

impl Frame {
    /// A text frame from a string.
    pub fn text(s: impl Into<String>) -> Self {
        Frame::Text(Bytes::from(s.into()))
    }

    /// A text frame from bytes, checking that they are UTF-8.
    pub fn text_from_bytes(b: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&b)?;
        Ok(Frame::Text(b))
    }

    /// A binary frame.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Frame::Binary(b.into())
    }

    /// The payload bytes, whatever the frame type.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Frame::Text(b) | Frame::Binary(b) => b,
        }
    }

    /// The payload as a shared buffer.
    pub fn bytes(&self) -> &Bytes {
        match self {
            Frame::Text(b) | Frame::Binary(b) => b,
        }
    }

    /// The payload as text, if this is a text frame.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            // The constructors only build text frames from valid UTF-8.
            Frame::Text(b) => std::str::from_utf8(b).ok(),
            Frame::Binary(_) => None,
        }
    }

    /// Whether this is a text frame.
    pub fn is_text(&self) -> bool {
        matches!(self, Frame::Text(_))
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
