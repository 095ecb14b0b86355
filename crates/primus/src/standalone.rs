//! A ready-made HTTP/HTTPS server for a [`Primus`] (the reference's `Primus.createServer`).
//!
//! With the `webtransport` transformer it also listens on UDP, on the same port number,
//! for WebTransport sessions: with the certificate of [`Server::tls`], or else with a
//! self-signed one whose hash `GET <pathname>/webtransport` publishes (development; see
//! [`transformers::webtransport`](crate::transformers::webtransport)).
//!
//! ```no_run
//! # async fn run() -> Result<(), primus::PrimusError> {
//! let primus = primus::Primus::new(primus::Options::default())?;
//! let server = primus::Server::bind(primus, "127.0.0.1:8080".parse().unwrap())
//!     .iknowhttpsisbetter(true)
//!     .start()
//!     .await?;
//! println!("listening on {}", server.local_addr());
//! server.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

use crate::error::{BoxError, PrimusError};
use crate::server::{DestroyOptions, Primus};
use crate::service::{NotFound, PeerInfo, PrimusService};
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_service::Service;

/// How long a client may take to send a request head, by default.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serve `primus` alone on `addr` until Ctrl-C, over plain HTTP.
pub async fn serve(primus: Primus, addr: SocketAddr) -> Result<(), PrimusError> {
    Server::bind(primus, addr)
        .start()
        .await?
        .run_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// Pending connections the kernel may queue: the default of 128 overflows when thousands
/// of clients reconnect at once (each overflow costs the client a 1 s SYN retry).
const BACKLOG: u32 = 1024;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // A restarted server can bind its port again while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Builder of the standalone server.
#[derive(Debug)]
pub struct Server<S = NotFound> {
    primus: Primus,
    app: S,
    addr: SocketAddr,
    tls: Option<(PathBuf, PathBuf)>,
    iknowhttpsisbetter: bool,
    header_read_timeout: Duration,
}

impl Server<NotFound> {
    /// A server for `primus` on `addr` (port 0 picks a free port).
    pub fn bind(primus: Primus, addr: SocketAddr) -> Self {
        Server {
            primus,
            app: NotFound,
            addr,
            tls: None,
            iknowhttpsisbetter: false,
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

impl<S> Server<S> {
    /// Serve HTTPS with a PEM certificate chain and private key.
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some((cert.into(), key.into()));
        self
    }

    /// Silence the warning about serving plain HTTP.
    pub fn iknowhttpsisbetter(mut self, yes: bool) -> Self {
        self.iknowhttpsisbetter = yes;
        self
    }

    /// Requests outside the pathname go to `app` instead of getting 404.
    pub fn app<A>(self, app: A) -> Server<A> {
        Server {
            primus: self.primus,
            app,
            addr: self.addr,
            tls: self.tls,
            iknowhttpsisbetter: self.iknowhttpsisbetter,
            header_read_timeout: self.header_read_timeout,
        }
    }

    /// How long a client may take to send a request head (default 30 s); slower clients
    /// are disconnected, so half-sent requests cannot pile up.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Bind the socket (and load TLS material).
    pub async fn start(self) -> Result<Running<S>, PrimusError> {
        let tls = match &self.tls {
            Some((cert, key)) => Some(tls::acceptor(cert, key)?),
            None => {
                if !self.iknowhttpsisbetter {
                    tracing::warn!(
                        "serving plain HTTP: use Server::tls(cert, key) for HTTPS, or \
                         iknowhttpsisbetter(true) to silence this warning"
                    );
                }
                None
            }
        };
        #[cfg(feature = "webtransport")]
        let (listener, webtransport) =
            webtransport::bind(&self.primus, self.addr, self.tls.as_ref()).await?;
        #[cfg(not(feature = "webtransport"))]
        let listener = listen(self.addr)?;
        let local = listener.local_addr()?;
        Ok(Running {
            header_read_timeout: self.header_read_timeout,
            service: self.primus.service(self.app),
            primus: self.primus,
            listener,
            local,
            tls,
            #[cfg(feature = "webtransport")]
            webtransport,
        })
    }
}

/// A bound server, ready to run.
pub struct Running<S> {
    header_read_timeout: Duration,
    primus: Primus,
    service: PrimusService<S>,
    listener: TcpListener,
    local: SocketAddr,
    tls: Option<tls::Acceptor>,
    /// The UDP endpoint of the `webtransport` transformer.
    #[cfg(feature = "webtransport")]
    webtransport: Option<crate::transformers::webtransport::WebTransportEndpoint>,
}

impl<S> std::fmt::Debug for Running<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("primus", &self.primus)
            .field("local", &self.local)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// `run_until` must be spawnable.
#[allow(dead_code)]
fn _run_until_is_send(r: Running<NotFound>) {
    fn is_send<T: Send>(_: T) {}
    is_send(r.run_until(std::future::pending()));
}

impl<S, B> Running<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Accept connections until `shutdown` completes or the Primus is destroyed. Then: stop accepting, end every
    /// spark with `reconnect` (clients come back to the next instance), and wait up to
    /// 5 s for open connections to finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), PrimusError> {
        // Each connection task holds a clone of `alive_tx`; shutdown waits until all are
        // dropped. `stop_tx` tells them to finish their current request and close.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
        let mut shutdown = std::pin::pin!(shutdown);
        // `primus.destroy({close: true})` stops the listener too.
        let mut destroyed = self.primus.inner.shutdown.subscribe();
        let secure = self.tls.is_some();
        // The WebTransport endpoint runs beside the HTTP loop and stops with it.
        #[cfg(feature = "webtransport")]
        let webtransport = self.webtransport.map(|endpoint| {
            let mut stop = stop_rx.clone();
            tokio::spawn(endpoint.run_until(async move {
                let _ = stop.wait_for(|s| *s).await;
            }))
        });
        loop {
            let (stream, remote) = tokio::select! {
                _ = &mut shutdown => break,
                _ = async { let _ = destroyed.wait_for(|d| *d).await; } => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let peer = PeerInfo { remote, secure };
            let svc = self.service.clone();
            let hyper_svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(peer);
                call_app(svc.clone(), req)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            // Without a timer hyper has no header read timeout: a client sending half a
            // request head (slowloris) would hold its connection until shutdown.
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(self.header_read_timeout);
            let mut stop = stop_rx.clone();
            let alive = alive_tx.clone();
            let acceptor = self.tls.clone();
            tokio::spawn(async move {
                let _alive = alive;
                match acceptor {
                    None => {
                        let conn = builder
                            .serve_connection(TokioIo::new(stream), hyper_svc)
                            .with_upgrades();
                        serve_conn(conn, &mut stop).await;
                    }
                    Some(acceptor) => {
                        // A peer that never finishes the handshake must not hold a task:
                        // bound it in time and give up on shutdown.
                        let handshake =
                            tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                        let stream = tokio::select! {
                            r = handshake => match r {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("TLS handshake timed out");
                                    return;
                                }
                            },
                            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
                        };
                        let conn = builder
                            .serve_connection(TokioIo::new(stream), hyper_svc)
                            .with_upgrades();
                        serve_conn(conn, &mut stop).await;
                    }
                }
            });
        }
        drop(self.listener);
        // No-op when `destroy` already ran (it stopped us).
        self.primus.destroy(DestroyOptions {
            reconnect: true,
            ..DestroyOptions::default()
        });
        let primus = self.primus.clone();
        let _ = stop_tx.send(true);
        drop(alive_tx);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async move {
            let _ = alive_rx.recv().await;
            while primus.connected() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        // Bounded by the endpoint's own shutdown grace.
        #[cfg(feature = "webtransport")]
        if let Some(task) = webtransport {
            let _ = task.await;
        }
        Ok(())
    }
}

#[cfg(feature = "webtransport")]
mod webtransport {
    use super::listen;
    use crate::error::PrimusError;
    use crate::server::Primus;
    use crate::transformers::webtransport::{WebTransportEndpoint, WebTransportIdentity};
    use std::net::{SocketAddr, UdpSocket};
    use std::path::PathBuf;
    use tokio::net::TcpListener;

    /// Attempts at finding a port number free on both TCP and UDP when port 0 was asked.
    const PORT_ATTEMPTS: usize = 16;

    /// The TCP listener, and for the `webtransport` transformer the UDP endpoint on the
    /// same port number: with the HTTPS certificate, or a self-signed one.
    pub(super) async fn bind(
        primus: &Primus,
        addr: SocketAddr,
        tls: Option<&(PathBuf, PathBuf)>,
    ) -> Result<(TcpListener, Option<WebTransportEndpoint>), PrimusError> {
        if primus.inner.transformer.webtransport().is_none() {
            return Ok((listen(addr)?, None));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let listener = listen(addr)?;
            let local = listener.local_addr()?;
            // A port the system picked for TCP may be taken on UDP: pick again.
            let socket = match UdpSocket::bind(local) {
                Ok(socket) => socket,
                Err(_) if addr.port() == 0 && attempt < PORT_ATTEMPTS => continue,
                Err(e) => return Err(e.into()),
            };
            let identity = match tls {
                Some((cert, key)) => WebTransportIdentity::from_pem_files(cert, key).await?,
                None => {
                    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
                    let ip = addr.ip().to_string();
                    if !addr.ip().is_unspecified() && !names.contains(&ip) {
                        names.push(ip);
                    }
                    let identity = WebTransportIdentity::self_signed(&names)?;
                    tracing::info!(
                        sha256 = %identity.certificate_hash(),
                        "webtransport: self-signed certificate (development), published at \
                         GET {}/webtransport",
                        primus.pathname()
                    );
                    identity
                }
            };
            let endpoint = WebTransportEndpoint::from_socket(primus, socket, identity)?;
            return Ok((listener, Some(endpoint)));
        }
    }
}

type AppBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// Call the application service once, erasing its error and body types.
async fn call_app<S, B>(mut svc: S, req: Request<Incoming>) -> Result<Response<AppBody>, BoxError>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if let Err(e) = std::future::poll_fn(|cx| svc.poll_ready(cx)).await {
        return Err(e.into());
    }
    match svc.call(req).await {
        Ok(res) => Ok(res.map(|b| {
            http_body_util::BodyExt::boxed_unsync(http_body_util::BodyExt::map_err(b, Into::into))
        })),
        Err(e) => Err(e.into()),
    }
}

/// Serve one HTTP/1 connection until it ends or shutdown asks it to finish.
async fn serve_conn<I, S>(
    conn: hyper::server::conn::http1::UpgradeableConnection<I, S>,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = AppBody, Error = BoxError>,
{
    let mut conn = std::pin::pin!(conn);
    let stopped = async {
        let _ = stop.wait_for(|s| *s).await;
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stopped => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection error");
    }
}

#[cfg(feature = "tls")]
mod tls {
    use crate::error::PrimusError;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use std::path::Path;
    use std::sync::Arc;

    pub(super) type Acceptor = tokio_rustls::TlsAcceptor;

    pub(super) fn acceptor(cert: &Path, key: &Path) -> Result<Acceptor, PrimusError> {
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| PrimusError::Tls(format!("reading {}: {e}", cert.display())))?;
        if certs.is_empty() {
            return Err(PrimusError::Tls(format!(
                "{} holds no PEM certificate",
                cert.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| PrimusError::Tls(format!("reading {}: {e}", key.display())))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| PrimusError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| PrimusError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

#[cfg(not(feature = "tls"))]
mod tls {
    use crate::error::PrimusError;
    use std::path::Path;

    #[derive(Clone, Debug)]
    pub(super) enum Acceptor {}

    impl Acceptor {
        pub(super) async fn accept(
            &self,
            _s: tokio::net::TcpStream,
        ) -> std::io::Result<tokio::net::TcpStream> {
            match *self {}
        }
    }

    pub(super) fn acceptor(_: &Path, _: &Path) -> Result<Acceptor, PrimusError> {
        Err(PrimusError::Tls("built without the `tls` feature".into()))
    }
}
