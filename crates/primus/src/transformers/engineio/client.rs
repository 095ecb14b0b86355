//! Client half of the `engine.io` transformer: an Engine.IO 4 client for the Rust
//! [`Client`](crate::client::Client) (no maintained Rust Engine.IO client exists).
//!
//! It does what the reference's bundled `engine.io-client` does with Primus's settings
//! (protocol.md §1.3): `GET <pathname>/?<query>&_primuscb=…&EIO=4&transport=polling&t=…&b64=1`
//! for the handshake, long-polling `GET`s and `POST`s of `\x1e`-joined payloads, then
//! (unless [`EngineIoClientOptions::upgrade`] is off, the reference's `websockets: false`)
//! the upgrade: a WebSocket with the `sid`, `2probe` → `3probe`, the polling paused, `5`,
//! and the WebSocket carries the session. Binary frames travel as `b<base64>` while
//! [`EngineIoClientOptions::force_base64`] is on (Primus's choice); the server's pings
//! are answered here, and a server that stops pinging for `pingInterval + pingTimeout`
//! counts as gone.
//!
//! How Primus frames ride in Engine.IO messages is the session's `Framing`, the client's
//! side of the server's: `Plain` (one frame, one `message` packet) here, and Socket.IO
//! protocol 5 events for the [`socket.io`](crate::transformers::socketio) transformer,
//! whose client half is this client with that framing. It is applied where a frame
//! becomes Engine.IO messages and back (`Inbox::take`, the `Send` commands of the polling
//! and WebSocket loops), plus a message sent first (the Socket.IO CONNECT, whose answer
//! `connect_with` waits for) and one sent before the close (DISCONNECT).
//!
//! One task per connection runs the protocol; the driver sees frames through channels,
//! so [`Connection::recv`] is cancel safe.

pub use super::EngineIoClientOptions;
use crate::client::net::{self, BoxedIo};
use crate::client::url::Endpoint;
use crate::client::{ClientError, ClientOptions};
use crate::transformers::socketio::server::Incoming;
use crate::transformers::websockets::client::{query_with_cache_buster, yeast};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use primus_core::engineio::{self, Packet, Protocol};
use primus_core::Frame;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// Frames handed to the task between two flushes, at most (then `flush` waits).
const COMMANDS: usize = 8;
/// Frames sent in one POST at most.
const MAX_POST_BATCH: usize = 256;

enum Command {
    Send(Vec<Frame>),
    Close,
}

/// How a session carries Primus frames in Engine.IO messages.
#[derive(Debug)]
pub(crate) enum Framing {
    /// One frame, one Engine.IO `message` (the `engine.io` transformer).
    Plain,
    /// Socket.IO protocol 5 `message` events (the `socket.io` transformer).
    #[cfg(feature = "socketio")]
    SocketIo(crate::transformers::socketio::client::Framing),
}

impl Framing {
    /// The message sent right after the Engine.IO open, whose acceptance
    /// ([`Incoming::connect`]) [`connect_with`] waits for; `None`: open at once.
    fn opening(&self) -> Option<Frame> {
        match self {
            Framing::Plain => None,
            #[cfg(feature = "socketio")]
            Framing::SocketIo(f) => Some(f.opening()),
        }
    }

    /// A Primus frame as Engine.IO messages: one, and a second (a Socket.IO attachment)
    /// to send right after it.
    fn outgoing(&self, frame: Frame) -> (Packet, Option<Packet>) {
        match self {
            Framing::Plain => (Packet::Message(frame), None),
            #[cfg(feature = "socketio")]
            Framing::SocketIo(_) => {
                let (event, attachment) = primus_core::socketio::encode_message(frame);
                (Packet::Message(event), attachment.map(Packet::Message))
            }
        }
    }

    /// One incoming Engine.IO message.
    fn incoming(&mut self, frame: Frame) -> Result<Incoming, ClientError> {
        match self {
            Framing::Plain => Ok(Incoming::deliver(frame)),
            #[cfg(feature = "socketio")]
            Framing::SocketIo(f) => f.incoming(frame),
        }
    }

    /// The message sent before the Engine.IO close of a clean close.
    fn closing(&self) -> Option<Frame> {
        match self {
            Framing::Plain => None,
            #[cfg(feature = "socketio")]
            Framing::SocketIo(_) => Some(primus_core::socketio::disconnect()),
        }
    }
}

/// The incoming side of a session: its framing, where frames go, and the signal
/// [`connect_with`] waits for.
struct Inbox {
    framing: Framing,
    incoming: mpsc::Sender<Result<Frame, ClientError>>,
    ready: Option<oneshot::Sender<()>>,
}

/// What a batch of incoming packets asked for.
#[derive(Default)]
struct Taken {
    /// A ping came: the server is alive.
    pinged: bool,
    /// The server left: stop.
    ended: bool,
}

impl Inbox {
    /// Deliver the packets of a payload (or one WebSocket message); queues pongs and
    /// replies in `replies`.
    async fn take(
        &mut self,
        packets: Vec<Packet>,
        replies: &mut Vec<Packet>,
    ) -> Result<Taken, ClientError> {
        let mut taken = Taken::default();
        for p in packets {
            let frame = match p {
                Packet::Message(frame) => frame,
                Packet::Ping(data) => {
                    taken.pinged = true;
                    replies.push(Packet::Pong(data));
                    continue;
                }
                Packet::Close => return Err(ClientError::Transport("closed by the server".into())),
                _ => continue,
            };
            let received = self.framing.incoming(frame)?;
            if received.connect {
                if let Some(ready) = self.ready.take() {
                    let _ = ready.send(());
                }
            }
            if let Some(frame) = received.deliver {
                if self.incoming.send(Ok(frame)).await.is_err() {
                    return Err(ClientError::Closed);
                }
            }
            replies.extend(received.reply.map(Packet::Message));
            if received.disconnect {
                taken.ended = true;
                return Ok(taken);
            }
        }
        Ok(taken)
    }
}

/// An open Engine.IO session to a Primus server.
#[derive(Debug)]
pub(crate) struct Connection {
    incoming: mpsc::Receiver<Result<Frame, ClientError>>,
    commands: mpsc::Sender<Command>,
    buffered: Vec<Frame>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Send(v) => write!(f, "Send({})", v.len()),
            Command::Close => f.write_str("Close"),
        }
    }
}

/// What the task needs to make requests.
struct Target {
    endpoint: Endpoint,
    options: ClientOptions,
    eio: EngineIoClientOptions,
    /// `<pathname>/` (engine.io-client adds the trailing slash).
    path: String,
    /// The query up to and including `_primuscb`.
    query: String,
}

impl Target {
    fn url(&self, transport: &str, sid: Option<&str>) -> String {
        let mut q = format!(
            "{}{}EIO=4&transport={transport}&t={}",
            self.query,
            if self.query.is_empty() { "" } else { "&" },
            yeast()
        );
        if self.eio.force_base64 {
            q.push_str("&b64=1");
        }
        if let Some(sid) = sid {
            q.push_str("&sid=");
            q.push_str(&crate::client::url::encode_uri_component(sid));
        }
        format!("{}?{q}", self.path)
    }

    fn request(
        &self,
        method: http::Method,
        url: &str,
        body: Bytes,
    ) -> Result<http::Request<Full<Bytes>>, ClientError> {
        let mut b = http::Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::HOST, self.endpoint.host.as_str());
        if !body.is_empty() {
            b = b.header(http::header::CONTENT_TYPE, "text/plain;charset=UTF-8");
        }
        if let Some(auth) = self.endpoint.basic_auth() {
            b = b.header(http::header::AUTHORIZATION, auth);
        }
        for (k, v) in &self.eio.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        b.body(Full::new(body))
            .map_err(|e| ClientError::InvalidOptions(format!("request header: {e}")))
    }

    async fn websocket(&self, sid: Option<&str>) -> Result<WebSocketStream<BoxedIo>, ClientError> {
        let scheme = if self.endpoint.secure { "wss" } else { "ws" };
        let url = format!(
            "{scheme}://{}{}",
            self.endpoint.host,
            self.url("websocket", sid)
        );
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| ClientError::InvalidUrl(format!("`{url}`: {e}")))?;
        if let Some(auth) = self.endpoint.basic_auth() {
            if let Ok(v) = auth.parse() {
                request.headers_mut().insert(http::header::AUTHORIZATION, v);
            }
        }
        for (k, v) in &self.eio.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| ClientError::InvalidOptions(format!("header name `{k}`: {e}")))?;
            let value = http::HeaderValue::from_str(v)
                .map_err(|e| ClientError::InvalidOptions(format!("header `{k}` value: {e}")))?;
            request.headers_mut().append(name, value);
        }
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.eio.max_payload))
            .max_frame_size(Some(self.eio.max_payload));
        let io = net::connect(&self.endpoint, &self.options).await?;
        let (ws, _) = tokio_tungstenite::client_async_with_config(request, io, Some(config))
            .await
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        Ok(ws)
    }
}

/// An HTTP request in flight: the body, and the connection to reuse.
type Poll = BoxFuture<'static, Result<(String, Option<SendRequest<Full<Bytes>>>), ClientError>>;

/// An upgrade probe in flight: the WebSocket, once the server answered `3probe`.
type Probe = BoxFuture<'static, Result<WebSocketStream<BoxedIo>, ClientError>>;

/// A keep-alive HTTP/1.1 connection for polling requests, reopened when it closes.
struct Http {
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Http {
    /// Send one request; `Ok(body)` for a 200.
    fn send(&mut self, target: &Target, req: http::Request<Full<Bytes>>) -> Poll {
        let sender = self.sender.take().filter(|s| !s.is_closed());
        let endpoint = target.endpoint.clone();
        let options = target.options.clone();
        // A server may exceed its own maxPayload by one message (and base64 grows binary
        // by a third): allow for it.
        let limit = target
            .eio
            .max_payload
            .saturating_mul(3)
            .saturating_add(64 * 1024);
        async move {
            let mut sender = match sender {
                Some(s) => s,
                None => {
                    let io = net::connect(&endpoint, &options).await?;
                    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                        .await
                        .map_err(|e| ClientError::Connect(e.to_string()))?;
                    tokio::spawn(conn);
                    sender
                }
            };
            sender
                .ready()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            let res = sender
                .send_request(req)
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            let status = res.status();
            let body = Limited::new(res.into_body(), limit)
                .collect()
                .await
                .map_err(|e| ClientError::Transport(format!("reading a poll: {e}")))?
                .to_bytes();
            let text = String::from_utf8_lossy(&body).into_owned();
            if status != http::StatusCode::OK {
                return Err(ClientError::Transport(format!(
                    "Engine.IO request failed: {status} {text}"
                )));
            }
            Ok((text, Some(sender)))
        }
        .boxed()
    }
}

/// Open a session: polling handshake (or WebSocket), then the protocol task.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    options: &ClientOptions,
) -> Result<Connection, ClientError> {
    connect_with(endpoint, options, Framing::Plain).await
}

/// [`connect`] with another framing. When the framing sends an opening message (the
/// Socket.IO CONNECT), this returns once the server accepted it, or with the error that
/// ended the session first (a refused CONNECT, for one).
pub(crate) async fn connect_with(
    endpoint: &Endpoint,
    options: &ClientOptions,
    framing: Framing,
) -> Result<Connection, ClientError> {
    let eio = options.transport.engineio.clone();
    let target = Target {
        endpoint: endpoint.clone(),
        options: options.clone(),
        path: format!("{}/", options.pathname.trim_end_matches('/')),
        query: query_with_cache_buster(endpoint.query.as_deref().unwrap_or(""), &yeast()),
        eio,
    };
    let (in_tx, incoming) = mpsc::channel(64);
    let (commands, cmd_rx) = mpsc::channel(COMMANDS);
    let session = if target.eio.polling {
        let mut get = Http { sender: None };
        let url = target.url("polling", None);
        let req = target.request(http::Method::GET, &url, Bytes::new())?;
        let (text, sender) = get.send(&target, req).await.map_err(|e| match e {
            ClientError::Transport(m) => ClientError::Connect(m),
            e => e,
        })?;
        get.sender = sender;
        let packets = engineio::decode_payload(Protocol::V4, &text, usize::MAX)
            .map_err(|e| ClientError::Connect(format!("bad handshake: {e}")))?;
        let handshake = match packets.first() {
            Some(Packet::Open(json)) => Handshake::parse(json)?,
            _ => {
                return Err(ClientError::Connect(
                    "no open packet in the handshake".into(),
                ))
            }
        };
        Start::Polling(handshake, get)
    } else {
        let mut ws = target.websocket(None).await?;
        let handshake = match ws.next().await {
            Some(Ok(WsMessage::Text(t))) => match Packet::decode(Protocol::V4, t.as_str()) {
                Ok(Packet::Open(json)) => Handshake::parse(&json)?,
                _ => return Err(ClientError::Connect("no open packet".into())),
            },
            _ => return Err(ClientError::Connect("no open packet".into())),
        };
        Start::WebSocket(handshake, Box::new(ws))
    };
    let (ready_tx, ready) = oneshot::channel();
    let opening = framing.opening();
    let inbox = Inbox {
        framing,
        incoming: in_tx,
        ready: Some(ready_tx),
    };
    let task = tokio::spawn(run(target, session, opening.clone(), cmd_rx, inbox));
    // Built before waiting: if this future is dropped (the connect timeout), the task is
    // aborted with it.
    let mut conn = Connection {
        incoming,
        commands,
        buffered: Vec::new(),
        task,
    };
    if opening.is_some() && ready.await.is_err() {
        // The session ended before the server accepted it: its error says why.
        return Err(match conn.incoming.recv().await {
            Some(Err(e)) => e,
            _ => ClientError::Connect("the session ended before the server accepted it".into()),
        });
    }
    Ok(conn)
}

enum Start {
    Polling(Handshake, Http),
    WebSocket(Handshake, Box<WebSocketStream<BoxedIo>>),
}

/// The `open` packet's body.
struct Handshake {
    sid: String,
    upgrades: Vec<String>,
    ping_interval: Duration,
    ping_timeout: Duration,
    /// The largest POST body the server takes (`maxPayload`).
    max_payload: usize,
}

impl Handshake {
    fn parse(json: &str) -> Result<Self, ClientError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            sid: String,
            #[serde(default)]
            upgrades: Vec<String>,
            ping_interval: u64,
            ping_timeout: u64,
            #[serde(default)]
            max_payload: Option<u64>,
        }
        let raw: Raw = serde_json::from_str(json)
            .map_err(|e| ClientError::Connect(format!("bad open packet: {e}")))?;
        Ok(Handshake {
            sid: raw.sid,
            upgrades: raw.upgrades,
            ping_interval: Duration::from_millis(raw.ping_interval),
            ping_timeout: Duration::from_millis(raw.ping_timeout),
            max_payload: raw
                .max_payload
                .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        })
    }

    /// When the server counts as gone without a ping.
    fn deadline(&self) -> Instant {
        Instant::now() + self.ping_interval + self.ping_timeout
    }
}

async fn run(
    target: Target,
    start: Start,
    opening: Option<Frame>,
    mut commands: mpsc::Receiver<Command>,
    mut inbox: Inbox,
) {
    let first: Vec<Packet> = opening.map(Packet::Message).into_iter().collect();
    let result = match start {
        Start::Polling(hs, get) => {
            polling(&target, hs, get, first, &mut commands, &mut inbox).await
        }
        Start::WebSocket(hs, ws) => {
            let deadline = hs.deadline();
            websocket(
                &target,
                &hs,
                *ws,
                first,
                deadline,
                &mut commands,
                &mut inbox,
            )
            .await
        }
    };
    // The ready signal goes first: `connect_with` then reads the error.
    drop(inbox.ready.take());
    if let Err(e) = result {
        let _ = inbox.incoming.send(Err(e)).await;
    }
}

async fn polling(
    target: &Target,
    hs: Handshake,
    mut get: Http,
    mut outbox: Vec<Packet>,
    commands: &mut mpsc::Receiver<Command>,
    inbox: &mut Inbox,
) -> Result<(), ClientError> {
    let mut post = Http { sender: None };
    let mut deadline = hs.deadline();
    let mut poll: Option<Poll> = None;
    let mut posting: Option<Poll> = None;
    let mut probe: Option<Probe> =
        if target.eio.upgrade && hs.upgrades.iter().any(|u| u == "websocket") {
            Some(probe_upgrade(target, hs.sid.clone()))
        } else {
            None
        };
    // The upgraded socket, once probed: polling pauses, then `5` switches.
    let mut upgraded: Option<WebSocketStream<BoxedIo>> = None;
    let mut closing = false;
    // Whether the POST under way carries the `close` packet, and whether it was answered:
    // polls go on until then, so what the server sends before it handles the close
    // arrives.
    let mut posting_close = false;
    let mut close_posted = false;
    // After the close was posted: one more poll, which the server answers with what it
    // sent before it handled the close (it waits a moment for that poll), then stop.
    let mut last_poll = false;
    // The server left (Socket.IO DISCONNECT): like socket.io-client, post the Engine.IO
    // close so its session ends at once, read nothing more, and stop.
    let mut left = false;
    loop {
        if left && close_posted {
            return Ok(());
        }
        if close_posted && poll.is_none() {
            if last_poll {
                return Ok(());
            }
            last_poll = true;
            let url = target.url("polling", Some(&hs.sid));
            let req = target.request(http::Method::GET, &url, Bytes::new())?;
            poll = Some(get.send(target, req));
        }
        if let Some(ws) = upgraded.as_mut() {
            if poll.is_none() && posting.is_none() {
                ws.send(WsMessage::Text("5".into()))
                    .await
                    .map_err(|e| ClientError::Transport(e.to_string()))?;
                let ws = upgraded.take().ok_or(ClientError::Closed)?;
                return websocket(target, &hs, ws, outbox, deadline, commands, inbox).await;
            }
        } else if poll.is_none() && !close_posted && !left {
            let url = target.url("polling", Some(&hs.sid));
            let req = target.request(http::Method::GET, &url, Bytes::new())?;
            poll = Some(get.send(target, req));
        }
        if posting.is_none() && !outbox.is_empty() && upgraded.is_none() {
            // Like engine.io-client, keep each POST within the server's maxPayload
            // (a single larger packet still goes alone: the server then refuses it), and
            // post the `close` packet alone once what came before it went out: a
            // Socket.IO server handles the DISCONNECT before it a tick late, and a `close`
            // in the same payload would win ("transport close").
            let mut n = 0;
            let mut bytes = 0;
            while n < outbox.len().min(MAX_POST_BATCH) {
                let size = packet_size(&outbox[n]) + 1;
                let close = matches!(outbox[n], Packet::Close);
                if n > 0 && (close || bytes + size > hs.max_payload) {
                    break;
                }
                bytes += size;
                n += 1;
            }
            let batch: Vec<Packet> = outbox.drain(..n).collect();
            posting_close = batch.iter().any(|p| matches!(p, Packet::Close));
            let body = engineio::encode_payload(Protocol::V4, &batch);
            let url = target.url("polling", Some(&hs.sid));
            let req = target.request(http::Method::POST, &url, Bytes::from(body))?;
            posting = Some(post.send(target, req));
        }
        tokio::select! {
            // No poll is made once the server left (`left`), so none ends after it.
            res = async { poll.as_mut().expect("guarded").await }, if poll.is_some() => {
                poll = None;
                let (text, sender) = res?;
                get.sender = sender;
                let packets = engineio::decode_payload(Protocol::V4, &text, usize::MAX)
                    .map_err(|e| ClientError::Transport(format!("bad payload: {e}")))?;
                let taken = inbox.take(packets, &mut outbox).await?;
                if taken.ended {
                    left = true;
                    outbox.clear();
                    close_over_polling(&mut outbox, &mut closing, &mut probe, &mut upgraded);
                    continue;
                }
                if taken.pinged {
                    deadline = hs.deadline();
                }
            }
            res = async { posting.as_mut().expect("guarded").await }, if posting.is_some() => {
                posting = None;
                let (_, sender) = match res {
                    // The server may have dropped the session already.
                    Err(_) if left => return Ok(()),
                    res => res?,
                };
                post.sender = sender;
                close_posted = posting_close;
            }
            res = async { probe.as_mut().expect("guarded").await }, if probe.is_some() => {
                probe = None;
                // A failed probe leaves the session on polling, as engine.io-client does.
                if let Ok(ws) = res {
                    upgraded = Some(ws);
                }
            }
            cmd = commands.recv(), if !closing => match cmd {
                Some(Command::Send(frames)) => {
                    for f in frames {
                        let (first, second) = inbox.framing.outgoing(f);
                        outbox.push(first);
                        outbox.extend(second);
                    }
                }
                Some(Command::Close) | None => {
                    // A clean close: the `close` packet goes after what is queued (and
                    // after the framing's farewell), and the pending poll stays, so what
                    // the server still sends before it handles the close (say, replies
                    // to the last messages) arrives.
                    outbox.extend(inbox.framing.closing().map(Packet::Message));
                    close_over_polling(&mut outbox, &mut closing, &mut probe, &mut upgraded);
                }
            },
            _ = sleep_until(deadline) => {
                return Err(ClientError::Transport("Engine.IO ping timeout".into()));
            }
        }
    }
}

/// Start a close over polling: the `close` packet after what `outbox` holds, no more
/// commands, and an upgrade under way given up.
fn close_over_polling(
    outbox: &mut Vec<Packet>,
    closing: &mut bool,
    probe: &mut Option<Probe>,
    upgraded: &mut Option<WebSocketStream<BoxedIo>>,
) {
    outbox.push(Packet::Close);
    *closing = true;
    *probe = None;
    *upgraded = None;
}

/// The encoded size of a packet in a payload, in bytes.
fn packet_size(packet: &Packet) -> usize {
    match packet {
        Packet::Message(Frame::Text(b)) => b.len() + 1,
        Packet::Message(Frame::Binary(b)) => b.len().div_ceil(3) * 4 + 1,
        _ => 8,
    }
}

/// Open the WebSocket for an upgrade and run the probe exchange.
fn probe_upgrade(
    target: &Target,
    sid: String,
) -> BoxFuture<'static, Result<WebSocketStream<BoxedIo>, ClientError>> {
    let t = Target {
        endpoint: target.endpoint.clone(),
        options: target.options.clone(),
        eio: target.eio.clone(),
        path: target.path.clone(),
        query: target.query.clone(),
    };
    async move {
        let mut ws = t.websocket(Some(&sid)).await?;
        ws.send(WsMessage::Text("2probe".into()))
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        match ws.next().await {
            Some(Ok(WsMessage::Text(t))) if t.as_str() == "3probe" => Ok(ws),
            _ => Err(ClientError::Transport("upgrade probe failed".into())),
        }
    }
    .boxed()
}

fn ws_message(packet: &Packet, force_base64: bool) -> WsMessage {
    if !force_base64 {
        if let Some(bin) = packet.encode_binary(Protocol::V4) {
            return WsMessage::Binary(bin);
        }
    }
    WsMessage::Text(Utf8Bytes::from(packet.encode(Protocol::V4)))
}

async fn websocket(
    target: &Target,
    hs: &Handshake,
    mut ws: WebSocketStream<BoxedIo>,
    pending: Vec<Packet>,
    mut deadline: Instant,
    commands: &mut mpsc::Receiver<Command>,
    inbox: &mut Inbox,
) -> Result<(), ClientError> {
    let b64 = target.eio.force_base64;
    let err = |e: tokio_tungstenite::tungstenite::Error| ClientError::Transport(e.to_string());
    for p in &pending {
        ws.feed(ws_message(p, b64)).await.map_err(err)?;
    }
    ws.flush().await.map_err(err)?;
    // After our close frame: read on until the server's, delivering what comes before it.
    let mut closing = false;
    loop {
        tokio::select! {
            cmd = commands.recv(), if !closing => match cmd {
                Some(Command::Send(frames)) => {
                    for f in frames {
                        let (first, second) = inbox.framing.outgoing(f);
                        ws.feed(ws_message(&first, b64)).await.map_err(err)?;
                        if let Some(second) = second {
                            ws.feed(ws_message(&second, b64)).await.map_err(err)?;
                        }
                    }
                    ws.flush().await.map_err(err)?;
                }
                Some(Command::Close) | None => {
                    if let Some(farewell) = inbox.framing.closing() {
                        let farewell = ws_message(&Packet::Message(farewell), b64);
                        let sent = tokio::time::timeout(Duration::from_secs(1), ws.send(farewell)).await;
                        if !matches!(sent, Ok(Ok(()))) {
                            return Ok(());
                        }
                    }
                    let sent = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return Ok(());
                    }
                    closing = true;
                }
            },
            msg = ws.next() => {
                let packet = match msg {
                    Some(Ok(WsMessage::Text(t))) => Packet::decode(Protocol::V4, t.as_str()),
                    Some(Ok(WsMessage::Binary(b))) => Packet::decode_binary(Protocol::V4, b),
                    Some(Ok(WsMessage::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(err(e)),
                }
                .map_err(|e| ClientError::Transport(format!("bad packet: {e}")))?;
                let mut replies = Vec::new();
                let taken = inbox.take(vec![packet], &mut replies).await?;
                if taken.ended {
                    // The server left (Socket.IO DISCONNECT): close our side too.
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return Ok(());
                }
                if taken.pinged {
                    deadline = hs.deadline();
                }
                for r in replies.iter().filter(|_| !closing) {
                    ws.send(ws_message(r, b64)).await.map_err(err)?;
                }
            }
            _ = sleep_until(deadline) => {
                return Err(ClientError::Transport("Engine.IO ping timeout".into()));
            }
        }
    }
}

impl Connection {
    /// The next Primus frame; `None` when the session closed. Cancel safe.
    pub(crate) async fn recv(&mut self) -> Option<Result<Frame, ClientError>> {
        self.incoming.recv().await
    }

    /// Queue a frame (sent by the next [`flush`](Self::flush)).
    pub(crate) async fn feed(&mut self, frame: Frame) -> Result<(), ClientError> {
        self.buffered.push(frame);
        Ok(())
    }

    /// Hand the queued frames to the session (one POST or one WebSocket batch).
    pub(crate) async fn flush(&mut self) -> Result<(), ClientError> {
        if self.buffered.is_empty() {
            return Ok(());
        }
        let frames = std::mem::take(&mut self.buffered);
        self.commands
            .send(Command::Send(frames))
            .await
            .map_err(|_| ClientError::Transport("the Engine.IO session ended".into()))
    }

    /// Start a clean close (a `close` packet over polling, a close frame on WebSocket);
    /// [`recv`](Self::recv) goes on yielding what the server sends before the session
    /// ends, then `None`.
    pub(crate) async fn begin_close(&mut self) {
        let _ = self.flush().await;
        let _ = self.commands.send(Command::Close).await;
    }

    /// Close the session, dropping whatever still arrives.
    pub(crate) async fn close(&mut self) {
        self.begin_close().await;
        // Nothing reads any more: a task blocked on delivering ends at once.
        self.incoming.close();
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}
