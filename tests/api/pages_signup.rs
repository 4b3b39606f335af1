//! Self-service sign-up (`docs/account.md`): off by default (404, no link); the password
//! policy; the neutral answer (a taken username gets exactly the page a new one gets); the
//! per-IP throttle; the login form's CSRF mechanism; hostile input escaped; and a sign-up
//! that ends in a completed authorization code flow for the new user.

use std::sync::Arc;

use crate::{
    authorize::{
        CB, Flow, PW, browser, exchange, hidden, location, login_page, param, post_login, register,
        set_cookie,
    },
    on_both_backends,
    support::{Backend, TestApp, claims, spawn, spawn_with},
};

/// A strong password for the new users of these tests.
const NEW_PW: &str = "tundra vole quartz lantern";

async fn with_signup(backend: Backend, per_ip: u32) -> TestApp {
    spawn_with(
        backend,
        |s| {
            s.registration_enabled = true;
            s.registration_max_per_ip = per_ip;
        },
        Arc::new(tessera::clock::SystemClock),
    )
    .await
}

/// The sign-up page linked from a login page: (login cookie, request, csrf, html).
async fn signup_page(app: &TestApp, query: &[(&str, &str)]) -> (String, String, String, String) {
    let (cookie, request, _) = login_page(app, query).await;
    let r = browser()
        .get(app.url("/oauth/signup"))
        .query(&[("request", request.as_str())])
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
    (cookie, request, csrf, html)
}

async fn post_signup(
    app: &TestApp,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut r = browser().post(app.url("/oauth/signup")).form(form);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.send().await.unwrap()
}

/// A sign-up with the page's hidden fields: (status, html).
async fn sign_up(
    app: &TestApp,
    page: &(String, String, String, String),
    username: &str,
    password: &str,
    confirm: &str,
) -> (u16, String) {
    let (cookie, request, csrf, _) = page;
    let r = post_signup(
        app,
        Some(cookie),
        &[
            ("request", request),
            ("csrf", csrf),
            ("username", username),
            ("password", password),
            ("password_confirm", confirm),
        ],
    )
    .await;
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The page with its per-response values (sealed request, CSRF token) blanked.
fn masked(html: &str) -> String {
    let mut out = html.to_string();
    for name in ["request", "csrf"] {
        let v = hidden(html, name);
        out = out.replace(&v, "…");
    }
    out
}

async fn disabled_is_404_and_not_linked(backend: Backend) {
    let app = spawn(backend).await;
    assert!(!app.state.settings.registration_enabled, "off by default");
    let c = register(&app, false).await;
    let flow = Flow::new();
    let r = crate::authorize::get_authorize(&app, &flow.query(&c), None).await;
    let html = r.text().await.unwrap();
    assert!(html.contains("Sign in"));
    assert!(
        !html.contains("/oauth/signup"),
        "no link when sign-up is off"
    );
    let request = hidden(&html, "request");
    let r = browser()
        .get(app.url("/oauth/signup"))
        .query(&[("request", request.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let r = post_signup(
        &app,
        None,
        &[
            ("request", &request),
            ("csrf", "x"),
            ("username", "bob"),
            ("password", NEW_PW),
            ("password_confirm", NEW_PW),
        ],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert!(
        app.state
            .ctx
            .accounts
            .users()
            .find_by_username("bob")
            .await
            .unwrap()
            .is_none()
    );
}
on_both_backends!(disabled_is_404_and_not_linked);

async fn policy_errors_are_shown_on_the_form(backend: Backend) {
    let app = with_signup(backend, 50).await;
    let c = register(&app, false).await;
    let flow = Flow::new();
    let page = signup_page(&app, &flow.query(&c)).await;
    assert!(
        page.3.contains("At least 12 characters"),
        "the policy in words"
    );
    for (user, pw, confirm, says) in [
        ("bob", "short", "short", "at least 12 characters"),
        (
            "bob",
            "passwordpassword",
            "passwordpassword",
            "too easy to guess",
        ),
        (
            "bob",
            "Bob-tundra-vole-quartz",
            "Bob-tundra-vole-quartz",
            "must not contain the username",
        ),
        (
            "bob",
            NEW_PW,
            "tundra vole quartz lantern!",
            "The two passwords differ",
        ),
        ("b o b", NEW_PW, NEW_PW, "without spaces"),
        ("", NEW_PW, NEW_PW, "Enter a username"),
        ("bob", "", "", "Enter a password"),
    ] {
        let (status, html) = sign_up(&app, &page, user, pw, confirm).await;
        assert_eq!(status, 400, "{user:?}/{pw:?}");
        assert!(html.contains(says), "{user:?}/{pw:?}: {html}");
        assert!(
            html.contains("aria-invalid=\"true\""),
            "the field is marked"
        );
        assert!(
            html.contains("<h1>Create an account</h1>"),
            "the form again"
        );
    }
    assert!(
        app.state
            .ctx
            .accounts
            .users()
            .find_by_username("bob")
            .await
            .unwrap()
            .is_none()
    );
}
on_both_backends!(policy_errors_are_shown_on_the_form);

/// The answer for a taken username is the answer for a new one; the new user then signs in
/// on that page and the client gets tokens for them.
async fn taken_and_new_usernames_get_the_same_answer(backend: Backend) {
    let app = with_signup(backend, 50).await;
    let c = register(&app, false).await;
    let alice = app.user("alice", PW, &["reader"]).await;
    let flow = Flow::new();
    let page = signup_page(&app, &flow.query(&c)).await;
    // B7: "Alice" is alice (usernames are case-insensitive); "Carol" is new. Same length.
    let (taken_status, taken) = sign_up(&app, &page, "Alice", NEW_PW, NEW_PW).await;
    let (new_status, new) = sign_up(&app, &page, "Carol", NEW_PW, NEW_PW).await;
    assert_eq!((taken_status, new_status), (200, 200));
    assert_eq!(
        masked(&taken).replace("Alice", "NAME"),
        masked(&new).replace("Carol", "NAME"),
        "one page for both"
    );
    assert!(new.contains("Sign in with the username and password you chose"));
    // alice is untouched: her password still works, the sign-up's does not.
    let users = app.state.ctx.accounts.users();
    let a = users.find_by_username("alice").await.unwrap().unwrap();
    assert_eq!(
        (a.id.as_str(), a.roles.clone()),
        (alice.as_str(), vec!["reader".to_string()])
    );
    let carol = users
        .find_by_username("carol")
        .await
        .unwrap()
        .expect("created");
    assert!(carol.roles.is_empty(), "a new user gets no roles");
    // Audited as the new user; nothing for the taken name.
    let audit = app.state.audit.list(None, 50).await.unwrap();
    let registers: Vec<_> = audit
        .items
        .iter()
        .filter(|e| e.action == "user.register")
        .collect();
    assert_eq!(registers.len(), 1, "{registers:?}");
    assert_eq!(registers[0].actor, "user:carol");
    assert_eq!(registers[0].target, carol.id);

    // The page is the login form of the same request: carol signs in and the client gets
    // her tokens.
    let cookie = page.0.clone();
    let (request, csrf) = (hidden(&new, "request"), hidden(&new, "csrf"));
    assert_eq!(csrf, page.2, "the browser's CSRF token is kept");
    let login = |user: &'static str, pw: &'static str| {
        let (app, cookie, request, csrf) = (&app, &cookie, &request, &csrf);
        async move {
            post_login(
                app,
                Some(cookie),
                &[
                    ("request", request.as_str()),
                    ("csrf", csrf.as_str()),
                    ("username", user),
                    ("password", pw),
                ],
            )
            .await
        }
    };
    let r = login("alice", NEW_PW).await;
    assert_eq!(r.status(), 400, "the sign-up did not set alice's password");
    let r = login("carol", NEW_PW).await;
    assert_eq!(r.status(), 303);
    assert!(set_cookie(&r, "tessera_session").is_some(), "signed in");
    let loc = location(&r);
    assert!(loc.as_str().starts_with(CB));
    assert_eq!(param(&loc, "state").as_deref(), Some("st-123"));
    let code = param(&loc, "code").unwrap();
    let (status, body) = exchange(&app, &c, &code, &flow.verifier).await;
    assert_eq!(status, 200, "{body}");
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["sub"], carol.id.as_str());
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], carol.id.as_str());
}
on_both_backends!(taken_and_new_usernames_get_the_same_answer);

async fn sign_ups_are_throttled_per_ip(backend: Backend) {
    let app = with_signup(backend, 2).await;
    let c = register(&app, false).await;
    app.user("alice", PW, &[]).await;
    let flow = Flow::new();
    let page = signup_page(&app, &flow.query(&c)).await;
    // B8. A policy refusal does not count: it tells nothing and costs nothing.
    assert_eq!(sign_up(&app, &page, "dave", "short", "short").await.0, 400);
    assert_eq!(sign_up(&app, &page, "alice", NEW_PW, NEW_PW).await.0, 200);
    assert_eq!(sign_up(&app, &page, "dave", NEW_PW, NEW_PW).await.0, 200);
    // The third attempt from this address waits, taken or new alike.
    let (cookie, request, csrf, _) = &page;
    for user in ["erin", "alice"] {
        let r = post_signup(
            &app,
            Some(cookie),
            &[
                ("request", request),
                ("csrf", csrf),
                ("username", user),
                ("password", NEW_PW),
                ("password_confirm", NEW_PW),
            ],
        )
        .await;
        assert_eq!(r.status(), 429, "{user}");
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wait >= 1);
        assert!(r.text().await.unwrap().contains("Too many sign-ups"));
    }
    assert!(
        app.state
            .ctx
            .accounts
            .users()
            .find_by_username("erin")
            .await
            .unwrap()
            .is_none()
    );
    // Another address is not throttled.
    let other = crate::support::http_from("127.0.0.2");
    let r = other
        .post(app.url("/oauth/signup"))
        .header("cookie", cookie)
        .form(&[
            ("request", request.as_str()),
            ("csrf", csrf.as_str()),
            ("username", "frank"),
            ("password", NEW_PW),
            ("password_confirm", NEW_PW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
on_both_backends!(sign_ups_are_throttled_per_ip);

async fn the_form_needs_its_csrf_token(backend: Backend) {
    let app = with_signup(backend, 50).await;
    let c = register(&app, false).await;
    let flow = Flow::new();
    let (cookie, request, csrf, _) = signup_page(&app, &flow.query(&c)).await;
    let fields = |csrf: &str| {
        vec![
            ("request".to_string(), request.clone()),
            ("csrf".to_string(), csrf.to_string()),
            ("username".to_string(), "mallory".to_string()),
            ("password".to_string(), NEW_PW.to_string()),
            ("password_confirm".to_string(), NEW_PW.to_string()),
        ]
    };
    let send = |cookie: Option<String>, form: Vec<(String, String)>| {
        let app = &app;
        async move {
            let mut r = browser().post(app.url("/oauth/signup")).form(&form);
            if let Some(c) = cookie {
                r = r.header("cookie", c);
            }
            r.send().await.unwrap().status().as_u16()
        }
    };
    // B2: no pre-login cookie (a cross-site post), a forged token, another browser's form.
    assert_eq!(send(None, fields(&csrf)).await, 403);
    assert_eq!(
        send(Some(cookie.clone()), fields(&"x".repeat(43))).await,
        403
    );
    let (_, their_request, their_csrf, _) = signup_page(&app, &flow.query(&c)).await;
    let mut theirs = fields(&their_csrf);
    theirs[0].1 = their_request;
    assert_eq!(send(Some(cookie.clone()), theirs).await, 403);
    assert!(
        app.state
            .ctx
            .accounts
            .users()
            .find_by_username("mallory")
            .await
            .unwrap()
            .is_none()
    );
    // A tampered or missing sign-up link is a clear 400 page.
    for q in [format!("{request}A"), String::new()] {
        let r = browser()
            .get(app.url("/oauth/signup"))
            .query(&[("request", q.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("sign-up link"));
    }
    // The genuine form works.
    assert_eq!(send(Some(cookie), fields(&csrf)).await, 200);
    assert!(
        app.state
            .ctx
            .accounts
            .users()
            .find_by_username("mallory")
            .await
            .unwrap()
            .is_some()
    );
}
on_both_backends!(the_form_needs_its_csrf_token);

async fn hostile_input_is_escaped(backend: Backend) {
    let app = with_signup(backend, 50).await;
    let c = register(&app, false).await;
    let flow = Flow::new();
    let page = signup_page(&app, &flow.query(&c)).await;
    // The client's name is hostile too ("Orders <Web>").
    assert!(page.3.contains("Orders &lt;Web&gt;") && !page.3.contains("Orders <Web>"));
    // B8, B3.
    let evil = "\"><script>alert(1)</script>";
    for (pw, status) in [("short", 400), (NEW_PW, 200)] {
        let (s, html) = sign_up(&app, &page, evil, pw, pw).await;
        assert_eq!(s, status);
        assert!(!html.contains("<script>alert(1)"), "{html}");
        assert!(html.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
    // Control characters and oversize fields are refused with the form, never a 500.
    let (s, html) = sign_up(&app, &page, "bob\u{0}", NEW_PW, NEW_PW).await;
    assert_eq!(s, 400, "{html}");
    let long = "x".repeat(65);
    assert_eq!(sign_up(&app, &page, &long, NEW_PW, NEW_PW).await.0, 400);
    let huge = "Zq9!".repeat(300);
    let (s, html) = sign_up(&app, &page, "bob", &huge, &huge).await;
    assert_eq!(s, 400);
    assert!(html.contains("at most 1024"));
}
on_both_backends!(hostile_input_is_escaped);
