//! The framing of the `webtransport` transformer, with no runtime in it.
//!
//! A WebTransport session carries one bidirectional stream, opened by the client. A
//! stream is a byte stream, so each Primus frame gets a five-byte header:
//!
//! ```text
//! +------+-----------------------+---------------------+
//! | type | length (u32, big end.) | payload (length)    |
//! +------+-----------------------+---------------------+
//!   0x00 text (UTF-8)   0x01 binary
//! ```
//!
//! Both sides decode with a limit: a header announcing more than the limit is refused
//! before any of the payload is buffered ([`FrameError::TooLarge`]), an unknown type is
//! [`FrameError::UnknownType`] and a text payload that is not UTF-8 is
//! [`FrameError::InvalidUtf8`]. The decoder buffers at most one frame's header and payload
//! beyond what it was given in one read.
//!
//! ```
//! use primus_core::webtransport::{encode, FrameDecoder};
//! use primus_core::Frame;
//!
//! let mut wire = Vec::new();
//! encode(&Frame::text("\"hi\""), &mut wire).unwrap();
//! assert_eq!(wire, b"\x00\x00\x00\x00\x04\"hi\"");
//!
//! let mut decoder = FrameDecoder::new(1024);
//! decoder.push(&wire[..3]); // frames may arrive in any pieces
//! assert_eq!(decoder.next_frame().unwrap(), None);
//! decoder.push(&wire[3..]);
//! assert_eq!(decoder.next_frame().unwrap(), Some(Frame::text("\"hi\"")));
//! ```

use crate::Frame;
use bytes::{Buf, BytesMut};

/// Frame type of a text frame (UTF-8 payload).
pub const TEXT: u8 = 0x00;
/// Frame type of a binary frame.
pub const BINARY: u8 = 0x01;
/// Bytes of a frame header: the type and the payload length.
pub const HEADER_LEN: usize = 5;
/// The least a reader asks for at a time.
const MIN_READ: usize = 4 * 1024;
/// The most a reader asks for at a time (a large frame is read in such pieces).
const MAX_READ: usize = 64 * 1024;

/// A frame that cannot be accepted. The connection cannot go on after one: the stream
/// is out of step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The header has a type that is neither [`TEXT`] nor [`BINARY`].
    #[error("unknown webtransport frame type {0:#04x} (0x00 text, 0x01 binary)")]
    UnknownType(u8),
    /// The header announces a payload longer than the limit.
    #[error("webtransport frame of {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// The announced payload length.
        len: u64,
        /// The decoder's limit.
        limit: usize,
    },
    /// A text frame whose payload is not UTF-8.
    #[error("webtransport text frame is not valid UTF-8")]
    InvalidUtf8,
    /// A payload to send that is longer than a frame can say (`u32::MAX` bytes).
    #[error("a payload of {0} bytes is longer than a webtransport frame can carry (4 GiB)")]
    TooLongToSend(usize),
}

/// The header of `frame`; [`FrameError::TooLongToSend`] for a payload longer than
/// `u32::MAX` bytes (nothing limits what an application writes).
pub fn header(frame: &Frame) -> Result<[u8; HEADER_LEN], FrameError> {
    let kind = if frame.is_text() { TEXT } else { BINARY };
    let len = u32::try_from(frame.len())
        .map_err(|_| FrameError::TooLongToSend(frame.len()))?
        .to_be_bytes();
    Ok([kind, len[0], len[1], len[2], len[3]])
}

/// Append `frame`, header and payload, to `out` (nothing when it cannot be framed).
pub fn encode(frame: &Frame, out: &mut Vec<u8>) -> Result<(), FrameError> {
    out.extend_from_slice(&header(frame)?);
    out.extend_from_slice(frame.as_bytes());
    Ok(())
}

/// An incremental decoder: bytes in (in any pieces), frames out.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    limit: usize,
}

impl FrameDecoder {
    /// A decoder refusing payloads longer than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        FrameDecoder {
            buf: BytesMut::new(),
            limit,
        }
    }

    /// Bytes received and not decoded yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The buffer to read into (for `AsyncReadExt::read_buf`), with room for the next
    /// read: what the frame under way still needs, between 4 KiB and 64 KiB.
    pub fn read_buffer(&mut self) -> &mut BytesMut {
        let missing = self.missing().clamp(MIN_READ, MAX_READ);
        if self.buf.capacity() - self.buf.len() < missing {
            self.buf.reserve(missing);
        }
        &mut self.buf
    }

    /// Bytes the frame under way still needs (a header's worth when none is under way).
    fn missing(&self) -> usize {
        if self.buf.len() < HEADER_LEN {
            return HEADER_LEN - self.buf.len();
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        (HEADER_LEN + len as usize).saturating_sub(self.buf.len())
    }

    /// The next complete frame, `None` until more bytes arrive. After an error the
    /// decoder is out of step and must not be used any more.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let kind = self.buf[0];
        if kind != TEXT && kind != BINARY {
            return Err(FrameError::UnknownType(kind));
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        if len as u64 > self.limit as u64 {
            return Err(FrameError::TooLarge {
                len: len as u64,
                limit: self.limit,
            });
        }
        let len = len as usize;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        let payload = self.buf.split_to(len).freeze();
        if kind == TEXT {
            Frame::text_from_bytes(payload)
                .map(Some)
                .map_err(|_| FrameError::InvalidUtf8)
        } else {
            Ok(Some(Frame::Binary(payload)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(wire: &[u8], limit: usize, piece: usize) -> Result<Vec<Frame>, FrameError> {
        let mut d = FrameDecoder::new(limit);
        let mut out = Vec::new();
        for chunk in wire.chunks(piece.max(1)) {
            d.push(chunk);
            while let Some(f) = d.next_frame()? {
                out.push(f);
            }
        }
        assert_eq!(d.buffered(), 0, "bytes left over");
        Ok(out)
    }

    #[test]
    fn encodes_both_types_and_empty_payloads() {
        let mut wire = Vec::new();
        encode(&Frame::binary(vec![0u8, 255]), &mut wire).unwrap();
        encode(&Frame::text(""), &mut wire).unwrap();
        assert_eq!(wire, b"\x01\x00\x00\x00\x02\x00\xff\x00\x00\x00\x00\x00");
        assert_eq!(
            frames(&wire, 16, 1).unwrap(),
            vec![Frame::binary(vec![0u8, 255]), Frame::text("")]
        );
    }

    #[test]
    fn refuses_what_it_cannot_take_from_the_header_on() {
        // 2^32 - 1 announced: refused without waiting for (or buffering) the payload.
        let err = frames(b"\x01\xff\xff\xff\xff", 1024, 5).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                len: u32::MAX as u64,
                limit: 1024
            }
        );
        assert_eq!(
            frames(b"\x07\x00\x00\x00\x00", 8, 5).unwrap_err(),
            FrameError::UnknownType(7)
        );
        assert_eq!(
            frames(b"\x00\x00\x00\x00\x02\xc3\x28", 8, 7).unwrap_err(),
            FrameError::InvalidUtf8
        );
        // Exactly the limit is fine.
        assert_eq!(frames(b"\x01\x00\x00\x00\x02ab", 2, 3).unwrap().len(), 1);
    }

    #[test]
    fn the_read_buffer_asks_for_what_the_frame_needs_within_bounds() {
        let mut d = FrameDecoder::new(1 << 20);
        assert!(d.read_buffer().capacity() >= MIN_READ);
        d.push(&[BINARY, 0, 0x10, 0, 0]); // a 1 MiB frame under way
        let spare = {
            let b = d.read_buffer();
            b.capacity() - b.len()
        };
        assert!((MAX_READ..4 * MAX_READ).contains(&spare), "{spare}");
    }

    proptest! {
        #[test]
        fn any_frames_in_any_pieces_round_trip(
            payloads in proptest::collection::vec((any::<bool>(), ".{0,40}"), 0..20),
            piece in 1usize..64,
        ) {
            let sent: Vec<Frame> = payloads
                .into_iter()
                .map(|(text, s)| if text { Frame::text(s) } else { Frame::binary(s.into_bytes()) })
                .collect();
            let mut wire = Vec::new();
            for f in &sent {
                encode(f, &mut wire).unwrap();
            }
            prop_assert_eq!(frames(&wire, 1024, piece).unwrap(), sent);
        }

        #[test]
        fn any_bytes_decode_or_fail_without_panicking(
            wire in proptest::collection::vec(any::<u8>(), 0..256),
            limit in 0usize..64,
        ) {
            let mut d = FrameDecoder::new(limit);
            d.push(&wire);
            for _ in 0..=wire.len() {
                match d.next_frame() {
                    Ok(Some(f)) => prop_assert!(f.len() <= limit),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
