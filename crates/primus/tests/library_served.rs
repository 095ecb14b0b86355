//! The browser client library: built per configuration (`primus.library()`), served at
//! `<pathname>/primus.js` (and `?esm`, and `primus.d.ts`) by the `primus.js` layer right
//! after `cors`, cached and rebuilt when plugins or the authorizer change, saved to a file.

mod server_support;

use primus::middleware::AuthError;
use primus::plugin::Plugin;
use primus::{Options, Primus};
use server_support::*;
use std::time::Duration;

struct Hello(&'static str);

impl Plugin for Hello {
    fn library(&self) -> Option<String> {
        Some(format!(
            "Primus.prototype.ark.hello = function () {{ /* {} */ }};",
            self.0
        ))
    }
}

#[test]
fn the_layer_sits_right_after_cors() {
    let primus = Primus::new(quiet()).unwrap();
    let names = primus.middleware_names();
    let cors = names.iter().position(|n| n == "cors").unwrap();
    assert_eq!(names[cors + 1], "primus.js");
    assert_eq!(names[cors + 2], "spec");
}

#[test]
fn library_carries_the_configuration() {
    let primus = Primus::new(
        Options::default()
            .transformer("engine.io")
            .parser("msgpack")
            .pathname("rt")
            .ping_interval(Some(Duration::from_millis(1001))),
    )
    .unwrap();
    let js = primus.library();
    assert!(js.contains(r#""pathname":"/rt""#), "{}", &js[..200]);
    assert!(js.contains(r#""transformer":"engine.io""#));
    assert!(js.contains(r#""parser":"msgpack""#));
    assert!(js.contains(r#""pingTimeout":1502"#));
    assert!(js.contains(r#""authorization":false"#));
    assert!(js.contains(&format!(r#""version":"{}""#, primus.spec().version)));
    assert!(js.contains(r#"})("Primus", "#), "UMD global");
    assert!(!js.contains("export default"));

    let off = Primus::new(quiet()).unwrap().library();
    assert!(off.contains(r#""pingTimeout":false"#));

    let mut opts = quiet();
    opts.global = "RealTime".into();
    assert!(Primus::new(opts)
        .unwrap()
        .library()
        .contains(r#"})("RealTime", "#));

    let esm = primus.library_esm();
    assert!(esm.contains("export default Primus;") && esm.contains(r#""pathname":"/rt""#));
    assert!(primus
        .library_types()
        .contains("export declare class Primus"));
}

#[test]
fn authorization_and_plugins_change_the_library() {
    let primus = Primus::new(quiet()).unwrap();
    assert!(primus.library().contains(r#""authorization":false"#));
    primus.authorize(|_| async { Err(AuthError::new("no")) });
    assert!(primus.library().contains(r#""authorization":true"#));
    primus.plugin("hello", Hello("first")).unwrap();
    let js = primus.library();
    let configure = js.find("Primus.configure(").unwrap();
    let plugin = js.find("/* first */").expect("plugin code");
    assert!(plugin > configure, "plugins come after the configuration");
    assert!(js.contains(r#"// ---- plugin "hello" ----"#));
}

#[test]
fn save_writes_the_library() {
    let primus = Primus::new(quiet()).unwrap();
    let dir = std::env::temp_dir().join(format!("primus-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("primus.js");
    primus.save(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), primus.library());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn served_without_cache_headers_or_authorization_and_rebuilt_on_plugin() {
    let primus = Primus::new(quiet().pathname("/rt")).unwrap();
    primus.authorize(|_| async { Err(AuthError::new("locked")) });
    let server = TestServer::serve(primus.clone()).await;

    let res = http_get(server.addr, "/rt/primus.js", "").await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        res.header("content-length"),
        Some(res.body.len().to_string().as_str())
    );
    assert_eq!(res.header("cache-control"), None, "served before no-cache");
    assert_eq!(res.text(), primus.library());
    assert!(res.text().contains(r#""authorization":true"#));

    // The cached body is rebuilt once a plugin is added.
    primus.plugin("hello", Hello("served")).unwrap();
    let res = http_get(server.addr, "/rt/primus.js", "").await;
    assert!(res.text().contains("/* served */"));
    assert!(primus.plugout("hello"));
    let res = http_get(server.addr, "/rt/primus.js", "").await;
    assert!(!res.text().contains("/* served */"));

    let esm = http_get(server.addr, "/rt/primus.js?esm", "").await;
    assert_eq!(esm.status, 200);
    assert!(esm
        .text()
        .ends_with("export default Primus;\nexport { Primus };\n"));

    let types = http_get(server.addr, "/rt/primus.d.ts", "").await;
    assert_eq!(types.status, 200);
    assert!(types.text().contains("export declare class Primus"));

    // Only the exact paths: anything else under the pathname goes on (here: authorization).
    let other = http_get(server.addr, "/rt/primus.jsx", "").await;
    assert_eq!(other.status, 401);

    // CORS still applies before the library.
    let cors = http_get(
        server.addr,
        "/rt/primus.js",
        "Origin: http://example.test\r\n",
    )
    .await;
    assert_eq!(
        cors.header("access-control-allow-origin"),
        Some("http://example.test")
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_layer_can_be_disabled() {
    let primus = Primus::new(quiet()).unwrap();
    assert!(primus.disable("primus.js"));
    let server = TestServer::serve(primus).await;
    let res = http_get(server.addr, "/primus/primus.js", "").await;
    assert_eq!(
        res.status, 426,
        "falls through to the websockets transformer"
    );
    server.shutdown().await.unwrap();
}
