//! Users, password grant, rotating refresh tokens, revocation, introspection, logout, the
//! revocation feed and UserInfo: rows P1–P5 and R1–R9 of `shared/security.md`.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use tessera::keys::Alg;

use crate::{
    on_both_backends,
    support::{
        Backend, ServerHttp, TestApp, claims, fake_clock_now, header, spawn, spawn_with,
        verify_independently,
    },
};

const PW: &str = "correct horse battery";

async fn setup(backend: Backend) -> (TestApp, crate::support::TestClient, String) {
    let app = spawn(backend).await;
    let c = app.app_client("openid orders:read orders:write").await;
    let sub = app.user("alice", PW, &["reader"]).await;
    (app, c, sub)
}

async fn password_grant_issues_access_refresh_and_id_tokens(backend: Backend) {
    let (app, c, sub) = setup(backend).await;
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
    let (app, c, _) = setup(backend).await;
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
    let (app, c, _) = setup(backend).await;
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
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
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

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let (app, c, _) = setup(backend).await;
    let body = app.login(&c, "alice", PW, "openid orders:read").await;
    let rt1 = body["refresh_token"].as_str().unwrap().to_string();
    let (status, b2) = app.refresh(&c, &rt1).await;
    assert_eq!(status, 200);
    let rt2 = b2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "every use rotates");
    assert!(b2["id_token"].is_string());
    assert_eq!(app.introspect(&c, &rt2).await["active"], true);
    // R1: reuse of the spent token → invalid_grant, and the newest token dies too.
    let (status, err) = app.refresh(&c, &rt1).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = app.refresh(&c, &rt2).await;
    assert_eq!(status, 400, "the whole family is revoked");
    assert_eq!(
        app.introspect(&c, &rt2).await,
        serde_json::json!({"active": false})
    );
}
on_both_backends!(refresh_rotates_and_reuse_revokes_the_family);

async fn refresh_token_misuse(backend: Backend) {
    let (app, c, _) = setup(backend).await;
    let body = app.login(&c, "alice", PW, "openid orders:read").await;
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    // R2: another client presents it → invalid_grant, and it is not spent.
    let other = app.app_client("openid orders:read").await;
    let (status, err) = app.refresh(&other, &rt).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // R3: wider scope → invalid_scope (not spent either); narrower → fine.
    let r = app
        .token_request(
            &c,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("scope", "orders:read orders:write"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    let r = app
        .token_request(
            &c,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("scope", "orders:read"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        claims(b["access_token"].as_str().unwrap())["scope"],
        "orders:read"
    );
    assert!(
        b.get("id_token").is_none(),
        "no openid in the narrowed scope"
    );
    // R9: an access token or an ID token is not a refresh token.
    for t in [
        body["access_token"].as_str().unwrap(),
        body["id_token"].as_str().unwrap(),
        "garbage",
        "",
    ] {
        let (status, err) = app.refresh(&c, t).await;
        assert_eq!(status, 400);
        assert!(
            err["error"] == "invalid_grant" || err["error"] == "invalid_request",
            "{err}"
        );
    }
}
on_both_backends!(refresh_token_misuse);

async fn concurrent_refreshes_have_exactly_one_winner(backend: Backend) {
    let (app, c, _) = setup(backend).await;
    let body = app.login(&c, "alice", PW, "orders:read").await;
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    // R5
    let attempts = (0..5).map(|_| app.refresh(&c, &rt));
    let results = futures_join_all(attempts).await;
    let wins = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, b)| *s == 200 || b["error"] == "invalid_grant")
    );
}
on_both_backends!(concurrent_refreshes_have_exactly_one_winner);

async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(f);
    }
    let mut out = Vec::new();
    // Poll them together: tokio::join! over a Vec via a select loop would be overkill here.
    let pinned: Vec<_> = set.into_iter().map(Box::pin).collect();
    let mut pending: Vec<_> = pinned.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for slot in pending.iter_mut() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        out.push(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out
}

async fn refresh_tokens_expire_idle_and_absolute(backend: Backend) {
    // R4 with a fake clock.
    let clock = fake_clock_now();
    let app = spawn_with(
        backend,
        |s| {
            s.refresh_idle_ttl = Duration::from_secs(3600);
            s.refresh_max_ttl = Duration::from_secs(3 * 3600);
        },
        Arc::new(clock.clone()),
    )
    .await;
    let c = app.app_client("orders:read").await;
    app.user("alice", PW, &[]).await;
    let rt = app.login(&c, "alice", PW, "orders:read").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    clock.advance(3601);
    let (status, _) = app.refresh(&c, &rt).await;
    assert_eq!(status, 400, "idle timeout");
    // Absolute: keep refreshing within the idle window until the family ends.
    let mut rt = app.login(&c, "alice", PW, "orders:read").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..5 {
        clock.advance(3000);
        let (status, body) = app.refresh(&c, &rt).await;
        if status != 200 {
            assert_eq!(body["error"], "invalid_grant");
            return;
        }
        rt = body["refresh_token"].as_str().unwrap().to_string();
    }
    panic!("the family outlived its absolute lifetime");
}
on_both_backends!(refresh_tokens_expire_idle_and_absolute);

async fn introspection_and_revocation(backend: Backend) {
    let (app, c, _) = setup(backend).await;
    let body = app.login(&c, "alice", PW, "orders:read").await;
    let access = body["access_token"].as_str().unwrap().to_string();
    let i = app.introspect(&c, &access).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["username"], "alice");
    assert_eq!(i["token_type"], "Bearer");
    assert_eq!(i["scope"], "orders:read");
    assert_eq!(i["client_id"], c.id.as_str());
    assert!(i["exp"].is_i64() && i["iat"].is_i64());
    // A resource server (another client) may introspect access tokens too.
    let rs = app.client("x", &["aud"], None).await;
    assert_eq!(app.introspect(&rs, &access).await["active"], true);

    // R7: garbage, forged, alg:none, expired-looking → exactly {"active": false}.
    let inactive = serde_json::json!({"active": false});
    let mut parts: Vec<String> = access.split('.').map(str::to_string).collect();
    let mut forged_claims = claims(&access);
    forged_claims["scope"] = "orders:write admin".into();
    parts[1] = B64.encode(serde_json::to_vec(&forged_claims).unwrap());
    let forged = parts.join(".");
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
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap(),
            inactive,
            "{t:.30}"
        );
    }

    // R6: revoking unknown or malformed tokens: 200.
    for t in ["garbage", "a.b.c", &forged] {
        assert_eq!(
            app.post_as(&c, "/oauth/revoke", &[("token", t)])
                .await
                .status(),
            200
        );
    }
    // Another client cannot revoke this client's tokens.
    let rt = body["refresh_token"].as_str().unwrap();
    assert_eq!(
        app.post_as(&rs, "/oauth/revoke", &[("token", &access)])
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_as(&rs, "/oauth/revoke", &[("token", rt)])
            .await
            .status(),
        200
    );
    assert_eq!(app.introspect(&c, &access).await["active"], true);
    assert_eq!(app.introspect(&c, rt).await["active"], true);
    // The owner revokes the access token: inactive, and listed in the feed.
    let before = app.feed(&c, None).await;
    assert_eq!(
        app.post_as(
            &c,
            "/oauth/revoke",
            &[("token", &access), ("token_type_hint", "access_token")]
        )
        .await
        .status(),
        200
    );
    assert_eq!(app.introspect(&c, &access).await, inactive);
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
    // A refresh token revokes its family.
    assert_eq!(
        app.post_as(&c, "/oauth/revoke", &[("token", rt)])
            .await
            .status(),
        200
    );
    assert_eq!(app.refresh(&c, rt).await.0, 400);

    // R8: no client authentication → 401 invalid_client.
    for path in ["/oauth/introspect", "/oauth/revoke"] {
        let r = app
            .http
            .post(app.url(path))
            .form(&[("token", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["error"],
            "invalid_client"
        );
    }
    let r = app
        .http
        .get(app.url("/oauth/revocations"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
on_both_backends!(introspection_and_revocation);

async fn revoked_signing_key_makes_its_tokens_inactive(backend: Backend) {
    // K8
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

async fn role_change_and_logout_everywhere(backend: Backend) {
    let (app, c, sub) = setup(backend).await;
    let body = app.login(&c, "alice", PW, "openid orders:read").await;
    let old_access = body["access_token"].as_str().unwrap().to_string();
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let cursor = app.feed(&c, None).await["cursor"]
        .as_str()
        .unwrap()
        .to_string();

    // A demoted admin does not stay admin: the next refresh carries the new role, and
    // tokens with the old role are inactive.
    app.state
        .ctx
        .accounts
        .change_roles(&sub, &["auditor".to_string()])
        .await
        .unwrap();
    let (status, b) = app.refresh(&c, &rt).await;
    assert_eq!(status, 200);
    assert_eq!(
        claims(b["access_token"].as_str().unwrap())["roles"],
        serde_json::json!(["auditor"])
    );
    assert_eq!(app.introspect(&c, &old_access).await["active"], false);
    let feed = app.feed(&c, Some(&cursor)).await;
    assert!(
        feed["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["sub"] == sub.as_str()),
        "{feed}"
    );

    // Logout everywhere: all sessions dead, access tokens issued so far inactive, in the feed.
    let other_session = app.login(&c, "alice", PW, "orders:read").await;
    let rt2 = b["refresh_token"].as_str().unwrap();
    let cursor = feed["cursor"].as_str().unwrap().to_string();
    let r = app
        .post_as(
            &c,
            "/oauth/logout",
            &[("refresh_token", rt2), ("all_sessions", "true")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.refresh(&c, rt2).await.0, 400);
    assert_eq!(
        app.refresh(&c, other_session["refresh_token"].as_str().unwrap())
            .await
            .0,
        400
    );
    assert_eq!(
        app.introspect(&c, other_session["access_token"].as_str().unwrap())
            .await["active"],
        false
    );
    let feed = app.feed(&c, Some(&cursor)).await;
    let nb = feed["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sub"] == sub.as_str())
        .expect("listed");
    assert!(
        nb["not_before"].as_i64().unwrap()
            > claims(other_session["access_token"].as_str().unwrap())["iat"]
                .as_i64()
                .unwrap()
    );
    // Single-session logout ends only that session.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let s1 = app.login(&c, "alice", PW, "orders:read").await;
    let s2 = app.login(&c, "alice", PW, "orders:read").await;
    let r = app
        .post_as(
            &c,
            "/oauth/logout",
            &[("refresh_token", s1["refresh_token"].as_str().unwrap())],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.refresh(&c, s1["refresh_token"].as_str().unwrap())
            .await
            .0,
        400
    );
    assert_eq!(
        app.refresh(&c, s2["refresh_token"].as_str().unwrap())
            .await
            .0,
        200
    );
}
on_both_backends!(role_change_and_logout_everywhere);

async fn disabled_or_deleted_users_cannot_log_in_or_refresh(backend: Backend) {
    // P3
    let (app, c, sub) = setup(backend).await;
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

async fn userinfo_follows_rfc6750(backend: Backend) {
    let (app, c, sub) = setup(backend).await;
    let with_openid = app.login(&c, "alice", PW, "openid orders:read").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&with_openid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info: serde_json::Value = r.json().await.unwrap();
    assert_eq!(info["sub"], sub.as_str());
    assert_eq!(info["preferred_username"], "alice");
    assert_eq!(info["team"], "payments");
    let r = app.http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let without = app.login(&c, "alice", PW, "orders:read").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&without)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}
on_both_backends!(userinfo_follows_rfc6750);

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
