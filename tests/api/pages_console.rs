//! The admin console over HTTP (no browser): sign-in through Tessera's own authorization
//! code flow, the page session and its end, the 403 page for users without the console
//! role, the CSRF rule of every page form, the page headers. Rows of docs/security.md are
//! cited as `// G1`.

use crate::{
    on_both_backends,
    page_browser::{PageBrowser, set_cookie},
    support::{Backend, TestApp, spawn},
};

const PW: &str = "correct horse battery";
const ADMIN: &str = "tessera-admin";

/// A server with an admin (`root`) and a user without the console role (`bob`).
async fn setup(backend: Backend) -> (TestApp, String, String) {
    let app = spawn(backend).await;
    let root = app.user("root", PW, &[ADMIN]).await;
    let bob = app.user("bob", PW, &["reader"]).await;
    (app, root, bob)
}

async fn console_sign_in_goes_through_the_login_page(backend: Backend) {
    let (app, _, _) = setup(backend).await;
    let mut b = PageBrowser::new(&app);
    // Without a session: to the authorization endpoint, as the built-in public client,
    // with PKCE S256, state and nonce; the sign-in state is in a sealed cookie.
    let r = b.get("/console?from=test").await;
    assert_eq!(r.status(), 303);
    let to = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(to.path(), "/oauth/authorize");
    let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "tessera-console");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], app.url("/console/callback"));
    assert_eq!(q["scope"], "openid");
    assert!(q.contains_key("state") && q.contains_key("nonce"));
    let signin = set_cookie(&r, "tessera_pages_signin").unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/console/callback"] {
        assert!(signin.contains(attr), "{signin}");
    }
    b.jar.clear();

    let page = b.sign_in("/console?from=test", "root", PW).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.url().path(), "/console", "back where it started");
    assert_eq!(page.url().query(), Some("from=test"), "with its query");
    assert_eq!(
        page.headers()["content-security-policy"],
        tessera::pages::CSP
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Overview</h1>"), "{html}");
    assert!(html.contains("Signed in as <strong>root</strong>"));
    assert!(html.contains(r#"<main id="main""#) && html.contains("Skip to content"));
    // The page session cookie: sealed, HttpOnly, Lax; the user id is not readable.
    let cookie = b.jar["tessera_pages"].clone();
    assert!(!cookie.contains("root"));
    assert!(!b.jar.contains_key("tessera_pages_signin"), "used up");
}
on_both_backends!(console_sign_in_goes_through_the_login_page);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_session_cookie_has_the_session_attributes() {
    let (app, _, _) = setup(Backend::Sqlite).await;
    let mut b = PageBrowser::new(&app);
    let r = b.get("/console").await;
    let login = b.follow(r).await;
    let html = login.text().await.unwrap();
    let r = b
        .post(
            "/oauth/login",
            &[
                ("request", &crate::page_browser::hidden(&html, "request")),
                ("csrf", &crate::page_browser::hidden(&html, "csrf")),
                ("username", "root"),
                ("password", PW),
            ],
            &[],
        )
        .await;
    let callback = r.headers()["location"].to_str().unwrap().to_string();
    assert!(callback.starts_with(&app.url("/console/callback?")));
    let r = b.get(&callback).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console");
    let c = set_cookie(&r, "tessera_pages").unwrap();
    for attr in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Secure",
        "Max-Age=3600",
    ] {
        assert!(c.contains(attr), "{attr} missing: {c}");
    }
}

/// G2: a signed-in user without `console_admin_role` gets an HTML 403 page and nothing of
/// the console; the role is read on every request.
async fn users_without_the_role_get_403(backend: Backend) {
    let (app, _, bob) = setup(backend).await;
    let mut b = PageBrowser::new(&app);
    let page = b.sign_in("/console", "bob", PW).await;
    assert_eq!(page.status(), 403);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Access denied") && html.contains("tessera-admin"));
    assert!(!html.contains("Instance health"), "no console data");
    assert!(
        !html.contains(r#"href="/console/keys""#),
        "no console navigation"
    );
    // Given the role, bob is in (roles changes end sessions: sign in again).
    app.state
        .ctx
        .accounts
        .change_roles(&bob, &[ADMIN.to_string()])
        .await
        .unwrap();
    let r = b.get("/console").await;
    assert_eq!(
        r.status(),
        303,
        "the role change ended the old page session"
    );
    b.jar.clear();
    // Sessions end "before now + 1 s" (whole seconds): sign in again after it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let page = b.sign_in("/console", "bob", PW).await;
    assert_eq!(page.status(), 200);
}
on_both_backends!(users_without_the_role_get_403);

/// G6: what a user chose (the username) is escaped on pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_usernames_are_escaped() {
    let (app, _, _) = setup(Backend::Sqlite).await;
    app.user("<script>alert(1)</script>", PW, &[]).await;
    let mut b = PageBrowser::new(&app);
    let page = b.sign_in("/console", "<script>alert(1)</script>", PW).await;
    assert_eq!(page.status(), 403);
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
}

/// Form fields or request headers, as name/value pairs.
type Fields<'a> = Vec<(&'a str, &'a str)>;

/// G1: every page form needs the session's CSRF token and a same-origin request; a
/// refused form is a 403 page and changes nothing.
async fn forms_without_the_csrf_token_or_from_elsewhere_are_refused(backend: Backend) {
    let (app, _, _) = setup(backend).await;
    let mut b = PageBrowser::new(&app);
    assert_eq!(b.sign_in("/console", "root", PW).await.status(), 200);
    let csrf = b.csrf().await;
    let origin = app.base.clone();
    let cases: Vec<(&str, Fields, Fields)> = vec![
        ("no token", vec![], vec![("origin", &origin)]),
        (
            "wrong token",
            vec![("csrf", "x".repeat(43).leak())],
            vec![("origin", &origin)],
        ),
        (
            "another origin",
            vec![("csrf", &csrf)],
            vec![("origin", "https://evil.example")],
        ),
        (
            "cross-site fetch",
            vec![("csrf", &csrf)],
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            "null origin",
            vec![("csrf", &csrf)],
            vec![("origin", "null")],
        ),
    ];
    for (what, form, headers) in cases {
        let r = b.post("/console/signout", &form, &headers).await;
        assert_eq!(r.status(), 403, "{what}");
        let html = r.text().await.unwrap();
        assert!(html.contains("Form refused"), "{what}: {html}");
        // Nothing changed: still signed in.
        assert_eq!(b.get("/console").await.status(), 200, "{what}");
    }
    // A form that is not a form.
    let r = b
        .http
        .post(app.url("/console/signout"))
        .header("cookie", b.cookie_header())
        .header("content-type", "application/json")
        .body(format!(r#"{{"csrf":"{csrf}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Too large.
    let big = "a".repeat(64 * 1024);
    let r = b
        .post("/console/signout", &[("csrf", &csrf), ("x", &big)], &[])
        .await;
    assert_eq!(r.status(), 413);
    assert_eq!(b.get("/console").await.status(), 200);
    // The real form: signed out of the console and of the browser session.
    let r = b.submit("/console/signout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are signed out"));
    assert!(!b.jar.contains_key("tessera_pages"));
    let r = b.get("/console").await;
    assert_eq!(r.status(), 303);
    let login = b.follow(r).await;
    assert_eq!(login.status(), 200);
    assert!(
        login.text().await.unwrap().contains("Sign in"),
        "the password is asked again"
    );
}
on_both_backends!(forms_without_the_csrf_token_or_from_elsewhere_are_refused);

/// G5: a copied page session cookie stops working when the user is disabled, logged out
/// everywhere or deleted (the user is read on every request).
async fn the_page_session_ends_with_the_user(backend: Backend) {
    let (app, root, _) = setup(backend).await;
    let accounts = &app.state.ctx.accounts;
    let mut b = PageBrowser::new(&app);
    assert_eq!(b.sign_in("/console", "root", PW).await.status(), 200);
    let copied = b.jar.clone();
    accounts.logout_everywhere(&root).await.unwrap();
    b.jar = copied.clone();
    assert_eq!(
        b.get("/console").await.status(),
        303,
        "logged out everywhere"
    );

    b.jar.clear();
    // Sessions end "before now + 1 s" (whole seconds): sign in again after it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(b.sign_in("/console", "root", PW).await.status(), 200);
    let copied = b.jar.clone();
    // Ending the browser session the sign-in went through ends the page session.
    let session_cookie = copied["tessera_session"].clone();
    let opened: tessera::browser_cookies::BrowserSession = app
        .state
        .ctx
        .sealer
        .open(tessera::browser_cookies::Purpose::Session, &session_cookie)
        .unwrap();
    app.state
        .ctx
        .browser_sessions
        .end(&opened.sid)
        .await
        .unwrap();
    b.jar = copied;
    b.jar.remove("tessera_session");
    assert_eq!(
        b.get("/console").await.status(),
        303,
        "browser session ended"
    );

    b.jar.clear();
    assert_eq!(b.sign_in("/console", "root", PW).await.status(), 200);
    let copied = b.jar.clone();
    accounts.set_disabled(&root, true).await.unwrap();
    b.jar = copied.clone();
    assert_eq!(b.get("/console").await.status(), 303, "disabled");
    accounts.set_disabled(&root, false).await.unwrap();
    accounts.delete(&root).await.unwrap();
    b.jar = copied;
    assert_eq!(b.get("/console").await.status(), 303, "deleted");
}
on_both_backends!(the_page_session_ends_with_the_user);

/// G3: the callback refuses a sign-in it did not start, a wrong state and a replayed code;
/// no page session comes out of it.
async fn the_callback_refuses_what_it_did_not_start(backend: Backend) {
    let (app, _, _) = setup(backend).await;
    let mut b = PageBrowser::new(&app);
    let r = b.get("/console").await;
    let login = b.follow(r).await;
    let html = login.text().await.unwrap();
    let r = b
        .post(
            "/oauth/login",
            &[
                ("request", &crate::page_browser::hidden(&html, "request")),
                ("csrf", &crate::page_browser::hidden(&html, "csrf")),
                ("username", "root"),
                ("password", PW),
            ],
            &[],
        )
        .await;
    let callback = r.headers()["location"].to_str().unwrap().to_string();
    let signin = b.jar["tessera_pages_signin"].clone();
    // Another state.
    let other = callback.replace("state=", "state=x");
    let r = b.get(&other).await;
    assert_eq!(r.status(), 400);
    assert!(set_cookie(&r, "tessera_pages").is_none());
    // Without the sign-in cookie (another browser).
    b.jar.remove("tessera_pages_signin");
    let r = b.get(&callback).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Sign-in failed"));
    assert!(!b.jar.contains_key("tessera_pages"));
    // The right one works once; the same code again does not.
    b.jar.insert("tessera_pages_signin".into(), signin.clone());
    let r = b.get(&callback).await;
    assert_eq!(r.status(), 303);
    assert!(b.jar.contains_key("tessera_pages"));
    b.jar.remove("tessera_pages");
    b.jar.insert("tessera_pages_signin".into(), signin);
    let r = b.get(&callback).await;
    assert_eq!(r.status(), 400, "a code is redeemed once");
    assert!(!b.jar.contains_key("tessera_pages"));
    // A tampered page cookie is no session.
    b.jar.insert("tessera_pages".into(), "AAAA".repeat(20));
    assert_eq!(b.get("/console").await.status(), 303);
}
on_both_backends!(the_callback_refuses_what_it_did_not_start);

/// The built-in client is registered at start-up as code says, and put back if edited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_client_is_kept_in_sync() {
    let app = spawn(Backend::Sqlite).await;
    let ctx = &app.state.ctx;
    let c = ctx.clients.fetch("tessera-console").await.unwrap().unwrap();
    assert!(c.is_public());
    assert_eq!(c.redirect_uris, vec![app.url("/console/callback")]);
    assert_eq!(c.scopes, vec!["openid".to_string()]);
    assert_eq!(
        c.grant_types.len(),
        1,
        "authorization_code only: no refresh tokens"
    );
    ctx.clients
        .update(
            "tessera-console",
            tessera::clients::ClientUpdate {
                redirect_uris: Some(vec!["https://evil.example/cb".into()]),
                scopes: Some(vec!["openid orders:write".into()]),
                ..Default::default()
            },
            tessera::clients::RegistrationLimits {
                max_token_ttl: std::time::Duration::from_secs(86400),
            },
        )
        .await
        .unwrap();
    tessera::pages::session::sync_console_client(ctx)
        .await
        .unwrap();
    let c = ctx.clients.fetch("tessera-console").await.unwrap().unwrap();
    assert_eq!(c.redirect_uris, vec![app.url("/console/callback")]);
    assert_eq!(c.scopes, vec!["openid".to_string()]);
}

/// The stylesheet: from memory, a content-hashed URL cached for a year.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stylesheet_is_served_with_its_hash() {
    let app = spawn(Backend::Sqlite).await;
    let r = app
        .http
        .get(app.url(tessera::pages::css_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(r.text().await.unwrap().contains(":focus-visible"));
    let r = app
        .http
        .get(app.url("/pages/assets/pages.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
}

/// The current kids of `alg` in the JWKS.
async fn published(app: &TestApp) -> Vec<String> {
    app.jwks().await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// Keys: rotate, rotate now and revoke from the console go through the admin API's code
/// path (`admin::keys`) and are audited with the signed-in user as actor; revocation
/// needs the kid typed out (G7).
async fn keys_are_rotated_and_revoked_from_the_console(backend: Backend) {
    let (app, _, _) = setup(backend).await;
    let keys = app.state.keys.clone().unwrap();
    let mut b = PageBrowser::new(&app);
    assert_eq!(b.sign_in("/console/keys", "root", PW).await.status(), 200);
    let before = keys.list().await.unwrap();
    let page = b.get("/console/keys").await.text().await.unwrap();
    for k in &before {
        assert!(page.contains(&k.kid), "{} listed", k.kid);
    }
    let csrf = b.csrf().await;

    // Rotate (scheduled): a new ES256 key, published, not signing yet.
    let r = b
        .submit("/console/keys/rotate", &[("csrf", &csrf), ("alg", "ES256")])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/keys");
    let page = b.follow(r).await;
    let html = page.text().await.unwrap();
    assert!(
        html.contains("published; it signs after"),
        "flash shown: {html}"
    );
    assert!(!b.jar.contains_key("tessera_pages_flash"), "shown once");
    let after = keys.list().await.unwrap();
    let new: Vec<_> = after
        .iter()
        .filter(|k| !before.iter().any(|o| o.kid == k.kid))
        .collect();
    assert_eq!(new.len(), 1);
    assert_eq!((new[0].alg.as_str(), new[0].state), ("ES256", "NEXT"));
    assert!(published(&app).await.contains(&new[0].kid));

    // Rotate now: the new RS256 key signs at once.
    let r = b
        .submit(
            "/console/keys/rotate",
            &[("csrf", &csrf), ("alg", "RS256"), ("now", "true")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let now_keys = keys.list().await.unwrap();
    let active_rs = now_keys
        .iter()
        .find(|k| k.alg == "RS256" && !before.iter().any(|o| o.kid == k.kid))
        .unwrap();
    // At once: right after the key it replaces (which started this second), not after
    // the pre-publication period.
    assert!(
        active_rs.activates_at <= app.state.clock.now() + 1,
        "a new key signs at once"
    );
    // A bad algorithm is refused on the page.
    let r = b
        .submit("/console/keys/rotate", &[("csrf", &csrf), ("alg", "HS256")])
        .await;
    assert_eq!(r.status(), 400);

    // Revoke: the confirmation page, a wrong kid refused, the right one revokes.
    let target = active_rs.kid.clone();
    let path = format!("/console/keys/{target}/revoke");
    let r = b.get(&path).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"<label for="confirm">"#));
    for typed in ["", "not-the-kid", &target[..target.len() - 1]] {
        let r = b
            .submit(&path, &[("csrf", &csrf), ("confirm", typed)])
            .await;
        assert_eq!(r.status(), 400, "{typed:?}");
        let html = r.text().await.unwrap();
        assert!(html.contains(r#"aria-invalid="true""#), "{html}");
        assert!(html.contains(r#"aria-describedby="confirm-help confirm-error""#));
    }
    // Without the CSRF token: refused, nothing revoked (G1).
    let r = b.submit(&path, &[("confirm", &target)]).await;
    assert_eq!(r.status(), 403);
    assert!(published(&app).await.contains(&target), "still published");
    let r = b
        .submit(&path, &[("csrf", &csrf), ("confirm", &target)])
        .await;
    assert_eq!(r.status(), 303);
    assert!(
        !published(&app).await.contains(&target),
        "revoked: unpublished"
    );
    let html = b.follow(r).await.text().await.unwrap();
    assert!(html.contains("revoked"));
    // Already revoked, or unknown: no form.
    assert_eq!(b.get(&path).await.status(), 409);
    assert_eq!(b.get("/console/keys/nope/revoke").await.status(), 404);
    let r = b
        .submit(
            "/console/keys/nope/revoke",
            &[("csrf", &csrf), ("confirm", "nope")],
        )
        .await;
    assert_eq!(r.status(), 404);

    // Audited like the admin API, with the user as actor (A4).
    let log = app
        .state
        .audit
        .search(&Default::default(), None, 50)
        .await
        .unwrap()
        .items;
    let actions: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_str()))
        .collect();
    assert!(actions.contains(&("user:root", "key.revoke", target.as_str())));
    assert!(actions.contains(&("user:root", "key.rotate", new[0].kid.as_str())));
    assert_eq!(
        actions.iter().filter(|a| a.1 == "key.rotate").count(),
        2,
        "{actions:?}"
    );
}
on_both_backends!(keys_are_rotated_and_revoked_from_the_console);

/// The audit log page: filters by actor, action and time; pages with a cursor; escapes
/// what it shows (G6).
async fn the_audit_log_is_filtered_and_paged(backend: Backend) {
    let (app, _, _) = setup(backend).await;
    let audit = &app.state.audit;
    for i in 0..120 {
        let actor = if i % 2 == 0 {
            "user:alice"
        } else {
            "ops-client"
        };
        let action = if i % 3 == 0 {
            "client.update"
        } else {
            "user.update"
        };
        audit
            .record(actor, action, &format!("t{i}"), serde_json::json!({"i": i}))
            .await
            .unwrap();
    }
    audit
        .record(
            "<script>alert(1)</script>",
            "key.rotate",
            "<b>x</b>",
            serde_json::json!({"n": "<img src=x>"}),
        )
        .await
        .unwrap();
    let mut b = PageBrowser::new(&app);
    let page = b.sign_in("/console/audit", "root", PW).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>alert") && !html.contains("<img src=x>"),
        "G6"
    );
    assert!(!html.contains("<b>x</b>"));
    let rows = |html: &str| html.matches("<tr><td><time").count();
    assert_eq!(rows(&html), 50, "a page of 50");
    let older = crate::page_browser::hidden_href(&html, "Older entries");
    let page2 = b.get(&older).await.text().await.unwrap();
    assert_eq!(rows(&page2), 50);
    assert!(page2.contains("Newest entries"));
    // No entry twice across pages.
    let targets = |html: &str| -> Vec<String> {
        html.match_indices(r#"<td class="mono">t"#)
            .map(|(i, _)| html[i + 17..].split('<').next().unwrap().to_string())
            .collect()
    };
    let (t1, t2) = (targets(&html), targets(&page2));
    assert!(t1.iter().all(|t| !t2.contains(t)), "{t1:?} / {t2:?}");

    let html = b
        .get("/console/audit?actor=user%3Aalice&action=client.update")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&html), 20, "i even and divisible by 3: 0, 6, …, 114");
    assert!(!html.contains("ops-client"));
    assert!(html.contains(r#"value="user:alice""#), "the filter is kept");
    // A time range in the future: nothing; an unreadable time: 400 at the field.
    let html = b
        .get("/console/audit?from=2999-01-01T00%3A00")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&html), 0);
    assert!(html.contains("No entries match."));
    let r = b.get("/console/audit?from=yesterday").await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"aria-invalid="true" aria-describedby="f-from-error""#));
    // A forged cursor: 400, not 500.
    assert_eq!(b.get("/console/audit?cursor=%25%25").await.status(), 400);
}
on_both_backends!(the_audit_log_is_filtered_and_paged);
