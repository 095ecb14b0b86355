//! Primus inside an axum application.
//!
//! Your axum `Router` keeps serving its own routes; `primus.layer()` puts Primus in front
//! of it, so everything under `/primus` (the WebSocket upgrade, `/primus/spec`) is
//! answered by Primus and every other request reaches your routes untouched.
//!
//! Run it:
//!
//! ```text
//! cargo run -p primus-rs --example axum            # listens on 127.0.0.1:3000
//! cargo run -p primus-rs --example axum -- 4000    # another port
//! ```
//!
//! Then try it:
//!
//! ```text
//! curl http://127.0.0.1:3000/               # axum
//! curl http://127.0.0.1:3000/stats          # axum, reading Primus state
//! curl http://127.0.0.1:3000/primus/spec    # Primus
//! websocat ws://127.0.0.1:3000/primus       # type "hello" (with the quotes): it echoes;
//!                                           # type "all: hi" to broadcast to everyone
//! ```
//!
//! The official JavaScript client works too:
//! `new Primus('http://127.0.0.1:3000', { transformer: 'websockets' })`.

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use primus::{Options, Primus};
use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3000);

    // 1. The real-time part: a Primus server with callbacks for each spark.
    let primus = Primus::new(Options::default())?;
    // A handle for broadcasting from inside the callbacks (clones are the same server).
    let server = primus.clone();
    primus.on_connection(move |spark| {
        println!("{} connected from {}", spark.id(), spark.address());
        let server = server.clone();
        spark.on_data(move |spark, msg| match msg.value().as_str() {
            // `"all: <text>"` goes to every connected spark...
            Some(text) if text.starts_with("all: ") => {
                // `write` on the server broadcasts; encoded once for everyone.
                let _ = server.write(&text["all: ".len()..]);
            }
            // ...anything else is echoed to its sender.
            _ => {
                let _ = spark.write(msg.value());
            }
        });
    });
    primus.on_disconnection(|spark| println!("{} left", spark.id()));

    // 2. The ordinary web part: an axum router, which can share Primus as state.
    let app = Router::new()
        .route(
            "/",
            get(|| async { "Hello from axum! Primus lives at /primus.\n" }),
        )
        .route("/stats", get(stats))
        .with_state(primus.clone())
        // 3. Primus in front of the router: it owns /primus, axum gets the rest.
        .layer(primus.layer())
        // Optional: hand the client's socket address to Primus (spark.address()).
        // axum records it as ConnectInfo; Primus reads a plain SocketAddr extension.
        .layer(middleware::from_fn(peer_address));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    // Tell clients not to reconnect: this server is going away.
    primus.destroy(primus::DestroyOptions::default());
    Ok(())
}

/// An axum handler reading Primus state.
async fn stats(State(primus): State<Primus>) -> String {
    let mut ids = Vec::new();
    primus.for_each(|spark| ids.push(spark.id().to_string()));
    format!("{} connected: {ids:?}\n", primus.connected())
}

/// Copy axum's `ConnectInfo` into the extension Primus reads the peer address from.
async fn peer_address(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    req.extensions_mut().insert(peer);
    next.run(req).await
}
