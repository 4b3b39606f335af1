//! Introspection (RFC 7662) and revocation (RFC 7009): what an active token introspects as,
//! forged and malformed tokens as exactly `{"active": false}`, who may revoke what, the
//! revocation feed, revoked signing keys, and client authentication on these endpoints:
//! rows R6–R8 of `docs/security.md` and K8.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};
use tessera::keys::Alg;

use crate::{
    on_both_backends,
    support::{Backend, PW, ServerHttp, TestApp, TestClient, claims, header, spawn, with_alice},
};

/// A server where alice has logged in (`orders:read`) through client `c`; returns the app,
/// the client and the token response (access and refresh token).
async fn logged_in(backend: Backend) -> (TestApp, TestClient, Value) {
    let (app, c, _) = with_alice(backend).await;
    let body = app.login(&c, "alice", PW, "orders:read").await;
    (app, c, body)
}

fn access_of(body: &Value) -> String {
    body["access_token"].as_str().unwrap().to_string()
}

/// `access` with its payload changed to a wider scope, the signature kept.
fn forged(access: &str) -> String {
    let mut parts: Vec<String> = access.split('.').map(str::to_string).collect();
    let mut forged_claims = claims(access);
    forged_claims["scope"] = "orders:write admin".into();
    parts[1] = B64.encode(serde_json::to_vec(&forged_claims).unwrap());
    parts.join(".")
}

async fn revoke(app: &TestApp, c: &TestClient, form: &[(&str, &str)]) -> u16 {
    app.post_as(c, "/oauth/revoke", form)
        .await
        .status()
        .as_u16()
}

async fn an_active_access_token_introspects_with_its_claims(backend: Backend) {
    let (app, c, body) = logged_in(backend).await;
    let access = access_of(&body);
    let i = app.introspect(&c, &access).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["username"], "alice");
    assert_eq!(i["token_type"], "Bearer");
    assert_eq!(i["scope"], "orders:read");
    assert_eq!(i["client_id"], c.id.as_str());
    assert!(i["exp"].is_i64() && i["iat"].is_i64());
}
on_both_backends!(an_active_access_token_introspects_with_its_claims);

async fn a_resource_server_may_introspect_another_clients_access_token(backend: Backend) {
    let (app, _, body) = logged_in(backend).await;
    let rs = app.client("x", &["aud"], None).await;
    assert_eq!(app.introspect(&rs, &access_of(&body)).await["active"], true);
}
on_both_backends!(a_resource_server_may_introspect_another_clients_access_token);

/// R7: garbage, forged, alg:none, HS256 and oversized tokens introspect as exactly
/// `{"active": false}`; a missing token is `invalid_request`.
async fn forged_or_malformed_tokens_introspect_as_exactly_inactive(backend: Backend) {
    let (app, c, body) = logged_in(backend).await;
    let access = access_of(&body);
    let inactive = json!({"active": false});
    let forged = forged(&access);
    let parts: Vec<&str> = forged.split('.').collect();
    let none_token = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"at+jwt"}"#),
        B64.encode(serde_json::to_vec(&claims(&access)).unwrap())
    );
    let hs = format!(
        "{}.{}.{}",
        B64.encode(br#"{"alg":"HS256","kid":"x"}"#),
        parts[1],
        parts[2]
    );
    for t in [
        "garbage",
        "a.b.c",
        "",
        &forged,
        &none_token,
        &hs,
        &"x".repeat(10_000),
    ] {
        let r = app.post_as(&c, "/oauth/introspect", &[("token", t)]).await;
        if t.is_empty() {
            assert_eq!(r.status(), 400, "missing token is invalid_request");
            continue;
        }
        assert_eq!(r.json::<Value>().await.unwrap(), inactive, "{t:.30}");
    }
}
on_both_backends!(forged_or_malformed_tokens_introspect_as_exactly_inactive);

/// R6: revoking unknown or malformed tokens answers 200.
async fn revoking_unknown_or_malformed_tokens_answers_200(backend: Backend) {
    let (app, c, body) = logged_in(backend).await;
    let forged = forged(&access_of(&body));
    for t in ["garbage", "a.b.c", &forged] {
        assert_eq!(revoke(&app, &c, &[("token", t)]).await, 200);
    }
}
on_both_backends!(revoking_unknown_or_malformed_tokens_answers_200);

/// R6: another client revoking this client's tokens gets 200 and revokes nothing.
async fn another_client_cannot_revoke_this_clients_tokens(backend: Backend) {
    let (app, c, body) = logged_in(backend).await;
    let access = access_of(&body);
    let rt = body["refresh_token"].as_str().unwrap();
    let rs = app.client("x", &["aud"], None).await;
    assert_eq!(revoke(&app, &rs, &[("token", &access)]).await, 200);
    assert_eq!(revoke(&app, &rs, &[("token", rt)]).await, 200);
    assert_eq!(app.introspect(&c, &access).await["active"], true);
    assert_eq!(app.introspect(&c, rt).await["active"], true);
}
on_both_backends!(another_client_cannot_revoke_this_clients_tokens);

async fn a_revoked_access_token_is_inactive_and_listed_in_the_feed(backend: Backend) {
    let (app, c, body) = logged_in(backend).await;
    let access = access_of(&body);
    let before = app.feed(&c, None).await;
    assert_eq!(
        revoke(
            &app,
            &c,
            &[("token", &access), ("token_type_hint", "access_token")]
        )
        .await,
        200
    );
    assert_eq!(app.introspect(&c, &access).await, json!({"active": false}));
    let feed = app.feed(&c, Some(before["cursor"].as_str().unwrap())).await;
    let jti = claims(&access)["jti"].clone();
    assert!(
        feed["revoked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["jti"] == jti),
        "{feed}"
    );
}
on_both_backends!(a_revoked_access_token_is_inactive_and_listed_in_the_feed);

async fn revoking_a_refresh_token_ends_its_family(backend: Backend) {
    let (app, c, body) = logged_in(backend).await;
    let rt = body["refresh_token"].as_str().unwrap();
    assert_eq!(revoke(&app, &c, &[("token", rt)]).await, 200);
    assert_eq!(app.refresh(&c, rt).await.0, 400);
}
on_both_backends!(revoking_a_refresh_token_ends_its_family);

/// R8: introspection and revocation without client authentication are 401
/// `invalid_client`; the revocation feed is 401 too.
async fn introspection_revocation_and_the_feed_need_client_authentication(backend: Backend) {
    let app = spawn(backend).await;
    for path in ["/oauth/introspect", "/oauth/revoke"] {
        let r = app
            .http
            .post(app.url(path))
            .form(&[("token", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    }
    let r = app
        .http
        .get(app.url("/oauth/revocations"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
on_both_backends!(introspection_revocation_and_the_feed_need_client_authentication);

/// K8: tokens signed by a revoked key introspect as inactive; new tokens are active.
async fn revoked_signing_key_makes_its_tokens_inactive(backend: Backend) {
    let app = spawn(backend).await;
    let c = app.client("a", &["aud"], Some(Alg::ES256)).await;
    let token = app.access_token(&c).await;
    assert_eq!(app.introspect(&c, &token).await["active"], true);
    let kid = header(&token)["kid"].as_str().unwrap().to_string();
    app.state.keys.as_ref().unwrap().revoke(&kid).await.unwrap();
    assert_eq!(
        app.introspect(&c, &token).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        app.introspect(&c, &app.access_token(&c).await).await["active"],
        true
    );
}
on_both_backends!(revoked_signing_key_makes_its_tokens_inactive);
