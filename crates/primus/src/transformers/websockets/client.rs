//! Client half of the `websockets` transformer: one Primus frame per WebSocket message,
//! over tokio-tungstenite.
//!
//! The URL follows the reference (`primus.js` `uri()`, protocol.md §1.2):
//! `ws(s)://[user:pass@]host[:port]<pathname>?<original query>&_primuscb=<yeast id>`.
//! The original query is re-encoded the way the reference's `querystringify` does it
//! (first value of a repeated key wins, `_primuscb` replaced), and the cache buster is new
//! on every connection attempt.
//!
//! The `faye` transformer's client is this transport too, closing with 1000, and so is
//! the `uws` (`lws`) transformer's.
//!
//! The cache buster and `yeast` ids serve the other transports too, so this module is
//! built whatever the features; without `websockets`, `faye` and `uws` only they are used.
#![cfg_attr(
    not(any(feature = "websockets", feature = "faye", feature = "uws")),
    allow(dead_code, unused_imports)
)]

use crate::client::net::{self, BoxedIo};
use crate::client::url::{encode_uri_component, percent_decode, Endpoint};
use crate::client::{ClientError, ClientOptions};
use futures_util::{SinkExt, StreamExt};
use primus_core::Frame;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// An open WebSocket connection to a Primus server.
#[derive(Debug)]
pub(crate) struct Connection {
    ws: WebSocketStream<BoxedIo>,
    /// The status code of our close frame (`None`: no code).
    close_code: Option<u16>,
}

/// Open a connection: TCP (+TLS), then the WebSocket upgrade on the Primus URL. The
/// client's close frames carry `close_code` (`None`: no code, like `ws`; `faye`: 1000).
pub(crate) async fn connect(
    endpoint: &Endpoint,
    options: &ClientOptions,
    close_code: Option<u16>,
) -> Result<Connection, ClientError> {
    let url = url(endpoint, &options.pathname, &yeast());
    let uri: http::Uri = url
        .parse()
        .map_err(|e| ClientError::InvalidUrl(format!("`{url}`: {e}")))?;
    let mut request = uri
        .into_client_request()
        .map_err(|e| ClientError::InvalidUrl(format!("`{url}`: {e}")))?;
    let headers = request.headers_mut();
    if let Some(auth) = endpoint.basic_auth() {
        let value = auth
            .parse()
            .map_err(|_| ClientError::InvalidUrl("credentials in the URL".into()))?;
        headers.insert(http::header::AUTHORIZATION, value);
    }
    for (name, value) in &options.transport.websockets.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| ClientError::InvalidOptions(format!("header name `{name}`: {e}")))?;
        let value = http::HeaderValue::from_str(value)
            .map_err(|e| ClientError::InvalidOptions(format!("header `{name}` value: {e}")))?;
        headers.append(name, value);
    }
    let ws_options = &options.transport.websockets;
    let config = WebSocketConfig::default()
        .max_message_size(ws_options.max_message_size)
        .max_frame_size(ws_options.max_frame_size);
    let io = net::connect(endpoint, options).await?;
    let (ws, _response) = tokio_tungstenite::client_async_with_config(request, io, Some(config))
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    Ok(Connection { ws, close_code })
}

impl Connection {
    /// The next Primus frame; `None` when the connection closed. WebSocket control frames
    /// are handled here (tungstenite answers pings by itself). Cancel safe.
    pub(crate) async fn recv(&mut self) -> Option<Result<Frame, ClientError>> {
        loop {
            let message = match self.ws.next().await? {
                Ok(m) => m,
                Err(e) => return Some(Err(ClientError::Transport(e.to_string()))),
            };
            match message {
                WsMessage::Text(text) => return Some(Ok(Frame::Text(text.into()))),
                WsMessage::Binary(bytes) => return Some(Ok(Frame::Binary(bytes))),
                WsMessage::Close(_) => return None,
                WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => continue,
            }
        }
    }

    /// Queue a frame for sending (call [`flush`](Self::flush) after a batch).
    pub(crate) async fn feed(&mut self, frame: Frame) -> Result<(), ClientError> {
        let message = match frame {
            Frame::Text(bytes) => WsMessage::Text(
                Utf8Bytes::try_from(bytes).map_err(|e| ClientError::Encode(e.to_string()))?,
            ),
            Frame::Binary(bytes) => WsMessage::Binary(bytes),
        };
        self.ws
            .feed(message)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    /// Write out everything fed so far.
    pub(crate) async fn flush(&mut self) -> Result<(), ClientError> {
        self.ws
            .flush()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    /// Send a close frame, without a status code as the reference client (`ws`) does, or
    /// with the transformer's (`faye`: 1000); [`recv`](Self::recv) goes on yielding what the
    /// server sends before its own close frame, then `None`.
    pub(crate) async fn begin_close(&mut self) {
        let frame = self.close_code.map(|code| CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        });
        let _ = self.ws.close(frame).await;
    }

    /// Close (the same close frame; whatever still arrives is not read).
    pub(crate) async fn close(&mut self) {
        self.begin_close().await;
    }
}

/// The connection URL for the websockets transformer.
pub(crate) fn url(endpoint: &Endpoint, pathname: &str, cache_buster: &str) -> String {
    let scheme = if endpoint.secure { "wss" } else { "ws" };
    let auth = endpoint
        .userinfo
        .as_deref()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let query = query_with_cache_buster(endpoint.query.as_deref().unwrap_or(""), cache_buster);
    format!("{scheme}://{auth}{}{pathname}?{query}", endpoint.host)
}

/// The reference's `querystringify(Object.assign(querystring(q), {_primuscb}))`.
pub(crate) fn query_with_cache_buster(query: &str, cache_buster: &str) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in query.split('&') {
        // The reference's regex: /([^=?#&]+)=?([^&]*)/ -- a key needs at least one char.
        let part = part.trim_start_matches(['?', '#', '=']);
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        if key.is_empty() || key.contains(['?', '#']) {
            continue;
        }
        let (Some(key), Some(value)) = (percent_decode(key), percent_decode(value)) else {
            continue;
        };
        if pairs.iter().any(|(k, _)| *k == key) {
            continue;
        }
        pairs.push((key, value));
    }
    match pairs.iter_mut().find(|(k, _)| k == "_primuscb") {
        Some(pair) => pair.1 = cache_buster.to_string(),
        None => pairs.push(("_primuscb".to_string(), cache_buster.to_string())),
    }
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_uri_component(k), encode_uri_component(v)))
        .collect();
    encoded.join("&")
}

/// `yeast()`: the current time in milliseconds in base 64 (`0-9A-Za-z-_`), with `.<n>`
/// added when several ids are made in the same millisecond.
pub(crate) fn yeast() -> String {
    static LAST: Mutex<(u64, u32)> = Mutex::new((0, 0));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let id = yeast_encode(now);
    if last.0 == now {
        last.1 += 1;
        format!("{id}.{}", yeast_encode(u64::from(last.1 - 1)))
    } else {
        *last = (now, 0);
        id
    }
}

fn yeast_encode(mut n: u64) -> String {
    const ALPHABET: &[u8; 64] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
    let mut out = Vec::new();
    loop {
        out.push(ALPHABET[(n % 64) as usize]);
        n /= 64;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_reference_url() {
        let e = Endpoint::parse("http://localhost:8080/ignored/path?foo=bar&x=1").unwrap();
        assert_eq!(
            url(&e, "/primus", "Q80QNEr"),
            "ws://localhost:8080/primus?foo=bar&x=1&_primuscb=Q80QNEr"
        );
        let e = Endpoint::parse("https://user:pw@example.com").unwrap();
        assert_eq!(
            url(&e, "/rt", "abc"),
            "wss://user:pw@example.com/rt?_primuscb=abc"
        );
        let e = Endpoint::parse("ws://[::1]:9/").unwrap();
        assert_eq!(url(&e, "/primus", "a"), "ws://[::1]:9/primus?_primuscb=a");
    }

    #[test]
    fn query_is_passed_through_like_querystringify() {
        assert_eq!(query_with_cache_buster("", "cb"), "_primuscb=cb");
        assert_eq!(
            query_with_cache_buster("a=1&a=2&b", "cb"),
            "a=1&b=&_primuscb=cb"
        );
        assert_eq!(
            query_with_cache_buster("_primuscb=old&z=a+b%20c", "cb"),
            "_primuscb=cb&z=a%20b%20c"
        );
        assert_eq!(
            query_with_cache_buster("bad=%FF&ok=%C3%A9", "cb"),
            "ok=%C3%A9&_primuscb=cb"
        );
        assert_eq!(
            query_with_cache_buster("&&=x&k=v=w", "cb"),
            "x=&k=v%3Dw&_primuscb=cb"
        );
    }

    #[test]
    fn yeast_ids_are_base64_time_and_unique() {
        assert_eq!(yeast_encode(0), "0");
        assert_eq!(yeast_encode(64), "10");
        assert_eq!(yeast_encode(63), "_");
        let ids: Vec<String> = (0..50).map(|_| yeast()).collect();
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        assert!(ids.iter().all(|id| id.len() >= 7));
    }
}
