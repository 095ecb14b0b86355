//! The HTTP face of a [`Primus`] server: a `tower` [`Layer`] and [`Service`] that own
//! `pathname` and pass every other request to the application they wrap.
//!
//! With axum:
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{routing::get, Router};
//! let primus = primus::Primus::new(primus::Options::default())?;
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(primus.layer());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! With plain hyper, wrap any `Service<Request<Incoming>>` with [`Primus::service`], or
//! use [`Primus::into_service`] when Primus is all the server does. Upgrades need hyper's
//! `serve_connection(..).with_upgrades()`; [`crate::serve`] does all of this for you.

use crate::error::BoxError;
use crate::middleware::{apply_headers, Ctx, Flow};
use crate::server::{Inner, Primus};
use bytes::{Buf, Bytes};
use futures_util::future::BoxFuture;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Either, Full};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Request bodies as transformers see them.
pub(crate) type RequestBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
/// Bodies of the responses Primus writes itself.
pub type ResponseBody = BoxBody<Bytes, BoxError>;
pub(crate) type HttpRequest = Request<RequestBody>;
pub(crate) type HttpResponse = Response<ResponseBody>;

/// Where a request came from. [`crate::serve`] adds it to every request's extensions; when
/// you run your own server, add it yourself (a plain `SocketAddr` extension is also used)
/// or `spark.address()` reports `0.0.0.0:0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// The TCP peer.
    pub remote: SocketAddr,
    /// Whether the connection is TLS.
    pub secure: bool,
}

impl PeerInfo {
    /// The peer of a request.
    #[cfg(feature = "engineio")]
    pub(crate) fn of<B>(req: &Request<B>) -> PeerInfo {
        Self::from_extensions(req.extensions())
    }

    /// The peer from request extensions: ours, else a plain `SocketAddr` one.
    pub(crate) fn from_extensions(ext: &http::Extensions) -> PeerInfo {
        if let Some(p) = ext.get::<PeerInfo>() {
            return *p;
        }
        let remote = ext
            .get::<SocketAddr>()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        PeerInfo {
            remote,
            secure: false,
        }
    }
}

/// A [`Layer`] that puts Primus in front of a service.
#[derive(Debug, Clone)]
pub struct PrimusLayer {
    primus: Primus,
}

impl<S> Layer<S> for PrimusLayer {
    type Service = PrimusService<S>;
    fn layer(&self, inner: S) -> PrimusService<S> {
        PrimusService {
            primus: self.primus.clone(),
            inner,
        }
    }
}

/// A [`Service`] that answers requests under `pathname` and forwards the rest to `S`.
#[derive(Debug, Clone)]
pub struct PrimusService<S> {
    primus: Primus,
    inner: S,
}

/// The service used when Primus is the whole server: everything outside `pathname`
/// gets `404 Not Found`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotFound;

impl<B> Service<Request<B>> for NotFound {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut res = Response::new(Full::new(Bytes::from_static(b"not found")));
        *res.status_mut() = StatusCode::NOT_FOUND;
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        std::future::ready(Ok(res))
    }
}

impl Primus {
    /// A tower layer that puts this server in front of an application service.
    pub fn layer(&self) -> PrimusLayer {
        PrimusLayer {
            primus: self.clone(),
        }
    }

    /// Wrap an application service: Primus answers under `pathname`, `inner` the rest.
    pub fn service<S>(&self, inner: S) -> PrimusService<S> {
        PrimusService {
            primus: self.clone(),
            inner,
        }
    }

    /// This server alone, as a service (404 outside `pathname`).
    pub fn into_service(self) -> PrimusService<NotFound> {
        PrimusService {
            primus: self,
            inner: NotFound,
        }
    }

    /// Whether a request path is under the pathname (a plain prefix test, like the
    /// reference: `/primusfoo` matches `/primus`).
    pub fn owns_path(&self, path: &str) -> bool {
        path.starts_with(self.inner.pathname.as_str())
    }
}

impl<S, B, RB> Service<Request<B>> for PrimusService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    RB: Body<Data = Bytes>,
{
    type Response = Response<Either<ResponseBody, RB>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if !self.primus.owns_path(req.uri().path()) {
            let fut = self.inner.call(req);
            return Box::pin(async move { Ok(fut.await?.map(Either::Right)) });
        }
        let server = self.primus.inner.clone();
        let req = req.map(|b| {
            b.map_frame(|f| f.map_data(|mut d| d.copy_to_bytes(d.remaining())))
                .map_err(Into::into)
                .boxed_unsync()
        });
        Box::pin(async move { Ok(handle(server, req).await.map(Either::Left)) })
    }
}

/// Answer a request under the pathname: the middleware stack first (built-in endpoints,
/// CORS, authorization, your layers), then the transformer. Headers the layers collected
/// are added to whatever response is sent.
pub(crate) async fn handle(server: Arc<Inner>, req: HttpRequest) -> HttpResponse {
    #[cfg(feature = "webtransport")]
    let upgrade = is_upgrade(&req) || req.extensions().get::<SessionOpening>().is_some();
    #[cfg(not(feature = "webtransport"))]
    let upgrade = is_upgrade(&req);
    let (head, body) = req.into_parts();
    let ctx = Ctx::new(head, upgrade, body);
    match server.middleware.run(ctx).await {
        Flow::Respond(res) => res,
        Flow::Next(mut ctx) => {
            let body = ctx.take_body();
            let req = Request::from_parts(ctx.head, body);
            let mut res = server.transformer.handle(&server, req).await;
            apply_headers(&mut res, &ctx.response_headers);
            res
        }
    }
}

/// Whether the request asks for a connection upgrade.
pub(crate) fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .is_some_and(|v| !v.is_empty())
        && req.headers().get_all(header::CONNECTION).iter().any(|v| {
            v.to_str()
                .map(|s| {
                    s.split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
                })
                .unwrap_or(false)
        })
}

/// Marks a request that opens a transport session from outside the HTTP/1.1 listener
/// (the webtransport endpoint's extended CONNECTs): the middleware treats it as an
/// upgrade, so the HTTP-only layers (`primus.js`, `/spec`) leave it alone.
#[cfg(feature = "webtransport")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionOpening;

/// Read a transformer's request body, refusing more than `limit` bytes (nothing past the
/// limit is buffered).
#[cfg(any(feature = "sockjs", feature = "socketio", feature = "browserchannel"))]
pub(crate) async fn read_body(
    mut body: RequestBody,
    limit: usize,
) -> Result<Bytes, crate::middleware::BodyError> {
    use crate::middleware::BodyError;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Read)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Largest request body (or WebSocket message) that carries frames of at most
/// `max_length` bytes inside a text protocol (sockjs, Socket.IO 0.9): a frame may double
/// when JSON-quoted, plus the packet around it.
#[cfg(any(feature = "sockjs", feature = "socketio"))]
pub(crate) fn body_limit(max_length: usize) -> usize {
    max_length.saturating_mul(2).saturating_add(1024)
}

/// `405 Method Not Allowed` with an `Allow` header and a line saying what to use.
#[cfg(any(feature = "sse", feature = "socketio", feature = "webtransport"))]
pub(crate) fn method_not_allowed(methods: &'static str) -> HttpResponse {
    let mut res = full(
        StatusCode::METHOD_NOT_ALLOWED,
        "text/plain; charset=UTF-8",
        format!("Method not allowed here: use {methods}.\n"),
    );
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(methods));
    res
}

/// A complete response with a body and content type.
pub(crate) fn full(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut res = Response::new(Full::new(body.into()).map_err(|e| match e {}).boxed());
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}
