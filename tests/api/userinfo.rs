//! The OIDC UserInfo endpoint as an RFC 6750 protected resource: the user's claims for a
//! token with `openid`, 401 with a `Bearer` challenge without a valid token, 403
//! `insufficient_scope` without `openid`.

use crate::{
    on_both_backends,
    support::{Backend, PW, TestApp, with_alice},
};

/// GET /userinfo, with `token` as the bearer token if given.
async fn userinfo(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url("/userinfo"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

fn challenge(r: &reqwest::Response) -> &str {
    r.headers()["www-authenticate"].to_str().unwrap()
}

async fn userinfo_returns_the_users_claims_for_an_openid_token(backend: Backend) {
    let (app, c, sub) = with_alice(backend).await;
    let with_openid = app.login(&c, "alice", PW, "openid orders:read").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = userinfo(&app, Some(&with_openid)).await;
    assert_eq!(r.status(), 200);
    let info: serde_json::Value = r.json().await.unwrap();
    assert_eq!(info["sub"], sub.as_str());
    assert_eq!(info["preferred_username"], "alice");
    assert_eq!(info["team"], "payments");
}
on_both_backends!(userinfo_returns_the_users_claims_for_an_openid_token);

async fn userinfo_without_a_token_is_401_with_a_bearer_challenge(backend: Backend) {
    let (app, _, _) = with_alice(backend).await;
    let r = userinfo(&app, None).await;
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).starts_with("Bearer"));
}
on_both_backends!(userinfo_without_a_token_is_401_with_a_bearer_challenge);

async fn userinfo_with_an_invalid_token_is_401_invalid_token(backend: Backend) {
    let (app, _, _) = with_alice(backend).await;
    let r = userinfo(&app, Some("garbage")).await;
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).contains("error=\"invalid_token\""));
}
on_both_backends!(userinfo_with_an_invalid_token_is_401_invalid_token);

async fn userinfo_without_the_openid_scope_is_403_insufficient_scope(backend: Backend) {
    let (app, c, _) = with_alice(backend).await;
    let without = app.login(&c, "alice", PW, "orders:read").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = userinfo(&app, Some(&without)).await;
    assert_eq!(r.status(), 403);
    assert!(challenge(&r).contains("insufficient_scope"));
}
on_both_backends!(userinfo_without_the_openid_scope_is_403_insufficient_scope);
