//! The client_credentials grant: tokens verified by an independent library.

use tessera::keys::Alg;

use crate::{
    on_both_backends,
    support::{Backend, claims, header, spawn, verify_independently},
};

async fn tokens_verify_with_an_independent_library(backend: Backend) {
    let app = spawn(backend).await;
    for alg in [Alg::ES256, Alg::RS256] {
        let c = app
            .client(
                "orders:read orders:write",
                &["https://orders.internal"],
                Some(alg),
            )
            .await;
        let r = app
            .token_request(
                &c,
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "orders:read"),
                ],
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["pragma"], "no-cache");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["scope"], "orders:read");
        let token = body["access_token"].as_str().unwrap();

        let h = header(token);
        assert_eq!(h["typ"], "at+jwt");
        assert_eq!(h["alg"], alg.as_str());
        let jwks = app.jwks().await;
        let verified = verify_independently(token, &jwks, &app.base, "https://orders.internal")
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified["sub"], c.id.as_str());
        assert_eq!(verified["client_id"], c.id.as_str());
        assert_eq!(verified["scope"], "orders:read");
        assert_eq!(verified["aud"], "https://orders.internal");
        let (iat, exp, nbf) = (
            verified["iat"].as_i64().unwrap(),
            verified["exp"].as_i64().unwrap(),
            verified["nbf"].as_i64().unwrap(),
        );
        assert_eq!(exp - iat, 900);
        assert_eq!(nbf, iat);
        // 128-bit random jti, base64url.
        let jti = verified["jti"].as_str().unwrap();
        assert_eq!(jti.len(), 16, "96 random bits, base64url");
        // A wrong audience or issuer is refused by the independent verifier.
        assert!(verify_independently(token, &jwks, &app.base, "https://other").is_err());
        assert!(
            verify_independently(token, &jwks, "https://evil", "https://orders.internal").is_err()
        );
    }
}
on_both_backends!(tokens_verify_with_an_independent_library);

async fn client_secret_post_and_form_encoded_basic_work(backend: Backend) {
    let app = spawn(backend).await;
    let c = app.client("a", &["aud"], None).await;
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.id),
            ("client_secret", &c.secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding; an encoded
    // '-' or '_' must decode back.
    let enc = |s: &str| s.replace('-', "%2D").replace('_', "%5F");
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(enc(&c.id), Some(enc(&c.secret)))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The server default algorithm is ES256.
    let token = app.access_token(&c).await;
    assert_eq!(header(&token)["alg"], "ES256");
}
on_both_backends!(client_secret_post_and_form_encoded_basic_work);

async fn scope_and_resource_selection(backend: Backend) {
    let app = spawn(backend).await;
    let c = app
        .client("a b c", &["https://one", "https://two"], None)
        .await;
    // No scope: every allowed scope. No resource: every registered audience (array).
    let t = app.access_token(&c).await;
    let cl = claims(&t);
    assert_eq!(cl["scope"], "a b c");
    assert_eq!(cl["aud"], serde_json::json!(["https://one", "https://two"]));
    // RFC 8707 resource picks one audience.
    let r = app
        .token_request(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://two"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        "https://two"
    );
    // Unregistered resource: invalid_target.
    let r = app
        .token_request(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://three"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_target");
    // Narrowing works, widening is invalid_scope (T7).
    let r = app
        .token_request(&c, &[("grant_type", "client_credentials"), ("scope", "b")])
        .await;
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "b");
    let r = app
        .token_request(
            &c,
            &[("grant_type", "client_credentials"), ("scope", "b admin")],
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
}
on_both_backends!(scope_and_resource_selection);

async fn client_registry_changes_reach_the_server(backend: Backend) {
    let app = spawn(backend).await;
    let c = app.client("a", &["aud"], None).await;
    app.access_token(&c).await;
    // Rotating the secret: the old one stops working, the new one works.
    let rotated = app.state.ctx.clients.rotate_secret(&c.id).await.unwrap();
    let r = app
        .token_request(&c, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 401);
    let new = crate::support::TestClient {
        id: c.id.clone(),
        secret: rotated.client_secret,
    };
    app.access_token(&new).await;
    // Deleting: the client can no longer get tokens.
    assert!(app.state.ctx.clients.delete(&c.id).await.unwrap());
    let r = app
        .token_request(&new, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 401);
}
on_both_backends!(client_registry_changes_reach_the_server);
