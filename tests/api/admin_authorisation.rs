//! Security round 2, admin part: who may grant and touch admin powers (A1–A3), the audit
//! trail of the command line (A4), hostile strings and duplicate keys in admin bodies (A5),
//! secrets in query strings (A6), and unknown client ids at client authentication (T2).

use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};
use tessera::{
    admin::{ADMIN_AUDIENCE, ALL_SCOPES, AuditLog, SCOPE_ADMIN, SCOPE_CLIENTS},
    clients::{NewClient, RegistrationLimits},
    clock::SystemClock,
};

use crate::{
    on_both_backends,
    support::{Backend, ServerHttp, TestApp, TestClient, spawn, spawn_with, test_settings},
};

// --- helpers ------------------------------------------------------------------------------

/// A client for the admin audience with `scopes`, and a token for it.
async fn admin(app: &TestApp, scopes: &str) -> (TestClient, String) {
    let c = app.client(scopes, &[ADMIN_AUDIENCE], None).await;
    let t = app.access_token(&c).await;
    (c, t)
}

/// The root admin client as `tessera clients create --admin` registers it.
async fn root_admin(app: &TestApp) -> (TestClient, String) {
    admin(app, &ALL_SCOPES.join(" ")).await
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, v)
}

/// POST a raw JSON text (for bodies `serde_json::Value` cannot hold, e.g. duplicate keys).
async fn post_raw(app: &TestApp, path: &str, token: &str, body: &str) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn create(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    call(app, Method::POST, "/admin/v1/clients", token, Some(body)).await
}

async fn patch(app: &TestApp, token: &str, id: &str, body: Value) -> (u16, Value) {
    let path = format!("/admin/v1/clients/{id}");
    call(app, Method::PATCH, &path, token, Some(body)).await
}

async fn rotate(app: &TestApp, token: &str, id: &str) -> (u16, Value) {
    let path = format!("/admin/v1/clients/{id}/secret");
    call(app, Method::POST, &path, token, None).await
}

async fn delete(app: &TestApp, token: &str, id: &str) -> u16 {
    let path = format!("/admin/v1/clients/{id}");
    call(app, Method::DELETE, &path, token, None).await.0
}

async fn registered(app: &TestApp, id: &str) -> Option<tessera::clients::Client> {
    app.state.ctx.clients.fetch(id).await.unwrap()
}

async fn client_credentials_status(app: &TestApp, c: &TestClient) -> u16 {
    app.token_request(c, &[("grant_type", "client_credentials")])
        .await
        .status()
        .as_u16()
}

fn assert_forbidden(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 403, "{what}: {body}");
    assert_eq!(body["error"], "forbidden", "{what}: {body}");
}

// --- A1 -------------------------------------------------------------------------------------

/// A1: a `tessera:clients` client cannot register a client with any `tessera:*` scope or
/// the admin audience (F1: it used to get 201 and the new admin's secret); a
/// `tessera:admin` client can.
async fn a1_only_tessera_admin_registers_clients_with_admin_powers(backend: Backend) {
    let app = spawn(backend).await;
    let (_, narrow) = admin(&app, SCOPE_CLIENTS).await;
    let (_, full) = admin(&app, SCOPE_ADMIN).await;
    let attempts = [
        json!({"name": "x", "scopes": ["tessera:admin"], "audiences": [ADMIN_AUDIENCE]}),
        json!({"name": "x", "scopes": ["tessera:users"], "audiences": ["https://a"]}),
        json!({"name": "x", "scopes": ["orders:read tessera:keys"], "audiences": ["https://a"]}),
        json!({"name": "x", "scopes": ["TESSERA:clients"], "audiences": ["https://a"]}),
        json!({"name": "x", "scopes": ["orders:read"], "audiences": [ADMIN_AUDIENCE]}),
        json!({"name": "x", "scopes": ["orders:read"], "audiences": ["https://a URN:Tessera:Admin"]}),
    ];
    let before = app.state.ctx.clients.list().await.unwrap().len();
    for body in &attempts {
        let (s, v) = create(&app, &narrow, body.clone()).await;
        assert_forbidden(s, &v, &body.to_string());
        assert!(v.get("client_secret").is_none());
    }
    assert_eq!(
        app.state.ctx.clients.list().await.unwrap().len(),
        before,
        "nothing was registered"
    );
    let (s, v) = create(
        &app,
        &narrow,
        json!({"name": "svc", "scopes": ["orders:read"], "audiences": ["https://a"]}),
    )
    .await;
    assert_eq!(s, 201, "an ordinary client is still fine: {v}");
    for body in &attempts[..2] {
        let (s, v) = create(&app, &full, body.clone()).await;
        assert_eq!(s, 201, "tessera:admin may grant admin powers: {v}");
    }
}
on_both_backends!(a1_only_tessera_admin_registers_clients_with_admin_powers);

/// A1: a `tessera:clients` client cannot patch an ordinary client to a `tessera:*` scope
/// or the admin audience; the client stays as it was. A `tessera:admin` client can.
async fn a1_only_tessera_admin_patches_admin_powers_into_a_client(backend: Backend) {
    let app = spawn(backend).await;
    let (_, narrow) = admin(&app, SCOPE_CLIENTS).await;
    let (_, full) = admin(&app, SCOPE_ADMIN).await;
    let svc = app.client("orders:read", &["https://a"], None).await;
    for body in [
        json!({"scopes": ["tessera:admin"]}),
        json!({"scopes": ["orders:read", "tessera:clients"]}),
        json!({"audiences": [ADMIN_AUDIENCE]}),
        json!({"audiences": ["https://a", "urn:TESSERA:admin"]}),
    ] {
        let (s, v) = patch(&app, &narrow, &svc.id, body.clone()).await;
        assert_forbidden(s, &v, &body.to_string());
    }
    let c = registered(&app, &svc.id).await.unwrap();
    assert_eq!(
        (c.scopes, c.audiences),
        (
            vec!["orders:read".to_string()],
            vec!["https://a".to_string()]
        )
    );
    let (s, v) = patch(&app, &narrow, &svc.id, json!({"scopes": ["orders:write"]})).await;
    assert_eq!(s, 200, "ordinary changes are still allowed: {v}");
    let (s, v) = patch(&app, &full, &svc.id, json!({"scopes": ["tessera:users"]})).await;
    assert_eq!(s, 200, "tessera:admin may: {v}");
}
on_both_backends!(a1_only_tessera_admin_patches_admin_powers_into_a_client);

/// A1: a scope taken away from an admin client stops counting in the tokens it already
/// holds (the token's scopes count only while the registration still has them).
async fn a1_a_revoked_admin_scope_stops_counting_in_issued_tokens(backend: Backend) {
    let app = spawn(backend).await;
    let (demoted, demoted_token) = admin(&app, &format!("{SCOPE_ADMIN} {SCOPE_CLIENTS}")).await;
    let (_, full) = admin(&app, SCOPE_ADMIN).await;
    let (s, v) = patch(&app, &full, &demoted.id, json!({"scopes": [SCOPE_CLIENTS]})).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = create(
        &app,
        &demoted_token,
        json!({"name": "x", "scopes": ["tessera:admin"], "audiences": [ADMIN_AUDIENCE]}),
    )
    .await;
    assert_forbidden(s, &v, "token issued before the demotion");
}
on_both_backends!(a1_a_revoked_admin_scope_stops_counting_in_issued_tokens);

// --- A2 -------------------------------------------------------------------------------------

/// A2: a `tessera:clients` client can neither rotate the root admin's secret (F1), nor
/// delete it, nor patch it; nor touch a client holding only another `tessera:*` scope or
/// only the admin audience. The root admin's credentials keep working.
async fn a2_a_narrow_admin_cannot_rotate_delete_or_patch_admin_clients(backend: Backend) {
    let app = spawn(backend).await;
    let (root, _) = root_admin(&app).await;
    let (_, narrow) = admin(&app, SCOPE_CLIENTS).await;
    let users_admin = app.client("tessera:users", &["https://a"], None).await;
    let audience_only = app.client("orders:read", &[ADMIN_AUDIENCE], None).await;
    for target in [&root, &users_admin, &audience_only] {
        let (s, v) = rotate(&app, &narrow, &target.id).await;
        assert_forbidden(s, &v, "rotate");
        assert!(v.get("client_secret").is_none());
        let (s, v) = patch(&app, &narrow, &target.id, json!({"name": "mine"})).await;
        assert_forbidden(s, &v, "patch");
        let (s, v) = patch(
            &app,
            &narrow,
            &target.id,
            json!({"scopes": ["orders:read"]}),
        )
        .await;
        assert_forbidden(s, &v, "patch that would remove the admin scopes");
        assert_eq!(delete(&app, &narrow, &target.id).await, 403, "delete");
        assert!(registered(&app, &target.id).await.is_some());
        assert_eq!(
            client_credentials_status(&app, target).await,
            200,
            "its secret still works"
        );
    }
    assert_eq!(
        registered(&app, &root.id).await.unwrap().name,
        "test client"
    );
    // A full admin may.
    let (_, full) = admin(&app, SCOPE_ADMIN).await;
    let (s, v) = rotate(&app, &full, &users_admin.id).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(delete(&app, &full, &audience_only.id).await, 204);
}
on_both_backends!(a2_a_narrow_admin_cannot_rotate_delete_or_patch_admin_clients);

// --- A3 -------------------------------------------------------------------------------------

/// A3: a client cannot widen its own scopes or audiences. The rule holds for
/// `tessera:admin` too (chosen: every widening of a client's own powers needs a second
/// admin client or the command line); narrowing itself and other changes are allowed. A
/// `tessera:clients` client cannot patch itself at all (it holds an admin scope, A2).
async fn a3_a_client_cannot_widen_its_own_scopes_or_audiences(backend: Backend) {
    let app = spawn(backend).await;
    let (me, token) = admin(&app, &format!("{SCOPE_ADMIN} orders:read")).await;
    for body in [
        json!({"scopes": [SCOPE_ADMIN, "orders:read", "orders:write"]}),
        json!({"scopes": [SCOPE_ADMIN, "tessera:keys"]}),
        json!({"audiences": [ADMIN_AUDIENCE, "https://more"]}),
    ] {
        let (s, v) = patch(&app, &token, &me.id, body.clone()).await;
        assert_forbidden(s, &v, &body.to_string());
        assert!(v["message"].as_str().unwrap().contains("own"), "{v}");
    }
    let c = registered(&app, &me.id).await.unwrap();
    assert_eq!(c.scopes, vec![SCOPE_ADMIN, "orders:read"]);
    let (s, v) = patch(
        &app,
        &token,
        &me.id,
        json!({"scopes": [SCOPE_ADMIN], "name": "me"}),
    )
    .await;
    assert_eq!(s, 200, "narrowing itself is fine: {v}");
    // Another tessera:admin client may widen it.
    let (_, other) = admin(&app, SCOPE_ADMIN).await;
    let (s, v) = patch(
        &app,
        &other,
        &me.id,
        json!({"scopes": [SCOPE_ADMIN, "orders:write"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // F1: the narrow admin patching itself to tessera:admin.
    let (narrow, narrow_token) = admin(&app, SCOPE_CLIENTS).await;
    let (s, v) = patch(
        &app,
        &narrow_token,
        &narrow.id,
        json!({"scopes": [SCOPE_CLIENTS, SCOPE_ADMIN]}),
    )
    .await;
    assert_forbidden(s, &v, "self-promotion");
    assert_eq!(
        registered(&app, &narrow.id).await.unwrap().scopes,
        vec![SCOPE_CLIENTS]
    );
}
on_both_backends!(a3_a_client_cannot_widen_its_own_scopes_or_audiences);

// --- A4 -------------------------------------------------------------------------------------

/// Runs `tessera` against the database of `settings`, as OS user `user` (`None`: neither
/// `USER` nor `LOGNAME` set); returns stdout, panicking unless it succeeds.
fn cli(
    settings: &tessera::Settings,
    dir: &std::path::Path,
    user: Option<&str>,
    args: &[&str],
) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("TESSERA_KEK")
        .env_remove("RUST_LOG")
        .env_remove("USER")
        .env_remove("LOGNAME")
        .env("TESSERA_DATABASE_URL", &settings.database_url);
    if let Some(s) = &settings.database_schema {
        cmd.env("TESSERA_DATABASE_SCHEMA", s);
    }
    if let Some(u) = user {
        cmd.env("USER", u);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "tessera {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A4: every change made with the command line (clients create/rotate-secret/delete,
/// users create/disable/enable/set-password/set-roles/logout/delete, keys rotate/revoke)
/// writes one audit row with the actor `cli:<os user>` (`$USER`, else `$LOGNAME`, else
/// the uid), and no secret.
async fn a4_every_cli_change_writes_one_audit_row_with_its_actor(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(&backend, dir.path()).await;
    let d = dir.path();
    let run = |args: &[&str]| cli(&settings, d, Some("ops-alice"), args);
    // Only `serve` and `migrate` create the database.
    run(&["migrate"]);
    let created: Value = serde_json::from_str(&run(&[
        "clients",
        "create",
        "--name",
        "svc",
        "--audience",
        "https://a",
        "--json",
    ]))
    .unwrap();
    let id = created["client_id"].as_str().unwrap().to_string();
    let first_secret = created["client_secret"].as_str().unwrap().to_string();
    let rotated: Value =
        serde_json::from_str(&run(&["clients", "rotate-secret", &id, "--json"])).unwrap();
    let second_secret = rotated["client_secret"].as_str().unwrap().to_string();
    run(&["clients", "delete", &id]);
    let user: Value =
        serde_json::from_str(&run(&["users", "create", "--username", "bob", "--json"])).unwrap();
    let sub = user["id"].as_str().unwrap().to_string();
    let password = user["password"].as_str().unwrap().to_string();
    run(&["users", "disable", "bob"]);
    run(&["users", "enable", "bob"]);
    run(&["users", "set-password", "bob"]);
    run(&["users", "set-roles", "bob", "--role", "viewer"]);
    run(&["users", "logout", "bob"]);
    run(&["users", "delete", "bob"]);
    let published = run(&["keys", "rotate", "--alg", "ES256"]);
    let kid = published
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("{published}"))
        .to_string();
    run(&["keys", "revoke", &kid]);
    // Without $USER and $LOGNAME: the uid.
    cli(
        &settings,
        d,
        None,
        &["clients", "create", "--name", "anon", "--audience", "a"],
    );

    let db = tessera::storage::connect(&settings).await.unwrap();
    let log = AuditLog::new(db, std::sync::Arc::new(SystemClock));
    let mut rows = log.list(None, 100).await.unwrap().items;
    rows.reverse();
    let seen: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.actor.clone(), r.action.clone(), r.target.clone()))
        .collect();
    let alice = |action: &str, target: &str| {
        (
            "cli:ops-alice".to_string(),
            action.to_string(),
            target.to_string(),
        )
    };
    let uid = {
        use std::os::unix::fs::MetadataExt;
        let f = d.join("owned");
        std::fs::write(&f, b"").unwrap();
        std::fs::metadata(&f).unwrap().uid()
    };
    let anon = rows.last().unwrap();
    let expected = vec![
        alice("client.create", &id),
        alice("client.rotate_secret", &id),
        alice("client.delete", &id),
        alice("user.create", &sub),
        alice("user.update", &sub),
        alice("user.update", &sub),
        alice("user.set_password", &sub),
        alice("user.update", &sub),
        alice("user.logout_everywhere", &sub),
        alice("user.delete", &sub),
        alice("key.rotate", &kid),
        alice("key.revoke", &kid),
        (
            format!("cli:uid:{uid}"),
            "client.create".into(),
            anon.target.clone(),
        ),
    ];
    assert_eq!(seen, expected);
    assert_eq!(rows[0].detail["audiences"], json!(["https://a"]));
    assert_eq!(rows[4].detail, json!({"disabled": true}));
    assert_eq!(rows[7].detail, json!({"roles": ["viewer"]}));
    let all = serde_json::to_string(&rows).unwrap();
    for secret in [&first_secret, &second_secret, &password] {
        assert!(!all.contains(secret.as_str()), "a secret in the audit log");
    }
}
on_both_backends!(a4_every_cli_change_writes_one_audit_row_with_its_actor);

// --- A5 -------------------------------------------------------------------------------------

/// A5: control characters (NUL, BEL, ESC, newline, DEL) in names, audiences, redirect
/// URIs and other string fields are 400 naming the field, over the API and in the domain
/// rules the command line uses; nothing is registered.
async fn a5_control_characters_are_400_naming_the_field(backend: Backend) {
    let app = spawn(backend).await;
    let (_, token) = admin(&app, SCOPE_ADMIN).await;
    let ok = json!({"name": "web", "grant_types": ["authorization_code"],
                    "audiences": ["https://a"], "redirect_uris": ["https://app.example/cb"],
                    "post_logout_redirect_uris": ["https://app.example/"]});
    let with = |field: &str, value: Value| {
        let mut b = ok.clone();
        b[field] = value;
        b
    };
    let before = app.state.ctx.clients.list().await.unwrap().len();
    for (body, field) in [
        (with("name", json!("we\u{0}b")), "name"),
        (with("name", json!("web\n")), "name"),
        (with("name", json!("\u{1b}[31mweb")), "name"),
        (with("audiences", json!(["https://a\u{7}"])), "audiences"),
        (with("audiences", json!(["https://a\u{7f}"])), "audiences"),
        (
            with("redirect_uris", json!(["https://app.example/cb\u{0}"])),
            "redirect_uris",
        ),
        (
            with("redirect_uris", json!(["https://app.example/c\tb"])),
            "redirect_uris",
        ),
        (
            with(
                "post_logout_redirect_uris",
                json!(["https://app.example/\r"]),
            ),
            "post_logout_redirect_uris",
        ),
    ] {
        let (s, v) = create(&app, &token, body.clone()).await;
        assert_eq!((s, v["field"].as_str()), (400, Some(field)), "{body}: {v}");
    }
    assert_eq!(app.state.ctx.clients.list().await.unwrap().len(), before);
    let (s, v) = create(&app, &token, ok).await;
    assert_eq!(s, 201, "{v}");
    let id = v["client"]["client_id"].as_str().unwrap().to_string();
    let (s, v) = patch(&app, &token, &id, json!({"name": "a\u{0}b"})).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("name")), "{v}");
    let (_, users) = admin(&app, "tessera:users").await;
    let (s, v) = call(
        &app,
        Method::POST,
        "/admin/v1/users",
        &users,
        Some(json!({"username": "eve", "claims": {"team": "\u{1b}[2J"}})),
    )
    .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("claims.team")), "{v}");
    // The domain rules (what `tessera clients create` goes through) refuse them too.
    let err = app
        .state
        .ctx
        .clients
        .create(
            NewClient {
                name: "cli\u{7}".into(),
                grant_types: vec!["client_credentials".into()],
                audiences: vec!["https://a".into()],
                ..Default::default()
            },
            RegistrationLimits {
                max_token_ttl: std::time::Duration::from_secs(3600),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            tessera::error::Error::Invalid {
                field: tessera::error::Field::Name,
                ..
            }
        ),
        "{err}"
    );
}
on_both_backends!(a5_control_characters_are_400_naming_the_field);

/// A5: a key given twice in an admin body (at any depth) is 400 naming it, not "the last
/// one wins": `scopes` smuggled in a second time never reaches the handler.
async fn a5_duplicate_json_keys_are_400_naming_the_field(backend: Backend) {
    let app = spawn(backend).await;
    let (_, token) = admin(&app, SCOPE_ADMIN).await;
    let before = app.state.ctx.clients.list().await.unwrap().len();
    let (s, v) = post_raw(
        &app,
        "/admin/v1/clients",
        &token,
        r#"{"name":"svc","audiences":["https://a"],"scopes":["orders:read"],"scopes":["tessera:admin"]}"#,
    )
    .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("scopes")), "{v}");
    assert_eq!(v["error"], "invalid_request");
    let (s, v) = post_raw(
        &app,
        "/admin/v1/clients",
        &token,
        r#"{"name":"svc","n\u0061me":"other","audiences":["https://a"]}"#,
    )
    .await;
    assert_eq!(
        (s, v["field"].as_str()),
        (400, Some("name")),
        "escaped duplicate: {v}"
    );
    assert_eq!(app.state.ctx.clients.list().await.unwrap().len(), before);
    let (s, v) = post_raw(
        &app,
        "/admin/v1/users",
        &token,
        r#"{"username":"eve","claims":{"team":"a","team":"b"}}"#,
    )
    .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("claims.team")), "{v}");
    let (s, v) = post_raw(
        &app,
        "/admin/v1/clients",
        &token,
        r#"{"name":"svc","audiences":["https://a"]}"#,
    )
    .await;
    assert_eq!(s, 201, "the same body without the duplicate: {v}");
}
on_both_backends!(a5_duplicate_json_keys_are_400_naming_the_field);

// --- A6 -------------------------------------------------------------------------------------

const SECRET_PARAMS: [&str; 8] = [
    "client_secret",
    "refresh_token",
    "password",
    "code",
    "code_verifier",
    "client_assertion",
    "access_token",
    "token",
];

/// A6: a credential or token in the query string of `/oauth/token`, `/oauth/revoke`,
/// `/oauth/introspect`, `/oauth/logout` or `/oauth/revocations` is 400 `invalid_request`
/// (with or without a value, percent-encoded names too), even with valid client
/// authentication; without it the same requests succeed.
async fn a6_secrets_in_the_query_string_are_400_invalid_request(backend: Backend) {
    let app = spawn(backend).await;
    let c = app.client("orders:read", &["https://a"], None).await;
    let at = app.access_token(&c).await;
    let posts: [(&str, Vec<(&str, &str)>); 4] = [
        ("/oauth/token", vec![("grant_type", "client_credentials")]),
        ("/oauth/revoke", vec![("token", "garbage")]),
        ("/oauth/introspect", vec![("token", at.as_str())]),
        ("/oauth/logout", vec![("refresh_token", "garbage")]),
    ];
    for (path, form) in &posts {
        for p in SECRET_PARAMS {
            for query in [format!("{p}=leak-{p}"), p.to_string()] {
                let r = app
                    .http
                    .post(app.url(&format!("{path}?{query}")))
                    .basic_auth(&c.id, Some(&c.secret))
                    .form(form)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 400, "{path}?{query}");
                assert_eq!(r.headers()["cache-control"], "no-store");
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["error"], "invalid_request", "{path}?{query}");
                assert!(!v.to_string().contains("leak-"), "the value is not echoed");
            }
        }
    }
    for p in SECRET_PARAMS {
        let r = app
            .http
            .get(app.url(&format!("/oauth/revocations?{p}=leak")))
            .basic_auth(&c.id, Some(&c.secret))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "/oauth/revocations?{p}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_request");
    }
    let r = app
        .http
        .post(app.url("/oauth/token?client%5Fsecret=x"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "percent-encoded parameter name");
    // The same requests without the query string are fine.
    for (path, form) in &posts[..3] {
        assert_eq!(app.post_as(&c, path, form).await.status(), 200, "{path}");
    }
    let r = app
        .http
        .get(app.url("/oauth/revocations?since="))
        .basic_auth(&c.id, Some(&c.secret))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 500);
    let _ = app.feed(&c, None).await;
}
on_both_backends!(a6_secrets_in_the_query_string_are_400_invalid_request);

// --- T2 -------------------------------------------------------------------------------------

/// T2: an unknown client id is remembered as unknown like a known client is remembered,
/// so the second attempt with either does the same work (cache, hash, constant-time
/// compare) and no database read: with the database closed, both still answer 401
/// `invalid_client` with the same body, while an id never seen before cannot be answered.
async fn t2_unknown_client_ids_are_answered_from_memory_like_known_ones(backend: Backend) {
    let app = spawn_with(
        backend,
        |s| s.client_cache_ttl = std::time::Duration::from_secs(60),
        std::sync::Arc::new(SystemClock),
    )
    .await;
    let known = app.client("orders:read", &["https://a"], None).await;
    let wrong = TestClient {
        id: known.id.clone(),
        secret: "wrong".into(),
    };
    let unknown = TestClient {
        id: "no-such-client-id-at-all".into(),
        secret: "wrong".into(),
    };
    let answer = |c: TestClient| {
        let app = &app;
        async move {
            let r = app
                .token_request(&c, &[("grant_type", "client_credentials")])
                .await;
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let first_known = answer(wrong.clone()).await;
    let first_unknown = answer(unknown.clone()).await;
    assert_eq!(first_known.0, 401);
    assert_eq!(first_known, first_unknown, "same status and body");
    app.state.db.clone().close().await.unwrap();
    assert_eq!(answer(wrong).await, first_known, "known: from memory");
    assert_eq!(
        answer(unknown).await,
        first_known,
        "unknown: from memory too"
    );
    let never_seen = answer(TestClient {
        id: "never-seen-before".into(),
        secret: "wrong".into(),
    })
    .await;
    assert_ne!(
        never_seen.0, 401,
        "the database really is closed: {never_seen:?}"
    );
}
on_both_backends!(t2_unknown_client_ids_are_answered_from_memory_like_known_ones);

/// A6: what was refused never reaches the logs, even at `trace`: the access log names the
/// route, never the query string.
async fn a6_secrets_in_the_query_string_never_reach_the_logs(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(&backend, dir.path()).await;
    let d = dir.path();
    cli(&settings, d, Some("ops"), &["migrate"]);
    let created: Value = serde_json::from_str(&cli(
        &settings,
        d,
        Some("ops"),
        &[
            "clients",
            "create",
            "--name",
            "svc",
            "--audience",
            "https://a",
            "--json",
        ],
    ))
    .unwrap();
    let (id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = d.join("serve.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.arg("serve")
        .current_dir(d)
        .env_remove("RUST_LOG")
        .env("TESSERA_DATABASE_URL", &settings.database_url)
        .env("TESSERA_KEK", settings.kek.as_deref().unwrap())
        .env("TESSERA_BIND", format!("127.0.0.1:{port}"))
        .env("TESSERA_ISSUER", &base)
        .env("TESSERA_LOG", "trace")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    if let Some(s) = &settings.database_schema {
        cmd.env("TESSERA_DATABASE_SCHEMA", s);
    }
    let mut child = cmd.spawn().unwrap();
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if !up {
        let _ = child.kill();
        panic!(
            "serve did not start: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }
    for path in [
        "/oauth/token",
        "/oauth/revoke",
        "/oauth/introspect",
        "/oauth/logout",
    ] {
        for p in SECRET_PARAMS {
            let r = http
                .post(format!("{base}{path}?{p}=QUERYLEAK{p}"))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials"), ("token", "x")])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{path}?{p}");
        }
    }
    let r = http
        .get(format!("{base}/oauth/revocations?token=QUERYLEAKfeed"))
        .basic_auth(id, Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    assert!(child.wait().unwrap().success());
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("/oauth/token"),
        "the requests were logged: {logs:.500}"
    );
    assert!(
        !logs.contains("QUERYLEAK"),
        "a query string reached the logs"
    );
}
on_both_backends!(a6_secrets_in_the_query_string_never_reach_the_logs);
