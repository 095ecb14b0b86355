//! The server heartbeat (reference: one global interval for all sparks).
//!
//! Every `ping_interval`, for every spark: if it showed no sign of life since the last
//! tick it is ended with `reconnect` semantics (the connection just closes, so the client
//! reconnects); otherwise its flag is cleared and it is sent `primus::ping::<now>`. The
//! ping is encoded once per tick and the bytes are shared by every spark.
//!
//! Signs of life: a `primus::pong`, a WebSocket ping or pong frame (as in the reference),
//! and, beyond the reference, any other incoming frame. A dead peer is therefore dropped
//! between one and two intervals after its last sign of life.
//!
//! Legacy (Primus ≤ 6) clients ping us instead; once one has, it gets no server pings and
//! its own pings keep it alive (they must come more often than `ping_interval`).

use super::spark::CloseKind;
use super::Inner;
use primus_core::protocol;
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(super) async fn run(server: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(server) = server.upgrade() else {
            return;
        };
        tick(&server);
    }
}

fn tick(server: &Inner) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let ping = match server.parser.encode(&protocol::ping(now)) {
        Ok(frame) => frame,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the heartbeat ping");
            return;
        }
    };
    for spark in server.sparks() {
        let shared = &spark.shared;
        if !shared.alive.swap(false, Ordering::Relaxed) {
            tracing::debug!(spark = %spark.id(), "no sign of life for a whole interval, closing");
            shared.finish(CloseKind::Normal, None);
            continue;
        }
        if !shared.legacy.load(Ordering::Relaxed) {
            // A full queue means the peer is not reading; the alive flag decides its fate.
            let _ = spark.write_frame(ping.clone());
        }
    }
}
