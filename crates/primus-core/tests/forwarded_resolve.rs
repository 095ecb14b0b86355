//! `forwarded::resolve`: the reference's `forwarded-for` behaviour, plus our documented
//! differences (fixed header order, next header on a forged one, peer trust, RFC 7239).

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderName, HeaderValue};
use primus_core::forwarded::{resolve, Address};

const PEER: &str = "10.0.0.1:51234";

fn peer() -> SocketAddr {
    PEER.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    h
}

fn addr(ip_: &str, port: u16, secure: bool) -> Address {
    Address {
        ip: ip(ip_),
        port,
        secure,
    }
}

fn socket() -> Address {
    addr("10.0.0.1", 51234, false)
}

#[test]
fn observed_reference_case() {
    let h = headers(&[
        ("X-Forwarded-For", "13.3.37.1, 10.0.0.1"),
        ("X-Forwarded-Port", "9083"),
        ("X-Forwarded-Proto", "https"),
    ]);
    let a = resolve(peer(), false, &h, &[]);
    assert_eq!(a, addr("13.3.37.1", 9083, true));
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        r#"{"ip":"13.3.37.1","port":9083,"secure":true}"#
    );
}

#[test]
fn no_headers_gives_socket_address() {
    assert_eq!(resolve(peer(), false, &HeaderMap::new(), &[]), socket());
    assert_eq!(
        resolve(peer(), true, &HeaderMap::new(), &[]),
        addr("10.0.0.1", 51234, true)
    );
}

#[test]
fn invalid_entry_ignores_the_header() {
    for value in [
        "not-an-ip",
        "1.2.3.4, not-an-ip",
        "",
        "1.2.3.4,",
        "1.2.3.4:abc",
        "1.2.3.4:99999",
        "01.2.3.4",
        "[1.2.3.4]:80",
        "example.com",
    ] {
        let h = headers(&[("x-forwarded-for", value), ("x-forwarded-proto", "https")]);
        assert_eq!(resolve(peer(), false, &h, &[]), socket(), "value {value:?}");
    }
}

#[test]
fn forged_header_falls_through_to_the_next_one() {
    let h = headers(&[("x-forwarded-for", "garbage"), ("x-real-ip", "203.0.113.5")]);
    assert_eq!(
        resolve(peer(), false, &h, &[]),
        addr("203.0.113.5", 51234, false)
    );
}

#[test]
fn socket_port_and_flag_when_no_companion_headers() {
    let h = headers(&[("x-forwarded-for", "203.0.113.5")]);
    assert_eq!(
        resolve(peer(), true, &h, &[]),
        addr("203.0.113.5", 51234, true)
    );
}

#[test]
fn ipv6_entries() {
    let h = headers(&[("x-forwarded-for", "2001:db8::1, 10.0.0.1")]);
    assert_eq!(
        resolve(peer(), false, &h, &[]),
        addr("2001:db8::1", 51234, false)
    );

    let h = headers(&[("x-forwarded-for", "[2001:db8::1]:4711, 10.0.0.1")]);
    assert_eq!(
        resolve(peer(), false, &h, &[]),
        addr("2001:db8::1", 4711, false)
    );

    let h = headers(&[("x-forwarded-for", "[2001:db8::1]")]);
    assert_eq!(resolve(peer(), false, &h, &[]).ip, ip("2001:db8::1"));

    let h = headers(&[("x-forwarded-for", "::ffff:1.2.3.4")]);
    assert_eq!(resolve(peer(), false, &h, &[]).ip, ip("::ffff:1.2.3.4"));

    // An IPv6 peer with no headers.
    let v6: SocketAddr = "[2001:db8::2]:443".parse().unwrap();
    assert_eq!(
        resolve(v6, true, &HeaderMap::new(), &[]),
        addr("2001:db8::2", 443, true)
    );
}

#[test]
fn ip_port_entries() {
    // The entry's port beats the port header.
    let h = headers(&[
        ("x-forwarded-for", "1.2.3.4:5678, 10.0.0.1:80"),
        ("x-forwarded-port", "9083"),
    ]);
    assert_eq!(
        resolve(peer(), false, &h, &[]),
        addr("1.2.3.4", 5678, false)
    );

    // Only the first entry's port matters.
    let h = headers(&[
        ("x-forwarded-for", "1.2.3.4, 10.0.0.1:80"),
        ("x-forwarded-port", "9083"),
    ]);
    assert_eq!(
        resolve(peer(), false, &h, &[]),
        addr("1.2.3.4", 9083, false)
    );
}

#[test]
fn port_and_proto_headers() {
    // First value of a list; an unusable port falls back to the socket's.
    let h = headers(&[
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-port", "443, 80"),
        ("x-forwarded-proto", "HTTPS, http"),
    ]);
    assert_eq!(resolve(peer(), false, &h, &[]), addr("1.2.3.4", 443, true));

    let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-port", "nope")]);
    assert_eq!(resolve(peer(), false, &h, &[]).port, 51234);

    // `1` counts as secure (Fastly), `http` overrides a TLS socket.
    let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-proto", "1")]);
    assert!(resolve(peer(), false, &h, &[]).secure);
    let h = headers(&[
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-proto", "http"),
    ]);
    assert!(!resolve(peer(), true, &h, &[]).secure);
}

#[test]
fn fastly() {
    let h = headers(&[
        ("fastly-client-ip", "198.51.100.1"),
        ("fastly-ssl", "1"),
        ("fastly-client-port", "1234"),
        ("x-forwarded-for", "203.0.113.5"),
    ]);
    assert_eq!(
        resolve(peer(), false, &h, &[]),
        addr("198.51.100.1", 1234, true)
    );
}

#[test]
fn header_order_is_fixed() {
    let h = headers(&[
        ("x-real-ip", "203.0.113.3"),
        ("forwarded", "203.0.113.4"),
        ("z-forwarded-for", "203.0.113.2"),
        ("x-forwarded-for", "203.0.113.1"),
    ]);
    assert_eq!(resolve(peer(), false, &h, &[]).ip, ip("203.0.113.1"));
    let h = headers(&[("x-real-ip", "203.0.113.3"), ("forwarded", "203.0.113.4")]);
    assert_eq!(resolve(peer(), false, &h, &[]).ip, ip("203.0.113.4"));
    let h = headers(&[
        ("x-real-ip", "203.0.113.3"),
        ("z-forwarded-for", "203.0.113.2"),
    ]);
    assert_eq!(resolve(peer(), false, &h, &[]).ip, ip("203.0.113.2"));
}

#[test]
fn x_real_ip() {
    let h = headers(&[
        ("x-real-ip", "203.0.113.3"),
        ("x-real-port", "8443"),
        ("x-real-proto", "https"),
    ]);
    assert_eq!(
        resolve(peer(), false, &h, &[]),
        addr("203.0.113.3", 8443, true)
    );
    let h = headers(&[("x-real-ip", "nope")]);
    assert_eq!(resolve(peer(), false, &h, &[]), socket());
}

#[test]
fn repeated_header_lines_are_joined() {
    let h = headers(&[
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-for", "10.0.0.9"),
    ]);
    let trusted = [ip("10.0.0.1"), ip("10.0.0.9")];
    assert_eq!(resolve(peer(), false, &h, &trusted).ip, ip("1.2.3.4"));
    let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "bad")]);
    assert_eq!(resolve(peer(), false, &h, &[]), socket());
}

#[test]
fn non_ascii_header_is_ignored() {
    let mut h = HeaderMap::new();
    h.insert(
        "x-forwarded-for",
        HeaderValue::from_bytes(b"1.2.3.4\xff").unwrap(),
    );
    assert_eq!(resolve(peer(), false, &h, &[]), socket());
}

#[test]
fn trusted_proxies_accept() {
    let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
    let h = headers(&[("x-forwarded-for", "13.3.37.1, 10.0.0.2, 10.0.0.1")]);
    assert_eq!(resolve(peer(), false, &h, &trusted).ip, ip("13.3.37.1"));
    // A single entry has no hops to check; the peer is trusted.
    let h = headers(&[("x-forwarded-for", "13.3.37.1")]);
    assert_eq!(resolve(peer(), false, &h, &trusted).ip, ip("13.3.37.1"));
    // An IPv4-mapped peer matches its IPv4 form.
    let mapped: SocketAddr = "[::ffff:10.0.0.1]:51234".parse().unwrap();
    assert_eq!(resolve(mapped, false, &h, &trusted).ip, ip("13.3.37.1"));
}

#[test]
fn trusted_proxies_reject_unknown_hop() {
    let trusted = [ip("10.0.0.1")];
    let h = headers(&[("x-forwarded-for", "13.3.37.1, 6.6.6.6")]);
    assert_eq!(resolve(peer(), false, &h, &trusted), socket());
}

#[test]
fn trusted_proxies_reject_untrusted_peer() {
    // The reference would accept this (no hops to check); we also require the peer.
    let trusted = [ip("10.0.0.2")];
    let h = headers(&[
        ("x-forwarded-for", "13.3.37.1"),
        ("x-forwarded-proto", "https"),
    ]);
    assert_eq!(resolve(peer(), false, &h, &trusted), socket());
    let h = headers(&[("x-forwarded-for", "13.3.37.1, 10.0.0.2")]);
    assert_eq!(resolve(peer(), false, &h, &trusted), socket());
}

#[test]
fn rfc7239_forwarded() {
    let h = headers(&[("forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43")]);
    assert_eq!(
        resolve(peer(), false, &h, &[]),
        addr("192.0.2.60", 51234, true)
    );

    let h = headers(&[(
        "Forwarded",
        r#"For="[2001:db8:cafe::17]:4711", for=10.0.0.1;proto=http"#,
    )]);
    assert_eq!(
        resolve(peer(), true, &h, &[]),
        addr("2001:db8:cafe::17", 4711, true),
        "proto of a later element does not count"
    );

    let h = headers(&[("forwarded", r#"for="192.0.2.60:8080";proto=http"#)]);
    assert_eq!(
        resolve(peer(), true, &h, &[]),
        addr("192.0.2.60", 8080, false)
    );

    // Obfuscated port is dropped; forwarded-port / -proto are the fallbacks.
    let h = headers(&[
        ("forwarded", r#"for="192.0.2.60:_abc""#),
        ("forwarded-port", "99"),
        ("forwarded-proto", "https"),
    ]);
    assert_eq!(
        resolve(peer(), false, &h, &[]),
        addr("192.0.2.60", 99, true)
    );

    // Several header lines, trusted hops.
    let h = headers(&[
        ("forwarded", "for=192.0.2.60"),
        ("forwarded", "for=10.0.0.1"),
    ]);
    assert_eq!(
        resolve(peer(), false, &h, &[ip("10.0.0.1")]).ip,
        ip("192.0.2.60")
    );
    let h = headers(&[("forwarded", "for=192.0.2.60, for=6.6.6.6")]);
    assert_eq!(resolve(peer(), false, &h, &[ip("10.0.0.1")]), socket());
}

#[test]
fn rfc7239_unusable() {
    for value in [
        "for=unknown",
        "for=_hidden",
        "for=192.0.2.60, for=unknown",
        "proto=https",
        "for=192.0.2.60, by=10.0.0.1",
        "for=192.0.2.60;for=192.0.2.61",
        r#"for="192.0.2.60"#,
        "for=192.0.2.60:",
        "for=192.0.2.60:123456",
        "for",
    ] {
        let h = headers(&[("forwarded", value)]);
        assert_eq!(resolve(peer(), false, &h, &[]), socket(), "value {value:?}");
    }
}

#[test]
fn forwarded_plain_list_like_the_reference() {
    let h = headers(&[
        ("forwarded", "192.0.2.60, 10.0.0.1"),
        ("forwarded-port", "81"),
    ]);
    assert_eq!(
        resolve(peer(), false, &h, &[]),
        addr("192.0.2.60", 81, false)
    );
}

#[test]
fn address_helpers() {
    let a = addr("2001:db8::1", 80, false);
    assert_eq!(a.to_string(), "[2001:db8::1]:80");
    assert_eq!(
        SocketAddr::from(a),
        "[2001:db8::1]:80".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        r#"{"ip":"2001:db8::1","port":80,"secure":false}"#
    );
}
