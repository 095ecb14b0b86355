//! Opening WebSocket client connections to a local server.
//!
//! Only loopback targets (`127.0.0.0/8`, `localhost`) are accepted. When the kernel runs out
//! of ephemeral ports for one source address (`EADDRNOTAVAIL`), later connections bind their
//! socket to other loopback source addresses (127.0.0.2, 127.0.0.3, …).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

/// A client WebSocket over plain TCP.
pub type Ws = WebSocketStream<TcpStream>;

/// How many extra loopback source addresses to spread connections over after `EADDRNOTAVAIL`.
const SOURCE_ADDRESSES: u32 = 16;

/// A parsed `ws://127.x.y.z:port/path` target plus the connection settings shared by all
/// connections of a run.
#[derive(Debug, Clone)]
pub struct Target {
    url: String,
    addr: SocketAddrV4,
    config: WebSocketConfig,
    use_aliases: Arc<AtomicBool>,
}

impl Target {
    /// Parses `url`, which must be `ws://<loopback host>:<port>[/path]`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("{url}: only ws:// URLs are supported"))?;
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| format!("{url}: the URL needs an explicit port"))?;
        let port: u16 = port.parse().map_err(|_| format!("{url}: bad port"))?;
        let ip = if host == "localhost" {
            Ipv4Addr::LOCALHOST
        } else {
            host.parse::<Ipv4Addr>()
                .map_err(|_| format!("{url}: host must be an IPv4 loopback address"))?
        };
        if !ip.is_loopback() {
            return Err(format!("{url}: only 127.0.0.0/8 targets are allowed"));
        }
        // The generator may hold thousands of sockets: keep its own buffers small so that
        // its memory does not matter (the servers keep whatever their defaults are).
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        Ok(Target {
            url: url.to_string(),
            addr: SocketAddrV4::new(ip, port),
            config,
            use_aliases: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The URL connections go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Opens connection number `index` and completes the WebSocket handshake.
    pub async fn connect(&self, index: usize) -> Result<Ws, String> {
        let stream = self.tcp(index).await.map_err(|e| format!("tcp: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (ws, _response) = tokio_tungstenite::client_async_with_config(
            self.url.as_str(),
            stream,
            Some(self.config),
        )
        .await
        .map_err(|e| format!("handshake: {e}"))?;
        Ok(ws)
    }

    async fn tcp(&self, index: usize) -> io::Result<TcpStream> {
        if !self.use_aliases.load(Ordering::Relaxed) {
            match TcpSocket::new_v4()?.connect(self.addr.into()).await {
                Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {
                    if !self.use_aliases.swap(true, Ordering::Relaxed) {
                        eprintln!(
                            "  out of ephemeral ports on 127.0.0.1: binding to 127.0.0.2..{}",
                            SOURCE_ADDRESSES + 1
                        );
                    }
                }
                other => return other,
            }
        }
        let alias = Ipv4Addr::new(127, 0, 0, 2 + (index as u32 % SOURCE_ADDRESSES) as u8);
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((alias, 0)))?;
        socket.connect(self.addr.into()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loopback_only() {
        let t = Target::parse("ws://127.0.0.1:8080/primus").unwrap();
        assert_eq!(t.addr.port(), 8080);
        assert!(Target::parse("ws://localhost:1/").is_ok());
        assert!(Target::parse("ws://10.0.0.1:80/").is_err());
        assert!(Target::parse("ws://127.0.0.1/").is_err());
        assert!(Target::parse("http://127.0.0.1:80/").is_err());
    }
}
