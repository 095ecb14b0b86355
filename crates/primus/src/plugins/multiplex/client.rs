//! Rust client half: substreams on a [`Client`], against our server or a Node Primus
//! server with npm `substream`.

use super::{Link, MultiplexError, MultiplexOptions, Shared, Substream};
use crate::client::{Client, ClientWriter};
use std::sync::Arc;

/// The substreams of one client.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use futures_util::StreamExt;
/// use primus::client::{Client, ClientOptions};
/// use primus::plugins::multiplex::ClientMultiplex;
///
/// let client = Client::new("http://127.0.0.1:8080", ClientOptions::default())?;
/// let mux = ClientMultiplex::attach(&client);
/// let mut news = mux.substream("news")?;
/// news.write(&"subscribe")?;
/// while let Some(item) = news.next().await {
///     println!("news: {item}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientMultiplex {
    shared: Arc<Shared<ClientMultiplex>>,
    writer: ClientWriter,
}

impl std::fmt::Debug for ClientMultiplex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientMultiplex")
            .field("substreams", &self.substreams())
            .finish_non_exhaustive()
    }
}

impl ClientMultiplex {
    /// Attach a multiplexer with the default limits. Packets for substreams open here are
    /// consumed by them; other messages reach the client's stream as before.
    pub fn attach(client: &Client) -> ClientMultiplex {
        Self::attach_with(client, MultiplexOptions::default())
    }

    /// Attach a multiplexer with these limits.
    pub fn attach_with(client: &Client, options: MultiplexOptions) -> ClientMultiplex {
        let mux = ClientMultiplex {
            shared: Shared::new(options),
            writer: client.writer(),
        };
        let this = mux.clone();
        client.transform_incoming(move |value| {
            let writer = this.writer.clone();
            match this
                .shared
                .receive(&this, value, move || Link::Client(writer))
            {
                Ok(consumed) => !consumed,
                Err(e) => {
                    tracing::debug!(error = %e, "substream packet refused");
                    false
                }
            }
        });
        mux
    }

    /// The substream `name`: the open one, or a new one (nothing is sent until you
    /// write). Writes are queued like any client write while the client is not connected.
    pub fn substream(&self, name: &str) -> Result<Substream, MultiplexError> {
        self.shared.open(name, || Link::Client(self.writer.clone()))
    }

    /// Accept the substreams the server opens (see
    /// [`SparkMultiplexExt::on_substream`](super::SparkMultiplexExt::on_substream)).
    ///
    /// ```no_run
    /// # fn f(mux: primus::plugins::multiplex::ClientMultiplex) {
    /// mux.on_substream(|_, sub| println!("the server opened {}", sub.name()));
    /// # }
    /// ```
    pub fn on_substream(
        &self,
        handler: impl Fn(&ClientMultiplex, Substream) + Send + Sync + 'static,
    ) {
        self.shared.on_substream(Arc::new(handler));
    }

    /// The names of the open substreams, sorted.
    pub fn substreams(&self) -> Vec<String> {
        self.shared.names()
    }

    /// End every substream locally (no frames) and open no more: call it when the client
    /// ends (its [`ClientEvent::End`](crate::client::ClientEvent::End)). Dropping the
    /// client and every `ClientMultiplex` handle ends their streams too.
    pub fn close_all(&self) {
        self.shared.close_all();
    }
}
