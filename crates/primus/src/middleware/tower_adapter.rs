//! Running a `tower` layer as a middleware layer.
//!
//! The tower layer wraps [`Continue`], a service that means "go on down the stack": when
//! the request reaches it, the (possibly changed) request head travels back to us inside
//! the response's extensions, along with any headers the tower layer added on the way
//! out. A response without that marker was produced by the tower layer itself and
//! answers the request.

use super::{text, Ctx, Flow, Layer};
use crate::service::ResponseBody;
use bytes::Bytes;

/// Request body a tower layer sees in the stack: none (an async layer reads the body with
/// [`Ctx::body`](super::Ctx::body)).
pub type LayerBody = Empty<Bytes>;
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tower_service::Service;

/// The innermost service a tower layer wraps when used in the middleware stack.
#[derive(Debug, Clone, Copy, Default)]
pub struct Continue;

/// The request head that reached [`Continue`].
#[derive(Clone)]
struct Continued(Arc<Mutex<Option<Parts>>>);

impl Service<Request<LayerBody>> for Continue {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<LayerBody>) -> Self::Future {
        let (parts, _body) = req.into_parts();
        let mut res = Response::new(Empty::new().map_err(|e| match e {}).boxed());
        res.extensions_mut()
            .insert(Continued(Arc::new(Mutex::new(Some(parts)))));
        std::future::ready(Ok(res))
    }
}

pub(super) fn layer<L>(layer: L) -> Layer
where
    L: tower_layer::Layer<Continue> + Send + Sync + 'static,
    L::Service: Service<Request<LayerBody>, Response = Response<ResponseBody>>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as Service<Request<LayerBody>>>::Future: Send + 'static,
    <L::Service as Service<Request<LayerBody>>>::Error: fmt::Display,
{
    let svc = layer.layer(Continue);
    Layer::Async(Arc::new(move |ctx: Ctx| {
        let mut svc = svc.clone();
        Box::pin(async move {
            let Ctx {
                head,
                mut response_headers,
                upgrade,
                body,
            } = ctx;
            let req = Request::from_parts(head, Empty::new());
            let ready = std::future::poll_fn(|cx| svc.poll_ready(cx))
                .await
                .map_err(|e| e.to_string());
            let res = match ready {
                Ok(()) => svc.call(req).await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match res {
                Ok(mut res) => {
                    let continued = res
                        .extensions_mut()
                        .remove::<Continued>()
                        .and_then(|c| c.0.lock().unwrap_or_else(|p| p.into_inner()).take());
                    match continued {
                        Some(head) => {
                            for (name, value) in res.headers() {
                                response_headers.append(name.clone(), value.clone());
                            }
                            Flow::Next(Ctx {
                                head,
                                response_headers,
                                upgrade,
                                body,
                            })
                        }
                        None => Flow::Respond(res),
                    }
                }
                Err(e) => Flow::Respond(text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("middleware layer failed: {e}"),
                )),
            }
        })
    }))
}
