//! The `browserchannel` transformer's server half at the HTTP level (raw TCP): both
//! connection tests, session creation, forward-channel maps (`__S`, `JSON`, retries,
//! gaps, the JSON body form), back-channel chunks byte for byte, `AID` acknowledgements
//! and retransmission on a new back channel, the unacknowledged-array window, the
//! back-channel byte limit, `noop` keep-alives, the session timeout, `terminate`, the
//! server's end (`stop`), unknown `SID`s, oversized bodies, refused authorization, and
//! binary frames.
#![cfg(feature = "browserchannel")] // needs the `browserchannel` transformer

mod server_support;

use primus::transformers::browserchannel::BrowserChannelOptions;
use primus::{Options, SparkError};
use primus_core::browserchannel::{self as bc, ChunkParser, ServerArray};
use primus_core::Frame;
use serde_json::json;
use server_support::*;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn bc_options() -> Options {
    quiet().transformer("browserchannel")
}

/// An echo server with control commands: `end`, `info`, `silent` (no answer), `raw` (a
/// text frame written as is), `binary` (a binary frame written as is), `many` (`n`
/// messages sent one after the other, waiting for room; with `size`, each a string of
/// that many `x`).
async fn start_with(options: Options) -> (TestServer, Arc<Mutex<Vec<String>>>) {
    let primus = primus::Primus::new(options).expect("valid options");
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    primus.on_connection(move |spark| {
        let seen = seen.clone();
        spark.on_error(move |_, e| {
            let kind = if matches!(e, SparkError::TextOnly { .. }) {
                "TextOnly: "
            } else {
                ""
            };
            seen.lock().unwrap().push(format!("{kind}{e}"));
        });
        spark.on_data(|spark, msg| {
            let v = msg.value();
            if contract_command(spark, v) {
                return;
            }
            match v.get("cmd").and_then(|c| c.as_str()) {
                Some("silent") => {}
                Some("raw") => {
                    let text = v.get("text").and_then(|t| t.as_str()).unwrap_or("");
                    let _ = spark.write_frame(Frame::text(text));
                }
                Some("binary") => {
                    let _ = spark.write_frame(Frame::binary(vec![1u8, 2, 3]));
                }
                Some("many") => {
                    let n = v.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
                    let size = v.get("size").and_then(|n| n.as_u64());
                    let spark = spark.clone();
                    tokio::spawn(async move {
                        let long = size.map(|size| "x".repeat(size as usize));
                        for i in 0..n {
                            let sent = match &long {
                                Some(long) => spark.send(long).await,
                                None => spark.send(&i).await,
                            };
                            if sent.is_err() {
                                return;
                            }
                        }
                    });
                }
                _ => {
                    let _ = spark.write(v);
                }
            }
        });
    });
    (TestServer::serve(primus).await, errors)
}

async fn start() -> TestServer {
    start_with(bc_options()).await.0
}

/// `count=N&ofs=M&req<i>__S=<JSON text of each value>`.
fn maps(ofs: u64, values: &[serde_json::Value]) -> String {
    let texts: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    bc::encode_form(ofs, texts.iter().map(String::as_str))
}

async fn post(addr: SocketAddr, query: &str, body: &str) -> HttpResponse {
    post_typed(addr, query, "application/x-www-form-urlencoded", body).await
}

async fn post_typed(addr: SocketAddr, query: &str, content_type: &str, body: &str) -> HttpResponse {
    http_raw(
        addr,
        &format!(
            "POST /primus/bind?{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

/// The arrays of a complete body made of chunks.
fn arrays_of(body: &[u8]) -> Vec<(u64, ServerArray)> {
    let mut p = ChunkParser::new(1 << 24);
    p.push(body);
    let mut out = Vec::new();
    while let Some(text) = p.next_chunk().unwrap() {
        out.extend(bc::decode_arrays(&text).unwrap());
    }
    assert!(
        !p.has_partial(),
        "a chunk was cut: {:?}",
        String::from_utf8_lossy(body)
    );
    out
}

/// A session made with `POST /bind` (`count=0`).
struct Session {
    addr: SocketAddr,
    sid: String,
    rid: u64,
}

impl Session {
    async fn create(addr: SocketAddr) -> Session {
        Self::create_with(addr, "VER=8&RID=1000&room=lobby&t=1", "count=0")
            .await
            .0
    }

    async fn create_with(addr: SocketAddr, query: &str, body: &str) -> (Session, HttpResponse) {
        let res = post(addr, query, body).await;
        assert_eq!(res.status, 200, "{}", res.text());
        let arrays = arrays_of(&res.body);
        let sid = match &arrays[0] {
            (
                0,
                ServerArray::Created {
                    sid,
                    host_prefix: None,
                    version: 8,
                },
            ) => sid.clone(),
            other => panic!("expected the session array, got {other:?}"),
        };
        (
            Session {
                addr,
                sid,
                rid: 1001,
            },
            res,
        )
    }

    /// A forward-channel request (the next `RID`, `AID` = `aid`).
    async fn forward(&mut self, aid: i64, body: &str) -> HttpResponse {
        let q = format!("VER=8&SID={}&RID={}&AID={aid}&t=1", self.sid, self.rid);
        self.rid += 1;
        post(self.addr, &q, body).await
    }

    async fn back(&self, aid: i64) -> BackChannel {
        BackChannel::open(self.addr, &self.sid, aid, "0").await
    }

    async fn get(&self, params: &str) -> HttpResponse {
        http_get(
            self.addr,
            &format!("/primus/bind?VER=8&SID={}&{params}", self.sid),
            "",
        )
        .await
    }
}

/// A back channel read over raw TCP.
struct BackChannel {
    body: RawStream,
    parser: ChunkParser,
    arrays: std::collections::VecDeque<(u64, ServerArray)>,
}

impl BackChannel {
    async fn open(addr: SocketAddr, sid: &str, aid: i64, ci: &str) -> BackChannel {
        let path =
            format!("/primus/bind?VER=8&RID=rpc&SID={sid}&CI={ci}&AID={aid}&TYPE=xmlhttp&t=1");
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        BackChannel {
            body: RawStream::open(addr, &req).await,
            parser: ChunkParser::new(1 << 24),
            arrays: Default::default(),
        }
    }

    /// The next array; `None` once the back channel ended.
    async fn next(&mut self) -> Option<(u64, ServerArray)> {
        within("a back-channel array", async {
            loop {
                if let Some(a) = self.arrays.pop_front() {
                    return Some(a);
                }
                if let Some(text) = self.parser.next_chunk().unwrap() {
                    self.arrays.extend(bc::decode_arrays(&text).unwrap());
                    continue;
                }
                match self.body.more().await {
                    Some(bytes) => self.parser.push(&bytes),
                    None => {
                        assert!(!self.parser.has_partial(), "a chunk was cut short");
                        return None;
                    }
                }
            }
        })
        .await
    }

    /// The next array, which must be a message; its text.
    async fn message(&mut self) -> (u64, String) {
        match self.next().await {
            Some((id, ServerArray::Message(text))) => (id, text),
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Wait until the back channel ended; the arrays it still brought.
    async fn rest(&mut self) -> Vec<(u64, ServerArray)> {
        let mut out = Vec::new();
        while let Some(a) = self.next().await {
            out.push(a);
        }
        out
    }
}

fn answer(res: &HttpResponse) -> bc::ForwardAnswer {
    assert_eq!(res.status, 200, "{}", res.text());
    let mut p = ChunkParser::new(64);
    p.push(&res.body);
    bc::decode_forward_answer(&p.next_chunk().unwrap().expect("one chunk")).unwrap()
}

/// The reference's error shape: the client finds `Unknown SID` inside the body.
fn assert_unknown_sid(res: &HttpResponse) {
    assert_eq!(res.status, 400);
    assert_eq!(res.text(), "<html><body><h1>Unknown SID</h1></body></html>");
}

#[tokio::test]
async fn the_connection_tests_answer_like_the_reference() {
    let server = start().await;
    let res = http_get(server.addr, "/primus/test?VER=8&MODE=init&zx=abc&t=1", "").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "[null,null]");
    assert_eq!(res.header("content-type"), Some("text/plain"));
    assert_eq!(
        res.header("x-accept"),
        Some("application/json; application/x-www-form-urlencoded")
    );
    assert_eq!(
        res.header("cache-control"),
        Some("no-cache, no-store, max-age=0, must-revalidate")
    );
    assert_eq!(res.header("pragma"), Some("no-cache"));
    assert_eq!(res.header("expires"), Some("Fri, 01 Jan 1990 00:00:00 GMT"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));

    // Phase 2: `11111` at once, `2` two seconds later, then the end.
    let started = Instant::now();
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let req = format!(
        "GET /primus/test?VER=8&TYPE=xmlhttp&zx=x&t=1 HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut first_at = None;
    within_for(Duration::from_secs(5), "both test chunks", async {
        loop {
            let mut chunk = [0u8; 1024];
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
            if first_at.is_none() && got.windows(5).any(|w| w == b"11111") {
                first_at = Some(started.elapsed());
            }
            if got.ends_with(b"0\r\n\r\n") {
                return;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("\r\n5\r\n11111\r\n1\r\n2\r\n0\r\n\r\n"),
        "{text}"
    );
    assert!(first_at.unwrap() < Duration::from_millis(1000));
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );

    let res = http_get(server.addr, "/primus/test?VER=7&MODE=init", "").await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.text(),
        "<html><body><h1>Version 8 required</h1></body></html>"
    );
    let res = http_get(server.addr, "/primus/test?VER=8&TYPE=html", "").await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("TYPE=xmlhttp"), "{}", res.text());
}

#[tokio::test]
async fn a_session_is_created_with_array_zero_and_a_spark() {
    let server = start().await;
    let (s, res) =
        Session::create_with(server.addr, "VER=8&RID=77&room=lobby&t=1", "count=0").await;
    // One chunk, then the answer ends: `<len>\n[[0,["c","<sid>",null,8]]]\n`.
    let want = format!("[[0,[\"c\",\"{}\",null,8]]]\n", s.sid);
    assert_eq!(res.text(), format!("{}\n{want}", want.len()));
    assert_eq!(res.header("content-type"), Some("text/plain"));
    assert_eq!(s.sid.len(), 22);
    assert_eq!(server.primus.connected(), 1);
    assert_eq!(server.primus.browserchannel_sessions(), 1);
    // The spark's query is the creating request's; its id is not the session id.
    let mut s = s;
    let mut back = s.back(0).await;
    assert_eq!(back.body.status, 200);
    assert!(
        back.body.head.contains("transfer-encoding: chunked"),
        "{}",
        back.body.head
    );
    answer(&s.forward(0, &maps(0, &[json!({"cmd": "info"})])).await);
    let (id, text) = back.message().await;
    assert_eq!(id, 1);
    let info: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(info["query"]["room"], "lobby");
    assert_eq!(info["query"]["RID"], "77");
    assert_ne!(info["id"], json!(s.sid));
}

#[tokio::test]
async fn forward_maps_and_back_channel_chunks_are_byte_exact() {
    let server = start().await;
    let mut s = Session::create(server.addr).await;
    let mut back = s.back(0).await;
    // What the official client sends: `__S` maps, the `ofs` of the first.
    let res = s
        .forward(
            0,
            "count=2&ofs=0&req0__S=%22hello%22&req1__S=%7B%22cmd%22%3A%22silent%22%7D",
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "7\n[1,0,0]");
    assert_eq!(back.message().await, (1, "\"hello\"".into()));
    assert_eq!(back.body.raw, b"18\n[[1,\"\\\"hello\\\"\"]]\n");
    // Non-ASCII and U+2028: lengths count UTF-16 units, U+2028 goes out escaped.
    let v = json!({"s": "é😀\u{2028}"});
    answer(&s.forward(1, &maps(2, std::slice::from_ref(&v))).await);
    let (id, text) = back.message().await;
    assert_eq!(id, 2);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
    let tail = String::from_utf8(back.body.raw[b"18\n[[1,\"\\\"hello\\\"\"]]\n".len()..].to_vec())
        .unwrap();
    assert!(
        tail.contains("\\u2028") && !tail.contains('\u{2028}'),
        "{tail}"
    );
    let body = &tail[tail.find('\n').unwrap() + 1..];
    assert_eq!(
        tail[..tail.find('\n').unwrap()].parse::<usize>().unwrap(),
        body.encode_utf16().count()
    );
    // A JSON map is a frame of that JSON text; the JSON body form works too.
    answer(&s.forward(2, "count=1&ofs=3&req0_JSON=%5B1%2C2%5D").await);
    assert_eq!(back.message().await, (3, "[1,2]".into()));
    let res = post_typed(
        server.addr,
        &format!("VER=8&SID={}&RID=9&AID=3", s.sid),
        "application/json",
        r#"{"ofs":4,"data":["\"from json\""]}"#,
    )
    .await;
    answer(&res);
    assert_eq!(back.message().await, (4, "\"from json\"".into()));
}

#[tokio::test]
async fn retried_maps_are_delivered_once_and_gaps_are_refused() {
    let server = start().await;
    let mut s = Session::create(server.addr).await;
    let mut back = s.back(0).await;
    answer(&s.forward(0, &maps(0, &[json!("a"), json!("b")])).await);
    // A retry with one more map: only the new one is delivered.
    answer(
        &s.forward(0, &maps(0, &[json!("a"), json!("b"), json!("c")]))
            .await,
    );
    assert_eq!(back.message().await.1, "\"a\"");
    assert_eq!(back.message().await.1, "\"b\"");
    assert_eq!(back.message().await.1, "\"c\"");
    // A gap (map 5 when 3 is next).
    let res = s.forward(0, &maps(5, &[json!("x")])).await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("Bad data"), "{}", res.text());
    answer(&s.forward(3, &maps(3, &[json!("d")])).await);
    assert_eq!(back.message().await.1, "\"d\"");
    // Too many maps, and bodies that are not maps.
    let res = s.forward(4, "count=1001&ofs=4").await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("at most 1000"), "{}", res.text());
    for body in ["", "count=x", "count=1&ofs=4&req7__S=x"] {
        let res = s.forward(4, body).await;
        assert_eq!(res.status, 400, "{body}");
        assert!(res.text().contains("Bad data"), "{}", res.text());
    }
    // The session still works.
    answer(&s.forward(4, &maps(4, &[json!("e")])).await);
    assert_eq!(back.message().await.1, "\"e\"");
    assert_eq!(server.primus.connected(), 1);
}

#[tokio::test]
async fn the_first_request_may_carry_maps() {
    let server = start().await;
    let body = maps(0, &[json!("early")]);
    let (s, res) = Session::create_with(server.addr, "VER=8&RID=5&t=1", &body).await;
    // The session answer ends after its chunk; the echo comes next, on the back channel.
    let mut arrays = arrays_of(&res.body).into_iter();
    assert!(matches!(
        arrays.next(),
        Some((0, ServerArray::Created { .. }))
    ));
    let mut rest: Vec<_> = arrays.collect();
    if rest.is_empty() {
        let mut back = s.back(0).await;
        rest.push(back.next().await.unwrap());
    }
    assert_eq!(rest, [(1, ServerArray::Message("\"early\"".into()))]);
}

#[tokio::test]
async fn unacknowledged_arrays_are_sent_again_on_a_new_back_channel() {
    let server = start().await;
    let mut s = Session::create(server.addr).await;
    let mut first = s.back(0).await;
    answer(
        &s.forward(0, &maps(0, &[json!(1), json!(2), json!(3)]))
            .await,
    );
    for i in 1..=3 {
        assert_eq!(first.message().await, (i, i.to_string()));
    }
    // The forward answer counts what was sent and not acknowledged.
    let a = answer(&s.forward(0, &maps(3, &[json!({"cmd": "silent"})])).await);
    assert_eq!((a.back_channel, a.last_sent), (true, 3));
    assert!(a.outstanding > 0);
    // The client lost arrays 2 and 3: its next back channel says AID=1.
    drop(first);
    let mut second = s.back(1).await;
    assert_eq!(second.message().await, (2, "2".into()));
    assert_eq!(second.message().await, (3, "3".into()));
    let a = answer(&s.forward(3, &maps(4, &[json!({"cmd": "silent"})])).await);
    assert_eq!((a.back_channel, a.last_sent, a.outstanding), (true, 3, 0));
    // A new back channel replaces the old one, whose response ends.
    let mut third = s.back(3).await;
    assert_eq!(second.rest().await, []);
    answer(&s.forward(3, &maps(5, &[json!("x")])).await);
    assert_eq!(third.message().await, (4, "\"x\"".into()));
}

#[tokio::test]
async fn unacknowledged_arrays_are_bounded_by_the_queue_size() {
    let options = bc_options().queue_size(4);
    let (server, _) = start_with(options).await;
    let mut s = Session::create(server.addr).await;
    let mut back = s.back(0).await;
    answer(
        &s.forward(0, &maps(0, &[json!({"cmd": "many", "n": 10})]))
            .await,
    );
    // At most 4 arrays wait for acknowledgement: the back channel ends after them, and
    // each new one (acknowledging what came) brings the next ones.
    let mut got = Vec::new();
    let (mut last, mut on_this_one, mut back_channels) = (0, 0, 1);
    while got.len() < 10 {
        match back.next().await {
            Some((id, ServerArray::Message(t))) => {
                assert_eq!(id, last + 1, "in order, no duplicates");
                last = id;
                on_this_one += 1;
                assert!(on_this_one <= 4, "more than 4 unacknowledged arrays");
                got.push(t.parse::<u64>().unwrap());
            }
            Some(other) => panic!("{other:?}"),
            None => {
                back_channels += 1;
                assert!(back_channels <= 10, "too many back channels");
                back = s.back(last as i64).await;
                on_this_one = 0;
            }
        }
    }
    assert!(back_channels >= 3, "{back_channels}");
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_back_channel_ends_after_its_byte_limit() {
    let options =
        bc_options().browserchannel(BrowserChannelOptions::default().back_channel_limit(100));
    let (server, _) = start_with(options).await;
    let mut s = Session::create(server.addr).await;
    let mut back = s.back(0).await;
    let long = "x".repeat(120);
    answer(&s.forward(0, &maps(0, &[json!(long)])).await);
    assert_eq!(back.message().await.0, 1);
    assert_eq!(back.rest().await, [], "ended after more than 100 bytes");
    // Short messages keep it open.
    let mut back = s.back(1).await;
    answer(&s.forward(1, &maps(1, &[json!("a")])).await);
    assert_eq!(back.message().await, (2, "\"a\"".into()));
    answer(&s.forward(2, &maps(2, &[json!("b")])).await);
    assert_eq!(back.message().await, (3, "\"b\"".into()));
    // `CI=1` (a buffering proxy): one chunk, then the back channel ends.
    let mut buffered = BackChannel::open(server.addr, &s.sid, 3, "1").await;
    answer(&s.forward(3, &maps(3, &[json!("c")])).await);
    assert_eq!(buffered.message().await, (4, "\"c\"".into()));
    assert_eq!(buffered.rest().await, []);
}

#[tokio::test]
async fn noop_keeps_a_quiet_back_channel_alive() {
    let options = bc_options()
        .browserchannel(BrowserChannelOptions::default().keepalive(Duration::from_millis(150)));
    let (server, _) = start_with(options).await;
    let s = Session::create(server.addr).await;
    let mut back = s.back(0).await;
    let started = Instant::now();
    assert_eq!(back.next().await, Some((1, ServerArray::Noop)));
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(back.next().await, Some((2, ServerArray::Noop)));
    assert!(String::from_utf8_lossy(&back.body.raw).contains("[[1,[\"noop\"]]]\n"));
}

#[tokio::test]
async fn a_session_without_back_channel_times_out() {
    let options = bc_options().browserchannel(
        BrowserChannelOptions::default().session_timeout(Duration::from_millis(300)),
    );
    let (server, _) = start_with(options).await;
    let mut s = Session::create(server.addr).await;
    assert_eq!(server.primus.connected(), 1);
    // A back channel stops the clock...
    let back = s.back(0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.primus.connected(), 1);
    // ...losing it starts it again.
    drop(back);
    wait_until(Duration::from_secs(3), "the session to time out", || {
        server.primus.connected() == 0 && server.primus.browserchannel_sessions() == 0
    })
    .await;
    assert_unknown_sid(&s.forward(0, &maps(0, &[json!("late")])).await);
    assert_unknown_sid(&s.get("RID=rpc&CI=0&AID=0&TYPE=xmlhttp").await);
}

#[tokio::test]
async fn terminate_ends_the_session_and_its_spark() {
    let server = start().await;
    let s = Session::create(server.addr).await;
    let mut back = s.back(0).await;
    let res = s.get("RID=1001&AID=0&TYPE=terminate").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "");
    assert_eq!(
        back.rest().await,
        [],
        "the back channel ends without `stop`"
    );
    wait_until(WAIT, "the spark to end", || {
        server.primus.connected() == 0 && server.primus.browserchannel_sessions() == 0
    })
    .await;
    assert_unknown_sid(&s.get("RID=1002&TYPE=terminate").await);
}

#[tokio::test]
async fn the_servers_end_sends_what_is_queued_then_stop() {
    let server = start().await;
    let mut s = Session::create(server.addr).await;
    let mut back = s.back(0).await;
    answer(
        &s.forward(0, &maps(0, &[json!({"cmd": "end", "data": "bye"})]))
            .await,
    );
    assert_eq!(back.message().await, (1, "\"bye\"".into()));
    assert_eq!(
        back.message().await,
        (2, "\"primus::server::close\"".into())
    );
    assert_eq!(back.next().await, Some((3, ServerArray::Stop)));
    assert_eq!(back.rest().await, []);
    // Byte for byte what the reference sends (protocol.md §1.4), in one or more chunks.
    let raw = String::from_utf8(back.body.raw.clone()).unwrap();
    assert!(raw.ends_with("[3,[\"stop\"]]]\n"), "{raw}");
    assert_eq!(server.primus.connected(), 0);
    // The session lingers until the client acknowledges the stop.
    assert_eq!(server.primus.browserchannel_sessions(), 1);
    let mut again = s.back(1).await;
    assert_eq!(
        again.message().await,
        (2, "\"primus::server::close\"".into())
    );
    assert_eq!(again.next().await, Some((3, ServerArray::Stop)));
    let mut acked = s.back(3).await;
    assert_eq!(acked.rest().await, []);
    wait_until(WAIT, "the session to go", || {
        server.primus.browserchannel_sessions() == 0
    })
    .await;
    // An end with reconnect: no server::close, but stop all the same.
    let mut s = Session::create(server.addr).await;
    let mut back = s.back(0).await;
    answer(
        &s.forward(0, &maps(0, &[json!({"cmd": "end", "reconnect": true})]))
            .await,
    );
    assert_eq!(back.next().await, Some((1, ServerArray::Stop)));
}

#[tokio::test]
async fn unknown_sessions_and_bad_requests_get_clear_answers() {
    let server = start().await;
    let a = server.addr;
    assert_unknown_sid(&post(a, "VER=8&SID=nope&RID=1&AID=0", "count=0").await);
    assert_unknown_sid(
        &http_get(
            a,
            "/primus/bind?VER=8&SID=nope&RID=rpc&CI=0&AID=0&TYPE=xmlhttp",
            "",
        )
        .await,
    );
    let res = post(a, "RID=1", "count=0").await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("Version 8 required"));
    let s = Session::create(a).await;
    for (params, want) in [
        ("RID=rpc&CI=0&AID=0&TYPE=html", "TYPE=xmlhttp"),
        ("RID=7&CI=0&AID=0&TYPE=xmlhttp", "Expected RPC"),
        ("RID=rpc", "Unknown TYPE"),
    ] {
        let res = s.get(params).await;
        assert_eq!(res.status, 400, "{params}");
        assert!(res.text().contains(want), "{params}: {}", res.text());
    }
    let res = http_get(a, "/primus/bind?VER=8&RID=rpc&CI=0&TYPE=xmlhttp", "").await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("Missing SID"));
    let res = http_raw(
        a,
        &format!("PUT /primus/bind?VER=8 HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
    )
    .await;
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("GET, POST"));
    for path in [
        "/primus",
        "/primus/",
        "/primus/bcsocket.js",
        "/primus/bind/x",
    ] {
        let res = http_get(a, path, "").await;
        assert_eq!(res.status, 404, "{path}");
        assert!(
            res.text().contains("/primus/bind"),
            "{path}: {}",
            res.text()
        );
    }
    // The spec names the transformer.
    let spec: serde_json::Value =
        serde_json::from_slice(&http_get(a, "/primus/spec", "").await.body).unwrap();
    assert_eq!(spec["transformer"], "browserchannel");
}

#[tokio::test]
async fn oversized_messages_and_bodies_are_refused_and_end_the_spark() {
    let options = bc_options().max_length(100);
    let (server, errors) = start_with(options).await;
    // A message over max_length.
    let mut s = Session::create(server.addr).await;
    let res = s.forward(0, &maps(0, &[json!("y".repeat(150))])).await;
    assert_eq!(res.status, 413, "{}", res.text());
    wait_until(WAIT, "the spark to end", || server.primus.connected() == 0).await;
    assert!(
        errors
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("Max payload size exceeded")),
        "{:?}",
        errors.lock().unwrap()
    );
    // A body over 3 × max_length + 64 KiB.
    let mut s = Session::create(server.addr).await;
    let body = format!("count=1&ofs=0&req0_x={}", "z".repeat(bc::body_limit(100)));
    let res = s.forward(0, &body).await;
    assert_eq!(res.status, 413);
    wait_until(WAIT, "the spark to end", || server.primus.connected() == 0).await;
    // The request that would create a session is refused before any spark exists.
    let sessions = server.primus.browserchannel_sessions();
    let res = post(
        server.addr,
        "VER=8&RID=1",
        &maps(0, &[json!("y".repeat(150))]),
    )
    .await;
    assert_eq!(res.status, 413);
    assert_eq!(server.primus.browserchannel_sessions(), sessions);
    assert_eq!(server.primus.connected(), 0);
    // A request with a message over the limit is refused whole: the one before it in the
    // same request is not delivered either.
    let (server, _) = start_with(bc_options().max_length(100)).await;
    let mut s = Session::create(server.addr).await;
    let mut back = s.back(0).await;
    let res = s
        .forward(0, &maps(0, &[json!("first"), json!("y".repeat(150))]))
        .await;
    assert_eq!(res.status, 413);
    let rest = back.rest().await;
    assert!(
        !rest
            .iter()
            .any(|a| matches!(a, (_, ServerArray::Message(m)) if m == "\"first\"")),
        "{rest:?}"
    );
}

#[tokio::test]
async fn a_first_request_with_a_gap_makes_no_spark() {
    let server = start().await;
    // The first map of a session is number 0.
    let res = post(server.addr, "VER=8&RID=1", &maps(3, &[json!("x")])).await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("Bad data"), "{}", res.text());
    assert_eq!(server.primus.browserchannel_sessions(), 0);
    assert_eq!(server.primus.connected(), 0);
}

#[tokio::test]
async fn a_session_not_ready_in_time_for_its_first_request_is_ended() {
    let primus = primus::Primus::new(bc_options().write_timeout(Duration::from_millis(100)))
        .expect("valid options");
    primus.on_connection_async(|_| async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Ok(())
    });
    let server = TestServer::serve(primus).await;
    let res = post(server.addr, "VER=8&RID=1", "count=0").await;
    assert_eq!(res.status, 503);
    assert!(res.text().contains("not ready"), "{}", res.text());
    // Nobody learned its id: it ends once the listeners are done, not after the 30 s
    // session timeout.
    wait_until(Duration::from_secs(3), "the session to end", || {
        server.primus.browserchannel_sessions() == 0 && server.primus.connected() == 0
    })
    .await;
}

#[tokio::test]
async fn a_back_channel_nobody_reads_drops_the_spark_as_a_slow_peer() {
    // No byte limit and a wide window: only the write timeout can end this back channel.
    let options = bc_options()
        .write_timeout(Duration::from_millis(300))
        .queue_size(8192)
        .browserchannel(BrowserChannelOptions::default().back_channel_limit(usize::MAX));
    let (server, errors) = start_with(options).await;
    let mut s = Session::create(server.addr).await;
    // Opened and never read: 24 MB cannot fit in the socket buffers and the 16 chunks the
    // body holds (at most 64 arrays of 8 KiB each).
    let back = s.back(0).await;
    answer(
        &s.forward(
            0,
            &maps(0, &[json!({"cmd": "many", "n": 3000, "size": 8192})]),
        )
        .await,
    );
    wait_until(Duration::from_secs(20), "the spark to end", || {
        server.primus.connected() == 0
    })
    .await;
    let errors = errors.lock().unwrap().clone();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("peer too slow") && e.contains("back channel was not read")),
        "{errors:?}"
    );
    drop(back);
}

#[tokio::test]
async fn authorization_guards_every_request() {
    let primus = primus::Primus::new(bc_options()).unwrap();
    token_authorizer(&primus);
    let server = TestServer::serve(primus).await;
    let a = server.addr;
    let res = http_get(a, "/primus/test?VER=8&MODE=init", "").await;
    assert_eq!(res.status, 401);
    let res = post(a, "VER=8&RID=1", "count=0").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    assert!(res.text().contains("no entry"), "{}", res.text());
    assert_eq!(server.primus.browserchannel_sessions(), 0);
    let (s, _) = Session::create_with(a, "VER=8&RID=1&token=good", "count=0").await;
    // The back channel and the forward channel of the session are checked too.
    let res = s.get("RID=rpc&CI=0&AID=0&TYPE=xmlhttp").await;
    assert_eq!(res.status, 401);
    let res = post(a, &format!("VER=8&SID={}&RID=2&AID=0", s.sid), "count=0").await;
    assert_eq!(res.status, 401);
    let back = BackChannel::open(a, &format!("{}&token=good", s.sid), 0, "0").await;
    assert_eq!(back.body.status, 200);
}

#[tokio::test]
async fn binary_parsers_are_refused_and_binary_frames_are_reported() {
    for parser in ["msgpack", "binary"] {
        let err = primus::Primus::new(bc_options().parser(parser)).unwrap_err();
        assert!(
            err.to_string().contains("browserchannel carries text only"),
            "{err}"
        );
    }
    let (server, errors) = start_with(bc_options()).await;
    let mut s = Session::create(server.addr).await;
    let mut back = s.back(0).await;
    answer(
        &s.forward(0, &maps(0, &[json!({"cmd": "binary"}), json!("after")]))
            .await,
    );
    // The binary frame is dropped and reported; the connection goes on.
    assert_eq!(back.message().await, (1, "\"after\"".into()));
    let errors = errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("TextOnly: "), "{errors:?}");
    assert!(errors[0].contains("carries text only"), "{errors:?}");
    assert_eq!(server.primus.connected(), 1);
}

#[tokio::test]
async fn a_reconnecting_client_evicts_its_previous_session() {
    let server = start().await;
    let old = Session::create(server.addr).await;
    assert_eq!(server.primus.connected(), 1);
    let (_new, _) = Session::create_with(
        server.addr,
        &format!("VER=8&RID=9&OSID={}&OAID=0", old.sid),
        "count=0",
    )
    .await;
    wait_until(WAIT, "the old spark to end", || {
        server.primus.connected() == 1 && server.primus.browserchannel_sessions() == 1
    })
    .await;
    assert_unknown_sid(&old.get("RID=rpc&CI=0&AID=0&TYPE=xmlhttp").await);
}
