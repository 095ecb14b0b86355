//! A chat with rooms: the [`Emitter`] plugin for named events with acknowledgements, the
//! [`Rooms`] plugin for who hears what, and a page (`index.html`, served at `/`).
//!
//! ```sh
//! cargo run -p primus-rs --example chat -- --port 8080
//! # then open http://127.0.0.1:8080/ in two browser windows
//! ```
//!
//! The server listens on 127.0.0.1 only and prints `listening <port>` once it is bound
//! (`--port 0` picks a free port). `tests/browser/chat.test.mjs` drives two users through
//! the page in headless Chromium.
//!
//! # Events
//!
//! Every answer is an acknowledgement; a refusal is an `{error: "…"}` object.
//!
//! | from the page                | what the server does                                        | acknowledgement        |
//! |------------------------------|-------------------------------------------------------------|------------------------|
//! | `hello` (name)               | remembers the user name on the spark                        | `{user}`               |
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
//!
//! # Who is who
//!
//! For now the user name is whatever the page sends with `hello`, before anything else,
//! and it lasts as long as the connection (the page sends it again, and joins its rooms
//! again, when it reconnects). Nothing authenticates it: sharing the login of an HTTP
//! session with the real-time connection is the job of a session plugin
//! (tower-sessions) that does not exist yet.

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use primus::plugins::emitter::{Ack, Emitter, Event, SparkEmitterExt};
use primus::plugins::rooms::{PrimusRoomsExt, Rooms, RoomsError, SparkRoomsExt};
use primus::{Options, Primus, Server, Spark};
use serde::Serialize;
use serde_json::json;
use std::convert::Infallible;
use std::task::{Context, Poll};

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

/// The user name of a spark, set by its `hello` event.
#[derive(Clone, Default)]
struct User(Option<String>);

fn user_of(spark: &Spark) -> Option<String> {
    spark.state::<User>().and_then(|u| u.0)
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

/// `hello` (name): set the user name, once per connection (the same name again is fine).
fn on_hello(spark: &Spark, event: Event) {
    let name = match string_arg(&event, 0, "the name") {
        Ok(name) => name,
        Err(e) => return refuse(&event, e),
    };
    let len = name.chars().count();
    if len == 0 {
        return refuse(&event, "the name is empty");
    }
    if len > MAX_NAME {
        return refuse(&event, format!("a name is at most {MAX_NAME} characters"));
    }
    if name.chars().any(char::is_control) {
        return refuse(&event, "the name has control characters");
    }
    if let Some(old) = user_of(spark) {
        if old != name {
            return refuse(&event, format!("you are {old} already"));
        }
    }
    spark.set_state(User(Some(name.clone())));
    reply(&event, json!({ "user": name }));
}

/// `join` (room): join it; the rooms plugin's `join_room` event tells the room.
fn on_join(spark: &Spark, event: Event) {
    if user_of(spark).is_none() {
        return refuse(&event, "say hello first");
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
        return refuse(&event, "say hello first");
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
fn chat() -> Result<Primus, Box<dyn std::error::Error>> {
    let primus = Primus::new(Options::default())?;
    primus.plugin("emitter", Emitter::default())?;
    primus.plugin("rooms", rooms())?;
    primus.on_connection(|spark| {
        let events: [(&str, EventHandler); 4] = [
            ("hello", on_hello),
            ("join", on_join),
            ("leave", on_leave),
            ("say", on_say),
        ];
        for (name, handler) in events {
            if let Err(e) = spark.on_event(name, handler) {
                tracing::error!(event = name, error = %e, "could not listen to a chat event");
            }
        }
    });
    Ok(primus)
}

/// The HTTP application beside Primus: the page at `/`, 404 for anything else.
#[derive(Clone)]
struct Page(Bytes);

impl<B> tower_service::Service<Request<B>> for Page {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (status, content_type, body) = match (req.method(), req.uri().path()) {
            (&Method::GET | &Method::HEAD, "/" | "/index.html") => {
                (StatusCode::OK, "text/html; charset=utf-8", self.0.clone())
            }
            _ => (
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                Bytes::from_static(b"not found"),
            ),
        };
        let mut res = Response::new(Full::new(body));
        *res.status_mut() = status;
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        std::future::ready(Ok(res))
    }
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
    let primus = chat()?;
    let page = Page(Bytes::from(PAGE.replace(
        "/primus/primus.js",
        &format!("{}/primus.js", primus.pathname()),
    )));
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
