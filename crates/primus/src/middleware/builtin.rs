//! The small built-in layers: `forwarded`, `spec`, `x-xss`, `no-cache`.

use super::{response, Ctx, Layer};
use crate::server::Inner;
use crate::service::PeerInfo;
use http::{header, HeaderValue, StatusCode};
use primus_core::forwarded::{self, Address};
use std::net::IpAddr;
use std::sync::{Arc, Weak};

/// `forwarded`: resolve the client's address (`X-Forwarded-*` from trusted proxies) once
/// and keep it in the request extensions as an [`Address`].
pub(super) fn forwarded(trusted: Vec<IpAddr>) -> Layer {
    Layer::Sync(Arc::new(move |ctx: &mut Ctx| {
        let address = resolve(&ctx.head, &trusted);
        ctx.head.extensions.insert(address);
        None
    }))
}

/// The client's address: the one the `forwarded` layer stored, or resolved now.
pub(crate) fn resolve(head: &http::request::Parts, trusted: &[IpAddr]) -> Address {
    if let Some(a) = head.extensions.get::<Address>() {
        return *a;
    }
    let peer = PeerInfo::from_extensions(&head.extensions);
    forwarded::resolve(peer.remote, peer.secure, &head.headers, trusted)
}

/// `spec`: `GET <pathname>/spec` (any method, like the reference) answers the server spec.
pub(super) fn spec(server: Weak<Inner>) -> Layer {
    Layer::Sync(Arc::new(move |ctx: &mut Ctx| {
        let server = server.upgrade()?;
        let path = ctx.head.uri.path();
        if path.len() != server.pathname.len() + 5 || !path.ends_with("/spec") {
            return None;
        }
        let primus = crate::Primus { inner: server };
        let body = serde_json::to_vec(&primus.spec()).unwrap_or_default();
        Some(response(StatusCode::OK, "application/json", body))
    }))
}

/// `x-xss`: old Internet Explorer gets `X-XSS-Protection: 0`.
pub(super) fn x_xss() -> Layer {
    Layer::Sync(Arc::new(|ctx: &mut Ctx| {
        let ua = ctx
            .head
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if ua.contains(";msie") || ua.contains("trident/") {
            ctx.response_headers
                .insert("x-xss-protection", HeaderValue::from_static("0"));
        }
        None
    }))
}

/// `no-cache`: nothing under the pathname may be cached.
pub(super) fn no_cache() -> Layer {
    Layer::Sync(Arc::new(|ctx: &mut Ctx| {
        let h = &mut ctx.response_headers;
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, no-cache, must-revalidate, max-age=0"),
        );
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        None
    }))
}
