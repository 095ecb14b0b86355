//! Primus inside someone else's HTTP stack: the tower layer under axum, and the service
//! wrapped around a plain hyper application. Primus answers under `pathname`, the
//! application everything else.

mod server_support;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use primus::{Options, Primus};
use server_support::*;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::net::TcpListener;

/// Serve an axum router on a free port.
async fn serve_axum(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn assert_primus_works(addr: SocketAddr, primus: &Primus) {
    // An upgrade under the pathname is Primus's.
    let mut ws = ws_connect(&format!("ws://{addr}/primus")).await;
    ws_send(&mut ws, r#"{"via":"embedded"}"#).await;
    assert_eq!(
        ws_next_text(&mut ws).await.as_deref(),
        Some(r#"{"via":"embedded"}"#)
    );
    assert_eq!(primus.connected(), 1);
    // So are the spec and the 426.
    let spec = http_get(addr, "/primus/spec", "").await;
    assert_eq!(spec.status, 200);
    assert!(spec
        .text()
        .starts_with(r#"{"pingInterval":false,"pathname":"/primus""#));
    assert_eq!(http_get(addr, "/primus", "").await.status, 426);
}

#[tokio::test]
async fn nested_in_axum_with_layer() {
    let primus = Primus::new(quiet()).unwrap();
    echo(&primus);
    let app = Router::new()
        .route("/", get(|| async { "hello from axum" }))
        .route("/about", get(|| async { "about" }))
        .layer(primus.layer());
    let addr = serve_axum(app).await;

    let res = http_get(addr, "/", "").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "hello from axum");
    assert_eq!(http_get(addr, "/about", "").await.text(), "about");
    // Paths axum does not know still get axum's 404, not Primus's.
    assert_eq!(http_get(addr, "/nope", "").await.status, 404);
    assert_primus_works(addr, &primus).await;
}

#[tokio::test]
async fn axum_connect_info_can_feed_the_spark_address() {
    // axum records the peer as `ConnectInfo<SocketAddr>`; Primus reads a `SocketAddr` (or
    // `PeerInfo`) extension. A one-line middleware bridges them.
    use axum::extract::{ConnectInfo, Request as AxumRequest};
    use axum::middleware::{self, Next};
    let primus = Primus::new(quiet()).unwrap();
    let mut new_sparks = sparks(&primus);
    let app = Router::new()
        .route("/", get(|| async { "hi" }))
        .layer(primus.layer())
        .layer(middleware::from_fn(
            |ConnectInfo(peer): ConnectInfo<SocketAddr>, mut req: AxumRequest, next: Next| async move {
                req.extensions_mut().insert(peer);
                next.run(req).await
            },
        ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let ws = RawWs::connect(addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;
    assert_eq!(spark.address().socket_addr(), ws.tcp.local_addr().unwrap());
}

/// A plain application function as a `tower_service::Service` (what `Primus::service`
/// wraps). hyper's own `service_fn` implements hyper's `Service` trait, not tower's, so
/// this small adapter is what a hyper user writes.
#[derive(Clone)]
struct App<F>(F);

impl<F, Fut> tower_service::Service<Request<Incoming>> for App<F>
where
    F: Fn(Request<Incoming>) -> Fut,
    Fut: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        Box::pin((self.0)(req))
    }
}

/// Serve a tower service over hyper's HTTP/1 connection API, with upgrades.
async fn serve_hyper<S, B>(svc: S) -> SocketAddr
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let svc = svc.clone();
            let hyper_svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                // Tell Primus who the peer is (spark.address()).
                req.extensions_mut().insert(peer);
                let mut svc = svc.clone();
                async move { tower_service::Service::call(&mut svc, req).await }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper_svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn wrapped_around_a_plain_hyper_service() {
    let primus = Primus::new(quiet()).unwrap();
    echo(&primus);
    let app = App(|req: Request<Incoming>| async move {
        let body = format!("hello from hyper at {}", req.uri().path());
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
    });
    let addr = serve_hyper(primus.service(app)).await;

    let res = http_get(addr, "/", "").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "hello from hyper at /");
    assert_eq!(
        http_get(addr, "/other/page", "").await.text(),
        "hello from hyper at /other/page"
    );
    assert_primus_works(addr, &primus).await;
}

#[tokio::test]
async fn into_service_alone_under_hyper() {
    let primus = Primus::new(quiet()).unwrap();
    echo(&primus);
    let mut new_sparks = sparks(&primus);
    let addr = serve_hyper(primus.clone().into_service()).await;
    assert_eq!(http_get(addr, "/", "").await.status, 404);
    let ws = RawWs::connect(addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;
    // The SocketAddr extension the server loop inserted is used for the address.
    assert_eq!(spark.address().socket_addr(), ws.tcp.local_addr().unwrap());
    drop(ws);
    assert_primus_works(addr, &primus).await;
}

#[tokio::test]
async fn a_custom_pathname_is_owned_by_primus() {
    let primus = Primus::new(quiet().pathname("/realtime")).unwrap();
    echo(&primus);
    let app = Router::new()
        .route("/primus", get(|| async { "axum owns /primus here" }))
        .layer(primus.layer());
    let addr = serve_axum(app).await;
    assert_eq!(
        http_get(addr, "/primus", "").await.text(),
        "axum owns /primus here"
    );
    let mut ws = RawWs::connect(addr, "/realtime", "").await;
    ws.send_text("5").await;
    assert_eq!(ws.read_frame().await.bytes(), b"\x81\x015");
}

#[tokio::test]
async fn the_standalone_server_can_front_an_application() {
    // `Server::app` puts an application behind the standalone server instead of the 404.
    let primus = Primus::new(Options::default().ping_interval(None)).unwrap();
    echo(&primus);
    let app = App(|_req: Request<Incoming>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"app"))))
    });
    let running = primus::Server::bind(primus.clone(), "127.0.0.1:0".parse().unwrap())
        .iknowhttpsisbetter(true)
        .app(app)
        .start()
        .await
        .unwrap();
    let addr = running.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(running.run_until(async {
        let _ = stopped.await;
    }));
    assert_eq!(http_get(addr, "/", "").await.text(), "app");
    assert_primus_works(addr, &primus).await;
    drop(stop);
    within("shutdown", task).await.unwrap().unwrap();
}
