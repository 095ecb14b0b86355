//! The browser client library, built per server configuration (the reference's
//! `primus.library()`), served at `GET <pathname>/primus.js` by the `primus.js` middleware
//! layer, with TypeScript declarations at `<pathname>/primus.d.ts`.
//!
//! The client is our own plain JavaScript (folder `client-js/` of this crate, embedded
//! here at compile time): the core, every transport (websockets, engine.io, sockjs, sse,
//! socket.io on top of engine.io's, browserchannel, webtransport; faye is the websockets one
//! under another name) and every
//! parser (json, msgpack, ejson, binary). The server fills in its settings: the pathname,
//! the version, the transformer and parser it uses, the `pingTimeout` default
//! (`P + round(P/2)` for a `ping_interval` of `P` ms, `false` when heartbeats are off),
//! `authorization` (the default reconnect strategy then has no `timeout`) and the name of the
//! global (`Options::global`, default `Primus`). Plugins' [`Plugin::library`] code is
//! appended, each in its own scope with `Primus` in it; a plugin's client half registers
//! itself like the reference's, as `Primus.prototype.ark.<name> = function (primus, options)
//! { … }`, which runs for every client made (and `primus.plugin('<name>')` returns it).
//!
//! Two module formats: a UMD script (a global, CommonJS or AMD) and an ES module
//! (`export default Primus`), served at `<pathname>/primus.js?esm`.
//!
//! ```
//! let primus = primus::Primus::new(primus::Options::default()).unwrap();
//! let js = primus.library();
//! assert!(js.contains(r#""pathname":"/primus""#));
//! assert!(js.contains(r#""pingTimeout":45000"#));
//! assert!(primus.library_esm().contains("export default Primus;"));
//! ```
//!
//! [`Plugin::library`]: crate::plugin::Plugin::library

use crate::Primus;
use serde::Serialize;
use std::path::Path;

const CORE: &str = include_str!("../client-js/primus.js");

/// Transport client halves, by transformer name: those compiled in (the server only
/// serves a transformer whose feature is on, and the library carries its transport).
const TRANSPORTS: &[(&str, &str)] = &[
    #[cfg(any(feature = "websockets", feature = "faye", feature = "uws"))]
    (
        "websockets",
        include_str!("../client-js/transports/websockets.js"),
    ),
    #[cfg(feature = "engineio")]
    (
        "engine.io",
        include_str!("../client-js/transports/engineio.js"),
    ),
    #[cfg(feature = "sockjs")]
    ("sockjs", include_str!("../client-js/transports/sockjs.js")),
    #[cfg(feature = "sse")]
    ("sse", include_str!("../client-js/transports/sse.js")),
    // After engine.io's: it is that transport with Socket.IO framing.
    #[cfg(feature = "socketio")]
    (
        "socket.io",
        include_str!("../client-js/transports/socketio.js"),
    ),
    #[cfg(feature = "webtransport")]
    (
        "webtransport",
        include_str!("../client-js/transports/webtransport.js"),
    ),
    #[cfg(feature = "browserchannel")]
    (
        "browserchannel",
        include_str!("../client-js/transports/browserchannel.js"),
    ),
];

/// Transformers whose browser transport is another one's, as `(name, transport)`: faye is
/// plain WebSocket (the native `WebSocket`; its 1000 close code is what browsers send for
/// `close()` anyway).
const ALIASES: &[(&str, &str)] = &[
    #[cfg(feature = "faye")]
    ("faye", "websockets"),
    // uws (also named lws): plain WebSocket, its client the websockets one.
    #[cfg(feature = "uws")]
    ("uws", "websockets"),
    #[cfg(feature = "uws")]
    ("lws", "websockets"),
];

/// Parser codecs, by parser name.
const PARSERS: &[(&str, &str)] = &[
    ("json", include_str!("../client-js/parsers/json.js")),
    ("msgpack", include_str!("../client-js/parsers/msgpack.js")),
    ("ejson", include_str!("../client-js/parsers/ejson.js")),
    ("binary", include_str!("../client-js/parsers/binary.js")),
];

/// TypeScript declarations of the client, served at `<pathname>/primus.d.ts`.
pub const TYPES: &str = include_str!("../client-js/primus.d.ts");

/// The module format of a generated library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A script that defines the global `Options::global` (and works with CommonJS/AMD).
    Umd,
    /// An ES module: `import Primus from '/primus/primus.js?esm'`.
    Esm,
}

/// The server settings compiled into a library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LibraryConfig {
    /// Where the server listens (`/primus`).
    pub pathname: String,
    /// The server's version.
    pub version: String,
    /// The transformer's name (`websockets`, `engine.io`, `sockjs`, `faye`, `sse`,
    /// `browserchannel`, …).
    pub transformer: String,
    /// The parser's name (`json`, `msgpack`, `ejson`, `binary`).
    pub parser: String,
    /// The client's default `pingTimeout` in ms, `None` (false) when the server does not ping.
    #[serde(serialize_with = "primus_core::protocol::serialize_ms_or_false")]
    pub ping_timeout: Option<u64>,
    /// Whether the server has an authorizer (the default strategy then drops `timeout`).
    pub authorization: bool,
    /// The name of the global the UMD build defines.
    #[serde(skip)]
    pub global: String,
}

impl LibraryConfig {
    /// The settings of a server.
    pub fn of(primus: &Primus) -> Self {
        let spec = primus.spec();
        LibraryConfig {
            pathname: spec.pathname,
            version: spec.version,
            transformer: spec.transformer,
            parser: spec.parser,
            ping_timeout: spec
                .ping_interval
                .map(primus_core::protocol::ping_timeout_ms),
            authorization: primus.has_authorizer(),
            global: primus.options().global.clone(),
        }
    }
}

fn json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Build a library from settings and plugin code (`(name, javascript)` pairs).
pub fn build(config: &LibraryConfig, plugins: &[(String, String)], format: Format) -> String {
    let size = CORE.len()
        + TRANSPORTS.iter().map(|(_, s)| s.len()).sum::<usize>()
        + PARSERS.iter().map(|(_, s)| s.len()).sum::<usize>()
        + plugins.iter().map(|(_, s)| s.len() + 64).sum::<usize>()
        + 2048;
    let mut out = String::with_capacity(size);
    out.push_str(&format!(
        "/*! primus-rs {} browser client: transformer {}, parser {}, pathname {} */\n",
        config.version, config.transformer, config.parser, config.pathname
    ));
    match format {
        Format::Umd => out.push_str(
            "(function UMD(name, context, definition) {\n  \
             var Primus = definition();\n  \
             if (context) context[name] = Primus;\n  \
             if (typeof module === 'object' && module.exports) module.exports = Primus;\n  \
             else if (typeof define === 'function' && define.amd) define(function reference() { return Primus; });\n\
             })(",
        ),
        Format::Esm => out.push_str("const Primus = (function ("),
    }
    if format == Format::Umd {
        out.push_str(&json(config.global.as_str()));
        out.push_str(
            ", typeof globalThis !== 'undefined' ? globalThis : typeof window !== 'undefined' ? window : this, function wrapper() {\n",
        );
    } else {
        out.push_str(") {\n");
    }
    out.push_str("'use strict';\n");
    out.push_str(CORE);
    for (name, code) in TRANSPORTS.iter().chain(PARSERS) {
        out.push_str(&format!("\n// ---- {name} ----\n"));
        out.push_str(code);
    }
    for (name, transport) in ALIASES {
        out.push_str(&format!(
            "\nPrimus.transports[{}] = Primus.transports[{}];\n",
            json(name),
            json(transport)
        ));
    }
    out.push_str("\nPrimus.configure(");
    out.push_str(&json(config));
    out.push_str(");\n");
    for (name, code) in plugins {
        out.push_str(&format!(
            "\n// ---- plugin {} ----\n;(function plugin(Primus) {{\n{code}\n}})(Primus);\n",
            json(name)
        ));
    }
    out.push_str("return Primus;\n");
    match format {
        Format::Umd => out.push_str("});\n"),
        Format::Esm => out.push_str("})();\nexport default Primus;\nexport { Primus };\n"),
    }
    out
}

impl Primus {
    fn plugin_code(&self) -> Vec<(String, String)> {
        self.inner
            .plugins
            .all()
            .into_iter()
            .filter_map(|(name, p)| p.library().map(|js| (name, js)))
            .collect()
    }

    /// The browser client for this server, as a UMD script (what `<pathname>/primus.js`
    /// serves).
    pub fn library(&self) -> String {
        build(&LibraryConfig::of(self), &self.plugin_code(), Format::Umd)
    }

    /// The browser client as an ES module (what `<pathname>/primus.js?esm` serves).
    pub fn library_esm(&self) -> String {
        build(&LibraryConfig::of(self), &self.plugin_code(), Format::Esm)
    }

    /// The TypeScript declarations of the browser client.
    pub fn library_types(&self) -> &'static str {
        TYPES
    }

    /// Write the browser client (UMD) to a file, for bundlers or a CDN.
    pub fn save(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.library())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transformer_and_parser_has_client_code() {
        let compiled = [
            (
                cfg!(any(
                    feature = "websockets",
                    feature = "faye",
                    feature = "uws"
                )),
                "websockets",
            ),
            (cfg!(feature = "engineio"), "engine.io"),
            (cfg!(feature = "sockjs"), "sockjs"),
            (cfg!(feature = "sse"), "sse"),
            (cfg!(feature = "socketio"), "socket.io"),
            (cfg!(feature = "webtransport"), "webtransport"),
            (cfg!(feature = "browserchannel"), "browserchannel"),
        ];
        for (on, t) in compiled {
            assert_eq!(TRANSPORTS.iter().any(|(n, _)| *n == t), on, "{t}");
        }
        assert_eq!(
            ALIASES.iter().any(|(n, _)| *n == "faye"),
            cfg!(feature = "faye")
        );
        for uws in ["uws", "lws"] {
            assert_eq!(
                ALIASES.iter().any(|(n, _)| *n == uws),
                cfg!(feature = "uws")
            );
        }
        for (_, transport) in ALIASES {
            assert!(
                TRANSPORTS.iter().any(|(n, _)| n == transport),
                "{transport}"
            );
        }
        for p in ["json", "msgpack", "ejson", "binary"] {
            assert!(PARSERS.iter().any(|(n, _)| *n == p), "{p}");
        }
    }
}
