//! The middleware stack: named, ordered layers that every request under `pathname` passes
//! through before the transformer sees it (HTTP requests and upgrades alike, and every
//! polling request of a long-polling transport, not only its handshake).
//!
//! The built-in features are layers of this same stack, in the reference's order:
//! `forwarded`, `cors`, `primus.js`, `spec`, `x-xss`, `no-cache`, `authorization`. Your
//! layers go at the end unless you give an index; any layer may answer the request itself.
//!
//! A layer works on a [`Ctx`]: the request head (method, URI, headers, extensions — put
//! what you learn there and sparks see it in [`SparkInfo::extensions`](crate::SparkInfo))
//! and the headers to add to whatever response is finally sent. An async layer that
//! answers a request with a body (an HTTP API under the pathname) reads it with
//! [`Ctx::body`], up to a size limit; the bytes stay in the request for later layers and
//! the transformer.
//!
//! ```
//! use primus::middleware::{Ctx, Flow};
//! # let primus = primus::Primus::new(primus::Options::default()).unwrap();
//! // A sync layer: tag every response.
//! primus.use_sync("powered-by", |ctx: &mut Ctx| {
//!     ctx.response_headers.insert("x-powered-by", "primus-rs".parse().unwrap());
//!     None // continue
//! });
//! // An async layer that may answer the request itself.
//! primus.use_async("only-get", |ctx: Ctx| async move {
//!     if ctx.head.method != http::Method::GET {
//!         return Flow::Respond(primus::middleware::text(http::StatusCode::METHOD_NOT_ALLOWED, "GET only"));
//!     }
//!     Flow::Next(ctx)
//! });
//! assert!(primus.middleware_names().contains(&"only-get".to_string()));
//! ```

mod authorization;
mod builtin;
mod cors;
mod library;
mod tower_adapter;

pub use authorization::AuthError;
pub(crate) use authorization::Authorizer;
pub(crate) use builtin::resolve as resolve_address;
pub use cors::Cors;
pub use tower_adapter::{Continue, LayerBody};

use crate::error::BoxError;
use crate::service::{HttpResponse, RequestBody, ResponseBody};
use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, BodyStream, Empty, Full, StreamBody};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};

/// What a layer sees and may change.
#[derive(Debug)]
#[non_exhaustive]
pub struct Ctx {
    /// The request head. Add to `head.extensions` to pass facts on (sparks keep them).
    pub head: Parts,
    /// Headers added to the response that is finally sent (by a later layer, the
    /// transformer, or an error answer).
    pub response_headers: HeaderMap,
    /// Whether the request asks for a connection upgrade.
    pub upgrade: bool,
    /// The request body, read with [`Ctx::body`]; the transformer gets it afterwards.
    body: BodySlot,
}

/// The request body while the layers run (a `Mutex` only so that `Ctx` stays `Sync`; it
/// is reached through `&mut`, never locked under contention).
struct BodySlot(Mutex<Option<RequestBody>>);

impl fmt::Debug for BodySlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Body")
    }
}

/// Why [`Ctx::body`] gave no body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is longer than the limit (by its `Content-Length`, or once that many
    /// bytes arrived).
    #[error("the request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit that was passed to [`Ctx::body`].
        limit: usize,
    },
    /// Reading the body failed (the client went away, bad chunked encoding, ...).
    #[error("cannot read the request body: {0}")]
    Read(#[source] BoxError),
}

fn empty_body() -> RequestBody {
    Empty::new().map_err(|e| match e {}).boxed_unsync()
}

impl Ctx {
    /// A context for a request, before any layer ran.
    pub(crate) fn new(head: Parts, upgrade: bool, body: RequestBody) -> Ctx {
        Ctx {
            head,
            response_headers: HeaderMap::new(),
            upgrade,
            body: BodySlot(Mutex::new(Some(body))),
        }
    }

    /// Take the body for the transformer (an empty one if it is gone).
    pub(crate) fn take_body(&mut self) -> RequestBody {
        self.slot().take().unwrap_or_else(empty_body)
    }

    fn slot(&mut self) -> &mut Option<RequestBody> {
        self.body.0.get_mut().unwrap_or_else(|p| p.into_inner())
    }

    /// Read the whole request body, at most `limit` bytes of it, for a layer that answers
    /// the request itself. The bytes read are put back in front of whatever was not
    /// read, so later layers and the transformer still see the whole body, and calling
    /// this again gives the same bytes.
    ///
    /// A body longer than `limit` is [`BodyError::TooLarge`]: refused by its
    /// `Content-Length` before reading anything, or after reading at most `limit` bytes
    /// plus one chunk. Only await this on requests the layer means to answer: it waits
    /// for the client to send the body.
    ///
    /// ```
    /// use primus::middleware::{response, BodyError, Ctx, Flow, Runs};
    /// use http::StatusCode;
    /// # let primus = primus::Primus::new(primus::Options::default()).unwrap();
    /// // An echo endpoint at /primus/echo, for bodies of up to 1 KiB.
    /// primus.use_async_at("echo", Runs::HTTP, None, |mut ctx: Ctx| async move {
    ///     if ctx.head.uri.path() != "/primus/echo" {
    ///         return Flow::Next(ctx);
    ///     }
    ///     Flow::Respond(match ctx.body(1024).await {
    ///         Ok(body) => response(StatusCode::OK, "application/octet-stream", body),
    ///         Err(BodyError::TooLarge { .. }) => {
    ///             response(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", "too large")
    ///         }
    ///         Err(e) => response(StatusCode::BAD_REQUEST, "text/plain", e.to_string()),
    ///     })
    /// });
    /// ```
    pub async fn body(&mut self, limit: usize) -> Result<Bytes, BodyError> {
        let declared = self
            .head
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(BodyError::TooLarge { limit });
        }
        let mut body = self.take_body();
        let mut buf = BytesMut::new();
        let mut trailers = None;
        let result = loop {
            match body.frame().await {
                None => break Ok(()),
                Some(Err(e)) => break Err(BodyError::Read(e)),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        buf.extend_from_slice(&data);
                        if buf.len() > limit {
                            break Err(BodyError::TooLarge { limit });
                        }
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            trailers = Some(t);
                        }
                    }
                },
            }
        };
        let bytes = buf.freeze();
        let replaced = match (&result, trailers) {
            (Ok(()), None) => Full::new(bytes.clone())
                .map_err(|e| match e {})
                .boxed_unsync(),
            (_, trailers) => {
                let mut frames = Vec::new();
                if !bytes.is_empty() {
                    frames.push(Ok(http_body::Frame::data(bytes.clone())));
                }
                if let Some(t) = trailers {
                    frames.push(Ok(http_body::Frame::trailers(t)));
                }
                let read = futures_util::stream::iter(frames);
                if matches!(result, Err(BodyError::TooLarge { .. })) {
                    use futures_util::StreamExt;
                    StreamBody::new(read.chain(BodyStream::new(body))).boxed_unsync()
                } else {
                    StreamBody::new(read).boxed_unsync()
                }
            }
        };
        *self.slot() = Some(replaced);
        result.map(|()| bytes)
    }
}

/// What a layer decides.
#[derive(Debug)]
// `Next` is the common case and moves from layer to layer; boxing it would allocate per
// layer and request to save moving a few hundred bytes.
#[allow(clippy::large_enum_variant)]
pub enum Flow {
    /// Go on with the next layer (and finally the transformer).
    Next(Ctx),
    /// Answer the request with this response; no later layer runs.
    Respond(HttpResponse),
}

type SyncFn = dyn Fn(&mut Ctx) -> Option<HttpResponse> + Send + Sync;
type AsyncFn = dyn Fn(Ctx) -> BoxFuture<'static, Flow> + Send + Sync;

/// One layer's code.
#[derive(Clone)]
pub(crate) enum Layer {
    /// Runs inline: no allocation per request.
    Sync(Arc<SyncFn>),
    /// Runs as a future.
    Async(Arc<AsyncFn>),
}

/// Where a layer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runs {
    /// On plain HTTP requests.
    pub http: bool,
    /// On upgrade requests.
    pub upgrade: bool,
}

impl Runs {
    /// Both HTTP requests and upgrades (the default).
    pub const ALL: Runs = Runs {
        http: true,
        upgrade: true,
    };
    /// Plain HTTP requests only.
    pub const HTTP: Runs = Runs {
        http: true,
        upgrade: false,
    };
}

impl Default for Runs {
    fn default() -> Self {
        Runs::ALL
    }
}

#[derive(Clone)]
struct Entry {
    name: String,
    layer: Layer,
    runs: Runs,
    enabled: bool,
}

/// The named, ordered stack. Cheap to read per request (a snapshot `Arc`).
#[derive(Default)]
pub(crate) struct Stack {
    entries: RwLock<Arc<Vec<Entry>>>,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Stack {
    fn edit(&self, f: impl FnOnce(&mut Vec<Entry>)) {
        let mut guard = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<Entry> = guard.as_ref().clone();
        f(&mut v);
        *guard = Arc::new(v);
    }

    /// Add (or replace, keeping its place) a layer; `index` puts a new one at a position.
    pub(crate) fn add(&self, name: &str, layer: Layer, runs: Runs, index: Option<usize>) {
        self.edit(|v| {
            let entry = Entry {
                name: name.to_string(),
                layer,
                runs,
                enabled: true,
            };
            if let Some(pos) = v.iter().position(|e| e.name == name) {
                v[pos] = entry;
            } else {
                let at = index.unwrap_or(v.len()).min(v.len());
                v.insert(at, entry);
            }
        });
    }

    pub(crate) fn remove(&self, name: &str) -> bool {
        let mut found = false;
        self.edit(|v| {
            let before = v.len();
            v.retain(|e| e.name != name);
            found = v.len() != before;
        });
        found
    }

    pub(crate) fn set_enabled(&self, name: &str, enabled: bool) -> bool {
        let mut found = false;
        self.edit(|v| {
            if let Some(e) = v.iter_mut().find(|e| e.name == name) {
                e.enabled = enabled;
                found = true;
            }
        });
        found
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.snapshot().iter().map(|e| e.name.clone()).collect()
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.snapshot().iter().position(|e| e.name == name)
    }

    fn snapshot(&self) -> Arc<Vec<Entry>> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Run every enabled layer that applies, in order.
    pub(crate) async fn run(&self, mut ctx: Ctx) -> Flow {
        let entries = self.snapshot();
        for e in entries.iter() {
            if !e.enabled
                || !(if ctx.upgrade {
                    e.runs.upgrade
                } else {
                    e.runs.http
                })
            {
                continue;
            }
            match &e.layer {
                Layer::Sync(f) => {
                    if let Some(mut res) = f(&mut ctx) {
                        apply_headers(&mut res, &ctx.response_headers);
                        return Flow::Respond(res);
                    }
                }
                Layer::Async(f) => {
                    // The context moves into the layer; keep the headers collected so far
                    // for a response it may produce.
                    let collected = ctx.response_headers.clone();
                    match f(ctx).await {
                        Flow::Next(c) => ctx = c,
                        Flow::Respond(mut res) => {
                            apply_headers(&mut res, &collected);
                            return Flow::Respond(res);
                        }
                    }
                }
            }
        }
        Flow::Next(ctx)
    }
}

/// Add collected headers to a response (without replacing what it set itself).
pub(crate) fn apply_headers(res: &mut HttpResponse, headers: &HeaderMap) {
    for (name, value) in headers {
        if !res.headers().contains_key(name) {
            res.headers_mut().append(name.clone(), value.clone());
        }
    }
}

/// A plain-text response, for layers that answer a request.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    response(status, "text/plain", body)
}

/// A response with a body, a content type and its length.
pub fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let body: Bytes = body.into();
    let len = body.len();
    let mut res = crate::service::full(status, content_type, body);
    res.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    res
}

impl crate::Primus {
    /// Add a sync layer at the end of the stack (or replace the layer of that name). It
    /// returns `Some(response)` to answer the request, `None` to continue.
    pub fn use_sync(
        &self,
        name: &str,
        f: impl Fn(&mut Ctx) -> Option<HttpResponse> + Send + Sync + 'static,
    ) {
        self.use_layer(name, Layer::Sync(Arc::new(f)), Runs::ALL, None);
    }

    /// Add an async layer at the end of the stack (or replace the layer of that name).
    pub fn use_async<F, Fut>(&self, name: &str, f: F)
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Flow> + Send + 'static,
    {
        self.use_layer(
            name,
            Layer::Async(Arc::new(move |ctx| Box::pin(f(ctx)))),
            Runs::ALL,
            None,
        );
    }

    /// Add a sync layer with where it runs and at which index (the reference's
    /// `use(name, fn, options, index)`).
    pub fn use_sync_at(
        &self,
        name: &str,
        runs: Runs,
        index: Option<usize>,
        f: impl Fn(&mut Ctx) -> Option<HttpResponse> + Send + Sync + 'static,
    ) {
        self.use_layer(name, Layer::Sync(Arc::new(f)), runs, index);
    }

    /// Add an async layer with where it runs and at which index.
    pub fn use_async_at<F, Fut>(&self, name: &str, runs: Runs, index: Option<usize>, f: F)
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Flow> + Send + 'static,
    {
        self.use_layer(
            name,
            Layer::Async(Arc::new(move |ctx| Box::pin(f(ctx)))),
            runs,
            index,
        );
    }

    /// Insert a `tower` layer by name. The layer wraps a service that means "continue":
    /// requests it lets through (possibly changed) go on down the stack, with the headers
    /// it adds to that inner response kept for the final one; any response it produces
    /// itself answers the request.
    pub fn use_tower<L>(&self, name: &str, runs: Runs, index: Option<usize>, layer: L)
    where
        L: tower_layer::Layer<tower_adapter::Continue> + Send + Sync + 'static,
        L::Service: tower_service::Service<
                http::Request<tower_adapter::LayerBody>,
                Response = Response<ResponseBody>,
            > + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower_service::Service<http::Request<tower_adapter::LayerBody>>>::Future:
            Send + 'static,
        <L::Service as tower_service::Service<http::Request<tower_adapter::LayerBody>>>::Error:
            fmt::Display,
    {
        self.use_layer(name, tower_adapter::layer(layer), runs, index);
    }

    fn use_layer(&self, name: &str, layer: Layer, runs: Runs, index: Option<usize>) {
        self.inner.middleware.add(name, layer, runs, index);
    }

    /// Remove a layer (built-in ones too). Returns whether it existed.
    pub fn remove_middleware(&self, name: &str) -> bool {
        self.inner.middleware.remove(name)
    }

    /// Turn a layer off without removing it.
    pub fn disable(&self, name: &str) -> bool {
        self.inner.middleware.set_enabled(name, false)
    }

    /// Turn a disabled layer back on.
    pub fn enable(&self, name: &str) -> bool {
        self.inner.middleware.set_enabled(name, true)
    }

    /// The layer names, in order.
    pub fn middleware_names(&self) -> Vec<String> {
        self.inner.middleware.names()
    }

    /// The position of a layer, to insert another before or after it.
    pub fn middleware_index(&self, name: &str) -> Option<usize> {
        self.inner.middleware.index_of(name)
    }
}

/// Install the built-in layers in the reference's order.
pub(crate) fn install_builtins(primus: &crate::Primus) {
    let opts = primus.options().clone();
    let stack = &primus.inner.middleware;
    stack.add(
        "forwarded",
        builtin::forwarded(opts.trusted_proxies.clone()),
        Runs::ALL,
        None,
    );
    stack.add(
        "cors",
        cors::layer(Cors::from_options(&opts)),
        Runs {
            http: true,
            upgrade: opts.cors_upgrades,
        },
        None,
    );
    let weak = Arc::downgrade(&primus.inner);
    stack.add("primus.js", library::layer(weak.clone()), Runs::HTTP, None);
    stack.add("spec", builtin::spec(weak.clone()), Runs::HTTP, None);
    stack.add("x-xss", builtin::x_xss(), Runs::HTTP, None);
    stack.add("no-cache", builtin::no_cache(), Runs::HTTP, None);
    stack.add("authorization", authorization::layer(weak), Runs::ALL, None);
}
