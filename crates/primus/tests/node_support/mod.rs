//! The real Node Primus 8 server (`tests/interop/reference-server.mjs`, its npm packages
//! pinned by `tests/interop/package-lock.json`; or another script, such as
//! `tests/plugins/multiplex-reference-server.mjs`), started by Rust tests. A missing `node` is
//! a failure, not a skip; `npm ci` runs when `node_modules` is missing or older than the
//! lock file.
#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const START: Duration = Duration::from_secs(10);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `npm ci` in `dir` (relative to the repository) when its `node_modules` is missing or
/// older than its lock file; once per folder per test binary.
fn ensure_npm_deps(dir: &str) {
    static DONE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if done.iter().any(|d| d == dir) {
        return;
    }
    let folder = repo_root().join(dir);
    let installed = folder.join("node_modules/.package-lock.json");
    let fresh = match (
        std::fs::metadata(&installed).and_then(|m| m.modified()),
        std::fs::metadata(folder.join("package-lock.json")).and_then(|m| m.modified()),
    ) {
        (Ok(installed), Ok(lock)) => installed >= lock,
        _ => false,
    };
    if !fresh {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&folder)
            .status()
            .unwrap_or_else(|e| panic!("npm is needed to install the Node servers ({dir}): {e}"));
        assert!(status.success(), "npm ci failed in {dir}");
    }
    done.push(dir.to_string());
}

/// A running reference server; killed on drop.
pub struct NodeServer {
    child: Child,
    pub port: u16,
}

impl NodeServer {
    /// Start on a free port with extra flags (`--transformer`, `--parser`, …).
    pub fn start(args: &[&str]) -> NodeServer {
        Self::start_on(0, args)
    }

    /// Start on a given port (to restart a server where clients expect it).
    pub fn start_on(port: u16, args: &[&str]) -> NodeServer {
        let port_arg = port.to_string();
        let mut all = vec!["--port", &port_arg, "--pathname", "/primus"];
        all.extend_from_slice(args);
        Self::start_script("tests/interop", "reference-server.mjs", &all)
    }

    /// Start another Node server of the same contract shape (`listening <port>` first):
    /// `script` in the folder `dir` of the repository, whose packages are installed first.
    pub fn start_script(dir: &str, script: &str, args: &[&str]) -> NodeServer {
        ensure_npm_deps(dir);
        let root = repo_root();
        let mut child = Command::new("node")
            .arg(root.join(dir).join(script))
            .args(args)
            .current_dir(&root)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("`node` must be installed to run the reference interop tests");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(START)
            .expect("reference server did not print `listening <port>`");
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the reference server: {line}"));
        NodeServer { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        self.kill();
    }
}
