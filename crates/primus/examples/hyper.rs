//! Primus around a plain hyper application, with sparks handled as `Stream`s.
//!
//! No framework: a hyper accept loop serves `primus.service(app)`, which answers under
//! `/primus` and passes every other request to `app`. Sparks are taken from
//! `primus.connections()` and each is echoed with `split` + `forward`, the way you would
//! plumb any other futures `Stream` into a `Sink`.
//!
//! Run it:
//!
//! ```text
//! cargo run -p primus-rs --example hyper            # listens on 127.0.0.1:3000
//! cargo run -p primus-rs --example hyper -- 4000    # another port
//! ```
//!
//! Then try it:
//!
//! ```text
//! curl http://127.0.0.1:3000/hello          # the hyper application
//! curl http://127.0.0.1:3000/primus/spec    # Primus
//! websocat ws://127.0.0.1:3000/primus       # send {"a":1}: it comes back
//! ```
//!
//! Two things hyper needs that a framework would do for you: serve each connection
//! `.with_upgrades()` (otherwise WebSocket upgrades cannot complete), and put the peer's
//! `SocketAddr` in the request extensions (that is where `spark.address()` comes from).

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use primus::{Options, Primus, WriteError};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::net::TcpListener;

/// The application: any function from a request to a response.
async fn app(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("hello from hyper, you asked for {}\n", req.uri().path());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3000);

    let primus = Primus::new(Options::default())?;

    // Each new spark is a Stream of messages and a Sink for replies: echo with forward.
    let mut sparks = primus.connections();
    tokio::spawn(async move {
        while let Some(spark) = sparks.next().await {
            println!("{} connected from {}", spark.id(), spark.address());
            tokio::spawn(async move {
                let id = spark.id().to_string();
                let (sink, stream) = spark.split();
                let result = stream
                    .map(|msg| Ok::<_, WriteError>(msg.into_value()))
                    .forward(sink)
                    .await;
                println!("{id} left ({result:?})");
            });
        }
    });

    // Primus in front of the application.
    let service = primus.service(Tower(app));

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    tokio::select! {
        result = accept_loop(listener, service) => result?,
        _ = tokio::signal::ctrl_c() => {}
    }
    // Ask clients to come back later (reconnect) rather than give up.
    primus.destroy(primus::DestroyOptions {
        reconnect: true,
        ..Default::default()
    });
    Ok(())
}

/// Accept connections and serve each with `service` over HTTP/1, allowing upgrades.
async fn accept_loop<S, B>(listener: TcpListener, service: S) -> std::io::Result<()>
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
    loop {
        let (stream, peer) = listener.accept().await?;
        let service = service.clone();
        // hyper wants its own Service trait: adapt the tower service per request, and
        // record the peer's address for `spark.address()`.
        let hyper_service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(peer);
            let mut service = service.clone();
            async move { tower_service::Service::call(&mut service, req).await }
        });
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper_service)
                .with_upgrades();
            if let Err(e) = conn.await {
                eprintln!("connection error: {e}");
            }
        });
    }
}

/// `Primus::service` wraps a `tower_service::Service`; hyper's `service_fn` implements
/// hyper's own trait instead, so this adapter turns an async fn into a tower service.
#[derive(Clone, Copy)]
struct Tower<F>(F);

impl<F, Fut, B> tower_service::Service<Request<Incoming>> for Tower<F>
where
    F: Fn(Request<Incoming>) -> Fut,
    Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
{
    type Response = Response<B>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        Box::pin((self.0)(req))
    }
}
