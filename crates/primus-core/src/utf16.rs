//! String lengths as JavaScript counts them (UTF-16 code units), for the wire formats
//! that prefix data with `string.length`: Engine.IO protocol 3 payloads, Socket.IO 0.9
//! payloads and BrowserChannel chunks (re-exported as
//! [`browserchannel::utf16_len`](crate::browserchannel::utf16_len)).

/// `s.length` in JavaScript: its UTF-16 code units. One pass over the bytes: every
/// character is one unit except those outside the BMP (4 UTF-8 bytes, 2 units), so a
/// continuation byte counts 0, the lead byte of a 4-byte character 2, any other byte 1.
pub fn len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            0x80..=0xbf => 0,
            0xf0..=0xff => 2,
            _ => 1,
        })
        .sum()
}

/// The byte offset after the first `units` UTF-16 code units of `s`; `None` when `s` is
/// shorter or the count ends inside a surrogate pair (half a character, which a Rust
/// string cannot hold).
pub(crate) fn offset(s: &str, units: usize) -> Option<usize> {
    let mut seen = 0;
    for (i, c) in s.char_indices() {
        if seen == units {
            return Some(i);
        }
        seen += c.len_utf16();
        if seen > units {
            return None;
        }
    }
    (seen == units).then_some(s.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_like_javascript() {
        assert_eq!(super::len(""), 0);
        assert_eq!(super::len("aé"), 2);
        // An astral character is a surrogate pair: two units, four bytes.
        assert_eq!(super::len("😀"), 2);
        assert_eq!(super::len("aé€😀"), 1 + 1 + 1 + 2);
        for s in [
            "ünï\u{2028}cödé 😀",
            "\u{0}\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}",
        ] {
            assert_eq!(super::len(s), s.encode_utf16().count(), "{s:?}");
        }
        assert_eq!(super::offset("a😀b", 3), Some(5));
        assert_eq!(super::offset("a😀b", 2), None);
        assert_eq!(super::offset("a😀b", 4), Some(6));
        assert_eq!(super::offset("a😀b", 5), None);
        assert_eq!(super::offset("", 0), Some(0));
    }
}
