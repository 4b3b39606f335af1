//! Browser sign-in over HTTP: authorization endpoint, login form, sealed session cookie,
//! code exchange with PKCE, code reuse, RP-initiated logout. The browser is played by a
//! reqwest client that never follows redirects and carries cookies by hand, so every
//! redirect, cookie attribute and status is asserted.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use std::sync::Arc;
use tessera::clients::NewClient;

use crate::{
    on_both_backends,
    support::{Backend, TestApp, TestClient, claims, spawn, spawn_with, verify_independently},
};

pub(crate) const PW: &str = "correct horse battery";
pub(crate) const CB: &str = "http://127.0.0.1:9/cb";
const BYE: &str = "http://127.0.0.1:9/bye";
const API: &str = "https://api.internal";

/// A PKCE verifier and its S256 challenge.
pub(crate) fn pkce() -> (String, String) {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    let verifier = B64.encode(b);
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    (verifier, B64.encode(d.as_ref()))
}

/// A browser: no automatic redirects, cookies by hand.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) async fn register(app: &TestApp, public: bool) -> TestClient {
    let c = app
        .state
        .ctx
        .clients
        .create(
            NewClient {
                name: "Orders <Web>".into(),
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                scopes: vec!["openid orders:read".into()],
                audiences: vec![API.into()],
                redirect_uris: vec![CB.into()],
                post_logout_redirect_uris: vec![BYE.into()],
                public,
                ..Default::default()
            },
            tessera::clients::RegistrationLimits {
                max_token_ttl: std::time::Duration::from_secs(86400),
            },
        )
        .await
        .unwrap();
    TestClient {
        id: c.client.client_id,
        secret: c.client_secret,
    }
}

pub(crate) struct Flow {
    pub(crate) verifier: String,
    pub(crate) challenge: String,
}

impl Flow {
    pub(crate) fn new() -> Self {
        let (verifier, challenge) = pkce();
        Self {
            verifier,
            challenge,
        }
    }
    pub(crate) fn query<'a>(&'a self, c: &'a TestClient) -> Vec<(&'a str, &'a str)> {
        vec![
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", CB),
            ("scope", "openid orders:read"),
            ("state", "st-123"),
            ("nonce", "n-456"),
            ("code_challenge", &self.challenge),
            ("code_challenge_method", "S256"),
        ]
    }
}

pub(crate) async fn get_authorize(
    app: &TestApp,
    query: &[(&str, &str)],
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut r = browser().get(app.url("/oauth/authorize")).query(query);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.send().await.unwrap()
}

/// The `name=value` of a Set-Cookie header for cookie `name`, and the whole header.
pub(crate) fn set_cookie(r: &reqwest::Response, name: &str) -> Option<(String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap().to_string(), v))
}

pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

pub(crate) fn location(r: &reqwest::Response) -> url::Url {
    url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

pub(crate) fn param(u: &url::Url, name: &str) -> Option<String> {
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The login page for a request: (login cookie, request, csrf).
pub(crate) async fn login_page(app: &TestApp, query: &[(&str, &str)]) -> (String, String, String) {
    let r = get_authorize(app, query, None).await;
    assert_eq!(r.status(), 200);
    let (cookie, _) = set_cookie(&r, "tessera_login").expect("pre-login cookie");
    let html = r.text().await.unwrap();
    (cookie, hidden(&html, "request"), hidden(&html, "csrf"))
}

pub(crate) async fn post_login(
    app: &TestApp,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut r = browser().post(app.url("/oauth/login")).form(form);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.send().await.unwrap()
}

/// Full login: returns (code, session cookie `name=value`).
pub(crate) async fn sign_in(app: &TestApp, query: &[(&str, &str)]) -> (String, String) {
    let (cookie, request, csrf) = login_page(app, query).await;
    let r = post_login(
        app,
        Some(&cookie),
        &[
            ("request", &request),
            ("csrf", &csrf),
            ("username", "alice"),
            ("password", PW),
        ],
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let (session, _) = set_cookie(&r, "tessera_session").unwrap();
    let loc = location(&r);
    (param(&loc, "code").unwrap(), session)
}

pub(crate) async fn exchange(
    app: &TestApp,
    c: &TestClient,
    code: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
        ("code_verifier", verifier),
    ];
    let r = if c.secret.is_empty() {
        let mut f = form.to_vec();
        f.push(("client_id", &c.id));
        app.http
            .post(app.url("/oauth/token"))
            .form(&f)
            .send()
            .await
            .unwrap()
    } else {
        app.token_request(c, &form).await
    };
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn setup(backend: Backend) -> (TestApp, TestClient, String) {
    let app = spawn(backend).await;
    let c = register(&app, false).await;
    let sub = app.user("alice", PW, &["reader"]).await;
    (app, c, sub)
}

async fn code_flow_issues_tokens_that_verify_independently(backend: Backend) {
    let (app, c, sub) = setup(backend).await;
    let flow = Flow::new();
    let (cookie, request, csrf) = login_page(&app, &flow.query(&c)).await;
    // The login page names the client (escaped) and is protected against framing.
    let page = get_authorize(&app, &flow.query(&c), None).await;
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Orders &lt;Web&gt;"),
        "client name shown, escaped"
    );
    assert!(html.contains("<label for=\"password\">"));

    let r = post_login(
        &app,
        Some(&cookie),
        &[
            ("request", &request),
            ("csrf", &csrf),
            ("username", "Alice"),
            ("password", PW),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, attrs) = set_cookie(&r, "tessera_session").unwrap();
    for a in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(attrs.contains(a), "session cookie lacks {a}: {attrs}");
    }
    assert!(!attrs.contains(&sub), "the cookie is sealed, not readable");
    let loc = location(&r);
    assert!(loc.as_str().starts_with(CB));
    assert_eq!(param(&loc, "state").as_deref(), Some("st-123"));
    assert_eq!(param(&loc, "iss").as_deref(), Some(app.base.as_str()));
    let code = param(&loc, "code").unwrap();

    // Only the code's hash is stored.
    use sea_orm::EntityTrait;
    let rows = tessera::entities::authorization_code::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].code_hash != code && rows[0].code_hash.len() == 64);

    let (status, body) = exchange(&app, &c, &code, &flow.verifier).await;
    assert_eq!(status, 200, "{body}");
    let jwks = app.jwks().await;
    let access = body["access_token"].as_str().unwrap();
    let at = verify_independently(access, &jwks, &app.base, API).unwrap();
    assert_eq!(at["sub"], sub.as_str());
    assert_eq!(at["client_id"], c.id.as_str());
    assert_eq!(at["scope"], "openid orders:read");
    let id =
        verify_independently(body["id_token"].as_str().unwrap(), &jwks, &app.base, &c.id).unwrap();
    assert_eq!(id["sub"], sub.as_str());
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["azp"], c.id.as_str());
    assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access.as_bytes());
    assert_eq!(id["at_hash"], B64.encode(&digest.as_ref()[..16]));
    // The refresh token rotates as usual.
    let (status, _) = app
        .refresh(&c, body["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
}
on_both_backends!(code_flow_issues_tokens_that_verify_independently);

async fn pkce_is_mandatory_and_s256_only(backend: Backend) {
    let (app, c, _) = setup(backend).await;
    let flow = Flow::new();
    let base = flow.query(&c);
    let without = |names: &[&str]| -> Vec<(&str, &str)> {
        base.iter()
            .filter(|(k, _)| !names.contains(k))
            .cloned()
            .collect()
    };
    let mut plain = without(&["code_challenge_method"]);
    plain.push(("code_challenge_method", "plain"));
    for (what, q) in [
        (
            "no challenge",
            without(&["code_challenge", "code_challenge_method"]),
        ),
        ("no method", without(&["code_challenge_method"])),
        ("plain", plain),
    ] {
        let r = get_authorize(&app, &q, None).await;
        assert_eq!(r.status(), 302, "{what}");
        let loc = location(&r);
        assert!(loc.as_str().starts_with(CB), "{what}");
        assert_eq!(
            param(&loc, "error").as_deref(),
            Some("invalid_request"),
            "{what}"
        );
        assert_eq!(param(&loc, "state").as_deref(), Some("st-123"), "{what}");
        assert!(param(&loc, "code").is_none());
    }
    // Other redirectable errors.
    let mut token = without(&["response_type"]);
    token.push(("response_type", "token"));
    let r = get_authorize(&app, &token, None).await;
    assert_eq!(
        param(&location(&r), "error").as_deref(),
        Some("unsupported_response_type")
    );
    let mut scope = without(&["scope"]);
    scope.push(("scope", "openid admin"));
    let r = get_authorize(&app, &scope, None).await;
    assert_eq!(
        param(&location(&r), "error").as_deref(),
        Some("invalid_scope")
    );

    // A wrong verifier is refused, and the code is spent by the attempt.
    let (code, _) = sign_in(&app, &base).await;
    let (other, _) = pkce();
    let (status, body) = exchange(&app, &c, &code, &other).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = exchange(&app, &c, &code, &flow.verifier).await;
    assert_eq!(status, 400, "a code survives no failed redemption");
    // Missing verifier.
    let (code, _) = sign_in(&app, &base).await;
    let r = app
        .token_request(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");
}
on_both_backends!(pkce_is_mandatory_and_s256_only);

async fn code_reuse_revokes_what_it_issued(backend: Backend) {
    let (app, c, _) = setup(backend).await;
    let flow = Flow::new();
    let (code, _) = sign_in(&app, &flow.query(&c)).await;
    let (status, first) = exchange(&app, &c, &code, &flow.verifier).await;
    assert_eq!(status, 200);
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(app.introspect(&c, access).await["active"], true);
    let (status, body) = exchange(&app, &c, &code, &flow.verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Everything the first redemption issued is dead.
    let (status, _) = app
        .refresh(&c, first["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 400, "refresh family revoked");
    assert_eq!(
        app.introspect(&c, access).await,
        serde_json::json!({"active": false}),
        "access token revoked"
    );
}
on_both_backends!(code_reuse_revokes_what_it_issued);

async fn bad_client_or_redirect_uri_never_redirects(backend: Backend) {
    let (app, c, _) = setup(backend).await;
    let other = register(&app, false).await;
    let flow = Flow::new();
    let with = |name: &'static str, value: &'static str| -> Vec<(&str, &str)> {
        let mut q: Vec<(&str, &str)> = flow
            .query(&c)
            .into_iter()
            .filter(|(k, _)| *k != name)
            .collect();
        q.push((name, value));
        q
    };
    for (what, q) in [
        (
            "unregistered",
            with("redirect_uri", "https://evil.example/cb"),
        ),
        (
            "prefix",
            with("redirect_uri", "http://127.0.0.1:9/cb/../evil"),
        ),
        (
            "extra query",
            with("redirect_uri", "http://127.0.0.1:9/cb?x=1"),
        ),
        ("unknown client", with("client_id", "nobody")),
    ] {
        let r = get_authorize(&app, &q, None).await;
        assert_eq!(r.status(), 400, "{what}");
        assert!(r.headers().get("location").is_none(), "{what}: no redirect");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = r.text().await.unwrap();
        assert!(!html.contains("evil.example"), "{what}");
    }
    // A code is bound to its client and redirect URI at the token endpoint too.
    let (code, _) = sign_in(&app, &flow.query(&c)).await;
    let r = app
        .token_request(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9/other"),
                ("code_verifier", &flow.verifier),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let (code, _) = sign_in(&app, &flow.query(&c)).await;
    let (status, body) = exchange(&app, &other, &code, &flow.verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}
on_both_backends!(bad_client_or_redirect_uri_never_redirects);

async fn login_form_requires_its_csrf_token(backend: Backend) {
    let (app, c, _) = setup(backend).await;
    let flow = Flow::new();
    let (cookie, request, csrf) = login_page(&app, &flow.query(&c)).await;
    let creds = [("username", "alice"), ("password", PW)];
    let form = |extra: &[(&'static str, String)]| -> Vec<(String, String)> {
        extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .chain(creds.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    };
    // An attacker's own login page: valid sealed request and CSRF, but not this browser's.
    let (_, their_request, their_csrf) = login_page(&app, &flow.query(&c)).await;
    type Case<'a> = (&'a str, Option<&'a str>, Vec<(String, String)>);
    let cases: Vec<Case> = vec![
        (
            "missing token",
            Some(&cookie),
            form(&[("request", request.clone())]),
        ),
        (
            "wrong token",
            Some(&cookie),
            form(&[("request", request.clone()), ("csrf", "x".repeat(43))]),
        ),
        (
            "no cookie",
            None,
            form(&[("request", request.clone()), ("csrf", csrf.clone())]),
        ),
        (
            "another browser's form",
            Some(&cookie),
            form(&[("request", their_request), ("csrf", their_csrf)]),
        ),
        (
            "tampered request",
            Some(&cookie),
            form(&[("request", format!("{request}A")), ("csrf", csrf.clone())]),
        ),
    ];
    for (what, cookie, form) in cases {
        let mut r = browser().post(app.url("/oauth/login")).form(&form);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 403, "{what}");
        assert!(r.headers().get("location").is_none(), "{what}");
        assert!(set_cookie(&r, "tessera_session").is_none(), "{what}");
    }
}
on_both_backends!(login_form_requires_its_csrf_token);

async fn wrong_password_and_unknown_user_look_the_same_and_are_throttled(backend: Backend) {
    let app = spawn_with(
        backend,
        |s| s.login_max_failures_per_user_ip = 3,
        Arc::new(tessera::clock::SystemClock),
    )
    .await;
    let c = register(&app, false).await;
    app.user("alice", PW, &[]).await;
    let flow = Flow::new();
    let (cookie, request, csrf) = login_page(&app, &flow.query(&c)).await;
    let attempt = |user: &'static str, pw: &'static str| {
        let (app, cookie, request, csrf) = (&app, &cookie, &request, &csrf);
        async move {
            let r = post_login(
                app,
                Some(cookie),
                &[
                    ("request", request),
                    ("csrf", csrf),
                    ("username", user),
                    ("password", pw),
                ],
            )
            .await;
            let status = r.status().as_u16();
            let html = r.text().await.unwrap();
            let start = html.find("<p class=\"error\"").unwrap();
            let msg = html[start..start + html[start..].find("</p>").unwrap()].to_string();
            (status, msg)
        }
    };
    let wrong = attempt("alice", "nope").await;
    let unknown = attempt("mallory", "nope").await;
    assert_eq!(wrong, unknown, "no user enumeration");
    assert_eq!(wrong.0, 400);
    attempt("alice", "nope").await;
    attempt("alice", "nope").await;
    let (status, msg) = attempt("alice", PW).await;
    assert_eq!(status, 429, "throttled even with the right password: {msg}");
}
on_both_backends!(wrong_password_and_unknown_user_look_the_same_and_are_throttled);

async fn live_session_skips_login_unless_asked(backend: Backend) {
    let (app, c, sub) = setup(backend).await;
    let second = register(&app, true).await;
    let flow = Flow::new();
    let (code, session) = sign_in(&app, &flow.query(&c)).await;
    let (_, first) = exchange(&app, &c, &code, &flow.verifier).await;
    let first_auth_time = claims(first["id_token"].as_str().unwrap())["auth_time"].clone();
    // Single sign-on into another client: straight back with a code.
    let flow2 = Flow::new();
    let r = get_authorize(&app, &flow2.query(&second), Some(&session)).await;
    assert_eq!(r.status(), 302);
    assert!(
        set_cookie(&r, "tessera_session").is_some(),
        "idle clock reset"
    );
    let code = param(&location(&r), "code").expect("SSO code");
    let (status, body) = exchange(&app, &second, &code, &flow2.verifier).await;
    assert_eq!(status, 200, "{body}");
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], sub.as_str());
    assert_eq!(
        id["auth_time"], first_auth_time,
        "auth_time is the original login"
    );
    // prompt=login and max_age=0 show the login page despite the session.
    for extra in [("prompt", "login"), ("max_age", "0")] {
        let mut q = flow2.query(&second);
        q.push(extra);
        let r = get_authorize(&app, &q, Some(&session)).await;
        assert_eq!(r.status(), 200, "{extra:?}");
        assert!(r.text().await.unwrap().contains("name=\"password\""));
    }
    // prompt=none without a session: login_required, back at the client.
    let mut q = flow2.query(&second);
    q.push(("prompt", "none"));
    let r = get_authorize(&app, &q, None).await;
    assert_eq!(
        param(&location(&r), "error").as_deref(),
        Some("login_required")
    );
    // A forged or tampered session cookie is just no session.
    let forged = format!("{session}A");
    let r = get_authorize(&app, &flow2.query(&second), Some(&forged)).await;
    assert_eq!(r.status(), 200);
}
on_both_backends!(live_session_skips_login_unless_asked);

async fn public_clients_use_pkce_without_a_secret(backend: Backend) {
    let (app, _, _) = setup(backend).await;
    let public = register(&app, true).await;
    assert!(public.secret.is_empty());
    let flow = Flow::new();
    let (code, _) = sign_in(&app, &flow.query(&public)).await;
    let (status, body) = exchange(&app, &public, &code, &flow.verifier).await;
    assert_eq!(status, 200, "{body}");
    let public_refresh = body["refresh_token"].as_str().unwrap().to_string();
    // A confidential client cannot skip its secret.
    let confidential = register(&app, false).await;
    let (code, _) = sign_in(&app, &flow.query(&confidential)).await;
    let no_secret = TestClient {
        id: confidential.id.clone(),
        secret: String::new(),
    };
    let (status, body) = exchange(&app, &no_secret, &code, &flow.verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // It may revoke its own refresh token with its client_id alone (RFC 7009 §2.1).
    let r = app
        .http
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", public_refresh.as_str()),
            ("client_id", public.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", public_refresh.as_str()),
            ("client_id", public.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "revoked");
    // A public client cannot use the client_credentials grant.
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &public.id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
on_both_backends!(public_clients_use_pkce_without_a_secret);

async fn logout_clears_the_session_and_never_redirects_openly(backend: Backend) {
    let (app, c, _) = setup(backend).await;
    let other = register(&app, false).await;
    let flow = Flow::new();
    let (code, session) = sign_in(&app, &flow.query(&c)).await;
    let (_, tokens) = exchange(&app, &c, &code, &flow.verifier).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let end = |q: Vec<(&'static str, String)>| {
        let (app, session) = (&app, &session);
        async move {
            browser()
                .get(app.url("/oauth/end_session"))
                .query(&q)
                .header("cookie", session)
                .send()
                .await
                .unwrap()
        }
    };
    let hint = || ("id_token_hint", id_token.clone());
    let uri = |u: &str| ("post_logout_redirect_uri", u.to_string());
    for (what, q) in [
        ("unregistered", vec![hint(), uri("https://evil.example/")]),
        (
            "another client's",
            vec![hint(), uri("http://127.0.0.1:9/cb")],
        ),
        ("no client named", vec![uri(BYE)]),
        (
            "hint for another client",
            vec![hint(), ("client_id", other.id.clone()), uri(BYE)],
        ),
        (
            "forged hint",
            vec![("id_token_hint", format!("{id_token}x")), uri(BYE)],
        ),
        (
            "access token as hint",
            vec![("id_token_hint", access.clone()), uri(BYE)],
        ),
    ] {
        let r = end(q).await;
        assert_eq!(r.status(), 400, "{what}");
        assert!(r.headers().get("location").is_none(), "{what}: no redirect");
    }
    // The session survived the refused requests.
    let (status, _) = app
        .refresh(&c, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    let r = end(vec![hint(), uri(BYE), ("state", "bye-1".into())]).await;
    assert_eq!(r.status(), 302);
    let loc = location(&r);
    assert_eq!(loc.as_str(), format!("{BYE}?state=bye-1"));
    let (_, cleared) = set_cookie(&r, "tessera_session").unwrap();
    assert!(cleared.starts_with("tessera_session=;") && cleared.contains("Max-Age=0"));
    // The session's refresh families are revoked (the rotated one included).
    let families = tessera::entities::refresh_family::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(families.iter().all(|f| f.revoked_at.is_some()));
    // Without the cookie the browser must log in again.
    let r = get_authorize(&app, &flow.query(&c), None).await;
    assert_eq!(r.status(), 200);
    // Without a return address: a "signed out" page.
    let r = end(vec![]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("signed out"));
}
use sea_orm::EntityTrait;
on_both_backends!(logout_clears_the_session_and_never_redirects_openly);

async fn codes_and_sessions_expire(backend: Backend) {
    let clock = crate::support::fake_clock_now();
    let app = spawn_with(
        backend,
        |s| {
            s.session_idle_ttl = std::time::Duration::from_secs(600);
            s.session_max_ttl = std::time::Duration::from_secs(1500);
        },
        Arc::new(clock.clone()),
    )
    .await;
    let c = register(&app, false).await;
    app.user("alice", PW, &[]).await;
    let flow = Flow::new();
    // A code lives 60 seconds.
    let (code, session) = sign_in(&app, &flow.query(&c)).await;
    clock.advance(61);
    let (status, body) = exchange(&app, &c, &code, &flow.verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Used within its idle lifetime, the session lives on (each use resets the idle clock)...
    let mut session = session;
    for _ in 0..2 {
        clock.advance(500);
        let r = get_authorize(&app, &flow.query(&c), Some(&session)).await;
        assert_eq!(r.status(), 302, "SSO within the idle lifetime");
        session = set_cookie(&r, "tessera_session").unwrap().0;
    }
    // ...but not past its absolute lifetime.
    clock.advance(500);
    let r = get_authorize(&app, &flow.query(&c), Some(&session)).await;
    assert_eq!(r.status(), 200, "absolute lifetime over: login page");
    // Idle: unused for longer than session_idle_ttl.
    let (_, session) = sign_in(&app, &flow.query(&c)).await;
    clock.advance(601);
    let r = get_authorize(&app, &flow.query(&c), Some(&session)).await;
    assert_eq!(r.status(), 200, "idle lifetime over: login page");
    // A login page's CSRF state expires too (login_form_ttl, 10 minutes).
    let (cookie, request, csrf) = login_page(&app, &flow.query(&c)).await;
    clock.advance(601);
    let r = post_login(
        &app,
        Some(&cookie),
        &[
            ("request", &request),
            ("csrf", &csrf),
            ("username", "alice"),
            ("password", PW),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
}
on_both_backends!(codes_and_sessions_expire);

const LIMITS: tessera::clients::RegistrationLimits = tessera::clients::RegistrationLimits {
    max_token_ttl: std::time::Duration::from_secs(86400),
};

/// A client update that replaces the redirect URIs and clears the post-logout ones.
fn uris(redirect_uris: Vec<String>) -> tessera::clients::ClientUpdate {
    tessera::clients::ClientUpdate {
        redirect_uris: Some(redirect_uris),
        post_logout_redirect_uris: Some(vec![]),
        ..Default::default()
    }
}

async fn redirect_uris_can_be_changed(backend: Backend) {
    let (app, c, _) = setup(backend).await;
    let clients = &app.state.ctx.clients;
    let new = "https://orders.example/cb".to_string();
    let updated = clients
        .update(&c.id, uris(vec![new.clone()]), LIMITS)
        .await
        .unwrap()
        .client;
    assert_eq!(updated.redirect_uris, vec![new.clone()]);
    assert!(updated.post_logout_redirect_uris.is_empty());
    assert!(
        clients
            .update(&c.id, uris(vec!["http://evil.example/cb".into()]), LIMITS)
            .await
            .is_err()
    );
    // The old URI no longer works, at once.
    let flow = Flow::new();
    let r = get_authorize(&app, &flow.query(&c), None).await;
    assert_eq!(r.status(), 400);
}
on_both_backends!(redirect_uris_can_be_changed);

async fn discovery_advertises_browser_sign_in(backend: Backend) {
    let app = spawn(backend).await;
    let d: serde_json::Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["authorization_endpoint"], app.url("/oauth/authorize"));
    assert_eq!(d["end_session_endpoint"], app.url("/oauth/end_session"));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(d["subject_types_supported"], serde_json::json!(["public"]));
    for claim in ["sub", "nonce", "auth_time", "at_hash", "azp"] {
        assert!(
            d["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&claim.into()),
            "{claim}"
        );
    }
    assert!(
        d["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"authorization_code".into())
    );
}
on_both_backends!(discovery_advertises_browser_sign_in);

async fn hostile_authorization_requests_get_clear_errors(backend: Backend) {
    let (app, c, _) = setup(backend).await;
    let flow = Flow::new();
    let base = flow
        .query(&c)
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let long_state = "s".repeat(5000);
    for (what, query) in [
        ("100 parameters", format!("{base}{}", "&x=1".repeat(100))),
        ("invalid utf-8", format!("{base}&nonce=%ff%fe")),
        ("repeated client_id", format!("{base}&client_id=other")),
        ("repeated scope", format!("{base}&scope=openid")),
        (
            "long state",
            format!("{}&state={long_state}", base.replace("state=st-123", "x=1")),
        ),
        ("request object", format!("{base}&request=eyJ")),
        ("bad max_age", format!("{base}&max_age=-1")),
        ("bad prompt", format!("{base}&prompt=bogus")),
        ("prompt none+login", format!("{base}&prompt=none%20login")),
        ("fragment mode", format!("{base}&response_mode=fragment")),
    ] {
        let r = browser()
            .get(format!("{}?{query}", app.url("/oauth/authorize")))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(
            status == 400 || status == 302 || status == 200,
            "{what}: {status}"
        );
        if status == 302 {
            let loc = location(&r);
            assert!(loc.as_str().starts_with(CB), "{what}");
            assert!(
                param(&loc, "error").is_some(),
                "{what}: an error, not a code"
            );
            assert!(
                param(&loc, "state").is_none_or(|s| s.len() <= 1024),
                "{what}: an oversized state is not reflected"
            );
        }
    }
    // Login form garbage: never a 500, never a session.
    for body in [
        "",
        "request=&csrf=",
        "request=%ff&csrf=%fe&username=a&password=b",
    ] {
        let r = browser()
            .post(app.url("/oauth/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(matches!(r.status().as_u16(), 400 | 403), "{body}");
        assert!(set_cookie(&r, "tessera_session").is_none());
    }
    let r = browser()
        .post(app.url("/oauth/login"))
        .json(&serde_json::json!({"username": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "not a form");
}
on_both_backends!(hostile_authorization_requests_get_clear_errors);

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// GET /oauth/end_session with the session cookie and the given query.
async fn end_session_get(app: &TestApp, session: &str, q: &[(&str, &str)]) -> reqwest::Response {
    browser()
        .get(app.url("/oauth/end_session"))
        .query(q)
        .header("cookie", session)
        .send()
        .await
        .unwrap()
}

/// POST /oauth/end_session (the confirmation form) with the session cookie.
async fn end_session_post(
    app: &TestApp,
    session: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser()
        .post(app.url("/oauth/end_session"))
        .form(form)
        .header("cookie", session)
        .send()
        .await
        .unwrap()
}

/// Whether a session cookie still signs in: a code (302 to the client), not the login page.
async fn signs_in(app: &TestApp, c: &TestClient, session: &str) -> bool {
    let flow = Flow::new();
    let r = get_authorize(app, &flow.query(c), Some(session)).await;
    match r.status().as_u16() {
        302 => param(&location(&r), "code").is_some(),
        200 => {
            assert!(r.text().await.unwrap().contains("name=\"password\""));
            false
        }
        s => panic!("unexpected status {s}"),
    }
}

/// B4: logout CSRF. Without an `id_token_hint` a navigation to the end-session endpoint
/// only shows a "sign out?" page; the session ends only when that page's form is posted
/// with its token, bound to this session.
async fn b4_end_session_without_hint_asks_and_only_the_confirmed_post_ends(backend: Backend) {
    let (app, c, _) = setup(backend).await;
    let (_, session) = sign_in(&app, &Flow::new().query(&c)).await;
    let (_, other_session) = sign_in(&app, &Flow::new().query(&c)).await;

    // A cross-site navigation: a page, nothing ends, no cookie cleared.
    let r = end_session_get(&app, &session, &[]).await;
    assert_eq!(r.status(), 200);
    assert!(set_cookie(&r, "tessera_session").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("Sign out?"), "{html}");
    assert!(html.contains("method=\"post\" action=\"/oauth/end_session\""));
    let csrf = hidden(&html, "csrf");
    assert!(signs_in(&app, &c, &session).await, "still signed in");
    // The token is not honoured on GET (a link cannot end the session).
    let r = end_session_get(&app, &session, &[("csrf", csrf.as_str())]).await;
    assert_eq!(r.status(), 200);
    assert!(signs_in(&app, &c, &session).await);

    // A POST without a token, with a forged one, or with another session's token: refused.
    let r = end_session_post(&app, &session, &[("state", "x")]).await;
    assert_eq!(r.status(), 200, "no token: the confirmation page again");
    assert!(r.text().await.unwrap().contains("Sign out?"));
    let r = end_session_post(&app, &session, &[("csrf", "forged")]).await;
    assert_eq!(r.status(), 403);
    let r = end_session_get(&app, &other_session, &[]).await;
    let other_csrf = hidden(&r.text().await.unwrap(), "csrf");
    let r = end_session_post(&app, &session, &[("csrf", other_csrf.as_str())]).await;
    assert_eq!(r.status(), 403);
    assert!(signs_in(&app, &c, &session).await, "still signed in");

    // The confirmed POST, with a return address carried through the page.
    let r = end_session_get(
        &app,
        &session,
        &[
            ("client_id", c.id.as_str()),
            ("post_logout_redirect_uri", BYE),
            ("state", "<s>"),
        ],
    )
    .await;
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"&lt;s&gt;\""), "escaped");
    let r = end_session_post(
        &app,
        &session,
        &[
            ("csrf", hidden(&html, "csrf").as_str()),
            ("client_id", hidden(&html, "client_id").as_str()),
            ("post_logout_redirect_uri", BYE),
            ("state", "<s>"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r).as_str(), format!("{BYE}?state=%3Cs%3E"));
    let (_, cleared) = set_cookie(&r, "tessera_session").unwrap();
    assert!(cleared.contains("Max-Age=0"));
    assert!(!signs_in(&app, &c, &session).await, "signed out");
    assert!(
        signs_in(&app, &c, &other_session).await,
        "the other session is untouched"
    );
}
on_both_backends!(b4_end_session_without_hint_asks_and_only_the_confirmed_post_ends);

/// B5: a copied session cookie stops signing in once the user logs out (RP-initiated
/// logout with a hint) or is logged out everywhere: sessions are ended server-side.
async fn b5_copied_session_cookie_dies_with_logout(backend: Backend) {
    let (app, c, sub) = setup(backend).await;
    let flow = Flow::new();
    let (code, session) = sign_in(&app, &flow.query(&c)).await;
    let copy = session.clone();
    let (_, tokens) = exchange(&app, &c, &code, &flow.verifier).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert!(signs_in(&app, &c, &copy).await);
    let r = end_session_get(&app, &session, &[("id_token_hint", id_token)]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("signed out"));
    // The copy is replayed: the login page, not a code.
    assert!(
        !signs_in(&app, &c, &copy).await,
        "the copied cookie is dead"
    );

    // Log out everywhere ends every open session of the user, however many copies exist.
    let (_, a) = sign_in(&app, &Flow::new().query(&c)).await;
    let (_, b) = sign_in(&app, &Flow::new().query(&c)).await;
    assert!(signs_in(&app, &c, &a).await && signs_in(&app, &c, &b).await);
    app.state
        .ctx
        .accounts
        .logout_everywhere(&sub)
        .await
        .unwrap();
    assert!(!signs_in(&app, &c, &a).await);
    assert!(!signs_in(&app, &c, &b).await);
    let rows = tessera::entities::browser_session::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r.user_id == sub && r.ended_at.is_some())
    );
}
on_both_backends!(b5_copied_session_cookie_dies_with_logout);

/// RFC 9449 §10 and D7 through the browser flow of a public client: a code bound with
/// `dpop_jkt` is exchanged only with a proof of that key (another key: `invalid_grant`);
/// the refresh tokens it yields are bound to the key (another key or none:
/// `invalid_grant`, and the token is not spent).
async fn dpop_jkt_binds_codes_and_public_refresh_tokens(backend: Backend) {
    use crate::dpop::ProofKey;
    use serde_json::json;
    let (app, _, _) = setup(backend).await;
    let public = register(&app, true).await;
    let key = ProofKey::new();
    let jkt = key.jkt();
    let token_url = app.url("/oauth/token");
    let post = |form: Vec<(&'static str, String)>, proof: Option<String>| {
        let mut r = app.http.post(app.url("/oauth/token")).form(&form);
        if let Some(p) = proof {
            r = r.header("DPoP", p);
        }
        async move {
            let r = r.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let code_form = |code: &str, verifier: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", CB.to_string()),
            ("code_verifier", verifier.to_string()),
            ("client_id", public.id.clone()),
        ]
    };
    // A malformed dpop_jkt goes back to the client as invalid_request.
    let flow = Flow::new();
    let mut q = flow.query(&public);
    q.push(("dpop_jkt", "not-a-thumbprint"));
    let r = get_authorize(&app, &q, None).await;
    assert_eq!(
        param(&location(&r), "error").as_deref(),
        Some("invalid_request")
    );
    // Bound code, exchanged with another key's proof: refused.
    let mut q = flow.query(&public);
    q.push(("dpop_jkt", &jkt));
    let (code, session) = sign_in(&app, &q).await;
    let other = ProofKey::new();
    let (s, body) = post(
        code_form(&code, &flow.verifier),
        Some(other.proof("POST", &token_url, json!({}))),
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // With the key: a DPoP token and a bound refresh token.
    let flow = Flow::new();
    let mut q = flow.query(&public);
    q.push(("dpop_jkt", &jkt));
    let r = get_authorize(&app, &q, Some(&session)).await;
    let code = param(&location(&r), "code").expect("single sign-on code");
    let (s, body) = post(
        code_form(&code, &flow.verifier),
        Some(key.proof("POST", &token_url, json!({}))),
    )
    .await;
    assert_eq!(
        (s, body["token_type"].as_str()),
        (200, Some("DPoP")),
        "{body}"
    );
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        jkt
    );
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let refresh = || {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", rt.clone()),
            ("client_id", public.id.clone()),
        ]
    };
    for (what, proof) in [
        (
            "another key",
            Some(other.proof("POST", &token_url, json!({}))),
        ),
        ("no proof", None),
    ] {
        let (s, body) = post(refresh(), proof).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "D7 {what}: {body}"
        );
    }
    let (s, body) = post(refresh(), Some(key.proof("POST", &token_url, json!({})))).await;
    assert_eq!(
        (s, body["token_type"].as_str()),
        (200, Some("DPoP")),
        "D7 the right key: {body}"
    );
}
on_both_backends!(dpop_jkt_binds_codes_and_public_refresh_tokens);
