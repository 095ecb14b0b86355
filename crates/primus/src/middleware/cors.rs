//! `cors`: HTTP access control with the reference's (`access-control` 1.0) options, defaults
//! and accept/reject rules (protocol.md §4.3).
//!
//! Requests without an `Origin` header pass untouched. A request is refused with 403 when
//! its origin contains `%`, is neither `null` nor has a scheme, is not in `origins`
//! (unless that is `*`), or its method is not in `methods`. Accepted ones get
//! `Access-Control-Allow-Origin` (the request's origin plus `Vary: Origin` when origins
//! are listed or credentials allowed, else `*`) and `Access-Control-Allow-Credentials`;
//! preflights (`OPTIONS` with `Access-Control-Request-Method`) are answered right here.
//!
//! Beyond the reference: with `cors_upgrades: true` the same origin check also runs on
//! WebSocket upgrades, since browsers send `Origin` there and cross-site WebSocket
//! hijacking is a real attack. (The reference never checks upgrades.)

use super::{response, Ctx, Layer};
use crate::options::Options;
use http::{header, HeaderValue, Method, StatusCode};
use std::sync::Arc;

/// The CORS policy, as read from the options.
#[derive(Debug, Clone)]
pub struct Cors {
    any_origin: bool,
    origins: Vec<String>,
    methods: Vec<String>,
    credentials: bool,
    max_age: u64,
    headers: String,
    exposed: String,
}

fn list(s: &str, upper: bool) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if upper {
                p.to_ascii_uppercase()
            } else {
                p.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Whether the origin has a URL scheme (`scheme:`), as Node's `url.parse` would find.
fn has_scheme(origin: &str) -> bool {
    let Some(colon) = origin.find(':') else {
        return false;
    };
    let scheme = &origin[..colon];
    scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

impl Cors {
    /// The policy from the server options.
    pub fn from_options(o: &Options) -> Self {
        Cors {
            any_origin: o.origins.trim() == "*",
            origins: list(&o.origins, false),
            methods: list(&o.methods, true),
            credentials: o.credentials,
            max_age: o.max_age.as_secs(),
            headers: o.headers.clone(),
            exposed: o.exposed.clone(),
        }
    }

    /// Whether a request with this origin and method is allowed.
    pub fn allows(&self, origin: &str, method: &Method) -> bool {
        let o = origin.trim().to_ascii_lowercase();
        !(o.contains('%')
            || (o != "null" && !has_scheme(&o))
            || (!self.any_origin && !self.origins.contains(&o))
            || (!self.methods.is_empty() && !self.methods.iter().any(|m| m == method.as_str())))
    }
}

pub(super) fn layer(cors: Cors) -> Layer {
    Layer::Sync(Arc::new(move |ctx: &mut Ctx| {
        let origin = ctx.head.headers.get(header::ORIGIN)?.clone();
        let origin_str = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        if !cors.allows(&origin_str, &ctx.head.method) {
            let body = format!(
                "Invalid HTTP Access Control (CORS) request:\n  Origin: {}\n  Method: {}",
                origin_str, ctx.head.method
            );
            return Some(response(StatusCode::FORBIDDEN, "text/plain", body));
        }
        let h = &mut ctx.response_headers;
        if !cors.any_origin || cors.credentials {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
        } else {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        if cors.credentials {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        let preflight = ctx.head.method == Method::OPTIONS
            && ctx
                .head
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            if cors.max_age > 0 {
                h.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from(cors.max_age),
                );
            }
            if !cors.methods.is_empty() {
                if let Ok(v) = HeaderValue::from_str(&cors.methods.join(", ")) {
                    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
                }
            }
            let allow = if !cors.headers.is_empty() {
                HeaderValue::from_str(&cors.headers).ok()
            } else {
                ctx.head
                    .headers
                    .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                    .cloned()
            };
            if let Some(v) = allow {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
            let mut res = response(StatusCode::OK, "text/plain", "");
            res.headers_mut().remove(header::CONTENT_TYPE);
            return Some(res);
        }
        if !cors.exposed.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&cors.exposed) {
                h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
            }
        }
        None
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_rules() {
        let cors = Cors::from_options(&Options::default());
        assert!(cors.allows("http://example.com", &Method::GET));
        assert!(cors.allows("null", &Method::POST));
        assert!(!cors.allows("example.com", &Method::GET), "no scheme");
        assert!(
            !cors.allows("http://exa%6dple.com", &Method::GET),
            "percent"
        );
        assert!(!cors.allows("http://example.com", &Method::PATCH), "method");
        let listed = Cors::from_options(&Options {
            origins: "http://a.example, http://b.example".into(),
            ..Options::default()
        });
        assert!(listed.allows("HTTP://B.example", &Method::GET));
        assert!(!listed.allows("http://c.example", &Method::GET));
    }
}
