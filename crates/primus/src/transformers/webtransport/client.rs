//! Client half of the `webtransport` transformer: the transport of the Rust
//! [`Client`](crate::client::Client) with `transformer: "webtransport"`, on wtransport's
//! client.
//!
//! Per connection: trust and port (from [`WebTransportClientOptions`]: the hashes given,
//! else with `trust_published_hashes` a `GET <pathname>/webtransport?<query>` over the
//! URL's HTTP(S), else the roots of `ClientOptions::tls`), a UDP socket of its own, the
//! session `https://<host>:<port><pathname>/webtransport?<query>&_primuscb=<id>` (URL
//! credentials as `Authorization: Basic`, plus `headers`), then the one bidirectional
//! stream. A host name is resolved by the system and its first IPv4 address is used when
//! it has one (a UDP client cannot notice a silent address the way a refused TCP connect
//! does).
//!
//! Frames are read with the limit `max_message_size`; a larger one is a transport error
//! and the client reconnects. The stream's end is the connection's end (`recv` gives
//! `None`): the Primus protocol decides whether to reconnect. `end()` finishes our side
//! of the stream and reads what the server still sends; `close` closes the session at
//! once.

pub use super::WebTransportClientOptions;
use super::{CertificateHash, EndpointInfo, StreamWriter, PATH};
use crate::client::url::Endpoint;
use crate::client::{net, ClientError, ClientOptions};
use crate::transformers::websockets::client::{query_with_cache_buster, yeast};
use primus_core::webtransport::FrameDecoder;
use primus_core::Frame;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use wtransport::config::{DnsLookupFuture, DnsResolver};
use wtransport::endpoint::{endpoint_side, ConnectOptions};
use wtransport::quinn::crypto::rustls::QuicClientConfig;
use wtransport::tls::client::{build_default_tls_config, ServerHashVerification};
use wtransport::tls::Sha256Digest;
use wtransport::{RecvStream, VarInt};

/// Largest endpoint description accepted.
const MAX_INFO_BYTES: usize = 16 * 1024;
/// How long `begin_close` waits for the server to take the end of our stream.
const FINISH_GRACE: Duration = Duration::from_secs(2);

/// An open webtransport session and its stream.
pub(crate) struct Connection {
    connection: wtransport::Connection,
    /// The stream's sending half; frames fed are written on flush.
    writer: StreamWriter,
    recv: RecvStream,
    decoder: FrameDecoder,
    /// The UDP endpoint the session runs on.
    _endpoint: wtransport::Endpoint<endpoint_side::Client>,
    /// The stream ended, failed or was closed.
    closed: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("remote", &self.connection.remote_address())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// How the client trusts the server's certificate.
enum Trust {
    Hashes(Vec<CertificateHash>),
    Roots(Arc<rustls::ClientConfig>),
}

/// Answers wtransport's host lookup with the address chosen beforehand.
#[derive(Debug)]
struct Resolved(SocketAddr);

impl DnsResolver for Resolved {
    fn resolve(&self, _host: &str) -> Pin<Box<dyn DnsLookupFuture>> {
        let addr = self.0;
        Box::pin(async move { Ok(Some(addr)) })
    }
}

fn connect_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Connect(e.to_string())
}

/// The endpoint's description, from `GET <pathname>/webtransport?<query>`.
async fn fetch_info(
    endpoint: &Endpoint,
    options: &ClientOptions,
) -> Result<EndpointInfo, ClientError> {
    let path = format!("{}{PATH}", options.pathname);
    let target = match &endpoint.query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let url = endpoint.http_url(&path);
    let headers = &options.transport.webtransport.headers;
    let (status, body) = net::get(
        endpoint,
        &target,
        options,
        headers,
        MAX_INFO_BYTES,
        |what| ClientError::Connect(format!("{url}: {what}")),
    )
    .await?;
    if status != http::StatusCode::OK {
        return Err(ClientError::Connect(format!(
            "{url}: status {status}, not the WebTransport endpoint's description"
        )));
    }
    EndpointInfo::from_json(&body)
        .ok_or_else(|| ClientError::Connect(format!("{url}: not an endpoint description")))
}

/// The address to send to: the IP of the URL, or the first IPv4 address of its host
/// name (else its first address).
async fn resolve(hostname: &str, port: u16) -> Result<SocketAddr, ClientError> {
    if let Ok(ip) = hostname.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((hostname, port))
        .await
        .map_err(|e| ClientError::Connect(format!("{hostname}: {e}")))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| ClientError::Connect(format!("{hostname}: no address")))
}

/// The QUIC client settings for `trust`.
fn quic_config(
    trust: Trust,
    options: &WebTransportClientOptions,
) -> Result<wtransport::quinn::ClientConfig, ClientError> {
    let tls = match trust {
        Trust::Hashes(hashes) => {
            let verifier =
                ServerHashVerification::new(hashes.into_iter().map(|h| Sha256Digest::new(h.0)));
            build_default_tls_config(
                Arc::new(rustls::RootCertStore::empty()),
                Some(Arc::new(verifier)),
            )
        }
        Trust::Roots(config) => {
            let mut config = (*config).clone();
            config.alpn_protocols = vec![wtransport::proto::WEBTRANSPORT_ALPN.to_vec()];
            config
        }
    };
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| {
        ClientError::InvalidOptions(format!(
            "ClientOptions::tls cannot carry QUIC ({e}): it needs TLS 1.3 and the \
             TLS13_AES_128_GCM_SHA256 suite"
        ))
    })?;
    let transport =
        super::quic_transport(options.idle_timeout, options.keep_alive).ok_or_else(|| {
            ClientError::InvalidOptions("transport.webtransport.idle_timeout is too long".into())
        })?;
    let mut config = wtransport::quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// Open a session and its stream.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    options: &ClientOptions,
) -> Result<Connection, ClientError> {
    let wt = &options.transport.webtransport;
    let (trust, port) = if !wt.certificate_hashes.is_empty() {
        (Trust::Hashes(wt.certificate_hashes.clone()), wt.port)
    } else {
        let info = match wt.trust_published_hashes {
            true => Some(fetch_info(endpoint, options).await?),
            false => None,
        };
        let port = wt.port.or(info.as_ref().map(|i| i.port));
        match (info, &options.tls) {
            (Some(info), _) if !info.certificate_hashes.is_empty() => {
                (Trust::Hashes(info.certificate_hashes), port)
            }
            (_, Some(tls)) => (Trust::Roots(tls.clone()), port),
            (Some(_), None) => {
                return Err(ClientError::Connect(
                    "the server publishes no certificate hash (its certificate is checked \
                     the usual way): set ClientOptions::tls to a rustls ClientConfig with \
                     the roots you trust"
                        .into(),
                ))
            }
            (None, None) => {
                return Err(ClientError::Connect(
                    "webtransport needs to know how to trust the server: set \
                     transport.webtransport.certificate_hashes, \
                     trust_published_hashes(true) (development), or ClientOptions::tls"
                        .into(),
                ))
            }
        }
    };
    let port = port.unwrap_or(endpoint.port);
    let addr = resolve(&endpoint.hostname, port).await?;
    let bind = match addr {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let mut config = wtransport::ClientConfig::builder()
        .with_bind_address(bind)
        .build_with_quic_config(quic_config(trust, wt)?);
    config.set_dns_resolver(Resolved(addr));
    let quic = wtransport::Endpoint::client(config).map_err(connect_err)?;

    let host = if endpoint.hostname.contains(':') {
        format!("[{}]", endpoint.hostname)
    } else {
        endpoint.hostname.clone()
    };
    let query = query_with_cache_buster(endpoint.query.as_deref().unwrap_or(""), &yeast());
    let url = format!("https://{host}:{port}{}{PATH}?{query}", options.pathname);
    let mut request = ConnectOptions::builder(&url);
    if let Some(auth) = endpoint.basic_auth() {
        request = request.add_header("authorization", auth);
    }
    for (name, value) in &wt.headers {
        request = request.add_header(name.to_ascii_lowercase(), value);
    }
    let connection = quic
        .connect(request.build())
        .await
        .map_err(|e| ClientError::Connect(format!("{url}: {e}")))?;
    let opening =
        |e: &dyn std::fmt::Display| ClientError::Connect(format!("{url}: opening the stream: {e}"));
    let (send, recv) = connection
        .open_bi()
        .await
        .map_err(|e| opening(&e))?
        .await
        .map_err(|e| opening(&e))?;
    Ok(Connection {
        connection,
        writer: StreamWriter::new(send),
        recv,
        decoder: FrameDecoder::new(wt.max_message_size),
        _endpoint: quic,
        closed: false,
    })
}

impl Connection {
    /// The next Primus frame; `None` once the stream ended or the session closed. Cancel
    /// safe: the decoder keeps what was read.
    pub(crate) async fn recv(&mut self) -> Option<Result<Frame, ClientError>> {
        loop {
            if self.closed {
                return None;
            }
            match self.decoder.next_frame() {
                Ok(Some(frame)) => return Some(Ok(frame)),
                Ok(None) => {}
                Err(e) => {
                    self.closed = true;
                    let message = e.to_string();
                    // The server's codes for the same faults: 1009, 1007, else 1002.
                    let refusal = super::server::refusal(e);
                    self.connection.close(
                        VarInt::from_u32(refusal.code.into()),
                        refusal.reason.as_bytes(),
                    );
                    return Some(Err(ClientError::Transport(message)));
                }
            }
            match self.recv.read_buf(self.decoder.read_buffer()).await {
                Ok(0) => self.closed = true,
                Ok(_) => {}
                Err(e) => {
                    self.closed = true;
                    return self.lost(e);
                }
            }
        }
    }

    /// The read failed: a session the server closed with code 0 (or we closed) is an
    /// ordinary end; anything else is an error carrying the code and reason.
    fn lost(&self, e: std::io::Error) -> Option<Result<Frame, ClientError>> {
        use wtransport::quinn::ConnectionError as E;
        match self.connection.quic_connection().close_reason() {
            Some(E::LocallyClosed) => None,
            Some(E::ApplicationClosed(close)) if close.error_code.into_inner() == 0 => None,
            Some(E::ApplicationClosed(close)) => Some(Err(ClientError::Transport(format!(
                "the server closed the session: {} {}",
                close.error_code,
                String::from_utf8_lossy(&close.reason)
            )))),
            Some(other) => Some(Err(ClientError::Transport(other.to_string()))),
            None => Some(Err(ClientError::Transport(e.to_string()))),
        }
    }

    /// Queue a frame for the next flush.
    pub(crate) async fn feed(&mut self, frame: Frame) -> Result<(), ClientError> {
        self.writer
            .push(&frame)
            .map_err(|e| ClientError::Encode(e.to_string()))
    }

    /// Write what was fed.
    pub(crate) async fn flush(&mut self) -> Result<(), ClientError> {
        self.writer
            .flush()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    /// Start a clean close: finish our side of the stream (within 2 s); afterwards
    /// [`recv`](Self::recv) yields what the server still sends, then `None`.
    pub(crate) async fn begin_close(&mut self) {
        let _ = tokio::time::timeout(FINISH_GRACE, self.writer.send.finish()).await;
    }

    /// Close the session at once.
    pub(crate) async fn close(&mut self) {
        self.closed = true;
        self.connection.close(VarInt::from_u32(0), b"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ip_hosts_are_used_as_they_are() {
        let a = resolve("127.0.0.1", 9).await.unwrap();
        assert_eq!(a, SocketAddr::from(([127, 0, 0, 1], 9)));
        let b = resolve("::1", 9).await.unwrap();
        assert!(b.is_ipv6());
    }

    #[test]
    fn a_tls_config_that_cannot_carry_quic_is_a_typed_error() {
        // A provider with TLS 1.2 suites only: QUIC has no initial suite to start with.
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites.retain(|s| s.tls13().is_none());
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let result = quic_config(
            Trust::Roots(Arc::new(config)),
            &WebTransportClientOptions::default(),
        );
        assert!(
            matches!(&result, Err(ClientError::InvalidOptions(m)) if m.contains("TLS 1.3")),
            "{:?}",
            result.err()
        );
        let hashes = quic_config(
            Trust::Hashes(vec![CertificateHash([0; 32])]),
            &WebTransportClientOptions::default(),
        );
        assert!(hashes.is_ok());
    }
}
