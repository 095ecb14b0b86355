//! HTTP Basic credentials: a small base64 decoder and a constant-time comparison.

/// The value of one base64 character (standard alphabet), if it is one.
fn sextet(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decode standard base64 (RFC 4648 §4). Padding is optional; anything else that is not
/// of the alphabet, or a length no encoder produces, is refused.
pub(super) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let unpadded = match bytes {
        [rest @ .., b'=', b'='] if bytes.len() % 4 == 0 => rest,
        [rest @ .., b'='] if bytes.len() % 4 == 0 => rest,
        _ => bytes,
    };
    if unpadded.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(unpadded.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in unpadded {
        acc = (acc << 6) | sextet(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Whether `given` equals `expected`, in a time that depends only on `expected`'s length
/// (which the server knows) and not on where the first difference is.
pub(super) fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, &e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!e);
        diff |= std::hint::black_box(g ^ e);
    }
    diff == 0
}

/// Whether an `Authorization` header value carries exactly these Basic credentials
/// (`expected` is `user:password`). The scheme is matched without regard to case.
pub(super) fn basic_matches(header: &[u8], expected: &[u8]) -> bool {
    let Ok(header) = std::str::from_utf8(header) else {
        return false;
    };
    let header = header.trim();
    let Some((scheme, token)) = header.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Some(given) = base64_decode(token.trim()) else {
        return false;
    };
    constant_time_eq(&given, expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9vYg", "foob"),
        ];
        for (enc, dec) in vectors {
            assert_eq!(base64_decode(enc).as_deref(), Some(dec.as_bytes()), "{enc}");
        }
        assert_eq!(base64_decode("Zm9v!"), None);
        assert_eq!(base64_decode("Z"), None);
        assert_eq!(base64_decode("Zm9v="), None);
    }

    #[test]
    fn compares_exactly() {
        assert!(constant_time_eq(b"user:pass", b"user:pass"));
        assert!(!constant_time_eq(b"user:pasS", b"user:pass"));
        assert!(!constant_time_eq(b"user:pas", b"user:pass"));
        assert!(!constant_time_eq(b"user:passs", b"user:pass"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn basic_header() {
        // base64("user:pass") = dXNlcjpwYXNz
        assert!(basic_matches(b"Basic dXNlcjpwYXNz", b"user:pass"));
        assert!(basic_matches(b"basic dXNlcjpwYXNz", b"user:pass"));
        assert!(!basic_matches(b"Bearer dXNlcjpwYXNz", b"user:pass"));
        assert!(!basic_matches(b"Basic dXNlcjpwYXN6", b"user:pass"));
        assert!(!basic_matches(b"Basic", b"user:pass"));
        assert!(!basic_matches(b"Basic !!!", b"user:pass"));
    }
}
