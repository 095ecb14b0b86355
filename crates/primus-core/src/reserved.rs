//! Event names the reference reserves for itself (`reserved(evt)` on server, spark and
//! client): `incoming::*`, `outgoing::*` and each side's built-in events. Plugins that
//! emit their own events (an emitter plugin, say) check these to avoid clashes.

fn internal(event: &str) -> bool {
    event.starts_with("incoming::") || event.starts_with("outgoing::")
}

/// Reserved on the server (`primus.reserved`).
///
/// ```
/// assert!(primus_core::reserved::server("connection"));
/// assert!(primus_core::reserved::server("outgoing::ping"));
/// assert!(!primus_core::reserved::server("chat"));
/// ```
pub fn server(event: &str) -> bool {
    internal(event)
        || matches!(
            event,
            "connection" | "disconnection" | "initialised" | "plugin" | "plugout" | "close" | "log"
        )
}

/// Reserved on a spark (`spark.reserved`).
pub fn spark(event: &str) -> bool {
    internal(event)
        || matches!(
            event,
            "readyStateChange" | "heartbeat" | "error" | "data" | "end"
        )
}

/// Reserved on a client (`primus.reserved` in the client library).
pub fn client(event: &str) -> bool {
    internal(event)
        || matches!(
            event,
            "reconnect scheduled"
                | "reconnect timeout"
                | "readyStateChange"
                | "reconnect failed"
                | "reconnected"
                | "reconnect"
                | "offline"
                | "timeout"
                | "destroy"
                | "online"
                | "error"
                | "close"
                | "open"
                | "data"
                | "end"
        )
}
