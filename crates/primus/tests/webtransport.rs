//! The `webtransport` transformer: our Rust client against our server (the standalone
//! `Server`, which runs the UDP endpoint beside HTTP), plus a raw wtransport client where
//! the wire matters. Open, messages both ways (text, binary parser, 1 MB), id, query,
//! headers and address, heartbeat, the server's end with and without reconnect, a server
//! restart (a new self-signed certificate, found again through the published hash),
//! authorization on the CONNECT, an oversized frame (1009), 100 concurrent clients, the
//! endpoint's description, an embedded endpoint, and the HTTPS certificate on UDP.
#![cfg(feature = "webtransport")]

use futures_util::StreamExt;
use primus::client::{Client, ClientError, ClientEvent, ClientOptions};
use primus::http;
use primus::middleware::AuthError;
use primus::transformers::webtransport::{
    EndpointInfo, WebTransportClientOptions, WebTransportEndpoint, WebTransportIdentity,
};
use primus::{Options, Primus, Server};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::time::timeout;

mod client_support;
mod server_support;
use client_support::{
    echo_all, echo_scenario, end_with_reconnect_scenario, fast, next_json, serve,
    server_end_scenario, wait_connected, wait_event, WAIT,
};
use server_support::{contract_server, http_get};

fn webtransport() -> Options {
    Options::default()
        .transformer("webtransport")
        .ping_interval(None)
}

/// Client options trusting the hash the server publishes.
fn options() -> ClientOptions {
    let mut o = fast("webtransport");
    o.transport.webtransport = WebTransportClientOptions::default().trust_published_hashes(true);
    o
}

#[tokio::test]
async fn opens_exchanges_messages_and_ends_on_the_servers_end() {
    let server = contract_server(webtransport());
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    let info = server
        .webtransport_endpoint()
        .expect("the endpoint is published");
    assert_eq!(info.port, addr.port(), "UDP on the TCP port number");
    assert_eq!(info.certificate_hashes.len(), 1, "self-signed: its hash");

    let mut o = options();
    o.transport.webtransport = o.transport.webtransport.header("x-token", "t0k");
    let mut client = Client::new(&format!("http://{addr}/?room=lobby&n=1"), o).unwrap();
    let info = echo_scenario(&mut client, 500, true).await;
    assert_eq!(info["headers"]["x-token"], "t0k");
    assert_eq!(info["address"], "127.0.0.1");
    assert_eq!(info["secure"], true);
    server_end_scenario(&mut client).await;
    wait_connected(&server, 0).await;
}

#[tokio::test]
async fn the_binary_parser_and_a_1_mb_message() {
    let server = contract_server(webtransport().parser("binary"));
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    let mut client = Client::from_server(&server, &format!("http://{addr}"), options()).unwrap();
    let values = [
        json!("hello"),
        json!({"bin": [0, 255, 13, 10, 0]}),
        json!(-1.5),
    ];
    echo_all(&mut client, &values).await;
    let big = "x".repeat(1024 * 1024);
    let started = Instant::now();
    client.write(&big).unwrap();
    assert_eq!(next_json(&mut client).await, json!(big));
    eprintln!("1 MB echoed in {:?}", started.elapsed());
    client.end();
}

#[tokio::test]
async fn heartbeats_flow_and_keep_the_connection() {
    let server = contract_server(webtransport().ping_interval(Some(Duration::from_millis(200))));
    let beats = Arc::new(Mutex::new(0usize));
    {
        let beats = beats.clone();
        server.on_connection(move |spark| {
            let beats = beats.clone();
            spark.on_heartbeat(move |_| *beats.lock().unwrap() += 1);
        });
    }
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    // From the server: the client expects a ping every 300 ms at most.
    let client = Client::from_server(&server, &format!("http://{addr}"), options()).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        *beats.lock().unwrap() >= 4,
        "pongs seen: {}",
        beats.lock().unwrap()
    );
    assert_eq!(server.connected(), 1);
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, ClientEvent::Offline | ClientEvent::Close)),
        "{seen:?}"
    );
    client.end();
}

#[tokio::test]
async fn end_with_reconnect_and_a_server_restart() {
    let first = contract_server(webtransport());
    let (addr, stop, task) = serve(&first, "127.0.0.1:0".parse().unwrap()).await;
    let old_hash = first.webtransport_endpoint().unwrap().certificate_hashes;
    let mut client = Client::new(&format!("http://{addr}"), options()).unwrap();
    let mut events = client.events();
    end_with_reconnect_scenario(&mut client).await;

    // A graceful shutdown ends the sparks with reconnect; the next server has a new
    // self-signed certificate, which the client learns from its description.
    drop(stop);
    timeout(WAIT, task).await.unwrap().unwrap().unwrap();
    assert_eq!(first.webtransport_endpoint(), None, "withdrawn at shutdown");
    wait_event(&mut events, "reconnect scheduled", |e| {
        matches!(e, ClientEvent::ReconnectScheduled(_))
    })
    .await;
    let again = contract_server(webtransport());
    let (_, _stop, _task) = serve(&again, addr).await;
    assert_ne!(
        again.webtransport_endpoint().unwrap().certificate_hashes,
        old_hash
    );
    wait_event(&mut events, "reconnected", |e| {
        matches!(e, ClientEvent::Reconnected(_))
    })
    .await;
    client.write("after restart").unwrap();
    assert_eq!(next_json(&mut client).await, json!("after restart"));
    assert_eq!(again.connected(), 1);
    client.end();
    wait_connected(&again, 0).await;
}

#[tokio::test]
async fn authorization_applies_to_the_connect() {
    let server = contract_server(webtransport());
    server.authorize(|req| {
        let ok = req
            .headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer good");
        let connect = req.method == http::Method::CONNECT;
        async move {
            match ok {
                true => Ok(()),
                false if connect => Err(AuthError::new("no").status(http::StatusCode::FORBIDDEN)),
                false => Err(AuthError::new("no")),
            }
        }
    });
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    let hash = server.webtransport_endpoint().unwrap().certificate_hashes[0];
    // The hash given: no description lookup, the CONNECT itself is refused.
    let refused = |token: Option<&str>| {
        let mut o = options();
        o.strategy = primus::client::Strategy::NONE;
        let mut wt = WebTransportClientOptions::default().certificate_hash(hash);
        if let Some(t) = token {
            wt = wt.header("authorization", format!("Bearer {t}"));
        }
        o.transport.webtransport = wt;
        Client::new(&format!("http://{addr}"), o).unwrap()
    };
    let client = refused(Some("bad"));
    let mut events = client.events();
    let seen = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(
        seen.iter().any(
            |e| matches!(e, ClientEvent::Error(ClientError::Connect(m)) if m.contains("rejected"))
        ),
        "{seen:?}"
    );
    assert!(!seen.iter().any(|e| matches!(e, ClientEvent::Open)));
    assert_eq!(server.connected(), 0);
    // The description is under the pathname too: refused with 401 before any UDP.
    let mut o = options();
    o.strategy = primus::client::Strategy::NONE;
    let client = Client::new(&format!("http://{addr}"), o).unwrap();
    let mut events = client.events();
    let seen = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(
        seen.iter()
            .any(|e| matches!(e, ClientEvent::Error(ClientError::Connect(m)) if m.contains("401"))),
        "{seen:?}"
    );
    // With the token, both pass.
    let mut o = options();
    o.transport.webtransport = o
        .transport
        .webtransport
        .header("authorization", "Bearer good");
    let mut client = Client::new(&format!("http://{addr}"), o).unwrap();
    client.write("let in").unwrap();
    assert_eq!(next_json(&mut client).await, json!("let in"));
    let c2 = refused(Some("good"));
    let mut events = c2.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    client.end();
    c2.end();
}

#[tokio::test]
async fn an_oversized_frame_ends_the_spark_and_the_client_comes_back() {
    let server = contract_server(webtransport().max_length(1000));
    let errors = spark_errors(&server);
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    let mut client = Client::new(&format!("http://{addr}"), options()).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    client.write(&"y".repeat(2000)).unwrap();
    wait_event(&mut events, "reconnected", |e| {
        matches!(e, ClientEvent::Reconnected(_))
    })
    .await;
    assert_reported(&errors, "Max payload size exceeded");
    echo_all(&mut client, &[json!("small")]).await;
    client.end();
}

/// The raw session: what an oversized frame and an unknown frame type get on the wire.
#[tokio::test]
async fn the_wire_close_codes_of_refused_frames() {
    let server = contract_server(webtransport().max_length(1000));
    let (_addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    for (frame, code, reason) in [
        (
            b"\x00\x00\x00\x03\xe9".to_vec(), // a 1001-byte text frame announced
            1009u32,
            "Max payload size exceeded",
        ),
        (b"\x09\x00\x00\x00\x00".to_vec(), 1002, "Protocol error"),
        (
            b"\x00\x00\x00\x00\x01\xff".to_vec(),
            1007,
            "Invalid UTF-8 sequence",
        ),
    ] {
        let closed = raw_session_closed_after(&server, &frame).await;
        assert_eq!(closed, (code, reason.as_bytes().to_vec()));
    }
    wait_connected(&server, 0).await;
}

#[tokio::test]
async fn a_hundred_concurrent_clients() {
    let server = contract_server(webtransport());
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    let hash = server.webtransport_endpoint().unwrap().certificate_hashes[0];
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..100 {
        let mut o = options();
        o.transport.webtransport = WebTransportClientOptions::default().certificate_hash(hash);
        clients.push(Client::new(&format!("http://{addr}"), o).unwrap());
    }
    // A debug build's handshakes (100 TLS 1.3 handshakes and UDP sockets) take a second
    // or a few on 2 busy cores: a bound of its own.
    let echoes = clients.iter_mut().enumerate().map(|(i, c)| async move {
        c.write(&i).unwrap();
        let got = c.next().await.expect("stream open");
        assert_eq!(got.decode::<serde_json::Value>().unwrap(), json!(i));
    });
    timeout(
        Duration::from_secs(30),
        futures_util::future::join_all(echoes),
    )
    .await
    .expect("100 echoes in time");
    assert_eq!(server.connected(), 100);
    eprintln!("100 clients opened and echoed in {:?}", started.elapsed());
    for c in &clients {
        c.end();
    }
    wait_connected(&server, 0).await;
}

#[tokio::test]
async fn the_clients_end_delivers_its_last_message_and_ends_the_spark() {
    let server = contract_server(webtransport());
    let got = Arc::new(Mutex::new(Vec::new()));
    {
        let got = got.clone();
        server.on_connection(move |spark| {
            let got = got.clone();
            spark.on_data(move |_, msg| got.lock().unwrap().push(msg.value().clone()));
        });
    }
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    let client = Client::new(&format!("http://{addr}"), options()).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    client.write("last words").unwrap();
    client.end();
    wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    wait_connected(&server, 0).await;
    assert!(got
        .lock()
        .unwrap()
        .contains(&primus::Value::from("last words")));
}

#[tokio::test]
async fn the_description_over_http() {
    let server = contract_server(webtransport());
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    let res = http_get(addr, "/primus/webtransport", "").await;
    assert_eq!(res.status, 200);
    let info = EndpointInfo::from_json(&res.body).unwrap();
    assert_eq!(Some(info), server.webtransport_endpoint());
    assert_eq!(http_get(addr, "/primus/other", "").await.status, 404);
    // `/spec` and the library are HTTP as for every transformer.
    let spec = http_get(addr, "/primus/spec", "").await;
    assert!(String::from_utf8_lossy(&spec.body).contains(r#""transformer":"webtransport""#));
    let library = http_get(addr, "/primus/primus.js", "").await;
    assert!(String::from_utf8_lossy(&library.body).contains("Primus.transports.webtransport"));
}

/// Embedding: Primus in your own HTTP stack (here axum) and the endpoint bound apart, on
/// another port: the description tells clients where it is.
#[tokio::test]
async fn an_endpoint_run_beside_your_own_http_server() {
    let server = contract_server(webtransport());
    let app: axum::Router = axum::Router::new().layer(server.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    // No endpoint yet: 503.
    assert_eq!(http_get(addr, "/primus/webtransport", "").await.status, 503);
    let identity = WebTransportIdentity::self_signed(["127.0.0.1"]).unwrap();
    let endpoint =
        WebTransportEndpoint::bind(&server, "127.0.0.1:0".parse().unwrap(), identity).unwrap();
    assert_ne!(endpoint.local_addr().port(), addr.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(endpoint.run_until(async {
        let _ = stopped.await;
    }));
    let mut client = Client::new(&format!("http://{addr}"), options()).unwrap();
    client.write("embedded").unwrap();
    assert_eq!(next_json(&mut client).await, json!("embedded"));
    // Shutting the endpoint down ends its sessions; the client tries again.
    let mut events = client.events();
    drop(stop);
    timeout(WAIT, task).await.unwrap().unwrap().unwrap();
    wait_event(&mut events, "reconnect scheduled", |e| {
        matches!(e, ClientEvent::ReconnectScheduled(_))
    })
    .await;
    assert_eq!(server.connected(), 0);
    client.end();
    // A Primus of another transformer has no endpoint to run.
    #[cfg(feature = "sse")]
    {
        let other = Primus::new(Options::default().transformer("sse")).unwrap();
        let identity = WebTransportIdentity::self_signed(["localhost"]).unwrap();
        let err = WebTransportEndpoint::bind(&other, "127.0.0.1:0".parse().unwrap(), identity)
            .unwrap_err();
        assert!(err.to_string().contains("webtransport"), "{err}");
    }
}

/// HTTPS on TCP: the endpoint has the same (CA-signed) certificate, which the client
/// checks with the roots of `ClientOptions::tls`; no hash is published.
#[tokio::test]
async fn the_https_certificate_serves_udp_too() {
    let fixture = |name: &str| {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/server_tls")
            .join(name)
    };
    let server = contract_server(webtransport());
    let running = Server::bind(server.clone(), "127.0.0.1:0".parse().unwrap())
        .tls(fixture("cert.pem"), fixture("key.pem"))
        .start()
        .await
        .unwrap();
    let addr = running.local_addr();
    tokio::spawn(running.run_until(std::future::pending()));
    assert_eq!(
        server.webtransport_endpoint().unwrap().certificate_hashes,
        vec![]
    );
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(fixture("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut o = options();
    o.transport.webtransport = WebTransportClientOptions::default();
    o.tls = Some(Arc::new(tls));
    let mut client = Client::new(&format!("https://localhost:{}", addr.port()), o).unwrap();
    client.write("over h3").unwrap();
    assert_eq!(next_json(&mut client).await, json!("over h3"));
    client.end();
    // Without a way to trust the server, the client says what to set.
    let mut o = options();
    o.transport.webtransport = WebTransportClientOptions::default();
    o.strategy = primus::client::Strategy::NONE;
    let client = Client::new(&format!("http://127.0.0.1:{}", addr.port()), o).unwrap();
    let mut events = client.events();
    let seen = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(
        seen.iter().any(|e| matches!(e, ClientEvent::Error(ClientError::Connect(m)) if m.contains("certificate_hashes"))),
        "{seen:?}"
    );
}

/// An application that reads its sparks as streams, slowly: the session stops reading
/// while the spark's incoming queue is full, and nothing is lost or reordered.
#[tokio::test]
async fn a_slow_application_loses_nothing() {
    let mut o = webtransport();
    o.incoming_queue_size = 2;
    let server = Primus::new(o).unwrap();
    let mut sparks = server.connections();
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    let client = Client::new(&format!("http://{addr}"), options()).unwrap();
    for i in 0..300 {
        client.write(&i).unwrap();
    }
    let mut spark = timeout(WAIT, sparks.next()).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..300 {
        let msg = timeout(WAIT, spark.next()).await.unwrap().unwrap();
        assert_eq!(msg.decode::<serde_json::Value>().unwrap(), json!(i));
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    client.end();
}

/// Flow control reaches the client: while an application does not read, the session
/// stops reading its stream, so a client writing far more than the connection's window
/// (4 MiB) cannot finish; once the application reads, it does, and nothing is lost.
#[tokio::test]
async fn a_stalled_application_stalls_the_clients_writes() {
    let mut o = webtransport();
    o.incoming_queue_size = 1;
    let server = Primus::new(o).unwrap();
    let mut sparks = server.connections();
    let (_addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    let session = raw_session(&server).await;
    let mut send = session.send;
    // 128 frames of 64 KiB: 8 MiB.
    let payload = format!("\"{}\"", "w".repeat(64 * 1024 - 2));
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload.as_bytes());
    let writing = tokio::spawn(async move {
        for _ in 0..128 {
            send.write_all(&frame).await.unwrap();
        }
        send
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !writing.is_finished(),
        "8 MiB went out while nothing was read"
    );
    let mut spark = timeout(WAIT, sparks.next()).await.unwrap().unwrap();
    for _ in 0..128 {
        let msg = timeout(WAIT, spark.next()).await.unwrap().unwrap();
        assert_eq!(msg.decode::<String>().unwrap().len(), 64 * 1024 - 2);
    }
    timeout(WAIT, writing).await.unwrap().unwrap();
}

/// A client that stops reading: the session's writes stall, and after `write_timeout`
/// the spark ends as a slow peer and the session closes with 1008. Two threads: on one,
/// the server's burst fills the client's UDP buffer before the client task runs, and the
/// close packet can be dropped there (the client then sees a stateless reset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let server = Primus::new(
        webtransport()
            .write_timeout(Duration::from_millis(300))
            .queue_size(64),
    )
    .unwrap();
    let errors = spark_errors(&server);
    server.on_connection(|spark| {
        // Far more than QUIC's windows hold: 8 MiB in 64 KiB messages.
        tokio::spawn(async move {
            let chunk = "z".repeat(64 * 1024);
            for _ in 0..128 {
                if spark.send(&chunk).await.is_err() {
                    break;
                }
            }
        });
    });
    let (_addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    // One frame, then the client never reads.
    let closed = raw_session_closed_after(&server, b"\x00\x00\x00\x00\x02\"\"").await;
    assert_eq!(closed, (1008, b"write timeout".to_vec()));
    wait_connected(&server, 0).await;
    assert_reported(&errors, "peer too slow");
}

/// Frames that arrive together (one read) after the one whose handler ended the spark
/// reach no handler: the spark has ended.
#[tokio::test]
async fn nothing_is_delivered_after_a_handler_ended_the_spark() {
    let server = Primus::new(webtransport()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    server.on_connection(move |spark| {
        let sink = sink.clone();
        spark.on_data(move |spark, msg| {
            let v: serde_json::Value = msg.decode().unwrap();
            if v == json!("end") {
                spark.end(None::<&str>, false);
            }
            sink.lock().unwrap().push(v);
        });
    });
    let (_addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    // `"end"` then `"after"`, in one write.
    let closed = raw_session_closed_after(
        &server,
        b"\x00\x00\x00\x00\x05\"end\"\x00\x00\x00\x00\x07\"after\"",
    )
    .await;
    assert_eq!(closed.0, 0);
    wait_connected(&server, 0).await;
    assert_eq!(*seen.lock().unwrap(), vec![json!("end")]);
}

/// The client's own limit: a frame over `max_message_size` is a transport error, and the
/// client reconnects.
#[tokio::test]
async fn the_clients_limit_on_incoming_frames() {
    let server = contract_server(webtransport());
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    let mut o = options();
    o.transport.webtransport.max_message_size = 1000;
    let mut client = Client::new(&format!("http://{addr}"), o).unwrap();
    let mut events = client.events();
    echo_all(&mut client, &[json!("x".repeat(900))]).await;
    client.write(&"y".repeat(2000)).unwrap();
    let seen = wait_event(&mut events, "reconnected", |e| {
        matches!(e, ClientEvent::Reconnected(_))
    })
    .await;
    assert!(
        seen.iter().any(|e| matches!(e, ClientEvent::Error(ClientError::Transport(m)) if m.contains("over the limit of 1000"))),
        "{seen:?}"
    );
    echo_all(&mut client, &[json!("small again")]).await;
    client.end();
}

/// Every error the server's sparks report, as text.
fn spark_errors(server: &Primus) -> Arc<Mutex<Vec<String>>> {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let sink = errors.clone();
    server.on_connection(move |spark| {
        let sink = sink.clone();
        spark.on_error(move |_, e| sink.lock().unwrap().push(e.to_string()));
    });
    errors
}

fn assert_reported(errors: &Mutex<Vec<String>>, what: &str) {
    let errors = errors.lock().unwrap();
    assert!(
        errors.iter().any(|e| e.contains(what)),
        "{what}: {errors:?}"
    );
}

/// A raw wtransport session to the server's endpoint (trusting its published hash) that
/// sends `bytes` on its stream and reads nothing; resolves with the session's close code
/// and reason.
async fn raw_session_closed_after(server: &Primus, bytes: &[u8]) -> (u32, Vec<u8>) {
    let mut session = raw_session(server).await;
    session.send.write_all(bytes).await.unwrap();
    match timeout(WAIT, session.connection.closed()).await.unwrap() {
        wtransport::error::ConnectionError::ApplicationClosed(close) => {
            (close.code().into_inner() as u32, close.reason().to_vec())
        }
        other => panic!("closed with {other:?}"),
    }
}

/// A raw wtransport session to the server's endpoint (trusting its published hash): the
/// endpoint, the connection and both halves of its stream (all must live on, or the
/// session ends).
struct RawSession {
    _endpoint: wtransport::Endpoint<wtransport::endpoint::endpoint_side::Client>,
    connection: wtransport::Connection,
    send: wtransport::SendStream,
    _recv: wtransport::RecvStream,
}

async fn raw_session(server: &Primus) -> RawSession {
    let info = server.webtransport_endpoint().unwrap();
    let hash = wtransport::tls::Sha256Digest::new(info.certificate_hashes[0].0);
    let config = wtransport::ClientConfig::builder()
        .with_bind_default()
        .with_server_certificate_hashes([hash])
        .build();
    let endpoint = wtransport::Endpoint::client(config).unwrap();
    let url = format!("https://127.0.0.1:{}/primus/webtransport", info.port);
    let connection = timeout(WAIT, endpoint.connect(url)).await.unwrap().unwrap();
    let (send, recv) = connection.open_bi().await.unwrap().await.unwrap();
    RawSession {
        _endpoint: endpoint,
        connection,
        send,
        _recv: recv,
    }
}
