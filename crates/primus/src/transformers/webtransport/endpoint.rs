//! The UDP side of the `webtransport` transformer: a QUIC/HTTP/3 endpoint that accepts
//! WebTransport sessions and hands each CONNECT to the Primus service path as an
//! `http::Request` (see the [module docs](super)).

use super::server::{PendingSession, SessionSlot};
use super::{CertificateHash, EndpointInfo};
use crate::error::PrimusError;
use crate::server::Primus;
use crate::service::{HttpRequest, PeerInfo, SessionOpening};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Empty};
use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use wtransport::endpoint::endpoint_side;
use wtransport::endpoint::SessionRequest;
use wtransport::quinn::VarInt as QuicVarInt;
use wtransport::tls::self_signed::time::{Duration as CertDuration, OffsetDateTime};
use wtransport::{Endpoint, Identity, ServerConfig, VarInt};

/// How long shutdown waits for sessions to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long the endpoint waits for its connections' closes to be sent at the end.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Streams a client may open at once: the CONNECT, its one data stream, and some slack.
/// Streams beyond the first data stream are never read, so this bounds what they hold.
const MAX_BIDI_STREAMS: u32 = 4;
/// Data a connection may have in flight towards us over all its streams (QUIC's
/// connection window; quinn leaves it unbounded). Per stream, quinn's default applies.
const RECEIVE_WINDOW: u32 = 4 * 1024 * 1024;
/// Self-signed certificates are valid from this long ago (clock skew) ...
const SELF_SIGNED_BACKDATE: CertDuration = CertDuration::hours(1);
/// ... for this long in all: under the 14 days browsers accept for certificate hashes.
const SELF_SIGNED_VALIDITY: CertDuration = CertDuration::days(13);

/// The TLS identity of a [`WebTransportEndpoint`]: a certificate chain and its key.
///
/// ```
/// use primus::transformers::webtransport::WebTransportIdentity;
/// let a = WebTransportIdentity::self_signed(["localhost", "127.0.0.1"]).unwrap();
/// let b = WebTransportIdentity::self_signed(["localhost"]).unwrap();
/// assert_ne!(a.certificate_hash(), b.certificate_hash());
/// assert!(a.published_by_hash());
/// ```
pub struct WebTransportIdentity {
    identity: Identity,
    /// The end-entity certificate's SHA-256 (a chain has at least one certificate).
    hash: CertificateHash,
    by_hash: bool,
}

impl std::fmt::Debug for WebTransportIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebTransportIdentity")
            .field("certificate_hash", &self.certificate_hash())
            .field("published_by_hash", &self.by_hash)
            .finish_non_exhaustive()
    }
}

impl WebTransportIdentity {
    /// A new self-signed ECDSA P-256 certificate for these DNS names or IP addresses,
    /// valid from an hour ago for 13 days, so that browsers accept it by its hash. Its
    /// hash is published (see [`published_by_hash`](Self::published_by_hash)).
    pub fn self_signed<I, S>(names: I) -> Result<Self, PrimusError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let not_before = OffsetDateTime::now_utc() - SELF_SIGNED_BACKDATE;
        let identity = Identity::self_signed_builder()
            .subject_alt_names(names)
            .not_before(not_before)
            .offset_from_not_before(SELF_SIGNED_VALIDITY)
            .build()
            .map_err(|e| PrimusError::Tls(format!("self-signed certificate: {e}")))?;
        WebTransportIdentity::new(identity, true)
            .ok_or_else(|| PrimusError::Tls("the self-signed chain is empty".into()))
    }

    /// A certificate chain and private key from PEM files (the ones an HTTPS server
    /// uses). Its hash is not published: clients check it the usual way.
    pub async fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, PrimusError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let identity = Identity::load_pemfiles(cert, key).await.map_err(|e| {
            PrimusError::Tls(format!(
                "reading {} and {}: {e}",
                cert.display(),
                key.display()
            ))
        })?;
        WebTransportIdentity::new(identity, false)
            .ok_or_else(|| PrimusError::Tls(format!("{} holds no PEM certificate", cert.display())))
    }

    /// The identity and the hash of its end-entity certificate; `None` for an empty chain.
    fn new(identity: Identity, by_hash: bool) -> Option<Self> {
        let hash = CertificateHash(
            *identity
                .certificate_chain()
                .as_slice()
                .first()?
                .hash()
                .as_ref(),
        );
        Some(WebTransportIdentity {
            identity,
            hash,
            by_hash,
        })
    }

    /// Publish the certificate's hash (or not) at `GET <pathname>/webtransport`, so
    /// browsers trust it by hash. Only for an ECDSA P-256 certificate valid for at most 14
    /// days: browsers refuse others by hash.
    pub fn publish_hash(mut self, yes: bool) -> Self {
        self.by_hash = yes;
        self
    }

    /// Whether the hash is published.
    pub fn published_by_hash(&self) -> bool {
        self.by_hash
    }

    /// The SHA-256 of the end-entity certificate.
    pub fn certificate_hash(&self) -> CertificateHash {
        self.hash
    }
}

/// Endpoint tokens: which endpoint published what.
static TOKENS: AtomicU64 = AtomicU64::new(1);

/// Withdraws an endpoint's description when the endpoint goes away.
struct Publication {
    primus: Primus,
    token: u64,
}

impl Drop for Publication {
    fn drop(&mut self) {
        if let Some(t) = self.primus.inner.transformer.webtransport() {
            t.withdraw(self.token);
        }
    }
}

/// A bound WebTransport endpoint (UDP) for a [`Primus`] whose transformer is
/// `webtransport`. [`Server`](crate::Server) runs one by itself; bind one yourself when
/// you serve Primus from your own HTTP stack (module docs of
/// [`webtransport`](super)). While bound, `GET <pathname>/webtransport` publishes its
/// port and (for a self-signed identity) its certificate hash.
pub struct WebTransportEndpoint {
    primus: Primus,
    endpoint: Endpoint<endpoint_side::Server>,
    /// The transformer's `handshake_timeout`, read when bound.
    handshake: Duration,
    info: EndpointInfo,
    local: SocketAddr,
    _publication: Publication,
}

impl std::fmt::Debug for WebTransportEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebTransportEndpoint")
            .field("local", &self.local)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl WebTransportEndpoint {
    /// Bind `addr` (UDP; port 0 picks a free one). Call it within a tokio runtime.
    pub fn bind(
        primus: &Primus,
        addr: SocketAddr,
        identity: WebTransportIdentity,
    ) -> Result<Self, PrimusError> {
        Self::from_socket(primus, UdpSocket::bind(addr)?, identity)
    }

    /// Serve on a UDP socket you bound yourself.
    pub fn from_socket(
        primus: &Primus,
        socket: UdpSocket,
        identity: WebTransportIdentity,
    ) -> Result<Self, PrimusError> {
        let Some(server) = primus.inner.transformer.webtransport() else {
            return Err(PrimusError::InvalidOption {
                name: "transformer",
                reason: format!(
                    "a WebTransport endpoint serves a Primus whose transformer is \
                     `webtransport`; this one's is `{}`",
                    primus.inner.transformer.name()
                ),
            });
        };
        let settings = server.settings();
        let mut transport = super::quic_transport(settings.idle_timeout, settings.keep_alive)
            .ok_or_else(|| PrimusError::InvalidOption {
                name: "webtransport.idle_timeout",
                reason: "too long for QUIC (at most 2^62 ms)".into(),
            })?;
        transport
            .max_concurrent_bidi_streams(QuicVarInt::from_u32(MAX_BIDI_STREAMS))
            .receive_window(QuicVarInt::from_u32(RECEIVE_WINDOW));
        let by_hash = identity.by_hash;
        let hash = identity.certificate_hash();
        socket.set_nonblocking(true)?;
        let config = ServerConfig::builder()
            .with_bind_socket(socket)
            .with_custom_transport(identity.identity, transport)
            .build();
        let endpoint = Endpoint::server(config)?;
        let local = endpoint.local_addr()?;
        let info = EndpointInfo {
            port: local.port(),
            certificate_hashes: if by_hash { vec![hash] } else { Vec::new() },
        };
        let token = TOKENS.fetch_add(1, Ordering::Relaxed);
        server.publish(token, info.clone());
        Ok(WebTransportEndpoint {
            primus: primus.clone(),
            endpoint,
            handshake: settings.handshake_timeout,
            info,
            local,
            _publication: Publication {
                primus: primus.clone(),
                token,
            },
        })
    }

    /// The address the endpoint listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// What `GET <pathname>/webtransport` publishes about it.
    pub fn info(&self) -> &EndpointInfo {
        &self.info
    }

    /// Accept sessions until `shutdown` completes or the Primus is destroyed. Then: stop
    /// accepting, end the sessions' sparks (their clients reconnect), wait up to 5 s for
    /// them to finish, and close the endpoint.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), PrimusError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        // Each session (and handshake) holds a clone; shutdown waits until all are gone.
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
        let mut shutdown = std::pin::pin!(shutdown);
        let mut destroyed = self.primus.inner.shutdown.subscribe();
        let handshake = self.handshake;
        loop {
            let incoming = tokio::select! {
                _ = &mut shutdown => break,
                _ = async { let _ = destroyed.wait_for(|d| *d).await; } => break,
                incoming = self.endpoint.accept() => incoming,
            };
            let pending = (self.primus.clone(), stop_rx.clone(), alive_tx.clone());
            tokio::spawn(async move {
                let (primus, stop, alive) = pending;
                // A client that never completes its handshake must not hold a task.
                let request = match timeout(handshake, incoming).await {
                    Ok(Ok(request)) => request,
                    Ok(Err(e)) => {
                        return tracing::debug!(error = %e, "webtransport handshake failed")
                    }
                    Err(_) => return tracing::debug!("webtransport handshake timed out"),
                };
                dispatch(
                    &primus,
                    PendingSession {
                        request,
                        stop,
                        alive,
                    },
                    handshake,
                )
                .await;
            });
        }
        drop(self._publication);
        let _ = stop_tx.send(true);
        drop(alive_tx);
        let _ = timeout(SHUTDOWN_GRACE, alive_rx.recv()).await;
        self.endpoint.close(VarInt::from_u32(0), b"shutdown");
        let _ = timeout(CLOSE_WAIT, self.endpoint.wait_idle()).await;
        Ok(())
    }
}

/// Run a session's CONNECT through the Primus service path (middleware, then the
/// transformer, which takes the session); reject it when something else answered.
async fn dispatch(primus: &Primus, pending: PendingSession, handshake: Duration) {
    let request = match connect_request(primus, &pending.request) {
        Ok(request) => request,
        Err(why) => {
            tracing::debug!(%why, "webtransport CONNECT refused");
            let _ = timeout(handshake, pending.request.not_found()).await;
            return;
        }
    };
    let slot = SessionSlot::new(pending);
    let mut request = request;
    request.extensions_mut().insert(slot.clone());
    let response = crate::service::handle(primus.inner.clone(), request).await;
    let Some(pending) = slot.take() else {
        return; // accepted: the session's task has it
    };
    let status = response.status();
    tracing::debug!(%status, "webtransport session refused");
    let reject = async move {
        match rejection(status) {
            Rejection::NotFound => pending.request.not_found().await,
            Rejection::TooManyRequests => pending.request.too_many_requests().await,
            Rejection::Forbidden => pending.request.forbidden().await,
        }
    };
    let _ = timeout(handshake, reject).await;
}

/// The answers WebTransport has for a refused session.
#[derive(Debug, PartialEq, Eq)]
enum Rejection {
    NotFound,
    TooManyRequests,
    Forbidden,
}

/// How the answer of a layer that refused a session goes back to the client: 404 as it
/// is, 429 and 503 as 429, anything else (401 from an authorizer, 403, 400, …) as 403.
fn rejection(status: StatusCode) -> Rejection {
    match status {
        StatusCode::NOT_FOUND => Rejection::NotFound,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            Rejection::TooManyRequests
        }
        _ => Rejection::Forbidden,
    }
}

/// The CONNECT as an `http::Request` for the middleware: method `CONNECT`, the `:path`
/// as URI, the headers (`:authority` as `Host`), the UDP peer (over TLS, always).
fn connect_request(primus: &Primus, session: &SessionRequest) -> Result<HttpRequest, String> {
    let path = session.path();
    if !primus.owns_path(path.split('?').next().unwrap_or("")) {
        return Err(format!("{path} is not under {}", primus.pathname()));
    }
    let mut builder = http::Request::builder().method(Method::CONNECT).uri(path);
    let mut has_host = false;
    for (name, value) in session.headers().iter() {
        if name.starts_with(':') {
            continue;
        }
        has_host |= name.eq_ignore_ascii_case("host");
        builder = builder.header(name.as_str(), value.as_str());
    }
    if !has_host {
        builder = builder.header(http::header::HOST, session.authority());
    }
    let remote = session.remote_address();
    let peer = PeerInfo {
        // A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`.
        remote: SocketAddr::new(remote.ip().to_canonical(), remote.port()),
        secure: true,
    };
    builder
        .extension(peer)
        .extension(SessionOpening)
        .body(Empty::new().map_err(|e| match e {}).boxed_unsync())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_the_answers_webtransport_has() {
        assert_eq!(rejection(StatusCode::NOT_FOUND), Rejection::NotFound);
        for s in [
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            assert_eq!(rejection(s), Rejection::TooManyRequests);
        }
        for s in [
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::BAD_REQUEST,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            assert_eq!(rejection(s), Rejection::Forbidden, "{s}");
        }
    }
}
