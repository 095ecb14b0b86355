//! Transformers: the only code that knows the transport.
//!
//! Each transformer lives in its own folder with a `server` half (turns HTTP requests and
//! upgrades into sparks and drains their outgoing queues) and a `client` half (a transport
//! for the Rust [`Client`](crate::client)). Transformers are an enum, not a trait: the set
//! is closed and each one drains a spark's queue in its own way.
//!
//! Each transformer has a Cargo feature of the same name (`websockets`, `engineio`,
//! `sockjs`, `faye`, `sse`, `uws`, `socketio`, `browserchannel`, `webtransport`; all on by
//! default but `webtransport`). With a feature off, its `server` and `client`
//! halves and its browser transport are left out; its option types stay, so `Options`
//! reads the same config files in every build, and selecting it gives
//! [`PrimusError::TransformerNotCompiled`]. The WebSocket engine in
//! [`websockets`]'s server half (upgrade checks, the socket type, close handling) carries
//! engine.io's and sockjs's WebSocket transports too, so it is built in every build;
//! [`faye`] is that server with another close code. [`sse`] (Server-Sent Events down,
//! POST up) goes beyond the reference. [`uws`] (also named `lws`) is plain WebSocket on a
//! second engine, fastwebsockets, with the websockets client halves. [`socketio`]
//! (`socket.io`) is engine.io with Socket.IO protocol 5 framing, on both halves, plus a
//! Socket.IO 0.9 server. [`browserchannel`] is Google's BrowserChannel as npm
//! `browserchannel` 2.1 speaks it (forward-channel POSTs, back-channel chunks).
//! [`webtransport`] (beyond the reference, experimental, off by default) carries Primus
//! over WebTransport (HTTP/3 over UDP) with an endpoint of its own.

#[cfg(not(any(
    feature = "websockets",
    feature = "engineio",
    feature = "sockjs",
    feature = "faye",
    feature = "sse",
    feature = "uws",
    feature = "socketio",
    feature = "browserchannel",
    feature = "webtransport"
)))]
compile_error!(
    "primus-rs needs at least one transformer: enable one of its features \
     `websockets`, `engineio`, `sockjs`, `faye`, `sse`, `uws`, `socketio`, `browserchannel`, \
     `webtransport`"
);

pub mod browserchannel;
pub mod engineio;
pub mod faye;
#[cfg(any(
    feature = "sockjs",
    feature = "sse",
    feature = "browserchannel",
    feature = "socketio"
))]
pub(crate) mod http_session;
pub mod socketio;
pub mod sockjs;
pub mod sse;
pub mod uws;
pub mod websockets;
pub mod webtransport;

use crate::error::PrimusError;
use crate::options::Options;
use crate::server::Inner;
use crate::service::{HttpRequest, HttpResponse};
use std::sync::Arc;

/// Refuse a parser that produces binary frames for a transformer that carries text only
/// (`transformer` names it in the error).
pub(crate) fn check_text_parser(
    transformer: &str,
    parser: &dyn primus_core::Parser,
) -> Result<(), PrimusError> {
    if parser.is_binary() {
        return Err(PrimusError::InvalidOption {
            name: "parser",
            reason: format!(
                "the `{}` parser produces binary frames, but {transformer} carries text only: \
                 use a text parser (json, ejson) or another transformer (websockets, engine.io)",
                parser.name()
            ),
        });
    }
    Ok(())
}

/// The server half of the configured transformer.
#[derive(Debug)]
pub(crate) enum Transformer {
    #[cfg(feature = "websockets")]
    WebSockets(websockets::server::Server),
    #[cfg(feature = "sockjs")]
    SockJs(sockjs::server::Server),
    #[cfg(feature = "engineio")]
    EngineIo(engineio::server::Server),
    /// The websockets server with faye's close code.
    #[cfg(feature = "faye")]
    Faye(websockets::server::Server),
    /// Server-Sent Events down, POST up.
    #[cfg(feature = "sse")]
    Sse(sse::server::Server),
    /// Plain WebSocket on the fastwebsockets engine, named `uws` or `lws`.
    #[cfg(feature = "uws")]
    Uws(uws::server::Server),
    /// The engine.io server with Socket.IO protocol 5 framing, and the Socket.IO 0.9
    /// server under `<pathname>/1`.
    #[cfg(feature = "socketio")]
    SocketIo(socketio::server::Server),
    /// WebTransport sessions from its UDP endpoint; over TCP it describes the endpoint.
    #[cfg(feature = "webtransport")]
    WebTransport(webtransport::server::Server),
    /// Google's BrowserChannel: forward-channel POSTs, back-channel chunks.
    #[cfg(feature = "browserchannel")]
    BrowserChannel(browserchannel::server::Server),
}

/// Every transformer primus-rs has, compiled in or not: its name and its Cargo feature.
const KNOWN: &[(&str, &str)] = &[
    ("websockets", "websockets"),
    ("engine.io", "engineio"),
    ("sockjs", "sockjs"),
    ("faye", "faye"),
    ("sse", "sse"),
    ("uws", "uws"),
    ("lws", "uws"),
    ("socket.io", "socketio"),
    ("webtransport", "webtransport"),
    ("browserchannel", "browserchannel"),
];

/// A lower-case transformer name's canonical name and Cargo feature, `None` when
/// primus-rs has no such transformer.
pub(crate) fn known(name: &str) -> Option<(&'static str, &'static str)> {
    KNOWN.iter().find(|(known, _)| *known == name).copied()
}

impl Transformer {
    pub(crate) fn by_name(name: &str, options: &Options) -> Result<Self, PrimusError> {
        match name.to_ascii_lowercase().as_str() {
            #[cfg(feature = "websockets")]
            "websockets" => Ok(Transformer::WebSockets(websockets::server::Server::new(
                options,
            ))),
            #[cfg(feature = "engineio")]
            "engine.io" => Ok(Transformer::EngineIo(engineio::server::Server::new(
                options,
            ))),
            #[cfg(feature = "sockjs")]
            "sockjs" => Ok(Transformer::SockJs(sockjs::server::Server::new(options))),
            #[cfg(feature = "faye")]
            "faye" => Ok(Transformer::Faye(faye::server(options))),
            #[cfg(feature = "sse")]
            "sse" => Ok(Transformer::Sse(sse::server::Server::new(options))),
            #[cfg(feature = "uws")]
            name @ ("uws" | "lws") => Ok(Transformer::Uws(uws::server::Server::new(
                if name == "uws" { "uws" } else { "lws" },
                options,
            ))),
            #[cfg(feature = "socketio")]
            "socket.io" => Ok(Transformer::SocketIo(socketio::server::Server::new(
                options,
            )?)),
            #[cfg(feature = "webtransport")]
            "webtransport" => Ok(Transformer::WebTransport(
                webtransport::server::Server::new(options),
            )),
            #[cfg(feature = "browserchannel")]
            "browserchannel" => Ok(Transformer::BrowserChannel(
                browserchannel::server::Server::new(options),
            )),
            other => Err(match known(other) {
                Some((name, feature)) => PrimusError::TransformerNotCompiled { name, feature },
                None => PrimusError::UnknownTransformer(other.to_string()),
            }),
        }
    }

    /// The lower-case name published in `/spec`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            #[cfg(feature = "websockets")]
            Transformer::WebSockets(_) => "websockets",
            #[cfg(feature = "sockjs")]
            Transformer::SockJs(_) => "sockjs",
            #[cfg(feature = "engineio")]
            Transformer::EngineIo(_) => "engine.io",
            #[cfg(feature = "faye")]
            Transformer::Faye(_) => "faye",
            #[cfg(feature = "sse")]
            Transformer::Sse(_) => "sse",
            #[cfg(feature = "uws")]
            Transformer::Uws(t) => t.name(),
            #[cfg(feature = "socketio")]
            Transformer::SocketIo(_) => "socket.io",
            #[cfg(feature = "webtransport")]
            Transformer::WebTransport(_) => "webtransport",
            #[cfg(feature = "browserchannel")]
            Transformer::BrowserChannel(_) => "browserchannel",
        }
    }

    /// The webtransport server half, when this is it (its endpoint needs it).
    #[cfg(feature = "webtransport")]
    pub(crate) fn webtransport(&self) -> Option<&webtransport::server::Server> {
        match self {
            Transformer::WebTransport(t) => Some(t),
            #[allow(unreachable_patterns)] // a webtransport-only build
            _ => None,
        }
    }

    /// Whether this transformer carries text frames only, so binary parsers are refused
    /// when the server is built ([`check_text_parser`]).
    pub(crate) fn text_only(&self) -> bool {
        match self {
            #[cfg(feature = "sockjs")]
            Transformer::SockJs(_) => true,
            #[cfg(feature = "browserchannel")]
            Transformer::BrowserChannel(_) => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Answer a request under the pathname that no middleware answered.
    pub(crate) async fn handle(&self, server: &Arc<Inner>, req: HttpRequest) -> HttpResponse {
        match self {
            #[cfg(feature = "websockets")]
            Transformer::WebSockets(t) => t.handle(server, req),
            #[cfg(feature = "sockjs")]
            Transformer::SockJs(t) => t.handle(server, req).await,
            #[cfg(feature = "engineio")]
            Transformer::EngineIo(t) => t.handle(server, req).await,
            #[cfg(feature = "faye")]
            Transformer::Faye(t) => t.handle(server, req),
            #[cfg(feature = "sse")]
            Transformer::Sse(t) => t.handle(server, req).await,
            #[cfg(feature = "uws")]
            Transformer::Uws(t) => t.handle(server, req),
            #[cfg(feature = "socketio")]
            Transformer::SocketIo(t) => t.handle(server, req).await,
            #[cfg(feature = "webtransport")]
            Transformer::WebTransport(t) => t.handle(server, req),
            #[cfg(feature = "browserchannel")]
            Transformer::BrowserChannel(t) => t.handle(server, req).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a transformer's feature is on in this build.
    fn compiled(feature: &str) -> bool {
        match feature {
            "websockets" => cfg!(feature = "websockets"),
            "engineio" => cfg!(feature = "engineio"),
            "sockjs" => cfg!(feature = "sockjs"),
            "faye" => cfg!(feature = "faye"),
            "sse" => cfg!(feature = "sse"),
            "uws" => cfg!(feature = "uws"),
            "socketio" => cfg!(feature = "socketio"),
            "webtransport" => cfg!(feature = "webtransport"),
            "browserchannel" => cfg!(feature = "browserchannel"),
            other => panic!("no feature {other}"),
        }
    }

    #[test]
    fn a_left_out_transformer_is_a_typed_error_naming_its_feature() {
        for &(name, feature) in KNOWN {
            let server = Transformer::by_name(name, &Options::default());
            let client = crate::client::ClientOptions {
                transformer: name.into(),
                ..Default::default()
            }
            .validate();
            if compiled(feature) {
                assert_eq!(server.expect(name).name(), name);
                assert!(client.is_ok(), "{name}");
                continue;
            }
            let err = server.expect_err(name);
            assert!(
                matches!(err, PrimusError::TransformerNotCompiled { name: n, feature: f } if n == name && f == feature)
            );
            assert_eq!(
                err.to_string(),
                format!("transformer `{name}` is not compiled in: enable the `{feature}` feature of primus-rs")
            );
            assert!(matches!(
                client,
                Err(crate::client::ClientError::TransformerNotCompiled { feature: f, .. }) if f == feature
            ));
        }
        assert!(matches!(
            Transformer::by_name("carrier-pigeon", &Options::default()),
            Err(PrimusError::UnknownTransformer(n)) if n == "carrier-pigeon"
        ));
    }

    #[test]
    fn binary_parsers_are_refused() {
        #[derive(Debug)]
        struct Bin;
        impl primus_core::Parser for Bin {
            fn name(&self) -> &str {
                "bin"
            }
            fn encode(
                &self,
                _: &dyn erased_serde::Serialize,
            ) -> Result<primus_core::Frame, primus_core::ParserError> {
                Ok(primus_core::Frame::Binary(Default::default()))
            }
            fn decode(
                &self,
                _: &primus_core::Frame,
            ) -> Result<primus_core::Value, primus_core::ParserError> {
                Ok(primus_core::Value::Null)
            }
            fn is_binary(&self) -> bool {
                true
            }
        }
        let err = check_text_parser("sockjs", &Bin).unwrap_err().to_string();
        assert!(err.contains("sockjs carries text only"), "{err}");
        assert!(check_text_parser("sockjs", &primus_core::parser::Json).is_ok());
    }
}
