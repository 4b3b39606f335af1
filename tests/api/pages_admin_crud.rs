//! The console's Clients and Users pages over HTTP (no browser): every form refuses a
//! missing or wrong CSRF token and changes nothing, validation errors come back next to
//! their field with the domain's own message, what users typed is escaped, every change is
//! audited as `user:<username>` with the admin API's action names, a client secret is shown
//! exactly once, and the searches find by prefix. Rows of docs/security.md are cited as
//! `// G1`.

use crate::{
    on_both_backends,
    page_browser::{PageBrowser, hidden},
    support::{Backend, TestApp, TestClient, spawn},
};

const PW: &str = "correct horse battery";
const ADMIN: &str = "tessera-admin";

/// A server with a console admin (`root`), signed in.
async fn signed_in(backend: Backend) -> (TestApp, PageBrowser, String) {
    let app = spawn(backend).await;
    app.user("root", PW, &[ADMIN]).await;
    let mut b = PageBrowser::new(&app);
    assert_eq!(
        b.sign_in("/console/clients", "root", PW).await.status(),
        200
    );
    let csrf = b.csrf().await;
    (app, b, csrf)
}

/// The latest audit entry.
async fn last_audit(app: &TestApp) -> tessera::admin::AuditEntry {
    app.state.audit.list(None, 1).await.unwrap().items.remove(0)
}

/// The text between `<code id="{id}">` and `</code>`.
fn code(html: &str, id: &str) -> String {
    let start = html
        .find(&format!(r#"<code id="{id}">"#))
        .unwrap_or_else(|| panic!("no code {id} in {html}"))
        + id.len()
        + 12;
    let end = start + html[start..].find("</code>").unwrap();
    // The page escapes it: back to the text a person copies.
    html[start..end]
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Owned form fields as `submit` takes them.
fn pairs<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A client registration form as the page sends it.
fn client_form<'a>(csrf: &'a str, form_id: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("form_id", form_id),
        ("name", name),
        ("grant_types", "client_credentials"),
        ("scopes", "orders:read"),
        ("audiences", "https://orders.internal"),
        ("token_ttl", ""),
        ("alg", ""),
        ("auth_method", "client_secret_basic"),
    ]
}

/// G1: every form of the Clients and Users pages refuses a request without the session's
/// CSRF token, with a wrong one, or from another origin; nothing changes.
async fn every_form_refuses_a_missing_or_wrong_csrf_token(backend: Backend) {
    let (app, mut b, csrf) = signed_in(backend).await;
    let victim = app.user("victim", PW, &["reader"]).await;
    let c = app
        .client("orders:read", &["https://orders.internal"], None)
        .await;
    let clients_before = app.state.ctx.clients.list().await.unwrap().len();
    let audit_before = app.state.audit.list(None, 200).await.unwrap().items.len();
    let paths = [
        "/console/clients".to_string(),
        format!("/console/clients/{}", c.id),
        format!("/console/clients/{}/rotate", c.id),
        format!("/console/clients/{}/delete", c.id),
        "/console/users".to_string(),
        format!("/console/users/{victim}"),
        format!("/console/users/{victim}/password"),
        format!("/console/users/{victim}/disable"),
        format!("/console/users/{victim}/sessions"),
    ];
    let origin = app.base.clone();
    for path in &paths {
        let mut form = client_form("", "f1", "mallory");
        form.retain(|(k, _)| *k != "csrf");
        form.extend([
            ("username", "mallory"),
            ("password", "mallory-pw-123"),
            ("roles", ADMIN),
        ]);
        let r = b.post(path, &form, &[("origin", &origin)]).await;
        assert_eq!(r.status(), 403, "{path}: no token");
        assert!(r.text().await.unwrap().contains("Form refused"), "{path}");
        let mut wrong = form.clone();
        wrong.push(("csrf", "x".repeat(43).leak()));
        assert_eq!(
            b.post(path, &wrong, &[("origin", &origin)]).await.status(),
            403,
            "{path}: wrong token"
        );
        let mut right = form.clone();
        right.push(("csrf", csrf.as_str()));
        let r = b
            .post(path, &right, &[("origin", "https://evil.example")])
            .await;
        assert_eq!(r.status(), 403, "{path}: another origin");
    }
    // Nothing changed.
    assert_eq!(
        app.state.ctx.clients.list().await.unwrap().len(),
        clients_before
    );
    assert!(app.state.ctx.clients.fetch(&c.id).await.unwrap().is_some());
    let v = app
        .state
        .ctx
        .accounts
        .users()
        .get(&victim)
        .await
        .unwrap()
        .unwrap();
    assert!(!v.disabled && v.not_before.is_none());
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
    assert_eq!(
        app.state.audit.list(None, 200).await.unwrap().items.len(),
        audit_before
    );
    // The old secret still works.
    assert_eq!(
        app.token_request(&c, &[("grant_type", "client_credentials")])
            .await
            .status(),
        200
    );
}
on_both_backends!(every_form_refuses_a_missing_or_wrong_csrf_token);

/// A client registered on the console: its secret is on the answer to the form and on no
/// other page; it works at the token endpoint; sending the form again (a reload) registers
/// nothing more and shows no secret; the change is audited as the signed-in user.
async fn a_client_secret_is_shown_exactly_once(backend: Backend) {
    let (app, mut b, csrf) = signed_in(backend).await;
    let page = b.get("/console/clients/new").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let form_id = hidden(&html, "form_id");
    let r = b
        .submit("/console/clients", &client_form(&csrf, &form_id, "billing"))
        .await;
    assert_eq!(
        r.status(),
        200,
        "POST answers with the page itself, no redirect"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let id = code(&html, "client-id");
    let secret = code(&html, "client-secret");
    assert!(secret.len() >= 43, "{secret}");
    let curl = code(&html, "curl");
    assert!(curl.contains(&format!("-u '{id}:{secret}'")), "{curl}");
    assert!(curl.contains("grant_type=client_credentials") && curl.contains("/oauth/token"));
    // The secret works.
    let c = TestClient {
        id: id.clone(),
        secret: secret.clone(),
    };
    let r = app
        .token_request(&c, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 200);
    // Never again: the client's page, the list, a resent form.
    for path in [
        format!("/console/clients/{id}"),
        "/console/clients".into(),
        "/console/clients?q=bill".into(),
    ] {
        let r = b.get(&path).await;
        assert_eq!(r.status(), 200, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains(&id), "{path} shows the client");
        assert!(!html.contains(&secret), "{path} shows the secret");
    }
    let r = b
        .submit("/console/clients", &client_form(&csrf, &form_id, "billing"))
        .await;
    assert_eq!(r.status(), 409);
    assert!(!r.text().await.unwrap().contains(&secret));
    let named: Vec<_> = app
        .state
        .ctx
        .clients
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.name == "billing")
        .collect();
    assert_eq!(named.len(), 1, "one client, not two");
    let e = last_audit(&app).await;
    assert_eq!(
        (e.actor.as_str(), e.action.as_str(), e.target.as_str()),
        ("user:root", "client.create", id.as_str())
    );
    assert_eq!(e.detail["audiences"][0], "https://orders.internal");
    assert!(!e.detail.to_string().contains(&secret));

    // Rotation: confirmed first, the new secret shown once, the old one dead.
    let confirm = b.get(&format!("/console/clients/{id}/rotate")).await;
    assert_eq!(confirm.status(), 200);
    let html = confirm.text().await.unwrap();
    let rotate_id = hidden(&html, "form_id");
    let form = [("csrf", csrf.as_str()), ("form_id", rotate_id.as_str())];
    let r = b
        .submit(&format!("/console/clients/{id}/rotate"), &form)
        .await;
    assert_eq!(r.status(), 200);
    let new_secret = code(&r.text().await.unwrap(), "client-secret");
    assert_ne!(new_secret, secret);
    let r = b
        .submit(&format!("/console/clients/{id}/rotate"), &form)
        .await;
    assert_eq!(r.status(), 409, "a resent rotation rotates nothing");
    assert!(!r.text().await.unwrap().contains(&new_secret));
    let fresh = TestClient {
        id: id.clone(),
        secret: new_secret,
    };
    assert_eq!(
        app.token_request(&fresh, &[("grant_type", "client_credentials")])
            .await
            .status(),
        200
    );
    let e = last_audit(&app).await;
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("user:root", "client.rotate_secret")
    );

    // Delete, confirmed.
    let r = b.get(&format!("/console/clients/{id}/delete")).await;
    assert!(r.text().await.unwrap().contains("Delete the client"));
    let r = b
        .submit(&format!("/console/clients/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/clients");
    assert!(app.state.ctx.clients.fetch(&id).await.unwrap().is_none());
    let e = last_audit(&app).await;
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("user:root", "client.delete")
    );
    assert_eq!(b.get(&format!("/console/clients/{id}")).await.status(), 404);
}
on_both_backends!(a_client_secret_is_shown_exactly_once);

/// The edit form changes a client's authentication method only when the change is
/// confirmed with its box (G1 covers the CSRF check of this form too): public → secret
/// answers with the new secret, shown once like a registration's; sending the form again
/// changes nothing; the audit entry names the switch (A7).
async fn the_authentication_method_changes_when_confirmed(backend: Backend) {
    let (app, mut b, csrf) = signed_in(backend).await;
    let spa = app
        .state
        .ctx
        .clients
        .create(
            tessera::clients::NewClient {
                name: "spa".into(),
                grant_types: vec!["authorization_code".into()],
                scopes: vec!["orders:read".into()],
                audiences: vec!["https://orders.internal".into()],
                redirect_uris: vec!["https://app.example/cb".into()],
                public: true,
                ..Default::default()
            },
            tessera::clients::RegistrationLimits {
                max_token_ttl: std::time::Duration::from_secs(86400),
            },
        )
        .await
        .unwrap();
    let id = spa.client.client_id;
    let path = format!("/console/clients/{id}");
    let html = b.get(&path).await.text().await.unwrap();
    assert!(
        html.contains(r#"name="auth_method" value="none" checked"#),
        "the current method is selected"
    );
    assert!(html.contains(r#"name="confirm_method""#));
    let form = |confirm: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "spa".to_string()),
            ("grant_types", "client_credentials".to_string()),
            ("scopes", "orders:read".to_string()),
            ("audiences", "https://orders.internal".to_string()),
            ("token_ttl", String::new()),
            ("alg", String::new()),
            ("auth_method", "client_secret_basic".to_string()),
            ("jwks_uri", String::new()),
            ("confirm_method", confirm.to_string()),
        ]
    };

    let r = b.submit(&path, &pairs(&form(""))).await;
    assert_eq!(r.status(), 400, "a switch needs the box ticked");
    let html = r.text().await.unwrap();
    assert!(html.contains("tick the box to confirm"), "{html}");
    assert!(html.contains(r#"id="auth_method-error""#));
    let stored = app.state.ctx.clients.fetch(&id).await.unwrap().unwrap();
    assert!(stored.is_public(), "nothing changed");

    let r = b.submit(&path, &pairs(&form("yes"))).await;
    assert_eq!(r.status(), 200, "the answer is the secret page itself");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("Authentication method changed"));
    let secret = code(&html, "client-secret");
    let c = TestClient {
        id: id.clone(),
        secret: secret.clone(),
    };
    assert_eq!(
        app.token_request(&c, &[("grant_type", "client_credentials")])
            .await
            .status(),
        200,
        "the new secret works"
    );
    let e = last_audit(&app).await;
    assert_eq!(
        (e.actor.as_str(), e.action.as_str(), e.target.as_str()),
        ("user:root", "client.update", id.as_str())
    );
    assert_eq!(
        e.detail["token_endpoint_auth_method"],
        serde_json::json!({"from": "none", "to": "client_secret_basic"})
    );
    assert!(!e.detail.to_string().contains(&secret));

    // The same form again: the method is already that one; no new secret.
    let r = b.submit(&path, &pairs(&form("yes"))).await;
    assert_eq!(r.status(), 303);
    let html = b.get(&path).await.text().await.unwrap();
    assert!(!html.contains(&secret), "never shown again");
    assert_eq!(
        app.token_request(&c, &[("grant_type", "client_credentials")])
            .await
            .status(),
        200,
        "and still the same secret"
    );
}
on_both_backends!(the_authentication_method_changes_when_confirmed);

/// Invalid forms come back with the domain's message next to the field (`aria-invalid`,
/// `aria-describedby`), never a 500, and change nothing.
async fn validation_errors_are_shown_next_to_their_field(backend: Backend) {
    let (app, mut b, csrf) = signed_in(backend).await;
    let before = app.state.ctx.clients.list().await.unwrap().len();
    let cases: [(&str, &str, &str, &str); 5] = [
        ("audiences", "", "audiences", "at least one audience"),
        ("token_ttl", "soon", "token_ttl", "whole number of seconds"),
        ("scopes", "bad\"scope", "scopes", "not a valid scope token"),
        (
            "grant_types",
            "implicit",
            "grant_types",
            "unsupported grant type",
        ),
        (
            "auth_method",
            "private_key_jwt",
            "jwks_uri",
            "needs the URL of its JWK Set",
        ),
    ];
    for (name, value, field, message) in cases {
        let mut form = client_form(&csrf, "", "billing");
        form.retain(|(k, _)| *k != name && *k != "form_id");
        let fid = format!("v-{name}");
        form.push((name, value));
        form.push(("form_id", fid.leak()));
        let r = b.submit("/console/clients", &form).await;
        assert_eq!(r.status(), 400, "{name}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!(r#"id="{field}-error">"#)),
            "{name}: {html}"
        );
        assert!(html.contains(message), "{name}: {message} in {html}");
        if field == "grant_types" {
            // A checkbox group: its fieldset points at the message (`aria-invalid` is
            // not allowed on a group).
            assert!(
                html.contains(r#"<fieldset aria-describedby="grant_types-error">"#),
                "{name}"
            );
        } else {
            assert!(html.contains(r#"aria-invalid="true""#), "{name}");
            assert!(html.contains(&format!("{field}-error\"")), "{name}");
        }
    }
    assert_eq!(app.state.ctx.clients.list().await.unwrap().len(), before);
    // Users: the store's own messages.
    let r = b
        .submit(
            "/console/users",
            &[
                ("csrf", &csrf),
                ("username", "a b"),
                ("password", "long enough pw"),
                ("roles", ""),
                ("claims", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"id="username-error">must not contain spaces"#),
        "{html}"
    );
    let r = b
        .submit(
            "/console/users",
            &[
                ("csrf", &csrf),
                ("username", "carol"),
                ("password", "short"),
                ("roles", ""),
                ("claims", ""),
            ],
        )
        .await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains(r#"id="password-error">must be 8 to 1024 characters"#)
    );
    let r = b
        .submit(
            "/console/users",
            &[
                ("csrf", &csrf),
                ("username", "carol"),
                ("password", "long enough pw"),
                ("roles", ""),
                ("claims", r#"{"sub": "x"}"#),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains(r#"id="claims-error">"#));
    assert!(
        app.state
            .ctx
            .accounts
            .users()
            .find_by_username("carol")
            .await
            .unwrap()
            .is_none()
    );
    // Unknown ids: a 404 page.
    assert_eq!(b.get("/console/clients/nope").await.status(), 404);
    assert_eq!(b.get("/console/users/nope").await.status(), 404);
    assert_eq!(b.get("/console/users/nope/disable").await.status(), 404);
    let r = b
        .submit("/console/users/nope/disable", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 404);
}
on_both_backends!(validation_errors_are_shown_next_to_their_field);

/// G6: names, scopes, URIs, usernames and claims typed into the console are escaped on
/// every page that shows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_escaped() {
    let (_app, mut b, csrf) = signed_in(Backend::Sqlite).await;
    let evil = r#"<script>alert(1)</script>"#;
    let mut form = client_form(&csrf, "h1", evil);
    form.push((
        "redirect_uris",
        r#"https://x.example/"><img src=x onerror=alert(1)>"#,
    ));
    let r = b.submit("/console/clients", &form).await;
    let status = r.status();
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("<script>alert") && !html.contains("<img src=x"),
        "{html}"
    );
    assert_eq!(status, 400, "that redirect URI is refused: {html}");
    let r = b
        .submit("/console/clients", &client_form(&csrf, "h2", evil))
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
    let id = code(&html, "client-id");
    for path in [
        format!("/console/clients/{id}"),
        "/console/clients".into(),
        "/console/clients?q=%3Cscript".into(),
    ] {
        let html = b.get(&path).await.text().await.unwrap();
        assert!(!html.contains("<script>alert"), "{path}: {html}");
        assert!(
            html.contains("script&#62;") || html.contains("script&gt;"),
            "{path} shows it, escaped"
        );
    }
    let r = b
        .submit(
            "/console/users",
            &[
                ("csrf", &csrf),
                ("username", "eve"),
                ("password", "long enough pw"),
                ("roles", ""),
                (
                    "claims",
                    r#"{"note": "</textarea><script>alert(1)</script>"}"#,
                ),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = b.follow(r).await;
    let html = page.text().await.unwrap();
    assert!(!html.contains("</textarea><script>"), "{html}");
    assert!(html.contains("User created."));
}

/// A user created on the console signs in; disabling them on the console makes their
/// token inactive at once (introspection), re-enabling lets them in again, a new password
/// and "end all sessions" end what they hold; every step audited as `user:root`.
async fn users_are_managed_through_the_same_operations(backend: Backend) {
    let (app, mut b, csrf) = signed_in(backend).await;
    let rp = app.app_client("openid orders:read").await;
    let r = b
        .submit(
            "/console/users",
            &[
                ("csrf", &csrf),
                ("username", "Dave"),
                ("password", "dave password 1"),
                ("roles", "reader writer"),
                ("claims", r#"{"team": "payments"}"#),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let dave = location.rsplit('/').next().unwrap().to_string();
    let e = last_audit(&app).await;
    assert_eq!(
        (e.actor.as_str(), e.action.as_str(), e.target.as_str()),
        ("user:root", "user.create", dave.as_str())
    );
    let token = app
        .login(&rp, "dave", "dave password 1", "orders:read")
        .await;
    let at = token["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.introspect(&rp, &at).await["active"], true);

    // Roles and claims.
    let r = b
        .submit(
            &location,
            &[
                ("csrf", &csrf),
                ("roles", "reader"),
                ("claims", r#"{"team": "billing"}"#),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let u = app
        .state
        .ctx
        .accounts
        .users()
        .get(&dave)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.roles, vec!["reader"]);
    assert_eq!(u.claims["team"], "billing");
    assert_eq!(last_audit(&app).await.action, "user.update");

    // Disable, confirmed: the token is inactive at once.
    let token = app
        .login(&rp, "dave", "dave password 1", "orders:read")
        .await;
    let at = token["access_token"].as_str().unwrap().to_string();
    let r = b.get(&format!("{location}/disable")).await;
    assert!(r.text().await.unwrap().contains("Disable the user"));
    let r = b
        .submit(&format!("{location}/disable"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.introspect(&rp, &at).await["active"], false);
    let e = last_audit(&app).await;
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("user:root", "user.update")
    );
    assert_eq!(e.detail["disabled"], true);
    let r = app
        .token_request(
            &rp,
            &[
                ("grant_type", "password"),
                ("username", "dave"),
                ("password", "dave password 1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400, "a disabled user cannot sign in");
    let r = b
        .submit(&format!("{location}/enable"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 303);
    let token = app
        .login(&rp, "dave", "dave password 1", "orders:read")
        .await;
    let at = token["access_token"].as_str().unwrap().to_string();

    // End all sessions.
    let r = b
        .submit(&format!("{location}/sessions"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.introspect(&rp, &at).await["active"], false);
    assert_eq!(last_audit(&app).await.action, "user.logout_everywhere");

    // A new password: the two must match; then the old one is gone.
    let r = b
        .submit(
            &format!("{location}/password"),
            &[
                ("csrf", &csrf),
                ("password", "new password 22"),
                ("password_again", "other"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains(r#"id="password_again-error""#)
    );
    let r = b
        .submit(
            &format!("{location}/password"),
            &[
                ("csrf", &csrf),
                ("password", "new password 22"),
                ("password_again", "new password 22"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let e = last_audit(&app).await;
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("user:root", "user.set_password")
    );
    assert_eq!(e.detail["generated"], false);
    let r = app
        .token_request(
            &rp,
            &[
                ("grant_type", "password"),
                ("username", "dave"),
                ("password", "dave password 1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    app.login(&rp, "dave", "new password 22", "orders:read")
        .await;
}
on_both_backends!(users_are_managed_through_the_same_operations);

/// Search: clients by name prefix (any case) or exact id, users by username prefix, paged.
async fn searches_find_by_prefix_and_page(backend: Backend) {
    let (app, mut b, _) = signed_in(backend).await;
    for i in 0..55 {
        app.user(&format!("user{i:02}"), PW, &[]).await;
    }
    app.user("zed", PW, &[]).await;
    let c = app
        .client("orders:read", &["https://orders.internal"], None)
        .await;
    let mut billing = tessera::clients::NewClient {
        name: "Billing API".into(),
        grant_types: vec!["client_credentials".into()],
        audiences: vec!["https://billing.internal".into()],
        ..Default::default()
    };
    let limits = tessera::clients::RegistrationLimits {
        max_token_ttl: std::time::Duration::from_secs(3600),
    };
    app.state
        .ctx
        .clients
        .create(billing.clone(), limits)
        .await
        .unwrap();
    billing.name = "billing worker".into();
    app.state.ctx.clients.create(billing, limits).await.unwrap();

    let html = b.get("/console/clients?q=BILL").await.text().await.unwrap();
    assert!(
        html.contains("Billing API") && html.contains("billing worker"),
        "{html}"
    );
    assert!(!html.contains("test client"));
    let html = b
        .get(&format!("/console/clients?q={}", c.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("Client with the id {}", c.id)),
        "{html}"
    );

    let r = b.get("/console/users?q=user").await;
    let html = r.text().await.unwrap();
    assert!(html.contains(">user00<") && html.contains(">user49<"));
    assert!(!html.contains(">user50<") && !html.contains(">zed<"));
    let next = crate::page_browser::hidden_href(&html, "Next page");
    let html = b.get(&next).await.text().await.unwrap();
    assert!(
        html.contains(">user50<") && html.contains(">user54<"),
        "{html}"
    );
    assert!(!html.contains(">user49<") && !html.contains(">zed<") && !html.contains("Next page"));
    let html = b.get("/console/users?q=ZE").await.text().await.unwrap();
    assert!(html.contains(">zed<") && !html.contains(">user00<"));
    assert_eq!(b.get("/console/users?cursor=%25%25").await.status(), 400);
}
on_both_backends!(searches_find_by_prefix_and_page);
