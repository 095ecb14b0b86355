//! Our middleware runs in front of every Engine.IO request (issue 4): authorization on the
//! handshake, on every poll and POST, and on the upgrade; no-cache headers on polling
//! answers; CORS on polling requests that carry an `Origin`.
#![cfg(feature = "engineio")] // needs the `engineio` transformer

mod server_support;

use server_support::*;

/// The token travels in the query, which engine.io clients repeat on every request.
async fn start() -> TestServer {
    let primus = primus::Primus::new(quiet().transformer("engine.io")).unwrap();
    token_authorizer(&primus);
    TestServer::serve(primus).await
}

#[tokio::test]
async fn authorization_guards_every_polling_request_and_the_upgrade() {
    let server = start().await;
    let a = server.addr;
    let res = http_get(a, "/primus/?EIO=4&transport=polling", "").await;
    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(
        server.primus.engineio_sessions(),
        Some(0),
        "no session without auth"
    );

    let res = http_get(a, "/primus/?EIO=4&transport=polling&token=good", "").await;
    assert_eq!(res.status, 200);
    assert!(res
        .header("cache-control")
        .is_some_and(|v| v.contains("no-store")));
    let body = res.text();
    let open: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
    let sid = open["sid"].as_str().unwrap().to_string();

    // A request on the session without the token is refused like the handshake.
    let res = http_get(
        a,
        &format!("/primus/?EIO=4&transport=polling&sid={sid}"),
        "",
    )
    .await;
    assert_eq!(res.status, 401);
    let post = format!(
        "POST /primus/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {a}\r\n\
         Connection: close\r\nContent-Length: 6\r\n\r\n4\"hey\""
    );
    assert_eq!(http_raw(a, &post).await.status, 401);
    let upgrade = RawWs::try_connect(
        a,
        &format!("/primus/?EIO=4&transport=websocket&sid={sid}"),
        "",
    )
    .await;
    assert_eq!(upgrade.err().map(|r| r.status), Some(401));

    // With the token, the same requests go through.
    let post = format!(
        "POST /primus/?EIO=4&transport=polling&sid={sid}&token=good HTTP/1.1\r\nHost: {a}\r\n\
         Connection: close\r\nContent-Length: 6\r\n\r\n4\"hey\""
    );
    let res = http_raw(a, &post).await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    let mut ws = RawWs::connect(
        a,
        &format!("/primus/?EIO=4&transport=websocket&sid={sid}&token=good"),
        "",
    )
    .await;
    ws.send_text("2probe").await;
    assert_eq!(ws.read_frame().await.text(), "3probe");
}

#[tokio::test]
async fn cors_headers_on_polling_answers() {
    let server = start().await;
    let res = http_get(
        server.addr,
        "/primus/?EIO=4&transport=polling&token=good",
        "Origin: http://example.com\r\n",
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("http://example.com")
    );
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
}
