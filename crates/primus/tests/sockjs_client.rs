//! The Rust client's sockjs transport (websocket, xhr-streaming, xhr-polling, and the
//! fallback between them) against our server and against the real Node Primus 8 server
//! with `--transformer sockjs` (`tests/interop/reference-server.mjs`; needs `node`, and
//! runs `npm ci` in `tests/interop` when its `node_modules` lacks `sockjs`).
#![cfg(feature = "sockjs")] // needs the `sockjs` transformer

mod server_support;

use primus::client::{Client, ClientEvent, ClientOptions};
use primus::transformers::sockjs::client::{SockJsClientOptions, SockJsTransport};
use server_support::{contract_server, TestServer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod client_support;
use client_support::{
    echo_scenario, end_with_reconnect_scenario, fast, server_end_scenario, wait_event,
};

mod node_support;
use node_support::NodeServer;

/// Our server with the same control protocol subset (echo, `end`, `info`).
async fn ours() -> TestServer {
    let options = primus::Options::default()
        .transformer("sockjs")
        .ping_interval(None);
    TestServer::serve(contract_server(options)).await
}

fn options(transports: &[SockJsTransport]) -> ClientOptions {
    let mut o = fast("sockjs");
    o.transport.sockjs = SockJsClientOptions::default().transports(transports.iter().copied());
    o
}

/// Echo, id, query, and `spark.end()` ending the client for good.
async fn scenario(url: &str, transports: &[SockJsTransport], query_expected: bool) {
    let url = format!("{url}/?room=lobby");
    let mut client = Client::new(&url, options(transports)).unwrap();
    echo_scenario(&mut client, 50, query_expected).await;
    server_end_scenario(&mut client).await;
}

/// The server ends the spark with reconnect: the client opens a new session.
async fn reconnects(url: &str, transports: &[SockJsTransport]) {
    let mut client = Client::new(url, options(transports)).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    end_with_reconnect_scenario(&mut client).await;
    client.end();
}

const WS: &[SockJsTransport] = &[SockJsTransport::WebSocket];
const STREAMING: &[SockJsTransport] = &[SockJsTransport::XhrStreaming];
const POLLING: &[SockJsTransport] = &[SockJsTransport::XhrPolling];

#[tokio::test]
async fn ours_websocket() {
    let s = ours().await;
    scenario(&format!("http://{}", s.addr), WS, true).await;
    reconnects(&format!("http://{}", s.addr), WS).await;
}

#[tokio::test]
async fn ours_xhr_streaming() {
    let s = ours().await;
    scenario(&format!("http://{}", s.addr), STREAMING, true).await;
    reconnects(&format!("http://{}", s.addr), STREAMING).await;
}

#[tokio::test]
async fn ours_xhr_polling() {
    let s = ours().await;
    scenario(&format!("http://{}", s.addr), POLLING, true).await;
    reconnects(&format!("http://{}", s.addr), POLLING).await;
}

#[tokio::test]
async fn ours_default_transports() {
    let s = ours().await;
    let all = SockJsClientOptions::default().transports;
    scenario(&format!("http://{}", s.addr), &all, true).await;
}

#[tokio::test]
async fn reference_websocket() {
    let s = NodeServer::start(&["--transformer", "sockjs"]);
    let url = format!("http://127.0.0.1:{}", s.port);
    scenario(&url, WS, false).await;
    reconnects(&url, WS).await;
}

#[tokio::test]
async fn reference_xhr_streaming() {
    let s = NodeServer::start(&["--transformer", "sockjs"]);
    let url = format!("http://127.0.0.1:{}", s.port);
    scenario(&url, STREAMING, false).await;
    reconnects(&url, STREAMING).await;
}

#[tokio::test]
async fn reference_xhr_polling() {
    let s = NodeServer::start(&["--transformer", "sockjs"]);
    let url = format!("http://127.0.0.1:{}", s.port);
    scenario(&url, POLLING, false).await;
    reconnects(&url, POLLING).await;
}

/// Our server behind a filter that refuses WebSocket upgrades and `xhr_streaming`
/// (like a proxy that buffers responses): the client falls back to xhr-polling.
async fn filtered() -> (TestServer, std::net::SocketAddr, Arc<AtomicUsize>) {
    let s = ours().await;
    let refused = Arc::new(AtomicUsize::new(0));
    let addr = serve_filtered(s.primus.clone().into_service(), refused.clone()).await;
    (s, addr, refused)
}

/// Serve a tower service over hyper, sending refused requests outside the pathname (the
/// service answers 404 there). Generic, like a hyper user's code would be.
async fn serve_filtered<S, B>(svc: S, counter: Arc<AtomicUsize>) -> std::net::SocketAddr
where
    S: tower_service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let svc = svc.clone();
            let counter = counter.clone();
            let hyper_svc =
                hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                    if req.headers().contains_key(http::header::UPGRADE)
                        || req.uri().path().ends_with("/xhr_streaming")
                    {
                        counter.fetch_add(1, Ordering::SeqCst);
                        *req.uri_mut() = http::Uri::from_static("/refused");
                    }
                    let mut svc = svc.clone();
                    async move { tower_service::Service::call(&mut svc, req).await }
                });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), hyper_svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn falls_back_from_websocket_and_streaming_to_polling() {
    let (_server, addr, refused) = filtered().await;
    let all = SockJsClientOptions::default().transports;
    scenario(&format!("http://{addr}"), &all, true).await;
    // Every connection attempt tried websocket and xhr-streaming first.
    assert!(refused.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn no_transport_works_reports_an_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut o = options(&SockJsClientOptions::default().transports);
    o.strategy = primus::client::Strategy::NONE;
    let client = Client::new(&format!("http://127.0.0.1:{port}"), o).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "error", |e| matches!(e, ClientEvent::Error(_))).await;
}
