//! The omega plugin (npm omega-supreme's HTTP broadcast) against a served Primus: real
//! HTTP requests over loopback, real Rust clients receiving what they broadcast, and the
//! npm response bodies byte for byte.

mod server_support;

use futures_util::StreamExt;
use primus::client::{Client, ClientOptions};
use primus::middleware::{response, Ctx, Flow, Runs};
use primus::plugins::omega::Omega;
use primus::plugins::rooms::{PrimusRoomsExt, Rooms};
use primus::Primus;
use serde_json::{json, Value};
use server_support::*;

const PATH: &str = "/primus/omega/supreme";
/// base64("bot:s3cret")
const GOOD: &str = "Basic Ym90OnMzY3JldA==";
/// base64("bot:wrong")
const WRONG: &str = "Basic Ym90Ondyb25n";
const UNAUTHORIZED: &str = r#"{"ok":false,"reason":"I am programmed to protect, and sacrifice if necessary. Feel the power of my lazers! Pew pew!"}"#;
const INVALID: &str = r#"{ "ok": false, "reason": "invalid data structure" }"#;
const TOO_LARGE: &str = r#"{ "ok": false, "reason": "request body too large" }"#;
/// What the last layer of the stack answers: a request omega did not take got there.
const FELL_THROUGH: &str = "fell through";

fn omega() -> Omega {
    Omega::new("bot", "s3cret")
}

/// A served Primus with `omega`, a last layer answering plain HTTP requests with 418
/// [`FELL_THROUGH`], and `n` connected Rust clients.
async fn setup(primus: Primus, plugin: Omega, n: usize) -> (TestServer, Vec<Client>) {
    primus.plugin("omega", plugin).unwrap();
    primus.use_async_at("last", Runs::HTTP, None, |_ctx: Ctx| async {
        Flow::Respond(response(
            http::StatusCode::IM_A_TEAPOT,
            "text/plain",
            FELL_THROUGH,
        ))
    });
    let server = TestServer::serve(primus).await;
    let url = format!("http://{}", server.addr);
    let mut clients = Vec::new();
    for i in 0..n {
        let client = Client::from_server(&server.primus, &url, ClientOptions::default()).unwrap();
        within("the client's id", client.id()).await.unwrap();
        clients.push(client);
        let primus = server.primus.clone();
        wait_until(WAIT, "the spark", move || primus.connected() == i + 1).await;
    }
    (server, clients)
}

/// A request with a body and optional `Authorization` value.
async fn request(
    server: &TestServer,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> HttpResponse {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    http_raw(
        server.addr,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{auth}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            server.addr,
            body.len()
        ),
    )
    .await
}

/// `PUT` to the default path with the good credentials.
async fn put(server: &TestServer, body: &str) -> HttpResponse {
    request(server, "PUT", PATH, Some(GOOD), body).await
}

async fn next_value(client: &mut Client) -> Value {
    let msg = within("a message", client.next())
        .await
        .expect("client open");
    msg.decode::<Value>().unwrap()
}

/// Assert that `client` got nothing before a marker the server writes to it now.
async fn assert_nothing_before_marker(server: &TestServer, client: &mut Client) {
    let id = within("id", client.id()).await.unwrap();
    server.primus.write_to(&[id], &"marker").unwrap();
    assert_eq!(
        next_value(client).await,
        json!("marker"),
        "nothing came first"
    );
}

fn assert_ok(res: &HttpResponse, send: usize) {
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.text(), format!("{{ \"ok\": true, \"send\":{send} }}"));
}

#[tokio::test]
async fn broadcast_reaches_every_client() {
    let (server, mut clients) = setup(Primus::new(quiet()).unwrap(), omega(), 2).await;
    let res = put(&server, r#"{"msg":{"hello":"world"}}"#).await;
    assert_eq!(res.text(), r#"{ "ok": true, "send":2 }"#);
    assert_ok(&res, 2);
    for c in &mut clients {
        assert_eq!(next_value(c).await, json!({"hello": "world"}));
    }
    // Any truthy message: a string, a number, an empty array.
    for msg in [json!("text"), json!(42), json!([])] {
        let res = put(&server, &json!({ "msg": msg }).to_string()).await;
        assert_ok(&res, 2);
        for c in &mut clients {
            assert_eq!(next_value(c).await, msg);
        }
    }
}

#[tokio::test]
async fn sparks_list_reaches_only_those_sparks() {
    let (server, mut clients) = setup(Primus::new(quiet()).unwrap(), omega(), 2).await;
    let id = within("id", clients[0].id()).await.unwrap();

    // One real id, one unknown: send counts the one written.
    let body = json!({"msg": "for you", "sparks": [id, "nope"]}).to_string();
    assert_ok(&put(&server, &body).await, 1);
    assert_eq!(next_value(&mut clients[0]).await, json!("for you"));
    assert_nothing_before_marker(&server, &mut clients[1]).await;

    // One id as a string.
    let body = json!({"msg": "again", "sparks": id}).to_string();
    assert_ok(&put(&server, &body).await, 1);
    assert_eq!(next_value(&mut clients[0]).await, json!("again"));

    // Nobody known (npm: `{ "ok": true, "send":0 }`).
    assert_ok(&put(&server, r#"{"msg":1,"sparks":["nope"]}"#).await, 0);
    assert_ok(&put(&server, r#"{"msg":1,"sparks":[]}"#).await, 0);
    for c in &mut clients {
        assert_nothing_before_marker(&server, c).await;
    }
}

#[tokio::test]
async fn room_broadcast_reaches_members_except_the_excepted() {
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("rooms", Rooms::new()).unwrap();
    let (server, mut clients) = setup(primus, omega(), 3).await;
    let mut ids = Vec::new();
    for c in &clients {
        ids.push(within("id", c.id()).await.unwrap());
    }
    assert_eq!(server.primus.join(&ids[..2], "news").unwrap(), 2);

    assert_ok(&put(&server, r#"{"msg":"news!","rooms":"news"}"#).await, 2);
    assert_eq!(next_value(&mut clients[0]).await, json!("news!"));
    assert_eq!(next_value(&mut clients[1]).await, json!("news!"));
    assert_nothing_before_marker(&server, &mut clients[2]).await;

    let body = json!({"msg": "not for 0", "rooms": ["news", "empty"], "except": ids[0]});
    assert_ok(&put(&server, &body.to_string()).await, 1);
    assert_eq!(next_value(&mut clients[1]).await, json!("not for 0"));
    assert_nothing_before_marker(&server, &mut clients[0]).await;
    assert_nothing_before_marker(&server, &mut clients[2]).await;
}

#[tokio::test]
async fn rooms_without_the_rooms_plugin_is_an_error() {
    let (server, mut clients) = setup(Primus::new(quiet()).unwrap(), omega(), 1).await;
    let res = put(&server, r#"{"msg":"x","rooms":"news"}"#).await;
    assert_eq!(res.status, 500);
    assert_eq!(
        res.text(),
        r#"{ "ok": false, "reason": "rooms plugin not added" }"#
    );
    assert_nothing_before_marker(&server, &mut clients[0]).await;
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_401() {
    let (server, mut clients) = setup(Primus::new(quiet()).unwrap(), omega(), 1).await;
    let body = r#"{"msg":"nope"}"#;
    for auth in [
        Some(WRONG),
        None,
        Some("Bearer Ym90OnMzY3JldA=="),
        Some("Basic not-base64!"),
        // The right password with another username, and the npm defaults.
        Some("Basic Ym9iOnMzY3JldA=="),
        Some("Basic b21lZ2E6c3VwcmVtZQ=="),
    ] {
        let res = request(&server, "PUT", PATH, auth, body).await;
        assert_eq!(res.status, 401, "{auth:?}");
        assert_eq!(res.text(), UNAUTHORIZED, "{auth:?}");
        assert_eq!(
            res.header("www-authenticate"),
            Some("Basic realm=\"primus\"")
        );
    }
    assert_nothing_before_marker(&server, &mut clients[0]).await;
    // The scheme is case-insensitive.
    let res = request(&server, "PUT", PATH, Some("basic Ym90OnMzY3JldA=="), body).await;
    assert_ok(&res, 1);
}

#[tokio::test]
async fn invalid_data_structures_are_500() {
    let (server, mut clients) = setup(Primus::new(quiet()).unwrap(), omega(), 1).await;
    for body in [
        "{not json",
        "",
        r#"["msg", 1]"#,
        r#""msg""#,
        r#"{"msg":0}"#,
        r#"{"msg":false}"#,
        r#"{"msg":""}"#,
        r#"{"msg":null}"#,
        r#"{}"#,
        r#"{"msg":1,"sparks":42}"#,
        r#"{"msg":1,"except":"a"}"#,
    ] {
        let res = put(&server, body).await;
        assert_eq!(res.status, 500, "{body}");
        assert_eq!(res.header("content-type"), Some("application/json"));
        assert_eq!(res.text(), INVALID, "{body}");
    }
    assert_nothing_before_marker(&server, &mut clients[0]).await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let (server, mut clients) = setup(Primus::new(quiet()).unwrap(), omega().max_body(64), 1).await;
    // Refused by Content-Length.
    let big = json!({"msg": "x".repeat(100)}).to_string();
    let res = put(&server, &big).await;
    assert_eq!(res.status, 413);
    assert_eq!(res.text(), TOO_LARGE);

    // Chunked, without a length: refused once more than the limit arrived.
    let chunk = format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
    let res = http_raw(
        server.addr,
        &format!(
            "PUT {PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {GOOD}\r\n\
             Transfer-Encoding: chunked\r\n\r\n{chunk}"
        ),
    )
    .await;
    assert_eq!(res.status, 413);
    assert_eq!(res.text(), TOO_LARGE);
    assert_nothing_before_marker(&server, &mut clients[0]).await;

    // Exactly at the limit is fine, chunked too.
    let msg = "y".repeat(64 - r#"{"msg":""}"#.len());
    let fits = json!({ "msg": msg }).to_string();
    assert_eq!(fits.len(), 64);
    assert_ok(&put(&server, &fits).await, 1);
    assert_eq!(next_value(&mut clients[0]).await, json!(msg));
    let (a, b) = fits.split_at(30);
    let res = http_raw(
        server.addr,
        &format!(
            "PUT {PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {GOOD}\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        ),
    )
    .await;
    assert_ok(&res, 1);
    assert_eq!(next_value(&mut clients[0]).await, json!(msg));
}

#[tokio::test]
async fn other_methods_and_paths_are_not_answered() {
    let (server, mut clients) = setup(Primus::new(quiet()).unwrap(), omega(), 1).await;
    let body = r#"{"msg":"x"}"#;
    for (method, path) in [
        ("POST", PATH),
        ("GET", PATH),
        ("PUT", "/primus/omega/supreme/more"),
        ("PUT", "/primus/omega"),
        ("PUT", "/primus/other"),
    ] {
        let res = request(&server, method, path, Some(GOOD), body).await;
        assert_eq!(res.status, 418, "{method} {path}");
        assert_eq!(res.text(), FELL_THROUGH, "{method} {path}");
    }
    assert_nothing_before_marker(&server, &mut clients[0]).await;
}

#[tokio::test]
async fn query_strings_are_accepted() {
    let (server, mut clients) = setup(Primus::new(quiet()).unwrap(), omega(), 1).await;
    let res = request(
        &server,
        "PUT",
        "/primus/omega/supreme?via=cron&x=1",
        Some(GOOD),
        r#"{"msg":"q"}"#,
    )
    .await;
    assert_ok(&res, 1);
    assert_eq!(next_value(&mut clients[0]).await, json!("q"));
}

#[tokio::test]
async fn custom_path_and_method() {
    let plugin = omega().path("/primus/broadcast").method(http::Method::POST);
    let (server, mut clients) = setup(Primus::new(quiet()).unwrap(), plugin, 1).await;
    let body = r#"{"msg":"posted"}"#;
    let res = request(&server, "POST", "/primus/broadcast", Some(GOOD), body).await;
    assert_ok(&res, 1);
    assert_eq!(next_value(&mut clients[0]).await, json!("posted"));
    for (method, path) in [("PUT", "/primus/broadcast"), ("POST", PATH)] {
        let res = request(&server, method, path, Some(GOOD), body).await;
        assert_eq!(res.status, 418, "{method} {path}");
    }
    // The default path follows the server's pathname.
    let primus = Primus::new(quiet().pathname("/live")).unwrap();
    let (server, _clients) = setup(primus, omega(), 0).await;
    assert_ok(
        &request(&server, "PUT", "/live/omega/supreme", Some(GOOD), body).await,
        0,
    );
}

#[test]
fn default_or_empty_credentials_are_refused() {
    let primus = Primus::new(quiet()).unwrap();
    for (user, pass) in [("omega", "supreme"), ("", "secret"), ("bot", ""), ("", "")] {
        let err = primus
            .plugin("omega", Omega::new(user, pass))
            .expect_err("refused");
        assert!(err.to_string().contains("choose"), "{user}/{pass}: {err}");
    }
    let err = primus
        .plugin("omega", omega().path("/elsewhere"))
        .unwrap_err();
    assert!(err.to_string().contains("pathname"), "{err}");
    assert!(primus.plugins().is_empty());
    assert!(!primus.middleware_names().contains(&"omega".to_string()));
    // "omega" with another password is a choice, not the default.
    primus
        .plugin("omega", Omega::new("omega", "other"))
        .unwrap();
    let names = primus.middleware_names();
    let at = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert_eq!(at("omega") + 1, at("authorization"));
    // Once per server.
    assert!(primus.plugin("again", omega()).is_err());
}

#[tokio::test]
async fn plugout_removes_the_endpoint() {
    let (server, _clients) = setup(Primus::new(quiet()).unwrap(), omega(), 0).await;
    assert_ok(&put(&server, r#"{"msg":1}"#).await, 0);
    assert!(server.primus.plugout("omega"));
    assert!(!server
        .primus
        .middleware_names()
        .contains(&"omega".to_string()));
    assert_eq!(put(&server, r#"{"msg":1}"#).await.status, 418);
}

#[tokio::test]
async fn a_layer_reading_the_body_leaves_it_for_the_next() {
    // The general mechanism omega reads its body with: `Ctx::body` puts the bytes back.
    let primus = Primus::new(quiet()).unwrap();
    primus.use_async_at("peek", Runs::HTTP, None, |mut ctx: Ctx| async move {
        let seen = ctx.body(1024).await.unwrap();
        ctx.head.extensions.insert(seen.len());
        Flow::Next(ctx)
    });
    primus.use_async("echo", |mut ctx: Ctx| async move {
        let len = *ctx.head.extensions.get::<usize>().unwrap();
        let body = ctx.body(1024).await.unwrap();
        Flow::Respond(response(
            http::StatusCode::OK,
            "text/plain",
            format!("{len}:{}", String::from_utf8_lossy(&body)),
        ))
    });
    let server = TestServer::serve(primus).await;
    let res = request(&server, "PUT", "/primus/x", None, "hello body").await;
    assert_eq!(res.text(), "10:hello body");
}
