//! Changing a client's authentication method after registration (admin API
//! `PATCH /admin/v1/clients/{id}` with `token_endpoint_auth_method`): the old credentials
//! stop working at once, the new ones work, a new secret is shown once, the client's
//! refresh tokens are revoked, and a switch the new method cannot support is a 400 naming
//! the field. The console's edit form runs the same operation (`pages_admin_crud`). Row A7
//! of docs/security.md.

use reqwest::Method;
use serde_json::{Value, json};
use tessera::admin::{ADMIN_AUDIENCE, SCOPE_ADMIN};

use crate::{
    on_both_backends,
    private_key_jwt::{ClientKey, assertion_claims},
    support::{Backend, TestApp, TestClient, spawn},
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .request(method, app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn patch(app: &TestApp, token: &str, id: &str, body: Value) -> (u16, Value) {
    call(
        app,
        Method::PATCH,
        &format!("/admin/v1/clients/{id}"),
        token,
        body,
    )
    .await
}

/// A client_credentials request authenticated with `form` only: (status, body).
async fn token_with(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn with_assertion(app: &TestApp, key: &ClientKey, id: &str) -> (u16, Value) {
    let assertion = key.sign("k1", &assertion_claims(id, &app.base));
    token_with(
        app,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await
}

async fn with_secret(app: &TestApp, c: &TestClient) -> u16 {
    app.token_request(c, &[("grant_type", "client_credentials")])
        .await
        .status()
        .as_u16()
}

/// client_secret_basic → private_key_jwt → client_secret_basic: each switch ends the old
/// credentials and starts the new ones; the second gives a new secret, once; both are in
/// the audit log as `from`/`to`, without the secret.
async fn secret_to_keys_and_back(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.client(SCOPE_ADMIN, &[ADMIN_AUDIENCE], None).await;
    let t = app.access_token(&admin).await;
    let svc = app
        .client("orders:read", &["https://orders.internal"], None)
        .await;
    assert_eq!(with_secret(&app, &svc).await, 200);
    let key = ClientKey::es256();

    let (s, b) = patch(
        &app,
        &t,
        &svc.id,
        json!({"token_endpoint_auth_method": "private_key_jwt"}),
    )
    .await;
    assert_eq!(s, 400, "private_key_jwt without keys: {b}");
    assert_eq!(b["field"], "jwks", "{b}");
    let (s, b) = patch(
        &app,
        &t,
        &svc.id,
        json!({"jwks": {"keys": [key.jwk("k1")]}}),
    )
    .await;
    assert_eq!(s, 400, "keys without switching: {b}");
    assert_eq!(with_secret(&app, &svc).await, 200, "nothing changed");

    let (s, b) = patch(
        &app,
        &t,
        &svc.id,
        json!({"token_endpoint_auth_method": "private_key_jwt",
               "jwks": {"keys": [key.jwk("k1")]}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["token_endpoint_auth_method"], "private_key_jwt");
    assert!(b.get("client_secret").is_none(), "{b}");
    assert_eq!(with_secret(&app, &svc).await, 401, "the old secret is gone");
    let (s, b) = with_assertion(&app, &key, &svc.id).await;
    assert_eq!(s, 200, "the new key authenticates: {b}");

    let (s, b) = patch(
        &app,
        &t,
        &svc.id,
        json!({"token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["token_endpoint_auth_method"], "client_secret_basic");
    assert!(b.get("jwks").is_none(), "the keys are dropped: {b}");
    let secret = b["client_secret"]
        .as_str()
        .expect("a new secret")
        .to_string();
    assert_eq!(secret.len(), 43, "256 bits, base64url");
    assert_ne!(secret, svc.secret);
    let again = TestClient {
        id: svc.id.clone(),
        secret: secret.clone(),
    };
    assert_eq!(with_secret(&app, &again).await, 200);
    assert_eq!(with_secret(&app, &svc).await, 401, "not the first secret");
    let (s, _) = with_assertion(&app, &key, &svc.id).await;
    assert_eq!(s, 401, "the keys no longer authenticate");

    // Naming the method it already has changes nothing and shows no secret.
    let (s, b) = patch(
        &app,
        &t,
        &svc.id,
        json!({"token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b.get("client_secret").is_none(), "{b}");
    assert_eq!(with_secret(&app, &again).await, 200);

    let (s, audit) = call(
        &app,
        Method::GET,
        "/admin/v1/audit?action=client.update",
        &t,
        Value::Null,
    )
    .await;
    assert_eq!(s, 200, "{audit}");
    let switches: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["detail"].get("token_endpoint_auth_method"))
        .filter(|m| m.is_object())
        .collect();
    assert_eq!(
        switches,
        [
            &json!({"from": "private_key_jwt", "to": "client_secret_basic"}),
            &json!({"from": "client_secret_basic", "to": "private_key_jwt"}),
        ],
        "{audit}"
    );
    assert!(!audit.to_string().contains(&secret), "no secret in the log");
}
on_both_backends!(secret_to_keys_and_back);

/// A confidential client becoming public: its grants must be a public client's (400 on
/// `token_endpoint_auth_method` otherwise, nothing changed), and the refresh tokens it was issued while
/// it had a secret are revoked — they must not become redeemable with the client id
/// alone.
async fn going_public_revokes_refresh_tokens(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.client(SCOPE_ADMIN, &[ADMIN_AUDIENCE], None).await;
    let t = app.access_token(&admin).await;
    let web = app.app_client("openid").await;
    app.user("alice", "correct horse battery", &[]).await;
    let login = app
        .login(&web, "alice", "correct horse battery", "openid")
        .await;
    let refresh = login["refresh_token"].as_str().unwrap().to_string();

    let (s, b) = patch(
        &app,
        &t,
        &web.id,
        json!({"token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(
        s, 400,
        "password and client_credentials are not public grants: {b}"
    );
    assert_eq!(b["field"], "token_endpoint_auth_method", "{b}");
    let (s, b) = app.refresh(&web, &refresh).await;
    assert_eq!(s, 200, "the refused switch changed nothing: {b}");
    let refresh = b["refresh_token"].as_str().unwrap().to_string();

    let (s, b) = patch(
        &app,
        &t,
        &web.id,
        json!({"token_endpoint_auth_method": "none",
               "grant_types": ["authorization_code", "refresh_token"],
               "redirect_uris": ["https://app.example/cb"]}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["token_endpoint_auth_method"], "none");
    assert!(b.get("client_secret").is_none(), "{b}");
    let (s, b) = token_with(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &web.id),
        ],
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_grant")),
        "a refresh token of the confidential client: {b}"
    );
    assert_eq!(
        app.refresh(&web, &refresh).await.0,
        401,
        "the old secret no longer authenticates"
    );
}
on_both_backends!(going_public_revokes_refresh_tokens);
