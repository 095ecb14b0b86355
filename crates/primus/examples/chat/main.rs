//! A chat with rooms: the [`Emitter`] plugin for named events with acknowledgements, the
//! [`Rooms`] plugin for who hears what, the [`Session`] plugin for who is who, and a page
//! (`index.html`, served at `/`).
//!
//! ```sh
//! cargo run -p primus-rs --example chat -- --port 8080
//! # then open http://127.0.0.1:8080/ in two browser windows (or one private one)
//! ```
//!
//! The server listens on 127.0.0.1 only and prints `listening <port>` once it is bound
//! (`--port 0` picks a free port). `tests/browser/chat.test.mjs` drives two users through
//! the page in headless Chromium.
//!
//! # Who is who
//!
//! An axum application with tower-sessions (a [`MemoryStore`]) beside Primus:
//!
//! | route          | what it does                                                         |
//! |----------------|----------------------------------------------------------------------|
//! | `GET /`        | the page                                                             |
//! | `POST /login`  | the body (text) is the name: stored as `user` in the session, `{user}` back (400 `{error}` for a bad name) |
//! | `POST /logout` | ends the session                                                     |
//! | `GET /me`      | `{user}` of the session (`null` when nobody is logged in)            |
//!
//! Primus has the session plugin on the same store, so a spark sees the session of the
//! cookie it connected with: its user is the user the HTTP login stored. The plugin takes
//! that snapshot when the spark connects, so the page connects again after logging in or
//! out. A spark without a session user may connect but `join` and `say` are refused with
//! `{error: "log in first"}`. (There is no `hello` event any more: the name comes from
//! the session only.)
//!
//! # Events
//!
//! Every answer is an acknowledgement; a refusal is an `{error: "…"}` object.
//!
//! | from the page                | what the server does                                        | acknowledgement        |
//! |------------------------------|-------------------------------------------------------------|------------------------|
//! | `join` (room)                | joins; the room gets `joined` `{user, room}` (joiner too)   | the spark's rooms      |
//! | `leave` (room)               | leaves; the rest of the room gets `left` `{user, room}`     | the spark's rooms      |
//! | `say` (room, text)           | the room (sender too) gets `message` `{room, user, text}`   | `true`                 |
//!
//! When a connection ends, the members of its rooms get `left` `{user, room}` for each.
//! `say` in a room the spark is not in is refused with `{error: "join the room first"}`.
//!
//! Limits: a name is 1 to [`MAX_NAME`] characters, a message 1 to [`MAX_TEXT`], a room
//! name one word of at most [`MAX_ROOM_NAME`] bytes, and a user is in at most
//! [`MAX_ROOMS`] rooms (the rooms plugin's `max_rooms_per_spark`).

use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use primus::plugins::emitter::{Ack, Emitter, Event, SparkEmitterExt};
use primus::plugins::rooms::{PrimusRoomsExt, Rooms, RoomsError, SparkRoomsExt};
use primus::plugins::session::{Session, SparkSessionExt};
use primus::{Options, Primus, Server, Spark};
use serde::Serialize;
use serde_json::json;
use tower_sessions::{MemoryStore, Session as HttpSession, SessionManagerLayer};

/// Longest user name, in characters.
const MAX_NAME: usize = 32;
/// Longest message, in characters.
const MAX_TEXT: usize = 2000;
/// Longest room name, in bytes (the rooms plugin's `max_room_name_length`).
const MAX_ROOM_NAME: usize = 40;
/// Most rooms one user is in at once (the rooms plugin's `max_rooms_per_spark`).
const MAX_ROOMS: usize = 10;

/// The page, served at `/`.
const PAGE: &str = include_str!("index.html");

/// The user of a spark: `user` of the session it connected with (the session plugin
/// takes a snapshot of it then; logging in or out later needs a new connection).
fn user_of(spark: &Spark) -> Option<String> {
    spark.session().and_then(|s| s.get::<String>("user"))
}

/// What the server sends about a room.
#[derive(Serialize)]
struct RoomEvent<'a> {
    user: &'a str,
    room: &'a str,
}

/// A chat message, as every member of its room gets it.
#[derive(Serialize)]
struct ChatMessage<'a> {
    room: &'a str,
    user: &'a str,
    text: &'a str,
}

/// Send the event `name` with one argument to every member of `room` (but `except`).
///
/// The emitter and rooms plugins do not know each other (npm `primus-emitter` adds
/// `room(..).send(..)` when both are there; this port has no such method yet), so this
/// goes through the room's members and emits to each.
fn emit_to_room<T: Serialize>(
    primus: &Primus,
    room: &str,
    except: Option<&str>,
    name: &str,
    arg: &T,
) {
    let mut target = primus.room([room]);
    if let Some(id) = except {
        target = target.except(id);
    }
    for id in target.members() {
        if let Some(member) = primus.spark(&id) {
            if let Err(e) = member.emit(name, &(arg,)) {
                tracing::debug!(spark = %id, error = %e, "could not send a chat event");
            }
        }
    }
}

/// Answer an event, if its sender asked for an answer.
fn reply<T: Serialize>(event: &Event, value: T) {
    if let Some(ack) = event.ack() {
        answer(ack, value);
    }
}

fn answer<T: Serialize>(ack: &Ack, value: T) {
    if let Err(e) = ack.send(&(value,)) {
        tracing::debug!(error = %e, "could not acknowledge a chat event");
    }
}

/// Refuse an event with `{error: message}`.
fn refuse(event: &Event, message: impl Into<String>) {
    reply(event, json!({ "error": message.into() }));
}

/// A string argument, trimmed, or the reason it is not one.
fn string_arg(event: &Event, i: usize, what: &str) -> Result<String, String> {
    event
        .arg::<String>(i)
        .map(|s| s.trim().to_string())
        .map_err(|_| format!("{what} must be a string"))
}

/// A room name from the page: one non-empty word (the rooms plugin checks the length).
fn room_arg(event: &Event) -> Result<String, String> {
    let room = string_arg(event, 0, "the room")?;
    if room.is_empty() {
        return Err("the room name is empty".into());
    }
    if room.chars().any(char::is_whitespace) {
        return Err("a room name is one word".into());
    }
    Ok(room)
}

/// The words a user sees for a refused join.
fn join_error(e: &RoomsError) -> String {
    match e {
        RoomsError::TooManyRooms { limit } => format!("you can be in at most {limit} rooms"),
        RoomsError::EmptyRoomName => "the room name is empty".into(),
        RoomsError::RoomNameTooLong { limit, .. } => {
            format!("room names are at most {limit} bytes long")
        }
        other => other.to_string(),
    }
}

/// `join` (room): join it; the rooms plugin's `join_room` event tells the room.
fn on_join(spark: &Spark, event: Event) {
    if user_of(spark).is_none() {
        return refuse(&event, "log in first");
    }
    let room = match room_arg(&event) {
        Ok(room) => room,
        Err(e) => return refuse(&event, e),
    };
    // A one-element list: a string would be split on whitespace into several rooms.
    match spark.join([room.as_str()]) {
        Ok(()) => reply(&event, spark.rooms()),
        Err(e) => refuse(&event, join_error(&e)),
    }
}

/// `leave` (room): leave it; the rooms plugin's `leave_room` event tells the room.
fn on_leave(spark: &Spark, event: Event) {
    let room = match room_arg(&event) {
        Ok(room) => room,
        Err(e) => return refuse(&event, e),
    };
    if spark.leave([room.as_str()]) == 0 {
        return refuse(&event, format!("you are not in {room}"));
    }
    reply(&event, spark.rooms());
}

/// `say` (room, text): a message to every member of the room, the sender too.
fn on_say(spark: &Spark, event: Event) {
    let Some(user) = user_of(spark) else {
        return refuse(&event, "log in first");
    };
    let room = match room_arg(&event) {
        Ok(room) => room,
        Err(e) => return refuse(&event, e),
    };
    let text = match event.arg::<String>(1) {
        Ok(text) => text,
        Err(_) => return refuse(&event, "the text must be a string"),
    };
    if text.trim().is_empty() {
        return refuse(&event, "the message is empty");
    }
    if text.chars().count() > MAX_TEXT {
        return refuse(
            &event,
            format!("a message is at most {MAX_TEXT} characters"),
        );
    }
    if !spark.rooms().contains(&room) {
        return refuse(&event, "join the room first");
    }
    let message = ChatMessage {
        room: &room,
        user: &user,
        text: &text,
    };
    emit_to_room(&spark.primus(), &room, None, "message", &message);
    reply(&event, true);
}

/// The rooms plugin with the chat's limits and its room events turned into chat events.
fn rooms() -> Rooms {
    Rooms::new()
        .max_rooms_per_spark(MAX_ROOMS)
        .max_room_name_length(MAX_ROOM_NAME)
        // Fired once per room really joined (joining twice says nothing the second time).
        .on_join_room(|spark, room| {
            let user = user_of(spark).unwrap_or_default();
            let joined = RoomEvent { user: &user, room };
            emit_to_room(&spark.primus(), room, None, "joined", &joined);
        })
        // An explicit `leave`: the spark is out of the room already.
        .on_leave_room(|spark, room| {
            let user = user_of(spark).unwrap_or_default();
            let left = RoomEvent { user: &user, room };
            emit_to_room(&spark.primus(), room, Some(spark.id()), "left", &left);
        })
        // The connection ended: the plugin took the spark out of all its rooms.
        .on_leave_all_rooms(|spark, rooms| {
            let user = user_of(spark).unwrap_or_default();
            let primus = spark.primus();
            for room in rooms {
                let left = RoomEvent { user: &user, room };
                emit_to_room(&primus, room, Some(spark.id()), "left", &left);
            }
        })
}

/// A handler of one chat event from the page.
type EventHandler = fn(&Spark, Event);

/// The chat server: both plugins and the four events.
fn chat(store: MemoryStore) -> Result<Primus, Box<dyn std::error::Error>> {
    let primus = Primus::new(Options::default())?;
    // The same store as the HTTP routes: a spark sees the session of its cookie.
    primus.plugin("session", Session::new(store))?;
    primus.plugin("emitter", Emitter::default())?;
    primus.plugin("rooms", rooms())?;
    primus.on_connection(|spark| {
        let events: [(&str, EventHandler); 3] =
            [("join", on_join), ("leave", on_leave), ("say", on_say)];
        for (name, handler) in events {
            if let Err(e) = spark.on_event(name, handler) {
                tracing::error!(event = name, error = %e, "could not listen to a chat event");
            }
        }
    });
    Ok(primus)
}

/// A user name from the login form: the same checks `hello` did before sessions.
fn check_name(raw: &str) -> Result<String, String> {
    let name = raw.trim().to_string();
    let len = name.chars().count();
    if len == 0 {
        return Err("the name is empty".into());
    }
    if len > MAX_NAME {
        return Err(format!("a name is at most {MAX_NAME} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("the name has control characters".into());
    }
    Ok(name)
}

/// A JSON answer with a status.
fn json_response(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    let mut res = Response::new(Body::from(value.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// `POST /login`, the body the name as text: `user` in the session, `{user}` back.
async fn login(session: HttpSession, body: String) -> Response<Body> {
    let name = match check_name(&body) {
        Ok(name) => name,
        Err(e) => return json_response(StatusCode::BAD_REQUEST, json!({ "error": e })),
    };
    // A new session id at login (no session fixation).
    if let Err(e) = session.cycle_id().await {
        tracing::warn!(error = %e, "could not renew the session id");
    }
    match session.insert("user", &name).await {
        Ok(()) => json_response(StatusCode::OK, json!({ "user": name })),
        Err(e) => {
            tracing::warn!(error = %e, "could not store the session");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": "could not store the session" }),
            )
        }
    }
}

/// `POST /logout`: the session goes.
async fn logout(session: HttpSession) -> Response<Body> {
    if let Err(e) = session.flush().await {
        tracing::warn!(error = %e, "could not end the session");
    }
    json_response(StatusCode::OK, json!({ "user": null }))
}

/// `GET /me`: `{user}` from the session (`null` when nobody is logged in).
async fn me(session: HttpSession) -> Response<Body> {
    let user: Option<String> = session.get("user").await.ok().flatten();
    json_response(StatusCode::OK, json!({ "user": user }))
}

/// The HTTP application beside Primus: the page at `/`, the login routes, 404 for the rest.
fn app(page: String, store: MemoryStore) -> Router {
    let page = Bytes::from(page);
    Router::new()
        .route(
            "/",
            get(move || {
                let page = page.clone();
                async move {
                    let mut res = Response::new(Body::from(page));
                    let headers = res.headers_mut();
                    headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    );
                    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                    headers.insert(
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    );
                    res
                }
            }),
        )
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(SessionManagerLayer::new(store).with_secure(false))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let port: u16 = match std::env::args().skip_while(|a| a != "--port").nth(1) {
        Some(p) => p.parse().map_err(|e| format!("--port {p}: {e}"))?,
        None => 8080,
    };
    let store = MemoryStore::default();
    let primus = chat(store.clone())?;
    let page = app(
        PAGE.replace(
            "/primus/primus.js",
            &format!("{}/primus.js", primus.pathname()),
        ),
        store,
    );
    let running = Server::bind(primus, ([127, 0, 0, 1], port).into())
        .iknowhttpsisbetter(true)
        .app(page)
        .start()
        .await?;
    println!("listening {}", running.local_addr().port());
    running
        .run_until(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await?;
    Ok(())
}
