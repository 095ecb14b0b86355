//! What the e2e server binaries share: the start-up line the suites wait for and the
//! signals that stop them.

use std::io::Write;
use std::net::SocketAddr;

/// Print `listening <port>` (the first stdout line every suite waits for) and flush it.
pub fn announce(addr: SocketAddr) {
    println!("listening {}", addr.port());
    let _ = std::io::stdout().flush();
}

/// Resolves on Ctrl-C or SIGTERM: the shutdown signal for `Running::run_until`.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        } => {}
    }
}
