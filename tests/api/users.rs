//! Users and their sessions: the password grant (access, refresh and ID tokens), login
//! failures and throttling, role changes, logout (one session or everywhere) and disabled
//! or deleted users, password changes: rows P1–P6 and T6 of `docs/security.md`. Refresh tokens are in
//! `refresh.rs`, introspection and revocation in `introspection.rs`, UserInfo in
//! `userinfo.rs`.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};

use crate::{
    on_both_backends,
    support::{
        Backend, PW, ServerHttp, TestApp, TestClient, claims, header, http_from, spawn_with,
        verify_independently, with_alice,
    },
};

async fn password_grant_issues_access_refresh_and_id_tokens(backend: Backend) {
    let (app, c, sub) = with_alice(backend).await;
    // Usernames are normalised: "ALICE" logs in as alice.
    let body = app.login(&c, "ALICE", PW, "openid orders:read").await;
    let access = body["access_token"].as_str().unwrap();
    let jwks = app.jwks().await;
    let at = verify_independently(access, &jwks, &app.base, "https://api.internal").unwrap();
    assert_eq!(at["sub"], sub.as_str());
    assert_eq!(at["roles"], serde_json::json!(["reader"]));
    assert_eq!(at["team"], "payments", "custom claims are carried");
    assert_eq!(at["client_id"], c.id.as_str());
    assert_eq!(at["scope"], "openid orders:read");
    let refresh = body["refresh_token"].as_str().unwrap();
    assert_eq!(
        B64.decode(refresh).unwrap().len(),
        32,
        "256-bit opaque refresh token"
    );
    // ID token: aud = client_id, at_hash, auth_time; verified independently.
    let id = body["id_token"].as_str().unwrap();
    assert_eq!(header(id)["typ"], "JWT");
    let idc = verify_independently(id, &jwks, &app.base, &c.id).unwrap();
    assert_eq!(idc["sub"], sub.as_str());
    assert!(idc["auth_time"].as_i64().unwrap() <= idc["iat"].as_i64().unwrap());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access.as_bytes());
    assert_eq!(idc["at_hash"], B64.encode(&digest.as_ref()[..16]));
    // Without openid: no ID token.
    let body = app.login(&c, "alice", PW, "orders:read").await;
    assert!(body.get("id_token").is_none());
    // The refresh token is stored only as a hash.
    let db = &app.state.db;
    use sea_orm::EntityTrait;
    let rows = tessera::entities::refresh_token::Entity::find()
        .all(db)
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| r.token_hash != refresh && r.token_hash.len() == 64)
    );
}
on_both_backends!(password_grant_issues_access_refresh_and_id_tokens);

async fn wrong_password_and_unknown_user_are_indistinguishable(backend: Backend) {
    let (app, c, _) = with_alice(backend).await;
    let attempt = |u: &'static str, p: &'static str| {
        let app = &app;
        let c = &c;
        async move {
            let r = app
                .token_request(
                    c,
                    &[("grant_type", "password"), ("username", u), ("password", p)],
                )
                .await;
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // P1: identical answers (both paths run one argon2 verification).
    let wrong = attempt("alice", "wrong password!").await;
    let unknown = attempt("mallory", "wrong password!").await;
    assert_eq!(wrong.0, 400);
    assert_eq!(wrong, unknown);
    assert!(wrong.1.contains("invalid_grant"));
    // Missing parameters are invalid_request.
    let r = app
        .token_request(&c, &[("grant_type", "password"), ("username", "alice")])
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    // T6: a client not registered for the password grant.
    let svc = app.client("a", &["aud"], None).await;
    let r = app
        .token_request(
            &svc,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
}
on_both_backends!(wrong_password_and_unknown_user_are_indistinguishable);

async fn repeated_failures_are_throttled_without_locking_the_owner_out(backend: Backend) {
    let (app, c, _) = with_alice(backend).await;
    let mut throttled = None;
    for _ in 0..50 {
        let r = app
            .token_request(
                &c,
                &[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", "guess-guess"),
                ],
            )
            .await;
        if r.status() == 429 {
            throttled = Some(r);
            break;
        }
        assert_eq!(r.status(), 400);
    }
    // P2: 429 with Retry-After, no-store, an RFC 6749-shaped body.
    let r = throttled.expect("50 failures from one IP are throttled");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry));
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "slow_down"
    );
    // Even the right password is refused from the attacker's address for now...
    let r = app
        .token_request(
            &c,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status(), 429);
    // ...but the owner, from another address, logs in.
    let elsewhere = http_from("127.0.0.2");
    let r = elsewhere
        .post(app.url("/oauth/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
on_both_backends!(repeated_failures_are_throttled_without_locking_the_owner_out);

/// Whether the revocation feed after `cursor` lists `sub` among the subjects; the entry.
async fn feed_subject(
    app: &TestApp,
    c: &TestClient,
    cursor: &str,
    sub: &str,
) -> (serde_json::Value, Option<serde_json::Value>) {
    let feed = app.feed(c, Some(cursor)).await;
    let entry = feed["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sub"] == sub)
        .cloned();
    (feed, entry)
}

async fn feed_cursor(app: &TestApp, c: &TestClient) -> String {
    app.feed(c, None).await["cursor"]
        .as_str()
        .unwrap()
        .to_string()
}

fn refresh_of(body: &serde_json::Value) -> &str {
    body["refresh_token"].as_str().unwrap()
}

/// A demoted admin does not stay admin: the next refresh carries the new role, tokens with
/// the old role are inactive, and the subject is listed in the revocation feed.
async fn a_role_change_applies_to_the_next_refresh_and_ends_old_access_tokens(backend: Backend) {
    let (app, c, sub) = with_alice(backend).await;
    let body = app.login(&c, "alice", PW, "openid orders:read").await;
    let old_access = body["access_token"].as_str().unwrap().to_string();
    let cursor = feed_cursor(&app, &c).await;
    app.state
        .ctx
        .accounts
        .change_roles(&sub, &["auditor".to_string()])
        .await
        .unwrap();
    let (status, b) = app.refresh(&c, refresh_of(&body)).await;
    assert_eq!(status, 200);
    assert_eq!(
        claims(b["access_token"].as_str().unwrap())["roles"],
        serde_json::json!(["auditor"])
    );
    assert_eq!(app.introspect(&c, &old_access).await["active"], false);
    let (feed, entry) = feed_subject(&app, &c, &cursor, &sub).await;
    assert!(entry.is_some(), "{feed}");
}
on_both_backends!(a_role_change_applies_to_the_next_refresh_and_ends_old_access_tokens);

/// Logout everywhere: all sessions dead, access tokens issued so far inactive, and the
/// subject in the feed with a `not_before` after their issue.
async fn logout_everywhere_ends_every_session_and_lists_the_subject(backend: Backend) {
    let (app, c, sub) = with_alice(backend).await;
    let this_session = app.login(&c, "alice", PW, "openid orders:read").await;
    let other_session = app.login(&c, "alice", PW, "orders:read").await;
    let cursor = feed_cursor(&app, &c).await;
    let rt = refresh_of(&this_session);
    let r = app
        .post_as(
            &c,
            "/oauth/logout",
            &[("refresh_token", rt), ("all_sessions", "true")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.refresh(&c, rt).await.0, 400);
    assert_eq!(app.refresh(&c, refresh_of(&other_session)).await.0, 400);
    assert_eq!(
        app.introspect(&c, other_session["access_token"].as_str().unwrap())
            .await["active"],
        false
    );
    let (_, entry) = feed_subject(&app, &c, &cursor, &sub).await;
    let nb = entry.expect("listed");
    assert!(
        nb["not_before"].as_i64().unwrap()
            > claims(other_session["access_token"].as_str().unwrap())["iat"]
                .as_i64()
                .unwrap()
    );
}
on_both_backends!(logout_everywhere_ends_every_session_and_lists_the_subject);

async fn single_session_logout_ends_only_that_session(backend: Backend) {
    let (app, c, _) = with_alice(backend).await;
    let s1 = app.login(&c, "alice", PW, "orders:read").await;
    let s2 = app.login(&c, "alice", PW, "orders:read").await;
    let r = app
        .post_as(&c, "/oauth/logout", &[("refresh_token", refresh_of(&s1))])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.refresh(&c, refresh_of(&s1)).await.0, 400);
    assert_eq!(app.refresh(&c, refresh_of(&s2)).await.0, 200);
}
on_both_backends!(single_session_logout_ends_only_that_session);

async fn disabled_or_deleted_users_cannot_log_in_or_refresh(backend: Backend) {
    // P3
    let (app, c, sub) = with_alice(backend).await;
    let rt = app.login(&c, "alice", PW, "orders:read").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    app.state
        .ctx
        .accounts
        .set_disabled(&sub, true)
        .await
        .unwrap();
    let r = app
        .token_request(
            &c,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(app.refresh(&c, &rt).await.0, 400);
    app.state
        .ctx
        .accounts
        .set_disabled(&sub, false)
        .await
        .unwrap();
    let rt = app.login(&c, "alice", PW, "orders:read").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(app.state.ctx.accounts.delete(&sub).await.unwrap());
    assert_eq!(app.refresh(&c, &rt).await.0, 400);
    let r = app
        .token_request(
            &c,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
}
on_both_backends!(disabled_or_deleted_users_cannot_log_in_or_refresh);

/// P6: a new password ends everything opened with the old one: refresh families,
/// earlier access tokens (introspection, the revocation feed); the new password works.
async fn p6_a_password_change_ends_every_session_of_the_user(backend: Backend) {
    let (app, c, sub) = with_alice(backend).await;
    let before = app.login(&c, "alice", PW, "openid orders:read").await;
    let cursor = feed_cursor(&app, &c).await;
    let new_password = "a brand new passphrase";
    app.state
        .ctx
        .accounts
        .set_password(&sub, new_password.to_string())
        .await
        .unwrap();
    assert_eq!(app.refresh(&c, refresh_of(&before)).await.0, 400);
    let old_access = before["access_token"].as_str().unwrap();
    assert_eq!(app.introspect(&c, old_access).await["active"], false);
    let (feed, entry) = feed_subject(&app, &c, &cursor, &sub).await;
    assert!(entry.is_some(), "the subject is in the feed: {feed}");
    let old = app
        .token_request(
            &c,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(old.status(), 400, "the old password no longer signs in");
    let after = app.login(&c, "alice", new_password, "orders:read").await;
    assert_eq!(app.refresh(&c, refresh_of(&after)).await.0, 200);
}
on_both_backends!(p6_a_password_change_ends_every_session_of_the_user);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_at_full_load_do_not_stall_jwks_or_client_credentials() {
    // P4: 100 concurrent password grants with the OWASP argon2 parameters run on blocking
    // threads; JWKS and client_credentials keep answering meanwhile.
    let app = spawn_with(
        Backend::Sqlite,
        |s| {
            s.argon2_memory_kib = 19456;
            s.argon2_iterations = 2;
            s.login_max_failures_per_ip = 1000;
            s.login_max_failures_per_user_ip = 1000;
            s.login_max_failures_per_user = 1000;
        },
        Arc::new(tessera::clock::SystemClock),
    )
    .await;
    let c = app.app_client("orders:read").await;
    app.user("alice", PW, &[]).await;
    let svc = app.client("a", &["aud"], None).await;
    let logins = tokio::spawn({
        let (http, url, c) = (app.http.clone(), app.url("/oauth/token"), c.clone());
        async move {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..100 {
                let (http, url, c) = (http.clone(), url.clone(), c.clone());
                set.spawn(async move {
                    let pw = if i % 2 == 0 { PW } else { "wrong password" };
                    http.post(url)
                        .basic_auth(&c.id, Some(&c.secret))
                        .form(&[
                            ("grant_type", "password"),
                            ("username", "alice"),
                            ("password", pw),
                        ])
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                });
            }
            set.join_all().await
        }
    });
    let mut served_during = 0;
    while !logins.is_finished() {
        let r = app
            .http
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        app.access_token(&svc).await;
        served_during += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let statuses = logins.await.unwrap();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 50);
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 50);
    assert!(
        served_during > 1,
        "JWKS and client_credentials were served while logins ran"
    );
}

/// The console's searches (`admin::ops`, `UserStore::search_prefix`): a username prefix,
/// a client-name prefix in any case (punctuation included, which a locale order on
/// PostgreSQL would skip) or an exact client id; paged without gaps or repeats.
async fn console_searches_find_by_prefix(backend: Backend) {
    let app = spawn_with(backend, |_| {}, Arc::new(tessera::clock::SystemClock)).await;
    for name in ["ab-c", "abc", "abd", "a-b", "b", "ab"] {
        app.user(name, PW, &[]).await;
    }
    let users = app.state.ctx.accounts.users();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = users
            .search_prefix("AB", cursor.as_deref(), 2)
            .await
            .unwrap();
        seen.extend(page.items.into_iter().map(|u| u.username));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["ab", "ab-c", "abc", "abd"],
        "bytewise order, every match once"
    );
    let limits = tessera::clients::RegistrationLimits {
        max_token_ttl: Duration::from_secs(3600),
    };
    let mut ids = Vec::new();
    for name in ["Billing API", "billing-worker", "Bill", "Orders"] {
        let c = app
            .state
            .ctx
            .clients
            .create(
                tessera::clients::NewClient {
                    name: name.into(),
                    grant_types: vec!["client_credentials".into()],
                    audiences: vec!["https://x.internal".into()],
                    ..Default::default()
                },
                limits,
            )
            .await
            .unwrap();
        ids.push(c.client.client_id);
    }
    let ops = tessera::admin::AdminOps::new(&app.state.ctx, &app.state.audit);
    let found = ops.search_clients("BILLING", None, 10).await.unwrap();
    let names: Vec<_> = found
        .by_name
        .items
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["Billing API", "billing-worker"]);
    assert!(found.by_id.is_none());
    let found = ops.search_clients(&ids[3], None, 10).await.unwrap();
    assert_eq!(found.by_id.unwrap().name, "Orders");
    // An edited name is found under its new name.
    app.state
        .ctx
        .clients
        .update(
            &ids[3],
            tessera::clients::ClientUpdate {
                name: Some("Billing batch".into()),
                ..Default::default()
            },
            limits,
        )
        .await
        .unwrap();
    let found = ops.search_clients("billing b", None, 10).await.unwrap();
    assert_eq!(found.by_name.items.len(), 1);
    assert_eq!(found.by_name.items[0].client_id, ids[3]);
}
on_both_backends!(console_searches_find_by_prefix);
