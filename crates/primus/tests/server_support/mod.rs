//! Shared helpers for the `server_*` integration tests: start a server in-process, speak
//! raw HTTP and raw WebSocket (byte level) to it, and bound every wait in time.
//!
//! Each test file uses a subset of these helpers.
#![allow(dead_code)]

use primus::{Options, Primus};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The default bound for any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(5);

/// Await `fut`, failing the test with `what` if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    within_for(WAIT, what, fut).await
}

/// Await `fut`, failing the test with `what` if it takes longer than `limit`.
pub async fn within_for<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Poll `cond` every 10 ms until it holds, failing after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    within_for(limit, what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// A server running in the background; shut down when dropped (or with [`shutdown`]).
///
/// [`shutdown`]: TestServer::shutdown
pub struct TestServer {
    pub primus: Primus,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), primus::PrimusError>>>,
}

impl TestServer {
    /// Build a [`Primus`] from `options` and serve it on a free port of 127.0.0.1.
    pub async fn start(options: Options) -> TestServer {
        let primus = Primus::new(options).expect("valid options");
        Self::serve(primus).await
    }

    /// Serve an already configured [`Primus`] (handlers registered before connections).
    pub async fn serve(primus: Primus) -> TestServer {
        Self::serve_on(primus, "127.0.0.1:0".parse().unwrap()).await
    }

    /// [`serve`](Self::serve) on a given address (to restart a server where its clients
    /// expect it).
    pub async fn serve_on(primus: Primus, addr: SocketAddr) -> TestServer {
        let running = primus::Server::bind(primus.clone(), addr)
            .iknowhttpsisbetter(true)
            .start()
            .await
            .expect("server starts");
        let addr = running.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(running.run_until(async {
            let _ = stopped.await;
        }));
        TestServer {
            primus,
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `ws://127.0.0.1:<port><path>`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Ask the server to stop and wait for `run_until` to return.
    pub async fn shutdown(mut self) -> Result<(), primus::PrimusError> {
        drop(self.stop.take());
        let task = self.task.take().expect("running");
        within_for(Duration::from_secs(10), "run_until to return", task)
            .await
            .expect("server task did not panic")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        drop(self.stop.take());
    }
}

/// Default options for tests: heartbeats off, so that no ping frame gets between a test
/// and the frames it expects. Tests about the heartbeat turn it back on.
pub fn quiet() -> Options {
    Options::default().ping_interval(None)
}

// ---------------------------------------------------------------------------------------
// Raw HTTP
// ---------------------------------------------------------------------------------------

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send `request` (a complete HTTP/1.1 request; it should say `Connection: close`) and read
/// the whole response until the server closes the connection or the body is complete.
pub async fn http_raw(addr: SocketAddr, request: &str) -> HttpResponse {
    within("an HTTP response", async {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(request.as_bytes())
            .await
            .expect("send request");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(res) = parse_response(&buf) {
                return res;
            }
            let n = tcp.read(&mut chunk).await.expect("read response");
            if n == 0 {
                return parse_response(&buf).unwrap_or_else(|| {
                    panic!(
                        "connection closed before a full response: {:?}",
                        String::from_utf8_lossy(&buf)
                    )
                });
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
}

/// `GET path` with `Connection: close` and any `extra` header lines (each ending `\r\n`).
pub async fn http_get(addr: SocketAddr, path: &str, extra: &str) -> HttpResponse {
    http_raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n"),
    )
    .await
}

/// `POST path` with `Connection: close`, a `Content-Type` and `body`.
pub async fn http_post(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    body: &str,
) -> HttpResponse {
    http_raw(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

/// A complete response in `buf`, if there is one (Content-Length or chunked bodies).
fn parse_response(buf: &[u8]) -> Option<HttpResponse> {
    let end = find(buf, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &buf[end + 4..];
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(len) = get("content-length") {
        let len: usize = len.parse().ok()?;
        if rest.len() < len {
            return None;
        }
        rest[..len].to_vec()
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        decode_chunked(rest)?
    } else if status == 101 || status == 204 || status == 304 {
        Vec::new()
    } else {
        // Body delimited by the end of the connection: only complete at EOF, which the
        // caller handles by parsing again (we cannot tell here).
        return None;
    };
    Some(HttpResponse {
        status,
        headers,
        body,
    })
}

fn decode_chunked(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n")?;
        let size_str = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        if rest.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------
// Raw WebSocket client (byte level)
// ---------------------------------------------------------------------------------------

/// The `Sec-WebSocket-Key` of RFC 6455's example; its accept value is known.
pub const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// One frame as the server sent it: the header bytes exactly as on the wire, and the
/// payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub header: Vec<u8>,
    pub payload: Vec<u8>,
}

impl RawFrame {
    pub fn opcode(&self) -> u8 {
        self.header[0] & 0x0f
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.payload.clone()).expect("UTF-8 payload")
    }
    /// Header and payload, exactly as on the wire.
    pub fn bytes(&self) -> Vec<u8> {
        let mut v = self.header.clone();
        v.extend_from_slice(&self.payload);
        v
    }
}

/// A WebSocket client over a plain `TcpStream`, handshake written by hand, so tests see
/// (and control) every byte.
pub struct RawWs {
    pub tcp: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    /// Connect and upgrade `path`, with `extra` header lines (each ending `\r\n`).
    pub async fn connect(addr: SocketAddr, path: &str, extra: &str) -> RawWs {
        Self::try_connect(addr, path, extra)
            .await
            .unwrap_or_else(|res| panic!("expected 101, got {} {:?}", res.status, res.text()))
    }

    /// Like [`connect`](Self::connect), but returns the response when it is not a 101.
    pub async fn try_connect(
        addr: SocketAddr,
        path: &str,
        extra: &str,
    ) -> Result<RawWs, HttpResponse> {
        within("the WebSocket handshake", async {
            let mut tcp = TcpStream::connect(addr).await.expect("connect");
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\n\
                 Sec-WebSocket-Version: 13\r\n{extra}\r\n"
            );
            tcp.write_all(req.as_bytes()).await.expect("send handshake");
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let end = loop {
                if let Some(end) = find(&buf, b"\r\n\r\n") {
                    break end;
                }
                let n = tcp.read(&mut chunk).await.expect("read handshake");
                assert!(n > 0, "closed during the handshake");
                buf.extend_from_slice(&chunk[..n]);
            };
            let res = parse_response(&buf[..end + 4]);
            match res {
                Some(res) if res.status == 101 => {
                    assert_eq!(res.header("sec-websocket-accept"), Some(WS_ACCEPT));
                    assert!(res
                        .header("upgrade")
                        .is_some_and(|v| v.eq_ignore_ascii_case("websocket")));
                    Ok(RawWs {
                        tcp,
                        buf: buf[end + 4..].to_vec(),
                    })
                }
                _ => {
                    // Read the rest of the error response.
                    loop {
                        if let Some(res) = parse_response(&buf) {
                            return Err(res);
                        }
                        let n = tcp.read(&mut chunk).await.expect("read response");
                        if n == 0 {
                            return Err(parse_response(&buf).expect("a response"));
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                }
            }
        })
        .await
    }

    async fn fill(&mut self, n: usize) -> std::io::Result<()> {
        let mut chunk = [0u8; 8192];
        while self.buf.len() < n {
            let got = self.tcp.read(&mut chunk).await?;
            if got == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
        Ok(())
    }

    /// Read the next frame, or an error at EOF.
    pub async fn try_read_frame(&mut self) -> std::io::Result<RawFrame> {
        self.fill(2).await?;
        let masked = self.buf[1] & 0x80 != 0;
        assert!(!masked, "server frames must not be masked");
        let (len, hlen) = match self.buf[1] & 0x7f {
            126 => {
                self.fill(4).await?;
                (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
            }
            127 => {
                self.fill(10).await?;
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.buf[2..10]);
                (u64::from_be_bytes(b) as usize, 10)
            }
            n => (n as usize, 2),
        };
        self.fill(hlen + len).await?;
        let header = self.buf[..hlen].to_vec();
        let payload = self.buf[hlen..hlen + len].to_vec();
        self.buf.drain(..hlen + len);
        Ok(RawFrame { header, payload })
    }

    /// Read the next frame, failing the test after [`WAIT`].
    pub async fn read_frame(&mut self) -> RawFrame {
        within("a frame from the server", self.try_read_frame())
            .await
            .expect("a frame, not EOF")
    }

    /// Read frames until one that is not a heartbeat ping.
    pub async fn read_non_ping(&mut self) -> RawFrame {
        loop {
            let f = self.read_frame().await;
            if !f.payload.starts_with(b"\"primus::ping::") {
                return f;
            }
        }
    }

    /// Send a masked frame with `opcode` (FIN set).
    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        let frame = masked_frame(opcode, payload);
        self.tcp.write_all(&frame).await.expect("send frame");
    }

    /// Send a masked text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.send_frame(0x1, text.as_bytes()).await;
    }

    /// Answer a close with an empty close frame (ignoring errors: the server may be gone).
    pub async fn send_close(&mut self) {
        let _ = self.tcp.write_all(&masked_frame(0x8, &[])).await;
    }

    /// Read until EOF (after a close), failing after [`WAIT`]. Returns the frames seen.
    pub async fn read_to_eof(&mut self) -> Vec<RawFrame> {
        within("the server to close the connection", async {
            let mut frames = Vec::new();
            while let Ok(f) = self.try_read_frame().await {
                let is_close = f.opcode() == 0x8;
                frames.push(f);
                if is_close {
                    self.send_close().await;
                }
            }
            frames
        })
        .await
    }
}

/// A client (masked) frame with FIN set.
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= u16::MAX as usize => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// A WebSocket header for a server (unmasked) text frame of `len` bytes.
pub fn text_header(len: usize) -> Vec<u8> {
    match len {
        n if n < 126 => vec![0x81, n as u8],
        n if n <= u16::MAX as usize => {
            let mut v = vec![0x81, 126];
            v.extend_from_slice(&(n as u16).to_be_bytes());
            v
        }
        n => {
            let mut v = vec![0x81, 127];
            v.extend_from_slice(&(n as u64).to_be_bytes());
            v
        }
    }
}

// ---------------------------------------------------------------------------------------
// tokio-tungstenite client helpers
// ---------------------------------------------------------------------------------------

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connect a tokio-tungstenite client.
pub async fn ws_connect(url: &str) -> Ws {
    within(
        "a tungstenite connection",
        tokio_tungstenite::connect_async(url),
    )
    .await
    .expect("WebSocket handshake")
    .0
}

/// The next text message, skipping heartbeat pings; `None` when the connection closed.
pub async fn ws_next_text(ws: &mut Ws) -> Option<String> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    within("a text message", async {
        loop {
            match ws.next().await? {
                Ok(Message::Text(t)) if t.starts_with("\"primus::ping::") => continue,
                Ok(Message::Text(t)) => return Some(t.to_string()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    })
    .await
}

/// Send a text message.
pub async fn ws_send(ws: &mut Ws, text: &str) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(text))
        .await
        .expect("send");
}

/// Install an echo `on_data` handler on every spark.
pub fn echo(primus: &Primus) {
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let _ = spark.write(msg.value());
        });
    });
}

/// Forward every new spark to a channel, so tests can act on the server side.
pub fn sparks(primus: &Primus) -> tokio::sync::mpsc::UnboundedReceiver<primus::Spark> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    primus.on_connection(move |spark| {
        let _ = tx.send(spark);
    });
    rx
}

/// Receive the next spark from [`sparks`], bounded in time.
pub async fn next_spark(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<primus::Spark>,
) -> primus::Spark {
    within("a new spark", rx.recv()).await.expect("a spark")
}

// ---------------------------------------------------------------------------------------
// Socket ownership (Linux): does this process still hold the server end of a connection?
// ---------------------------------------------------------------------------------------

/// Whether this process still has an open file descriptor for the TCP socket whose local
/// address is `server` and whose peer is `client` (the server's end of a connection we
/// opened). Reads `/proc/net/tcp` for the socket's inode and looks for it among
/// `/proc/self/fd`. This observes resource release without touching the server's code.
pub fn server_holds_socket(server: SocketAddr, client: SocketAddr) -> bool {
    let hex = |a: SocketAddr| {
        let std::net::IpAddr::V4(ip) = a.ip() else {
            panic!("IPv4 only")
        };
        let o = ip.octets();
        format!(
            "{:02X}{:02X}{:02X}{:02X}:{:04X}",
            o[3],
            o[2],
            o[1],
            o[0],
            a.port()
        )
    };
    let (local, remote) = (hex(server), hex(client));
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&local.as_str()) && f.get(2) == Some(&remote.as_str()))
                .then(|| f.get(9).map(|s| s.to_string()))
                .flatten()
        })
        .filter(|inode| inode != "0")
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    fds.filter_map(Result::ok).any(|fd| {
        std::fs::read_link(fd.path())
            .ok()
            .and_then(|p| p.to_str().map(str::to_owned))
            .is_some_and(|link| inodes.iter().any(|i| link == format!("socket:[{i}]")))
    })
}

/// What the server side saw of its sparks, recorded by [`echo_recording`].
#[derive(Debug, Default)]
pub struct Seen {
    pub data: Vec<primus::Value>,
    pub errors: Vec<String>,
    pub max_length: bool,
    pub ends: usize,
    pub ids: Vec<String>,
}

/// Echo every message back to its spark and record what happens.
pub fn echo_recording(primus: &Primus) -> std::sync::Arc<std::sync::Mutex<Seen>> {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    primus.on_connection(move |spark| {
        s.lock().unwrap().ids.push(spark.id().to_string());
        let t = s.clone();
        spark.on_data(move |spark, msg| {
            t.lock().unwrap().data.push(msg.value().clone());
            let _ = spark.write(msg.value());
        });
        let t = s.clone();
        spark.on_error(move |_, err| {
            let mut t = t.lock().unwrap();
            t.errors.push(err.to_string());
            t.max_length |= matches!(err, primus::SparkError::MaxLength { .. });
        });
        let t = s.clone();
        spark.on_end(move |_| t.lock().unwrap().ends += 1);
    });
    seen
}

// ---------------------------------------------------------------------------------------
// The interop contract and authorization, as the Rust tests use them
// ---------------------------------------------------------------------------------------

/// The control commands of the interop contract (`tests/interop/reference-server.mjs`)
/// the Rust tests use: `{cmd: "end", data?, reconnect?}` and `{cmd: "info"}` (the spark's
/// `id`, `query`, `headers` (name → value), `address` (the IP) and `secure`). Returns
/// false for anything else, which the caller echoes or handles itself.
pub fn contract_command(spark: &primus::Spark, v: &primus::Value) -> bool {
    match v.get("cmd").and_then(|c| c.as_str()) {
        Some("end") => spark.end(v.get("data"), v.get("reconnect").is_some()),
        Some("info") => {
            let headers: serde_json::Map<String, serde_json::Value> = spark
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::json!(v.to_str().unwrap_or(""))))
                .collect();
            let _ = spark.write(&serde_json::json!({
                "id": spark.id(),
                "query": serde_json::to_value(spark.query()).unwrap(),
                "headers": headers,
                "address": spark.address().ip.to_string(),
                "secure": spark.info().peer.secure,
            }));
        }
        _ => return false,
    }
    true
}

/// Make `primus`'s sparks echo and obey [`contract_command`].
pub fn contract(primus: &Primus) {
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            if !contract_command(spark, msg.value()) {
                let _ = spark.write(msg.value());
            }
        });
    });
}

/// A [`contract`] server made from `options`.
pub fn contract_server(options: Options) -> Primus {
    let primus = Primus::new(options).expect("valid options");
    contract(&primus);
    primus
}

/// Wait (within [`WAIT`]) until the server has `n` sparks.
pub async fn wait_connected(primus: &Primus, n: usize) {
    let what = format!("{n} sparks");
    wait_until(WAIT, &what, || primus.connected() == n).await
}

/// An authorizer that lets requests whose query has `token=good` in, and refuses the
/// others with `401` and `WWW-Authenticate: Bearer`.
pub fn token_authorizer(primus: &Primus) {
    primus.authorize(|req| {
        let ok = req.uri.query().unwrap_or("").contains("token=good");
        async move {
            if ok {
                Ok(())
            } else {
                Err(primus::middleware::AuthError::new("no entry").authenticate("Bearer"))
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// A streaming HTTP response over raw TCP
// ---------------------------------------------------------------------------------------

/// A streaming response (SSE stream, back channel) read over raw TCP: its head, then its
/// chunked body decoded as it arrives.
pub struct RawStream {
    tcp: TcpStream,
    pub status: u16,
    /// The head, lower-cased.
    pub head: String,
    /// Bytes read and not yet decoded.
    pending: Vec<u8>,
    /// The decoded body so far.
    pub raw: Vec<u8>,
    /// Decoded bytes not yet handed out by [`more`](Self::more).
    fresh: Vec<u8>,
    /// The last chunk (or the end of the connection) arrived.
    pub ended: bool,
}

impl RawStream {
    /// Send `request` (a complete HTTP/1.1 request) and read the response's head.
    pub async fn open(addr: SocketAddr, request: &str) -> RawStream {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let end = within("a response head", async {
            loop {
                if let Some(i) = find(&buf, b"\r\n\r\n") {
                    return i;
                }
                let mut chunk = [0u8; 4096];
                let n = tcp.read(&mut chunk).await.unwrap();
                assert!(n > 0, "closed before the head");
                buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await;
        let head = String::from_utf8(buf[..end].to_vec())
            .unwrap()
            .to_ascii_lowercase();
        let status = head[9..12].parse().unwrap();
        RawStream {
            tcp,
            status,
            head,
            pending: buf[end + 4..].to_vec(),
            raw: Vec::new(),
            fresh: Vec::new(),
            ended: false,
        }
    }

    /// A header of the head (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
    }

    /// Decode whole chunks from `pending`.
    fn dechunk(&mut self) {
        loop {
            let Some(i) = find(&self.pending, b"\r\n") else {
                return;
            };
            let size = usize::from_str_radix(std::str::from_utf8(&self.pending[..i]).unwrap(), 16)
                .unwrap();
            if size == 0 {
                self.ended = true;
                return;
            }
            if self.pending.len() < i + 2 + size + 2 {
                return;
            }
            let data: Vec<u8> = self.pending[i + 2..i + 2 + size].to_vec();
            self.pending.drain(..i + 2 + size + 2);
            self.raw.extend_from_slice(&data);
            self.fresh.extend_from_slice(&data);
        }
    }

    /// Body bytes decoded since the last call, reading more when there are none (no time
    /// bound here: callers wrap it); `None` once the body ended and all was handed out.
    pub async fn more(&mut self) -> Option<Vec<u8>> {
        loop {
            self.dechunk();
            if !self.fresh.is_empty() {
                return Some(std::mem::take(&mut self.fresh));
            }
            if self.ended {
                return None;
            }
            let mut chunk = [0u8; 8192];
            let n = self.tcp.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                self.ended = true;
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// Wait until the decoded body contains `needle`.
    pub async fn raw_contains(&mut self, needle: &[u8]) {
        within("raw bytes", async {
            while find(&self.raw, needle).is_none() {
                assert!(self.more().await.is_some(), "the body ended");
            }
        })
        .await
    }
}
