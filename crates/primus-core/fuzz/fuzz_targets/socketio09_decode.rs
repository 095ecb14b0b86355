//! Any text as a Socket.IO 0.9 payload: splitting and decoding return packets or a
//! `DecodeError`, never panic; a decoded packet re-encodes to text that decodes to the
//! same packet, and the packets re-framed as a payload (encoded, and written in place)
//! split back into the same texts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use primus_core::socketio09::{decode_payload, encode_payload, Packet, PayloadWriter};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(packets) = decode_payload(text, usize::MAX) else {
        return;
    };
    let mut again = Vec::new();
    let mut writer = PayloadWriter::default();
    for p in &packets {
        let Ok(packet) = Packet::decode(p) else {
            continue;
        };
        let _ = packet.event_data();
        let encoded = packet.encode();
        let decoded = Packet::decode(&encoded).expect("our own encoding decodes");
        assert_eq!(decoded, packet);
        writer.push(&packet);
        again.push(encoded);
    }
    if !again.is_empty() {
        let payload = encode_payload(&again);
        assert_eq!(writer.finish(), payload);
        let split = decode_payload(&payload, usize::MAX).expect("our own payload splits");
        assert_eq!(split, again);
    }
});
