//! The middleware stack: built-in order, use/remove/enable/disable, sync and async layers
//! answering requests, tower layers, authorization and CORS with the reference's answers.

mod server_support;

use futures_util::StreamExt;
use http::{HeaderValue, StatusCode};
use primus::middleware::{AuthError, Ctx, Flow, Runs};
use primus::{Options, Primus};
use server_support::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn builtins_are_in_the_reference_order() {
    let primus = Primus::new(quiet()).unwrap();
    assert_eq!(
        primus.middleware_names(),
        [
            "forwarded",
            "cors",
            "primus.js",
            "spec",
            "x-xss",
            "no-cache",
            "authorization"
        ]
    );
    primus.use_sync("mine", |_| None);
    primus.use_sync_at("first", Runs::ALL, Some(0), |_| None);
    assert_eq!(primus.middleware_index("first"), Some(0));
    assert_eq!(primus.middleware_names().last().unwrap(), "mine");
    assert!(primus.remove_middleware("mine"));
    assert!(!primus.remove_middleware("mine"));
    assert!(primus.disable("spec") && primus.enable("spec"));
    assert!(!primus.disable("nope"));
}

#[tokio::test]
async fn layers_answer_requests_and_collect_headers_in_order() {
    let primus = Primus::new(quiet()).unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let o = order.clone();
    primus.use_sync("one", move |ctx: &mut Ctx| {
        o.lock().unwrap().push("one");
        ctx.response_headers
            .insert("x-one", HeaderValue::from_static("1"));
        None
    });
    let o = order.clone();
    primus.use_async("two", move |ctx: Ctx| {
        let o = o.clone();
        async move {
            o.lock().unwrap().push("two");
            if ctx.head.uri.path() == "/primus/teapot" {
                return Flow::Respond(primus::middleware::text(
                    StatusCode::IM_A_TEAPOT,
                    "short and stout",
                ));
            }
            Flow::Next(ctx)
        }
    });
    let server = TestServer::serve(primus.clone()).await;

    let res = http_get(server.addr, "/primus/teapot", "").await;
    assert_eq!(res.status, 418);
    assert_eq!(res.text(), "short and stout");
    assert_eq!(
        res.header("x-one"),
        Some("1"),
        "headers of earlier layers are kept"
    );
    assert_eq!(
        res.header("cache-control"),
        Some("no-store, no-cache, must-revalidate, max-age=0")
    );
    assert_eq!(*order.lock().unwrap(), ["one", "two"]);

    // Not answered by a layer: the transformer answers, with the collected headers.
    let res = http_get(server.addr, "/primus", "").await;
    assert_eq!(res.status, 426);
    assert_eq!(res.header("x-one"), Some("1"));

    // A disabled layer does not run.
    primus.disable("two");
    assert_eq!(
        http_get(server.addr, "/primus/teapot", "").await.status,
        426
    );
    // The spec comes before no-cache, so it has no cache headers (like the reference).
    let spec = http_get(server.addr, "/primus/spec", "").await;
    assert_eq!(spec.status, 200);
    assert_eq!(spec.header("cache-control"), None);
}

#[tokio::test]
async fn http_only_layers_skip_upgrades_and_extensions_reach_the_spark() {
    let primus = Primus::new(quiet()).unwrap();
    let http_calls = Arc::new(AtomicUsize::new(0));
    let c = http_calls.clone();
    primus.use_sync_at("http-only", Runs::HTTP, None, move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        None
    });
    #[derive(Clone, Debug, PartialEq)]
    struct User(String);
    primus.use_sync("who", |ctx: &mut Ctx| {
        let name = ctx
            .head
            .headers
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("anonymous")
            .to_string();
        ctx.head.extensions.insert(User(name));
        None
    });
    let mut sparks = primus.connections();
    let server = TestServer::serve(primus.clone()).await;
    let _ws = RawWs::connect(server.addr, "/primus", "X-User: ada\r\n").await;
    let spark = within("a spark", sparks.next()).await.unwrap();
    assert_eq!(
        spark.info().extensions.get::<User>(),
        Some(&User("ada".into()))
    );
    assert_eq!(
        http_calls.load(Ordering::SeqCst),
        0,
        "no HTTP-only layer on upgrades"
    );
    http_get(server.addr, "/primus", "").await;
    assert_eq!(http_calls.load(Ordering::SeqCst), 1);
}

/// A minimal tower layer: refuses requests without `x-key`, tags the others.
#[derive(Clone)]
struct KeyLayer;
#[derive(Clone)]
struct KeyService<S>(S);
impl<S> tower_layer::Layer<S> for KeyLayer {
    type Service = KeyService<S>;
    fn layer(&self, s: S) -> KeyService<S> {
        KeyService(s)
    }
}
impl<S, B> tower_service::Service<http::Request<B>> for KeyService<S>
where
    S: tower_service::Service<
        http::Request<B>,
        Response = http::Response<primus::service::ResponseBody>,
    >,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures_util::future::BoxFuture<'static, Result<S::Response, S::Error>>;
    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }
    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if !req.headers().contains_key("x-key") {
            return Box::pin(async {
                Ok(primus::middleware::text(StatusCode::FORBIDDEN, "no key"))
            });
        }
        let fut = self.0.call(req);
        Box::pin(async move {
            let mut res = fut.await?;
            res.headers_mut()
                .insert("x-checked", HeaderValue::from_static("yes"));
            Ok(res)
        })
    }
}

#[tokio::test]
async fn a_tower_layer_can_be_inserted_by_name() {
    let primus = Primus::new(quiet()).unwrap();
    let at = primus.middleware_index("authorization");
    primus.use_tower("key", Runs::ALL, at, KeyLayer);
    assert_eq!(
        primus.middleware_index("key"),
        at,
        "inserted where authorization was"
    );
    assert_eq!(primus.middleware_names().last().unwrap(), "authorization");
    let server = TestServer::serve(primus).await;
    let refused = http_get(server.addr, "/primus", "").await;
    assert_eq!((refused.status, refused.text().as_str()), (403, "no key"));
    let passed = http_get(server.addr, "/primus", "X-Key: 1\r\n").await;
    assert_eq!(passed.status, 426, "went on to the transformer");
    assert_eq!(
        passed.header("x-checked"),
        Some("yes"),
        "its response headers are kept"
    );
}

#[tokio::test]
async fn authorization_refuses_http_and_upgrades_like_the_reference() {
    let primus = Primus::new(quiet()).unwrap();
    primus.authorize(|req| {
        let token = req.headers.get("authorization").cloned();
        async move {
            match token.as_ref().map(|t| t.as_bytes()) {
                Some(b"Bearer sesame") => Ok(()),
                Some(b"teapot") => Err(AuthError::new("no coffee")
                    .status(StatusCode::IM_A_TEAPOT)
                    .authenticate("x")),
                _ => Err(AuthError::new("I failed").authenticate("Basic realm=\"primus\"")),
            }
        }
    });
    assert!(primus.has_authorizer());
    let server = TestServer::serve(primus).await;

    let res = http_get(server.addr, "/primus", "").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(
        res.header("www-authenticate"),
        Some("Basic realm=\"primus\"")
    );
    assert_eq!(res.text(), r#"{"error":"I failed"}"#);
    assert_eq!(res.header("content-length"), Some("20"));
    assert_eq!(
        res.header("pragma"),
        Some("no-cache"),
        "no-cache ran before authorization"
    );

    let res = http_get(server.addr, "/primus", "Authorization: teapot\r\n").await;
    assert_eq!(res.status, 418);
    assert_eq!(res.header("www-authenticate"), None, "only sent with 401");

    let refused = RawWs::try_connect(server.addr, "/primus", "")
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("connection"), Some("close"));
    assert_eq!(refused.text(), r#"{"error":"I failed"}"#);

    RawWs::try_connect(server.addr, "/primus", "Authorization: Bearer sesame\r\n")
        .await
        .expect("authorized upgrade");
    // The spec bypasses authorization, like the reference.
    assert_eq!(http_get(server.addr, "/primus/spec", "").await.status, 200);
}

#[tokio::test]
async fn cors_accepts_refuses_and_answers_preflights() {
    let mut opts = quiet();
    opts.origins = "http://good.example".into();
    let server = TestServer::start(opts).await;

    let ok = http_get(server.addr, "/primus", "Origin: http://good.example\r\n").await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("http://good.example")
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(ok.header("vary"), Some("Origin"));

    let bad = http_get(server.addr, "/primus", "Origin: http://evil.example\r\n").await;
    assert_eq!(bad.status, 403);
    assert_eq!(
        bad.text(),
        "Invalid HTTP Access Control (CORS) request:\n  Origin: http://evil.example\n  Method: GET"
    );

    let pre = http_raw(
        server.addr,
        &format!(
            "OPTIONS /primus HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nOrigin: http://good.example\r\n\
             Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: x-a, x-b\r\n\r\n",
            server.addr
        ),
    )
    .await;
    assert_eq!(pre.status, 200);
    assert_eq!(pre.header("access-control-max-age"), Some("2592000"));
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("GET, HEAD, PUT, POST, DELETE, OPTIONS")
    );
    assert_eq!(pre.header("access-control-allow-headers"), Some("x-a, x-b"));
    assert_eq!(pre.header("content-length"), Some("0"));

    // Like the reference, upgrades are not checked by default...
    RawWs::try_connect(server.addr, "/primus", "Origin: http://evil.example\r\n")
        .await
        .expect("upgrade from any origin by default");
}

#[tokio::test]
async fn cors_upgrades_option_stops_cross_site_websocket_hijacking() {
    let mut opts = quiet();
    opts.origins = "http://good.example".into();
    opts.cors_upgrades = true;
    let server = TestServer::start(opts).await;
    let refused = RawWs::try_connect(server.addr, "/primus", "Origin: http://evil.example\r\n")
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 403);
    RawWs::try_connect(server.addr, "/primus", "Origin: http://good.example\r\n")
        .await
        .expect("allowed origin upgrades");
    let _ = Options::default();
}
