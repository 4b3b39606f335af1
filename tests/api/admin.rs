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

async fn admin_api_is_guarded_by_our_own_tokens(backend: Backend) {
    let app = spawn(backend).await;
    // No token: 401 with a Bearer challenge and the JSON problem shape.
    let (s, h, body) = call(&app, Method::GET, "/admin/v1/clients", None, None).await;
    assert_eq!(s, 401);
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(body["error"], "unauthorized");
    // Garbage, and a token signed by no key of ours.
    for bad in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."] {
        let (s, _, _) = call(&app, Method::GET, "/admin/v1/clients", Some(bad), None).await;
        assert_eq!(s, 401, "{bad}");
    }
    // A valid token of ours for another audience is not an admin token.
    let service = app
        .client(SCOPE_ADMIN, &["https://orders.internal"], None)
        .await;
    let t = app.access_token(&service).await;
    let (s, _, _) = call(&app, Method::GET, "/admin/v1/clients", Some(&t), None).await;
    assert_eq!(s, 401, "wrong audience");
    // Right audience, wrong scope: 403 naming the scope needed.
    let (_, users_only) = admin_token(&app, SCOPE_USERS).await;
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
    let (s, _, _) = call(
        &app,
        Method::GET,
        "/admin/v1/users",
        Some(&users_only),
        None,
    )
    .await;
    assert_eq!(s, 200, "its own area is open");
    let (s, _, _) = call(
        &app,
        Method::GET,
        "/admin/v1/audit",
        Some(&users_only),
        None,
    )
    .await;
    assert_eq!(s, 403, "the audit log needs tessera:admin");
    // tessera:admin opens everything.
    let (admin, token) = admin_token(&app, SCOPE_ADMIN).await;
    for path in [
        "/admin/v1/clients",
        "/admin/v1/users",
        "/admin/v1/keys",
        "/admin/v1/audit",
    ] {
        let (s, _, _) = call(&app, Method::GET, path, Some(&token), None).await;
        assert_eq!(s, 200, "{path}");
    }
    // A revoked admin token stops working at once.
    let r = app
        .post_as(&admin, "/oauth/revoke", &[("token", token.as_str())])
        .await;
    assert_eq!(r.status(), 200);
    let (s, _, _) = call(&app, Method::GET, "/admin/v1/keys", Some(&token), None).await;
    assert_eq!(s, 401, "revoked token");
    // So do the tokens of a deleted admin client.
    let token2 = app.access_token(&admin).await;
    assert!(app.state.ctx.clients.delete(&admin.id).await.unwrap());
    let (s, _, _) = call(&app, Method::GET, "/admin/v1/keys", Some(&token2), None).await;
    assert_eq!(s, 401, "deleted admin client");
}
on_both_backends!(admin_api_is_guarded_by_our_own_tokens);

async fn clients_managed_over_the_api_work_at_once(backend: Backend) {
    let app = spawn(backend).await;
    let (admin, token) = admin_token(&app, SCOPE_ADMIN).await;
    let t = Some(token.as_str());
    // Validation errors name the field.
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
    // Not JSON, or not the documented shape: 400 in the same JSON shape.
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
    // Too large a body: 413, never read into memory whole.
    let big = json!({"name": "x".repeat(70_000), "audiences": ["a"]});
    let (s, _, body) = call(&app, Method::POST, "/admin/v1/clients", t, Some(big)).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (413, Some("payload_too_large"))
    );

    // Create: the secret is in the answer once, and the client gets tokens at once.
    let (s, _, created) = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        t,
        Some(json!({"name": "billing", "scopes": ["orders:read"],
                    "audiences": ["https://orders.internal"], "alg": "RS256", "token_ttl": 300})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let id = created["client"]["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 43);
    let billing = TestClient {
        id: id.clone(),
        secret: secret.clone(),
    };
    let access = app.access_token(&billing).await;
    assert_eq!(header(&access)["alg"], "RS256");
    let claims = verify_independently(
        &access,
        &app.jwks().await,
        &app.base,
        "https://orders.internal",
    )
    .unwrap();
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );

    // Read it back: never the secret.
    let (s, _, got) = call(
        &app,
        Method::GET,
        &format!("/admin/v1/clients/{id}"),
        t,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(got["name"], "billing");
    assert!(!got.to_string().contains(&secret));
    let (s, _, _) = call(&app, Method::GET, "/admin/v1/clients/nope", t, None).await;
    assert_eq!(s, 404);

    // Update: a new scope is grantable at once; null returns to the server default.
    let (s, _, upd) = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/clients/{id}"),
        t,
        Some(json!({"scopes": ["orders:read", "orders:write"], "token_ttl": null})),
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
    let (s, _, body) = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/clients/{id}"),
        t,
        Some(json!({"token_ttl": 0})),
    )
    .await;
    assert_eq!((s, body["field"].as_str()), (400, Some("token_ttl")));

    // Rotate the secret: the old one fails at once.
    let (s, _, rotated) = call(
        &app,
        Method::POST,
        &format!("/admin/v1/clients/{id}/secret"),
        t,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let new_secret = rotated["client_secret"].as_str().unwrap().to_string();
    let r = app
        .token_request(&billing, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 401);
    let billing = TestClient {
        id: id.clone(),
        secret: new_secret.clone(),
    };
    app.access_token(&billing).await;

    // Paging: every client exactly once across pages.
    for i in 0..3 {
        let (s, _, _) = call(
            &app,
            Method::POST,
            "/admin/v1/clients",
            t,
            Some(json!({"name": format!("svc{i}"), "audiences": ["a"]})),
        )
        .await;
        assert_eq!(s, 201);
    }
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
    assert_eq!((seen.len(), unique.len()), (5, 5), "admin + billing + 3");
    let (s, _, body) = call(&app, Method::GET, "/admin/v1/clients?limit=0", t, None).await;
    assert_eq!((s, body["field"].as_str()), (400, Some("limit")));
    let (s, _, body) = call(&app, Method::GET, "/admin/v1/clients?cursor=@@", t, None).await;
    assert_eq!((s, body["field"].as_str()), (400, Some("cursor")));

    // Delete: idempotent; the client's credentials stop working.
    for _ in 0..2 {
        let (s, _, _) = call(
            &app,
            Method::DELETE,
            &format!("/admin/v1/clients/{id}"),
            t,
            None,
        )
        .await;
        assert_eq!(s, 204);
    }
    let r = app
        .token_request(&billing, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 401);

    // The audit log: who, what, when — and no secret anywhere.
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
    for s in [&secret, &new_secret, &admin.secret, &token] {
        assert!(
            !text.contains(s.as_str()),
            "a secret leaked into the audit log"
        );
    }
}
on_both_backends!(clients_managed_over_the_api_work_at_once);

async fn users_managed_over_the_api(backend: Backend) {
    let app = spawn(backend).await;
    let (_, token) = admin_token(&app, SCOPE_USERS).await;
    let t = Some(token.as_str());
    let web = app.app_client("openid profile").await;

    // Create with a generated password, returned once.
    let (s, _, created) = call(
        &app,
        Method::POST,
        "/admin/v1/users",
        t,
        Some(json!({"username": "Alice", "roles": ["viewer"], "claims": {"team": "payments"}})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let id = created["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["user"]["username"], "alice");
    let password = created["password"].as_str().unwrap().to_string();
    let login = app.login(&web, "alice", &password, "openid").await;
    let access = login["access_token"].as_str().unwrap().to_string();
    assert_eq!(crate::support::claims(&access)["team"], "payments");
    // Taken username: 409. Reserved claim, short password: 400 naming the field.
    let (s, _, _) = call(
        &app,
        Method::POST,
        "/admin/v1/users",
        t,
        Some(json!({"username": "ALICE", "password": "long enough password"})),
    )
    .await;
    assert_eq!(s, 409);
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
    for name in ["bob", "carol", "alicia"] {
        let (s, _, _) = call(
            &app,
            Method::POST,
            "/admin/v1/users",
            t,
            Some(json!({"username": name, "password": "correct horse battery"})),
        )
        .await;
        assert_eq!(s, 201);
    }
    // Search and paging.
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

    // A role change makes the old token inactive; the new roles are in new tokens.
    let (s, _, upd) = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/users/{id}"),
        t,
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

    // Set a password; disable; enable.
    let (s, _, _) = call(
        &app,
        Method::PUT,
        &format!("/admin/v1/users/{id}/password"),
        t,
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
    let refresh = app
        .login(&web, "alice", "a brand new password", "openid")
        .await["refresh_token"]
        .as_str()
        .map(str::to_string);
    let (s, _, upd) = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/users/{id}"),
        t,
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!((s, upd["disabled"].as_bool()), (200, Some(true)));
    if let Some(rt) = refresh {
        assert_eq!(
            app.refresh(&web, &rt).await.0,
            400,
            "sessions end when disabled"
        );
    }
    let (s, _, _) = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/users/{id}"),
        t,
        Some(json!({"disabled": false})),
    )
    .await;
    assert_eq!(s, 200);
    let login = app
        .login(&web, "alice", "a brand new password", "openid")
        .await;
    let access = login["access_token"].as_str().unwrap().to_string();
    // Logout everywhere, then delete (idempotent).
    let (s, _, _) = call(
        &app,
        Method::POST,
        &format!("/admin/v1/users/{id}/logout"),
        t,
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(app.introspect(&web, &access).await["active"], false);
    for _ in 0..2 {
        let (s, _, _) = call(
            &app,
            Method::DELETE,
            &format!("/admin/v1/users/{id}"),
            t,
            None,
        )
        .await;
        assert_eq!(s, 204);
    }
    let (s, _, _) = call(&app, Method::GET, &format!("/admin/v1/users/{id}"), t, None).await;
    assert_eq!(s, 404);
    let (s, _, _) = call(
        &app,
        Method::POST,
        &format!("/admin/v1/users/{id}/logout"),
        t,
        None,
    )
    .await;
    assert_eq!(s, 404);
}
on_both_backends!(users_managed_over_the_api);

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

async fn browser_clients_are_registered_over_the_api(backend: Backend) {
    let app = spawn(backend).await;
    let (_, token) = admin_token(&app, "tessera:clients").await;
    let t = Some(token.as_str());
    // A public client: no secret in the answer, PKCE-only sign-in.
    let (s, _, created) = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        t,
        Some(json!({"name": "Orders SPA", "public": true,
                    "grant_types": ["authorization_code", "refresh_token"],
                    "scopes": ["openid"], "audiences": ["https://orders.internal"],
                    "redirect_uris": ["https://spa.example/cb"],
                    "post_logout_redirect_uris": ["https://spa.example/"]})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    assert!(created.get("client_secret").is_none());
    assert_eq!(created["client"]["token_endpoint_auth_method"], "none");
    let id = created["client"]["client_id"].as_str().unwrap().to_string();
    // A public client cannot get client_credentials; a fragment is no redirect URI.
    let (s, _, body) = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/clients/{id}"),
        t,
        Some(json!({"grant_types": ["client_credentials"]})),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let (s, _, body) = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/clients/{id}"),
        t,
        Some(json!({"redirect_uris": ["https://spa.example/cb#frag"]})),
    )
    .await;
    assert_eq!(
        (s, body["field"].as_str()),
        (400, Some("redirect_uris")),
        "{body}"
    );
    let (s, _, upd) = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/clients/{id}"),
        t,
        Some(json!({"redirect_uris": ["https://spa.example/callback"]})),
    )
    .await;
    assert_eq!(s, 200, "{upd}");
    assert_eq!(
        upd["redirect_uris"],
        json!(["https://spa.example/callback"])
    );
    assert_eq!(upd["token_endpoint_auth_method"], "none", "stays public");
    // The new redirect URI is the one the authorization endpoint accepts, at once.
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
    // No secret to rotate.
    let (s, _, _) = call(
        &app,
        Method::POST,
        &format!("/admin/v1/clients/{id}/secret"),
        t,
        None,
    )
    .await;
    assert_eq!(s, 400);
}
on_both_backends!(browser_clients_are_registered_over_the_api);
