//! The "raw engine" baseline: a minimal echo server on plain tokio-tungstenite.
//!
//! It uses the library's default `WebSocketConfig` on purpose; the comparison asks what
//! primus-rs costs on top of the engine it is built on. To do the same heartbeat work as a
//! Primus server it sends `"primus::ping::<ms>"` every ping interval and closes a connection
//! that did not answer the previous ping, like Primus (protocol.md §2.3). Unlike Primus it
//! keeps one timer per connection instead of one global timer.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::heartbeat;

/// Listen backlog (Node uses 511; 1024 is tokio's documented example value).
const BACKLOG: u32 = 1024;

/// Binds `127.0.0.1:<port>`, prints `listening <port>` and serves forever.
///
/// `ping_interval` of zero turns the heartbeat off.
pub async fn serve(port: u16, ping_interval: Duration) -> std::io::Result<()> {
    // An explicit backlog: `TcpListener::bind` gets 128 here, which overflows (and costs
    // one-second SYN retries) when thousands of connections arrive at once.
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    let listener = socket.listen(BACKLOG)?;
    let bound = listener.local_addr()?.port();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {bound}")?;
        out.flush()?;
    }
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, ping_interval));
            }
            Err(err) => {
                // Typically EMFILE: back off instead of spinning, and keep serving.
                eprintln!("raw-echo: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// One WebSocket connection: echo data frames, send pings, take pongs.
async fn connection(stream: TcpStream, ping_interval: Duration) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    // With the heartbeat off the timer still exists but effectively never fires.
    let period = if ping_interval.is_zero() {
        Duration::from_secs(365 * 24 * 3600)
    } else {
        ping_interval
    };
    let mut ticker = interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut alive = true;
    loop {
        tokio::select! {
            msg = ws.next() => {
                let reply = match msg {
                    Some(Ok(Message::Text(text))) => {
                        if heartbeat::is_pong(&text) {
                            alive = true;
                            continue;
                        }
                        Message::Text(text)
                    }
                    Some(Ok(Message::Binary(data))) => Message::Binary(data),
                    // Control frames are answered by tungstenite itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                if ws.send(reply).await.is_err() {
                    break;
                }
            }
            _ = ticker.tick() => {
                if !alive {
                    break;
                }
                alive = false;
                if ws.send(Message::text(heartbeat::ping_frame_now())).await.is_err() {
                    break;
                }
            }
        }
    }
}
