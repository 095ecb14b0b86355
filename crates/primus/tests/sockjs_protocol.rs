//! The sockjs transformer's protocol, endpoint by endpoint, with a raw HTTP client:
//! `/info`, the iframe page, every session transport and its framing, the close and
//! "another connection" frames, CORS and caching headers, and the bad input the protocol
//! names (broken JSON, empty payloads, unknown sessions, unsafe JSONP callbacks,
//! oversize bodies), plus abandoned sessions being reclaimed.
#![cfg(feature = "sockjs")] // needs the `sockjs` transformer

mod server_support;

use futures_util::{SinkExt, StreamExt};
use primus::Options;
use server_support::*;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn sockjs() -> Options {
    quiet().transformer("sockjs")
}

/// An echo server with the e2e control commands `end` and `info` (enough for these tests).
async fn start() -> TestServer {
    start_with(sockjs()).await
}

async fn start_with(options: Options) -> TestServer {
    let primus = primus::Primus::new(options).expect("valid options");
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let v = msg.value();
            if v.get("cmd").and_then(|c| c.as_str()) == Some("end") {
                spark.end(v.get("data"), false);
            } else if v.get("cmd").and_then(|c| c.as_str()) == Some("info") {
                let query = serde_json::to_value(spark.query()).unwrap();
                let _ = spark.write(&serde_json::json!({ "id": spark.id(), "query": query }));
            } else if let Some(n) = v.get("big").and_then(|n| n.as_u64()) {
                for _ in 0..n {
                    let _ = spark.write(&"x".repeat(50_000));
                }
            } else {
                let _ = spark.write(v);
            }
        });
    });
    TestServer::serve(primus).await
}

/// `POST path` with a body and content type.
async fn post(addr: SocketAddr, path: &str, content_type: &str, body: &str) -> HttpResponse {
    let ct = if content_type.is_empty() {
        String::new()
    } else {
        format!("Content-Type: {content_type}\r\n")
    };
    http_raw(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

async fn send(addr: SocketAddr, session: &str, body: &str) -> HttpResponse {
    post(
        addr,
        &format!("/primus/000/{session}/xhr_send"),
        "text/plain",
        body,
    )
    .await
}

async fn poll(addr: SocketAddr, session: &str) -> String {
    let res = post(addr, &format!("/primus/000/{session}/xhr"), "", "").await;
    assert_eq!(res.status, 200);
    res.text()
}

/// A streaming response read chunk by chunk (chunked transfer encoding decoded).
struct Streaming {
    tcp: TcpStream,
    buf: Vec<u8>,
    status: u16,
    headers: Vec<(String, String)>,
    /// Decoded body bytes not yet consumed.
    body: Vec<u8>,
    ended: bool,
}

impl Streaming {
    async fn open(addr: SocketAddr, method: &str, path: &str) -> Streaming {
        within("a streaming response head", async {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nOrigin: http://example.com\r\n\r\n"
            );
            tcp.write_all(req.as_bytes()).await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 8192];
            let end = loop {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break end;
                }
                let n = tcp.read(&mut chunk).await.unwrap();
                assert!(n > 0, "closed before the response head");
                buf.extend_from_slice(&chunk[..n]);
            };
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let rest = buf[end + 4..].to_vec();
            Streaming {
                tcp,
                buf: rest,
                status,
                headers,
                body: Vec::new(),
                ended: false,
            }
        })
        .await
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Decode complete chunks from `buf` into `body`.
    fn decode(&mut self) {
        loop {
            let Some(line_end) = self.buf.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size_line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_line.trim(), 16).expect("chunk size");
            if self.buf.len() < line_end + 2 + size + 2 {
                return;
            }
            let start = line_end + 2;
            self.body.extend_from_slice(&self.buf[start..start + size]);
            self.buf.drain(..start + size + 2);
            if size == 0 {
                self.ended = true;
                return;
            }
        }
    }

    /// Read until the decoded body contains `needle`; returns everything up to and
    /// including it.
    async fn until(&mut self, needle: &str) -> String {
        within_for(Duration::from_secs(10), needle, async {
            loop {
                self.decode();
                if let Some(pos) = find(&self.body, needle.as_bytes()) {
                    let out: Vec<u8> = self.body.drain(..pos + needle.len()).collect();
                    return String::from_utf8(out).unwrap();
                }
                assert!(
                    !self.ended,
                    "response ended without {needle:?}: {:?}",
                    String::from_utf8_lossy(&self.body)
                );
                let mut chunk = vec![0u8; 65536];
                let n = self.tcp.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed without {needle:?}");
                self.buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await
    }

    /// Read to the end of the response; returns the rest of the body.
    async fn rest_of_body(&mut self) -> String {
        within_for(Duration::from_secs(10), "the end of the response", async {
            loop {
                self.decode();
                if self.ended {
                    return String::from_utf8(std::mem::take(&mut self.body)).unwrap();
                }
                let mut chunk = vec![0u8; 65536];
                let n = self.tcp.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed before the last chunk");
                self.buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn welcome_info_and_options() {
    let s = start().await;
    let res = http_get(s.addr, "/primus", "").await;
    assert_eq!(
        (res.status, res.text().as_str()),
        (200, "Welcome to SockJS!\n")
    );
    assert_eq!(http_get(s.addr, "/primus/", "").await.status, 200);

    let res = http_get(s.addr, "/primus/info", "Origin: http://a.example\r\n").await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("http://a.example")
    );
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    assert!(res
        .header("cache-control")
        .is_some_and(|c| c.contains("no-store") && c.contains("no-cache")));
    let info: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(info["websocket"], true);
    assert_eq!(info["cookie_needed"], false);
    assert_eq!(info["origins"], serde_json::json!(["*:*"]));
    assert!(info["entropy"].is_u64());
    let other: serde_json::Value =
        serde_json::from_slice(&http_get(s.addr, "/primus/info", "").await.body).unwrap();
    assert_ne!(info["entropy"], other["entropy"], "entropy is random");
    assert_eq!(
        http_get(s.addr, "/primus/info", "")
            .await
            .header("access-control-allow-origin"),
        Some("*")
    );

    let res = http_raw(
        s.addr,
        &format!(
            "OPTIONS /primus/info HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nOrigin: http://a.example\r\nAccess-Control-Request-Headers: X-A\r\n\r\n",
            s.addr
        ),
    )
    .await;
    assert_eq!(res.status, 204);
    assert_eq!(
        res.header("access-control-allow-methods"),
        Some("OPTIONS, GET")
    );
    assert_eq!(res.header("access-control-allow-headers"), Some("X-A"));
    assert_eq!(res.header("access-control-max-age"), Some("31536000"));
    assert_eq!(
        res.header("cache-control"),
        Some("public, max-age=31536000")
    );
    assert!(res.header("expires").is_some());

    for path in [
        "/primus/000/abc/xhr",
        "/primus/000/abc/xhr_send",
        "/primus/000/abc/xhr_streaming",
    ] {
        let res = http_raw(
            s.addr,
            &format!(
                "OPTIONS {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                s.addr
            ),
        )
        .await;
        assert_eq!(res.status, 204, "{path}");
        assert_eq!(
            res.header("access-control-allow-methods"),
            Some("OPTIONS, POST")
        );
    }
}

#[tokio::test]
async fn iframe_page_with_etag() {
    let s = start().await;
    for path in [
        "/primus/iframe.html",
        "/primus/iframe-1.6.1.html",
        "/primus/iframe-a_b.html",
    ] {
        let res = http_get(s.addr, path, "").await;
        assert_eq!(res.status, 200, "{path}");
        assert_eq!(res.header("content-type"), Some("text/html; charset=UTF-8"));
        assert_eq!(
            res.header("cache-control"),
            Some("public, max-age=31536000")
        );
        assert!(res.header("expires").is_some());
        let text = res.text();
        assert!(text.contains("SockJS.bootstrap_iframe()"));
        assert!(text.contains("document.domain = document.domain"));
        let etag = res.header("etag").unwrap().to_string();
        assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
        let again = http_get(s.addr, path, &format!("If-None-Match: {etag}\r\n")).await;
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        let other = http_get(s.addr, path, "If-None-Match: \"nope\"\r\n").await;
        assert_eq!(other.status, 200);
    }
    assert_eq!(
        http_get(s.addr, "/primus/iframeX.html", "").await.status,
        404
    );
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods() {
    let s = start().await;
    let res = http_get(s.addr, "/primus/nope", "").await;
    assert_eq!(
        (res.status, res.text().as_str()),
        (404, "404 Error: Page not found\n")
    );
    assert_eq!(http_get(s.addr, "/primus/a.b/c/xhr", "").await.status, 404);
    assert_eq!(http_get(s.addr, "/primus/a/b.c/xhr", "").await.status, 404);
    assert_eq!(http_get(s.addr, "/primus/a/b/nope", "").await.status, 404);
    let res = http_get(s.addr, "/primus/000/abc/xhr", "").await;
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("OPTIONS, POST"));
    let res = post(s.addr, "/primus/000/abc/eventsource", "", "").await;
    assert_eq!((res.status, res.header("allow")), (405, Some("GET")));
    // The websocket endpoints only upgrade.
    let res = http_get(s.addr, "/primus/000/abc/websocket", "").await;
    assert_eq!(res.status, 400);
    assert_eq!(res.text(), "Can \"Upgrade\" only to \"WebSocket\".");
    assert_eq!(http_get(s.addr, "/primus/websocket", "").await.status, 400);
}

#[tokio::test]
async fn xhr_polling_session() {
    let s = start().await;
    let res = post(s.addr, "/primus/000/s1/xhr?room=lobby", "", "").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "o\n");
    assert_eq!(
        res.header("content-type"),
        Some("application/javascript; charset=UTF-8")
    );
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert!(res.header("cache-control").unwrap().contains("no-store"));
    assert!(
        res.header("set-cookie").is_none(),
        "no JSESSIONID unless asked"
    );

    let res = send(s.addr, "s1", r#"["\"hello\"","{\"cmd\":\"info\"}"]"#).await;
    assert_eq!(res.status, 204);
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert!(res.body.is_empty());
    let frame = poll(s.addr, "s1").await;
    assert!(frame.starts_with(r#"a["\"hello\"",""#), "{frame}");
    let payload: Vec<String> = serde_json::from_str(&frame[1..frame.len() - 1]).unwrap();
    let info: serde_json::Value = serde_json::from_str(&payload[1]).unwrap();
    // Beyond the reference: the first request's query reaches the spark.
    assert_eq!(info["query"]["room"], "lobby");
    assert_eq!(s.primus.connected(), 1);

    // Escaping: astral characters go out as \u escapes of both surrogates (U+2028 was
    // already escaped by the Primus JSON encoder, so its backslash is quoted).
    send(s.addr, "s1", r#"["\"\u2028😀\""]"#).await;
    assert_eq!(
        poll(s.addr, "s1").await,
        "a[\"\\\"\\\\u2028\\ud83d\\ude00\\\"\"]\n"
    );

    // The server ends the spark: queued messages, then the close frame (one line each,
    // in one poll); later polls get the close frame again until the session is forgotten.
    send(s.addr, "s1", r#"["{\"cmd\":\"end\",\"data\":\"bye\"}"]"#).await;
    assert_eq!(
        poll(s.addr, "s1").await,
        "a[\"\\\"bye\\\"\",\"\\\"primus::server::close\\\"\"]\nc[1000,\"Normal closure\"]\n"
    );
    assert_eq!(poll(s.addr, "s1").await, "c[1000,\"Normal closure\"]\n");
    assert_eq!(s.primus.connected(), 0);
}

#[tokio::test]
async fn bad_input_on_xhr_send_and_jsonp_send() {
    let s = start().await;
    poll(s.addr, "bad").await;
    let res = send(s.addr, "bad", "[\"x").await;
    assert_eq!(
        (res.status, res.text().as_str()),
        (500, "Broken JSON encoding.")
    );
    let res = send(s.addr, "bad", "").await;
    assert_eq!(
        (res.status, res.text().as_str()),
        (500, "Payload expected.")
    );
    let res = send(s.addr, "bad", "{\"a\":1}").await;
    assert_eq!(
        (res.status, res.text().as_str()),
        (500, "Payload expected.")
    );
    let res = send(s.addr, "nope", "[\"x\"]").await;
    assert_eq!(res.status, 404);
    let res = post(
        s.addr,
        "/primus/000/nope/jsonp_send",
        "text/plain",
        "[\"x\"]",
    )
    .await;
    assert_eq!(res.status, 404);
    let res = post(
        s.addr,
        "/primus/000/bad/jsonp_send",
        "application/x-www-form-urlencoded",
        "d=%5B%22x",
    )
    .await;
    assert_eq!(
        (res.status, res.text().as_str()),
        (500, "Broken JSON encoding.")
    );
    let res = post(
        s.addr,
        "/primus/000/bad/jsonp_send",
        "application/x-www-form-urlencoded",
        "",
    )
    .await;
    assert_eq!(
        (res.status, res.text().as_str()),
        (500, "Payload expected.")
    );
    let res = post(s.addr, "/primus/000/bad/jsonp_send", "text/plain", "").await;
    assert_eq!(
        (res.status, res.text().as_str()),
        (500, "Payload expected.")
    );
    // The session survived all of that.
    send(s.addr, "bad", "[\"1\"]").await;
    assert_eq!(poll(s.addr, "bad").await, "a[\"1\"]\n");
}

#[tokio::test]
async fn oversize_payload_ends_the_session_with_1009() {
    let s = start_with(sockjs().max_length(1000)).await;
    poll(s.addr, "big").await;
    // One message over max_length.
    let body = format!("[\"{}\"]", "a".repeat(1001));
    let res = send(s.addr, "big", &body).await;
    assert_eq!(res.status, 413);
    assert_eq!(
        poll(s.addr, "big").await,
        "c[1009,\"Max payload size exceeded\"]\n"
    );

    // A body over the body limit is refused without being buffered.
    poll(s.addr, "big2").await;
    let body = format!("[\"{}\"]", "a".repeat(5000));
    let res = send(s.addr, "big2", &body).await;
    assert_eq!(res.status, 413);
    assert_eq!(
        poll(s.addr, "big2").await,
        "c[1009,\"Max payload size exceeded\"]\n"
    );
}

#[tokio::test]
async fn jsonp_and_jsonp_send() {
    let s = start().await;
    let res = http_get(s.addr, "/primus/000/j1/jsonp?c=_jp.a1", "").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "/**/_jp.a1(\"o\");\r\n");
    assert_eq!(
        res.header("content-type"),
        Some("application/javascript; charset=UTF-8")
    );
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    let res = post(
        s.addr,
        "/primus/000/j1/jsonp_send",
        "application/x-www-form-urlencoded",
        "d=%5B%22%5C%22x%5C%22%22%5D",
    )
    .await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    assert_eq!(res.header("content-length"), Some("2"));
    let res = post(
        s.addr,
        "/primus/000/j1/jsonp_send",
        "text/plain",
        "[\"\\\"y\\\"\"]",
    )
    .await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    let res = http_get(s.addr, "/primus/000/j1/jsonp?callback=cb", "").await;
    assert_eq!(
        res.text(),
        "/**/cb(\"a[\\\"\\\\\\\"x\\\\\\\"\\\",\\\"\\\\\\\"y\\\\\\\"\\\"]\");\r\n"
    );

    // Callback names that are not plain identifiers are refused: no script injection.
    for bad in [
        "alert(1)",
        "a%3Bb",
        "%3Cscript%3E",
        "a%20b",
        &"x".repeat(33),
    ] {
        let res = http_get(s.addr, &format!("/primus/000/j2/jsonp?c={bad}"), "").await;
        assert_eq!(
            (res.status, res.text().as_str()),
            (500, "invalid \"callback\" parameter"),
            "{bad}"
        );
    }
    let res = http_get(s.addr, "/primus/000/j2/jsonp", "").await;
    assert_eq!(
        (res.status, res.text().as_str()),
        (500, "\"callback\" parameter required")
    );
    let res = http_get(s.addr, "/primus/000/j2/htmlfile?c=x(y)", "").await;
    assert_eq!(res.status, 500);
    // None of the refused requests opened a session.
    assert_eq!(s.primus.connected(), 1);
}

#[tokio::test]
async fn xhr_streaming_prelude_frames_and_response_limit() {
    let s = start().await;
    let mut st = Streaming::open(s.addr, "POST", "/primus/000/x1/xhr_streaming").await;
    assert_eq!(st.status, 200);
    assert_eq!(
        st.header("content-type"),
        Some("application/javascript; charset=UTF-8")
    );
    assert_eq!(
        st.header("access-control-allow-origin"),
        Some("http://example.com")
    );
    assert_eq!(st.header("access-control-allow-credentials"), Some("true"));
    let prelude = st.until("\n").await;
    assert_eq!(prelude, format!("{}\n", "h".repeat(2048)));
    assert_eq!(st.until("\n").await, "o\n");
    send(s.addr, "x1", "[\"\\\"a\\\"\"]").await;
    assert_eq!(st.until("\n").await, "a[\"\\\"a\\\"\"]\n");

    // A second receiver while this one streams gets 2010 and the first keeps going.
    let mut second = Streaming::open(s.addr, "POST", "/primus/000/x1/xhr_streaming").await;
    second.until("\n").await;
    assert_eq!(
        second.rest_of_body().await,
        "c[2010,\"Another connection still open\"]\n"
    );
    send(s.addr, "x1", "[\"\\\"b\\\"\"]").await;
    assert_eq!(st.until("\n").await, "a[\"\\\"b\\\"\"]\n");

    // 3 × 50 KB crosses the 128 KiB response limit: the response ends and the next one
    // carries on with the rest (no `o` again).
    send(s.addr, "x1", "[\"{\\\"big\\\":3}\"]").await;
    let rest = st.rest_of_body().await;
    let mut got = rest.matches(&"x".repeat(50_000)).count();
    assert!(got >= 2, "at least 128 KiB before the response ended");
    if got < 3 {
        let mut next = Streaming::open(s.addr, "POST", "/primus/000/x1/xhr_streaming").await;
        next.until("\n").await; // prelude
        let frame = next.until("]\n").await;
        assert!(frame.starts_with("a["), "{}", &frame[..20]);
        got += frame.matches(&"x".repeat(50_000)).count();
    }
    assert_eq!(got, 3);
}

#[tokio::test]
async fn eventsource_and_htmlfile_framing() {
    let s = start().await;
    let mut es = Streaming::open(s.addr, "GET", "/primus/000/e1/eventsource").await;
    assert_eq!(es.header("content-type"), Some("text/event-stream"));
    assert_eq!(es.until("\r\n").await, "\r\n");
    assert_eq!(es.until("\r\n\r\n").await, "data: o\r\n\r\n");
    send(s.addr, "e1", r#"["\"%\\r\\n\""]"#).await;
    assert_eq!(
        es.until("\r\n\r\n").await,
        "data: a[\"\\\"%25\\\\r\\\\n\\\"\"]\r\n\r\n"
    );

    let mut hf = Streaming::open(s.addr, "GET", "/primus/000/h1/htmlfile?c=%63b").await;
    assert_eq!(hf.header("content-type"), Some("text/html; charset=UTF-8"));
    let head = hf.until("\r\n\r\n").await;
    assert!(head.contains("var c = parent.cb;"), "{head}");
    assert!(head.len() > 1024, "padded past 1 KiB");
    assert_eq!(
        hf.until("</script>\r\n").await,
        "<script>\np(\"o\");\n</script>\r\n"
    );
    send(s.addr, "h1", r#"["\"</script>\""]"#).await;
    let chunk = hf.until("</script>\r\n").await;
    assert_eq!(
        chunk,
        "<script>\np(\"a[\\\"\\\\\\\"\\u003c/script>\\\\\\\"\\\"]\");\n</script>\r\n"
    );
}

async fn ws_text(ws: &mut Ws) -> String {
    match within("a websocket frame", ws.next()).await {
        Some(Ok(WsMessage::Text(t))) => t.to_string(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn websocket_session() {
    let s = start().await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/primus/000/w1/websocket?k=v", s.addr))
            .await
            .unwrap();
    assert_eq!(ws_text(&mut ws).await, "o");
    ws.send(WsMessage::text(
        "[\"\\\"hi\\\"\",\"{\\\"cmd\\\":\\\"info\\\"}\"]",
    ))
    .await
    .unwrap();
    // Both answers, in one `a[...]` frame or two.
    let mut frames = ws_text(&mut ws).await;
    if !frames.contains("query") {
        frames.push_str(&ws_text(&mut ws).await);
    }
    assert!(frames.starts_with("a[\"\\\"hi\\\"\""), "{frames}");
    assert!(frames.contains("\\\"k\\\":\\\"v\\\""), "{frames}");
    // A bare JSON string is one message; an empty message carries nothing.
    ws.send(WsMessage::text("")).await.unwrap();
    ws.send(WsMessage::text("\"2\"")).await.unwrap();
    assert_eq!(ws_text(&mut ws).await, "a[\"2\"]");
    ws.send(WsMessage::text("{\"cmd\":\"end\"}")).await.unwrap();
    // An object is not a message array: it is one message, the JSON value itself.
    assert_eq!(
        ws_text(&mut ws).await,
        "a[\"\\\"primus::server::close\\\"\"]"
    );
    assert_eq!(ws_text(&mut ws).await, "c[1000,\"Normal closure\"]");
    match within("the close frame", ws.next()).await {
        Some(Ok(WsMessage::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1000),
        other => panic!("{other:?}"),
    }

    // Broken JSON closes the session with 3000.
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/primus/000/w2/websocket", s.addr))
            .await
            .unwrap();
    assert_eq!(ws_text(&mut ws).await, "o");
    ws.send(WsMessage::text("[\"x")).await.unwrap();
    // Cut off with a close frame only (no `c` frame), like sockjs-node.
    match within("the close frame", ws.next()).await {
        Some(Ok(WsMessage::Close(Some(f)))) => assert_eq!(u16::from(f.code), 3000),
        other => panic!("{other:?}"),
    }
    wait_until(Duration::from_secs(3), "sparks gone", || {
        s.primus.connected() == 0
    })
    .await;
}

#[tokio::test]
async fn raw_websocket_endpoint() {
    let s = start().await;
    let mut ws = ws_connect(&s.ws_url("/primus/websocket")).await;
    ws_send(&mut ws, "\"raw\"").await;
    assert_eq!(ws_next_text(&mut ws).await.as_deref(), Some("\"raw\""));
    ws_send(&mut ws, "{\"cmd\":\"end\"}").await;
    assert_eq!(
        ws_next_text(&mut ws).await.as_deref(),
        Some("\"primus::server::close\"")
    );
    assert_eq!(ws_next_text(&mut ws).await, None);
}

#[tokio::test]
async fn abandoned_sessions_are_reclaimed_after_disconnect_delay() {
    // The default disconnect_delay (5 s), then a short one set through the options.
    for delay in [None, Some(Duration::from_millis(300))] {
        let options = match delay {
            Some(d) => sockjs().sockjs(
                primus::transformers::sockjs::SockJsOptions::default()
                    .delays(Duration::from_secs(25), d),
            ),
            None => sockjs(),
        };
        let s = start_with(options).await;
        // Streams dropped mid-response, and sessions whose client never polls again.
        for i in 0..5 {
            let mut st = Streaming::open(
                s.addr,
                "POST",
                &format!("/primus/000/gone{i}/xhr_streaming"),
            )
            .await;
            st.until("o\n").await;
            drop(st);
            poll(s.addr, &format!("poll{i}")).await;
        }
        // Aborted streams end their spark at once (like sockjs-node); the polling
        // sessions wait out disconnect_delay. Every session is kept that long to answer
        // late receivers.
        assert!(s.primus.connected() >= 5);
        assert_eq!(s.primus.sockjs_sessions(), 10);
        let limit = delay.unwrap_or(Duration::from_secs(5)) + Duration::from_secs(3);
        wait_until(limit, "every abandoned session reclaimed", || {
            s.primus.connected() == 0 && s.primus.sockjs_sessions() == 0
        })
        .await;
    }
}

#[tokio::test]
async fn options_response_limit_and_jsessionid() {
    let s = start_with(
        sockjs().sockjs(
            primus::transformers::sockjs::SockJsOptions::default()
                .response_limit(4096)
                .jsessionid(true),
        ),
    )
    .await;
    let res = http_get(s.addr, "/primus/info", "").await;
    assert!(res.text().contains("\"cookie_needed\":true"));
    let res = post(s.addr, "/primus/000/j/xhr", "", "").await;
    assert_eq!(res.header("set-cookie"), Some("JSESSIONID=dummy; path=/"));
    let mut st = Streaming::open(s.addr, "POST", "/primus/000/r/xhr_streaming").await;
    st.until("o\n").await;
    // 5 messages of 1 KB: the response ends once 4096 bytes went out.
    let msg = format!(
        "[{}]",
        vec![format!("\"\\\"{}\\\"\"", "k".repeat(1000)); 5].join(",")
    );
    for _ in 0..5 {
        send(s.addr, "r", &msg).await;
    }
    let rest = st.rest_of_body().await;
    assert!(rest.len() >= 4096, "{}", rest.len());
}

#[tokio::test]
async fn binary_parser_names_are_refused_at_start() {
    // SockJS carries text only: binary parsers are refused when the server is built, with
    // an error that says what to use instead; text parsers are fine.
    for parser in ["msgpack", "binary", "MsgPack"] {
        let err = primus::Primus::new(sockjs().transformer("SockJS").parser(parser))
            .expect_err(parser)
            .to_string();
        assert!(err.contains("sockjs carries text only"), "{parser}: {err}");
        assert!(err.contains("websockets"), "{err}");
    }
    for parser in ["json", "ejson"] {
        assert!(
            primus::Primus::new(sockjs().parser(parser)).is_ok(),
            "{parser}"
        );
    }
}

#[tokio::test]
async fn hixie76_websocket_session() {
    // The draft-76 handshake example: keys, then the 8-byte key3 after the head.
    let s = start().await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "GET /primus/000/hx/websocket HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\n\
         Upgrade: WebSocket\r\nOrigin: http://example.com\r\n\
         Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n",
        s.addr
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let end = within("the 101", async {
        loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                return end;
            }
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-origin: http://example.com"),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "sec-websocket-location: ws://{}/primus/000/hx/websocket",
            s.addr
        )),
        "{head}"
    );
    buf.drain(..end + 4);
    tcp.write_all(b"^n:ds[4U").await.unwrap();
    let expect: &[u8] = b"8jKS'y:G*Co,Wxa-\x00o\xff";
    within("the challenge answer and the open frame", async {
        while buf.len() < expect.len() {
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert_eq!(&buf[..expect.len()], expect);
    buf.drain(..expect.len());
    tcp.write_all(b"\x00[\"\\\"hi\\\"\"]\xff").await.unwrap();
    let expect: &[u8] = b"\x00a[\"\\\"hi\\\"\"]\xff";
    within("the echo", async {
        while buf.len() < expect.len() {
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert_eq!(&buf[..expect.len()], expect);
}

#[tokio::test]
async fn close_with_a_sockjs_code() {
    // transformers::sockjs::close: `c[3000,"Go away!"]` on every transport, and the
    // same frame for receivers that come later.
    let primus = primus::Primus::new(sockjs()).unwrap();
    primus.on_connection(|spark| {
        spark.on_data(|spark, _| primus::transformers::sockjs::close(spark, 3000, "Go away!"));
    });
    let s = TestServer::serve(primus).await;
    poll(s.addr, "g1").await;
    send(s.addr, "g1", "[\"1\"]").await;
    assert_eq!(poll(s.addr, "g1").await, "c[3000,\"Go away!\"]\n");
    assert_eq!(poll(s.addr, "g1").await, "c[3000,\"Go away!\"]\n");

    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/primus/000/g2/websocket", s.addr))
            .await
            .unwrap();
    assert_eq!(ws_text(&mut ws).await, "o");
    ws.send(WsMessage::text("[\"1\"]")).await.unwrap();
    assert_eq!(ws_text(&mut ws).await, "c[3000,\"Go away!\"]");
    match within("the close frame", ws.next()).await {
        Some(Ok(WsMessage::Close(Some(f)))) => {
            assert_eq!(u16::from(f.code), 3000);
            assert_eq!(f.reason.as_str(), "Go away!");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn websocket_stream_app_with_tiny_queues_does_not_deadlock() {
    // A Stream/Sink echo with 2-message queues: the websocket session keeps writing while
    // the application's inbox is full, so `send().await` always finds room eventually.
    let mut options = sockjs().queue_size(2);
    options.incoming_queue_size = 2;
    let primus = primus::Primus::new(options).unwrap();
    let mut sparks = primus.connections();
    tokio::spawn(async move {
        while let Some(mut spark) = sparks.next().await {
            tokio::spawn(async move {
                while let Some(msg) = spark.next().await {
                    if spark.send(msg.value()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let s = TestServer::serve(primus).await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/primus/000/q/websocket", s.addr))
            .await
            .unwrap();
    assert_eq!(ws_text(&mut ws).await, "o");
    let batch: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    ws.send(WsMessage::text(serde_json::to_string(&batch).unwrap()))
        .await
        .unwrap();
    let mut got = Vec::new();
    within_for(Duration::from_secs(10), "200 echoes", async {
        while got.len() < 200 {
            let frame = ws_text(&mut ws).await;
            let items: Vec<String> = serde_json::from_str(&frame[1..]).unwrap();
            got.extend(items);
        }
    })
    .await;
    assert_eq!(got, batch);
}
