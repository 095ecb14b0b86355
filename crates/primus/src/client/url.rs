//! The server address a client was given, and the pieces the transports need from it
//! (protocol.md §1.2): scheme security, authority as written, credentials and query.
//! The path of the given URL is ignored: the pathname comes from the options.

use super::ClientError;

/// A parsed server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `https:`/`wss:` (true) or `http:`/`ws:` (false).
    pub(crate) secure: bool,
    /// The authority without credentials, exactly as given (`example.com`, `[::1]:8080`).
    pub(crate) host: String,
    /// The host name for DNS and TLS (IPv6 brackets removed).
    pub(crate) hostname: String,
    /// The port to connect to (the default port of the scheme when none was given).
    pub(crate) port: u16,
    /// `user:password` when the URL carried credentials (still percent-encoded).
    pub(crate) userinfo: Option<String>,
    /// The query string without the `?`, if any.
    pub(crate) query: Option<String>,
}

impl Endpoint {
    /// Parse `http(s)://` or `ws(s)://` URLs.
    pub(crate) fn parse(url: &str) -> Result<Self, ClientError> {
        let bad = |why: &str| ClientError::InvalidUrl(format!("`{url}`: {why}"));
        let uri: http::Uri = url.trim().parse().map_err(|e| bad(&format!("{e}")))?;
        let secure = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") | Some("ws") => false,
            Some("https") | Some("wss") => true,
            Some(other) => {
                return Err(bad(&format!(
                    "unsupported scheme `{other}` (use http, https, ws or wss)"
                )))
            }
            None => return Err(bad("a scheme is needed, e.g. `http://localhost:8080`")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let (userinfo, host) = match authority.as_str().rsplit_once('@') {
            Some((user, host)) => (Some(user.to_string()), host.to_string()),
            None => (None, authority.as_str().to_string()),
        };
        let hostname = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if hostname.is_empty() {
            return Err(bad("empty host"));
        }
        let port = authority
            .port_u16()
            .unwrap_or(if secure { 443 } else { 80 });
        let query = uri.query().filter(|q| !q.is_empty()).map(str::to_string);
        Ok(Endpoint {
            secure,
            host,
            hostname,
            port,
            userinfo,
            query,
        })
    }

    /// `http(s)://host<path>` for plain HTTP requests such as `/spec`.
    pub(crate) fn http_url(&self, path: &str) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.host)
    }

    /// The value of a `Basic` `Authorization` header for the URL's credentials, as Node's
    /// `ws` sends it (credentials are percent-decoded first).
    pub(crate) fn basic_auth(&self) -> Option<String> {
        let info = self.userinfo.as_deref()?;
        let decoded = percent_decode(info).unwrap_or_else(|| info.to_string());
        Some(format!("Basic {}", base64(decoded.as_bytes())))
    }
}

/// Standard base64 with padding (RFC 4648), for the `Authorization` header.
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `decodeURIComponent(s.replace(/\+/g, ' '))`-style decoding; `None` when the result is
/// not UTF-8 or an escape is malformed (the reference then skips the pair).
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// JavaScript's `encodeURIComponent`.
pub(crate) fn encode_uri_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    primus_core::query::escape_into(s, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_pieces_and_ignores_the_path() {
        let e = Endpoint::parse("https://u:p%40ss@example.com:8443/some/path?a=1&b=2").unwrap();
        assert!(e.secure);
        assert_eq!(e.host, "example.com:8443");
        assert_eq!(e.hostname, "example.com");
        assert_eq!(e.port, 8443);
        assert_eq!(e.userinfo.as_deref(), Some("u:p%40ss"));
        assert_eq!(e.query.as_deref(), Some("a=1&b=2"));
        assert_eq!(
            e.http_url("/primus/spec"),
            "https://example.com:8443/primus/spec"
        );
        assert_eq!(
            e.basic_auth().unwrap(),
            format!("Basic {}", base64(b"u:p@ss"))
        );

        let e = Endpoint::parse("ws://[::1]:9000").unwrap();
        assert!(!e.secure);
        assert_eq!(
            (e.host.as_str(), e.hostname.as_str(), e.port),
            ("[::1]:9000", "::1", 9000)
        );
        assert_eq!(Endpoint::parse("http://localhost").unwrap().port, 80);
        assert_eq!(Endpoint::parse("wss://localhost").unwrap().port, 443);
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        for bad in ["localhost:8080", "ftp://x", "", "http://", "not a url"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_and_uri_helpers() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(percent_decode("a+b%20c%C3%A9").as_deref(), Some("a b cé"));
        assert_eq!(percent_decode("%E0%A4%A"), None);
        assert_eq!(percent_decode("%FF"), None);
        assert_eq!(
            encode_uri_component("a b&c=d/é~"),
            "a%20b%26c%3Dd%2F%C3%A9~"
        );
    }
}
