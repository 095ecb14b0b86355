//! Rust client half: requests on a [`Client`], against our server or a Node Primus server
//! with npm `primus-responder`.

use super::super::common::Peer;
use super::{parse, Request, ResponderError, ResponderOptions, Shared};
use crate::client::{Client, ClientWriter};
use primus_core::Value;
use serde::Serialize;
use std::sync::Arc;

/// Requests and responses on one client.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use primus::client::{Client, ClientOptions};
/// use primus::plugins::responder::ClientResponder;
///
/// let client = Client::new("http://127.0.0.1:8080", ClientOptions::default())?;
/// let responder = ClientResponder::attach(&client);
/// responder.on_request(|_, request| { let _ = request.reply(&"pong"); });
/// let answer = responder.request(&"ping").await?;
/// println!("{answer:?}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientResponder {
    shared: Arc<Shared<ClientResponder>>,
    writer: ClientWriter,
}

impl std::fmt::Debug for ClientResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientResponder").finish_non_exhaustive()
    }
}

impl ClientResponder {
    /// Attach a responder with the default limits. Responder envelopes from the server
    /// are consumed; other messages reach the client's stream as before.
    pub fn attach(client: &Client) -> ClientResponder {
        Self::attach_with(client, ResponderOptions::default())
    }

    /// Attach a responder with these limits.
    pub fn attach_with(client: &Client, options: ResponderOptions) -> ClientResponder {
        let responder = ClientResponder {
            shared: Arc::new(Shared::new(&options)),
            writer: client.writer(),
        };
        let this = responder.clone();
        client.transform_incoming(move |value| match parse(value) {
            None => true,
            Some(packet) => {
                let outcome = packet.and_then(|p| {
                    this.shared
                        .receive(&this, p, || Peer::Client(this.writer.clone()))
                });
                if let Err(e) = outcome {
                    tracing::debug!(error = %e, "responder envelope refused");
                }
                false
            }
        });
        responder
    }

    /// Answer the server's requests with `handler` (replaces an earlier one).
    pub fn on_request(&self, handler: impl Fn(&ClientResponder, Request) + Send + Sync + 'static) {
        self.shared.set_handler(Arc::new(handler));
    }

    /// Ask the server; resolves with its response's data (`None` when it sent none).
    pub async fn request<T: Serialize + ?Sized>(
        &self,
        data: &T,
    ) -> Result<Option<Value>, ResponderError> {
        let data = primus_core::to_value(data)?;
        self.shared
            .request(Peer::Client(self.writer.clone()), Some(data))
            .await
    }
}
