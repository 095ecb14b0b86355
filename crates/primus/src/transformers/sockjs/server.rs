//! Server half of the `sockjs` transformer: the SockJS protocol under the pathname.
//!
//! | path under the pathname | method | answer |
//! |---|---|---|
//! | `` or `/` | GET | `Welcome to SockJS!` |
//! | `/info` | GET, OPTIONS | `{"websocket":…,"origins":["*:*"],"cookie_needed":…,"entropy":…}` |
//! | `/iframe*.html` | GET | the iframe page, with an `ETag` (304 on `If-None-Match`) |
//! | `/websocket` | GET (upgrade) | raw WebSocket: one Primus message per WebSocket message |
//! | `/<server>/<session>/websocket` | GET (upgrade) | a session over WebSocket (`o`, `a[…]`, `h`, `c[…]`) |
//! | `/<server>/<session>/xhr` | POST, OPTIONS | polling receiver (one frame per response) |
//! | `/<server>/<session>/xhr_streaming` | POST, OPTIONS | streaming receiver (2 KiB `h` prelude) |
//! | `/<server>/<session>/eventsource` | GET | streaming receiver, `text/event-stream` |
//! | `/<server>/<session>/htmlfile?c=cb` | GET | streaming receiver, `<script>` chunks |
//! | `/<server>/<session>/jsonp?c=cb` | GET | polling receiver, `cb("frame");` |
//! | `/<server>/<session>/xhr_send` | POST, OPTIONS | messages from the client (JSON array), 204 |
//! | `/<server>/<session>/jsonp_send` | POST | same, form-encoded `d=` or raw, `200 ok` |
//!
//! # Sessions
//! A session is created by the first receiver request with an unknown session id, and it
//! is one spark. One task per session owns the spark's outgoing queue and its timers; HTTP
//! receivers attach to it and it writes frames into their (streaming) response bodies:
//!
//! - the first receiver gets `o`; polling receivers end after one frame, streaming ones
//!   after `response_limit` bytes (the client then opens the next one);
//! - while a receiver is attached, queued messages go out as one `a[…]` frame each time,
//!   and an `h` frame after `heartbeat_delay` of silence;
//! - a second receiver while one is attached gets `c[2010,"Another connection still open"]`;
//! - with no receiver for `disconnect_delay` (the client stopped polling), the session and
//!   its spark end and the memory is reclaimed;
//! - a receiver the client aborts (closes the connection mid-response) interrupts the
//!   session at once, like `sockjs-node`: the spark ends, and receivers that come within
//!   `disconnect_delay` get `c[1002,"Connection interrupted"]`;
//! - once the spark ends (`spark.end()`, heartbeat timeout, destroy), the attached receiver
//!   gets what was still queued and `c[1000,"Normal closure"]`, and so does every receiver
//!   that comes within `disconnect_delay`; then the session is forgotten.
//!
//! Messages wait in the spark's bounded outgoing queue while no receiver is attached, so
//! a client that stops polling cannot grow the server's memory.
//!
//! # Differences from the reference (`sockjs` 0.3.24 behind Primus)
//! - The query string of the first transport request reaches `spark.query()` (the
//!   reference loses it).
//! - Request bodies are bounded: an `xhr_send`/`jsonp_send` body larger than twice
//!   `max_length` (+1 KiB for the JSON wrapping), or one message larger than `max_length`,
//!   ends the session with `c[1009,"Max payload size exceeded"]` and answers 413.
//! - The `htmlfile` transport writes `<` as `\u003c` inside its `<script>` chunks, so a
//!   message containing `</script>` cannot break out of the script.
//! - WebSocket sessions send `h` frames (the reference uses WebSocket pings).
//! - Spark ids are Primus ids (the reference uses the SockJS connection's uuid).

use crate::error::SparkError;
use crate::middleware::BodyError;
use crate::options::Options;
use crate::server::spark::{CloseKind, SparkConn, SparkShared};
use crate::server::Inner;
use crate::service::{body_limit, full, read_body, HttpRequest, HttpResponse};
use crate::transformers::http_session::{closed, end_too_big, ChannelBody, Ready, SessionMap};
use crate::transformers::websockets::server as ws;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use hyper_util::rt::TokioIo;
use primus_core::sockjs::{self as codec, PayloadError};
use primus_core::Frame;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// Queued messages sent in one `a[…]` frame at most.
const MAX_BATCH: usize = 64;
/// How long to wait for the peer's close frame after sending ours.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Chunks a receiver's response body may hold before the session waits for the client.
const BODY_CHUNKS: usize = 16;
/// Cache lifetime of cacheable answers (iframe, OPTIONS): one year, as the protocol says.
const CACHE_FOR_SECS: u64 = 365 * 24 * 60 * 60;
/// `Content-Type` of most SockJS answers.
const JS: &str = "application/javascript; charset=UTF-8";
const PLAIN: &str = "text/plain; charset=UTF-8";
const HTML: &str = "text/html; charset=UTF-8";

/// The iframe page, with `{{ sockjs_url }}` to fill in.
const IFRAME: &str = "<!DOCTYPE html>\n<html>\n<head>\n  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n  <script src=\"{{ sockjs_url }}\"></script>\n  <script>\n    document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  </script>\n</head>\n<body>\n  <h2>Don't panic!</h2>\n  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n</body>\n</html>";

/// The start of an `htmlfile` response, with `{{ callback }}` to fill in; padded to more
/// than 1 KiB so browsers start rendering at once.
const HTMLFILE: &str = "<!doctype html>\n<html><head>\n  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n</head><body><h2>Don't panic!</h2>\n  <script>\n    document.domain = document.domain;\n    var c = parent.{{ callback }};\n    c.start();\n    function p(d) {c.message(d);};\n    window.onload = function() {c.stop();};\n  </script>";

/// The SockJS settings.
pub(crate) type Settings = super::SockJsOptions;

/// The sockjs server half: settings, live sessions, and the raw WebSocket endpoint.
#[derive(Debug)]
pub(crate) struct Server {
    settings: Settings,
    sessions: SessionMap<Session>,
    raw: ws::Server,
    ws_config: WebSocketConfig,
    write_timeout: Duration,
    max_length: usize,
    iframe: Bytes,
    etag: String,
}

impl Server {
    /// Build from the Primus options (`Primus::new` refuses binary parsers for it, as
    /// for every text-only transformer).
    pub(crate) fn new(options: &Options) -> Self {
        Self::with_settings(options, options.sockjs.clone())
    }

    pub(crate) fn with_settings(options: &Options, settings: Settings) -> Self {
        let mut ws_config = WebSocketConfig::default();
        // A message is JSON-quoted inside an array: allow for the quoting.
        let frame_limit = body_limit(options.max_length);
        ws_config.max_message_size = Some(frame_limit);
        ws_config.max_frame_size = Some(frame_limit);
        ws_config.read_buffer_size = 1024;
        ws_config.write_buffer_size = 0;
        ws_config.max_write_buffer_size = frame_limit.saturating_mul(2).max(1 << 20);
        let page = IFRAME.replace("{{ sockjs_url }}", &settings.sockjs_url);
        let etag = format!("\"{}\"", md5_hex(page.as_bytes()));
        Server {
            settings,
            sessions: SessionMap::default(),
            raw: ws::Server::new(options),
            ws_config,
            write_timeout: options.write_timeout,
            max_length: options.max_length,
            iframe: Bytes::from(page),
            etag,
        }
    }

    /// Sessions alive (attached, waiting for their client, or closed and waiting out
    /// `disconnect_delay`).
    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) async fn handle(&self, server: &Arc<Inner>, req: HttpRequest) -> HttpResponse {
        let path = req.uri().path().to_string();
        let Some(rest) = path.get(server.pathname.len()..) else {
            return not_found();
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return match *req.method() {
                Method::GET | Method::HEAD => full(StatusCode::OK, PLAIN, "Welcome to SockJS!\n"),
                _ => not_allowed("GET"),
            };
        }
        let Some(rest) = rest.strip_prefix('/') else {
            return not_found();
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["info"] => match *req.method() {
                Method::GET => self.info(&req),
                Method::OPTIONS => self.options(&req, "OPTIONS, GET"),
                _ => not_allowed("OPTIONS, GET"),
            },
            [page] if is_iframe(page) => match *req.method() {
                Method::GET => self.iframe(&req),
                _ => not_allowed("GET"),
            },
            ["websocket"] => {
                if !self.settings.websocket {
                    return cache_for(not_found());
                }
                match *req.method() {
                    Method::GET => self.raw_websocket(server, req),
                    _ => not_allowed("GET"),
                }
            }
            [srv, session, transport]
                if codec::valid_segment(srv) && codec::valid_segment(session) =>
            {
                let session: Arc<str> = Arc::from(*session);
                self.transport(server, req, session, transport).await
            }
            _ => not_found(),
        }
    }

    async fn transport(
        &self,
        server: &Arc<Inner>,
        req: HttpRequest,
        session: Arc<str>,
        transport: &str,
    ) -> HttpResponse {
        let method = req.method().clone();
        let (allowed, ok) = match transport {
            "websocket" => ("GET", method == Method::GET),
            "xhr" | "xhr_send" | "xhr_streaming" => (
                "OPTIONS, POST",
                method == Method::POST || method == Method::OPTIONS,
            ),
            "eventsource" | "htmlfile" | "jsonp" => ("GET", method == Method::GET),
            "jsonp_send" => ("POST", method == Method::POST),
            _ => return not_found(),
        };
        if !ok {
            return not_allowed(allowed);
        }
        if method == Method::OPTIONS {
            return self.options(&req, "OPTIONS, POST");
        }
        match transport {
            "websocket" => {
                if !self.settings.websocket {
                    return cache_for(not_found());
                }
                self.session_websocket(server, req)
            }
            "xhr" => {
                let headers = req.headers().clone();
                let res = self.receiver(server, req, session, Framing::Xhr, true);
                self.decorate(&headers, res, true)
            }
            "xhr_streaming" => {
                let headers = req.headers().clone();
                let res = self.receiver(server, req, session, Framing::Xhr, false);
                self.decorate(&headers, res, true)
            }
            "eventsource" => {
                let headers = req.headers().clone();
                let mut res = self.receiver(server, req, session, Framing::EventSource, false);
                // EventSource sends `Origin: null` from sandboxed pages: answer `*` then.
                let origin = headers
                    .get(header::ORIGIN)
                    .filter(|o| o.as_bytes() != b"null")
                    .cloned();
                let h = res.headers_mut();
                match origin {
                    Some(o) => {
                        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
                        h.insert(
                            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                            HeaderValue::from_static("true"),
                        );
                    }
                    None => {
                        h.insert(
                            header::ACCESS_CONTROL_ALLOW_ORIGIN,
                            HeaderValue::from_static("*"),
                        );
                    }
                }
                h.insert(header::VARY, HeaderValue::from_static("Origin"));
                if let Some(v) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
                }
                self.decorate(&headers, res, false)
            }
            "htmlfile" | "jsonp" => {
                let headers = req.headers().clone();
                let callback = match callback(&req) {
                    Ok(cb) => cb,
                    Err(why) => {
                        let res = full(StatusCode::INTERNAL_SERVER_ERROR, PLAIN, why);
                        return self.decorate(&headers, res, false);
                    }
                };
                let framing = if transport == "jsonp" {
                    Framing::Jsonp(callback)
                } else {
                    Framing::HtmlFile(callback)
                };
                let polling = transport == "jsonp";
                let mut res = self.receiver(server, req, session, framing, polling);
                if polling && res.status() == StatusCode::OK {
                    res.headers_mut().insert(
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    );
                }
                self.decorate(&headers, res, false)
            }
            "xhr_send" => {
                let headers = req.headers().clone();
                let res = self.send(req, &session, false).await;
                self.decorate(&headers, res, true)
            }
            "jsonp_send" => {
                let headers = req.headers().clone();
                let res = self.send(req, &session, true).await;
                self.decorate(&headers, res, false)
            }
            _ => not_found(),
        }
    }

    /// The headers every session request gets: JSESSIONID, no-cache, and CORS for the
    /// xhr transports.
    fn decorate(&self, req: &HeaderMap, mut res: HttpResponse, cors: bool) -> HttpResponse {
        self.sid(req, &mut res);
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(
                "no-store, no-cache, no-transform, must-revalidate, max-age=0",
            ),
        );
        if cors {
            xhr_cors(req, &mut res);
        }
        res
    }

    /// `JSESSIONID=<the client's or dummy>; path=/` when the option is on.
    fn sid(&self, req: &HeaderMap, res: &mut HttpResponse) {
        if !self.settings.jsessionid {
            return;
        }
        let jsid = req
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.split_once('='))
            .find(|(k, _)| k.trim() == "JSESSIONID")
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "dummy".to_string());
        if let Ok(v) = HeaderValue::from_str(&format!("JSESSIONID={jsid}; path=/")) {
            res.headers_mut().insert(header::SET_COOKIE, v);
        }
    }

    fn info(&self, req: &HttpRequest) -> HttpResponse {
        let body = format!(
            "{{\"websocket\":{},\"origins\":[\"*:*\"],\"cookie_needed\":{},\"entropy\":{}}}",
            self.settings.websocket,
            self.settings.jsessionid,
            rand::random::<u32>()
        );
        let mut res = full(StatusCode::OK, "application/json; charset=UTF-8", body);
        xhr_cors(req.headers(), &mut res);
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(
                "no-store, no-cache, no-transform, must-revalidate, max-age=0",
            ),
        );
        res
    }

    /// `OPTIONS`: 204 with the allowed methods, cacheable for a year.
    fn options(&self, req: &HttpRequest, methods: &'static str) -> HttpResponse {
        let mut res = empty(StatusCode::NO_CONTENT);
        self.sid(req.headers(), &mut res);
        xhr_cors(req.headers(), &mut res);
        let mut res = cache_for(res);
        let h = res.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(methods),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(CACHE_FOR_SECS),
        );
        res
    }

    fn iframe(&self, req: &HttpRequest) -> HttpResponse {
        let matches = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == self.etag.as_bytes());
        let mut res = if matches {
            empty(StatusCode::NOT_MODIFIED)
        } else {
            let mut res = full(StatusCode::OK, HTML, self.iframe.clone());
            res.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(self.iframe.len()));
            if let Ok(v) = HeaderValue::from_str(&self.etag) {
                res.headers_mut().insert(header::ETAG, v);
            }
            res
        };
        res = cache_for(res);
        res
    }

    fn raw_websocket(&self, server: &Arc<Inner>, req: HttpRequest) -> HttpResponse {
        if !crate::service::is_upgrade(&req) {
            return full(
                StatusCode::BAD_REQUEST,
                PLAIN,
                "Can \"Upgrade\" only to \"WebSocket\".",
            );
        }
        // The raw endpoint is the websockets transformer: one Primus message per
        // WebSocket message.
        self.raw.handle(server, req)
    }

    fn session_websocket(&self, server: &Arc<Inner>, mut req: HttpRequest) -> HttpResponse {
        if !crate::service::is_upgrade(&req) {
            return full(
                StatusCode::BAD_REQUEST,
                PLAIN,
                "Can \"Upgrade\" only to \"WebSocket\".",
            );
        }
        if req.headers().contains_key("sec-websocket-key1")
            && !req.headers().contains_key(header::SEC_WEBSOCKET_KEY)
        {
            return self.hixie76(server, req);
        }
        let upgrade = match ws::prepare_upgrade(&mut req) {
            Ok(u) => u,
            Err(res) => return *res,
        };
        let info = ws::spark_info(server, req);
        let conn = match server.open_spark(info) {
            Ok(conn) => conn,
            Err(e) => return full(StatusCode::SERVICE_UNAVAILABLE, PLAIN, e.to_string()),
        };
        let config = self.ws_config;
        let timing = self.timing();
        let server = server.clone();
        tokio::spawn(async move {
            match upgrade.on_upgrade.await {
                Ok(upgraded) => {
                    let socket = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(config),
                    )
                    .await;
                    run_websocket(server, socket, conn, timing).await;
                }
                Err(e) => conn.spark.shared.finish(
                    CloseKind::Normal,
                    Some(SparkError::Transport(format!("upgrade failed: {e}"))),
                ),
            }
        });
        ws::switching_protocols(&upgrade.accept)
    }

    /// The old hixie-76 WebSocket handshake (what some proxies, e.g. old HAProxy setups,
    /// still speak, and what the SockJS protocol suite checks): 101 with the location and
    /// origin headers, then the MD5 answer to the 8-byte key that follows the request.
    fn hixie76(&self, server: &Arc<Inner>, mut req: HttpRequest) -> HttpResponse {
        let h = req.headers();
        let (Some(k1), Some(k2)) = (
            h.get("sec-websocket-key1")
                .and_then(|v| hixie_key(v.as_bytes())),
            h.get("sec-websocket-key2")
                .and_then(|v| hixie_key(v.as_bytes())),
        ) else {
            return full(
                StatusCode::BAD_REQUEST,
                PLAIN,
                "Not a valid websocket request",
            );
        };
        if req
            .extensions()
            .get::<hyper::upgrade::OnUpgrade>()
            .is_none()
        {
            return full(StatusCode::INTERNAL_SERVER_ERROR, PLAIN, "cannot upgrade");
        }
        let origin = h.get(header::ORIGIN).cloned();
        let host = h
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost")
            .to_string();
        let location = format!("ws://{host}{}", req.uri());
        let on_upgrade = hyper::upgrade::on(&mut req);
        let info = ws::spark_info(server, req);
        let conn = match server.open_spark(info) {
            Ok(conn) => conn,
            Err(e) => return full(StatusCode::SERVICE_UNAVAILABLE, PLAIN, e.to_string()),
        };
        let timing = self.timing();
        let server = server.clone();
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io = TokioIo::new(upgraded);
                    run_hixie76(server, io, (k1, k2), conn, timing).await;
                }
                Err(e) => conn.spark.shared.finish(
                    CloseKind::Normal,
                    Some(SparkError::Transport(format!("upgrade failed: {e}"))),
                ),
            }
        });
        let mut res = empty(StatusCode::SWITCHING_PROTOCOLS);
        let h = res.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Some(origin) = origin {
            h.insert("sec-websocket-origin", origin);
        }
        if let Ok(v) = HeaderValue::from_str(&location) {
            h.insert("sec-websocket-location", v);
        }
        res
    }

    fn timing(&self) -> Timing {
        Timing {
            heartbeat: self.settings.heartbeat_delay,
            disconnect: self.settings.disconnect_delay,
            response_limit: self.settings.response_limit,
            write_timeout: self.write_timeout,
            max_length: self.max_length,
        }
    }

    /// Attach a receiver (a response that carries frames to the client) to the session,
    /// creating the session if it is new.
    fn receiver(
        &self,
        server: &Arc<Inner>,
        req: HttpRequest,
        id: Arc<str>,
        framing: Framing,
        polling: bool,
    ) -> HttpResponse {
        let (tx, rx) = mpsc::channel::<Bytes>(BODY_CHUNKS);
        let (status, content_type): (StatusCode, &'static str) = match framing {
            Framing::EventSource => (StatusCode::OK, "text/event-stream"),
            Framing::HtmlFile(_) => (StatusCode::OK, HTML),
            _ => (StatusCode::OK, JS),
        };
        // The prelude goes out before anything else (the channel is empty here).
        let prelude: Option<Bytes> = match (&framing, polling) {
            (Framing::Xhr, false) => {
                let mut p = vec![b'h'; 2048];
                p.push(b'\n');
                Some(Bytes::from(p))
            }
            (Framing::EventSource, _) => Some(Bytes::from_static(b"\r\n")),
            (Framing::HtmlFile(cb), _) => {
                let mut page = HTMLFILE.replace("{{ callback }}", cb);
                // The reference pads the template (before the callback is filled in) to
                // 1024 bytes, then adds a blank line.
                let pad = (1024 + 13usize).saturating_sub(HTMLFILE.len());
                page.extend(std::iter::repeat_n(' ', pad));
                page.push_str("\r\n\r\n");
                Some(Bytes::from(page))
            }
            _ => None,
        };
        if let Some(p) = prelude {
            let _ = tx.try_send(p);
        }
        let receiver = Receiver {
            tx,
            framing,
            polling,
            sent: 0,
        };
        let session = {
            let mut sessions = self.sessions.lock();
            match sessions.get(&id) {
                Some(s) => s.clone(),
                None => {
                    let info = ws::spark_info(server, req);
                    let conn = match server.open_spark(info) {
                        Ok(conn) => conn,
                        Err(e) => {
                            return full(StatusCode::SERVICE_UNAVAILABLE, PLAIN, e.to_string())
                        }
                    };
                    let session = Session::start(
                        server.clone(),
                        &self.sessions,
                        id.clone(),
                        conn,
                        self.timing(),
                    );
                    sessions.insert(id.clone(), session.clone());
                    session
                }
            }
        };
        if let Err(e) = session.attach.try_send(receiver) {
            // The session is busy or gone: answer like a second receiver.
            let receiver = match e {
                mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
            };
            let frame =
                codec::close_frame(codec::ANOTHER_CONNECTION.0, codec::ANOTHER_CONNECTION.1);
            let _ = receiver.tx.try_send(receiver.framing.wrap(&frame));
        }
        let mut res = ChannelBody::response(rx);
        *res.status_mut() = status;
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        res
    }

    /// `xhr_send` / `jsonp_send`: messages from the client.
    async fn send(&self, req: HttpRequest, id: &str, jsonp: bool) -> HttpResponse {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let session = self.sessions.get(id);
        let limit = body_limit(self.max_length);
        let body = match read_body(req.into_body(), limit).await {
            Ok(b) => b,
            Err(BodyError::TooLarge { .. }) => {
                if let Some(session) = &session {
                    session.too_big(self.max_length);
                }
                return full(StatusCode::PAYLOAD_TOO_LARGE, PLAIN, "Payload too large.");
            }
            Err(BodyError::Read(_)) => {
                return full(StatusCode::BAD_REQUEST, PLAIN, "Broken request body.")
            }
        };
        let payload: Result<Bytes, PayloadError> = if jsonp {
            match content_type.as_str() {
                "application/x-www-form-urlencoded" => {
                    let form = primus_core::query::parse(&String::from_utf8_lossy(&body));
                    match form.get("d") {
                        Some(d) => Ok(Bytes::from(d.as_str().to_string())),
                        None => Err(PayloadError::Expected),
                    }
                }
                "text/plain" | "" => Ok(body),
                _ => Err(PayloadError::Expected),
            }
        } else {
            // Any content type: the protocol test suite sends text/xml too.
            Ok(body)
        };
        let messages = match payload.and_then(|p| codec::parse_messages(&p)) {
            Ok(m) => m,
            Err(e) => return full(StatusCode::INTERNAL_SERVER_ERROR, PLAIN, e.message()),
        };
        let Some(session) = session else {
            return not_found();
        };
        // Connection listeners run before the first message is handed over.
        if !session.ready.wait(self.write_timeout).await {
            return full(StatusCode::SERVICE_UNAVAILABLE, PLAIN, "Session not ready.");
        }
        for m in messages {
            if m.len() > self.max_length {
                session.too_big(self.max_length);
                return full(StatusCode::PAYLOAD_TOO_LARGE, PLAIN, "Payload too large.");
            }
            if session.spark.close_kind().is_some() {
                break;
            }
            session.spark.deliver(Frame::Text(Bytes::from(m))).await;
        }
        if jsonp {
            let mut res = full(StatusCode::OK, PLAIN, "ok");
            res.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("2"));
            res
        } else {
            let mut res = empty(StatusCode::NO_CONTENT);
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(PLAIN));
            res
        }
    }
}

fn is_iframe(name: &str) -> bool {
    name.strip_prefix("iframe")
        .and_then(|n| n.strip_suffix(".html"))
        .is_some_and(|mid| {
            mid.bytes().all(|b| {
                b.is_ascii_digit() || b.is_ascii_lowercase() || matches!(b, b'-' | b'.' | b'_')
            })
        })
}

/// The JSONP / htmlfile callback (`c` or `callback`), or the error response.
fn callback(req: &HttpRequest) -> Result<Box<str>, &'static str> {
    let query = primus_core::query::parse(req.uri().query().unwrap_or(""));
    let Some(cb) = query.get("c").or_else(|| query.get("callback")) else {
        return Err("\"callback\" parameter required");
    };
    if !codec::valid_callback(cb.as_str()) {
        return Err("invalid \"callback\" parameter");
    }
    Ok(cb.as_str().into())
}

/// CORS headers of the xhr transports and `/info`.
fn xhr_cors(req: &HeaderMap, res: &mut HttpResponse) {
    let h = res.headers_mut();
    match req.get(header::ORIGIN) {
        Some(origin) => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        None => {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(v) = req.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
    }
}

/// `Cache-Control: public, max-age=31536000` and a matching `Expires`.
fn cache_for(mut res: HttpResponse) -> HttpResponse {
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&format!("public, max-age={CACHE_FOR_SECS}"))
            .unwrap_or(HeaderValue::from_static("public")),
    );
    let expires = SystemTime::now() + Duration::from_secs(CACHE_FOR_SECS);
    if let Ok(v) = HeaderValue::from_str(&http_date(expires)) {
        h.insert(header::EXPIRES, v);
    }
    res
}

fn empty(status: StatusCode) -> HttpResponse {
    let mut res = full(status, PLAIN, Bytes::new());
    res.headers_mut().remove(header::CONTENT_TYPE);
    res
}

fn not_found() -> HttpResponse {
    full(StatusCode::NOT_FOUND, PLAIN, "404 Error: Page not found\n")
}

fn not_allowed(methods: &'static str) -> HttpResponse {
    let mut res = empty(StatusCode::METHOD_NOT_ALLOWED);
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(methods));
    res
}

/// An RFC 7231 date: `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!(
        "{weekday}, {day:02} {name} {year} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// MD5 as lowercase hex.
fn md5_hex(data: &[u8]) -> String {
    md5(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// MD5 (RFC 1321), for the iframe page's ETag (the reference's value) and the hixie-76
/// handshake.
fn md5(data: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, w) in [a0, b0, c0, d0].iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// How a receiver wraps each frame.
#[derive(Debug)]
enum Framing {
    /// `frame\n` (xhr, xhr_streaming).
    Xhr,
    /// `data: frame\r\n\r\n`.
    EventSource,
    /// `<script>\np("frame");\n</script>\r\n`.
    HtmlFile(Box<str>),
    /// `/**/cb("frame");\r\n`.
    Jsonp(Box<str>),
}

impl Framing {
    fn wrap(&self, frame: &str) -> Bytes {
        match self {
            Framing::Xhr => {
                let mut s = String::with_capacity(frame.len() + 1);
                s.push_str(frame);
                s.push('\n');
                Bytes::from(s)
            }
            Framing::EventSource => Bytes::from(format!(
                "data: {}\r\n\r\n",
                codec::escape_selected(frame, "\r\n\0")
            )),
            Framing::HtmlFile(_) => {
                let quoted = js_string(frame).replace('<', "\\u003c");
                Bytes::from(format!("<script>\np({quoted});\n</script>\r\n"))
            }
            Framing::Jsonp(cb) => Bytes::from(format!("/**/{cb}({});\r\n", js_string(frame))),
        }
    }
}

/// `JSON.stringify(s)`.
fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// An HTTP response carrying frames to the client.
#[derive(Debug)]
struct Receiver {
    tx: mpsc::Sender<Bytes>,
    framing: Framing,
    /// Ends after one frame.
    polling: bool,
    /// Frame bytes written so far (the prelude does not count).
    sent: usize,
}

/// Timers and limits a session runs with.
#[derive(Debug, Clone, Copy)]
struct Timing {
    heartbeat: Duration,
    disconnect: Duration,
    response_limit: usize,
    write_timeout: Duration,
    max_length: usize,
}

/// A session of the HTTP transports: its spark and the way in to its task.
struct Session {
    spark: Arc<SparkShared>,
    attach: mpsc::Sender<Receiver>,
    /// Set once the connection listeners have run (messages wait for it).
    ready: Ready,
}

impl Session {
    fn start(
        server: Arc<Inner>,
        sessions: &SessionMap<Session>,
        id: Arc<str>,
        conn: SparkConn,
        timing: Timing,
    ) -> Arc<Session> {
        let (attach, attach_rx) = mpsc::channel(4);
        let session = Arc::new(Session {
            spark: conn.spark.shared.clone(),
            attach,
            ready: Ready::new(),
        });
        let task = SessionTask {
            server,
            session: session.clone(),
            outgoing: conn.outgoing,
            attach: attach_rx,
            timing,
            recv: None,
            closing: None,
        };
        sessions.spawn(id, session.clone(), task.run());
        session
    }

    /// A message or body over the limits: the session ends with 1009.
    fn too_big(&self, limit: usize) {
        end_too_big(&self.spark, limit);
    }
}

/// The task that owns a session's outgoing queue, its receiver and its timers.
struct SessionTask {
    server: Arc<Inner>,
    session: Arc<Session>,
    outgoing: mpsc::Receiver<Frame>,
    attach: mpsc::Receiver<Receiver>,
    timing: Timing,
    recv: Option<Receiver>,
    /// The close frame, once the spark has ended.
    closing: Option<String>,
}

/// The close frame for how the spark ended.
fn close_frame_of(shared: &SparkShared) -> String {
    match shared.close_kind() {
        Some(CloseKind::Code(code, reason)) => codec::close_frame(code, reason),
        _ => codec::close_frame(codec::NORMAL_CLOSURE.0, codec::NORMAL_CLOSURE.1),
    }
}

impl SessionTask {
    async fn run(mut self) {
        let shared = self.session.spark.clone();
        // The first receiver is already queued: it gets the open frame.
        let Some(mut first) = self.attach.recv().await else {
            return;
        };
        // A polling receiver ends here (its body ends when it is dropped).
        if self.write(&mut first, codec::OPEN).await && !first.polling {
            self.recv = Some(first);
        } else {
            drop(first);
        }
        let spark = crate::server::Spark::from_shared(shared.clone());
        if !self.server.run_connection_listeners(&spark).await {
            // A listener failed or ended the spark: the close signal below handles it.
        }
        self.session.ready.set();
        let mut heartbeat_at = Instant::now() + self.timing.heartbeat;
        let mut disconnect_at = Instant::now() + self.timing.disconnect;
        loop {
            if self.closing.is_none() && shared.close_kind().is_some() {
                self.closing = Some(close_frame_of(&shared));
                if let Some(mut r) = self.recv.take() {
                    self.flush_all(&mut r).await;
                    let frame = self.closing.clone().unwrap_or_default();
                    self.write(&mut r, &frame).await;
                }
                disconnect_at = Instant::now() + self.timing.disconnect;
            }
            let attached = self.recv.is_some();
            let open = self.closing.is_none();
            tokio::select! {
                biased;
                r = self.attach.recv() => {
                    let Some(r) = r else { break };
                    if self.register(r).await {
                        heartbeat_at = Instant::now() + self.timing.heartbeat;
                    }
                    if self.recv.is_none() {
                        disconnect_at = Instant::now() + self.timing.disconnect;
                    }
                }
                _ = shared.close_signal.notified(), if open => {}
                frame = self.outgoing.recv(), if attached && open => {
                    let Some(frame) = frame else { continue };
                    let Some(mut r) = self.recv.take() else { continue };
                    let mut batch = vec![frame];
                    while batch.len() < MAX_BATCH {
                        match self.outgoing.try_recv() {
                            Ok(f) => batch.push(f),
                            Err(_) => break,
                        }
                    }
                    let frame = array_frame(&batch);
                    if self.write(&mut r, &frame).await && !self.done(&r) {
                        self.recv = Some(r);
                    } else {
                        disconnect_at = Instant::now() + self.timing.disconnect;
                    }
                    heartbeat_at = Instant::now() + self.timing.heartbeat;
                }
                _ = closed(self.recv.as_ref().map(|r| &r.tx)), if attached => {
                    // The client aborted the response (closed the connection): like
                    // sockjs-node, the session is interrupted at once. Receivers that
                    // come within disconnect_delay get `c[1002,"Connection interrupted"]`.
                    self.recv = None;
                    if self.closing.is_none() {
                        self.closing = Some(codec::close_frame(1002, "Connection interrupted"));
                        shared.finish(CloseKind::Normal, None);
                    }
                    disconnect_at = Instant::now() + self.timing.disconnect;
                }
                _ = sleep_until(heartbeat_at), if attached => {
                    if let Some(mut r) = self.recv.take() {
                        if self.write(&mut r, codec::HEARTBEAT).await && !self.done(&r) {
                            self.recv = Some(r);
                        } else {
                            disconnect_at = Instant::now() + self.timing.disconnect;
                        }
                    }
                    heartbeat_at = Instant::now() + self.timing.heartbeat;
                }
                _ = sleep_until(disconnect_at), if !attached => {
                    if self.closing.is_none() {
                        // The client is gone: end the spark as a lost connection.
                        shared.finish(CloseKind::Normal, None);
                    }
                    break;
                }
            }
        }
        shared.close_inbox();
    }

    /// A new receiver: the 2010 answer when one is attached, the close frame once closed,
    /// otherwise attach it and flush what is queued. True when it stays attached.
    async fn register(&mut self, mut r: Receiver) -> bool {
        if let Some(current) = &self.recv {
            if !current.tx.is_closed() {
                let frame =
                    codec::close_frame(codec::ANOTHER_CONNECTION.0, codec::ANOTHER_CONNECTION.1);
                self.write(&mut r, &frame).await;
                return false;
            }
            self.recv = None;
        }
        if let Some(close) = self.closing.clone() {
            self.flush_all(&mut r).await;
            self.write(&mut r, &close).await;
            return false;
        }
        let mut batch = Vec::new();
        while batch.len() < MAX_BATCH {
            match self.outgoing.try_recv() {
                Ok(f) => batch.push(f),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let frame = array_frame(&batch);
            if !self.write(&mut r, &frame).await || self.done(&r) {
                return false;
            }
        }
        self.recv = Some(r);
        true
    }

    /// Send everything still queued (after the spark ended).
    async fn flush_all(&mut self, r: &mut Receiver) {
        let mut batch = Vec::new();
        while let Ok(f) = self.outgoing.try_recv() {
            batch.push(f);
            if batch.len() >= self.server.options.queue_size.max(1) {
                break;
            }
        }
        if !batch.is_empty() {
            let frame = array_frame(&batch);
            self.write(r, &frame).await;
        }
    }

    /// Whether a receiver has carried all it may (polling: one frame; streaming: the
    /// response limit).
    fn done(&self, r: &Receiver) -> bool {
        r.polling || r.sent >= self.timing.response_limit
    }

    /// Write one frame to a receiver; false when the client is gone or too slow.
    async fn write(&self, r: &mut Receiver, frame: &str) -> bool {
        let bytes = r.framing.wrap(frame);
        r.sent += bytes.len();
        matches!(
            timeout(self.timing.write_timeout, r.tx.send(bytes)).await,
            Ok(Ok(()))
        )
    }
}

/// `a[...]` from queued Primus frames.
fn array_frame(frames: &[Frame]) -> String {
    codec::array_frame(frames.iter().filter_map(|f| match f {
        Frame::Text(b) => std::str::from_utf8(b).ok(),
        // Refused at start: a binary parser never runs with sockjs.
        Frame::Binary(_) => None,
    }))
}

/// Send one text frame, bounded in time.
async fn send(
    socket: &mut ws::Socket,
    limit: Duration,
    text: String,
) -> Result<Result<(), WsError>, tokio::time::error::Elapsed> {
    timeout(limit, socket.send(WsMessage::Text(text.into()))).await
}

/// A session over WebSocket: `o`, then `a[…]`/`h` frames out, JSON arrays in.
async fn run_websocket(
    server: Arc<Inner>,
    mut socket: ws::Socket,
    conn: SparkConn,
    timing: Timing,
) {
    let SparkConn {
        spark,
        mut outgoing,
    } = conn;
    let shared = spark.shared.clone();
    if !matches!(
        send(&mut socket, timing.write_timeout, codec::OPEN.to_string()).await,
        Ok(Ok(()))
    ) {
        shared.finish(CloseKind::Normal, None);
        shared.close_inbox();
        return;
    }
    let listeners_ok = server.run_connection_listeners(&spark).await;
    let mut heartbeat_at = Instant::now() + timing.heartbeat;
    // How the loop ended: None = the spark ended (send the close frame); Some(code) = the
    // connection must close with that code after finishing the spark.
    let mut close: Option<(u16, &'static str)> = None;
    let mut gone = false;
    // What the peer sent goes to the spark through the shared hand-over (async incoming
    // transforms, handlers or the stream's queue); the messages of a WebSocket message
    // not handed over yet wait in `received`. Reading pauses while either holds
    // something, but writing goes on (an application waiting to write while its inbox is
    // full cannot deadlock us).
    let mut inbound = ws::Inbound::default();
    let mut received: std::collections::VecDeque<String> = Default::default();
    if listeners_ok {
        loop {
            while !inbound.holding() {
                let Some(m) = received.pop_front() else { break };
                inbound.receive(&shared, Frame::Text(Bytes::from(m))).await;
            }
            let reading = received.is_empty() && !inbound.holding();
            tokio::select! {
                biased;
                _ = shared.close_signal.notified() => break,
                _ = inbound.release(), if inbound.holding() => {}
                frame = outgoing.recv() => {
                    let Some(frame) = frame else { break };
                    let mut batch = vec![frame];
                    while batch.len() < MAX_BATCH {
                        match outgoing.try_recv() {
                            Ok(f) => batch.push(f),
                            Err(_) => break,
                        }
                    }
                    if !matches!(send(&mut socket, timing.write_timeout, array_frame(&batch)).await, Ok(Ok(()))) {
                        gone = true;
                        break;
                    }
                    heartbeat_at = Instant::now() + timing.heartbeat;
                }
                _ = sleep_until(heartbeat_at) => {
                    if !matches!(send(&mut socket, timing.write_timeout, codec::HEARTBEAT.to_string()).await, Ok(Ok(()))) {
                        gone = true;
                        break;
                    }
                    heartbeat_at = Instant::now() + timing.heartbeat;
                }
                msg = socket.next(), if reading => {
                    let payload = match msg {
                        Some(Ok(WsMessage::Text(t))) => Bytes::from(t),
                        Some(Ok(WsMessage::Binary(b))) => b,
                        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {
                            shared.transport_pong();
                            let _ = socket.flush().await;
                            continue;
                        }
                        Some(Ok(WsMessage::Frame(_))) => continue,
                        Some(Ok(WsMessage::Close(_))) | None => { gone = true; break }
                        Some(Err(e)) => {
                            match ws::refusal(&e, timing.max_length) {
                                // The peer's fault (too large, bad UTF-8, bad framing).
                                Some(refused) => {
                                    close = Some((refused.code, refused.reason));
                                    shared.finish(
                                        CloseKind::Code(refused.code, refused.reason),
                                        Some(refused.error),
                                    );
                                }
                                None => {
                                    shared.finish(CloseKind::Normal, ws::transport_error(e));
                                    gone = true;
                                }
                            }
                            break;
                        }
                    };
                    match codec::parse_ws_message(&payload) {
                        Ok(messages) => {
                            // Checked before any is handed over: an oversized message
                            // refuses its whole WebSocket message.
                            if messages.iter().any(|m| m.len() > timing.max_length) {
                                close = Some((1009, "Max payload size exceeded"));
                                end_too_big(&shared, timing.max_length);
                                break;
                            }
                            received.extend(messages);
                        }
                        Err(_) => {
                            // sockjs-node closes a session that sends broken JSON.
                            close = Some((3000, "Broken framing."));
                            shared.finish(
                                CloseKind::Code(3000, "Broken framing."),
                                Some(SparkError::Transport("broken SockJS framing (not JSON)".into())),
                            );
                            break;
                        }
                    }
                }
            }
        }
    }
    shared.close_inbox();
    if gone {
        shared.finish(CloseKind::Normal, None);
        ws::answer_close(&mut socket).await;
        return;
    }
    // The spark ended: send what was queued before the end, the close frame, then close.
    let mut batch = Vec::new();
    while let Ok(f) = outgoing.try_recv() {
        batch.push(f);
        if batch.len() >= server.options.queue_size.max(1) {
            break;
        }
    }
    if !batch.is_empty() {
        let _ = send(&mut socket, timing.write_timeout, array_frame(&batch)).await;
    }
    // A peer that broke the protocol (bad framing, oversize) is cut off with a close
    // frame only, like sockjs-node, in a lingering close so that it sees the frame; an
    // orderly end sends the SockJS close frame first.
    let (code, reason) = match close {
        Some((code, reason)) => {
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            };
            let budget = ws::linger_budget(timing.max_length);
            // Boxed: rare, and inline it would enlarge every session's task.
            Box::pin(ws::linger_close(&mut socket, frame, budget)).await;
            return;
        }
        None => {
            let (code, reason) = match shared.close_kind() {
                Some(CloseKind::Code(code, reason)) => (code, reason),
                _ => codec::NORMAL_CLOSURE,
            };
            let frame = codec::close_frame(code, reason);
            let _ = send(&mut socket, timing.write_timeout, frame).await;
            (code, reason)
        }
    };
    let _ = timeout(CLOSE_GRACE, async {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        if socket.close(Some(frame)).await.is_err() {
            return;
        }
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
}

/// A hixie-76 key: its digits as a number, divided by its number of spaces.
fn hixie_key(key: &[u8]) -> Option<u32> {
    let digits: String = key
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|&b| b as char)
        .collect();
    let spaces = key.iter().filter(|&&b| b == b' ').count() as u64;
    let n: u64 = digits.parse().ok()?;
    if spaces == 0 || n % spaces != 0 {
        return None;
    }
    u32::try_from(n / spaces).ok()
}

/// A SockJS session over a hixie-76 WebSocket: frames are `0x00 text 0xFF`.
///
/// A legacy path kept simple: messages are delivered inline (`deliver().await`), so while
/// a Stream-consuming application's inbox is full this session neither reads nor writes.
/// RFC 6455 sessions (`run_websocket`) keep writing meanwhile.
async fn run_hixie76<S>(
    server: Arc<Inner>,
    mut io: S,
    keys: (u32, u32),
    conn: SparkConn,
    timing: Timing,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let SparkConn {
        spark,
        mut outgoing,
    } = conn;
    let shared = spark.shared.clone();
    let handshake = async {
        let mut key3 = [0u8; 8];
        io.read_exact(&mut key3).await?;
        let mut challenge = Vec::with_capacity(16);
        challenge.extend_from_slice(&keys.0.to_be_bytes());
        challenge.extend_from_slice(&keys.1.to_be_bytes());
        challenge.extend_from_slice(&key3);
        let digest = md5(&challenge);
        io.write_all(&digest).await?;
        io.write_all(b"\x00o\xff").await?;
        io.flush().await
    };
    if timeout(timing.write_timeout, handshake)
        .await
        .map(|r| r.is_ok())
        != Ok(true)
    {
        shared.finish(CloseKind::Normal, None);
        shared.close_inbox();
        return;
    }
    if !server.run_connection_listeners(&spark).await {
        let _ = io.shutdown().await;
        shared.close_inbox();
        return;
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let mut heartbeat_at = Instant::now() + timing.heartbeat;
    let max = body_limit(timing.max_length);
    let mut gone = false;
    loop {
        let out: Option<String> = tokio::select! {
            biased;
            _ = shared.close_signal.notified() => break,
            frame = outgoing.recv() => {
                let Some(frame) = frame else { break };
                let mut batch = vec![frame];
                while batch.len() < MAX_BATCH {
                    match outgoing.try_recv() {
                        Ok(f) => batch.push(f),
                        Err(_) => break,
                    }
                }
                Some(array_frame(&batch))
            }
            _ = sleep_until(heartbeat_at) => Some(codec::HEARTBEAT.to_string()),
            n = io.read(&mut chunk) => {
                match n {
                    Ok(0) | Err(_) => { gone = true; break }
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                // Complete frames: 0x00 text 0xFF; 0xFF 0x00 closes.
                let mut closed = false;
                while let Some(&first) = buf.first() {
                    if first == 0xff {
                        closed = true;
                        break;
                    }
                    let Some(end) = buf.iter().position(|&b| b == 0xff) else { break };
                    let payload: Vec<u8> = buf.drain(..=end).skip(1).take(end - 1).collect();
                    match codec::parse_ws_message(&payload) {
                        Ok(messages) => {
                            for m in messages {
                                shared.deliver(Frame::Text(Bytes::from(m))).await;
                            }
                        }
                        Err(_) => { closed = true; break }
                    }
                }
                if closed || buf.len() > max {
                    gone = true;
                    break;
                }
                None
            }
        };
        if let Some(text) = out {
            let mut frame = Vec::with_capacity(text.len() + 2);
            frame.push(0u8);
            frame.extend_from_slice(text.as_bytes());
            frame.push(0xff);
            let write = async {
                io.write_all(&frame).await?;
                io.flush().await
            };
            if timeout(timing.write_timeout, write)
                .await
                .map(|r| r.is_ok())
                != Ok(true)
            {
                gone = true;
                break;
            }
            heartbeat_at = Instant::now() + timing.heartbeat;
        }
    }
    shared.close_inbox();
    shared.finish(CloseKind::Normal, None);
    if !gone {
        let mut tail = Vec::new();
        while let Ok(f) = outgoing.try_recv() {
            tail.push(f);
        }
        let mut bytes = Vec::new();
        if !tail.is_empty() {
            bytes.push(0u8);
            bytes.extend_from_slice(array_frame(&tail).as_bytes());
            bytes.push(0xff);
        }
        let close = match shared.close_kind() {
            Some(CloseKind::Code(code, reason)) => codec::close_frame(code, reason),
            _ => codec::close_frame(codec::NORMAL_CLOSURE.0, codec::NORMAL_CLOSURE.1),
        };
        bytes.push(0u8);
        bytes.extend_from_slice(close.as_bytes());
        bytes.extend_from_slice(&[0xff, 0xff, 0x00]);
        let _ = timeout(CLOSE_GRACE, async {
            io.write_all(&bytes).await?;
            io.shutdown().await
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A server half with short timers, driven in process (no TCP).
    fn quick(settings: Settings) -> (crate::Primus, Server) {
        let options = Options::default().transformer("sockjs").ping_interval(None);
        let primus = crate::Primus::new(options.clone()).unwrap();
        (primus, Server::with_settings(&options, settings))
    }

    fn request(method: Method, uri: &str, headers: &[(&str, &str)], body: &str) -> HttpRequest {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let body = http_body_util::Full::new(Bytes::from(body.to_string()))
            .map_err(|e| match e {})
            .boxed_unsync();
        b.body(body).unwrap()
    }

    /// The next body chunk as text, or `None` at the end of the body.
    async fn chunk(res: &mut HttpResponse) -> Option<String> {
        let frame = timeout(Duration::from_secs(5), res.body_mut().frame())
            .await
            .expect("a chunk in time")?
            .ok()?;
        Some(String::from_utf8(frame.into_data().ok()?.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn heartbeats_jsessionid_and_expiry() {
        let (primus, t) = quick(Settings {
            heartbeat_delay: Duration::from_millis(50),
            disconnect_delay: Duration::from_millis(200),
            jsessionid: true,
            ..Settings::default()
        });
        let inner = &primus.inner;
        let mut res = t
            .handle(
                inner,
                request(
                    Method::POST,
                    "/primus/1/a/xhr_streaming",
                    &[("cookie", "x=1; JSESSIONID=abc")],
                    "",
                ),
            )
            .await;
        assert_eq!(res.headers()["set-cookie"], "JSESSIONID=abc; path=/");
        assert_eq!(chunk(&mut res).await.unwrap().len(), 2049);
        assert_eq!(chunk(&mut res).await.unwrap(), "o\n");
        // Silence: `h` frames every heartbeat_delay.
        assert_eq!(chunk(&mut res).await.unwrap(), "h\n");
        assert_eq!(chunk(&mut res).await.unwrap(), "h\n");
        assert_eq!(t.session_count(), 1);
        // Without a cookie the value is `dummy`; /info says a cookie is needed.
        let info = t
            .handle(inner, request(Method::GET, "/primus/info", &[], ""))
            .await;
        let body = info.into_body().collect().await.unwrap().to_bytes();
        assert!(std::str::from_utf8(&body)
            .unwrap()
            .contains("\"cookie_needed\":true"));
        let poll = t
            .handle(inner, request(Method::POST, "/primus/1/b/xhr", &[], ""))
            .await;
        assert_eq!(poll.headers()["set-cookie"], "JSESSIONID=dummy; path=/");
        drop(poll);
        assert_eq!(t.session_count(), 2);
        assert_eq!(primus.connected(), 2);
        // The client goes away mid-stream: both sessions expire after disconnect_delay.
        drop(res);
        let deadline = Instant::now() + Duration::from_secs(3);
        while (t.session_count() > 0 || primus.connected() > 0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!((t.session_count(), primus.connected()), (0, 0));
    }

    #[tokio::test]
    async fn small_response_limit_cycles_streaming_responses() {
        let (primus, t) = quick(Settings {
            response_limit: 100,
            ..Settings::default()
        });
        let inner = &primus.inner;
        let mut res = t
            .handle(
                inner,
                request(Method::POST, "/primus/1/c/xhr_streaming", &[], ""),
            )
            .await;
        chunk(&mut res).await; // prelude
        assert_eq!(chunk(&mut res).await.unwrap(), "o\n");
        let spark = primus.inner.sparks().pop().unwrap();
        spark.write(&"y".repeat(150)).unwrap();
        let frame = chunk(&mut res).await.unwrap();
        assert!(frame.starts_with("a["));
        assert_eq!(chunk(&mut res).await, None, "ended past the response limit");
        // The session lives on: the next receiver gets what comes next, no `o` again.
        let mut next = t
            .handle(
                inner,
                request(Method::POST, "/primus/1/c/xhr_streaming", &[], ""),
            )
            .await;
        chunk(&mut next).await; // prelude
        spark.write(&"z").unwrap();
        assert_eq!(chunk(&mut next).await.unwrap(), "a[\"\\\"z\\\"\"]\n");
        // Disabled websockets: /info says so and the endpoints are 404.
        let (primus, t) = quick(Settings {
            websocket: false,
            ..Settings::default()
        });
        let info = t
            .handle(&primus.inner, request(Method::GET, "/primus/info", &[], ""))
            .await;
        let body = info.into_body().collect().await.unwrap().to_bytes();
        assert!(std::str::from_utf8(&body)
            .unwrap()
            .contains("\"websocket\":false"));
        let ws = t
            .handle(
                &primus.inner,
                request(Method::GET, "/primus/1/d/websocket", &[], ""),
            )
            .await;
        assert_eq!(ws.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn md5_matches_known_vectors() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            md5_hex(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn iframe_names() {
        assert!(is_iframe("iframe.html"));
        assert!(is_iframe("iframe-1.2.3.html"));
        assert!(is_iframe("iframe-a_b.html"));
        assert!(!is_iframe("iframeA.html"));
        assert!(!is_iframe("frame.html"));
    }

    #[test]
    fn htmlfile_prelude_is_padded_like_the_reference() {
        // The reference pads the template to 1024 + 13 bytes before filling in the
        // callback, then adds a blank line.
        let pad = (1024 + 13usize).saturating_sub(HTMLFILE.len());
        assert!(pad > 0);
        assert_eq!(HTMLFILE.len() + pad, 1037);
    }

    #[test]
    fn frames_are_wrapped_per_transport() {
        assert_eq!(&Framing::Xhr.wrap("o")[..], b"o\n");
        assert_eq!(
            &Framing::EventSource.wrap("a[\"\\r\\n\"]%")[..],
            b"data: a[\"\\r\\n\"]%25\r\n\r\n"
        );
        assert_eq!(
            &Framing::Jsonp("cb".into()).wrap("a[\"x\"]")[..],
            b"/**/cb(\"a[\\\"x\\\"]\");\r\n"
        );
        assert_eq!(
            &Framing::HtmlFile("cb".into()).wrap("a[\"</script>\"]")[..],
            b"<script>\np(\"a[\\\"\\u003c/script>\\\"]\");\n</script>\r\n"
        );
    }
}
