//! The account page over HTTP (no browser): the session list (browser sessions and
//! refresh families), ending one session — only the user's own, anything else 404 — and
//! "sign out everywhere", the password change (current password, policy, other sessions
//! end, this browser stays signed in), the CSRF rule, escaping. Rows of docs/security.md
//! are cited as `// B9`.

use crate::{
    on_both_backends,
    page_browser::{PageBrowser, hidden},
    support::{Backend, ServerHttp, TestApp, TestClient, spawn},
};

const PW: &str = "correct horse battery";
const NEW_PW: &str = "tundra vole quartz lantern";

/// A server with bob and alice (no roles) and an application that may use the password
/// and refresh grants ("Orders <App>").
async fn setup(backend: Backend) -> (TestApp, TestClient) {
    let app = spawn(backend).await;
    app.user("bob", PW, &[]).await;
    app.user("alice", PW, &[]).await;
    let c = app.app_client("openid orders:read").await;
    (app, c)
}

/// A refresh token of `user` for the application (one refresh family).
async fn refresh_token_of(app: &TestApp, c: &TestClient, user: &str, pw: &str) -> String {
    let r = app
        .post_as(
            c,
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", user),
                ("password", pw),
                ("scope", "openid orders:read"),
            ],
        )
        .await;
    let body: serde_json::Value = r.json().await.unwrap();
    body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string()
}

/// The status of a refresh with `token`.
async fn refresh(app: &TestApp, c: &TestClient, token: &str) -> u16 {
    app.post_as(
        c,
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
    .status()
    .as_u16()
}

/// The session ids of `kind` (`browser`, `refresh`) listed on an account page, in order.
fn ids(html: &str, kind: &str) -> Vec<String> {
    let marker = format!("name=\"kind\" value=\"{kind}\">");
    html.match_indices(&marker)
        .map(|(i, _)| hidden(&html[i..], "id"))
        .collect()
}

/// Signs `user` in on /account; returns the browser and the page.
async fn account(app: &TestApp, user: &str, pw: &str) -> (PageBrowser, String) {
    let mut b = PageBrowser::new(app);
    let r = b.sign_in("/account", user, pw).await;
    assert_eq!(r.status(), 200, "any signed-in user sees /account");
    let html = r.text().await.unwrap();
    (b, html)
}

async fn sessions_are_listed_and_only_the_owner_ends_them(backend: Backend) {
    let (app, c) = setup(backend).await;
    let bob_refresh = refresh_token_of(&app, &c, "bob", PW).await;
    let alice_refresh = refresh_token_of(&app, &c, "alice", PW).await;
    let (mut bob, html) = account(&app, "bob", PW).await;
    assert!(html.contains("<h1>Your account</h1>") && html.contains("bob"));
    assert!(
        html.contains("this browser"),
        "the current session is marked"
    );
    let bob_browser = ids(&html, "browser");
    let bob_families = ids(&html, "refresh");
    assert_eq!((bob_browser.len(), bob_families.len()), (1, 1), "{html}");
    let (_alice, alice_html) = account(&app, "alice", PW).await;
    let alice_browser = ids(&alice_html, "browser");
    let alice_families = ids(&alice_html, "refresh");
    assert_eq!((alice_browser.len(), alice_families.len()), (1, 1));
    assert!(
        !alice_html.contains(&bob_families[0]),
        "only one's own sessions"
    );

    // B9: another user's session or family, an unknown id, an unknown kind: 404.
    let csrf = hidden(&html, "csrf");
    for (kind, id) in [
        ("browser", alice_browser[0].as_str()),
        ("refresh", alice_families[0].as_str()),
        ("refresh", "00000000-0000-0000-0000-000000000000"),
        ("browser", ""),
        ("everything", bob_families[0].as_str()),
    ] {
        let r = bob
            .submit(
                "/account/sessions/end",
                &[("csrf", &csrf), ("kind", kind), ("id", id)],
            )
            .await;
        assert_eq!(r.status(), 404, "{kind} {id}");
        assert!(r.text().await.unwrap().contains("no such session"));
    }
    assert_eq!(
        refresh(&app, &c, &alice_refresh).await,
        200,
        "alice's family lives"
    );
    assert_eq!(
        bob.get("/account").await.status(),
        200,
        "bob still signed in"
    );

    // G1/B10: without the CSRF token nothing ends.
    let r = bob
        .submit(
            "/account/sessions/end",
            &[
                ("csrf", "forged"),
                ("kind", "refresh"),
                ("id", &bob_families[0]),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);

    // Bob ends his application session: its refresh token is refused from now on.
    let r = bob
        .submit(
            "/account/sessions/end",
            &[
                ("csrf", &csrf),
                ("kind", "refresh"),
                ("id", &bob_families[0]),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/account");
    let page = bob.get("/account").await.text().await.unwrap();
    assert!(
        page.contains("The session was signed out."),
        "flash message"
    );
    assert!(ids(&page, "refresh").is_empty());
    let r = app
        .post_as(
            &c,
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &bob_refresh),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    // Ending a session twice: it is no longer active, 404.
    let r = bob
        .submit(
            "/account/sessions/end",
            &[
                ("csrf", &csrf),
                ("kind", "refresh"),
                ("id", &bob_families[0]),
            ],
        )
        .await;
    assert_eq!(r.status(), 404);
    // Audited as bob.
    let audit = app.state.audit.list(None, 50).await.unwrap();
    let ends: Vec<_> = audit
        .items
        .iter()
        .filter(|e| e.action == "user.end_session")
        .collect();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].actor, "user:bob");

    // Bob ends his browser session (this one): signed out of the pages too.
    let r = bob
        .submit(
            "/account/sessions/end",
            &[
                ("csrf", &csrf),
                ("kind", "browser"),
                ("id", &bob_browser[0]),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(bob.get("/account").await.status(), 303, "sign in again");
}
on_both_backends!(sessions_are_listed_and_only_the_owner_ends_them);

async fn the_password_change_ends_the_other_sessions_only(backend: Backend) {
    let (app, c) = setup(backend).await;
    let old_refresh = refresh_token_of(&app, &c, "bob", PW).await;
    let (mut here, html) = account(&app, "bob", PW).await;
    let (mut elsewhere, _) = account(&app, "bob", PW).await;
    let csrf = hidden(&html, "csrf");
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("current_password", current.to_string()),
            ("new_password", new.to_string()),
            ("new_password_confirm", again.to_string()),
        ]
    };
    // B10: refusals, with the error at the field; nothing changes.
    for (form, status, says) in [
        (
            change("wrong password", NEW_PW, NEW_PW),
            400,
            "The current password is incorrect.",
        ),
        (
            change(PW, "passwordpassword", "passwordpassword"),
            400,
            "too easy to guess",
        ),
        (change(PW, "short", "short"), 400, "at least 12 characters"),
        (
            change(PW, "bob-tundra-vole-quartz", "bob-tundra-vole-quartz"),
            400,
            "must not contain the username",
        ),
        (change(PW, NEW_PW, "something else entirely"), 400, "differ"),
        (
            change("", NEW_PW, NEW_PW),
            400,
            "Enter your current password",
        ),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = here.submit("/account/password", &form).await;
        assert_eq!(r.status(), status, "{says}");
        let page = r.text().await.unwrap();
        assert!(page.contains(says), "{says}: {page}");
        assert!(page.contains("aria-invalid=\"true\""));
    }
    let mut forged = change(PW, NEW_PW, NEW_PW);
    forged[0].1 = "forged".into();
    let form: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(here.submit("/account/password", &form).await.status(), 403);
    assert_eq!(
        refresh(&app, &c, &old_refresh).await,
        200,
        "nothing ended yet"
    );
    // The change.
    let ok = change(PW, NEW_PW, NEW_PW);
    let form: Vec<(&str, &str)> = ok.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = here.submit("/account/password", &form).await;
    assert_eq!(r.status(), 303);
    let page = here.get("/account").await;
    assert_eq!(page.status(), 200, "this browser stays signed in");
    let page = page.text().await.unwrap();
    assert!(page.contains("Your password was changed."));
    assert_eq!(ids(&page, "browser").len(), 1, "only this browser: {page}");
    assert!(
        ids(&page, "refresh").is_empty(),
        "the application sessions ended"
    );
    assert_eq!(
        elsewhere.get("/account").await.status(),
        303,
        "the other browser is out"
    );
    let r = app
        .post_as(
            &c,
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &old_refresh),
            ],
        )
        .await;
    assert_eq!(r.status(), 400, "the old refresh token is refused");
    // The new password signs in, the old one does not.
    let status = |pw: &'static str| {
        let (app, c) = (&app, &c);
        async move {
            app.post_as(
                c,
                "/oauth/token",
                &[
                    ("grant_type", "password"),
                    ("username", "bob"),
                    ("password", pw),
                ],
            )
            .await
            .status()
            .as_u16()
        }
    };
    assert_eq!(status(PW).await, 400);
    assert_eq!(status(NEW_PW).await, 200);
    let audit = app.state.audit.list(None, 50).await.unwrap();
    assert!(
        audit
            .items
            .iter()
            .any(|e| e.action == "user.set_password" && e.actor == "user:bob")
    );
}
on_both_backends!(the_password_change_ends_the_other_sessions_only);

async fn sign_out_everywhere_ends_every_session(backend: Backend) {
    let (app, c) = setup(backend).await;
    let token = refresh_token_of(&app, &c, "bob", PW).await;
    let (mut b, html) = account(&app, "bob", PW).await;
    let (mut other, _) = account(&app, "bob", PW).await;
    let csrf = hidden(&html, "csrf");
    assert_eq!(
        b.submit("/account/sessions/end-all", &[("csrf", "forged")])
            .await
            .status(),
        403
    );
    let r = b
        .submit("/account/sessions/end-all", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("signed out everywhere"));
    assert!(!b.jar.contains_key("tessera_pages"));
    assert_eq!(b.get("/account").await.status(), 303);
    assert_eq!(other.get("/account").await.status(), 303);
    assert_eq!(refresh(&app, &c, &token).await, 400);
    let audit = app.state.audit.list(None, 50).await.unwrap();
    assert!(
        audit
            .items
            .iter()
            .any(|e| e.action == "user.logout_everywhere" && e.actor == "user:bob")
    );
}
on_both_backends!(sign_out_everywhere_ends_every_session);

/// Hostile names on the page are escaped (askama), and a user without the console role
/// is at home on /account.
async fn hostile_names_are_escaped() {
    let app = spawn(Backend::Sqlite).await;
    app.user("<b>x</b>", PW, &[]).await;
    let evil = app
        .state
        .ctx
        .clients
        .create(
            tessera::clients::NewClient {
                name: "<script>alert(1)</script>".into(),
                grant_types: vec!["password".into(), "refresh_token".into()],
                scopes: vec!["openid".into()],
                audiences: vec!["https://api.internal".into()],
                ..Default::default()
            },
            tessera::clients::RegistrationLimits {
                max_token_ttl: std::time::Duration::from_secs(3600),
            },
        )
        .await
        .unwrap();
    let c = TestClient {
        id: evil.client.client_id,
        secret: evil.client_secret,
    };
    let r = app
        .post_as(
            &c,
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", "<b>x</b>"),
                ("password", PW),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, html) = account(&app, "<b>x</b>", PW).await;
    assert!(
        !html.contains("<script>alert(1)") && !html.contains("<b>x</b>"),
        "{html}"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || html.contains("&#60;script"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_hostile_names_are_escaped() {
    hostile_names_are_escaped().await;
}
