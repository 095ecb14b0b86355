//! The demo page at `/` (`client-js/demo/index.html`), `POST /drop-all`, and the
//! `primus library` subcommand.
//!
//! The page shows the connection state, the latency (age of the server's ping timestamp
//! when it arrives), the reconnect countdown and attempt, the transformer and parser, and
//! a button that makes the server end every connection with `reconnect` (the page writes
//! `{"cmd":"drop-all"}`; `POST /drop-all` does the same), so a visitor watches the
//! client come back.

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use primus::{Options, Primus, Value};
use std::convert::Infallible;
use std::task::{Context, Poll};

const PAGE: &str = include_str!("../../../client-js/demo/index.html");

/// Whether a message asks the demo server to drop every connection.
pub(crate) fn is_drop_all(value: &Value) -> bool {
    value.get("cmd").and_then(Value::as_str) == Some("drop-all")
}

/// End every spark with `reconnect`: clients come back by themselves.
pub(crate) fn drop_all(primus: &Primus) {
    let mut n = 0;
    primus.for_each(|spark| {
        spark.close(true);
        n += 1;
    });
    tracing::info!(sparks = n, "dropped every connection (clients reconnect)");
}

/// The HTTP application beside Primus: the page and `POST /drop-all`.
#[derive(Clone)]
pub(crate) struct Page {
    primus: Primus,
    html: Bytes,
}

impl Page {
    pub(crate) fn new(primus: Primus) -> Self {
        let html = PAGE.replace(
            "/primus/primus.js",
            &format!("{}/primus.js", primus.pathname()),
        );
        Page {
            primus,
            html: Bytes::from(html),
        }
    }
}

fn answer(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

impl<B> tower_service::Service<Request<B>> for Page {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let res = match (req.method(), req.uri().path()) {
            (&Method::GET | &Method::HEAD, "/" | "/index.html") => {
                let mut res = answer(
                    StatusCode::OK,
                    "text/html; charset=utf-8",
                    self.html.clone(),
                );
                res.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                res
            }
            (&Method::POST, "/drop-all") => {
                drop_all(&self.primus);
                answer(StatusCode::NO_CONTENT, "text/plain", Bytes::new())
            }
            _ => answer(
                StatusCode::NOT_FOUND,
                "text/plain",
                Bytes::from_static(b"not found"),
            ),
        };
        std::future::ready(Ok(res))
    }
}

/// `primus library`: print (or save) the browser client for a configuration.
#[derive(clap::Args)]
pub(crate) struct LibraryArgs {
    /// Transformer name.
    #[arg(long, default_value = "websockets")]
    transformer: String,
    /// Parser name.
    #[arg(long, default_value = "json")]
    parser: String,
    /// Path prefix of the server.
    #[arg(long, default_value = "/primus")]
    pathname: String,
    /// The server's heartbeat interval in ms, or `off` (sets the client's pingTimeout).
    #[arg(long, default_value = "30000")]
    ping_interval: String,
    /// Name of the global the script defines.
    #[arg(long, default_value = "Primus")]
    global: String,
    /// An ES module instead of a UMD script.
    #[arg(long)]
    esm: bool,
    /// The TypeScript declarations instead of the library.
    #[arg(long, conflicts_with = "esm")]
    types: bool,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    output: Option<std::path::PathBuf>,
}

pub(crate) fn library(args: LibraryArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut options = Options::default()
        .transformer(args.transformer)
        .parser(args.parser)
        .pathname(args.pathname)
        .ping_interval(super::parse_ping(&args.ping_interval)?.0);
    options.global = args.global;
    let primus = Primus::new(options)?;
    let text = if args.types {
        primus.library_types().to_string()
    } else if args.esm {
        primus.library_esm()
    } else {
        primus.library()
    };
    match args.output {
        Some(path) => std::fs::write(path, text)?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(text.as_bytes())?;
        }
    }
    Ok(())
}
