//! The session plugin: an axum application with tower-sessions logs a user in over HTTP;
//! a spark connecting with that cookie sees the same session. Without a session (or with
//! `required()` and none) the spark gets no session (or is ended).
#![cfg(feature = "session")]

mod server_support;

use axum::routing::get;
use axum::Router;
use primus::plugins::session::{Session as SessionPlugin, SparkSessionExt};
use primus::Primus;
use server_support::*;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

/// `/login?user=NAME` stores the user in the session; Primus greets by session user.
async fn app(required: bool) -> (SocketAddr, Primus) {
    let store = MemoryStore::default();
    let primus = Primus::new(quiet()).unwrap();
    let mut plugin = SessionPlugin::new(store.clone());
    if required {
        plugin = plugin.required();
    }
    primus.plugin("session", plugin).unwrap();
    primus.on_connection(|spark| {
        let user: Option<String> = spark.session().and_then(|s| s.get("user"));
        let _ = spark.write(&format!("hello {}", user.as_deref().unwrap_or("stranger")));
    });
    let router = Router::new()
        .route(
            "/login",
            get(|session: Session, uri: http::Uri| async move {
                let query = primus::query::parse(uri.query().unwrap_or(""));
                let user = query.get("user").map(|v| v.as_str().to_owned());
                session.insert("user", user).await.unwrap();
                "logged in"
            }),
        )
        .layer(primus.layer())
        .layer(SessionManagerLayer::new(store).with_secure(false));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, primus)
}

/// Log in over HTTP; the `Cookie` header line to send back.
async fn login(addr: SocketAddr, user: &str) -> String {
    let res = http_get(addr, &format!("/login?user={user}"), "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let set_cookie = res.header("set-cookie").expect("a session cookie");
    let pair = set_cookie.split(';').next().unwrap();
    format!("Cookie: theme=dark; {pair}\r\n")
}

#[tokio::test]
async fn a_spark_sees_the_session_of_its_http_login() {
    let (addr, _primus) = app(false).await;
    let cookie = login(addr, "alice").await;
    let mut ws = RawWs::connect(addr, "/primus", &cookie).await;
    assert_eq!(ws.read_non_ping().await.text(), r#""hello alice""#);
    // Another user's cookie, another session.
    let cookie = login(addr, "bob").await;
    let mut ws = RawWs::connect(addr, "/primus", &cookie).await;
    assert_eq!(ws.read_non_ping().await.text(), r#""hello bob""#);
    // No cookie, or a forged one: no session.
    let mut ws = RawWs::connect(addr, "/primus", "").await;
    assert_eq!(ws.read_non_ping().await.text(), r#""hello stranger""#);
    let forged = "Cookie: id=AAAAAAAAAAAAAAAAAAAAAA\r\n";
    let mut ws = RawWs::connect(addr, "/primus", forged).await;
    assert_eq!(ws.read_non_ping().await.text(), r#""hello stranger""#);
}

#[tokio::test]
async fn required_ends_sparks_without_a_session() {
    let (addr, primus) = app(true).await;
    let mut ws = RawWs::connect(addr, "/primus", "Cookie: id=garbage\r\n").await;
    let frames = ws.read_to_eof().await;
    assert!(
        frames.iter().all(|f| !f.text().contains("hello")),
        "no greeting"
    );
    wait_until(WAIT, "the spark to be gone", || primus.connected() == 0).await;
    let cookie = login(addr, "carol").await;
    let mut ws = RawWs::connect(addr, "/primus", &cookie).await;
    assert_eq!(ws.read_non_ping().await.text(), r#""hello carol""#);
}
