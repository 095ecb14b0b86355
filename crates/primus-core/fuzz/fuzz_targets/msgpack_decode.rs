//! Any bytes: decoding returns a value or a `ParserError::Decode`, never panics; a decoded
//! value re-encodes, and that encoding decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use primus_core::parser::MsgPack;
use primus_core::{Frame, Parser};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = MsgPack.decode(&Frame::binary(data.to_vec())) else {
        return;
    };
    // Some decoded values cannot be written back (BinaryPack: empty binary, 2^64-1);
    // those that can must round-trip.
    if let Ok(frame) = MsgPack.encode(&value) {
        let again = MsgPack.decode(&frame).expect("our own encoding decodes");
        assert_eq!(again, value);
    }
});
