//! Transformers: the only code that knows the transport.
//!
//! Each transformer lives in its own folder with a `server` half (turns HTTP requests and
//! upgrades into sparks and drains their outgoing queues) and a `client` half (a transport
//! for the Rust [`Client`](crate::client)). Transformers are an enum, not a trait: the set
//! is closed and each one drains a spark's queue in its own way.

pub mod engineio;
pub mod sockjs;
pub mod websockets;

use crate::error::PrimusError;
use crate::options::Options;
use crate::server::Inner;
use crate::service::{HttpRequest, HttpResponse};
use std::sync::Arc;

/// The server half of the configured transformer.
#[derive(Debug)]
pub(crate) enum Transformer {
    WebSockets(websockets::server::Server),
    SockJs(sockjs::server::Server),
    EngineIo(engineio::server::Server),
}

impl Transformer {
    pub(crate) fn by_name(name: &str, options: &Options) -> Result<Self, PrimusError> {
        match name.to_ascii_lowercase().as_str() {
            "websockets" => Ok(Transformer::WebSockets(websockets::server::Server::new(
                options,
            ))),
            "engine.io" => Ok(Transformer::EngineIo(engineio::server::Server::new(
                options,
            ))),
            "sockjs" => Ok(Transformer::SockJs(sockjs::server::Server::new(options)?)),
            other => Err(PrimusError::UnknownTransformer(other.to_string())),
        }
    }

    /// The lower-case name published in `/spec`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Transformer::WebSockets(_) => "websockets",
            Transformer::SockJs(_) => "sockjs",
            Transformer::EngineIo(_) => "engine.io",
        }
    }

    /// Answer a request under the pathname that no middleware answered.
    pub(crate) async fn handle(&self, server: &Arc<Inner>, req: HttpRequest) -> HttpResponse {
        match self {
            Transformer::WebSockets(t) => t.handle(server, req),
            Transformer::SockJs(t) => t.handle(server, req).await,
            Transformer::EngineIo(t) => t.handle(server, req).await,
        }
    }
}
