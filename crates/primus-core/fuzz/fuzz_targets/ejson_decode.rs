//! Any text: decoding returns a value or a `ParserError::Decode`, never panics; a decoded
//! value re-encodes, and that encoding decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use primus_core::parser::Ejson;
use primus_core::{Frame, Parser};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(value) = Ejson.decode(&Frame::text(text)) else {
        return;
    };
    let frame = Ejson.encode(&value).expect("a decoded value re-encodes");
    let again = Ejson.decode(&frame).expect("our own encoding decodes");
    assert_eq!(again, value);
});
