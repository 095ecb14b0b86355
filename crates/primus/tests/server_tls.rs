//! The standalone server over HTTPS (rustls, PEM cert/key paths): `wss://` upgrades,
//! sparks marked secure, `/spec` over TLS, clear errors for bad key material, and a
//! non-TLS client not disturbing the server.
//!
//! Fixtures in `tests/server_tls/`: a test CA (`ca.pem`) and a leaf for `localhost` and
//! 127.0.0.1 (`cert.pem`, `key.pem`), valid until 2126. Made with:
//!
//! ```text
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
//!   -subj "/CN=primus-rs test CA" -addext basicConstraints=critical,CA:TRUE \
//!   -addext keyUsage=critical,keyCertSign -keyout ca.key -out ca.pem
//! openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
//!   -keyout key.pem -out leaf.csr
//! openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 36500 \
//!   -extfile ext.cnf -out cert.pem   # ext.cnf: CA:FALSE, serverAuth, SAN localhost + 127.0.0.1
//! ```
#![cfg(feature = "tls")]

mod server_support;

use primus::{Primus, PrimusError};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use server_support::*;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/server_tls")
        .join(name)
}

/// Serve `primus` over TLS with the fixture certificate.
async fn start_tls(primus: Primus) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let running = primus::Server::bind(primus, "127.0.0.1:0".parse().unwrap())
        .tls(fixture("cert.pem"), fixture("key.pem"))
        .start()
        .await
        .expect("TLS server starts");
    let addr = running.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(running.run_until(async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// A TLS client trusting the fixture CA.
async fn tls_connect(addr: SocketAddr) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(fixture("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    within(
        "the TLS handshake",
        connector.connect(ServerName::IpAddress(addr.ip().into()), tcp),
    )
    .await
    .expect("TLS handshake")
}

/// Read until `\r\n\r\n` and return the head as text (and anything after it).
async fn read_head(s: &mut (impl AsyncRead + Unpin)) -> (String, Vec<u8>) {
    within("a response head", async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let rest = buf[i + 4..].to_vec();
                return (String::from_utf8_lossy(&buf[..i]).into_owned(), rest);
            }
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed early");
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
}

async fn read_exact_within(s: &mut (impl AsyncRead + Unpin), pre: &mut Vec<u8>, n: usize) {
    within("frame bytes", async {
        let mut chunk = [0u8; 1024];
        while pre.len() < n {
            let got = s.read(&mut chunk).await.unwrap();
            assert!(got > 0, "closed early");
            pre.extend_from_slice(&chunk[..got]);
        }
    })
    .await
}

async fn ws_handshake(s: &mut (impl AsyncRead + AsyncWrite + Unpin), addr: SocketAddr) -> Vec<u8> {
    s.write_all(
        format!(
            "GET /primus HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (head, rest) = read_head(s).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains(WS_ACCEPT), "{head}");
    rest
}

#[tokio::test]
async fn wss_upgrade_echo_and_secure_address() {
    let primus = Primus::new(quiet()).unwrap();
    echo(&primus);
    let mut new_sparks = sparks(&primus);
    let (addr, _stop) = start_tls(primus.clone()).await;

    let mut tls = tls_connect(addr).await;
    let mut buf = ws_handshake(&mut tls, addr).await;
    let spark = next_spark(&mut new_sparks).await;
    assert!(spark.address().secure, "a TLS connection is secure");
    assert!(spark.info().peer.secure, "the TCP peer came over TLS");

    tls.write_all(&masked_frame(0x1, br#"{"a":1}"#))
        .await
        .unwrap();
    read_exact_within(&mut tls, &mut buf, 9).await;
    assert_eq!(&buf[..9], b"\x81\x07{\"a\":1}");
}

#[tokio::test]
async fn spec_over_https() {
    let (addr, _stop) = start_tls(Primus::new(quiet()).unwrap()).await;
    let mut tls = tls_connect(addr).await;
    tls.write_all(
        format!("GET /primus/spec HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut all = Vec::new();
    // The server may end TLS without close_notify after `Connection: close`; what
    // arrived before counts.
    let _ = within("the response", tls.read_to_end(&mut all)).await;
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.ends_with(r#""parser":"json","transformer":"websockets"}"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_plain_client_on_the_tls_port_does_not_disturb_the_server() {
    let primus = Primus::new(quiet()).unwrap();
    echo(&primus);
    let (addr, _stop) = start_tls(primus).await;
    // Plain HTTP to the TLS port: the TLS handshake fails, the connection is dropped.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /primus/spec HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = within("the server to drop it", plain.read_to_end(&mut sink)).await;
    assert!(!sink.starts_with(b"HTTP/1.1 200"));
    // TLS clients are still served.
    let mut tls = tls_connect(addr).await;
    let mut buf = ws_handshake(&mut tls, addr).await;
    tls.write_all(&masked_frame(0x1, b"1")).await.unwrap();
    read_exact_within(&mut tls, &mut buf, 3).await;
    assert_eq!(&buf[..3], b"\x81\x011");
}

async fn start_err(cert: PathBuf, key: PathBuf) -> String {
    let err = primus::Server::bind(
        Primus::new(quiet()).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .tls(cert, key)
    .start()
    .await
    .expect_err("refused");
    match err {
        PrimusError::Tls(msg) => msg,
        other => panic!("expected PrimusError::Tls, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_or_wrong_key_material_is_a_clear_error() {
    let msg = start_err(fixture("nope.pem"), fixture("key.pem")).await;
    assert!(msg.contains("nope.pem"), "names the file: {msg}");

    let msg = start_err(fixture("cert.pem"), fixture("missing-key.pem")).await;
    assert!(msg.contains("missing-key.pem"), "names the file: {msg}");

    // A key file given as the certificate: no certificate in it.
    let msg = start_err(fixture("key.pem"), fixture("key.pem")).await;
    assert!(msg.contains("key.pem"), "{msg}");

    // A certificate given as the key.
    let msg = start_err(fixture("cert.pem"), fixture("cert.pem")).await;
    assert!(msg.contains("cert.pem"), "{msg}");
}

#[tokio::test]
async fn a_key_that_does_not_match_the_certificate_is_refused() {
    // The CA's certificate with the leaf's key.
    let msg = start_err(fixture("ca.pem"), fixture("key.pem")).await;
    assert!(!msg.is_empty());
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_client_stuck_before_its_tls_handshake() {
    // A client that opens TCP and never sends a ClientHello: graceful shutdown should stop
    // at once (as it does for an idle plain-HTTP connection), not wait the full grace.
    let primus = Primus::new(quiet()).unwrap();
    let running = primus::Server::bind(primus, "127.0.0.1:0".parse().unwrap())
        .tls(fixture("cert.pem"), fixture("key.pem"))
        .start()
        .await
        .unwrap();
    let addr = running.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(running.run_until(async {
        let _ = stopped.await;
    }));
    let _silent = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    drop(stop);
    within_for(std::time::Duration::from_secs(10), "run_until", task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
}
