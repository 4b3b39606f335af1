//! Response hygiene and what the server tells strangers: security headers, `Allow` on 405,
//! no-store on token-bearing answers (S7); client IPs behind trusted proxies (S8); no
//! internal scopes in discovery, a protectable /metrics with bounded labels (S9); rate
//! limits on introspection and revocation (R11); file modes of the database and the KEK
//! (K9).

use std::{
    os::unix::fs::PermissionsExt,
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use tessera::{admin::ADMIN_AUDIENCE, clock::SystemClock};

use crate::{
    on_both_backends,
    support::{Backend, PW, ServerHttp, TestApp, http_from, spawn, spawn_with, with_alice},
};

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("{} {}: no {name} header", r.status(), r.url()))
}

fn assert_no_store(r: &reqwest::Response) {
    assert_eq!(header(r, "cache-control"), "no-store", "{}", r.url());
    assert_eq!(header(r, "pragma"), "no-cache", "{}", r.url());
}

/// S7: `nosniff` everywhere; a CSP with `frame-ancestors 'none'` on every HTML page (a
/// looser one on Swagger UI that still lets it run); `Allow` on 405; `no-store` and
/// `Pragma: no-cache` on introspection, revocation and logout answers and on UserInfo
/// errors.
async fn s7_response_hygiene(backend: Backend) {
    let (app, c, _) = with_alice(backend).await;
    let get = |path: &str| app.http.get(app.url(path)).send();

    // HTML pages.
    for path in ["/", "/docs", "/oauth/authorize"] {
        let r = get(path).await.unwrap();
        assert!(
            header(&r, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        let csp = header(&r, "content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-eval"), "{path}: {csp}");
    }
    let r = get("/docs").await.unwrap();
    let csp = header(&r, "content-security-policy").to_string();
    // Swagger UI's bundle and styles are inline in its page: the page's CSP allows them.
    assert!(csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
    assert!(csp.contains("style-src 'self' 'unsafe-inline'"), "{csp}");
    assert!(r.text().await.unwrap().contains("SwaggerUIBundle"));
    let r = get("/").await.unwrap();
    assert!(header(&r, "content-security-policy").contains("default-src 'none'"));

    // Everything else: JSON, plain text, errors poem makes itself.
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/openapi.json",
        "/healthz",
        "/metrics",
        "/no/such/page",
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
    }

    // 405 names what is allowed.
    for (method, path, allow) in [
        (reqwest::Method::GET, "/oauth/token", "POST"),
        (reqwest::Method::PUT, "/oauth/introspect", "POST"),
        (
            reqwest::Method::DELETE,
            "/.well-known/jwks.json",
            "GET, HEAD",
        ),
        (
            reqwest::Method::PUT,
            "/oauth/end_session",
            "GET, HEAD, POST",
        ),
    ] {
        let r = app
            .http
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{path}");
        assert_eq!(header(&r, "allow"), allow, "{path}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    }
    let r = app.http.get(app.url("/oauth/token")).send().await.unwrap();
    assert_no_store(&r);

    // Introspection, revocation and logout successes.
    let login = app.login(&c, "alice", PW, "orders:read").await;
    let at = login["access_token"].as_str().unwrap();
    let rt = login["refresh_token"].as_str().unwrap();
    let r = app.post_as(&c, "/oauth/introspect", &[("token", at)]).await;
    assert_eq!(r.status(), 200);
    assert_no_store(&r);
    let r = app
        .post_as(&c, "/oauth/introspect", &[("token", "garbage")])
        .await;
    assert_no_store(&r);
    // UserInfo: no token (401) and a token without `openid` (403).
    let r = get("/userinfo").await.unwrap();
    assert_eq!(r.status(), 401);
    assert_no_store(&r);
    assert!(header(&r, "www-authenticate").starts_with("Bearer"));
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_no_store(&r);
    let r = app.post_as(&c, "/oauth/revoke", &[("token", at)]).await;
    assert_eq!(r.status(), 200);
    assert_no_store(&r);
    let r = app
        .post_as(&c, "/oauth/logout", &[("refresh_token", rt)])
        .await;
    assert_eq!(r.status(), 200);
    assert_no_store(&r);
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
}
on_both_backends!(s7_response_hygiene);

async fn token_status(
    app: &TestApp,
    http: &reqwest::Client,
    c: &crate::support::TestClient,
    forwarded: Option<(&str, &str)>,
) -> u16 {
    let mut req = http
        .post(app.url("/oauth/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("grant_type", "client_credentials")]);
    if let Some((name, value)) = forwarded {
        req = req.header(name, value);
    }
    req.send().await.unwrap().status().as_u16()
}

/// S8: `X-Forwarded-For` / `Forwarded` name the client only when the TCP peer is a
/// trusted proxy: behind the proxy each forwarded client has its own rate-limit quota and
/// its own login-failure count; from an untrusted peer the headers change nothing.
async fn s8_forwarded_for_only_from_trusted_proxies(backend: Backend) {
    let app = spawn_with(
        backend.clone(),
        |s| {
            s.trusted_proxies = "127.0.0.1, 10.0.0.0/8".into();
            s.token_rate_per_ip = 1;
            s.token_rate_per_ip_burst = 2;
            s.login_max_failures_per_user_ip = 2;
        },
        Arc::new(SystemClock),
    )
    .await;
    let c = app.app_client("orders:read").await;
    app.user("alice", PW, &[]).await;
    let proxy = http_from("127.0.0.1");
    // Through the proxy: client 203.0.113.1 spends its quota ...
    let xff = Some(("x-forwarded-for", "198.51.100.77, 203.0.113.1, 10.1.2.3"));
    let statuses = [
        token_status(&app, &proxy, &c, xff).await,
        token_status(&app, &proxy, &c, xff).await,
        token_status(&app, &proxy, &c, xff).await,
    ];
    assert_eq!(statuses[..2], [200, 200]);
    assert_eq!(statuses[2], 429, "{statuses:?}");
    // ... the spoofable left part of the header is not the key: same client, same quota.
    let spoofed = Some(("x-forwarded-for", "192.0.2.99, 203.0.113.1"));
    assert_eq!(token_status(&app, &proxy, &c, spoofed).await, 429);
    // Another forwarded client, through either header, has its own quota.
    let other = Some(("x-forwarded-for", "203.0.113.2"));
    assert_eq!(token_status(&app, &proxy, &c, other).await, 200);
    let fwd = Some(("forwarded", r#"for="[2001:db8::7]:4711";proto=https"#));
    assert_eq!(token_status(&app, &proxy, &c, fwd).await, 200);

    // An untrusted peer (127.0.0.2) cannot pick its address with the header.
    let direct = http_from("127.0.0.2");
    let mut statuses = Vec::new();
    for i in 0..4 {
        let h = format!("203.0.113.{}", 100 + i);
        statuses.push(token_status(&app, &direct, &c, Some(("x-forwarded-for", &h))).await);
    }
    assert_eq!(statuses[..2], [200, 200]);
    assert!(statuses[2..].contains(&429), "{statuses:?}");

    // The login throttle counts the forwarded client (a server without rate limits, so
    // only the throttle answers 429): 203.0.113.50 is throttled after two failures,
    // 203.0.113.51 behind the same proxy still signs in; an untrusted peer changing the
    // header stays throttled.
    let app = spawn_with(
        backend,
        |s| {
            s.trusted_proxies = "127.0.0.1".into();
            s.login_max_failures_per_user_ip = 2;
        },
        Arc::new(SystemClock),
    )
    .await;
    let c = app.app_client("orders:read").await;
    app.user("alice", PW, &[]).await;
    let password = |http: reqwest::Client, ip: &'static str, pw: &'static str| {
        let (app, c) = (&app, &c);
        async move {
            http.post(app.url("/oauth/token"))
                .basic_auth(&c.id, Some(&c.secret))
                .header("x-forwarded-for", ip)
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
        }
    };
    assert_eq!(password(proxy.clone(), "203.0.113.50", "wrong").await, 400);
    assert_eq!(password(proxy.clone(), "203.0.113.50", "wrong").await, 400);
    assert_eq!(
        password(proxy.clone(), "203.0.113.50", PW).await,
        429,
        "throttled"
    );
    assert_eq!(
        password(proxy.clone(), "203.0.113.51", PW).await,
        200,
        "another client"
    );
    assert_eq!(password(direct.clone(), "203.0.113.60", "wrong").await, 400);
    assert_eq!(password(direct.clone(), "203.0.113.61", "wrong").await, 400);
    assert_eq!(
        password(direct.clone(), "203.0.113.62", PW).await,
        429,
        "the header does not move an untrusted peer"
    );
}
on_both_backends!(s8_forwarded_for_only_from_trusted_proxies);

/// S9: discovery never advertises the internal `tessera:*` scopes, even with an admin
/// client registered; the scopes of ordinary clients are listed.
async fn s9_discovery_lists_no_internal_scopes(backend: Backend) {
    let app = spawn(backend).await;
    app.client(
        "tessera:admin tessera:clients tessera:users tessera:keys",
        &[ADMIN_AUDIENCE],
        None,
    )
    .await;
    app.client("orders:read", &["https://orders.internal"], None)
        .await;
    app.state.refresh_discovery().await.unwrap();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let d: serde_json::Value = app
            .http
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let scopes: Vec<&str> = d["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert!(scopes.contains(&"orders:read"), "{scopes:?}");
        assert!(
            !scopes.iter().any(|s| s.starts_with("tessera:")),
            "{path}: {scopes:?}"
        );
    }
}
on_both_backends!(s9_discovery_lists_no_internal_scopes);

/// S9: with `metrics_token` set, /metrics needs it as a bearer token (compared in constant
/// time); the per-client label appears only with `metrics_client_label`.
async fn s9_metrics_can_be_protected_and_client_labels_are_opt_in(backend: Backend) {
    let app = spawn_with(
        backend.clone(),
        |s| s.metrics_token = Some("scrape-secret-123".into()),
        Arc::new(SystemClock),
    )
    .await;
    let c = app.client("a", &["aud"], None).await;
    app.access_token(&c).await;
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic c2NyYXBlLXNlY3JldC0xMjM="),
    ] {
        let mut req = app.http.get(app.url("/metrics"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert!(header(&r, "www-authenticate").starts_with("Bearer"));
        assert!(!r.text().await.unwrap().contains("tessera_"));
    }
    let r = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("scrape-secret-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("tessera_tokens_issued_total{"), "{text}");
    // Default: no client ids in the series (bounded label sets).
    assert!(!text.contains(&c.id), "client id labelled by default");
    assert!(
        text.contains(r#"tessera_tokens_issued_total{grant="client_credentials",alg="ES256"}"#)
    );

    // Opt in: the client's own series.
    let app = spawn_with(
        backend,
        |s| s.metrics_client_label = true,
        Arc::new(SystemClock),
    )
    .await;
    let c = app.client("a", &["aud"], None).await;
    app.access_token(&c).await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!(
        r#"tessera_tokens_issued_total{{grant="client_credentials",client_id="{}",alg="ES256"}} 1"#,
        c.id
    );
    assert!(text.contains(&series), "{text}");
}
on_both_backends!(s9_metrics_can_be_protected_and_client_labels_are_opt_in);

/// R11: introspection and revocation are rate-limited per IP before any work and per
/// client after authentication, each with its own quota: 429 `slow_down` + `Retry-After`.
async fn r11_introspection_and_revocation_are_rate_limited(backend: Backend) {
    let app = spawn_with(
        backend.clone(),
        |s| {
            s.token_rate_per_ip = 1;
            s.token_rate_per_ip_burst = 3;
        },
        Arc::new(SystemClock),
    )
    .await;
    let c = app.client("a", &["aud"], None).await;
    for path in ["/oauth/introspect", "/oauth/revoke"] {
        let mut statuses = Vec::new();
        for _ in 0..10 {
            let r = app.post_as(&c, path, &[("token", "garbage")]).await;
            statuses.push(r.status().as_u16());
            if r.status() == 429 {
                assert!(header(&r, "retry-after").parse::<u64>().unwrap() >= 1);
                assert_no_store(&r);
                let body: serde_json::Value = r.json().await.unwrap();
                assert_eq!(body["error"], "slow_down");
                break;
            }
        }
        assert_eq!(&statuses[..3], &[200; 3], "{path}: the burst is served");
        assert_eq!(statuses.last(), Some(&429), "{path}: {statuses:?}");
        // Per IP comes before authentication: a wrong secret is refused with 429 too,
        // not checked (the quota just ran out; it refills one request per second).
        let r = app
            .http
            .post(app.url(path))
            .basic_auth(&c.id, Some("wrong"))
            .form(&[("token", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429, "{path}");
    }
    // Another address has its own quota.
    let r = http_from("127.0.0.3")
        .post(app.url("/oauth/introspect"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("token", "garbage")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Per client, after authentication.
    let app = spawn_with(
        backend,
        |s| {
            s.token_rate_per_client = 1;
            s.token_rate_per_client_burst = 2;
        },
        Arc::new(SystemClock),
    )
    .await;
    let busy = app.client("a", &["aud"], None).await;
    let calm = app.client("a", &["aud"], None).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = app
            .post_as(&busy, "/oauth/introspect", &[("token", "garbage")])
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..2], &[200; 2]);
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    let r = app
        .post_as(&calm, "/oauth/introspect", &[("token", "garbage")])
        .await;
    assert_eq!(r.status(), 200, "another client is not held back");
    // The busy client's token-endpoint quota is its own.
    let r = app
        .token_request(&busy, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 200);
}
on_both_backends!(r11_introspection_and_revocation_are_rate_limited);

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `tessera serve` in `dir` under umask 000 with extra environment; returns the child
/// once /healthz answers, or the child's exit status and log if it stops first.
async fn serve_with_umask_0(
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Result<(std::process::Child, String), (std::process::ExitStatus, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = dir.join("serve.log");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "umask 000; exec '{}' serve",
            env!("CARGO_BIN_EXE_tessera")
        ))
        .current_dir(dir)
        .env_remove("TESSERA_KEK")
        .env_remove("RUST_LOG")
        .env("TESSERA_BIND", format!("127.0.0.1:{port}"))
        .env("TESSERA_ISSUER", &base)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let http = reqwest::Client::new();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    for _ in 0..400 {
        if let Some(status) = child.try_wait().unwrap() {
            return Err((status, log()));
        }
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            return Ok((child, base));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    panic!("serve neither became healthy nor stopped: {}", log());
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    assert!(child.wait().unwrap().success());
}

/// K9: under umask 000 the SQLite directory is created 0700 and the database, WAL and
/// shared-memory files 0600; a KEK file readable by group or others stops start-up with a
/// message naming the file and the fix, and touches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k9_database_and_kek_files_are_private_whatever_the_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let url = format!("sqlite://{}/state/db/tessera.db?mode=rwc", dir.display());
    let (child, base) = serve_with_umask_0(dir, &[("TESSERA_DATABASE_URL", &url)])
        .await
        .unwrap_or_else(|(status, log)| panic!("serve stopped with {status}: {log}"));
    // Some traffic, so the WAL holds writes.
    reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap();
    let db_dir = dir.join("state/db");
    assert_eq!(mode(&dir.join("state")), 0o700);
    assert_eq!(mode(&db_dir), 0o700);
    for file in ["tessera.db", "tessera.db-wal", "tessera.db-shm"] {
        assert_eq!(mode(&db_dir.join(file)), 0o600, "{file}");
    }
    // The KEK file it created is private too.
    assert_eq!(mode(&dir.join("keys/kek")), 0o600);
    stop(child);

    // A KEK file others can read: refused, named, with the fix.
    let kek_path = dir.join("keys/kek");
    std::fs::set_permissions(&kek_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::read(&kek_path).unwrap();
    let (status, log) = match serve_with_umask_0(dir, &[("TESSERA_DATABASE_URL", &url)]).await {
        Err(stopped) => stopped,
        Ok((mut child, _)) => {
            let _ = child.kill();
            panic!("serve started with a world-readable KEK file");
        }
    };
    assert!(!status.success());
    let path = kek_path.display().to_string();
    assert!(log.contains(&path), "{log}");
    assert!(log.contains(&format!("chmod 600 {path}")), "{log}");
    assert_eq!(std::fs::read(&kek_path).unwrap(), before, "KEK untouched");
    // After the fix it starts again with the same keys.
    std::fs::set_permissions(&kek_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (child, _) = serve_with_umask_0(dir, &[("TESSERA_DATABASE_URL", &url)])
        .await
        .unwrap_or_else(|(status, log)| panic!("serve stopped with {status}: {log}"));
    stop(child);
}
