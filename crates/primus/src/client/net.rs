//! Opening the byte stream under a transport: TCP, and TLS on top for `https:`/`wss:`.

use super::url::Endpoint;
use super::{ClientError, ClientOptions};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Any byte stream a transport can run over (plain TCP or TLS).
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + std::fmt::Debug> Io for T {}

/// A boxed byte stream; one virtual call per read/write is nothing next to a syscall.
pub(crate) type BoxedIo = Box<dyn Io>;

/// Connect to the endpoint, with TLS when it is secure.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    options: &ClientOptions,
) -> Result<BoxedIo, ClientError> {
    let tcp = TcpStream::connect((endpoint.hostname.as_str(), endpoint.port))
        .await
        .map_err(|e| {
            ClientError::Connect(format!("{}:{}: {e}", endpoint.hostname, endpoint.port))
        })?;
    // Messages are small and latency matters more than packet count.
    let _ = tcp.set_nodelay(true);
    if !endpoint.secure {
        return Ok(Box::new(tcp));
    }
    tls(endpoint, options, tcp).await
}

/// `GET <target>` (a path and query) on a connection of its own, with the URL's
/// credentials and `headers`: the status and the body, at most `limit` bytes of it.
/// Failures after connecting are `fail(what)`.
pub(crate) async fn get(
    endpoint: &Endpoint,
    target: &str,
    options: &ClientOptions,
    headers: &[(String, String)],
    limit: usize,
    fail: impl Fn(String) -> ClientError,
) -> Result<(http::StatusCode, Bytes), ClientError> {
    let mut request = http::Request::get(target)
        .header(http::header::HOST, endpoint.host.as_str())
        .body(Empty::new())
        .map_err(|e| fail(e.to_string()))?;
    add_headers(request.headers_mut(), endpoint, headers)?;
    let io = connect(endpoint, options).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(io))
            .await
            .map_err(|e| fail(e.to_string()))?;
    // The connection future does the I/O; it ends when the request is done or aborted.
    let io_task = tokio::spawn(connection);
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| fail(e.to_string()))?
            .to_bytes();
        Ok((status, body))
    }
    .await;
    io_task.abort();
    result
}

#[cfg(feature = "tls")]
async fn tls(
    endpoint: &Endpoint,
    options: &ClientOptions,
    tcp: TcpStream,
) -> Result<BoxedIo, ClientError> {
    let config = options.tls.clone().ok_or_else(|| {
        ClientError::Connect(
            "secure URL but no TLS settings: set `ClientOptions::tls` to a rustls `ClientConfig` with the roots you trust".into(),
        )
    })?;
    let name = rustls_pki_types::ServerName::try_from(endpoint.hostname.clone()).map_err(|e| {
        ClientError::Connect(format!(
            "invalid TLS server name `{}`: {e}",
            endpoint.hostname
        ))
    })?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| ClientError::Connect(format!("TLS handshake with {}: {e}", endpoint.host)))?;
    Ok(Box::new(stream))
}

#[cfg(not(feature = "tls"))]
async fn tls(
    endpoint: &Endpoint,
    _options: &ClientOptions,
    _tcp: TcpStream,
) -> Result<BoxedIo, ClientError> {
    Err(ClientError::Connect(format!(
        "{} needs TLS, but primus-rs was built without its `tls` feature",
        endpoint.host
    )))
}

/// The sending half of a client HTTP/1.1 connection of the HTTP transports.
#[cfg(any(feature = "sockjs", feature = "sse", feature = "browserchannel"))]
pub(crate) type HttpSender =
    hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// One HTTP/1.1 connection to the endpoint, and the task that drives it (it ends once the
/// sender and every response body are dropped, or when aborted).
#[cfg(any(feature = "sockjs", feature = "sse", feature = "browserchannel"))]
pub(crate) async fn http1(
    endpoint: &Endpoint,
    options: &ClientOptions,
) -> Result<(HttpSender, tokio::task::JoinHandle<()>), ClientError> {
    let io = connect(endpoint, options).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((sender, task))
}

/// A sender ready for the next request: `sender` when its kept-alive connection still
/// works, otherwise a new connection.
#[cfg(any(feature = "sockjs", feature = "sse", feature = "browserchannel"))]
pub(crate) async fn reuse_or_connect(
    sender: Option<HttpSender>,
    endpoint: &Endpoint,
    options: &ClientOptions,
) -> Result<HttpSender, ClientError> {
    if let Some(mut s) = sender {
        if s.ready().await.is_ok() {
            return Ok(s);
        }
    }
    Ok(http1(endpoint, options).await?.0)
}

/// What every request of an HTTP transport carries: `Authorization` from the URL's
/// credentials, and the transport's extra headers.
pub(crate) fn add_headers(
    headers: &mut http::HeaderMap,
    endpoint: &Endpoint,
    extra: &[(String, String)],
) -> Result<(), ClientError> {
    if let Some(auth) = endpoint.basic_auth() {
        let value = auth
            .parse()
            .map_err(|_| ClientError::InvalidUrl("credentials in the URL".into()))?;
        headers.insert(http::header::AUTHORIZATION, value);
    }
    for (name, value) in extra {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| ClientError::InvalidOptions(format!("header name `{name}`: {e}")))?;
        let value = http::HeaderValue::from_str(value)
            .map_err(|e| ClientError::InvalidOptions(format!("header `{name}` value: {e}")))?;
        headers.append(name, value);
    }
    Ok(())
}
