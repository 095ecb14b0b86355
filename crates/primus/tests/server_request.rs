//! What a spark knows about the request that opened it: its id (`id_generator`), query
//! (parsed like Node's `querystring`), headers, extensions and address (`X-Forwarded-*`
//! with `trusted_proxies`).

mod server_support;

use primus::{Address, PeerInfo, QueryValue};
use server_support::*;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

#[tokio::test]
async fn id_generator_supplies_spark_ids() {
    let counter = AtomicUsize::new(0);
    let options = quiet()
        .id_generator(move || format!("spark-{}", counter.fetch_add(1, Ordering::SeqCst) + 1));
    let server = TestServer::start(options).await;
    let mut new_sparks = sparks(&server.primus);

    let mut ws1 = RawWs::connect(server.addr, "/primus", "").await;
    let s1 = next_spark(&mut new_sparks).await;
    let mut ws2 = RawWs::connect(server.addr, "/primus", "").await;
    let s2 = next_spark(&mut new_sparks).await;
    assert_eq!(s1.id(), "spark-1");
    assert_eq!(s2.id(), "spark-2");
    assert!(server.primus.spark("spark-2").is_some());

    // The id request answers the generated id.
    ws1.send_text("\"primus::id::\"").await;
    assert_eq!(
        ws1.read_frame().await.bytes(),
        b"\x81\x15\"primus::id::spark-1\""
    );
    ws2.send_text("\"primus::id::\"").await;
    assert_eq!(ws2.read_frame().await.text(), "\"primus::id::spark-2\"");
}

#[tokio::test]
async fn default_ids_are_21_char_nanoids_and_unique() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ids = std::collections::HashSet::new();
    let mut keep = Vec::new();
    for _ in 0..20 {
        keep.push(RawWs::connect(server.addr, "/primus", "").await);
        let id = next_spark(&mut new_sparks).await.id().to_string();
        assert_eq!(id.len(), 21);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        assert!(ids.insert(id));
    }
}

#[tokio::test]
async fn query_strings_are_parsed_like_node_querystring() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let _ws = RawWs::connect(
        server.addr,
        "/primus?foo=bar&foo=baz&x=1&sp=a+b%20c&empty=&flag&_primuscb=Q80QNEr",
        "",
    )
    .await;
    let spark = next_spark(&mut new_sparks).await;
    let q = spark.query();
    assert_eq!(q["foo"], QueryValue::Many(vec!["bar".into(), "baz".into()]));
    assert_eq!(q["x"], QueryValue::One("1".into()));
    assert_eq!(q["sp"].as_str(), "a b c");
    assert_eq!(q["empty"].as_str(), "");
    assert_eq!(q["flag"].as_str(), "");
    assert_eq!(q["_primuscb"].as_str(), "Q80QNEr");
    // Keys keep their order, like the object Node builds.
    let keys: Vec<&str> = q.keys().map(String::as_str).collect();
    assert_eq!(keys, ["foo", "x", "sp", "empty", "flag", "_primuscb"]);
    // Serialises like the reference's `spark.query`.
    assert_eq!(
        serde_json::to_string(q).unwrap(),
        r#"{"foo":["bar","baz"],"x":"1","sp":"a b c","empty":"","flag":"","_primuscb":"Q80QNEr"}"#
    );
    assert_eq!(spark.info().uri.path(), "/primus");
}

#[tokio::test]
async fn headers_and_extensions_are_kept() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let ws = RawWs::connect(
        server.addr,
        "/primus",
        "X-Custom: hello\r\nUser-Agent: raw-test\r\n",
    )
    .await;
    let spark = next_spark(&mut new_sparks).await;
    assert_eq!(spark.headers()["x-custom"], "hello");
    assert_eq!(spark.headers()["user-agent"], "raw-test");
    assert_eq!(spark.headers()["sec-websocket-key"], WS_KEY);
    // The standalone server records the TCP peer; the spark keeps it as `info().peer`.
    let peer: PeerInfo = spark.info().peer;
    assert_eq!(peer.remote, ws.tcp.local_addr().unwrap());
    assert!(!peer.secure);
}

#[tokio::test]
async fn address_is_the_socket_without_proxy_headers() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;
    assert_eq!(
        spark.address(),
        Address::from_socket(ws.tcp.local_addr().unwrap(), false)
    );
}

const FORWARDED: &str =
    "X-Forwarded-For: 13.3.37.1, 10.0.0.1\r\nX-Forwarded-Port: 9083\r\nX-Forwarded-Proto: https\r\n";

#[tokio::test]
async fn x_forwarded_headers_are_honoured_by_default() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let _ws = RawWs::connect(server.addr, "/primus", FORWARDED).await;
    let spark = next_spark(&mut new_sparks).await;
    assert_eq!(
        spark.address(),
        Address {
            ip: "13.3.37.1".parse().unwrap(),
            port: 9083,
            secure: true
        }
    );
}

#[tokio::test]
async fn x_forwarded_headers_from_an_untrusted_peer_are_ignored() {
    let proxy: IpAddr = "10.0.0.1".parse().unwrap();
    let server = TestServer::start(quiet().trusted_proxies(vec![proxy])).await;
    let mut new_sparks = sparks(&server.primus);
    // We connect from 127.0.0.1, which is not the trusted proxy.
    let ws = RawWs::connect(server.addr, "/primus", FORWARDED).await;
    let spark = next_spark(&mut new_sparks).await;
    assert_eq!(
        spark.address(),
        Address::from_socket(ws.tcp.local_addr().unwrap(), false)
    );
}

#[tokio::test]
async fn x_forwarded_headers_from_a_trusted_proxy_are_honoured() {
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    let hop: IpAddr = "10.0.0.1".parse().unwrap();
    let server = TestServer::start(quiet().trusted_proxies(vec![local, hop])).await;
    let mut new_sparks = sparks(&server.primus);
    let _ws = RawWs::connect(server.addr, "/primus", FORWARDED).await;
    let spark = next_spark(&mut new_sparks).await;
    assert_eq!(spark.address().ip, "13.3.37.1".parse::<IpAddr>().unwrap());
    assert_eq!(spark.address().port, 9083);
    assert!(spark.address().secure);
}

#[tokio::test]
async fn a_forwarded_chain_through_an_untrusted_hop_is_ignored() {
    // The peer (127.0.0.1) is trusted but the header lists a hop that is not.
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    let server = TestServer::start(quiet().trusted_proxies(vec![local])).await;
    let mut new_sparks = sparks(&server.primus);
    let ws = RawWs::connect(server.addr, "/primus", FORWARDED).await;
    let spark = next_spark(&mut new_sparks).await;
    assert_eq!(
        spark.address(),
        Address::from_socket(ws.tcp.local_addr().unwrap(), false)
    );
}
