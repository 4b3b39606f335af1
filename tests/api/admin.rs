//! The admin API over HTTP: guarded by Tessera's own tokens (401 without, 403 with the
//! wrong scope), managing clients, users and keys with immediate effect, with every change
//! in the audit log and never a secret in it.

use serde_json::{Value, json};
use tessera::admin::{ADMIN_AUDIENCE, SCOPE_ADMIN, SCOPE_USERS};

use crate::{
    on_both_backends,
    support::{Backend, ServerHttp, TestApp, TestClient, header, spawn, verify_independently},
};

/// An admin client with `scopes` and an access token for it.
async fn admin_token(app: &TestApp, scopes: &str) -> (TestClient, String) {
    let c = app.client(scopes, &[ADMIN_AUDIENCE], None).await;
    let t = app.access_token(&c).await;
    (c, t)
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app.http.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, headers, v)
}

use reqwest::Method;

/// A server and an admin client with `scopes`, with its access token.
async fn admin_app(backend: Backend, scopes: &str) -> (TestApp, TestClient, String) {
    let app = spawn(backend).await;
    let (admin, token) = admin_token(&app, scopes).await;
    (app, admin, token)
}

/// The status of GET `path` with `token`.
async fn get_status(app: &TestApp, path: &str, token: Option<&str>) -> u16 {
    call(app, Method::GET, path, token, None).await.0
}

// --- Access control -------------------------------------------------------------------

async fn without_a_token_the_admin_api_is_401_with_a_bearer_challenge(backend: Backend) {
    let app = spawn(backend).await;
    let (s, h, body) = call(&app, Method::GET, "/admin/v1/clients", None, None).await;
    assert_eq!(s, 401);
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(body["error"], "unauthorized");
}
on_both_backends!(without_a_token_the_admin_api_is_401_with_a_bearer_challenge);

/// Garbage, and a token signed by no key of ours, are 401.
async fn garbage_and_unsigned_tokens_are_401(backend: Backend) {
    let app = spawn(backend).await;
    for bad in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."] {
        assert_eq!(
            get_status(&app, "/admin/v1/clients", Some(bad)).await,
            401,
            "{bad}"
        );
    }
}
on_both_backends!(garbage_and_unsigned_tokens_are_401);

async fn a_token_of_ours_for_another_audience_is_not_an_admin_token(backend: Backend) {
    let app = spawn(backend).await;
    let service = app
        .client(SCOPE_ADMIN, &["https://orders.internal"], None)
        .await;
    let t = app.access_token(&service).await;
    assert_eq!(
        get_status(&app, "/admin/v1/clients", Some(&t)).await,
        401,
        "wrong audience"
    );
}
on_both_backends!(a_token_of_ours_for_another_audience_is_not_an_admin_token);

/// Right audience, wrong scope: 403 naming the scope needed.
async fn the_wrong_scope_is_403_insufficient_scope(backend: Backend) {
    let (app, _, users_only) = admin_app(backend, SCOPE_USERS).await;
    let (s, h, body) = call(
        &app,
        Method::GET,
        "/admin/v1/clients",
        Some(&users_only),
        None,
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(body["error"], "forbidden");
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}
on_both_backends!(the_wrong_scope_is_403_insufficient_scope);

async fn the_users_scope_opens_the_users_area_but_not_the_audit_log(backend: Backend) {
    let (app, _, users_only) = admin_app(backend, SCOPE_USERS).await;
    assert_eq!(
        get_status(&app, "/admin/v1/users", Some(&users_only)).await,
        200,
        "its own area is open"
    );
    assert_eq!(
        get_status(&app, "/admin/v1/audit", Some(&users_only)).await,
        403,
        "the audit log needs tessera:admin"
    );
}
on_both_backends!(the_users_scope_opens_the_users_area_but_not_the_audit_log);

async fn the_admin_scope_opens_every_area(backend: Backend) {
    let (app, _, token) = admin_app(backend, SCOPE_ADMIN).await;
    for path in [
        "/admin/v1/clients",
        "/admin/v1/users",
        "/admin/v1/keys",
        "/admin/v1/audit",
    ] {
        assert_eq!(get_status(&app, path, Some(&token)).await, 200, "{path}");
    }
}
on_both_backends!(the_admin_scope_opens_every_area);

async fn a_revoked_admin_token_stops_working_at_once(backend: Backend) {
    let (app, admin, token) = admin_app(backend, SCOPE_ADMIN).await;
    let r = app
        .post_as(&admin, "/oauth/revoke", &[("token", token.as_str())])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        get_status(&app, "/admin/v1/keys", Some(&token)).await,
        401,
        "revoked token"
    );
}
on_both_backends!(a_revoked_admin_token_stops_working_at_once);

async fn the_tokens_of_a_deleted_admin_client_stop_working(backend: Backend) {
    let (app, admin, _) = admin_app(backend, SCOPE_ADMIN).await;
    let token2 = app.access_token(&admin).await;
    assert!(app.state.ctx.clients.delete(&admin.id).await.unwrap());
    assert_eq!(
        get_status(&app, "/admin/v1/keys", Some(&token2)).await,
        401,
        "deleted admin client"
    );
}
on_both_backends!(the_tokens_of_a_deleted_admin_client_stop_working);

// --- Clients ------------------------------------------------------------------------------

/// Creates the `billing` client (RS256, `orders:read`, 300 s tokens) over the API; returns
/// the answer's client id and secret.
async fn create_billing(app: &TestApp, t: Option<&str>) -> (TestClient, Value) {
    let (s, _, created) = call(
        app,
        Method::POST,
        "/admin/v1/clients",
        t,
        Some(json!({"name": "billing", "scopes": ["orders:read"],
                    "audiences": ["https://orders.internal"], "alg": "RS256", "token_ttl": 300})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let billing = TestClient {
        id: created["client"]["client_id"].as_str().unwrap().to_string(),
        secret: created["client_secret"].as_str().unwrap().to_string(),
    };
    (billing, created)
}

async fn patch_client(app: &TestApp, t: Option<&str>, id: &str, body: Value) -> (u16, Value) {
    let (s, _, v) = call(
        app,
        Method::PATCH,
        &format!("/admin/v1/clients/{id}"),
        t,
        Some(body),
    )
    .await;
    (s, v)
}

async fn rotate_secret(app: &TestApp, t: Option<&str>, id: &str) -> (u16, Value) {
    let (s, _, v) = call(
        app,
        Method::POST,
        &format!("/admin/v1/clients/{id}/secret"),
        t,
        None,
    )
    .await;
    (s, v)
}

async fn delete_client(app: &TestApp, t: Option<&str>, id: &str) -> u16 {
    call(
        app,
        Method::DELETE,
        &format!("/admin/v1/clients/{id}"),
        t,
        None,
    )
    .await
    .0
}

/// Creates `n` more clients `svc0`…
async fn create_services(app: &TestApp, t: Option<&str>, n: usize) {
    for i in 0..n {
        let (s, _, _) = call(
            app,
            Method::POST,
            "/admin/v1/clients",
            t,
            Some(json!({"name": format!("svc{i}"), "audiences": ["a"]})),
        )
        .await;
        assert_eq!(s, 201);
    }
}

async fn client_credentials_status(app: &TestApp, c: &TestClient) -> u16 {
    app.token_request(c, &[("grant_type", "client_credentials")])
        .await
        .status()
        .as_u16()
}

async fn invalid_client_fields_are_400_naming_the_field(backend: Backend) {
    let (app, _, token) = admin_app(backend, SCOPE_ADMIN).await;
    let t = Some(token.as_str());
    let (s, _, body) = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        t,
        Some(json!({"name": "billing", "audiences": []})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(body["field"], "audiences");
    let (s, _, body) = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        t,
        Some(json!({"name": "billing", "audiences": ["https://orders.internal"], "grant_types": ["implicit"]})),
    )
    .await;
    assert_eq!((s, body["field"].as_str()), (400, Some("grant_types")));
}
on_both_backends!(invalid_client_fields_are_400_naming_the_field);

/// Not JSON, or not the documented shape: 400 in the same JSON shape.
async fn a_body_that_is_not_json_is_400_invalid_request(backend: Backend) {
    let (app, _, token) = admin_app(backend, SCOPE_ADMIN).await;
    let r = app
        .http
        .post(app.url("/admin/v1/clients"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}
on_both_backends!(a_body_that_is_not_json_is_400_invalid_request);

/// Too large a body: 413, never read into memory whole.
async fn a_too_large_body_is_413(backend: Backend) {
    let (app, _, token) = admin_app(backend, SCOPE_ADMIN).await;
    let big = json!({"name": "x".repeat(70_000), "audiences": ["a"]});
    let (s, _, body) = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        Some(&token),
        Some(big),
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (413, Some("payload_too_large"))
    );
}
on_both_backends!(a_too_large_body_is_413);

/// Create: the secret is in the answer once, and the client gets tokens at once.
async fn a_created_client_gets_tokens_at_once(backend: Backend) {
    let (app, _, token) = admin_app(backend, SCOPE_ADMIN).await;
    let (billing, _) = create_billing(&app, Some(&token)).await;
    assert_eq!(billing.secret.len(), 43);
    let access = app.access_token(&billing).await;
    assert_eq!(header(&access)["alg"], "RS256");
    let claims = verify_independently(
        &access,
        &app.jwks().await,
        &app.base,
        "https://orders.internal",
    )
    .unwrap();
    assert_eq!(claims["client_id"], billing.id.as_str());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
}
on_both_backends!(a_created_client_gets_tokens_at_once);

/// Read it back: never the secret; an unknown id is 404.
async fn a_client_reads_back_without_its_secret(backend: Backend) {
    let (app, _, token) = admin_app(backend, SCOPE_ADMIN).await;
    let t = Some(token.as_str());
    let (billing, _) = create_billing(&app, t).await;
    let (s, _, got) = call(
        &app,
        Method::GET,
        &format!("/admin/v1/clients/{}", billing.id),
        t,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(got["name"], "billing");
    assert!(!got.to_string().contains(&billing.secret));
    assert_eq!(get_status(&app, "/admin/v1/clients/nope", t).await, 404);
}
on_both_backends!(a_client_reads_back_without_its_secret);

/// Update: a new scope is grantable at once; null returns the TTL to the server default.
async fn a_patched_scope_applies_to_the_next_token(backend: Backend) {
    let (app, _, token) = admin_app(backend, SCOPE_ADMIN).await;
    let t = Some(token.as_str());
    let (billing, _) = create_billing(&app, t).await;
    let (s, upd) = patch_client(
        &app,
        t,
        &billing.id,
        json!({"scopes": ["orders:read", "orders:write"], "token_ttl": null}),
    )
    .await;
    assert_eq!(s, 200, "{upd}");
    assert!(upd.get("token_ttl").is_none());
    let r = app
        .token_request(
            &billing,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "orders:write"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
}
on_both_backends!(a_patched_scope_applies_to_the_next_token);

async fn a_zero_token_ttl_is_400_naming_the_field(backend: Backend) {
    let (app, _, token) = admin_app(backend, SCOPE_ADMIN).await;
    let t = Some(token.as_str());
    let (billing, _) = create_billing(&app, t).await;
    let (s, body) = patch_client(&app, t, &billing.id, json!({"token_ttl": 0})).await;
    assert_eq!((s, body["field"].as_str()), (400, Some("token_ttl")));
}
on_both_backends!(a_zero_token_ttl_is_400_naming_the_field);

/// Rotate the secret: the old one fails at once, the new one works.
async fn a_rotated_secret_replaces_the_old_one_at_once(backend: Backend) {
    let (app, _, token) = admin_app(backend, SCOPE_ADMIN).await;
    let t = Some(token.as_str());
    let (billing, _) = create_billing(&app, t).await;
    let (s, rotated) = rotate_secret(&app, t, &billing.id).await;
    assert_eq!(s, 200);
    assert_eq!(client_credentials_status(&app, &billing).await, 401);
    let billing = TestClient {
        id: billing.id.clone(),
        secret: rotated["client_secret"].as_str().unwrap().to_string(),
    };
    app.access_token(&billing).await;
}
on_both_backends!(a_rotated_secret_replaces_the_old_one_at_once);

/// Paging: every client exactly once across pages.
async fn paging_lists_every_client_exactly_once(backend: Backend) {
    let (app, _, token) = admin_app(backend, SCOPE_ADMIN).await;
    let t = Some(token.as_str());
    create_billing(&app, t).await;
    create_services(&app, t, 3).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/v1/clients?limit=2&cursor={c}"),
            None => "/admin/v1/clients?limit=2".into(),
        };
        let (s, _, page) = call(&app, Method::GET, &path, t, None).await;
        assert_eq!(s, 200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|c| c["client_id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (seen.len(), unique.len()),
        (6, 6),
        "admin + billing + 3 + the built-in tessera-console"
    );
}
on_both_backends!(paging_lists_every_client_exactly_once);

async fn invalid_paging_parameters_are_400_naming_the_field(backend: Backend) {
    let (app, _, token) = admin_app(backend, SCOPE_ADMIN).await;
    let t = Some(token.as_str());
    let (s, _, body) = call(&app, Method::GET, "/admin/v1/clients?limit=0", t, None).await;
    assert_eq!((s, body["field"].as_str()), (400, Some("limit")));
    let (s, _, body) = call(&app, Method::GET, "/admin/v1/clients?cursor=@@", t, None).await;
    assert_eq!((s, body["field"].as_str()), (400, Some("cursor")));
}
on_both_backends!(invalid_paging_parameters_are_400_naming_the_field);

/// Delete: idempotent; the client's credentials stop working.
async fn deleting_a_client_is_idempotent_and_ends_its_credentials(backend: Backend) {
    let (app, _, token) = admin_app(backend, SCOPE_ADMIN).await;
    let t = Some(token.as_str());
    let (billing, _) = create_billing(&app, t).await;
    for _ in 0..2 {
        assert_eq!(delete_client(&app, t, &billing.id).await, 204);
    }
    assert_eq!(client_credentials_status(&app, &billing).await, 401);
}
on_both_backends!(deleting_a_client_is_idempotent_and_ends_its_credentials);

/// The audit log: who, what, when — one entry per change, newest first, and no secret
/// anywhere.
async fn every_client_change_is_audited_without_secrets(backend: Backend) {
    let (app, admin, token) = admin_app(backend, SCOPE_ADMIN).await;
    let t = Some(token.as_str());
    let (s, _, _) = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        t,
        Some(json!({"name": "billing", "audiences": []})),
    )
    .await;
    assert_eq!(s, 400, "a refused create is not audited");
    let (billing, _) = create_billing(&app, t).await;
    let (s, _) = patch_client(
        &app,
        t,
        &billing.id,
        json!({"scopes": ["orders:read", "orders:write"], "token_ttl": null}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = patch_client(&app, t, &billing.id, json!({"token_ttl": 0})).await;
    assert_eq!(s, 400, "a refused change is not audited");
    let (s, rotated) = rotate_secret(&app, t, &billing.id).await;
    assert_eq!(s, 200);
    let new_secret = rotated["client_secret"].as_str().unwrap().to_string();
    create_services(&app, t, 3).await;
    for _ in 0..2 {
        assert_eq!(delete_client(&app, t, &billing.id).await, 204);
    }

    let (s, _, audit) = call(&app, Method::GET, "/admin/v1/audit?limit=200", t, None).await;
    assert_eq!(s, 200);
    let entries = audit["items"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "client.delete",
            "client.create",
            "client.create",
            "client.create",
            "client.rotate_secret",
            "client.update",
            "client.create"
        ],
        "newest first, one entry per change (the second delete changed nothing)"
    );
    assert!(entries.iter().all(|e| e["actor"] == admin.id.as_str()));
    assert!(entries.iter().all(|e| e["at"].as_i64().unwrap() > 0));
    let text = audit.to_string();
    for s in [&billing.secret, &new_secret, &admin.secret, &token] {
        assert!(
            !text.contains(s.as_str()),
            "a secret leaked into the audit log"
        );
    }
}
on_both_backends!(every_client_change_is_audited_without_secrets);

/// The audit log over the API filters by actor, action and time, pages with the filters
/// kept, and refuses a cursor it did not give (400 naming `cursor`).
async fn the_audit_log_filters_by_actor_action_and_time(backend: Backend) {
    let (app, admin, token) = admin_app(backend, SCOPE_ADMIN).await;
    let t = Some(token.as_str());
    let (billing, _) = create_billing(&app, t).await;
    for ttl in [100, 200, 300] {
        let (s, _) = patch_client(&app, t, &billing.id, json!({"token_ttl": ttl})).await;
        assert_eq!(s, 200);
    }
    let audit = |query: String| {
        let app = &app;
        async move {
            let (s, _, v) = call(
                app,
                Method::GET,
                &format!("/admin/v1/audit?{query}"),
                t,
                None,
            )
            .await;
            (s, v)
        }
    };
    let (s, v) = audit("action=client.update&limit=2".into()).await;
    assert_eq!(s, 200, "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|e| e["action"] == "client.update"));
    assert_eq!(items[0]["detail"]["token_ttl"], 300, "newest first");
    let next = v["next_cursor"]
        .as_str()
        .expect("a third update")
        .to_string();
    let (s, v) = audit(format!("action=client.update&limit=2&cursor={next}")).await;
    assert_eq!(s, 200, "{v}");
    let rest = v["items"].as_array().unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["detail"]["token_ttl"], 100);
    assert!(v.get("next_cursor").is_none());

    let (_, v) = audit(format!("actor={}&action=client.create", admin.id)).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = audit("actor=somebody-else".into()).await;
    assert!(v["items"].as_array().unwrap().is_empty(), "{v}");
    let now = tessera::clock::Clock::now(&tessera::clock::SystemClock);
    let (_, v) = audit(format!("since={}", now + 3600)).await;
    assert!(v["items"].as_array().unwrap().is_empty(), "{v}");
    let (_, v) = audit(format!("since={}&until={}", now - 3600, now + 3600)).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 4, "{v}");

    let (s, v) = audit("cursor=not-a-cursor".into()).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("cursor")), "{v}");
}
on_both_backends!(the_audit_log_filters_by_actor_action_and_time);

// --- Users --------------------------------------------------------------------------------

/// A server, a `tessera:users` admin token and a first-party client (`openid profile`).
async fn users_admin(backend: Backend) -> (TestApp, String, TestClient) {
    let (app, _, token) = admin_app(backend, SCOPE_USERS).await;
    let web = app.app_client("openid profile").await;
    (app, token, web)
}

/// Creates "Alice" over the API with a generated password; returns her id and password.
async fn create_alice(app: &TestApp, t: Option<&str>) -> (String, String) {
    let (s, _, created) = call(
        app,
        Method::POST,
        "/admin/v1/users",
        t,
        Some(json!({"username": "Alice", "roles": ["viewer"], "claims": {"team": "payments"}})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["user"]["username"], "alice");
    (
        created["user"]["id"].as_str().unwrap().to_string(),
        created["password"].as_str().unwrap().to_string(),
    )
}

async fn user_call(
    app: &TestApp,
    method: Method,
    t: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (s, _, v) = call(app, method, &format!("/admin/v1/users/{path}"), t, body).await;
    (s, v)
}

/// Create with a generated password, returned once; the user logs in with it at once.
async fn a_created_user_logs_in_with_the_generated_password(backend: Backend) {
    let (app, token, web) = users_admin(backend).await;
    let (_, password) = create_alice(&app, Some(&token)).await;
    let login = app.login(&web, "alice", &password, "openid").await;
    let access = login["access_token"].as_str().unwrap().to_string();
    assert_eq!(crate::support::claims(&access)["team"], "payments");
}
on_both_backends!(a_created_user_logs_in_with_the_generated_password);

/// A taken username (in any case) is 409.
async fn a_taken_username_is_409(backend: Backend) {
    let (app, token, _) = users_admin(backend).await;
    let t = Some(token.as_str());
    create_alice(&app, t).await;
    let (s, _, _) = call(
        &app,
        Method::POST,
        "/admin/v1/users",
        t,
        Some(json!({"username": "ALICE", "password": "long enough password"})),
    )
    .await;
    assert_eq!(s, 409);
}
on_both_backends!(a_taken_username_is_409);

/// A reserved claim or a short password is 400 naming the field.
async fn a_reserved_claim_or_short_password_is_400_naming_the_field(backend: Backend) {
    let (app, token, _) = users_admin(backend).await;
    let t = Some(token.as_str());
    let (s, _, body) = call(
        &app,
        Method::POST,
        "/admin/v1/users",
        t,
        Some(json!({"username": "bob", "claims": {"sub": "admin"}})),
    )
    .await;
    assert_eq!((s, body["field"].as_str()), (400, Some("claims")));
    let (s, _, body) = call(
        &app,
        Method::POST,
        "/admin/v1/users",
        t,
        Some(json!({"username": "bob", "password": "short"})),
    )
    .await;
    assert_eq!((s, body["field"].as_str()), (400, Some("password")));
}
on_both_backends!(a_reserved_claim_or_short_password_is_400_naming_the_field);

/// alice (over the API), then bob, carol and alicia.
async fn create_four_users(app: &TestApp, t: Option<&str>) {
    create_alice(app, t).await;
    for name in ["bob", "carol", "alicia"] {
        let (s, _, _) = call(
            app,
            Method::POST,
            "/admin/v1/users",
            t,
            Some(json!({"username": name, "password": "correct horse battery"})),
        )
        .await;
        assert_eq!(s, 201);
    }
}

/// Search is case-insensitive and literal (`%` is no wildcard).
async fn user_search_is_case_insensitive_and_literal(backend: Backend) {
    let (app, token, _) = users_admin(backend).await;
    let t = Some(token.as_str());
    create_four_users(&app, t).await;
    let (_, _, found) = call(&app, Method::GET, "/admin/v1/users?q=ALI", t, None).await;
    let names: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "alicia"]);
    let (_, _, none) = call(&app, Method::GET, "/admin/v1/users?q=%25", t, None).await;
    assert_eq!(
        none["items"].as_array().unwrap().len(),
        0,
        "% is not a wildcard"
    );
}
on_both_backends!(user_search_is_case_insensitive_and_literal);

async fn users_are_listed_in_pages(backend: Backend) {
    let (app, token, _) = users_admin(backend).await;
    let t = Some(token.as_str());
    create_four_users(&app, t).await;
    let (_, _, p1) = call(&app, Method::GET, "/admin/v1/users?limit=3", t, None).await;
    let c = p1["next_cursor"].as_str().unwrap();
    let (_, _, p2) = call(
        &app,
        Method::GET,
        &format!("/admin/v1/users?limit=3&cursor={c}"),
        t,
        None,
    )
    .await;
    assert_eq!(p2["items"][0]["username"], "carol");
    assert!(p2.get("next_cursor").is_none());
}
on_both_backends!(users_are_listed_in_pages);

/// A role change makes the old token inactive; the new roles are in new tokens.
async fn a_role_change_over_the_api_ends_old_tokens_and_applies_to_new_ones(backend: Backend) {
    let (app, token, web) = users_admin(backend).await;
    let t = Some(token.as_str());
    let (id, password) = create_alice(&app, t).await;
    let access = app.login(&web, "alice", &password, "openid").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, upd) = user_call(
        &app,
        Method::PATCH,
        t,
        &id,
        Some(json!({"roles": ["editor"], "claims": {"team": "billing"}})),
    )
    .await;
    assert_eq!(s, 200, "{upd}");
    assert_eq!(upd["roles"], json!(["editor"]));
    assert_eq!(app.introspect(&web, &access).await["active"], false);
    let login = app.login(&web, "alice", &password, "openid").await;
    let fresh = crate::support::claims(login["access_token"].as_str().unwrap());
    assert_eq!(
        (fresh["roles"].clone(), fresh["team"].clone()),
        (json!(["editor"]), json!("billing"))
    );
}
on_both_backends!(a_role_change_over_the_api_ends_old_tokens_and_applies_to_new_ones);

async fn a_password_set_over_the_api_replaces_the_old_one(backend: Backend) {
    let (app, token, web) = users_admin(backend).await;
    let t = Some(token.as_str());
    let (id, password) = create_alice(&app, t).await;
    let (s, _) = user_call(
        &app,
        Method::PUT,
        t,
        &format!("{id}/password"),
        Some(json!({"password": "a brand new password"})),
    )
    .await;
    assert_eq!(s, 200);
    let r = app
        .token_request(
            &web,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(r.status(), 400, "the old password no longer works");
    app.login(&web, "alice", "a brand new password", "openid")
        .await;
}
on_both_backends!(a_password_set_over_the_api_replaces_the_old_one);

/// Disabling ends the user's sessions; enabling lets them log in again.
async fn a_disabled_user_loses_their_sessions_until_enabled(backend: Backend) {
    let (app, token, web) = users_admin(backend).await;
    let t = Some(token.as_str());
    let (id, password) = create_alice(&app, t).await;
    let rt = app.login(&web, "alice", &password, "openid").await["refresh_token"]
        .as_str()
        .expect("the first-party client gets refresh tokens")
        .to_string();
    let (s, upd) = user_call(&app, Method::PATCH, t, &id, Some(json!({"disabled": true}))).await;
    assert_eq!((s, upd["disabled"].as_bool()), (200, Some(true)));
    assert_eq!(
        app.refresh(&web, &rt).await.0,
        400,
        "sessions end when disabled"
    );
    let (s, _) = user_call(
        &app,
        Method::PATCH,
        t,
        &id,
        Some(json!({"disabled": false})),
    )
    .await;
    assert_eq!(s, 200);
    app.login(&web, "alice", &password, "openid").await;
}
on_both_backends!(a_disabled_user_loses_their_sessions_until_enabled);

async fn logout_everywhere_over_the_api_ends_access_tokens(backend: Backend) {
    let (app, token, web) = users_admin(backend).await;
    let t = Some(token.as_str());
    let (id, password) = create_alice(&app, t).await;
    let access = app.login(&web, "alice", &password, "openid").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _) = user_call(&app, Method::POST, t, &format!("{id}/logout"), None).await;
    assert_eq!(s, 204);
    assert_eq!(app.introspect(&web, &access).await["active"], false);
}
on_both_backends!(logout_everywhere_over_the_api_ends_access_tokens);

/// Delete is idempotent; afterwards the user is 404, for logout too.
async fn deleting_a_user_is_idempotent_and_leaves_404(backend: Backend) {
    let (app, token, _) = users_admin(backend).await;
    let t = Some(token.as_str());
    let (id, _) = create_alice(&app, t).await;
    for _ in 0..2 {
        assert_eq!(user_call(&app, Method::DELETE, t, &id, None).await.0, 204);
    }
    assert_eq!(user_call(&app, Method::GET, t, &id, None).await.0, 404);
    let (s, _) = user_call(&app, Method::POST, t, &format!("{id}/logout"), None).await;
    assert_eq!(s, 404);
}
on_both_backends!(deleting_a_user_is_idempotent_and_leaves_404);

// --- Keys ---------------------------------------------------------------------------------

async fn keys_rotated_over_the_api_are_published_at_once(backend: Backend) {
    let app = spawn(backend).await;
    let (_, token) = admin_token(&app, "tessera:keys").await;
    let t = Some(token.as_str());
    let (s, _, list) = call(&app, Method::GET, "/admin/v1/keys", t, None).await;
    assert_eq!(s, 200);
    let before: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(before.len(), 2, "one ES256 and one RS256 key");
    assert!(!list.to_string().contains("\"d\""), "no key material");

    let (s, _, rotated) = call(
        &app,
        Method::POST,
        "/admin/v1/keys/rotate",
        t,
        Some(json!({"alg": "ES256", "now": true})),
    )
    .await;
    assert_eq!(s, 200, "{rotated}");
    let kid = rotated["published"][0].as_str().unwrap().to_string();
    let jwks = app.jwks().await;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str()),
        "the new key is in the JWKS when the API answers"
    );
    let (s, _, _) = call(
        &app,
        Method::POST,
        "/admin/v1/keys/rotate",
        t,
        Some(json!({"alg": "HS256"})),
    )
    .await;
    assert_eq!(s, 400);

    // Revoke the new key: gone from the JWKS at once; unknown kids are 404.
    let (s, _, revoked) = call(
        &app,
        Method::POST,
        &format!("/admin/v1/keys/{kid}/revoke"),
        t,
        None,
    )
    .await;
    assert_eq!(s, 200, "{revoked}");
    assert_eq!(revoked["state"], "REVOKED");
    let jwks = app.jwks().await;
    assert!(
        !jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str())
    );
    let (s, _, _) = call(&app, Method::POST, "/admin/v1/keys/nope/revoke", t, None).await;
    assert_eq!(s, 404);
}
on_both_backends!(keys_rotated_over_the_api_are_published_at_once);

// --- Browser (public) clients -------------------------------------------------------------

/// Registers the public client "Orders SPA" (redirect URI `https://spa.example/cb`) with a
/// `tessera:clients` token; returns the server, the token and the answer.
async fn spa(backend: Backend) -> (TestApp, String, Value) {
    let (app, _, token) = admin_app(backend, "tessera:clients").await;
    let (s, _, created) = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        Some(&token),
        Some(json!({"name": "Orders SPA", "public": true,
                    "grant_types": ["authorization_code", "refresh_token"],
                    "scopes": ["openid"], "audiences": ["https://orders.internal"],
                    "redirect_uris": ["https://spa.example/cb"],
                    "post_logout_redirect_uris": ["https://spa.example/"]})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    (app, token, created)
}

fn client_id(created: &Value) -> String {
    created["client"]["client_id"].as_str().unwrap().to_string()
}

/// A public client: no secret in the answer, PKCE-only sign-in.
async fn a_public_client_is_registered_without_a_secret(backend: Backend) {
    let (_app, _, created) = spa(backend).await;
    assert!(created.get("client_secret").is_none());
    assert_eq!(created["client"]["token_endpoint_auth_method"], "none");
}
on_both_backends!(a_public_client_is_registered_without_a_secret);

async fn a_public_client_cannot_get_client_credentials(backend: Backend) {
    let (app, token, created) = spa(backend).await;
    let (s, body) = patch_client(
        &app,
        Some(&token),
        &client_id(&created),
        json!({"grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!(s, 400, "{body}");
}
on_both_backends!(a_public_client_cannot_get_client_credentials);

async fn a_redirect_uri_with_a_fragment_is_400_naming_the_field(backend: Backend) {
    let (app, token, created) = spa(backend).await;
    let (s, body) = patch_client(
        &app,
        Some(&token),
        &client_id(&created),
        json!({"redirect_uris": ["https://spa.example/cb#frag"]}),
    )
    .await;
    assert_eq!(
        (s, body["field"].as_str()),
        (400, Some("redirect_uris")),
        "{body}"
    );
}
on_both_backends!(a_redirect_uri_with_a_fragment_is_400_naming_the_field);

/// The patched redirect URI is the one the authorization endpoint accepts, at once; the
/// client stays public.
async fn a_patched_redirect_uri_is_the_one_authorize_accepts_at_once(backend: Backend) {
    let (app, token, created) = spa(backend).await;
    let id = client_id(&created);
    let (s, upd) = patch_client(
        &app,
        Some(&token),
        &id,
        json!({"redirect_uris": ["https://spa.example/callback"]}),
    )
    .await;
    assert_eq!(s, 200, "{upd}");
    assert_eq!(
        upd["redirect_uris"],
        json!(["https://spa.example/callback"])
    );
    assert_eq!(upd["token_endpoint_auth_method"], "none", "stays public");
    let authorize = |uri: &str| {
        app.url(&format!(
            "/oauth/authorize?response_type=code&client_id={id}&redirect_uri={}&scope=openid\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        ))
    };
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let old = no_redirects
        .get(authorize("https://spa.example/cb"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        old.status(),
        400,
        "the old URI is refused with a page, never a redirect"
    );
    let new = no_redirects
        .get(authorize("https://spa.example/callback"))
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200, "the login page");
}
on_both_backends!(a_patched_redirect_uri_is_the_one_authorize_accepts_at_once);

/// A public client has no secret to rotate.
async fn a_public_client_has_no_secret_to_rotate(backend: Backend) {
    let (app, token, created) = spa(backend).await;
    let (s, _) = rotate_secret(&app, Some(&token), &client_id(&created)).await;
    assert_eq!(s, 400);
}
on_both_backends!(a_public_client_has_no_secret_to_rotate);
