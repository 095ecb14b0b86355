//! Configuring a client from the server's `GET <pathname>/spec` (protocol.md §4.2):
//! `{"pingInterval":30000,"pathname":"/primus","version":"8.0.9","parser":"json","transformer":"websockets"}`.

use super::url::Endpoint;
use super::{net, ClientError, ClientOptions};
use std::time::Duration;

/// Largest spec body we accept.
const MAX_SPEC_BYTES: usize = 64 * 1024;

/// What a Primus server publishes about itself at `<pathname>/spec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The server's heartbeat interval; `None` when heartbeats are off (`false`).
    pub ping_interval: Option<Duration>,
    /// The Primus pathname, e.g. `/primus`.
    pub pathname: String,
    /// Primus version of the server.
    pub version: String,
    /// Parser name (`json`, …, or `custom`).
    pub parser: String,
    /// Transformer name (`websockets`, …, or `custom`).
    pub transformer: String,
}

impl Spec {
    /// Parse a spec document. Missing fields get the reference's defaults; an old server's
    /// `timeout` field (≤ 6.x) is not a ping interval and is ignored.
    pub fn from_json(body: &[u8]) -> Result<Spec, ClientError> {
        let json: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ClientError::Spec(format!("not JSON: {e}")))?;
        let obj = json
            .as_object()
            .ok_or_else(|| ClientError::Spec("not a JSON object".into()))?;
        let text = |key: &str, default: &str| -> Result<String, ClientError> {
            match obj.get(key) {
                None | Some(serde_json::Value::Null) => Ok(default.to_string()),
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(ClientError::Spec(format!(
                    "`{key}` is not a string: {other}"
                ))),
            }
        };
        let ping_interval = match obj.get("pingInterval") {
            None | Some(serde_json::Value::Bool(false)) | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => match n.as_f64() {
                Some(ms) if ms > 0.0 && ms.is_finite() && ms < 1e15 => {
                    Some(Duration::from_millis(ms.round() as u64))
                }
                Some(0.0) => None,
                _ => return Err(ClientError::Spec(format!("bad pingInterval {n}"))),
            },
            Some(other) => return Err(ClientError::Spec(format!("bad pingInterval {other}"))),
        };
        Ok(Spec {
            ping_interval,
            pathname: text("pathname", "/primus")?,
            version: text("version", "")?,
            parser: text("parser", "json")?,
            transformer: text("transformer", "websockets")?,
        })
    }

    /// The client heartbeat timeout the reference compiles into its library for this
    /// server: `P + round(P / 2)` milliseconds, or `None` when the server does not ping.
    pub fn ping_timeout(&self) -> Option<Duration> {
        let p = self.ping_interval?.as_millis() as u64;
        Some(Duration::from_millis(
            primus_core::protocol::ping_timeout_ms(p),
        ))
    }

    /// Apply this spec to options: pathname, parser (unless `custom`: then the parser in
    /// `options` is kept), transformer and `ping_timeout`.
    pub fn configure(&self, mut options: ClientOptions) -> Result<ClientOptions, ClientError> {
        options.pathname = self.pathname.clone();
        if !self.parser.eq_ignore_ascii_case("custom")
            && !options.parser.name().eq_ignore_ascii_case(&self.parser)
        {
            options.parser = primus_core::parser::by_name(&self.parser)
                .map_err(|e| ClientError::Spec(format!("the server's parser: {e}")))?;
        }
        options.transformer = self.transformer.clone();
        options.ping_timeout = self.ping_timeout();
        options.validate()
    }
}

/// Fetch `<url><pathname>/spec` with `options.pathname` and `options.timeout`.
pub async fn fetch_spec(url: &str, options: &ClientOptions) -> Result<Spec, ClientError> {
    let endpoint = Endpoint::parse(url)?;
    let mut pathname = options.pathname.clone();
    if !pathname.starts_with('/') {
        pathname.insert(0, '/');
    }
    let path = format!("{}/spec", pathname.trim_end_matches('/'));
    let limit = options
        .timeout
        .unwrap_or(super::options::DEFAULT_CONNECT_TIMEOUT);
    tokio::time::timeout(limit, get(&endpoint, &path, options))
        .await
        .map_err(|_| {
            ClientError::Spec(format!(
                "{} did not answer in {limit:?}",
                endpoint.http_url(&path)
            ))
        })?
}

async fn get(
    endpoint: &Endpoint,
    path: &str,
    options: &ClientOptions,
) -> Result<Spec, ClientError> {
    let url = endpoint.http_url(path);
    let (status, body) = net::get(endpoint, path, options, &[], MAX_SPEC_BYTES, |what| {
        ClientError::Spec(format!("{url}: {what}"))
    })
    .await?;
    if status != http::StatusCode::OK {
        return Err(ClientError::Spec(format!("{url}: status {status}")));
    }
    Spec::from_json(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "websockets")] // the spec names the websockets transformer
    fn parses_the_reference_spec() {
        let spec = Spec::from_json(
            br#"{"pingInterval":30000,"pathname":"/primus","version":"8.0.9","parser":"json","transformer":"websockets"}"#,
        )
        .unwrap();
        assert_eq!(spec.ping_interval, Some(Duration::from_secs(30)));
        assert_eq!(spec.ping_timeout(), Some(Duration::from_secs(45)));
        assert_eq!(
            (spec.pathname.as_str(), spec.version.as_str()),
            ("/primus", "8.0.9")
        );
        let options = spec
            .configure(ClientOptions {
                pathname: "/other".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(options.pathname, "/primus");
        assert_eq!(options.ping_timeout, Some(Duration::from_secs(45)));
    }

    #[test]
    fn ping_timeout_rounds_like_the_reference() {
        let spec =
            |p: &str| Spec::from_json(format!(r#"{{"pingInterval":{p}}}"#).as_bytes()).unwrap();
        assert_eq!(spec("25").ping_timeout(), Some(Duration::from_millis(38))); // 25 + round(12.5)
        assert_eq!(spec("200").ping_timeout(), Some(Duration::from_millis(300)));
        assert_eq!(spec("false").ping_timeout(), None);
        assert_eq!(spec("0").ping_timeout(), None);
        assert!(Spec::from_json(br#"{"pingInterval":-5}"#).is_err());
        assert!(Spec::from_json(br#"{"pingInterval":"x"}"#).is_err());
        assert!(Spec::from_json(b"[1]").is_err());
        assert!(Spec::from_json(b"nope").is_err());
    }

    #[test]
    fn refuses_what_it_cannot_speak() {
        let spec =
            Spec::from_json(br#"{"pingInterval":1000,"transformer":"carrier-pigeon"}"#).unwrap();
        assert!(matches!(
            spec.configure(ClientOptions::default()),
            Err(ClientError::UnsupportedTransformer(_))
        ));
        let spec = Spec::from_json(br#"{"parser":"msgpack-nope"}"#).unwrap();
        assert!(matches!(
            spec.configure(ClientOptions::default()),
            Err(ClientError::Spec(_))
        ));
    }
}
