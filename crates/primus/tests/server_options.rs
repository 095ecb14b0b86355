//! Server options: deserialised from a JSON config file (the reference's camelCase names
//! and snake_case), validated by `Primus::new` with errors that say what to do.

mod server_support;

use primus::{Options, ParserError, Primus, PrimusError};
use server_support::*;
use std::time::Duration;

#[test]
fn a_full_config_file_deserialises_with_reference_names() {
    let o: Options = serde_json::from_str(
        r#"{
            "pathname": "/live",
            "transformer": "WebSockets",
            "parser": "JSON",
            "pingInterval": 250,
            "maxLength": 2048,
            "global": "Live",
            "compression": false,
            "origins": "https://a.example,https://b.example",
            "methods": "GET,POST",
            "credentials": false,
            "maxAge": 60,
            "headers": "x-token",
            "exposed": "x-id",
            "trustedProxies": ["10.0.0.1", "::1"],
            "queueSize": 8,
            "incomingQueueSize": 16,
            "writeTimeout": 1500
        }"#,
    )
    .unwrap();
    assert_eq!(o.pathname, "/live");
    assert_eq!(o.transformer, "WebSockets");
    assert_eq!(o.parser, "JSON");
    assert_eq!(o.ping_interval, Some(Duration::from_millis(250)));
    assert_eq!(o.max_length, 2048);
    assert_eq!(o.global, "Live");
    assert!(!o.compression);
    assert_eq!(o.origins, "https://a.example,https://b.example");
    assert_eq!(o.methods, "GET,POST");
    assert!(!o.credentials);
    assert_eq!(o.max_age, Duration::from_secs(60));
    assert_eq!(o.headers, "x-token");
    assert_eq!(o.exposed, "x-id");
    assert_eq!(
        o.trusted_proxies,
        [
            "10.0.0.1".parse::<std::net::IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    assert_eq!(o.queue_size, 8);
    assert_eq!(o.incoming_queue_size, 16);
    assert_eq!(o.write_timeout, Duration::from_millis(1500));
    assert!(o.id_generator.is_none());
}

#[test]
fn snake_case_names_work_too() {
    let o: Options = serde_json::from_str(
        r#"{"ping_interval": 100, "max_length": 7, "trusted_proxies": ["127.0.0.1"],
            "queue_size": 3, "incoming_queue_size": 5, "write_timeout": 10, "max_age": 1}"#,
    )
    .unwrap();
    assert_eq!(o.ping_interval, Some(Duration::from_millis(100)));
    assert_eq!(o.max_length, 7);
    assert_eq!(o.trusted_proxies.len(), 1);
    assert_eq!(o.queue_size, 3);
    assert_eq!(o.incoming_queue_size, 5);
    assert_eq!(o.write_timeout, Duration::from_millis(10));
    assert_eq!(o.max_age, Duration::from_secs(1));
}

#[test]
fn an_empty_config_gives_the_reference_defaults() {
    let o: Options = serde_json::from_str("{}").unwrap();
    let d = Options::default();
    assert_eq!(o.pathname, "/primus");
    assert_eq!(o.transformer, "websockets");
    assert_eq!(o.parser, "json");
    assert_eq!(o.ping_interval, Some(Duration::from_secs(30)));
    assert_eq!(o.max_length, 10 * 1024 * 1024);
    assert_eq!(o.global, "Primus");
    assert!(!o.compression);
    assert_eq!(o.origins, "*");
    assert_eq!(o.methods, "GET,HEAD,PUT,POST,DELETE,OPTIONS");
    assert!(o.credentials);
    assert_eq!(o.max_age, Duration::from_secs(30 * 24 * 3600));
    assert_eq!(o.queue_size, d.queue_size);
    assert_eq!(o.write_timeout, d.write_timeout);
}

#[test]
fn ping_interval_accepts_false_true_zero_and_null() {
    let p = |json: &str| {
        serde_json::from_str::<Options>(&format!(r#"{{"pingInterval": {json}}}"#))
            .unwrap()
            .ping_interval
    };
    assert_eq!(p("false"), None);
    assert_eq!(p("0"), None);
    assert_eq!(p("null"), None);
    assert_eq!(p("true"), Some(Duration::from_secs(30)));
    assert_eq!(p("45000"), Some(Duration::from_secs(45)));
}

#[test]
fn badly_typed_values_are_config_errors() {
    for bad in [
        r#"{"pingInterval": "fast"}"#,
        r#"{"maxLength": -1}"#,
        r#"{"trustedProxies": ["not an ip"]}"#,
        r#"{"pathname": 5}"#,
    ] {
        assert!(serde_json::from_str::<Options>(bad).is_err(), "{bad}");
    }
}

#[test]
fn compression_is_refused_with_a_clear_error() {
    let mut o = Options::default();
    o.compression = true;
    let err = Primus::new(o).unwrap_err();
    assert!(
        matches!(err, PrimusError::CompressionUnsupported),
        "{err:?}"
    );
    assert!(err.to_string().contains("compression"), "{err}");
    // Also from a config file.
    let o: Options = serde_json::from_str(r#"{"compression": true}"#).unwrap();
    assert!(matches!(
        Primus::new(o),
        Err(PrimusError::CompressionUnsupported)
    ));
}

#[test]
fn unknown_transformer_names_are_refused() {
    let err = Primus::new(Options::default().transformer("Carrier-Pigeon")).unwrap_err();
    match &err {
        PrimusError::UnknownTransformer(name) => {
            assert_eq!(name.to_ascii_lowercase(), "carrier-pigeon")
        }
        other => panic!("expected UnknownTransformer, got {other:?}"),
    }
    assert!(
        err.to_string().contains("websockets"),
        "names the choices: {err}"
    );
}

#[test]
fn unknown_parser_names_are_refused() {
    let err = Primus::new(Options::default().parser("xml")).unwrap_err();
    assert!(
        matches!(&err, PrimusError::Parser(ParserError::Unknown(n)) if n == "xml"),
        "{err:?}"
    );
    assert!(err.to_string().contains("json"), "names the choices: {err}");
}

#[test]
fn names_are_case_insensitive_and_published_lower_case() {
    let primus = Primus::new(Options::default().transformer("WEBSOCKETS").parser("Json")).unwrap();
    let spec = primus.spec();
    assert_eq!(spec.transformer, "websockets");
    assert_eq!(spec.parser, "json");
}

#[test]
fn impossible_values_are_refused() {
    assert!(matches!(
        Primus::new(Options::default().max_length(0)),
        Err(PrimusError::InvalidOption {
            name: "max_length",
            ..
        })
    ));
    assert!(matches!(
        Primus::new(Options::default().ping_interval(Some(Duration::ZERO))),
        Err(PrimusError::InvalidOption {
            name: "ping_interval",
            ..
        })
    ));
}

#[test]
fn a_pathname_without_a_slash_gets_one() {
    let primus = Primus::new(Options::default().pathname("live")).unwrap();
    assert_eq!(primus.pathname(), "/live");
    assert_eq!(primus.spec().pathname, "/live");
    assert!(primus.owns_path("/live/spec"));
    assert!(!primus.owns_path("/primus"));
}

#[test]
fn options_debug_does_not_need_the_generator() {
    let o = Options::default().id_generator(|| "x".into());
    let s = format!("{o:?}");
    assert!(s.contains("pathname"), "{s}");
}

#[tokio::test]
async fn a_server_runs_from_a_config_file() {
    let o: Options = serde_json::from_str(
        r#"{"pathname": "live", "pingInterval": 100, "maxLength": 100, "transformer": "WebSockets"}"#,
    )
    .unwrap();
    let server = TestServer::start(o).await;
    echo(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/live", "").await;
    ws.send_text("\"hi\"").await;
    assert_eq!(ws.read_non_ping().await.bytes(), b"\x81\x04\"hi\"");
    // Heartbeats at 100 ms.
    let ping = ws.read_frame().await;
    assert!(ping.text().starts_with("\"primus::ping::"));
    // maxLength 100.
    ws.send_text(&format!("\"{}\"", "z".repeat(200))).await;
    let frames = ws.read_to_eof().await;
    let close = frames.last().unwrap();
    assert_eq!(close.opcode(), 0x8);
    assert_eq!(&close.payload[..2], 1009u16.to_be_bytes());
    let spec = http_get(server.addr, "/live/spec", "").await;
    assert!(spec
        .text()
        .starts_with(r#"{"pingInterval":100,"pathname":"/live""#));
}

/// A parser given by value that produces binary frames.
#[derive(Debug)]
struct BinaryByValue;

impl primus::Parser for BinaryByValue {
    fn name(&self) -> &str {
        "custom"
    }
    fn encode(
        &self,
        _: &dyn erased_serde::Serialize,
    ) -> Result<primus::Frame, primus::ParserError> {
        Ok(primus::Frame::binary(vec![0u8]))
    }
    fn decode(&self, frame: &primus::Frame) -> Result<primus::Value, primus::ParserError> {
        Ok(primus::Value::Binary(frame.bytes().clone()))
    }
    fn is_binary(&self) -> bool {
        true
    }
}

#[test]
fn sockjs_refuses_a_binary_parser_given_by_value() {
    let opts = primus::Options::default().transformer("sockjs");
    let err = primus::Primus::with_parser(opts.clone(), std::sync::Arc::new(BinaryByValue))
        .unwrap_err()
        .to_string();
    assert!(err.contains("text only"), "{err}");
    assert!(primus::Primus::with_parser(
        opts.transformer("websockets"),
        std::sync::Arc::new(BinaryByValue)
    )
    .is_ok());
}
