//! Client address resolution like the reference's `forwarded-for` module.
//!
//! A spark's `address` is the client's `{ip, port, secure}`: taken from a proxy header
//! when one is present and valid, else from the socket. See [`resolve`] for the rules and
//! for where this port deliberately differs from the reference.
//!
//! ```
//! use http::HeaderMap;
//! use primus_core::forwarded::{resolve, Address};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("x-forwarded-for", "13.3.37.1, 10.0.0.1".parse().unwrap());
//! headers.insert("x-forwarded-port", "9083".parse().unwrap());
//! headers.insert("x-forwarded-proto", "https".parse().unwrap());
//!
//! let addr = resolve("10.0.0.1:51234".parse().unwrap(), false, &headers, &[]);
//! assert_eq!(addr, Address { ip: "13.3.37.1".parse().unwrap(), port: 9083, secure: true });
//! assert_eq!(
//!     serde_json::to_string(&addr).unwrap(),
//!     r#"{"ip":"13.3.37.1","port":9083,"secure":true}"#
//! );
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::HeaderMap;

/// A client's address as Primus reports it (`spark.address`, `req.forwarded`).
///
/// Serialises as `{"ip":"1.2.3.4","port":80,"secure":false}`.
///
/// ```
/// use primus_core::forwarded::Address;
///
/// let a = Address::from_socket("1.2.3.4:80".parse().unwrap(), false);
/// assert_eq!(a.to_string(), "1.2.3.4:80");
/// assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"ip":"1.2.3.4","port":80,"secure":false}"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Address {
    /// The client's IP address.
    pub ip: IpAddr,
    /// The client's port (the socket's port when no proxy header says otherwise).
    pub port: u16,
    /// Whether the client's connection was secure (TLS), as far as we can tell.
    pub secure: bool,
}

impl Address {
    /// The address of the socket itself, with no proxy headers involved.
    ///
    /// ```
    /// let a = primus_core::forwarded::Address::from_socket("[::1]:8080".parse().unwrap(), true);
    /// assert_eq!((a.ip.to_string().as_str(), a.port, a.secure), ("::1", 8080, true));
    /// ```
    pub fn from_socket(remote: SocketAddr, secure: bool) -> Self {
        Address {
            ip: remote.ip(),
            port: remote.port(),
            secure,
        }
    }

    /// The IP and port as a socket address.
    ///
    /// ```
    /// let a = primus_core::forwarded::Address::from_socket("1.2.3.4:80".parse().unwrap(), false);
    /// assert_eq!(a.socket_addr(), "1.2.3.4:80".parse().unwrap());
    /// ```
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }
}

impl fmt::Display for Address {
    /// `ip:port`, with IPv6 in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.socket_addr().fmt(f)
    }
}

impl From<Address> for SocketAddr {
    fn from(a: Address) -> Self {
        a.socket_addr()
    }
}

/// One proxy header with its companion port and protocol headers.
struct ProxyHeader {
    ip: &'static str,
    port: &'static str,
    proto: &'static str,
}

/// The headers looked at, in this fixed order, with the companion header names the
/// reference uses (`fastly-ssl` is Fastly's real TLS indicator; the other port/proto
/// names are the reference's "estimated guesses" where no standard exists).
const PROXIES: [ProxyHeader; 5] = [
    ProxyHeader {
        ip: "fastly-client-ip",
        port: "fastly-client-port",
        proto: "fastly-ssl",
    },
    ProxyHeader {
        ip: "x-forwarded-for",
        port: "x-forwarded-port",
        proto: "x-forwarded-proto",
    },
    ProxyHeader {
        ip: "z-forwarded-for",
        port: "z-forwarded-port",
        proto: "z-forwarded-proto",
    },
    ProxyHeader {
        ip: "forwarded",
        port: "forwarded-port",
        proto: "forwarded-proto",
    },
    ProxyHeader {
        ip: "x-real-ip",
        port: "x-real-port",
        proto: "x-real-proto",
    },
];

/// Resolve a client's address from the socket address and the request's proxy headers,
/// like the reference's `forwarded-for(req, headers, primus.whitelist)`.
///
/// `remote` is the peer of the TCP connection and `secure` whether that connection is
/// TLS; they are the answer when no proxy header is usable.
///
/// # Headers
///
/// The headers are tried in this fixed order (the reference moves the last header that
/// matched to the front of its list at run time, so its order depends on earlier
/// requests; ours doesn't):
///
/// | client IP | port | protocol |
/// |---|---|---|
/// | `fastly-client-ip` | `fastly-client-port` | `fastly-ssl` |
/// | `x-forwarded-for` | `x-forwarded-port` | `x-forwarded-proto` |
/// | `z-forwarded-for` | `z-forwarded-port` | `z-forwarded-proto` |
/// | `forwarded` | `forwarded-port` | `forwarded-proto` |
/// | `x-real-ip` | `x-real-port` | `x-real-proto` |
///
/// For each header that is present (several header lines are joined with `,`, as Node
/// does):
///
/// - The value is split on `,` and each entry trimmed. An entry may be `ip`, `ipv4:port`,
///   `[ipv6]:port`, `[ipv6]` or a bare IPv6 address. If **any** entry is something else
///   (including an empty entry or a value that is not ASCII) the header is considered
///   forged and skipped.
/// - The client is the **first** entry (`client, proxy1, proxy2, …`).
/// - Port: the first entry's `:port` if it has one, else the first value of the port
///   header, else the socket's port.
/// - `secure`: if the protocol header is present, whether its first value is `https`
///   (any case) or `1` (what Fastly sends); else the `secure` argument.
/// - If `trusted_proxies` is not empty, every entry after the first must be in it, or the
///   header is skipped (IPv4-mapped IPv6 addresses match their IPv4 form).
///
/// The first header that passes gives the address. When none does, the socket's address
/// is returned. The reference stops at the first header present even when it is invalid
/// (and then uses the socket address); trying the next one lets e.g. an `x-real-ip` set by
/// nginx win over a garbage `x-forwarded-for` sent by the client.
///
/// # `Forwarded` (RFC 7239)
///
/// The reference treats `Forwarded` as a plain list of IPs and so never understands the
/// standard syntax. Here, a `forwarded` value containing `=` is parsed as RFC 7239:
/// elements separated by `,`, parameters by `;`, values as tokens or quoted strings. Each
/// element's `for=` is a node (`1.2.3.4`, `"1.2.3.4:80"`, `"[2001:db8::1]:4711"`; an
/// obfuscated port like `"1.2.3.4:_p"` is ignored). An element without `for=`, or whose
/// node is not an IP address (`unknown`, `_hidden`), makes the header unusable, like an
/// invalid entry above. `proto=` of the first element sets `secure` (falling back to
/// `forwarded-proto`). A value without `=` is read as a plain list, like the reference.
///
/// # Trust
///
/// With an empty `trusted_proxies` (the reference's default) the headers are believed
/// whoever sent them: any client can claim any address by sending `X-Forwarded-For`.
/// Only rely on the result for anything security related when the server is reachable
/// solely through proxies that overwrite these headers, or pass the proxies' addresses.
///
/// With a non-empty `trusted_proxies`, the headers are only honoured when the direct peer
/// (`remote.ip()`) is in the list too, so a client connecting directly cannot spoof its
/// address. The reference checks only the hops listed in the header, which a client can
/// simply leave out; this check is our addition.
///
/// ```
/// use http::HeaderMap;
/// use primus_core::forwarded::resolve;
///
/// let proxy: std::net::IpAddr = "10.0.0.1".parse().unwrap();
/// let mut h = HeaderMap::new();
/// h.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
///
/// // Through the trusted proxy: the header is believed.
/// let a = resolve("10.0.0.1:4000".parse().unwrap(), false, &h, &[proxy]);
/// assert_eq!(a.ip.to_string(), "203.0.113.9");
/// // Straight from somebody else: it is not.
/// let a = resolve("198.51.100.7:4000".parse().unwrap(), false, &h, &[proxy]);
/// assert_eq!(a.ip.to_string(), "198.51.100.7");
///
/// // RFC 7239.
/// let mut h = HeaderMap::new();
/// h.insert("forwarded", r#"for="[2001:db8::17]:4711";proto=https, for=10.0.0.1"#.parse().unwrap());
/// let a = resolve("10.0.0.1:4000".parse().unwrap(), false, &h, &[]);
/// assert_eq!(a.to_string(), "[2001:db8::17]:4711");
/// assert!(a.secure);
/// ```
pub fn resolve(
    remote: SocketAddr,
    secure: bool,
    headers: &HeaderMap,
    trusted_proxies: &[IpAddr],
) -> Address {
    let fallback = Address::from_socket(remote, secure);
    if !trusted_proxies.is_empty() && !is_trusted(remote.ip(), trusted_proxies) {
        return fallback;
    }
    PROXIES
        .iter()
        .find_map(|proxy| from_header(proxy, remote, secure, headers, trusted_proxies))
        .unwrap_or(fallback)
}

/// The address one proxy header gives, if it is present and usable.
fn from_header(
    proxy: &ProxyHeader,
    remote: SocketAddr,
    secure: bool,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> Option<Address> {
    let value = joined(headers, proxy.ip)?.ok()?;
    let (nodes, rfc_secure) = if proxy.ip == "forwarded" && value.contains('=') {
        parse_rfc7239(&value)?
    } else {
        (parse_list(&value)?, None)
    };
    let (&(ip, entry_port), hops) = nodes.split_first()?;
    if !trusted.is_empty() && !hops.iter().all(|&(hop, _)| is_trusted(hop, trusted)) {
        return None;
    }
    let port = entry_port
        .or_else(|| first_value(headers, proxy.port).and_then(|p| p.parse().ok()))
        .unwrap_or(remote.port());
    let secure = match (rfc_secure, first_value(headers, proxy.proto)) {
        (Some(rfc_secure), _) => rfc_secure,
        (None, Some(proto)) => proto.eq_ignore_ascii_case("https") || proto == "1",
        (None, None) => secure,
    };
    Some(Address { ip, port, secure })
}

/// All lines of a header joined with `,`: `None` when absent, `Some(Err)` when a line is
/// not visible ASCII.
fn joined(headers: &HeaderMap, name: &str) -> Option<Result<String, http::header::ToStrError>> {
    let mut lines = headers.get_all(name).iter();
    let first = lines.next()?;
    let mut out = match first.to_str() {
        Ok(s) => s.to_owned(),
        Err(e) => return Some(Err(e)),
    };
    for line in lines {
        match line.to_str() {
            Ok(s) => {
                out.push(',');
                out.push_str(s);
            }
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(out))
}

/// The first comma-separated value of a header, trimmed.
fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split(',').next().unwrap_or("").trim();
    (!first.is_empty()).then_some(first)
}

type Node = (IpAddr, Option<u16>);

/// `ip, ip:port, [v6]:port, v6, …`: every entry must be an address.
fn parse_list(value: &str) -> Option<Vec<Node>> {
    value.split(',').map(|e| parse_entry(e.trim())).collect()
}

/// One list entry: `ip`, `ipv4:port`, `[ipv6]`, `[ipv6]:port` or a bare IPv6 address.
fn parse_entry(entry: &str) -> Option<Node> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some((ip, None));
    }
    if let Ok(sa) = entry.parse::<SocketAddr>() {
        return Some((sa.ip(), Some(sa.port())));
    }
    let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
    Some((IpAddr::V6(inner.parse::<Ipv6Addr>().ok()?), None))
}

/// RFC 7239 `Forwarded`: the `for=` node of every element, and whether the first
/// element's `proto=` (if any) is `https`. `None` when malformed or when an element has no
/// usable `for=`.
fn parse_rfc7239(value: &str) -> Option<(Vec<Node>, Option<bool>)> {
    let mut nodes = Vec::new();
    let mut first_proto = None;
    for (i, element) in split_unquoted(value, ',').into_iter().enumerate() {
        let mut node = None;
        let mut proto = None;
        for pair in split_unquoted(element, ';') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (name, raw) = pair.split_once('=')?;
            let value = unquote(raw.trim())?;
            match name.trim().to_ascii_lowercase().as_str() {
                "for" if node.is_none() => node = Some(parse_rfc_node(&value)?),
                "proto" if proto.is_none() => proto = Some(value),
                "for" | "proto" => return None, // repeated parameter
                _ => {}
            }
        }
        nodes.push(node?);
        if i == 0 {
            first_proto = proto.map(|p: String| p.eq_ignore_ascii_case("https"));
        }
    }
    Some((nodes, first_proto))
}

/// An RFC 7239 node: `ipv4`, `ipv4:port`, `[ipv6]`, `[ipv6]:port` (an obfuscated port
/// `_xyz` is dropped); a bare IPv6 address is accepted too.
fn parse_rfc_node(node: &str) -> Option<Node> {
    let (host, port) = if let Some(rest) = node.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let ip = IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?);
        if after.is_empty() {
            return Some((ip, None));
        }
        (ip, after.strip_prefix(':')?)
    } else if let Ok(ip) = node.parse::<IpAddr>() {
        return Some((ip, None));
    } else {
        let (host, port) = node.split_once(':')?;
        (IpAddr::V4(host.parse().ok()?), port)
    };
    if port.starts_with('_') && port.len() > 1 {
        return Some((host, None));
    }
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, Some(port.parse().ok()?)))
}

/// Split on `sep` outside double-quoted strings (backslash escapes inside quotes).
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if in_quotes && c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_quotes = !in_quotes;
        } else if c == sep && !in_quotes {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A token as is, or a quoted string without its quotes and escapes.
fn unquote(raw: &str) -> Option<String> {
    let Some(inner) = raw.strip_prefix('"') else {
        return (!raw.contains('"')).then(|| raw.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn is_trusted(ip: IpAddr, trusted: &[IpAddr]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|t| t.to_canonical() == ip)
}
