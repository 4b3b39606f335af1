//! Token exchange (RFC 8693): a chain gateway → orders → billing where each hop narrows
//! the token and adds itself to the nested `act` claim, the per-client policy of exchange
//! audiences, the subject token checked like any bearer token (revocation, expiry,
//! forgery, logout everywhere), `may_act` and the delegation depth: rows X1–X3 of
//! `docs/security.md`.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};
use tessera::{
    accounts::NewUser,
    clients::{NewClient, RegistrationLimits},
    clock::SharedClock,
};

use crate::{
    on_both_backends,
    support::{
        Backend, PW, ServerHttp, TestApp, TestClient, claims, fake_clock_now, spawn, spawn_with,
        verify_independently,
    },
};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const GATEWAY_API: &str = "https://gateway.internal";
const ORDERS: &str = "https://orders.internal";
const BILLING: &str = "https://billing.internal";

/// The three services and alice.
struct Mesh {
    app: TestApp,
    /// Signs alice in (password grant) and exchanges for orders.
    gateway: TestClient,
    /// Receives gateway's token and exchanges it for billing.
    orders: TestClient,
    /// A resource server with no exchange rights (introspects).
    billing: TestClient,
    alice: String,
}

async fn register(app: &TestApp, new: NewClient) -> TestClient {
    let limits = RegistrationLimits {
        max_token_ttl: Duration::from_secs(86400),
    };
    let c = app.state.ctx.clients.create(new, limits).await.unwrap();
    TestClient {
        id: c.client.client_id,
        secret: c.client_secret,
    }
}

async fn mesh_on(app: TestApp) -> Mesh {
    let gateway = register(
        &app,
        NewClient {
            name: "gateway".into(),
            grant_types: vec![
                "password".into(),
                "refresh_token".into(),
                "client_credentials".into(),
                "token_exchange".into(),
            ],
            scopes: vec!["openid orders:read orders:write billing:read".into()],
            audiences: vec![GATEWAY_API.into()],
            exchange_audiences: vec![ORDERS.into()],
            ..Default::default()
        },
    )
    .await;
    let orders = register(
        &app,
        NewClient {
            name: "orders".into(),
            grant_types: vec!["client_credentials".into(), "token_exchange".into()],
            scopes: vec!["orders:read billing:read".into()],
            audiences: vec![ORDERS.into()],
            exchange_audiences: vec![BILLING.into()],
            ..Default::default()
        },
    )
    .await;
    let billing = app.client("billing:read", &[BILLING], None).await;
    let alice = app.user("alice", PW, &["reader"]).await;
    Mesh {
        app,
        gateway,
        orders,
        billing,
        alice,
    }
}

async fn mesh(backend: Backend) -> Mesh {
    mesh_on(spawn(backend).await).await
}

fn at(body: &Value) -> &str {
    body["access_token"].as_str().unwrap()
}

/// A token exchange by `c` of `subject` with more form fields: (status, body).
async fn exchange(
    app: &TestApp,
    c: &TestClient,
    subject: &str,
    more: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", GRANT),
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
    ];
    form.extend_from_slice(more);
    let r = app.token_request(c, &form).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or("")
}

/// The chain the issue asks for: alice signs in at the gateway; the gateway exchanges her
/// token for one for orders; orders exchanges that for one for billing. Each hop is
/// narrower (audience, scope, lifetime), keeps `sub`, nests `act`, verifies with an
/// independent JWT library, introspects with `act`, and reads through tessera-verify's
/// actor chain.
async fn a_token_exchanged_twice_carries_the_nested_act_chain(backend: Backend) {
    let m = mesh(backend).await;
    let app = &m.app;
    let login = app
        .login(&m.gateway, "alice", PW, "openid orders:read billing:read")
        .await;
    let t0 = at(&login);
    let (s, hop1) = exchange(
        app,
        &m.gateway,
        t0,
        &[("audience", ORDERS), ("scope", "orders:read billing:read")],
    )
    .await;
    assert_eq!(s, 200, "{hop1}");
    assert_eq!(hop1["issued_token_type"], ACCESS);
    assert_eq!(hop1["token_type"], "Bearer");
    assert!(hop1.get("refresh_token").is_none() && hop1.get("id_token").is_none());
    let t1 = at(&hop1);
    let c1 = verify_independently(t1, &app.jwks().await, &app.base, ORDERS).unwrap();
    assert_eq!(c1["sub"], m.alice.as_str());
    assert_eq!(c1["client_id"], m.gateway.id.as_str());
    assert_eq!(c1["aud"], ORDERS);
    assert_eq!(c1["scope"], "orders:read billing:read");
    assert_eq!(
        c1["act"],
        json!({"sub": m.gateway.id, "client_id": m.gateway.id})
    );
    assert_eq!(c1["roles"], json!(["reader"]));
    assert!(c1["exp"].as_i64() <= claims(t0)["exp"].as_i64());
    // Default cap: token_exchange_max_ttl (5m) is below the 15m of the login's token.
    assert!(c1["exp"].as_i64().unwrap() - c1["iat"].as_i64().unwrap() <= 300);

    // Orders received t1; it may go on to billing, with less scope.
    let (s, hop2) = exchange(
        app,
        &m.orders,
        t1,
        &[("resource", BILLING), ("scope", "billing:read")],
    )
    .await;
    assert_eq!(s, 200, "{hop2}");
    let t2 = at(&hop2);
    let c2 = verify_independently(t2, &app.jwks().await, &app.base, BILLING).unwrap();
    assert_eq!(c2["sub"], m.alice.as_str());
    assert_eq!(c2["client_id"], m.orders.id.as_str());
    assert_eq!(c2["scope"], "billing:read");
    assert_eq!(
        c2["act"],
        json!({"sub": m.orders.id, "client_id": m.orders.id,
               "act": {"sub": m.gateway.id, "client_id": m.gateway.id}})
    );
    assert!(c2["exp"].as_i64() <= c1["exp"].as_i64());

    // Billing introspects the token it received: active, with the chain.
    let i = app.introspect(&m.billing, t2).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["act"], c2["act"]);
    assert_eq!(i["username"], "alice");

    // Billing verifying locally reads the chain through tessera-verify.
    let verifier = tessera_verify::Verifier::builder()
        .issuer(app.base.as_str())
        .audience(BILLING)
        .allow_http(true)
        .build()
        .await
        .unwrap();
    let v = verifier.verify(t2).await.unwrap();
    assert_eq!(v.sub(), m.alice);
    let chain: Vec<(&str, Option<&str>)> = v
        .actors()
        .iter()
        .map(|a| (a.sub.as_str(), a.client_id.as_deref()))
        .collect();
    assert_eq!(
        chain,
        [
            (m.orders.id.as_str(), Some(m.orders.id.as_str())),
            (m.gateway.id.as_str(), Some(m.gateway.id.as_str()))
        ]
    );
    assert_eq!(v.actor().unwrap().sub, m.orders.id);
}
on_both_backends!(a_token_exchanged_twice_carries_the_nested_act_chain);

/// X1: an audience outside the client's exchange audiences (also one of its own token
/// audiences, and one another client may exchange for) is `invalid_target`; a scope wider
/// than the subject token's, or than the client's, is `invalid_scope`; a client not
/// registered for the grant is `unauthorized_client`.
async fn an_exchange_wider_than_allowed_is_refused(backend: Backend) {
    let m = mesh(backend).await;
    let app = &m.app;
    let login = app.login(&m.gateway, "alice", PW, "orders:read").await;
    let t0 = at(&login);
    for target in [
        ("audience", BILLING),
        ("resource", BILLING),
        ("audience", GATEWAY_API),
        ("audience", "https://elsewhere"),
    ] {
        let (s, b) = exchange(app, &m.gateway, t0, &[target]).await;
        assert_eq!((s, error_of(&b)), (400, "invalid_target"), "{target:?}");
    }
    // Wider than the subject token (orders:write is the gateway's, not in t0).
    let (s, b) = exchange(
        app,
        &m.gateway,
        t0,
        &[("audience", ORDERS), ("scope", "orders:read orders:write")],
    )
    .await;
    assert_eq!((s, error_of(&b)), (400, "invalid_scope"), "{b}");
    // Orders may not have orders:write even if the subject token had it.
    let wide = app.login(&m.gateway, "alice", PW, "orders:write").await;
    let (_, hop1) = exchange(app, &m.gateway, at(&wide), &[("audience", ORDERS)]).await;
    assert_eq!(claims(at(&hop1))["scope"], "orders:write");
    let (s, b) = exchange(
        app,
        &m.orders,
        at(&hop1),
        &[("audience", BILLING), ("scope", "orders:write")],
    )
    .await;
    assert_eq!((s, error_of(&b)), (400, "invalid_scope"), "{b}");
    // Without a scope parameter: subject ∩ client (here nothing in common: no scope).
    let (s, b) = exchange(app, &m.orders, at(&hop1), &[("audience", BILLING)]).await;
    assert_eq!(s, 200, "{b}");
    assert!(claims(at(&b)).get("scope").is_none());
    // Billing is not registered for token exchange at all.
    let (s, b) = exchange(app, &m.billing, t0, &[("audience", BILLING)]).await;
    assert_eq!((s, error_of(&b)), (400, "unauthorized_client"), "{b}");
}
on_both_backends!(an_exchange_wider_than_allowed_is_refused);

/// `t` with its payload changed (scope widened), the signature kept.
fn forged(t: &str) -> String {
    let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
    let mut c = claims(t);
    c["scope"] = "orders:read orders:write billing:read".into();
    parts[1] = B64.encode(serde_json::to_vec(&c).unwrap());
    parts.join(".")
}

/// X2: revoked, forged and garbage subject tokens are `invalid_grant`; so is an ID token
/// presented as an access token, a revoked actor token; an ID token type, a federated
/// `jwt` type (not supported yet) and a half-given actor are `invalid_request`.
async fn revoked_forged_or_wrong_kind_subject_tokens_are_refused(backend: Backend) {
    let m = mesh(backend).await;
    let app = &m.app;
    let login = app
        .login(&m.gateway, "alice", PW, "openid orders:read")
        .await;
    let t0 = at(&login);
    let id_token = login["id_token"].as_str().unwrap();
    let to_orders = [("audience", ORDERS)];
    for bad in [forged(t0).as_str(), "garbage", id_token] {
        let (s, b) = exchange(app, &m.gateway, bad, &to_orders).await;
        assert_eq!((s, error_of(&b)), (400, "invalid_grant"), "{b}");
        assert_eq!(
            b["error_description"],
            "the subject_token is invalid, expired or revoked"
        );
    }
    for (ty, why) in [
        (
            "urn:ietf:params:oauth:token-type:id_token",
            "an ID token is not an access token",
        ),
        (
            "urn:ietf:params:oauth:token-type:jwt",
            "federated JWTs are not supported yet",
        ),
        ("urn:example:unknown", "unknown type"),
    ] {
        let r = app
            .token_request(
                &m.gateway,
                &[
                    ("grant_type", GRANT),
                    ("subject_token", id_token),
                    ("subject_token_type", ty),
                    ("audience", ORDERS),
                ],
            )
            .await;
        assert_eq!(r.status(), 400, "{why}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(error_of(&b), "invalid_request", "{why}: {b}");
    }
    let (s, b) = exchange(app, &m.gateway, t0, &[("actor_token", t0)]).await;
    assert_eq!((s, error_of(&b)), (400, "invalid_request"), "{b}");
    let (s, b) = exchange(app, &m.gateway, t0, &[("subject_token_type", ACCESS)]).await;
    assert_eq!((s, error_of(&b)), (400, "invalid_request"), "repeated: {b}");

    // A revoked actor token, then the revoked subject token.
    let actor = app.access_token(&m.gateway).await;
    assert_eq!(
        app.post_as(&m.gateway, "/oauth/revoke", &[("token", &actor)])
            .await
            .status(),
        200
    );
    let (s, b) = exchange(
        app,
        &m.gateway,
        t0,
        &[
            ("audience", ORDERS),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS),
        ],
    )
    .await;
    assert_eq!((s, error_of(&b)), (400, "invalid_grant"), "{b}");
    assert_eq!(
        b["error_description"],
        "the actor_token is invalid, expired or revoked"
    );
    assert_eq!(exchange(app, &m.gateway, t0, &to_orders).await.0, 200);
    assert_eq!(
        app.post_as(&m.gateway, "/oauth/revoke", &[("token", t0)])
            .await
            .status(),
        200
    );
    let (s, b) = exchange(app, &m.gateway, t0, &to_orders).await;
    assert_eq!((s, error_of(&b)), (400, "invalid_grant"), "{b}");
}
on_both_backends!(revoked_forged_or_wrong_kind_subject_tokens_are_refused);

/// X2 and the lifetime rule: an exchanged token never outlives its subject token, and an
/// expired subject token is refused.
async fn an_exchanged_token_never_outlives_its_subject(backend: Backend) {
    let clock = Arc::new(fake_clock_now());
    let shared: SharedClock = clock.clone();
    let app = spawn_with(
        backend,
        |s| s.token_exchange_max_ttl = Duration::from_secs(3600),
        shared,
    )
    .await;
    let m = mesh_on(app).await;
    let app = &m.app;
    let t0 = at(&app.login(&m.gateway, "alice", PW, "orders:read").await).to_string();
    let subject_exp = claims(&t0)["exp"].as_i64().unwrap();
    clock.advance(600);
    let (s, b) = exchange(app, &m.gateway, &t0, &[("audience", ORDERS)]).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(claims(at(&b))["exp"].as_i64().unwrap(), subject_exp);
    assert!(b["expires_in"].as_i64().unwrap() <= 300);
    // Past expiry and the clock leeway: refused.
    clock.advance(300 + 61);
    let (s, b) = exchange(app, &m.gateway, &t0, &[("audience", ORDERS)]).await;
    assert_eq!((s, error_of(&b)), (400, "invalid_grant"), "{b}");
}
on_both_backends!(an_exchanged_token_never_outlives_its_subject);

/// X3: a chain one actor deeper than `token_exchange_max_depth` is refused.
async fn a_chain_deeper_than_the_limit_is_refused(backend: Backend) {
    let app = spawn_with(
        backend,
        |s| s.token_exchange_max_depth = 1,
        Arc::new(tessera::clock::SystemClock),
    )
    .await;
    let m = mesh_on(app).await;
    let app = &m.app;
    let t0 = at(&app.login(&m.gateway, "alice", PW, "billing:read").await).to_string();
    let (s, hop1) = exchange(app, &m.gateway, &t0, &[("audience", ORDERS)]).await;
    assert_eq!(s, 200, "{hop1}");
    let (s, b) = exchange(app, &m.orders, at(&hop1), &[("audience", BILLING)]).await;
    assert_eq!((s, error_of(&b)), (400, "invalid_grant"), "{b}");
    assert_eq!(
        b["error_description"],
        "the delegation chain would exceed the maximum depth"
    );
}
on_both_backends!(a_chain_deeper_than_the_limit_is_refused);

/// X3: a user whose `may_act` names the gateway: the gateway may act for her, orders may
/// not exchange her token directly; the first hop consumes `may_act` (the next hop's actor
/// is the one the exchanged token was made for). With an actor token, the actor token's
/// identity is what `may_act` is checked against and what `act` names.
async fn may_act_restricts_who_may_act(backend: Backend) {
    let m = mesh(backend).await;
    let app = &m.app;
    let users = app.state.ctx.accounts.users();
    users
        .create(NewUser {
            username: "bob".into(),
            password: PW.into(),
            roles: vec![],
            claims: json!({"may_act": {"client_id": m.gateway.id}})
                .as_object()
                .cloned()
                .unwrap(),
        })
        .await
        .unwrap();
    let t0 = at(&app.login(&m.gateway, "bob", PW, "billing:read").await).to_string();
    assert_eq!(claims(&t0)["may_act"]["client_id"], m.gateway.id.as_str());
    // Orders presents bob's gateway token itself: not the allowed actor.
    let (s, b) = exchange(app, &m.orders, &t0, &[("audience", BILLING)]).await;
    assert_eq!((s, error_of(&b)), (400, "invalid_grant"), "{b}");
    assert_eq!(
        b["error_description"],
        "the subject token does not allow this actor (may_act)"
    );
    // Orders acting with the gateway's own token as actor token: allowed, and `act`
    // names the gateway.
    let gw_token = app.access_token(&m.gateway).await;
    let (s, b) = exchange(
        app,
        &m.orders,
        &t0,
        &[
            ("audience", BILLING),
            ("actor_token", &gw_token),
            ("actor_token_type", ACCESS),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        claims(at(&b))["act"],
        json!({"sub": m.gateway.id, "client_id": m.gateway.id})
    );
    // The gateway itself: allowed; the exchanged token no longer carries may_act.
    let (s, hop1) = exchange(app, &m.gateway, &t0, &[("audience", ORDERS)]).await;
    assert_eq!(s, 200, "{hop1}");
    assert!(claims(at(&hop1)).get("may_act").is_none());
    let (s, b) = exchange(app, &m.orders, at(&hop1), &[("audience", BILLING)]).await;
    assert_eq!(s, 200, "{b}");
}
on_both_backends!(may_act_restricts_who_may_act);

/// Logging alice out everywhere makes the tokens exchanged from hers inactive at once
/// (same not-before), at introspection and in the revocation feed a verifier follows.
async fn logout_everywhere_ends_exchanged_tokens(backend: Backend) {
    let m = mesh(backend).await;
    let app = &m.app;
    let login = app.login(&m.gateway, "alice", PW, "orders:read").await;
    let (_, hop1) = exchange(app, &m.gateway, at(&login), &[("audience", ORDERS)]).await;
    let t1 = at(&hop1).to_string();
    let (s, hop2) = exchange(app, &m.orders, &t1, &[("audience", BILLING)]).await;
    assert_eq!(s, 200, "{hop2}");
    let t2 = at(&hop2).to_string();
    assert_eq!(app.introspect(&m.billing, &t2).await["active"], true);
    let r = app
        .post_as(
            &m.gateway,
            "/oauth/logout",
            &[
                ("refresh_token", login["refresh_token"].as_str().unwrap()),
                ("all_sessions", "true"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    for t in [&t1, &t2] {
        assert_eq!(app.introspect(&m.billing, t).await["active"], false);
    }
    // The feed's not-before for alice is after the exchanged tokens' issue.
    let feed = app.feed(&m.billing, None).await;
    let nb = feed["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sub"] == m.alice.as_str())
        .expect("alice is listed")["not_before"]
        .as_i64()
        .unwrap();
    assert!(nb > claims(&t2)["iat"].as_i64().unwrap());
    // And nothing can be exchanged from her old tokens any more.
    let (s, b) = exchange(app, &m.orders, &t1, &[("audience", BILLING)]).await;
    assert_eq!((s, error_of(&b)), (400, "invalid_grant"), "{b}");
}
on_both_backends!(logout_everywhere_ends_exchanged_tokens);

/// A service's own token (client credentials) exchanged: `sub` stays the gateway, the new
/// token introspects active; `requested_token_type=jwt` is answered with that type; a
/// DPoP proof is not needed (the exchanging client is not DPoP-bound).
async fn a_service_token_may_be_exchanged_and_jwt_requested(backend: Backend) {
    let m = mesh(backend).await;
    let app = &m.app;
    let own = app.access_token(&m.gateway).await;
    let (s, b) = exchange(
        app,
        &m.gateway,
        &own,
        &[
            ("audience", ORDERS),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:jwt",
            ),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["issued_token_type"],
        "urn:ietf:params:oauth:token-type:jwt"
    );
    let c = claims(at(&b));
    assert_eq!(c["sub"], m.gateway.id.as_str());
    assert!(c.get("roles").is_none());
    let i = app.introspect(&m.billing, at(&b)).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["act"]["sub"], m.gateway.id.as_str());
    let (s, b) = exchange(
        app,
        &m.gateway,
        &own,
        &[
            ("audience", ORDERS),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            ),
        ],
    )
    .await;
    assert_eq!((s, error_of(&b)), (400, "invalid_request"), "{b}");
}
on_both_backends!(a_service_token_may_be_exchanged_and_jwt_requested);

/// The policy through the admin API: `exchange_audiences` at registration (required with
/// the grant), shown on the client, replaced by a PATCH with immediate effect.
async fn exchange_audiences_are_managed_through_the_admin_api(backend: Backend) {
    use tessera::admin::{ADMIN_AUDIENCE, SCOPE_ADMIN};
    let m = mesh(backend).await;
    let app = &m.app;
    let admin = app.client(SCOPE_ADMIN, &[ADMIN_AUDIENCE], None).await;
    let token = app.access_token(&admin).await;
    let send = |method: reqwest::Method, path: String, body: Value| {
        app.http
            .request(method, app.url(&path))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let body = json!({"name": "reports", "grant_types": ["client_credentials", "token_exchange"],
        "scopes": ["orders:read"], "audiences": ["https://reports.internal"]});
    let r = send(
        reqwest::Method::POST,
        "/admin/v1/clients".into(),
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400, "the grant needs exchange audiences");
    let mut with = body;
    with["exchange_audiences"] = json!([ORDERS]);
    let r = send(reqwest::Method::POST, "/admin/v1/clients".into(), with)
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["client"]["exchange_audiences"], json!([ORDERS]));
    assert_eq!(
        created["client"]["grant_types"],
        json!(["client_credentials", GRANT])
    );
    let reports = TestClient {
        id: created["client"]["client_id"].as_str().unwrap().into(),
        secret: created["client_secret"].as_str().unwrap().into(),
    };
    let t0 = at(&app.login(&m.gateway, "alice", PW, "orders:read").await).to_string();
    assert_eq!(
        exchange(app, &reports, &t0, &[("audience", ORDERS)])
            .await
            .0,
        200
    );
    let r = send(
        reqwest::Method::PATCH,
        format!("/admin/v1/clients/{}", reports.id),
        json!({"exchange_audiences": [BILLING]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let (s, b) = exchange(app, &reports, &t0, &[("audience", ORDERS)]).await;
    assert_eq!((s, error_of(&b)), (400, "invalid_target"), "{b}");
}
on_both_backends!(exchange_audiences_are_managed_through_the_admin_api);
