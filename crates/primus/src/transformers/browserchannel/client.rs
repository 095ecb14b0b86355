//! Client half of the `browserchannel` transformer: the transport of the Rust
//! [`Client`](crate::client::Client) with `transformer: "browserchannel"`.
//!
//! - `POST <pathname>/bind?<query>&VER=8&RID=<n>&zx=…&t=1` with `count=0` creates the
//!   session; the answer's first array (`["c", sid, …]`) names it. The connection tests
//!   (`/test`) are skipped: they only pick a host prefix (the reference offers none) and
//!   detect buffering proxies, and this client always asks for a streaming back channel.
//! - A task keeps one back channel open (`GET …&RID=rpc&SID=…&CI=0&AID=<last>&TYPE=xmlhttp`)
//!   and opens the next one when the server ends it (after 10 KiB, or to collect
//!   acknowledgements); arrays already seen are skipped, `noop` is dropped, `stop` ends
//!   the transport. Chunks are bounded by [`BrowserChannelClientOptions::max_chunk`].
//! - Messages go out as `POST …&SID=…&RID=<n+1>&AID=<last>` with `count=N&ofs=M&req0__S=…`
//!   on a kept-alive connection, one request at a time; `AID` acknowledges what arrived.
//! - Messages go out in as few requests as the server takes: the first queued map always,
//!   then more while the body stays within 64 KiB beyond that map (the server bounds
//!   bodies by `3 × max_length + 64 KiB`), at most 1000 maps.
//! - `end()` sends `GET …&TYPE=terminate`; so does a `stop` from the server (with
//!   `AID` = the stop's id), so the server drops the session at once instead of keeping
//!   it for its session timeout.
//!
//! Like the reference's client, no `_primuscb` is added: the original query rides along as
//! is. The transport closing, with or without `stop`, is a closed connection: the Primus
//! protocol (`primus::server::close`) decides whether the client reconnects. Text only:
//! a binary frame is refused with `ClientError::Encode`.

pub use super::BrowserChannelClientOptions;
use crate::client::net::{self, HttpSender};
use crate::client::url::Endpoint;
use crate::client::{ClientError, ClientOptions};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use primus_core::browserchannel::{self as codec, ChunkParser, ServerArray};
use primus_core::Frame;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long the terminate request of `end()` may take.
const TERMINATE_TIMEOUT: Duration = Duration::from_secs(2);
/// Frames the back-channel task may hold for `recv`.
const INBOX: usize = 64;
/// Back channels in a row that may end without bringing an array before the transport
/// gives up (a server that ends them at once would otherwise be asked forever).
const MAX_EMPTY_BACK_CHANNELS: u32 = 3;
/// Longest error answer kept for a message, and most bytes read of an answer whose
/// content does not matter before its connection is given up rather than reused.
const MAX_ERROR_BODY: usize = 1024;

/// What the back-channel task shares with the connection.
#[derive(Debug)]
struct Shared {
    /// The id of the last array received (`AID`): the session array's at first.
    last_array: AtomicI64,
    /// The session is being ended (by `end()` or the server's `stop`): back channels are
    /// not reopened, and the one `TYPE=terminate` went out.
    closing: AtomicBool,
    /// The next forward-channel request id (`RID`).
    next_rid: AtomicU64,
}

impl Shared {
    /// The next `RID`.
    fn rid(&self) -> u64 {
        self.next_rid.fetch_add(1, Ordering::AcqRel)
    }

    /// `AID`: the last array received.
    fn aid(&self) -> i64 {
        self.last_array.load(Ordering::Acquire)
    }

    /// Mark the session as ending; true the first time (when the terminate is to go out).
    fn begin_closing(&self) -> bool {
        !self.closing.swap(true, Ordering::AcqRel)
    }
}

/// The request settings every request of a session uses.
#[derive(Debug, Clone)]
struct Target {
    endpoint: Endpoint,
    options: ClientOptions,
    bind: String,
}

impl Target {
    /// `<pathname>/bind?<original query>&VER=8&<params>&zx=…&t=1`.
    fn url(&self, params: &str) -> String {
        let mut url = format!("{}?", self.bind);
        if let Some(q) = self.endpoint.query.as_deref().filter(|q| !q.is_empty()) {
            url.push_str(q);
            url.push('&');
        }
        url.push_str("VER=8&");
        url.push_str(params);
        url.push_str("&zx=");
        url.push_str(&zx());
        url.push_str("&t=1");
        url
    }

    /// A sender for the next request: `prev` if its connection still works.
    async fn sender(&self, prev: Option<HttpSender>) -> Result<HttpSender, ClientError> {
        net::reuse_or_connect(prev, &self.endpoint, &self.options).await
    }

    fn request(
        &self,
        method: http::Method,
        url: String,
        body: Bytes,
    ) -> Result<http::Request<Full<Bytes>>, ClientError> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::HOST, self.endpoint.host.as_str());
        if req.method_ref() == Some(&http::Method::POST) {
            req = req.header(http::header::CONTENT_TYPE, codec::FORM_CONTENT_TYPE);
        }
        let mut req = req
            .body(Full::new(body))
            .map_err(|e| ClientError::InvalidUrl(e.to_string()))?;
        net::add_headers(
            req.headers_mut(),
            &self.endpoint,
            &self.options.transport.browserchannel.headers,
        )?;
        Ok(req)
    }
}

/// A random cache buster, like the closure client's `zx`.
fn zx() -> String {
    let mut n = rand::random::<u64>();
    let mut out = String::with_capacity(13);
    while n > 0 && out.len() < 12 {
        out.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
    }
    out
}

fn transport_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

/// An open BrowserChannel session.
#[derive(Debug)]
pub(crate) struct Connection {
    target: Target,
    sid: String,
    shared: Arc<Shared>,
    /// Frames (or the error that ended the back channel) from the back-channel task.
    inbox: mpsc::Receiver<Result<Frame, ClientError>>,
    task: JoinHandle<()>,
    /// Messages fed, sent on flush.
    out: Vec<String>,
    /// Number of the next map.
    next_map: u64,
    /// The kept-alive connection of the forward channel.
    sender: Option<HttpSender>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Create a session: the first forward request, whose answer names it.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    options: &ClientOptions,
) -> Result<Connection, ClientError> {
    let target = Target {
        endpoint: endpoint.clone(),
        options: options.clone(),
        bind: format!("{}/bind", options.pathname),
    };
    let rid = u64::from(rand::random::<u32>() % 100_000);
    let (mut sender, conn_task) = net::http1(endpoint, options).await?;
    let req = target.request(
        http::Method::POST,
        target.url(&format!("RID={rid}")),
        Bytes::from_static(b"count=0"),
    )?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    if res.status() != http::StatusCode::OK {
        let status = res.status();
        let body = error_body(res.into_body()).await;
        conn_task.abort();
        return Err(ClientError::Connect(format!(
            "browserchannel session: status {status}: {body}"
        )));
    }
    let mut body = res.into_body();
    let mut parser = ChunkParser::new(options.transport.browserchannel.max_chunk);
    // The first chunk must create the session.
    let first = match next_chunk(&mut body, &mut parser).await {
        Ok(Some(text)) => codec::decode_arrays(&text).map_err(transport_err)?,
        Ok(None) => {
            return Err(ClientError::Connect(
                "browserchannel: the session answer ended before naming the session".into(),
            ))
        }
        Err(e) => return Err(ClientError::Connect(e.to_string())),
    };
    let mut arrays = first.into_iter();
    let (created, sid) = match arrays.next() {
        Some((id, ServerArray::Created { sid, .. })) if valid_sid(&sid) => (id, sid),
        other => {
            return Err(ClientError::Connect(format!(
                "browserchannel: expected the session array [\"c\", sid, …], got {other:?}"
            )))
        }
    };
    let shared = Arc::new(Shared {
        last_array: AtomicI64::new(i64::try_from(created).unwrap_or(i64::MAX)),
        closing: AtomicBool::new(false),
        next_rid: AtomicU64::new(rid + 1),
    });
    let (tx, inbox) = mpsc::channel(INBOX);
    let back = BackChannels {
        target: target.clone(),
        sid: sid.clone(),
        shared: shared.clone(),
        tx,
        parser,
        sender: None,
    };
    let rest: Vec<_> = arrays.collect();
    let task = tokio::spawn(async move {
        // The session answer's body keeps its connection busy until it ends.
        back.run(rest, body).await;
        drop(sender);
        conn_task.abort();
    });
    Ok(Connection {
        target,
        sid,
        shared,
        inbox,
        task,
        out: Vec::new(),
        next_map: 0,
        sender: None,
    })
}

fn valid_sid(sid: &str) -> bool {
    !sid.is_empty()
        && sid.len() <= 256
        && sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The next chunk of a body; `None` when the body ended.
async fn next_chunk(
    body: &mut Incoming,
    parser: &mut ChunkParser,
) -> Result<Option<String>, ClientError> {
    loop {
        if let Some(text) = parser.next_chunk().map_err(transport_err)? {
            return Ok(Some(text));
        }
        match body.frame().await {
            None if parser.has_partial() => {
                return Err(transport_err("browserchannel: a chunk was cut short"))
            }
            None => return Ok(None),
            Some(Err(e)) => return Err(transport_err(e)),
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    parser.push(&data);
                }
            }
        }
    }
}

/// The start of an error answer (at most [`MAX_ERROR_BODY`] bytes), for messages.
async fn error_body(mut body: Incoming) -> String {
    let (mut bytes, _) = read_up_to(&mut body, MAX_ERROR_BODY).await;
    bytes.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Read `body` until it ends or `limit` bytes came (a frame may take it a little past),
/// within [`TERMINATE_TIMEOUT`]; the bytes, and whether the body ended.
async fn read_up_to(body: &mut Incoming, limit: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let read = async {
        while out.len() < limit {
            match body.frame().await {
                None => return true,
                Some(Err(_)) => return false,
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        out.extend_from_slice(&data);
                    }
                }
            }
        }
        http_body::Body::is_end_stream(body)
    };
    let ended = tokio::time::timeout(TERMINATE_TIMEOUT, read)
        .await
        .unwrap_or(false);
    (out, ended)
}

/// `GET …&SID=…&RID=<rid>&AID=<aid>&TYPE=terminate` on `sender` (or a new connection),
/// bounded by [`TERMINATE_TIMEOUT`]. Errors do not matter: the session times out.
async fn send_terminate(
    target: &Target,
    sid: &str,
    rid: u64,
    aid: i64,
    sender: Option<HttpSender>,
) {
    let url = target.url(&format!("SID={sid}&RID={rid}&AID={aid}&TYPE=terminate"));
    let Ok(req) = target.request(http::Method::GET, url, Bytes::new()) else {
        return;
    };
    let send = async {
        let mut sender = target.sender(sender).await?;
        let res = sender.send_request(req).await.map_err(transport_err)?;
        read_up_to(&mut res.into_body(), MAX_ERROR_BODY).await;
        Ok::<_, ClientError>(())
    };
    let _ = tokio::time::timeout(TERMINATE_TIMEOUT, send).await;
}

/// The task reading back channels, one after the other.
struct BackChannels {
    target: Target,
    sid: String,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Result<Frame, ClientError>>,
    parser: ChunkParser,
    /// The kept-alive connection back channels are opened on.
    sender: Option<HttpSender>,
}

/// How a back channel ended.
enum Ended {
    /// Normally, after this many arrays: open the next one.
    Done(usize),
    /// The server sent `stop`: the transport is over, and the server is told.
    Stopped,
    /// An error, or nobody listens any more: the transport is over.
    Over,
}

impl BackChannels {
    async fn run(mut self, first: Vec<(u64, ServerArray)>, body: Incoming) {
        let mut ended = match self.deliver(first).await {
            // The session answer is the first back channel: it brought the session array.
            Ended::Done(n) => match self.read(body).await {
                Ended::Done(m) => Ended::Done(1 + n + m),
                other => other,
            },
            other => other,
        };
        let mut empty = 0;
        loop {
            match ended {
                Ended::Stopped => return self.stopped(),
                Ended::Over => return,
                Ended::Done(0) => empty += 1,
                Ended::Done(_) => empty = 0,
            }
            if self.shared.closing.load(Ordering::Acquire) {
                return;
            }
            if empty > MAX_EMPTY_BACK_CHANNELS {
                self.fail(transport_err(
                    "browserchannel: the server keeps ending the back channel without data",
                ))
                .await;
                return;
            }
            ended = match self.open().await {
                Ok(body) => self.read(body).await,
                Err(e) => {
                    if !self.shared.closing.load(Ordering::Acquire) {
                        self.fail(e).await;
                    }
                    return;
                }
            };
        }
    }

    /// The server sent `stop`: acknowledge it with `TYPE=terminate` (unless `end()` did
    /// already), so the server drops the session now. The terminate runs on its own, on
    /// a new connection (the back channel's may still be busy), bounded by
    /// [`TERMINATE_TIMEOUT`]: `recv` ends at once, and dropping the transport does not
    /// cancel it.
    fn stopped(self) {
        if self.shared.begin_closing() {
            let rid = self.shared.rid();
            let aid = self.shared.aid();
            let BackChannels { target, sid, .. } = self;
            tokio::spawn(async move {
                send_terminate(&target, &sid, rid, aid, None).await;
            });
        }
    }

    async fn fail(&self, e: ClientError) {
        let _ = self.tx.send(Err(e)).await;
    }

    /// `GET …&RID=rpc&SID=…&CI=0&AID=…&TYPE=xmlhttp`.
    async fn open(&mut self) -> Result<Incoming, ClientError> {
        let aid = self.shared.aid();
        let url = self.target.url(&format!(
            "RID=rpc&SID={}&CI=0&AID={aid}&TYPE=xmlhttp",
            self.sid
        ));
        let req = self.target.request(http::Method::GET, url, Bytes::new())?;
        let mut sender = self.target.sender(self.sender.take()).await?;
        let res = sender.send_request(req).await.map_err(transport_err)?;
        self.sender = Some(sender);
        if res.status() != http::StatusCode::OK {
            let status = res.status();
            let body = error_body(res.into_body()).await;
            return Err(transport_err(if body.contains("Unknown SID") {
                "browserchannel: the server does not know the session any more".to_string()
            } else {
                format!("browserchannel back channel: status {status}: {body}")
            }));
        }
        Ok(res.into_body())
    }

    /// Read one back channel to its end.
    async fn read(&mut self, mut body: Incoming) -> Ended {
        let mut count = 0;
        loop {
            match next_chunk(&mut body, &mut self.parser).await {
                Ok(Some(text)) => match codec::decode_arrays(&text) {
                    Ok(arrays) => match self.deliver(arrays).await {
                        Ended::Done(n) => count += n,
                        over => return over,
                    },
                    Err(e) => {
                        self.fail(transport_err(e)).await;
                        return Ended::Over;
                    }
                },
                Ok(None) => return Ended::Done(count),
                Err(e) => {
                    if !self.shared.closing.load(Ordering::Acquire) {
                        self.fail(e).await;
                    }
                    return Ended::Over;
                }
            }
        }
    }

    /// Hand arrays not seen before to `recv`, acknowledging each once delivered;
    /// `Done` with how many arrays came.
    async fn deliver(&mut self, arrays: Vec<(u64, ServerArray)>) -> Ended {
        let count = arrays.len();
        for (id, array) in arrays {
            let id = i64::try_from(id).unwrap_or(i64::MAX);
            if id <= self.shared.last_array.load(Ordering::Acquire) {
                continue;
            }
            let text = match array {
                ServerArray::Message(text) | ServerArray::Other(text) => text,
                ServerArray::Noop | ServerArray::Created { .. } => {
                    self.shared.last_array.store(id, Ordering::Release);
                    continue;
                }
                ServerArray::Stop => {
                    self.shared.last_array.store(id, Ordering::Release);
                    return Ended::Stopped;
                }
            };
            if self.tx.send(Ok(Frame::text(text))).await.is_err() {
                return Ended::Over;
            }
            self.shared.last_array.store(id, Ordering::Release);
        }
        Ended::Done(count)
    }
}

impl Connection {
    /// The next frame; `None` once the transport is over. Cancel safe.
    pub(crate) async fn recv(&mut self) -> Option<Result<Frame, ClientError>> {
        self.inbox.recv().await
    }

    /// Queue a frame for the next forward request.
    pub(crate) async fn feed(&mut self, frame: Frame) -> Result<(), ClientError> {
        self.out.push(crate::client::transport::text_only(
            frame,
            "browserchannel",
        )?);
        Ok(())
    }

    /// Send what was fed, in as few requests as the server takes
    /// ([`encode_form_batch`](codec::encode_form_batch): at most 1000 maps, and 64 KiB
    /// beyond the first), and wait for each answer.
    pub(crate) async fn flush(&mut self) -> Result<(), ClientError> {
        while !self.out.is_empty() {
            let (body, n) = codec::encode_form_batch(self.next_map, &self.out);
            let rid = self.shared.rid();
            let aid = self.shared.aid();
            let url = self
                .target
                .url(&format!("SID={}&RID={rid}&AID={aid}", self.sid));
            let req = self
                .target
                .request(http::Method::POST, url, Bytes::from(body))?;
            let mut sender = self.target.sender(self.sender.take()).await?;
            let res = sender.send_request(req).await.map_err(transport_err)?;
            let status = res.status();
            if status != http::StatusCode::OK {
                let body = error_body(res.into_body()).await;
                return Err(transport_err(format!(
                    "browserchannel forward channel: status {status}: {body}"
                )));
            }
            // The answer is one short chunk; reading it to its end frees the connection
            // for reuse.
            let mut body = res.into_body();
            let mut parser = ChunkParser::new(256);
            match next_chunk(&mut body, &mut parser).await? {
                Some(text) => {
                    codec::decode_forward_answer(&text).map_err(transport_err)?;
                }
                None => return Err(transport_err("browserchannel: empty forward answer")),
            }
            if read_up_to(&mut body, MAX_ERROR_BODY).await.1 {
                self.sender = Some(sender);
            }
            self.out.drain(..n);
            self.next_map += n as u64;
        }
        Ok(())
    }

    /// The client ends the session (once, and not after the server's `stop`, which the
    /// back-channel task answered with its own terminate): `TYPE=terminate`.
    async fn terminate(&mut self) {
        if !self.shared.begin_closing() {
            return;
        }
        let rid = self.shared.rid();
        let aid = self.shared.aid();
        send_terminate(&self.target, &self.sid, rid, aid, self.sender.take()).await;
    }

    /// Start a clean close: terminate, after which [`recv`](Self::recv) yields what the
    /// back channel still brings until the server ends it.
    pub(crate) async fn begin_close(&mut self) {
        self.terminate().await;
    }

    /// Close at once: terminate (so the server does not wait out its session timeout),
    /// and stop reading.
    pub(crate) async fn close(&mut self) {
        self.terminate().await;
        self.task.abort();
        self.inbox.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_the_query_and_the_protocol_parameters() {
        let e = Endpoint::parse("http://127.0.0.1:9/?a=1&b=%20").unwrap();
        let t = Target {
            endpoint: e,
            options: ClientOptions::default(),
            bind: "/primus/bind".into(),
        };
        let url = t.url("RID=rpc&SID=x");
        assert!(
            url.starts_with("/primus/bind?a=1&b=%20&VER=8&RID=rpc&SID=x&zx="),
            "{url}"
        );
        assert!(url.ends_with("&t=1"), "{url}");
        assert!(!url.contains("_primuscb"));
        let bare = Target {
            endpoint: Endpoint::parse("http://127.0.0.1:9").unwrap(),
            ..t
        };
        assert!(bare
            .url("RID=1")
            .starts_with("/primus/bind?VER=8&RID=1&zx="));
        assert!(valid_sid("AbC-_9") && !valid_sid("") && !valid_sid("a&b"));
        assert_ne!(zx(), zx());
    }
}
