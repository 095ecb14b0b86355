//! `primus connect`: stdin lines out (JSON when they parse, strings otherwise), received
//! messages as JSON lines on stdout, against `primus serve` (both the real binary), and
//! in a real shell pipeline: at stdin EOF the replies still in flight are printed.
#![cfg(feature = "cli")] // needs the binary

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Serve(std::process::Child);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve() -> (Serve, u16) {
    serve_with(&["--ping-interval", "500"])
}

fn serve_with(flags: &[&str]) -> (Serve, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_primus"))
        .args(["serve", "--port", "0"])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start primus serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .unwrap()
        .parse()
        .unwrap();
    (Serve(child), port)
}

#[test]
fn connect_writes_stdin_lines_and_prints_messages_as_json_lines() {
    let (_server, port) = serve();
    let mut child = Command::new(env!("CARGO_BIN_EXE_primus"))
        .args([
            "connect",
            "--linger",
            "500",
            &format!("http://127.0.0.1:{port}"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start primus connect");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\"hello\"\n{\"a\":[1,2]}\nplain text\nbroadcast:all\n")
        .unwrap();
    let started = Instant::now();
    let out = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status, child.wait_with_output().unwrap());
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "connect did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let (status, output) = out;
    assert!(status.success(), "{status}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["\"hello\"", "{\"a\":[1,2]}", "\"plain text\"", "\"all\""]
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("open"), "events on stderr: {stderr}");
}

#[test]
fn connect_stays_while_stdin_is_open_and_exits_once_it_closes() {
    let (_server, port) = serve();
    let mut child = Command::new(env!("CARGO_BIN_EXE_primus"))
        .args(["connect", &format!("http://127.0.0.1:{port}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"\"x\"\n").unwrap();
    // stdin stays open: only the server can end this. Killing the server drops the
    // connection with reconnect semantics, so the client keeps trying: instead check it
    // is still running, then close stdin and see it exit.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still connected while stdin is open"
    );
    drop(stdin);
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "connect did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(child.wait().unwrap().success());
}

/// Run `printf <input> | primus connect <args>` in `sh`; its stdout lines, after it
/// exited successfully within `limit`.
fn pipeline(input: &str, args: &str, limit: Duration) -> Vec<String> {
    let script = format!(
        "printf '{input}' | '{}' connect {args}",
        env!("CARGO_BIN_EXE_primus")
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sh");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("`{script}` did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `primus serve --transformer webtransport` says where its UDP endpoint is and the hash
/// of its self-signed certificate; `primus connect --trust-published-hashes` trusts it.
#[test]
#[cfg(feature = "webtransport")]
fn webtransport_serve_publishes_its_hash_and_connect_trusts_it() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_primus"))
        .args(["serve", "--port", "0", "--transformer", "webtransport"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start primus serve");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut listening, mut udp) = (String::new(), String::new());
    out.read_line(&mut listening).unwrap();
    out.read_line(&mut udp).unwrap();
    let _server = Serve(child);
    let port: u16 = listening
        .trim()
        .strip_prefix("listening ")
        .unwrap()
        .parse()
        .unwrap();
    let words: Vec<&str> = udp.split_whitespace().collect();
    assert_eq!(
        words[..4],
        ["webtransport", "udp", &port.to_string(), "sha-256"],
        "{udp}"
    );
    assert_eq!(words[4].split(':').count(), 32, "{udp}");
    let lines = pipeline(
        r#""a"\n{"b":2}\n"#,
        &format!("--transformer webtransport --trust-published-hashes http://127.0.0.1:{port}"),
        Duration::from_secs(15),
    );
    assert_eq!(lines, [r#""a""#, r#"{"b":2}"#]);
}

#[test]
fn a_pipeline_without_linger_prints_every_reply_on_each_transformer() {
    for transformer in ["websockets", "engine.io", "sockjs"] {
        let (_server, port) = serve_with(&["--transformer", transformer]);
        // Several runs: the replies race the end of stdin.
        for run in 0..3 {
            let started = Instant::now();
            let lines = pipeline(
                r#""a"\n"b"\n{"c":3}\n"#,
                &format!("--transformer {transformer} http://127.0.0.1:{port}"),
                Duration::from_secs(15),
            );
            assert_eq!(
                lines,
                [r#""a""#, r#""b""#, r#"{"c":3}"#],
                "{transformer}, run {run}"
            );
            // The close handshake ends it; it does not wait out a fixed delay.
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{transformer}: took {:?}",
                started.elapsed()
            );
        }
    }
}

#[test]
fn a_pipeline_whose_stdin_ends_before_the_connection_opens_still_delivers() {
    // stdin is at EOF before the first connection is even open: the writes wait for it.
    let (_server, port) = serve_with(&[]);
    let lines = pipeline(
        r#""only"\n"#,
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(15),
    );
    assert_eq!(lines, [r#""only""#]);
}
