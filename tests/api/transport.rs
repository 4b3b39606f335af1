//! Transport options: TLS with rustls (tls_cert_file / tls_key_file) and the CORS allow-list
//! (cors_allowed_origins), over real HTTP(S).

use std::{path::PathBuf, sync::Arc};

use tessera::{App, clock::SystemClock};

use crate::support::{Backend, spawn, spawn_with, test_settings};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn trusting_client() -> reqwest::Client {
    let cert = std::fs::read(fixture("cert.pem")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn tls_serves_https_with_the_configured_certificate() {
    let app = spawn_with(
        Backend::Sqlite,
        |s| {
            s.tls_cert_file = Some(fixture("cert.pem"));
            s.tls_key_file = Some(fixture("key.pem"));
        },
        Arc::new(SystemClock),
    )
    .await;
    assert!(app.base.starts_with("https://127.0.0.1:"), "{}", app.base);

    let https = trusting_client();
    let disc: serde_json::Value = https
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disc["issuer"], app.base.as_str());
    assert!(disc["jwks_uri"].as_str().unwrap().starts_with("https://"));
    let jwks: serde_json::Value = https
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty());

    // A token over TLS, checked with an independent JWT library against the JWKS.
    let client = app
        .client("orders:read", &["https://orders.internal"], None)
        .await;
    let tok: serde_json::Value = https
        .post(app.url("/oauth/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tok["access_token"].as_str().expect("access token");
    let header = jsonwebtoken::decode_header(token).unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&["https://orders.internal"]);
    v.set_issuer(&[app.base.as_str()]);
    jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &v,
    )
    .expect("token verifies");

    // The certificate really is the one served: a client without it as a root refuses.
    let untrusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    let err = untrusting
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    // And plain HTTP on the TLS port gets no HTTP answer.
    let plain = app.base.replacen("https://", "http://", 1);
    assert!(
        app.http
            .get(format!("{plain}/healthz"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn bad_tls_files_stop_startup_with_a_clear_error() {
    let garbage = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(garbage.path(), "not a certificate").unwrap();
    let cases: [(Option<PathBuf>, Option<PathBuf>, &str); 4] = [
        (Some(fixture("cert.pem")), None, "set together"),
        (
            Some(fixture("cert.pem")),
            Some(fixture("missing.pem")),
            "missing.pem",
        ),
        (
            Some(garbage.path().into()),
            Some(fixture("key.pem")),
            "TLS certificate",
        ),
        (
            Some(fixture("cert.pem")),
            Some(fixture("cert.pem")),
            "TLS certificate",
        ),
    ];
    for (cert, key, expect) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut s = test_settings(&Backend::Sqlite, dir.path()).await;
        s.tls_cert_file = cert;
        s.tls_key_file = key;
        let err = match App::build(s, Arc::new(SystemClock)).await {
            Ok(_) => panic!("started with bad TLS files (expecting {expect})"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(expect), "{err} does not mention {expect}");
    }
}

const ALLOWED: &str = "https://app.example.com";

#[tokio::test]
async fn cors_answers_listed_origins_only() {
    let app = spawn_with(
        Backend::Sqlite,
        |s| s.cors_allowed_origins = format!("{ALLOWED}, http://localhost:3000"),
        Arc::new(SystemClock),
    )
    .await;

    // Preflight of a token request from a listed origin.
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/oauth/token"))
        .header("origin", ALLOWED)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], ALLOWED);
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert_eq!(h["access-control-max-age"], "600");
    assert!(h.get("access-control-allow-credentials").is_none());

    // The actual request: an OAuth error the page can read, and the JWKS.
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .header("origin", ALLOWED)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["access-control-allow-origin"], ALLOWED);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let r = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert!(vary_has_origin(&r));

    // An unlisted origin: answered as without CORS (no allow header, so the browser hides
    // the response), preflight refused, and the response still varies on Origin.
    let r = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert!(vary_has_origin(&r));
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/oauth/token"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(!r.status().is_success(), "{}", r.status());
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

fn vary_has_origin(r: &reqwest::Response) -> bool {
    r.headers()
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("origin"))
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = spawn(Backend::Sqlite).await;
    let r = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header("origin", ALLOWED)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert!(!vary_has_origin(&r));
}

#[tokio::test]
async fn cors_origins_must_be_exact() {
    for bad in ["https://app.example.com/", "*", "https://*.example.com"] {
        let dir = tempfile::tempdir().unwrap();
        let mut s = test_settings(&Backend::Sqlite, dir.path()).await;
        s.cors_allowed_origins = bad.into();
        let err = match App::build(s, Arc::new(SystemClock)).await {
            Ok(_) => panic!("accepted cors_allowed_origins = {bad}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("cors_allowed_origins"), "{err}");
    }
}
