//! The rooms plugin (npm `primus-rooms` semantics) against an in-process server and real
//! WebSocket clients: joins and leaves, room broadcasts (members only, `except`, each
//! member once), listings, leaving on disconnect, events, and the limits.

mod server_support;

use primus::plugins::rooms::{PrimusRoomsExt, Rooms, RoomsError, SparkRoomsExt};
use primus::{Primus, Spark};
use server_support::*;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A server with the plugin, and `n` connected clients with their sparks (same order).
async fn setup(rooms: Rooms, n: usize) -> (TestServer, Vec<RawWs>, Vec<Spark>) {
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("rooms", rooms).unwrap();
    let sparks = Arc::new(Mutex::new(Vec::new()));
    let s = sparks.clone();
    primus.on_connection(move |spark| s.lock().unwrap().push(spark));
    let server = TestServer::serve(primus).await;
    let mut clients = Vec::new();
    for i in 0..n {
        clients.push(RawWs::connect(server.addr, "/primus", "").await);
        wait_until(WAIT, "the spark", || sparks.lock().unwrap().len() == i + 1).await;
    }
    let sparks = sparks.lock().unwrap().clone();
    (server, clients, sparks)
}

/// The next data frame of `ws`, as the JSON text the server wrote.
async fn next_text(ws: &mut RawWs) -> String {
    ws.read_non_ping().await.text()
}

/// Assert that `ws` got nothing before a marker written directly to its spark.
async fn assert_nothing_before_marker(ws: &mut RawWs, spark: &Spark) {
    spark.write("marker").unwrap();
    assert_eq!(
        next_text(ws).await,
        "\"marker\"",
        "no other frame came first"
    );
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn ids(sparks: &[&Spark]) -> Vec<String> {
    sorted(sparks.iter().map(|s| s.id().to_string()).collect())
}

#[tokio::test]
async fn room_broadcasts_reach_members_once_and_only_members() {
    let (server, mut ws, sparks) = setup(Rooms::new(), 3).await;
    let (a, b, c) = (&sparks[0], &sparks[1], &sparks[2]);
    let primus = &server.primus;

    a.join("news").unwrap();
    b.join(["news", "sport"]).unwrap();
    assert_eq!(a.rooms(), ["news"]);
    assert_eq!(b.rooms(), ["news", "sport"]);
    assert!(c.rooms().is_empty());
    assert_eq!(primus.rooms(), ["news", "sport"]);
    assert_eq!(sorted(primus.room_members("news")), ids(&[a, b]));
    assert_eq!(primus.room_members("sport"), [b.id()]);
    assert!(primus.room_members("nobody").is_empty());

    // Members only; the sender's own room broadcast includes itself (as in npm).
    assert_eq!(a.room("news").write("from A to news").unwrap(), 2);
    assert_eq!(next_text(&mut ws[0]).await, "\"from A to news\"");
    assert_eq!(next_text(&mut ws[1]).await, "\"from A to news\"");
    assert_nothing_before_marker(&mut ws[2], c).await;

    // except.
    assert_eq!(
        a.room("news")
            .except(a.id())
            .write("to news but not A")
            .unwrap(),
        1
    );
    assert_eq!(next_text(&mut ws[1]).await, "\"to news but not A\"");
    assert_nothing_before_marker(&mut ws[0], a).await;

    // Several rooms: B is in both but gets it once. Objects arrive as `spark.write` sends.
    assert_eq!(
        primus
            .room("news sport")
            .write(&serde_json::json!({"n": 1}))
            .unwrap(),
        2
    );
    assert_eq!(next_text(&mut ws[0]).await, r#"{"n":1}"#);
    assert_eq!(next_text(&mut ws[1]).await, r#"{"n":1}"#);
    assert_nothing_before_marker(&mut ws[1], b).await;
    assert_nothing_before_marker(&mut ws[2], c).await;

    assert_eq!(
        primus
            .room(vec!["news".to_string(), "sport".to_string()])
            .except(b.id())
            .write("news+sport except B")
            .unwrap(),
        1
    );
    assert_eq!(next_text(&mut ws[0]).await, "\"news+sport except B\"");
    assert_eq!(sorted(primus.room("news sport").members()), ids(&[a, b]));
    assert_eq!(primus.room("news sport").except(b).members(), [a.id()]);

    // No room: no one (documented; npm would pick every spark in some room).
    assert_eq!(
        primus.room(Vec::<String>::new()).write("nobody").unwrap(),
        0
    );
    assert_eq!(primus.room("empty-room").write("nobody").unwrap(), 0);
    for (w, s) in ws.iter_mut().zip(&sparks) {
        assert_nothing_before_marker(w, s).await;
    }

    // Leave one, leave all.
    assert_eq!(b.leave("news"), 1);
    assert_eq!(b.leave("news"), 0, "not a member any more");
    assert_eq!(primus.room_members("news"), [a.id()]);
    assert_eq!(b.leave_all(), ["sport"]);
    assert_eq!(primus.rooms(), ["news"], "empty rooms are gone");
    assert_eq!(primus.room("news sport").write("last").unwrap(), 1);
    assert_eq!(next_text(&mut ws[0]).await, "\"last\"");
    assert_nothing_before_marker(&mut ws[1], b).await;
}

#[tokio::test]
async fn primus_join_and_leave_by_id() {
    let (server, mut ws, sparks) = setup(Rooms::new(), 3).await;
    let primus = &server.primus;
    let (a, c) = (&sparks[0], &sparks[2]);
    let joined = primus
        .join(vec![a.id(), c.id(), "not-connected"], "lobby")
        .unwrap();
    assert_eq!(joined, 2, "unknown ids are skipped");
    assert_eq!(sorted(primus.room_members("lobby")), ids(&[a, c]));
    assert_eq!(primus.room("lobby").write("lobby").unwrap(), 2);
    assert_eq!(next_text(&mut ws[0]).await, "\"lobby\"");
    assert_eq!(next_text(&mut ws[2]).await, "\"lobby\"");
    assert_nothing_before_marker(&mut ws[1], &sparks[1]).await;

    assert_eq!(primus.leave(a, "lobby"), 1);
    assert_eq!(primus.room_members("lobby"), [c.id()]);
    assert_eq!(
        primus.join(a.id(), ""),
        Err(RoomsError::EmptyRoomName),
        "a bad name refuses the whole call"
    );
}

#[tokio::test]
async fn sparks_leave_their_rooms_when_they_disconnect() {
    let left = Arc::new(Mutex::new(Vec::new()));
    let l = left.clone();
    let rooms = Rooms::new().on_leave_all_rooms(move |s, rooms| {
        l.lock().unwrap().push((s.id().to_string(), rooms.to_vec()))
    });
    let (server, mut ws, sparks) = setup(rooms, 3).await;
    let primus = &server.primus;
    for s in &sparks {
        s.join("chat").unwrap();
    }
    sparks[1].join("b-only").unwrap();
    assert_eq!(primus.room_members("chat").len(), 3);

    // Client B goes away (close frame); C's TCP connection just drops.
    ws[1].send_close().await;
    let c = ws.pop().unwrap();
    drop(c);
    wait_until(Duration::from_secs(5), "members to shrink", || {
        primus.room_members("chat").len() == 1
    })
    .await;
    assert_eq!(primus.room_members("chat"), [sparks[0].id()]);
    assert_eq!(primus.rooms(), ["chat"], "b-only is gone with B");
    assert!(sparks[1].rooms().is_empty());
    let mut left = left.lock().unwrap().clone();
    left.sort();
    let mut expected = vec![
        (
            sparks[1].id().to_string(),
            vec!["chat".to_string(), "b-only".to_string()],
        ),
        (sparks[2].id().to_string(), vec!["chat".to_string()]),
    ];
    expected.sort();
    assert_eq!(left, expected);

    // A closed spark cannot join.
    assert_eq!(sparks[1].join("late"), Err(RoomsError::SparkClosed));
    assert_eq!(primus.rooms(), ["chat"]);
    assert_eq!(primus.room("chat").write("still here").unwrap(), 1);
    assert_eq!(next_text(&mut ws[0]).await, "\"still here\"");
}

#[tokio::test]
async fn room_events_fire_on_the_plugin_and_the_server() {
    type Log = Arc<Mutex<Vec<String>>>;
    let log: Log = Arc::default();
    let (l1, l2) = (log.clone(), log.clone());
    let rooms = Rooms::new()
        .on_join_room(move |_, room| l1.lock().unwrap().push(format!("plugin join {room}")))
        .on_rooms_error(move |_, e| l2.lock().unwrap().push(format!("plugin error {e}")));
    let (server, mut ws, sparks) = setup(rooms, 1).await;
    let primus = &server.primus;
    let (l3, l4, l5) = (log.clone(), log.clone(), log.clone());
    primus
        .on_join_room(move |_, room| l3.lock().unwrap().push(format!("join {room}")))
        .unwrap();
    primus
        .on_leave_room(move |_, room| l4.lock().unwrap().push(format!("leave {room}")))
        .unwrap();
    primus
        .on_leave_all_rooms(move |_, rooms| {
            l5.lock()
                .unwrap()
                .push(format!("leave all {}", rooms.join(",")))
        })
        .unwrap();

    let a = &sparks[0];
    a.join("x y").unwrap();
    a.join("x").unwrap(); // already in: no event
    assert_eq!(a.leave("y z"), 1);
    a.join("").unwrap_err();
    a.join("q").unwrap();
    assert_eq!(a.leave_all(), ["x", "q"]);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "plugin join x",
            "join x",
            "plugin join y",
            "join y",
            "leave y",
            "plugin error room names must not be empty",
            "plugin join q",
            "join q",
            "leave all x,q",
        ]
    );
    // Events never reach the wire.
    assert_nothing_before_marker(&mut ws[0], a).await;
}

#[tokio::test]
async fn joining_100_000_rooms_stops_at_the_limit() {
    let errors = Arc::new(Mutex::new(0usize));
    let e = errors.clone();
    let rooms = Rooms::new().on_rooms_error(move |_, _| *e.lock().unwrap() += 1);
    let (server, mut ws, sparks) = setup(rooms, 2).await;
    let primus = &server.primus;
    let a = &sparks[0];

    let mut refused = 0;
    for i in 0..100_000 {
        match a.join(format!("room-{i}")) {
            Ok(()) => assert!(i < 1000, "room {i} accepted past the limit"),
            Err(e) => {
                assert_eq!(e, RoomsError::TooManyRooms { limit: 1000 });
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 99_000);
    assert_eq!(
        *errors.lock().unwrap(),
        99_000,
        "each refusal fires rooms_error"
    );
    let err = a.join("one-more").unwrap_err();
    assert!(err.to_string().contains("max_rooms_per_spark"), "{err}");
    // Memory stays bounded: the refused rooms were never created.
    assert_eq!(a.rooms().len(), 1000);
    assert_eq!(primus.rooms().len(), 1000);
    assert_eq!(primus.room_members("room-999"), [a.id()]);
    assert!(primus.room_members("room-1000").is_empty());

    // A join is all or nothing: one list of 100 000 names from a fresh spark is refused whole.
    let b = &sparks[1];
    let names: Vec<String> = (0..100_000).map(|i| format!("bulk-{i}")).collect();
    assert_eq!(b.join(names), Err(RoomsError::TooManyRooms { limit: 1000 }));
    assert!(b.rooms().is_empty());
    assert_eq!(primus.rooms().len(), 1000);

    // Rooms already joined do not count twice; leaving makes room again.
    a.join("room-0 room-1").unwrap();
    assert_eq!(a.leave("room-0"), 1);
    a.join("fresh").unwrap();
    assert_eq!(a.rooms().len(), 1000);
    assert_eq!(a.rooms().last().map(String::as_str), Some("fresh"));

    // Broadcasting to all of them reaches A once.
    assert_eq!(primus.room(primus.rooms()).write("all").unwrap(), 1);
    assert_eq!(next_text(&mut ws[0]).await, "\"all\"");
    assert_nothing_before_marker(&mut ws[0], a).await;
}

#[tokio::test]
async fn bad_room_names_are_refused() {
    let (server, _ws, sparks) = setup(Rooms::new().max_room_name_length(16), 1).await;
    let a = &sparks[0];
    assert_eq!(a.join(""), Err(RoomsError::EmptyRoomName));
    assert_eq!(a.join("   "), Err(RoomsError::EmptyRoomName));
    assert_eq!(a.join(vec!["ok", ""]), Err(RoomsError::EmptyRoomName));
    let long = "x".repeat(17);
    assert_eq!(
        a.join(long.as_str()),
        Err(RoomsError::RoomNameTooLong { len: 17, limit: 16 })
    );
    assert!(a
        .join(vec!["fine", long.as_str()])
        .unwrap_err()
        .to_string()
        .contains("max_room_name_length"));
    assert!(a.rooms().is_empty(), "refused joins change nothing");
    a.join("x".repeat(16)).unwrap();
    // A list's names are used as they are (no splitting on spaces).
    a.join(["with space"]).unwrap();
    assert_eq!(a.rooms(), ["x".repeat(16), "with space".to_string()]);
    assert_eq!(server.primus.rooms().len(), 2);
}

#[tokio::test]
async fn default_name_limit_is_256_bytes() {
    let (_server, _ws, sparks) = setup(Rooms::new(), 1).await;
    let a = &sparks[0];
    a.join("é".repeat(128)).unwrap(); // 256 bytes
    assert_eq!(
        a.join("é".repeat(128) + "x"),
        Err(RoomsError::RoomNameTooLong {
            len: 257,
            limit: 256
        })
    );
}

#[tokio::test]
async fn outgoing_transforms_apply_to_each_member() {
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("rooms", Rooms::new()).unwrap();
    primus.transform_outgoing(|spark, data| {
        if let Some(text) = data.as_str() {
            let tag = spark.rooms().join(",");
            *data = format!("{text} [{tag}]").into();
        }
        Ok(primus::server::Transformed::Keep)
    });
    let sparks = Arc::new(Mutex::new(Vec::new()));
    let s = sparks.clone();
    primus.on_connection(move |spark| s.lock().unwrap().push(spark));
    let server = TestServer::serve(primus).await;
    let mut a = RawWs::connect(server.addr, "/primus", "").await;
    wait_until(WAIT, "the spark", || sparks.lock().unwrap().len() == 1).await;
    let spark = sparks.lock().unwrap()[0].clone();
    spark.join("t u").unwrap();
    assert_eq!(server.primus.room("t").write("hi").unwrap(), 1);
    assert_eq!(next_text(&mut a).await, "\"hi [t,u]\"");
}

#[tokio::test]
async fn without_the_plugin_rooms_are_empty_and_joins_refused() {
    let server = TestServer::start(quiet()).await;
    let sparks = Arc::new(Mutex::new(Vec::<Spark>::new()));
    let s = sparks.clone();
    server
        .primus
        .on_connection(move |spark| s.lock().unwrap().push(spark));
    let _ws = RawWs::connect(server.addr, "/primus", "").await;
    wait_until(WAIT, "the spark", || sparks.lock().unwrap().len() == 1).await;
    let spark = sparks.lock().unwrap()[0].clone();
    assert_eq!(spark.join("a"), Err(RoomsError::NotInstalled));
    assert!(RoomsError::NotInstalled
        .to_string()
        .contains("Rooms::new()"));
    assert_eq!(server.primus.room("a").write("x").unwrap(), 0);
    assert!(server.primus.rooms().is_empty());
    assert_eq!(
        server.primus.on_join_room(|_, _| {}),
        Err(RoomsError::NotInstalled)
    );
}

#[tokio::test]
async fn plugout_drops_the_memberships() {
    let (server, _ws, sparks) = setup(Rooms::new(), 2).await;
    let primus = &server.primus;
    sparks[0].join("a b").unwrap();
    sparks[1].join("b").unwrap();
    assert!(
        primus.plugin("rooms-again", Rooms::new()).is_err(),
        "one rooms plugin per server"
    );
    assert!(primus.plugout("rooms"));
    assert!(primus.rooms().is_empty());
    assert_eq!(sparks[0].join("a"), Err(RoomsError::NotInstalled));
    primus.plugin("rooms", Rooms::new()).unwrap();
    assert!(primus.rooms().is_empty());
    sparks[1].join("c").unwrap();
    assert_eq!(primus.rooms(), ["c"]);
}

#[tokio::test]
async fn fifty_members_get_the_same_bytes() {
    let (server, mut ws, sparks) = setup(Rooms::new(), 50).await;
    let primus = &server.primus;
    for (i, s) in sparks.iter().enumerate() {
        // Every spark in "all"; even ones also in "even": one copy each regardless.
        if i % 2 == 0 {
            s.join("all even").unwrap();
        } else {
            s.join("all").unwrap();
        }
    }
    let payload = serde_json::json!({"msg": "to the room", "ü": "✓"});
    assert_eq!(primus.room("even all").write(&payload).unwrap(), 50);
    let expected = payload.to_string();
    let mut seen = HashSet::new();
    for (w, s) in ws.iter_mut().zip(&sparks) {
        assert_eq!(next_text(w).await, expected);
        assert_nothing_before_marker(w, s).await;
        seen.insert(s.id().to_string());
    }
    assert_eq!(seen.len(), 50);
}

/// The official npm Primus client (from `tests/interop`, the pinned packages the other
/// interop tests use) joins through an application message and gets room broadcasts as
/// ordinary data: the plugin puts nothing of its own on the wire.
#[tokio::test]
async fn the_official_npm_client_joins_and_receives_room_broadcasts() {
    let interop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop");
    if !interop.join("node_modules/primus").exists() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&interop)
            .status()
            .expect("npm is needed for the interop check (tests/interop)");
        assert!(status.success(), "npm ci failed in tests/interop");
    }

    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("rooms", Rooms::new()).unwrap();
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let v = msg.value();
            if v.get("action").and_then(|a| a.as_str()) == Some("join") {
                let room = v.get("room").and_then(|r| r.as_str()).unwrap_or("");
                let reply = match spark.join(room) {
                    Ok(()) => format!("join {room} ok"),
                    Err(e) => e.to_string(),
                };
                spark.write(&reply).unwrap();
            }
        });
    });
    let server = TestServer::serve(primus).await;
    let script = r#"
        const Primus = require('primus');
        const Socket = Primus.createSocket({ transformer: 'websockets' });
        const client = new Socket(process.argv[1], { strategy: false });
        client.on('open', () => client.write({ action: 'join', room: 'news sport' }));
        client.on('data', (d) => {
            console.log(JSON.stringify(d));
            if (d === 'bye') client.end();
        });
        client.on('end', () => process.exit(0));
        setTimeout(() => process.exit(2), 10000);
    "#;
    let mut child = std::process::Command::new("node")
        .arg("-e")
        .arg(script)
        .arg(format!("http://{}", server.addr))
        .current_dir(&interop)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node is needed for the interop check");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let mut child = Kill(child);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    for _ in 0..3 {
        let line = within("a line from the npm client", rx.recv()).await;
        lines.push(line.expect("the npm client printed a line"));
        if lines.len() == 1 {
            assert_eq!(lines[0], "\"join news sport ok\"");
            let primus = &server.primus;
            assert_eq!(primus.rooms(), ["news", "sport"]);
            let msg = serde_json::json!({"n": 1});
            assert_eq!(primus.room("sport news").write(&msg).unwrap(), 1);
            assert_eq!(primus.room("news").write("bye").unwrap(), 1);
        }
    }
    assert_eq!(lines[1..], [r#"{"n":1}"#, "\"bye\""]);
    let status = within("the npm client to exit", async {
        loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(status.success(), "{status}");
    let primus = &server.primus;
    wait_until(WAIT, "the client's rooms to go", || {
        primus.rooms().is_empty()
    })
    .await;
}

/// Joins racing with disconnects leave nothing behind: once every client is gone, no
/// room is left (a join that lands after the spark's end-time cleanup undoes itself).
#[tokio::test]
async fn joins_racing_disconnects_leave_no_rooms_behind() {
    let (server, ws, sparks) = setup(Rooms::new(), 20).await;
    let primus = server.primus.clone();
    let mut joiners = Vec::new();
    for spark in sparks.clone() {
        joiners.push(tokio::spawn(async move {
            for i in 0..200 {
                match spark.join(format!("r{} shared", i % 50)) {
                    Ok(()) | Err(RoomsError::SparkClosed) => {}
                    Err(e) => panic!("unexpected {e}"),
                }
                if i % 20 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    // Drop the clients while the joins run.
    drop(ws);
    for j in joiners {
        within("a joiner", j).await.unwrap();
    }
    wait_until(WAIT, "every spark to end", || primus.connected() == 0).await;
    assert!(primus.rooms().is_empty(), "left: {:?}", primus.rooms());
    for s in &sparks {
        assert!(s.rooms().is_empty());
        assert_eq!(s.join("after"), Err(RoomsError::SparkClosed));
    }
}

/// npm's `room(..).send(event, ..)` with primus-emitter is a room write of the emitter
/// packet: the frame is byte for byte the one in the fixture (step 10).
#[tokio::test]
async fn an_emitter_packet_goes_out_as_in_the_fixture() {
    let (server, mut ws, sparks) = setup(Rooms::new(), 2).await;
    sparks[0].join("news").unwrap();
    sparks[1].join("tech news").unwrap();
    // Key order matters for byte compatibility: a struct keeps it.
    #[derive(serde::Serialize)]
    struct Packet {
        r#type: u8,
        data: (&'static str, &'static str, u32),
    }
    let packet = Packet {
        r#type: 0,
        data: ("news", "via send", 3),
    };
    assert_eq!(
        server.primus.room(["news", "tech"]).write(&packet).unwrap(),
        2
    );
    for w in &mut ws {
        assert_eq!(
            next_text(w).await,
            r#"{"type":0,"data":["news","via send",3]}"#
        );
    }
}

/// Wildcard rooms (fixture step 11), opt-in here: B in `user:*` gets what is sent to
/// `user:42`; without the option `user:*` is just a name.
#[tokio::test]
async fn wildcard_rooms_are_opt_in() {
    let (server, mut ws, sparks) = setup(Rooms::new().wildcards(true), 2).await;
    let (a, b) = (&sparks[0], &sparks[1]);
    b.join(["tech", "user:*"]).unwrap();
    a.join("user:42").unwrap();
    assert_eq!(server.primus.room("user:42").write("wild").unwrap(), 2);
    assert_eq!(next_text(&mut ws[0]).await, "\"wild\"");
    assert_eq!(next_text(&mut ws[1]).await, "\"wild\"");
    assert_eq!(server.primus.room("user:7").write("wild 7").unwrap(), 1);
    assert_eq!(next_text(&mut ws[1]).await, "\"wild 7\"");
    assert_nothing_before_marker(&mut ws[0], a).await;
    // Each member once, even when it matches through several rooms.
    assert_eq!(
        server
            .primus
            .room("user:42 user:43 tech")
            .write("once")
            .unwrap(),
        2
    );
    assert_eq!(next_text(&mut ws[1]).await, "\"once\"");
    assert_nothing_before_marker(&mut ws[1], b).await;

    let (server, _ws, sparks) = setup(Rooms::new(), 1).await;
    sparks[0].join("user:*").unwrap();
    assert_eq!(server.primus.room("user:42").write("tame").unwrap(), 0);
    assert_eq!(server.primus.room("user:*").write("exact").unwrap(), 1);
}
