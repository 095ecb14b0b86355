//! Omega: broadcast over HTTP (wire-compatible with the npm `omega-supreme` 3.0.1 plugin).
//!
//! Anything that can make an HTTP request (a cron job, another service, `curl`) can write
//! to the connected sparks: every one of them, some of them by id, or (an extension) the
//! members of some rooms. Server only: it adds one middleware layer and has no client
//! half, so the browser library is unchanged.
//!
//! ```
//! use primus::plugins::omega::Omega;
//! use primus::{Options, Primus};
//!
//! let primus = Primus::new(Options::default()).unwrap();
//! primus
//!     .plugin("omega", Omega::new("deploy-bot", "a long random secret"))
//!     .unwrap();
//! // The layer runs before the built-in `authorization` layer, so the server's own
//! // authorization does not stand in the way of the plugin's Basic credentials.
//! let names = primus.middleware_names();
//! let at = |n: &str| names.iter().position(|x| x == n).unwrap();
//! assert!(at("omega") < at("authorization"));
//!
//! // npm's default credentials are public: they are refused.
//! let other = Primus::new(Options::default()).unwrap();
//! let err = other.plugin("omega", Omega::new("omega", "supreme")).unwrap_err();
//! assert!(err.to_string().contains("choose"));
//! ```
//!
//! # Wire format
//!
//! `PUT /primus/omega/supreme` (the method and path are options; the path defaults to
//! `<pathname>/omega/supreme`) with `Authorization: Basic base64(username:password)` and
//! a JSON object as the body:
//!
//! ```text
//! curl -X PUT -u deploy-bot:secret http://localhost:8080/primus/omega/supreme \
//!      -d '{"msg": {"hello": "world"}, "sparks": ["id1", "id2"]}'
//! ```
//!
//! | field | value | meaning |
//! |---|---|---|
//! | `msg` | any JSON value that is truthy in JavaScript (not `false`, `0`, `""`, `null`) | what each spark is written, as [`Spark::write`](crate::Spark::write) would |
//! | `sparks` | absent or `null`, a spark id, or a list of ids | only these sparks ([`Primus::write_to`]); ids not connected here are skipped (and handed to [`Primus::on_broadcast`] forwarders) |
//! | `rooms` | absent or `null`, a room name, or a list of names | **extension**: the members of these rooms (needs the [`rooms`](crate::plugins::rooms) plugin) |
//! | `except` | absent or `null`, a spark id, or a list of ids | **extension**, with `rooms` only: leave these sparks out |
//!
//! Without `sparks` and `rooms` the message goes to every spark ([`Primus::write`]).
//! Every kind of broadcast is delivered locally and then handed to the
//! [`on_broadcast`](Primus::on_broadcast) handlers, so with a cluster forwarder one
//! request reaches the sparks of every server.
//!
//! Responses (bodies byte for byte as npm's, odd spacing included), all
//! `Content-Type: application/json`:
//!
//! | case | status | body |
//! |---|---|---|
//! | written | 200 | `{ "ok": true, "send":N }`, N = sparks written on this server |
//! | credentials missing or wrong | 401, `WWW-Authenticate: Basic realm="primus"` | `{"ok":false,"reason":"I am programmed to protect, and sacrifice if necessary. Feel the power of my lazers! Pew pew!"}` |
//! | body over [`Omega::max_body`] | 413 | `{ "ok": false, "reason": "request body too large" }` |
//! | not JSON, not an object, falsy or missing `msg`, fields of the wrong type | 500 | `{ "ok": false, "reason": "invalid data structure" }` |
//! | `rooms` without the rooms plugin | 500 | `{ "ok": false, "reason": "rooms plugin not added" }` |
//!
//! Requests with another method or path are not the plugin's: they go on down the
//! middleware stack untouched.
//!
//! # Differences from npm omega-supreme
//!
//! * **No default credentials.** npm defaults to `omega` / `supreme`; adding the plugin
//!   with those, or with an empty username or password, fails ([`OmegaError`]).
//! * **Constant-time** comparison of the credentials (npm compares strings).
//! * **Body limit**: [`DEFAULT_MAX_BODY`] (1 MiB) unless [`Omega::max_body`] says
//!   otherwise; a longer body is answered 413 (npm buffers without limit). The body is
//!   read only after the credentials were accepted.
//! * **Query strings are accepted**: `/primus/omega/supreme?x=1` is the same endpoint
//!   (npm lets such a request fall through to Primus).
//! * **401 instead of falling through**: a request to the endpoint without credentials
//!   is answered 401 (npm passes it on, and the transformer answers e.g. 426).
//! * **Rooms**: `rooms` and `except` are an extension.
//! * A falsy `sparks` is not "everyone" here: `""` is one (unknown) id, `null` is the
//!   same as no `sparks`, and `false` or `0` is an invalid data structure.
//! * `primus.forward(servers, ...)` (HTTP calls to other servers) is not ported: a
//!   cluster forwarder carries broadcasts between servers instead.

mod auth;

use crate::error::BoxError;
use crate::middleware::{response, BodyError, Ctx, Flow, Runs};
use crate::plugin::Plugin;
use crate::plugins::rooms::PrimusRoomsExt;
use crate::service::HttpResponse;
use crate::Primus;
use http::{header, HeaderValue, Method, StatusCode};
use serde_json::Value;
use std::sync::{Arc, Weak};

/// Default for [`Omega::max_body`]: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// The name of the middleware layer the plugin adds.
pub const LAYER_NAME: &str = "omega";

const UNAUTHORIZED: &str = "{\"ok\":false,\"reason\":\"I am programmed to protect, and sacrifice \
                            if necessary. Feel the power of my lazers! Pew pew!\"}";
const INVALID: &str = "invalid data structure";
const TOO_LARGE: &str = "request body too large";
const NO_ROOMS: &str = "rooms plugin not added";

/// Why the plugin refused to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OmegaError {
    /// The username and password are npm omega-supreme's public defaults.
    #[error(
        "`omega` / `supreme` are omega-supreme's public default credentials: choose your \
         own username and password (Omega::new(username, password))"
    )]
    DefaultCredentials,
    /// The username or the password is empty.
    #[error(
        "the omega username and password must not be empty: choose credentials \
         (Omega::new(username, password))"
    )]
    EmptyCredentials,
    /// The configured path is outside the server's pathname, where the middleware never
    /// runs.
    #[error(
        "the omega path `{path}` is not under the server's pathname `{pathname}`: the \
         middleware only sees requests there"
    )]
    PathOutsidePathname {
        /// The configured path.
        path: String,
        /// The server's pathname.
        pathname: String,
    },
    /// The plugin is on this server already.
    #[error("the omega plugin is already added to this server (under another name)")]
    AlreadyAdded,
}

/// The omega plugin. Add it with `primus.plugin("omega", Omega::new(username, password))`;
/// see the [module docs](self) for the wire format.
#[derive(Clone)]
pub struct Omega {
    username: String,
    password: String,
    path: Option<String>,
    method: Method,
    max_body: usize,
}

impl std::fmt::Debug for Omega {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Omega")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("path", &self.path)
            .field("method", &self.method)
            .field("max_body", &self.max_body)
            .finish()
    }
}

impl Omega {
    /// The plugin answering requests with these Basic credentials, at the default path
    /// (`<pathname>/omega/supreme`), for `PUT`, with bodies of up to
    /// [`DEFAULT_MAX_BODY`]. Adding it fails for empty credentials and for npm's
    /// `omega` / `supreme` defaults.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Omega {
            username: username.into(),
            password: password.into(),
            path: None,
            method: Method::PUT,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// The endpoint's path (npm `url`), e.g. `/primus/broadcast`. It must be under the
    /// server's pathname (the middleware sees nothing else). The query string of a
    /// request is ignored when matching.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The endpoint's method (npm `method`); `PUT` by default.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// The longest request body accepted, in bytes; longer ones are answered 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }
}

/// What the running layer needs.
struct Config {
    /// `username:password`, as a Basic header carries it once decoded.
    credentials: Vec<u8>,
    path: String,
    method: Method,
    max_body: usize,
}

/// Marks a server that has the plugin.
#[derive(Clone)]
struct Added;

impl Plugin for Omega {
    fn server(&self, primus: &Primus) -> Result<(), BoxError> {
        if self.username.is_empty() || self.password.is_empty() {
            return Err(OmegaError::EmptyCredentials.into());
        }
        if self.username == "omega" && self.password == "supreme" {
            return Err(OmegaError::DefaultCredentials.into());
        }
        if primus.state::<Added>().is_some() {
            return Err(OmegaError::AlreadyAdded.into());
        }
        let pathname = primus.options().normalized_pathname();
        let path = match &self.path {
            Some(p) => p.clone(),
            None => format!("{}/omega/supreme", pathname.trim_end_matches('/')),
        };
        if !primus.owns_path(&path) {
            return Err(OmegaError::PathOutsidePathname { path, pathname }.into());
        }
        let config = Arc::new(Config {
            credentials: format!("{}:{}", self.username, self.password).into_bytes(),
            path,
            method: self.method.clone(),
            max_body: self.max_body,
        });
        primus.set_state(Added);
        // Weak: the layer lives in the server, which must not keep itself alive.
        let server = Arc::downgrade(&primus.inner);
        let index = primus.middleware_index("authorization");
        primus.use_async_at(LAYER_NAME, Runs::HTTP, index, move |ctx: Ctx| {
            handle(config.clone(), server.clone(), ctx)
        });
        Ok(())
    }

    fn unplug(&self, primus: &Primus) {
        if primus.take_state::<Added>().is_some() {
            primus.remove_middleware(LAYER_NAME);
        }
    }
}

/// A JSON answer.
fn json(status: StatusCode, body: String) -> HttpResponse {
    response(status, "application/json", body)
}

/// npm's error shape, spacing included.
fn failure(status: StatusCode, reason: &str) -> HttpResponse {
    let reason = serde_json::to_string(reason).unwrap_or_else(|_| "\"error\"".into());
    json(status, format!("{{ \"ok\": false, \"reason\": {reason} }}"))
}

fn unauthorized() -> HttpResponse {
    let mut res = json(StatusCode::UNAUTHORIZED, UNAUTHORIZED.to_string());
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"primus\""),
    );
    res
}

async fn handle(config: Arc<Config>, server: Weak<crate::server::Inner>, mut ctx: Ctx) -> Flow {
    if ctx.head.method != config.method || ctx.head.uri.path() != config.path {
        return Flow::Next(ctx);
    }
    let authorized = ctx
        .head
        .headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| auth::basic_matches(v.as_bytes(), &config.credentials));
    if !authorized {
        return Flow::Respond(unauthorized());
    }
    let body = match ctx.body(config.max_body).await {
        Ok(body) => body,
        Err(BodyError::TooLarge { .. }) => {
            return Flow::Respond(failure(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE))
        }
        Err(e) => return Flow::Respond(failure(StatusCode::BAD_REQUEST, &e.to_string())),
    };
    let Some(inner) = server.upgrade() else {
        return Flow::Next(ctx);
    };
    Flow::Respond(dispatch(&Primus { inner }, &body))
}

/// Who a request is for.
#[derive(Debug, PartialEq)]
enum Target {
    All,
    Sparks(Vec<String>),
    Rooms {
        rooms: Vec<String>,
        except: Vec<String>,
    },
}

/// JavaScript truthiness, as npm's `if (!data.msg)` sees it.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// An absent or `null` field, one string, or a list of strings; `Err` for anything else.
fn names(v: Option<&Value>) -> Result<Option<Vec<String>>, ()> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or(()))
            .collect::<Result<Vec<_>, ()>>()
            .map(Some),
        Some(_) => Err(()),
    }
}

/// The message and its audience, or `None` for an invalid data structure.
fn parse(body: &[u8]) -> Option<(Value, Target)> {
    let Ok(Value::Object(mut data)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let msg = data.remove("msg").filter(truthy)?;
    let sparks = names(data.get("sparks")).ok()?;
    let rooms = names(data.get("rooms")).ok()?;
    let except = names(data.get("except")).ok()?;
    let target = match (sparks, rooms, except) {
        (None, None, None) => Target::All,
        (Some(ids), None, None) => Target::Sparks(ids),
        (None, Some(rooms), except) => Target::Rooms {
            rooms,
            except: except.unwrap_or_default(),
        },
        // Both `sparks` and `rooms`, or `except` without `rooms`: ambiguous.
        _ => return None,
    };
    Some((msg, target))
}

/// Whether the rooms plugin is on `primus` (joining nobody to no room has no effect and
/// fails only without it).
fn rooms_added(primus: &Primus) -> bool {
    PrimusRoomsExt::join(primus, Vec::<String>::new(), Vec::<String>::new()).is_ok()
}

fn dispatch(primus: &Primus, body: &[u8]) -> HttpResponse {
    let Some((msg, target)) = parse(body) else {
        return failure(StatusCode::INTERNAL_SERVER_ERROR, INVALID);
    };
    let sent = match target {
        Target::All => primus.write(&msg),
        Target::Sparks(ids) => primus.write_to(&ids, &msg),
        Target::Rooms { rooms, except } => {
            if !rooms_added(primus) {
                return failure(StatusCode::INTERNAL_SERVER_ERROR, NO_ROOMS);
            }
            primus.room(rooms).except(except).write(&msg)
        }
    };
    match sent {
        Ok(n) => json(StatusCode::OK, format!("{{ \"ok\": true, \"send\":{n} }}")),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_wire_format() {
        let p = |s: &str| parse(s.as_bytes());
        assert_eq!(p(r#"{"msg":1}"#), Some((json!(1), Target::All)));
        assert_eq!(
            p(r#"{"msg":"x","sparks":"a"}"#),
            Some((json!("x"), Target::Sparks(vec!["a".into()])))
        );
        assert_eq!(
            p(r#"{"msg":[],"sparks":["a","b"]}"#),
            Some((json!([]), Target::Sparks(vec!["a".into(), "b".into()])))
        );
        assert_eq!(
            p(r#"{"msg":{},"rooms":"r","except":["a"]}"#),
            Some((
                json!({}),
                Target::Rooms {
                    rooms: vec!["r".into()],
                    except: vec!["a".into()]
                }
            ))
        );
        for bad in [
            "",
            "nope",
            "[1]",
            "1",
            r#"{}"#,
            r#"{"msg":0}"#,
            r#"{"msg":0.0}"#,
            r#"{"msg":false}"#,
            r#"{"msg":""}"#,
            r#"{"msg":null}"#,
            r#"{"msg":1,"sparks":1}"#,
            r#"{"msg":1,"sparks":[1]}"#,
            r#"{"msg":1,"sparks":"a","rooms":"r"}"#,
            r#"{"msg":1,"except":"a"}"#,
            r#"{"msg":1,"rooms":{"a":1}}"#,
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn error_bodies_are_npms() {
        let body = |r: HttpResponse| {
            use http_body_util::BodyExt;
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(r.into_body().collect()).unwrap().to_bytes()
        };
        assert_eq!(
            body(failure(StatusCode::INTERNAL_SERVER_ERROR, INVALID)),
            r#"{ "ok": false, "reason": "invalid data structure" }"#
        );
        assert_eq!(
            body(unauthorized()),
            r#"{"ok":false,"reason":"I am programmed to protect, and sacrifice if necessary. Feel the power of my lazers! Pew pew!"}"#
        );
    }
}
