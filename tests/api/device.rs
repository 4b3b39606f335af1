//! Device authorization grant (RFC 8628): the device's requests and polling states, the
//! verification page driven like a browser (cookies by hand), rows X4–X6 of
//! `docs/security.md`.

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use tessera::{
    clients::{NewClient, RegistrationLimits},
    clock::{FakeClock, SharedClock},
};

use crate::{
    on_both_backends,
    support::{Backend, PW, ServerHttp, TestApp, TestClient, claims, fake_clock_now, spawn_with},
};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const API: &str = "https://api.internal";

struct Setup {
    app: TestApp,
    clock: Arc<FakeClock>,
    /// Confidential, device_code + refresh_token, `openid orders:read`.
    tv: TestClient,
    alice: String,
}

async fn setup_with(backend: Backend, adjust: impl FnOnce(&mut tessera::Settings)) -> Setup {
    let clock = Arc::new(fake_clock_now());
    let shared: SharedClock = clock.clone();
    let app = spawn_with(backend, adjust, shared).await;
    let tv = register(&app, false, "Living-room TV").await;
    let alice = app.user("alice", PW, &["reader"]).await;
    Setup {
        app,
        clock,
        tv,
        alice,
    }
}

async fn setup(backend: Backend) -> Setup {
    setup_with(backend, |_| {}).await
}

async fn register(app: &TestApp, public: bool, name: &str) -> TestClient {
    let mut grants = vec!["device_code".to_string()];
    if !public {
        grants.push("refresh_token".into());
    }
    let c = app
        .state
        .ctx
        .clients
        .create(
            NewClient {
                name: name.into(),
                grant_types: grants,
                scopes: vec!["openid orders:read".into()],
                audiences: vec![API.into()],
                public,
                ..Default::default()
            },
            RegistrationLimits {
                max_token_ttl: Duration::from_secs(86400),
            },
        )
        .await
        .unwrap();
    TestClient {
        id: c.client.client_id,
        secret: c.client_secret,
    }
}

async fn start(app: &TestApp, c: &TestClient) -> Value {
    let r = app
        .post_as(
            c,
            "/oauth/device_authorization",
            &[("scope", "openid orders:read")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

async fn poll(app: &TestApp, c: &TestClient, device_code: &str) -> (u16, Value) {
    let r = app
        .token_request(c, &[("grant_type", GRANT), ("device_code", device_code)])
        .await;
    (r.status().as_u16(), r.json().await.unwrap())
}

fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or("")
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `name=value` of the Set-Cookie for `name`.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

/// A browser on the verification page: its cookies and the page's CSRF token.
struct Browser {
    cookies: Vec<String>,
    csrf: String,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies.join("; ")
    }

    /// Opens `url` (the verification page); returns the HTML.
    async fn open(url: &str, session: Option<&str>) -> (Browser, String) {
        let mut req = browser().get(url);
        if let Some(s) = session {
            req = req.header("cookie", s);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        let csrf_cookie = set_cookie(&r, "tessera_device_csrf").expect("CSRF cookie");
        let html = r.text().await.unwrap();
        let mut cookies = vec![csrf_cookie];
        cookies.extend(session.map(str::to_string));
        let csrf = hidden(&html, "csrf");
        (Browser { cookies, csrf }, html)
    }

    /// Posts the page's form; keeps a new session cookie. Returns (status, html).
    async fn post(&mut self, app: &TestApp, form: &[(&str, &str)]) -> (u16, String) {
        let mut f = vec![("csrf", self.csrf.as_str())];
        f.extend_from_slice(form);
        let r = browser()
            .post(app.url("/device"))
            .header("cookie", self.cookie_header())
            .form(&f)
            .send()
            .await
            .unwrap();
        if let Some(s) = set_cookie(&r, "tessera_session") {
            self.cookies.push(s);
        }
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }
}

/// The whole flow: the device's codes, `authorization_pending`, `slow_down` (+5 s) while
/// the person signs in on the verification page, confirms (client name and scopes shown)
/// and approves; then the device's tokens (access, ID, refresh) once, and never again.
async fn the_device_flow_polls_until_the_user_approves(backend: Backend) {
    let s = setup(backend).await;
    let app = &s.app;
    let d = start(app, &s.tv).await;
    let user_code = d["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "{d}");
    assert!(
        user_code.chars().enumerate().all(|(i, c)| if i == 4 {
            c == '-'
        } else {
            "BCDFGHJKLMNPQRSTVWXZ".contains(c)
        }),
        "{user_code}"
    );
    assert_eq!(d["verification_uri"], app.url("/device"));
    assert_eq!(
        d["verification_uri_complete"],
        format!("{}?user_code={user_code}", app.url("/device"))
    );
    assert_eq!(
        (d["expires_in"].as_i64(), d["interval"].as_i64()),
        (Some(600), Some(5))
    );
    let device_code = d["device_code"].as_str().unwrap();

    let (st, b) = poll(app, &s.tv, device_code).await;
    assert_eq!((st, error_of(&b)), (400, "authorization_pending"), "{b}");
    // X5: again at once: slow_down, and the interval grows by 5 s.
    let (st, b) = poll(app, &s.tv, device_code).await;
    assert_eq!((st, error_of(&b)), (400, "slow_down"), "{b}");
    // 5 s later is still too fast for the 10 s interval: 15 s now.
    s.clock.advance(5);
    assert_eq!(
        error_of(&poll(app, &s.tv, device_code).await.1),
        "slow_down"
    );
    s.clock.advance(15);
    assert_eq!(
        error_of(&poll(app, &s.tv, device_code).await.1),
        "authorization_pending"
    );

    // The person opens the link: entry form, code prefilled, sign-in fields.
    let (mut b, html) = Browser::open(d["verification_uri_complete"].as_str().unwrap(), None).await;
    assert_eq!(hidden(&html, "user_code"), user_code);
    assert!(html.contains("id=\"password\""));
    let (st, html) = b
        .post(
            app,
            &[
                ("user_code", user_code),
                ("username", "alice"),
                ("password", PW),
                ("action", "continue"),
            ],
        )
        .await;
    assert_eq!(st, 200, "{html}");
    assert!(
        html.contains("Living-room TV") && html.contains("orders:read"),
        "{html}"
    );
    assert!(b.cookies.iter().any(|c| c.starts_with("tessera_session=")));
    s.clock.advance(15);
    assert_eq!(
        error_of(&poll(app, &s.tv, device_code).await.1),
        "authorization_pending",
        "X6: seeing the confirmation page approves nothing"
    );
    let (st, html) = b
        .post(app, &[("user_code", user_code), ("action", "approve")])
        .await;
    assert_eq!(st, 200);
    assert!(html.contains("Device connected"), "{html}");

    s.clock.advance(15);
    let (st, t) = poll(app, &s.tv, device_code).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["sub"],
        s.alice.as_str()
    );
    assert_eq!(t["scope"], "openid orders:read");
    assert_eq!(
        claims(t["id_token"].as_str().unwrap())["aud"],
        s.tv.id.as_str()
    );
    let (st, _) = app
        .refresh(&s.tv, t["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(st, 200);
    // Single use.
    s.clock.advance(15);
    let (st, b) = poll(app, &s.tv, device_code).await;
    assert_eq!((st, error_of(&b)), (400, "invalid_grant"), "{b}");
    // Another client cannot redeem it either.
    let other = register(app, false, "other").await;
    assert_eq!(
        error_of(&poll(app, &other, device_code).await.1),
        "invalid_grant"
    );
}
on_both_backends!(the_device_flow_polls_until_the_user_approves);

/// A signed-in browser: the session cookie from a first approval round.
async fn signed_in(s: &Setup) -> String {
    let d = start(&s.app, &s.tv).await;
    let (mut b, _) = Browser::open(&s.app.url("/device"), None).await;
    let (st, _) = b
        .post(
            &s.app,
            &[
                ("user_code", d["user_code"].as_str().unwrap()),
                ("username", "alice"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(st, 200);
    b.cookies
        .into_iter()
        .find(|c| c.starts_with("tessera_session="))
        .unwrap()
}

/// X5 and X6: a denial reaches the device as `access_denied`; an expired request as
/// `expired_token` (and can no longer be approved); a prefilled link with a live session
/// still shows the entry form, never approves; a form posted without this site's cookie is
/// refused.
async fn denied_expired_and_one_click_requests_are_refused(backend: Backend) {
    let s = setup(backend).await;
    let app = &s.app;
    let session = signed_in(&s).await;
    let d = start(app, &s.tv).await;
    let code = d["user_code"].as_str().unwrap();
    let url = d["verification_uri_complete"].as_str().unwrap();
    // X6: with a live session, the link shows the prefilled entry form, no sign-in fields.
    let (mut b, html) = Browser::open(url, Some(&session)).await;
    assert_eq!(hidden(&html, "user_code"), code);
    assert!(!html.contains("id=\"password\"") && html.contains("Continue"));
    assert_eq!(
        error_of(&poll(app, &s.tv, d["device_code"].as_str().unwrap()).await.1),
        "authorization_pending"
    );
    let (st, html) = b
        .post(app, &[("user_code", code), ("action", "deny")])
        .await;
    assert_eq!(st, 200);
    assert!(html.contains("Request denied"));
    s.clock.advance(10);
    let (st, v) = poll(app, &s.tv, d["device_code"].as_str().unwrap()).await;
    assert_eq!((st, error_of(&v)), (400, "access_denied"), "{v}");

    // Expiry: polling and approving both refused.
    let d = start(app, &s.tv).await;
    s.clock.advance(601);
    let (st, v) = poll(app, &s.tv, d["device_code"].as_str().unwrap()).await;
    assert_eq!((st, error_of(&v)), (400, "expired_token"), "{v}");
    // A fresh page (the old form's CSRF state has expired too): the code is gone.
    let (mut fresh, _) = Browser::open(&app.url("/device"), Some(&session)).await;
    let (st, html) = fresh
        .post(
            app,
            &[
                ("user_code", d["user_code"].as_str().unwrap()),
                ("action", "approve"),
            ],
        )
        .await;
    assert_eq!(st, 400, "{html}");

    // CSRF: the form without this browser's cookie.
    let r = browser()
        .post(app.url("/device"))
        .header("cookie", session.as_str())
        .form(&[
            ("csrf", b.csrf.as_str()),
            ("user_code", code),
            ("action", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
on_both_backends!(denied_expired_and_one_click_requests_are_refused);

/// X4: wrong user codes count per browser session and per IP: over the limit the page
/// answers 429 with `Retry-After`, even for a right code.
async fn user_code_guessing_is_throttled_per_session_and_ip(backend: Backend) {
    let s = setup_with(backend, |st| {
        st.device_max_failures_per_session = 3;
        st.device_max_failures_per_ip = 5;
    })
    .await;
    let app = &s.app;
    let d = start(app, &s.tv).await;
    let right = d["user_code"].as_str().unwrap();
    let guess = |i: usize| ["BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD", "FFFF-FFFF"][i % 4];
    let mut a = {
        let session = signed_in(&s).await;
        Browser::open(&app.url("/device"), Some(&session)).await.0
    };
    // `signed_in` spent no guess (its code was right).
    for i in 0..3 {
        let (st, html) = a.post(app, &[("user_code", guess(i))]).await;
        assert_eq!(st, 400, "guess {i}");
        assert!(html.contains("not valid"));
    }
    let r = browser()
        .post(app.url("/device"))
        .header("cookie", a.cookie_header())
        .form(&[("csrf", a.csrf.as_str()), ("user_code", right)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "per session");
    assert!(r.headers().contains_key("retry-after"));
    // Another session from the same IP: two more wrong codes reach the per-IP limit.
    let mut b = {
        let session = signed_in(&s).await;
        Browser::open(&app.url("/device"), Some(&session)).await.0
    };
    for i in 0..2 {
        assert_eq!(b.post(app, &[("user_code", guess(i))]).await.0, 400);
    }
    assert_eq!(b.post(app, &[("user_code", right)]).await.0, 429, "per IP");
}
on_both_backends!(user_code_guessing_is_throttled_per_session_and_ip);

/// Public clients (no secret) may use the device grant; a client not registered for it
/// may not start one.
async fn public_clients_use_the_device_grant(backend: Backend) {
    let s = setup(backend).await;
    let app = &s.app;
    let cli = register(app, true, "tessera-cli").await;
    let r = app
        .http
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", cli.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", GRANT),
            ("client_id", cli.id.as_str()),
            ("device_code", d["device_code"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(error_of(&v), "authorization_pending", "{v}");
    let cc = app.client("orders:read", &[API], None).await;
    let r = app.post_as(&cc, "/oauth/device_authorization", &[]).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(error_of(&v), "unauthorized_client");
    let d = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    let d: Value = d.json().await.unwrap();
    assert_eq!(
        d["device_authorization_endpoint"],
        app.url("/oauth/device_authorization")
    );
}
on_both_backends!(public_clients_use_the_device_grant);
