//! What the transformers with HTTP sessions share (sockjs, sse, browserchannel): a
//! streaming response body fed by a session task through a bounded channel, and random
//! session ids. Request bodies are read with [`crate::service::read_body`].

use crate::service::HttpResponse;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// A response body fed by a session task through a bounded channel (the bound is the
/// task's backpressure); it ends when the task drops the sending half.
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    /// A `200` response streaming what is sent into `rx`'s channel.
    pub(crate) fn response(rx: mpsc::Receiver<Bytes>) -> HttpResponse {
        http::Response::new(ChannelBody { rx }.boxed())
    }
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = crate::error::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// 128 random bits, base64url without padding (22 characters): a session id is the
/// capability to act on the session, so it must not be guessable.
#[cfg(any(feature = "sse", feature = "browserchannel"))]
pub(crate) fn session_id() -> String {
    let mut b64 = String::with_capacity(24);
    primus_core::engineio::base64_encode_into(&rand::random::<[u8; 16]>(), &mut b64);
    b64.trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect()
}

#[cfg(all(test, any(feature = "sse", feature = "browserchannel")))]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_22_url_safe_characters() {
        let a = session_id();
        assert_eq!(a.len(), 22);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, session_id());
    }
}
