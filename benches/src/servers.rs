//! Starting and stopping the servers under test.
//!
//! Every server is started as `sh -c 'ulimit -n <N>; exec <program> <args>'` so that it can
//! hold the idle connections and so that the pid we watch is the server itself. It must print
//! `listening <port>` on stdout once bound; its WebSocket endpoint is then
//! `ws://127.0.0.1:<port>/primus`.

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::procfs;

/// How long a server may take to print `listening <port>`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How many lines of a server's stderr to keep for error reports.
const STDERR_LINES: usize = 20;

/// The servers the comparison knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// primus-rs: `target/release/primus serve`.
    Ours,
    /// The raw tokio-tungstenite echo server built into this binary.
    Raw,
    /// The Node reference: `node tests/interop/reference-server.mjs`.
    Node,
}

impl ServerKind {
    /// Short name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Ours => "ours",
            ServerKind::Raw => "raw",
            ServerKind::Node => "node",
        }
    }

    /// One-line description for reports.
    pub fn description(self) -> &'static str {
        match self {
            ServerKind::Ours => "primus-rs (`primus serve`)",
            ServerKind::Raw => {
                "raw tokio-tungstenite echo, default `WebSocketConfig` \
                 (its 128 KiB read buffer is allocated eagerly per connection)"
            }
            ServerKind::Node => "Node Primus 8 reference server (ws transformer)",
        }
    }
}

impl FromStr for ServerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "ours" => Ok(ServerKind::Ours),
            "raw" => Ok(ServerKind::Raw),
            "node" => Ok(ServerKind::Node),
            other => Err(format!(
                "unknown server `{other}` (expected ours, raw or node)"
            )),
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where to find the programs.
#[derive(Debug, Clone)]
pub struct Locations {
    /// Workspace root (the Node server path is relative to it).
    pub root: PathBuf,
    /// The primus-rs binary.
    pub primus_bin: PathBuf,
    /// Open-file limit to give each server.
    pub nofile: u64,
}

/// Why a server could not be used.
#[derive(Debug, Clone)]
pub enum StartError {
    /// Not built or not installed: reported and skipped.
    Unavailable(String),
    /// Present but did not come up.
    Failed(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Unavailable(why) => write!(f, "unavailable: {why}"),
            StartError::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// The program and arguments that start `kind`, or why it cannot be started.
fn command_line(
    kind: ServerKind,
    at: &Locations,
    ping_interval_ms: u64,
) -> Result<(PathBuf, Vec<String>), StartError> {
    let ping = ping_interval_ms.to_string();
    match kind {
        ServerKind::Ours => {
            if !at.primus_bin.is_file() {
                return Err(StartError::Unavailable(format!(
                    "{} not built (cargo build --release -p primus-rs)",
                    at.primus_bin.display()
                )));
            }
            let args = ["serve", "--port", "0", "--ping-interval", &ping];
            Ok((at.primus_bin.clone(), args.map(String::from).to_vec()))
        }
        ServerKind::Raw => {
            let exe = std::env::current_exe()
                .map_err(|e| StartError::Unavailable(format!("current_exe: {e}")))?;
            let args = ["raw-echo", "--port", "0", "--ping-interval", &ping];
            Ok((exe, args.map(String::from).to_vec()))
        }
        ServerKind::Node => {
            let script = at.root.join("tests/interop/reference-server.mjs");
            if !script.is_file() {
                return Err(StartError::Unavailable(format!(
                    "{} missing",
                    script.display()
                )));
            }
            let modules = at.root.join("tests/interop/node_modules/primus");
            if !modules.is_dir() {
                return Err(StartError::Unavailable(
                    "npm deps missing (cd tests/interop && npm ci)".to_string(),
                ));
            }
            if procfs::command_output("node", &["--version"]).is_none() {
                return Err(StartError::Unavailable("`node` not found".to_string()));
            }
            let script = script.to_string_lossy().into_owned();
            let args = [script.as_str(), "--port", "0", "--ping-interval", &ping];
            Ok((PathBuf::from("node"), args.map(String::from).to_vec()))
        }
    }
}

/// A running server process; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    /// Starts `kind` and waits for its `listening <port>` line.
    pub fn start(
        kind: ServerKind,
        at: &Locations,
        ping_interval_ms: u64,
    ) -> Result<Self, StartError> {
        let (program, args) = command_line(kind, at, ping_interval_ms)?;
        let script = format!("ulimit -n {} 2>/dev/null; exec \"$0\" \"$@\"", at.nofile);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&program)
            .args(&args)
            .current_dir(&at.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| StartError::Failed(format!("spawn {}: {e}", program.display())))?;

        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(pipe) = child.stderr.take() {
            let keep = stderr.clone();
            thread::spawn(move || keep_tail(pipe, &keep));
        }
        let (tx, rx) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            thread::spawn(move || {
                let mut sent = false;
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if !sent {
                        if let Some(port) = line.trim().strip_prefix("listening ") {
                            sent = tx.send(port.trim().parse::<u16>().ok()).is_ok();
                        }
                    }
                    // Keep draining so that the server never blocks on a full pipe.
                }
            });
        }
        let mut server = Server {
            child,
            port: 0,
            stderr,
        };
        match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Some(port)) if port != 0 => {
                server.port = port;
                Ok(server)
            }
            Ok(_) => Err(StartError::Failed(format!(
                "bad `listening` line{}",
                server.stderr_tail()
            ))),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(StartError::Failed(format!(
                "no `listening <port>` line within {STARTUP_TIMEOUT:?}{}",
                server.stderr_tail()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                thread::sleep(Duration::from_millis(100));
                let status = server
                    .child
                    .try_wait()
                    .ok()
                    .flatten()
                    .map_or_else(|| "closed stdout".to_string(), |s| s.to_string());
                Err(StartError::Failed(format!(
                    "exited before listening ({status}){}",
                    server.stderr_tail()
                )))
            }
        }
    }

    /// The server's pid (the `sh` wrapper has exec'd into it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The WebSocket endpoint.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/primus", self.port)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines the server wrote to stderr, formatted for an error message.
    pub fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().map(|l| l.clone()).unwrap_or_default();
        if lines.is_empty() {
            String::new()
        } else {
            let joined: Vec<String> = lines.into_iter().collect();
            format!("; stderr: {}", joined.join(" | "))
        }
    }

    /// Kills the server and waits for it.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn keep_tail(pipe: impl Read, keep: &Mutex<VecDeque<String>>) {
    for line in BufReader::new(pipe).lines() {
        let Ok(line) = line else { break };
        if let Ok(mut lines) = keep.lock() {
            if lines.len() == STDERR_LINES {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    }
}

/// The workspace root this binary was built from.
pub fn default_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
