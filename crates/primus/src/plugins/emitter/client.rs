//! Rust client half: events on a [`Client`], against our server or a Node Primus server
//! with npm `primus-emitter`.

use super::super::common::Peer;
use super::{packet, EmitterError, EmitterOptions, Event, Shared};
use crate::client::{Client, ClientWriter};
use primus_core::Value;
use serde::Serialize;
use std::sync::Arc;

/// The event API of one client.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use primus::client::{Client, ClientOptions};
/// use primus::plugins::emitter::ClientEmitter;
///
/// let client = Client::new("http://127.0.0.1:8080", ClientOptions::default())?;
/// let events = ClientEmitter::attach(&client);
/// events.on("news", |_, event| println!("news: {:?}", event.args()))?;
/// let answer = events.emit_with_ack("ask", &("what time is it",)).await?;
/// println!("{answer:?}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientEmitter {
    shared: Arc<Shared<ClientEmitter>>,
    writer: ClientWriter,
}

impl std::fmt::Debug for ClientEmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientEmitter").finish_non_exhaustive()
    }
}

impl ClientEmitter {
    /// Attach an emitter with the default limits. Emitter packets from the server are
    /// consumed by it; other messages reach the client's stream as before.
    pub fn attach(client: &Client) -> ClientEmitter {
        Self::attach_with(client, EmitterOptions::default())
    }

    /// Attach an emitter with these limits.
    pub fn attach_with(client: &Client, options: EmitterOptions) -> ClientEmitter {
        let emitter = ClientEmitter {
            shared: Arc::new(Shared::new(options)),
            writer: client.writer(),
        };
        let this = emitter.clone();
        client.transform_incoming(move |value| match packet::parse(value) {
            None => true,
            Some(result) => {
                let outcome = result.map_err(EmitterError::from).and_then(|p| {
                    this.shared
                        .receive(&this, p, primus_core::reserved::client, || {
                            Peer::Client(this.writer.clone())
                        })
                });
                if let Err(e) = outcome {
                    tracing::debug!(error = %e, "emitter packet refused");
                }
                false
            }
        });
        emitter
    }

    /// Call `handler` for every `name` event from the server. Reserved client events
    /// (`open`, `data`, `end`, …) are refused.
    pub fn on(
        &self,
        name: &str,
        handler: impl Fn(&ClientEmitter, Event) + Send + Sync + 'static,
    ) -> Result<(), EmitterError> {
        self.shared
            .on(name, primus_core::reserved::client(name), Arc::new(handler))
    }

    /// Send the event `name` with `args` (a tuple for several, `&()` for none); queued
    /// like any write while the client is not connected.
    pub fn emit<T: Serialize + ?Sized>(&self, name: &str, args: &T) -> Result<(), EmitterError> {
        super::check_name(name)?;
        let args = packet::args_of(args)?;
        let event = packet::event(name, &args, None);
        Peer::Client(self.writer.clone())
            .write(&event)
            .map_err(EmitterError::Write)
    }

    /// Send the event and wait for the server's acknowledgement (its arguments).
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        name: &str,
        args: &T,
    ) -> Result<Vec<Value>, EmitterError> {
        let args = packet::args_of(args)?;
        self.shared
            .emit_with_ack(Peer::Client(self.writer.clone()), name, args)
            .await
    }
}
