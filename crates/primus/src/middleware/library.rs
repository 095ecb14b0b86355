//! `primus.js`: serves the browser client at `<pathname>/primus.js` (`?esm` for the ES
//! module build) and its TypeScript declarations at `<pathname>/primus.d.ts`.
//!
//! Like the reference it sits right after `cors`, so the library is served without the
//! no-cache headers and without authorization. The body is built on the first request and
//! cached; it is rebuilt when the plugins or the authorizer change.

use super::{response, Ctx, Layer};
use crate::library::{build, Format, LibraryConfig};
use crate::server::Inner;
use bytes::Bytes;
use http::StatusCode;
use std::sync::{Arc, Mutex, Weak};

/// What a cached body was built from: the settings and the plugin instances.
#[derive(PartialEq)]
struct Key {
    config: LibraryConfig,
    plugins: Vec<(String, usize)>,
}

#[derive(Default)]
struct Cache {
    umd: Option<(Key, Bytes)>,
    esm: Option<(Key, Bytes)>,
}

pub(super) fn layer(server: Weak<Inner>) -> Layer {
    let cache = Arc::new(Mutex::new(Cache::default()));
    Layer::Sync(Arc::new(move |ctx: &mut Ctx| {
        let path = ctx.head.uri.path();
        let server = server.upgrade()?;
        let rest = path.strip_prefix(server.pathname.as_str())?;
        if rest == "/primus.d.ts" {
            return Some(response(
                StatusCode::OK,
                "application/typescript; charset=utf-8",
                crate::library::TYPES,
            ));
        }
        if rest != "/primus.js" {
            return None;
        }
        let esm = ctx
            .head
            .uri
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv == "esm" || kv.starts_with("esm=")));
        let primus = crate::Primus { inner: server };
        let plugins = primus.inner.plugins.all();
        let key = Key {
            config: LibraryConfig::of(&primus),
            plugins: plugins
                .iter()
                .map(|(n, p)| (n.clone(), Arc::as_ptr(p) as *const () as usize))
                .collect(),
        };
        let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
        let slot = if esm { &mut cache.esm } else { &mut cache.umd };
        let body = match slot {
            Some((k, body)) if *k == key => body.clone(),
            _ => {
                let code: Vec<(String, String)> = plugins
                    .iter()
                    .filter_map(|(n, p)| p.library().map(|js| (n.clone(), js)))
                    .collect();
                let format = if esm { Format::Esm } else { Format::Umd };
                let body = Bytes::from(build(&key.config, &code, format));
                *slot = Some((key, body.clone()));
                body
            }
        };
        Some(response(
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            body,
        ))
    }))
}
