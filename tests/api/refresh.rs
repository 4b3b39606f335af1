//! Rotating refresh tokens: every use rotates and reuse revokes the family, misuse by
//! another client or with a wider scope, concurrent use, and idle and absolute expiry: rows
//! R1–R5 and R9 of `docs/security.md`.

use std::{sync::Arc, time::Duration};

use crate::{
    on_both_backends,
    support::{Backend, PW, TestApp, TestClient, claims, fake_clock_now, spawn_with, with_alice},
};

/// R1: every use rotates; reuse of a spent token revokes the whole family.
async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let (app, c, _) = with_alice(backend).await;
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

/// alice's login (`openid orders:read`) through client `c`.
async fn logged_in(backend: Backend) -> (TestApp, TestClient, serde_json::Value) {
    let (app, c, _) = with_alice(backend).await;
    let body = app.login(&c, "alice", PW, "openid orders:read").await;
    (app, c, body)
}

/// A refresh with a `scope` parameter.
async fn refresh_with_scope(
    app: &TestApp,
    c: &TestClient,
    rt: &str,
    scope: &str,
) -> reqwest::Response {
    app.token_request(
        c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("scope", scope),
        ],
    )
    .await
}

/// R2: another client presenting the refresh token gets `invalid_grant`, and the token is
/// not spent by it.
async fn a_refresh_token_presented_by_another_client_is_refused(backend: Backend) {
    let (app, c, body) = logged_in(backend).await;
    let rt = body["refresh_token"].as_str().unwrap();
    let other = app.app_client("openid orders:read").await;
    let (status, err) = app.refresh(&other, rt).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(app.refresh(&c, rt).await.0, 200, "not spent");
}
on_both_backends!(a_refresh_token_presented_by_another_client_is_refused);

/// R3: a wider scope is `invalid_scope` and does not spend the token; a narrower scope is
/// granted (without an ID token when `openid` is dropped).
async fn a_refresh_may_narrow_the_scope_but_not_widen_it(backend: Backend) {
    let (app, c, body) = logged_in(backend).await;
    let rt = body["refresh_token"].as_str().unwrap();
    let r = refresh_with_scope(&app, &c, rt, "orders:read orders:write").await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    let r = refresh_with_scope(&app, &c, rt, "orders:read").await;
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
}
on_both_backends!(a_refresh_may_narrow_the_scope_but_not_widen_it);

/// R9: an access token, an ID token, garbage or nothing is not a refresh token.
async fn access_and_id_tokens_are_not_refresh_tokens(backend: Backend) {
    let (app, c, body) = logged_in(backend).await;
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
on_both_backends!(access_and_id_tokens_are_not_refresh_tokens);

/// R5: concurrent refreshes with one token: exactly one succeeds.
async fn concurrent_refreshes_have_exactly_one_winner(backend: Backend) {
    let (app, c, _) = with_alice(backend).await;
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

/// R4: idle timeout and absolute lifetime, with a fake clock.
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

/// The `aud` claim of an access token as a sorted list (a string or an array).
fn audiences(access_token: &str) -> Vec<String> {
    let mut out: Vec<String> = match &claims(access_token)["aud"] {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
        other => panic!("aud is {other}"),
    };
    out.sort();
    out
}

/// R10: a login that chose one audience with `resource` refreshes to that audience only;
/// asking a refresh for an audience the login was not granted is `invalid_target` and
/// spends nothing; a login that chose none keeps getting every registered audience.
async fn r10_refresh_keeps_the_audience_the_login_chose(backend: Backend) {
    let app = crate::support::spawn(backend).await;
    app.user("alice", PW, &["reader"]).await;
    let created = app
        .state
        .ctx
        .clients
        .create(
            tessera::clients::NewClient {
                name: "two audiences".into(),
                grant_types: vec!["password".into(), "refresh_token".into()],
                scopes: vec!["orders:read".into()],
                audiences: vec!["https://a.internal".into(), "https://b.internal".into()],
                ..Default::default()
            },
            tessera::clients::RegistrationLimits {
                max_token_ttl: Duration::from_secs(86400),
            },
        )
        .await
        .unwrap();
    let c = TestClient {
        id: created.client.client_id,
        secret: created.client_secret,
    };
    let login = |resource: Option<&'static str>| {
        let (app, c) = (&app, &c);
        async move {
            let mut form = vec![
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PW),
            ];
            form.extend(resource.map(|r| ("resource", r)));
            let r = app.token_request(c, &form).await;
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let refresh = |rt: String, resource: Option<&'static str>| {
        let (app, c) = (&app, &c);
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
            ];
            form.extend(resource.map(|r| ("resource", r)));
            let r = app.token_request(c, &form).await;
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let a = vec!["https://a.internal".to_string()];
    let both = vec![
        "https://a.internal".to_string(),
        "https://b.internal".to_string(),
    ];

    let body = login(Some("https://a.internal")).await;
    assert_eq!(audiences(body["access_token"].as_str().unwrap()), a);
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    // Another audience of the same client: refused, and the token is not spent.
    let (status, err) = refresh(rt.clone(), Some("https://b.internal")).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_target"))
    );
    // No resource: the granted audience, not every registered one.
    let (status, b) = refresh(rt, None).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(audiences(b["access_token"].as_str().unwrap()), a);
    // Naming the granted audience is fine, and the next refresh still keeps it.
    let rt = b["refresh_token"].as_str().unwrap().to_string();
    let (status, b) = refresh(rt, Some("https://a.internal")).await;
    assert_eq!(status, 200, "{b}");
    let (status, b) = refresh(b["refresh_token"].as_str().unwrap().to_string(), None).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(audiences(b["access_token"].as_str().unwrap()), a);

    // A login without `resource` (and families stored before audiences were kept) follow
    // the client's registered audiences, as before.
    let body = login(None).await;
    assert_eq!(audiences(body["access_token"].as_str().unwrap()), both);
    let (status, b) = refresh(body["refresh_token"].as_str().unwrap().to_string(), None).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(audiences(b["access_token"].as_str().unwrap()), both);
    let (status, b) = refresh(
        b["refresh_token"].as_str().unwrap().to_string(),
        Some("https://b.internal"),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(
        audiences(b["access_token"].as_str().unwrap()),
        vec!["https://b.internal".to_string()]
    );
}
on_both_backends!(r10_refresh_keeps_the_audience_the_login_chose);
