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

use crate::forge::{AUD, ISS, claims, es, jwks, now};

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
