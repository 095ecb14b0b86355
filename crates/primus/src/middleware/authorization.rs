//! `authorization`: the reference's `primus.authorize(fn)`.
//!
//! The authorizer runs for every request under the pathname that reaches this layer:
//! upgrades, plain HTTP, and every polling request of long-polling transports. A refusal
//! is answered like the reference: the status (401 by default), `WWW-Authenticate` only
//! with 401, and the JSON body `{"error": message}`; upgrades also get `Connection: close`.

use super::{response, Ctx, Flow, Layer};
use crate::server::Inner;
use futures_util::future::BoxFuture;
use http::request::Parts;
use http::{header, HeaderValue, StatusCode};
use std::future::Future;
use std::sync::{Arc, Weak};

/// Why a request was refused.
///
/// ```
/// let e = primus::middleware::AuthError::new("bad token").authenticate("Bearer");
/// assert_eq!(e.status, http::StatusCode::UNAUTHORIZED);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AuthError {
    /// Response status (default 401).
    pub status: StatusCode,
    /// Sent as `{"error": message}`.
    pub message: String,
    /// `WWW-Authenticate` value, sent only with status 401.
    pub authenticate: Option<String>,
}

impl AuthError {
    /// A 401 refusal with this message.
    pub fn new(message: impl Into<String>) -> Self {
        AuthError {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
            authenticate: None,
        }
    }
    /// Use another status code.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
    /// Ask the client to authenticate this way (`WWW-Authenticate`, 401 only).
    pub fn authenticate(mut self, scheme: impl Into<String>) -> Self {
        self.authenticate = Some(scheme.into());
        self
    }
}

/// The authorizer: looks at the request head, then decides (maybe asynchronously).
pub(crate) type Authorizer =
    Arc<dyn Fn(&Parts) -> BoxFuture<'static, Result<(), AuthError>> + Send + Sync>;

impl crate::Primus {
    /// Authorize every request under the pathname (the reference's `authorize(fn)`).
    /// `f` reads what it needs from the request head and returns a future deciding.
    /// Browser clients compiled for this server drop the `timeout` reconnect strategy.
    ///
    /// ```
    /// use primus::middleware::AuthError;
    /// # let primus = primus::Primus::new(primus::Options::default()).unwrap();
    /// primus.authorize(|req| {
    ///     let ok = req.headers.get("authorization").is_some_and(|v| v == "Bearer sesame");
    ///     async move { if ok { Ok(()) } else { Err(AuthError::new("I failed").authenticate("Bearer")) } }
    /// });
    /// ```
    pub fn authorize<F, Fut>(&self, f: F)
    where
        F: Fn(&Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), AuthError>> + Send + 'static,
    {
        let auth: Authorizer = Arc::new(move |req| Box::pin(f(req)));
        *self
            .inner
            .authorizer
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(auth);
    }

    /// Whether an authorizer is set.
    pub fn has_authorizer(&self) -> bool {
        self.inner
            .authorizer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

pub(super) fn layer(server: Weak<Inner>) -> Layer {
    Layer::Async(Arc::new(move |ctx: Ctx| {
        let auth = server.upgrade().and_then(|s| {
            s.authorizer
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        });
        Box::pin(async move {
            let Some(auth) = auth else {
                return Flow::Next(ctx);
            };
            match auth(&ctx.head).await {
                Ok(()) => Flow::Next(ctx),
                Err(e) => Flow::Respond(refusal(&e, ctx.upgrade)),
            }
        })
    }))
}

/// The reference's refusal: JSON body, `WWW-Authenticate` only with 401.
pub(crate) fn refusal(e: &AuthError, upgrade: bool) -> crate::service::HttpResponse {
    let body = serde_json::to_vec(&serde_json::json!({ "error": e.message })).unwrap_or_default();
    let mut res = response(e.status, "application/json", body);
    let h = res.headers_mut();
    if e.status == StatusCode::UNAUTHORIZED {
        if let Some(v) = e
            .authenticate
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
    }
    if upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}
