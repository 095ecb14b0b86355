//! The `webtransport` transformer (beyond the reference, **experimental**): Primus over
//! [WebTransport](https://www.w3.org/TR/webtransport/), that is HTTP/3 over QUIC over UDP,
//! with [`wtransport`](https://docs.rs/wtransport) (quinn) on both halves.
//!
//! # Two sockets
//! WebTransport does not go through the `tower` HTTP service: it has its own UDP
//! endpoint with its own TLS identity ([`WebTransportEndpoint`]). Everything else stays
//! on TCP as for every transformer: `primus.js`, `/spec`, your middleware, and
//! `GET <pathname>/webtransport`, which tells clients where the endpoint is (below).
//! [`Server`](crate::Server) with this transformer listens on both, on the same port
//! number: TCP for HTTP (HTTPS with [`Server::tls`](crate::Server::tls)), UDP for
//! WebTransport with the same certificate, or with a self-signed one when it serves plain
//! HTTP (development). When you embed Primus in axum or hyper, run the endpoint yourself:
//!
//! ```no_run
//! # #[cfg(feature = "webtransport")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use primus::transformers::webtransport::{WebTransportEndpoint, WebTransportIdentity};
//! let primus = primus::Primus::new(primus::Options::default().transformer("webtransport"))?;
//! // Your HTTP stack (axum, hyper) serves `primus.layer()` on TCP as usual; then:
//! let identity = WebTransportIdentity::from_pem_files("cert.pem", "key.pem").await?;
//! let endpoint = WebTransportEndpoint::bind(&primus, "0.0.0.0:4433".parse()?, identity)?;
//! tokio::spawn(endpoint.run_until(async { let _ = tokio::signal::ctrl_c().await; }));
//! # Ok(()) }
//! ```
//!
//! # Sessions are requests
//! A client opens a session with an extended CONNECT to `<pathname>/webtransport` (the
//! query string and headers as for any transformer). The endpoint turns the CONNECT into
//! an `http::Request` (method `CONNECT`, the `:path` as URI, the headers, the UDP peer as
//! [`PeerInfo`](crate::PeerInfo) with `secure: true`) and runs it through the same
//! [`service`](crate::service) path as every HTTP request: the middleware stack (CONNECT
//! counts as an upgrade, like a WebSocket upgrade: `forwarded`, `cors` with
//! `cors_upgrades`, `authorization` and your upgrade layers run; `primus.js` and the other
//! HTTP-only layers do not), then this transformer, which accepts the session and makes
//! the spark (headers, query, address as usual). A layer that answers instead (a refused
//! authorization) rejects the session: WebTransport's rejections are 403, 404 and 429
//! only, so a `404` answer is sent as 404, `429` and `503` as 429, anything else as 403.
//! Browsers send neither cookies nor a `User-Agent` with a session (Chromium 156 sends
//! `Origin` and the query string): authorize browser sessions with the query string (a
//! token), not with a session cookie.
//!
//! # Messages
//! The client opens one bidirectional stream right after the session; every Primus frame
//! travels on it with a five-byte header (type, length), bounded by `max_length` on the
//! server (wire format and errors in [`primus_core::webtransport`]). One task per session
//! reads the stream and drains the spark's bounded outgoing queue onto it in batches,
//! each batch bounded by `write_timeout` (a client that stops reading is dropped as a slow
//! peer); while the application's incoming queue is full the task stops reading, and QUIC
//! flow control slows the client down. Datagrams and further streams are not used.
//!
//! # Closing
//! When the spark ends, what is queued is written, the stream is finished (and its
//! delivery awaited, up to 2 s), then the session is closed with the QUIC application
//! close code: `0` for an end, or the spark's code and reason: `1009 Max payload size
//! exceeded` for a frame over `max_length`, `1007` for a text frame that is not UTF-8,
//! `1002` for an unknown frame type, `1008 write timeout` for a slow peer. Whether the
//! client reconnects is the Primus protocol's business (`primus::server::close` before an
//! end), as on every transformer. A client that finishes its side of the stream ends
//! its spark (what the server still had queued is delivered first).
//!
//! # Certificates
//! Browsers check the endpoint's certificate like any HTTPS one, except when the page
//! gives `serverCertificateHashes`: then an ECDSA P-256 certificate valid for at most 14
//! days, matched by its SHA-256, is enough. [`WebTransportIdentity::self_signed`] makes
//! such a certificate (valid from an hour ago for 13 days). Clients learn the hashes and
//! the UDP port from `GET <pathname>/webtransport` over TCP (JSON:
//! `{"port":4433,"serverCertificateHashes":[{"algorithm":"sha-256","value":"<base64>"}]}`,
//! an empty list for a CA-signed certificate, `503` while no endpoint runs); the browser
//! transport asks it before every connection, so a restarted server with a new
//! self-signed certificate is found again. Trusting what that answer says is as safe as
//! the channel it came over: the page's own scripts (and `primus.js`) came over it too. A
//! server running longer than 13 days on a self-signed certificate must be restarted.
//!
//! # Clients
//! - Browser: the `webtransport` transport of `<pathname>/primus.js` (the `WebTransport`
//!   API; `transport: {serverCertificateHashes, port}` skips the lookup).
//! - Rust: [`client`], with [`WebTransportClientOptions`]: certificate hashes, the
//!   lookup, or `ClientOptions::tls` roots.
//!
//! Feature `webtransport`, off by default (its build cost, about 30 more crates, and
//! wtransport's Rust 1.88); it turns `tls` on.

// The module docs link the halves, which a build without `webtransport` leaves out.
#![cfg_attr(not(feature = "webtransport"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "webtransport")]
pub mod client;
#[cfg(feature = "webtransport")]
mod endpoint;
#[cfg(feature = "webtransport")]
pub(crate) mod server;

#[cfg(feature = "webtransport")]
pub use endpoint::{WebTransportEndpoint, WebTransportIdentity};

use crate::options::de_ms;
use crate::server::Primus;
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// The path under the pathname where sessions are opened and the endpoint is described.
pub const PATH: &str = "/webtransport";

/// Settings of the `webtransport` transformer's endpoint (`Options::webtransport`). In a
/// config file, milliseconds:
/// `{"webtransport": {"handshakeTimeout": 10000, "idleTimeout": 30000, "keepAlive": 10000}}`.
///
/// ```
/// let o: primus::transformers::webtransport::WebTransportOptions =
///     serde_json::from_str(r#"{"idleTimeout": 5000}"#).unwrap();
/// assert_eq!(o.idle_timeout, std::time::Duration::from_secs(5));
/// assert_eq!(o.keep_alive, std::time::Duration::from_secs(10));
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct WebTransportOptions {
    /// How long a client has for the QUIC and TLS handshake and its CONNECT, and then
    /// again to open its stream once the session is accepted (default 10 s).
    #[serde(deserialize_with = "de_ms", alias = "handshake_timeout")]
    pub handshake_timeout: Duration,
    /// QUIC idle timeout: a connection that hears nothing from its peer for this long is
    /// gone (default 30 s; the smaller of both sides' values applies; zero: no idle
    /// timeout of ours, only the peer's).
    #[serde(deserialize_with = "de_ms", alias = "idle_timeout")]
    pub idle_timeout: Duration,
    /// QUIC keep-alive interval, so that quiet sessions outlive the idle timeout (default
    /// 10 s; zero turns it off). Keep it below the idle timeout, or quiet sessions end.
    #[serde(deserialize_with = "de_ms", alias = "keep_alive")]
    pub keep_alive: Duration,
}

impl Default for WebTransportOptions {
    fn default() -> Self {
        WebTransportOptions {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: IDLE_TIMEOUT,
            keep_alive: KEEP_ALIVE,
        }
    }
}

impl WebTransportOptions {
    /// Set the handshake timeout.
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }
    /// Set the QUIC idle timeout.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }
    /// Set the QUIC keep-alive interval (zero: off).
    pub fn keep_alive(mut self, d: Duration) -> Self {
        self.keep_alive = d;
        self
    }
}

/// QUIC idle timeout, both halves' default.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// QUIC keep-alive interval, both halves' default.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The QUIC transport settings both halves share: the idle timeout and, unless zero, the
/// keep-alive interval; `None` when the idle timeout is longer than QUIC can say.
#[cfg(feature = "webtransport")]
fn quic_transport(
    idle_timeout: Duration,
    keep_alive: Duration,
) -> Option<wtransport::quinn::TransportConfig> {
    let idle = wtransport::quinn::IdleTimeout::try_from(idle_timeout).ok()?;
    let mut transport = wtransport::quinn::TransportConfig::default();
    transport
        .max_idle_timeout(Some(idle))
        .keep_alive_interval((!keep_alive.is_zero()).then_some(keep_alive));
    Some(transport)
}

/// Payloads up to this size are copied into a batch's buffer; larger ones go out as
/// their own chunk, uncopied (a broadcast's encoded bytes are shared by every spark).
#[cfg(feature = "webtransport")]
const COPY_LIMIT: usize = 16 * 1024;

/// The sending half of a session's stream and the batch being built, for both halves.
#[cfg(feature = "webtransport")]
pub(crate) struct StreamWriter {
    pub(crate) send: wtransport::SendStream,
    /// Headers and small payloads of the batch.
    buf: bytes::BytesMut,
    /// The batch's chunks, in order.
    chunks: Vec<bytes::Bytes>,
}

#[cfg(feature = "webtransport")]
impl StreamWriter {
    pub(crate) fn new(send: wtransport::SendStream) -> Self {
        StreamWriter {
            send,
            buf: bytes::BytesMut::new(),
            chunks: Vec::new(),
        }
    }

    /// Add a frame to the batch (nothing when it cannot be framed). Hot path: the header
    /// and a small payload are copied into one buffer; a large payload is its own chunk,
    /// shared, not copied.
    pub(crate) fn push(
        &mut self,
        frame: &primus_core::Frame,
    ) -> Result<(), primus_core::webtransport::FrameError> {
        self.buf
            .extend_from_slice(&primus_core::webtransport::header(frame)?);
        if frame.len() <= COPY_LIMIT {
            self.buf.extend_from_slice(frame.as_bytes());
        } else {
            self.chunks.push(self.buf.split().freeze());
            self.chunks.push(frame.bytes().clone());
        }
        Ok(())
    }

    /// Write the batch.
    pub(crate) async fn flush(&mut self) -> Result<(), wtransport::quinn::WriteError> {
        if !self.buf.is_empty() {
            self.chunks.push(self.buf.split().freeze());
        }
        if self.chunks.is_empty() {
            return Ok(());
        }
        let result = self
            .send
            .quic_stream_mut()
            .write_all_chunks(&mut self.chunks)
            .await;
        self.chunks.clear();
        result
    }
}

/// The SHA-256 of a DER certificate, as `serverCertificateHashes` names it.
///
/// ```
/// use primus::transformers::webtransport::CertificateHash;
/// let h = CertificateHash([7; 32]);
/// assert_eq!(CertificateHash::from_base64(&h.to_base64()), Some(h));
/// assert!(h.to_string().starts_with("07:07:"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertificateHash(pub [u8; 32]);

impl CertificateHash {
    /// Standard base64 (what `GET <pathname>/webtransport` publishes).
    pub fn to_base64(&self) -> String {
        let mut s = String::with_capacity(44);
        primus_core::engineio::base64_encode_into(&self.0, &mut s);
        s
    }

    /// From standard base64; `None` unless it is 32 bytes.
    pub fn from_base64(s: &str) -> Option<Self> {
        let bytes = primus_core::engineio::base64_decode(s)?;
        Some(CertificateHash(bytes.try_into().ok()?))
    }
}

impl fmt::Display for CertificateHash {
    /// Colon-separated hex, as browsers and `openssl x509 -fingerprint` show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CertificateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateHash({self})")
    }
}

/// Where a running endpoint is, as `GET <pathname>/webtransport` publishes it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointInfo {
    /// The endpoint's UDP port.
    pub port: u16,
    /// The hashes of its certificate when browsers may trust it by hash (self-signed,
    /// ECDSA P-256, at most 14 days); empty for a certificate they check the usual way.
    pub certificate_hashes: Vec<CertificateHash>,
}

impl EndpointInfo {
    /// The JSON document: `{"port":…,"serverCertificateHashes":[{"algorithm":"sha-256","value":"<base64>"}]}`.
    ///
    /// ```
    /// use primus::transformers::webtransport::{CertificateHash, EndpointInfo};
    /// let json = EndpointInfo::from_json(br#"{"port":4433,"serverCertificateHashes":[]}"#)
    ///     .unwrap()
    ///     .to_json();
    /// assert_eq!(json, r#"{"port":4433,"serverCertificateHashes":[]}"#);
    /// ```
    pub fn to_json(&self) -> String {
        let hashes: Vec<serde_json::Value> = self
            .certificate_hashes
            .iter()
            .map(|h| serde_json::json!({"algorithm": "sha-256", "value": h.to_base64()}))
            .collect();
        serde_json::json!({"port": self.port, "serverCertificateHashes": hashes}).to_string()
    }

    /// Read the JSON document; `None` when it is not one (hashes of other algorithms are
    /// skipped).
    pub fn from_json(body: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let port = u16::try_from(v.get("port")?.as_u64()?).ok()?;
        let mut certificate_hashes = Vec::new();
        for h in v.get("serverCertificateHashes")?.as_array()? {
            if h.get("algorithm").and_then(|a| a.as_str()) != Some("sha-256") {
                continue;
            }
            certificate_hashes.push(CertificateHash::from_base64(h.get("value")?.as_str()?)?);
        }
        Some(EndpointInfo {
            port,
            certificate_hashes,
        })
    }
}

/// Options of the client's `webtransport` transport (`ClientOptions::transport.webtransport`).
///
/// How the client trusts the endpoint, first that applies: [`certificate_hashes`]; the
/// hashes the server publishes, with [`trust_published_hashes`] (development: as safe as
/// the TCP channel they come over); the roots of `ClientOptions::tls`. With none of them
/// the connection fails, saying so.
///
/// ```
/// use primus::transformers::webtransport::{CertificateHash, WebTransportClientOptions};
/// let o = WebTransportClientOptions::default().certificate_hash(CertificateHash([1; 32]));
/// assert_eq!(o.certificate_hashes.len(), 1);
/// assert!(!o.trust_published_hashes);
/// ```
///
/// [`certificate_hashes`]: Self::certificate_hashes
/// [`trust_published_hashes`]: Self::trust_published_hashes
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WebTransportClientOptions {
    /// Accept a certificate whose SHA-256 is one of these (ECDSA P-256, at most 14 days
    /// valid: the browser's `serverCertificateHashes` rules).
    pub certificate_hashes: Vec<CertificateHash>,
    /// Ask `GET <pathname>/webtransport` (over the URL's HTTP or HTTPS) for the port and
    /// the hashes before every connection, and trust those hashes.
    pub trust_published_hashes: bool,
    /// The endpoint's UDP port (default: the published one, else the URL's port).
    pub port: Option<u16>,
    /// Largest incoming frame accepted (default 10 MiB, the server's `max_length`); a
    /// larger one drops the connection (and the client reconnects).
    pub max_message_size: usize,
    /// Extra headers sent with the CONNECT (for example a bearer token; lower-case names).
    pub headers: Vec<(String, String)>,
    /// QUIC idle timeout (default 30 s).
    pub idle_timeout: Duration,
    /// QUIC keep-alive interval (default 10 s; zero turns it off).
    pub keep_alive: Duration,
}

impl Default for WebTransportClientOptions {
    fn default() -> Self {
        WebTransportClientOptions {
            certificate_hashes: Vec::new(),
            trust_published_hashes: false,
            port: None,
            max_message_size: crate::client::DEFAULT_MAX_MESSAGE_SIZE,
            headers: Vec::new(),
            idle_timeout: IDLE_TIMEOUT,
            keep_alive: KEEP_ALIVE,
        }
    }
}

impl WebTransportClientOptions {
    /// Trust a certificate by its hash.
    pub fn certificate_hash(mut self, hash: CertificateHash) -> Self {
        self.certificate_hashes.push(hash);
        self
    }
    /// Trust the hashes the server publishes (development).
    pub fn trust_published_hashes(mut self, yes: bool) -> Self {
        self.trust_published_hashes = yes;
        self
    }
    /// Add a header sent with the CONNECT.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl Primus {
    /// Where this server's WebTransport endpoint runs (what `GET <pathname>/webtransport`
    /// answers); `None` while none runs, and for other transformers.
    pub fn webtransport_endpoint(&self) -> Option<EndpointInfo> {
        #[cfg(feature = "webtransport")]
        return self.inner.transformer.webtransport()?.published();
        #[cfg(not(feature = "webtransport"))]
        None
    }
}
