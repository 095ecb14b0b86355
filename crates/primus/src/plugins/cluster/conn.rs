//! Connections to Redis: one standalone server or a Redis Cluster, behind one type, with
//! the reconnect policy the plugin needs (unlimited retries, back-off capped at 1 s).

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::time::Duration;

/// Where Redis is: parsed once from the plugin's URLs.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // one per plugin, cloned once per task
pub(crate) enum Target {
    Single(redis::Client),
    Cluster(ClusterClient),
}

/// Back-off between reconnect attempts: doubles from 100 ms, capped at 1 s, so a node
/// is back within about a second of Redis coming back.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(1);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// How long one command may take before it counts as failed (not for blocking reads).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl Target {
    pub(crate) fn single(url: &str) -> redis::RedisResult<Target> {
        Ok(Target::Single(redis::Client::open(url)?))
    }

    pub(crate) fn cluster(urls: &[String]) -> redis::RedisResult<Target> {
        let client = ClusterClient::builder(urls.iter().map(String::as_str))
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .build()?;
        Ok(Target::Cluster(client))
    }

    /// A command connection that reconnects by itself, forever (redis-rs's default gives
    /// up after 6 tries, after which a manager never comes back: see cluster-notes §7).
    pub(crate) async fn commands(&self) -> redis::RedisResult<Conn> {
        match self {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(usize::MAX)
                    .set_min_delay(MIN_BACKOFF)
                    .set_max_delay(MAX_BACKOFF)
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT));
                // The first connection would retry forever too: bound it, so the callers'
                // loops keep running (expiring the outbox, seeing the stop signal).
                let first = ConnectionManager::new_with_config(client.clone(), config);
                match tokio::time::timeout(CONNECT_TIMEOUT * 2, first).await {
                    Ok(manager) => Ok(Conn::Single(manager?)),
                    Err(_) => Err(redis::RedisError::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "Redis did not answer in time",
                    ))),
                }
            }
            Target::Cluster(client) => Ok(Conn::Cluster(client.get_async_connection().await?)),
        }
    }

    /// A connection for blocking reads (`XREAD BLOCK`): its own socket, so a blocked read
    /// never holds up other commands, and a response timeout longer than the block.
    pub(crate) async fn blocking(&self, block: Duration) -> redis::RedisResult<Conn> {
        let timeout = block + RESPONSE_TIMEOUT;
        match self {
            Target::Single(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(timeout));
                let conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                Ok(Conn::Reader(conn))
            }
            Target::Cluster(client) => {
                let config = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(timeout);
                Ok(Conn::Cluster(
                    client.get_async_connection_with_config(config).await?,
                ))
            }
        }
    }
}

/// One of the connection kinds; every command goes through [`ConnectionLike`].
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Reader(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Reader(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Reader(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Reader(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Exponential back-off for the plugin's own retry loops.
#[derive(Debug)]
pub(crate) struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(MIN_BACKOFF)
    }
}

impl Backoff {
    /// The next delay (with jitter), doubling up to [`MAX_BACKOFF`].
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        let jitter = rand::random::<u64>() % (d.as_millis() as u64 / 2 + 1);
        d / 2 + Duration::from_millis(jitter)
    }

    pub(crate) fn reset(&mut self) {
        self.0 = MIN_BACKOFF;
    }
}
