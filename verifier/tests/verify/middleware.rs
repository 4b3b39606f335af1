//! poem and tower integrations: RFC 6750 §3 answers (VL-16).

use std::{
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
};

use poem::{EndpointExt, Route, get, handler, http::StatusCode, test::TestClient};
use tessera_verify::{Claims, Verifier, poem::TesseraAuth, tower::TesseraLayer};
use tower_layer::Layer;
use tower_service::Service;

use crate::forge::{AUD, ISS, bound_claims, claims, es, jwks, now, pk_es, pk_es2};

fn verifier() -> Verifier {
    Verifier::from_jwks(&jwks(&[es()]), ISS, AUD).unwrap()
}

fn token_with_scope(scope: &str) -> String {
    let mut c = claims(now());
    c["scope"] = scope.into();
    es().token(&c)
}

#[handler]
fn whoami(claims: &Claims) -> String {
    format!("hi {}", claims.sub())
}

#[handler]
fn with_data(claims: poem::web::Data<&Claims>) -> String {
    format!("roles {}", claims.roles().join(","))
}

fn app() -> impl poem::Endpoint {
    Route::new()
        .at("/any", get(whoami).with(TesseraAuth::new(verifier())))
        .at(
            "/read",
            get(with_data).with(
                TesseraAuth::new(verifier())
                    .require_scope("orders:read")
                    .realm("orders"),
            ),
        )
        .at(
            "/admin",
            get(whoami).with(
                TesseraAuth::new(verifier())
                    .require_scope("orders:read")
                    .require_scope("orders:admin"),
            ),
        )
        .at("/open", get(whoami))
        .at(
            "/dpop",
            get(whoami).with(
                TesseraAuth::new(verifier())
                    .require_scope("orders:read")
                    .external_base_url("https://api.example.com/"),
            ),
        )
        .at("/direct", get(whoami).with(TesseraAuth::new(verifier())))
}

#[tokio::test]
async fn poem_valid_token_reaches_the_handler_with_claims() {
    let cli = TestClient::new(app());
    let t = es().token(&claims(now()));
    let r = cli
        .get("/any")
        .header("authorization", format!("Bearer {t}"))
        .send()
        .await;
    r.assert_status_is_ok();
    r.assert_text("hi alice").await;
    let r = cli
        .get("/read")
        .header("authorization", format!("bearer {t}"))
        .send()
        .await;
    r.assert_status_is_ok();
    r.assert_text("roles admin").await;
}

#[tokio::test]
async fn poem_refusals_follow_rfc6750() {
    let cli = TestClient::new(app());
    // No token: 401, challenge without an error code.
    let r = cli.get("/read").send().await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    r.assert_header("www-authenticate", r#"Bearer realm="orders""#);
    r.assert_header("cache-control", "no-store");
    // Token in the query string is ignored.
    let t = es().token(&claims(now()));
    let r = cli.get(format!("/any?access_token={t}")).send().await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    r.assert_header("www-authenticate", "Bearer");
    // Another scheme: as if no token.
    let r = cli
        .get("/any")
        .header("authorization", "Basic c3ZjOnM=")
        .send()
        .await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    r.assert_header("www-authenticate", "Bearer");
    // Invalid token: 401 invalid_token, the token is not echoed.
    let mut bad = claims(now());
    bad["aud"] = "payments".into();
    let bad = es().token(&bad);
    let r = cli
        .get("/any")
        .header("authorization", format!("Bearer {bad}"))
        .send()
        .await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    r.assert_header(
        "www-authenticate",
        r#"Bearer error="invalid_token", error_description="The access token is invalid""#,
    );
    let body = r.0.into_body().into_string().await.unwrap();
    assert!(!body.contains(&bad[..20]) && body.contains("invalid_token"));
    // Two Authorization headers: 400 invalid_request.
    let r = cli
        .get("/any")
        .header("authorization", format!("Bearer {t}"))
        .header("authorization", format!("Bearer {t}"))
        .send()
        .await;
    r.assert_status(StatusCode::BAD_REQUEST);
    r.assert_header("www-authenticate", r#"Bearer error="invalid_request""#);
    // Missing scope: 403 insufficient_scope naming the required scopes.
    let r = cli
        .get("/admin")
        .header("authorization", format!("Bearer {t}"))
        .send()
        .await;
    r.assert_status(StatusCode::FORBIDDEN);
    r.assert_header(
        "www-authenticate",
        r#"Bearer error="insufficient_scope", scope="orders:read orders:admin""#,
    );
    let r = cli
        .get("/read")
        .header(
            "authorization",
            format!("Bearer {}", token_with_scope("orders:write")),
        )
        .send()
        .await;
    r.assert_status(StatusCode::FORBIDDEN);
    // An unprotected route using the extractor answers 401 rather than panicking.
    cli.get("/open")
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}

/// A tower service that echoes the subject from the request extensions.
#[derive(Clone)]
struct Echo;

impl Service<http::Request<String>> for Echo {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<String>) -> Self::Future {
        let sub = req
            .extensions()
            .get::<Claims>()
            .map(|c| c.sub().to_string())
            .unwrap_or_default();
        ready(Ok(http::Response::new(format!("hi {sub}"))))
    }
}

async fn call(
    svc: &mut impl Service<http::Request<String>, Response = http::Response<String>, Error = Infallible>,
    auth: &[String],
) -> http::Response<String> {
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    let mut b = http::Request::builder().uri("/orders");
    for a in auth {
        b = b.header("authorization", a);
    }
    svc.call(b.body(String::new()).unwrap()).await.unwrap()
}

#[tokio::test]
async fn tower_layer_verifies_and_answers_rfc6750() {
    let mut svc = TesseraLayer::new(verifier())
        .require_scope("orders:read")
        .layer(Echo);
    let t = es().token(&claims(now()));
    let r = call(&mut svc, &[format!("Bearer {t}")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.body(), "hi alice");
    let r = call(&mut svc, &[]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = call(&mut svc, &["Bearer x.y.z".into()]).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
    assert!(r.body().is_empty());
    let r = call(
        &mut svc,
        &[format!("Bearer {}", token_with_scope("orders:write"))],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="orders:read""#
    );
    let r = call(&mut svc, &[format!("Bearer {t}"), format!("Bearer {t}")]).await;
    assert_eq!(r.status(), 400);
}

const DPOP_ALGS: &str = r#"algs="ES256 RS256 PS256 EdDSA Ed25519""#;

#[tokio::test]
async fn poem_dpop_bound_tokens_need_a_fresh_proof() {
    let cli = TestClient::new(app());
    let t = es().token(&bound_claims(now(), &pk_es().jkt()));
    let url = "https://api.example.com/dpop";
    let proof = pk_es().proof("GET", url, now(), Some(&t));
    let r = cli
        .get("/dpop")
        .header("authorization", format!("DPoP {t}"))
        .header("dpop", &proof)
        .send()
        .await;
    r.assert_status_is_ok();
    r.assert_text("hi alice").await;
    // D1: the same proof again.
    let r = cli
        .get("/dpop")
        .header("authorization", format!("DPoP {t}"))
        .header("dpop", &proof)
        .send()
        .await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    let challenge = r.0.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with(r#"DPoP error="invalid_dpop_proof""#)
            && challenge.ends_with(DPOP_ALGS)
    );
    // D4: the bound token as a bearer token, or without a proof.
    let r = cli
        .get("/dpop")
        .header("authorization", format!("Bearer {t}"))
        .send()
        .await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    let challenge = r.0.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with(r#"DPoP error="invalid_token""#),
        "{challenge}"
    );
    let r = cli
        .get("/dpop")
        .header("authorization", format!("DPoP {t}"))
        .send()
        .await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    // D5: a proof by another key.
    let other = pk_es2().proof("GET", url, now(), Some(&t));
    let r = cli
        .get("/dpop")
        .header("authorization", format!("DPoP {t}"))
        .header("dpop", &other)
        .send()
        .await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    let body = r.0.into_body().into_string().await.unwrap();
    assert!(body.contains("invalid_dpop_proof") && !body.contains(&t[..20]));
    // D2: a proof for the internal URL instead of the public one.
    let internal = pk_es().proof("GET", "http://localhost/dpop", now(), Some(&t));
    cli.get("/dpop")
        .header("authorization", format!("DPoP {t}"))
        .header("dpop", &internal)
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    // Two DPoP headers: refused.
    let p1 = pk_es().proof("GET", url, now(), Some(&t));
    let p2 = pk_es().proof("GET", url, now(), Some(&t));
    cli.get("/dpop")
        .header("authorization", format!("DPoP {t}"))
        .header("dpop", &p1)
        .header("dpop", &p2)
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    // No credentials: a Bearer and a DPoP challenge.
    let r = cli.get("/dpop").send().await;
    r.assert_status(StatusCode::UNAUTHORIZED);
    let all: Vec<&str> =
        r.0.headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
    assert_eq!(all, vec!["Bearer".to_string(), format!("DPoP {DPOP_ALGS}")]);
    // Scope check with the DPoP scheme: 403 with a DPoP challenge.
    let mut c = bound_claims(now(), &pk_es().jkt());
    c["scope"] = "orders:write".into();
    let narrow = es().token(&c);
    let r = cli
        .get("/dpop")
        .header("authorization", format!("DPoP {narrow}"))
        .header("dpop", pk_es().proof("GET", url, now(), Some(&narrow)))
        .send()
        .await;
    r.assert_status(StatusCode::FORBIDDEN);
    let challenge = r.0.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with(r#"DPoP error="insufficient_scope""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn poem_without_base_url_uses_host_and_listener_scheme() {
    let cli = TestClient::new(app());
    let t = es().token(&bound_claims(now(), &pk_es().jkt()));
    let proof = pk_es().proof("GET", "http://svc.internal:8080/direct", now(), Some(&t));
    cli.get("/direct")
        .header("host", "svc.internal:8080")
        .header("authorization", format!("DPoP {t}"))
        .header("dpop", &proof)
        .send()
        .await
        .assert_status_is_ok();
    let proof = pk_es().proof("GET", "http://other.internal:8080/direct", now(), Some(&t));
    cli.get("/direct")
        .header("host", "svc.internal:8080")
        .header("authorization", format!("DPoP {t}"))
        .header("dpop", &proof)
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}

async fn call_dpop(
    svc: &mut impl Service<http::Request<String>, Response = http::Response<String>, Error = Infallible>,
    host: &str,
    auth: &str,
    dpop: &[String],
) -> http::Response<String> {
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    let mut b = http::Request::builder()
        .uri("/orders?page=2")
        .header("host", host)
        .header("authorization", auth);
    for p in dpop {
        b = b.header("dpop", p);
    }
    svc.call(b.body(String::new()).unwrap()).await.unwrap()
}

#[tokio::test]
async fn tower_layer_handles_dpop() {
    let mut svc = TesseraLayer::new(verifier())
        .external_base_url("https://api.example.com")
        .layer(Echo);
    let t = es().token(&bound_claims(now(), &pk_es().jkt()));
    let auth = format!("DPoP {t}");
    let url = "https://api.example.com/orders";
    let p = pk_es().proof("GET", url, now(), Some(&t));
    let r = call_dpop(&mut svc, "internal:9000", &auth, std::slice::from_ref(&p)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.body(), "hi alice");
    // D1
    let r = call_dpop(&mut svc, "internal:9000", &auth, &[p]).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(r#"DPoP error="invalid_dpop_proof""#)
            && challenge.ends_with(DPOP_ALGS)
    );
    assert!(r.body().is_empty());
    // D4
    let r = call_dpop(&mut svc, "internal:9000", &format!("Bearer {t}"), &[]).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with(r#"DPoP error="invalid_token""#)
    );
    // D5
    let other = pk_es2().proof("GET", url, now(), Some(&t));
    let r = call_dpop(&mut svc, "internal:9000", &auth, &[other]).await;
    assert_eq!(r.status(), 401);
    // Without a base URL: http:// + Host + path.
    let mut direct = TesseraLayer::new(verifier()).layer(Echo);
    let p = pk_es().proof("GET", "http://svc:8080/orders", now(), Some(&t));
    let r = call_dpop(&mut direct, "svc:8080", &auth, &[p]).await;
    assert_eq!(r.status(), 200);
    // No credentials: both challenges.
    let r = call(&mut direct, &[]).await;
    let all: Vec<&str> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(all, vec!["Bearer".to_string(), format!("DPoP {DPOP_ALGS}")]);
}
