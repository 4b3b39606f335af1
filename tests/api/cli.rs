//! The command line, run as a real process: it works on a migrated database before the
//! first `serve`; a wrong or missing KEK stops start-up without touching keys (K7); logs never
//! carry secrets or private keys (K6, S4).

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use tessera::keys::{Kek, store};

use crate::{
    on_both_backends,
    support::{Backend, test_settings},
};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
    pub settings: tessera::Settings,
}

/// A temporary directory and a database for the CLI, created with `tessera migrate` (the
/// other commands never create one).
pub async fn env(backend: &Backend) -> Env {
    let env = empty_env(backend).await;
    let out = tessera(&env, &["migrate"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env
}

/// As [`env`], without creating the database.
pub async fn empty_env(backend: &Backend) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(backend, dir.path()).await;
    let mut vars = vec![(
        "TESSERA_DATABASE_URL".to_string(),
        settings.database_url.clone(),
    )];
    if let Some(s) = &settings.database_schema {
        vars.push(("TESSERA_DATABASE_SCHEMA".into(), s.clone()));
    }
    Env {
        dir,
        vars,
        settings,
    }
}

pub fn tessera(env: &Env, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args)
        .current_dir(env.dir.path())
        .env_remove("TESSERA_KEK")
        .env_remove("RUST_LOG")
        // Never the default port: tests run in parallel.
        .env("TESSERA_BIND", "127.0.0.1:0");
    for (k, v) in &env.vars {
        cmd.env(k, v);
    }
    cmd
}

async fn browser_clients_are_registered_from_the_cli(backend: Backend) {
    let env = env(&backend).await;
    let create = |extra: &[&str]| {
        let mut args = vec![
            "clients",
            "create",
            "--name",
            "web",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--scope",
            "openid",
            "--audience",
            "https://orders.internal",
            "--json",
        ];
        args.extend_from_slice(extra);
        tessera(&env, &args).output().unwrap()
    };
    let out = create(&[
        "--redirect-uri",
        "https://app.example/cb",
        "--redirect-uri",
        "http://127.0.0.1:3000/cb",
        "--post-logout-redirect-uri",
        "https://app.example/",
        "--public",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        c["redirect_uris"],
        serde_json::json!(["https://app.example/cb", "http://127.0.0.1:3000/cb"])
    );
    assert_eq!(
        c["post_logout_redirect_uris"],
        serde_json::json!(["https://app.example/"])
    );
    assert_eq!(c["token_endpoint_auth_method"], "none");
    assert!(
        c.get("client_secret").is_none(),
        "a public client has no secret"
    );
    // Refused: no redirect URI, http on a public host, a fragment, a public client_credentials client.
    for bad in [
        vec![],
        vec!["--redirect-uri", "http://app.example/cb"],
        vec!["--redirect-uri", "https://app.example/cb#x"],
        vec![
            "--redirect-uri",
            "https://app.example/cb",
            "--public",
            "--grant",
            "client_credentials",
        ],
    ] {
        let out = create(&bad);
        assert!(!out.status.success(), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("redirect-uri")
                || String::from_utf8_lossy(&out.stderr).contains("public"),
            "{bad:?}"
        );
    }
}
on_both_backends!(browser_clients_are_registered_from_the_cli);

async fn clients_can_be_created_before_the_first_serve(backend: Backend) {
    let env = env(&backend).await;
    let out = tessera(
        &env,
        &[
            "clients",
            "create",
            "--name",
            "billing",
            "--scope",
            "orders:read orders:write",
            "--audience",
            "https://orders.internal",
            "--alg",
            "RS256",
            "--ttl",
            "5m",
            "--json",
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43, "256-bit secret, base64url");
    assert_eq!(created["token_ttl"], 300);
    assert_eq!(created["alg"], "RS256");
    // Only the hash is stored.
    let db = tessera::storage::connect(&env.settings).await.unwrap();
    use sea_orm::EntityTrait;
    let row = tessera::entities::client::Entity::find_by_id(id.to_string())
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(row.secret_hash, secret);
    assert!(!row.secret_hash.contains(secret));

    let out = tessera(&env, &["clients", "list"]).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains(id) && listing.contains("billing"));
    assert!(!listing.contains(secret), "the secret is shown once only");

    let out = tessera(&env, &["clients", "rotate-secret", id, "--json"])
        .output()
        .unwrap();
    let rotated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(rotated["client_secret"], secret);

    // Bad input is a clear error with a non-zero exit.
    let out = tessera(&env, &["clients", "create", "--name", "x", "--scope", "a"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("audience"));
    let out = tessera(&env, &["clients", "delete", id]).output().unwrap();
    assert!(out.status.success());
    let out = tessera(&env, &["clients", "delete", id]).output().unwrap();
    assert!(!out.status.success());
}
on_both_backends!(clients_can_be_created_before_the_first_serve);

/// Starts `tessera serve` on a free port and waits for /healthz; returns the child and
/// its base URL.
pub async fn serve(env: &Env, kek: Option<&str>, log_level: &str) -> (std::process::Child, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = tessera(env, &["serve"]);
    cmd.env("TESSERA_BIND", format!("127.0.0.1:{port}"))
        .env("TESSERA_ISSUER", &base)
        .env("TESSERA_LOG", log_level)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(env.dir.path().join("serve.log")).unwrap(),
        ));
    if let Some(k) = kek {
        cmd.env("TESSERA_KEK", k);
    }
    let mut child = cmd.spawn().unwrap();
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            return (child, base);
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("serve exited early with {status}: {}", log(env));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    panic!("serve did not become healthy: {}", log(env));
}

/// Serves with `log_level` logs, has a new client obtain one `client_credentials` token,
/// stops the server and returns its log (the secret-hygiene tests of hsm.rs and kms.rs).
pub async fn log_of_one_token(env: &Env, kek: &str, log_level: &str) -> String {
    let (child, base) = serve(env, Some(kek), log_level).await;
    let created = cli_json(
        env,
        &[
            "clients",
            "create",
            "--name",
            "svc",
            "--scope",
            "a",
            "--audience",
            "aud",
            "--json",
        ],
    );
    let (id, secret) = id_and_secret(&created);
    let r = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    stop(child);
    log(env)
}

pub fn log(env: &Env) -> String {
    std::fs::read_to_string(env.dir.path().join("serve.log")).unwrap_or_default()
}

pub fn stop(mut child: std::process::Child) {
    // SIGTERM: graceful shutdown, exit 0.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status} after SIGTERM");
}

async fn wrong_or_missing_kek_refuses_to_start_and_keeps_keys(backend: Backend) {
    let env = env(&backend).await;
    let kek = Kek::generate_encoded().unwrap();
    let (child, _) = serve(&env, Some(&kek), "info").await;
    stop(child);
    let db = tessera::storage::connect(&env.settings).await.unwrap();
    let before = store::list(&db).await.unwrap();
    assert_eq!(before.len(), 2);

    // Wrong KEK: refuses with a clear message, exit non-zero, keys untouched.
    let out = tessera(&env, &["serve"])
        .env("TESSERA_KEK", Kek::generate_encoded().unwrap())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key-encryption key"), "{err}");
    // Missing KEK (no env, no file): refuses, and does not create a new KEK file.
    let out = tessera(&env, &["serve"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("key-encryption key"));
    assert!(!env.dir.path().join("keys/kek").exists());
    // Malformed KEK.
    let out = tessera(&env, &["serve"])
        .env("TESSERA_KEK", "not base64!")
        .output()
        .unwrap();
    assert!(!out.status.success());

    let after = store::list(&db).await.unwrap();
    assert_eq!(before, after, "keys must never be overwritten");
    // The right KEK still works and serves the same keys.
    let (child, base) = serve(&env, Some(&kek), "info").await;
    let jwks: serde_json::Value = reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    stop(child);
}
on_both_backends!(wrong_or_missing_kek_refuses_to_start_and_keeps_keys);

async fn kek_file_is_created_0600_on_first_run(backend: Backend) {
    let env = env(&backend).await;
    let (child, _) = serve(&env, None, "info").await;
    stop(child);
    let path = env.dir.path().join("keys/kek");
    assert!(path.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // A second start reuses it.
    let (child, _) = serve(&env, None, "info").await;
    stop(child);
}
on_both_backends!(kek_file_is_created_0600_on_first_run);

// --- Logs never carry secrets (K6, S4) ----------------------------------------------------
//
// Each case runs its own `serve` at trace level with JSON logs, does one kind of work that
// handles secrets, stops the server and checks that log: every line is JSON, and neither
// the case's secrets nor the KEK nor any private signing key appears in it.

/// An environment whose `serve` writes JSON logs.
async fn json_log_env(backend: &Backend) -> Env {
    let mut env = env(backend).await;
    env.vars.push(("TESSERA_LOG_FORMAT".into(), "json".into()));
    env
}

/// Runs a `tessera` command and parses its JSON output.
pub fn cli_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let out = tessera(env, args).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The (client_id, client_secret) of a client created with the CLI's `--json` output.
pub fn id_and_secret(created: &serde_json::Value) -> (String, String) {
    (
        created["client_id"].as_str().unwrap().to_string(),
        created["client_secret"].as_str().unwrap().to_string(),
    )
}

/// Reads the log of the stopped server and checks it: trace logs were written, every line
/// is a JSON object with a timestamp and a level, and none of `secrets`, the KEK or the
/// private keys (base64, hex or `Debug` of their PKCS#8) occurs in it. Returns the log.
async fn assert_log_is_clean(env: &Env, kek: &str, secrets: Vec<String>) -> String {
    let logs = log(env);
    assert!(logs.len() > 100, "trace logs were written");
    for line in logs.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|_| panic!("not a JSON log line: {line:.200}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string());
    }
    let db = tessera::storage::connect(&env.settings).await.unwrap();
    let k = Kek::parse(kek).unwrap();
    let mut forbidden = secrets;
    forbidden.push(kek.to_string());
    let rows = store::list(&db).await.unwrap();
    assert!(!rows.is_empty(), "serve created signing keys");
    for row in rows {
        let pkcs8 = k.unseal(&row.kid, &row.sealed_private_key).unwrap();
        forbidden.push(STANDARD.encode(&pkcs8)[..40].to_string());
        forbidden
            .push(pkcs8.iter().map(|b| format!("{b:02x}")).collect::<String>()[..40].to_string());
        forbidden.push(
            format!("{:?}", &pkcs8[..16])
                .trim_end_matches(']')
                .to_string(),
        );
    }
    for f in forbidden {
        assert!(!logs.contains(&f), "the log contains a secret: {f:.12}…");
    }
    logs
}

/// JSON logs: every line parses, and request lines carry the request id.
async fn logs_are_json_lines_carrying_the_request_id(backend: Backend) {
    let env = json_log_env(&backend).await;
    let kek = Kek::generate_encoded().unwrap();
    let (child, base) = serve(&env, Some(&kek), "trace").await;
    let r = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-42");
    stop(child);
    let logs = assert_log_is_clean(&env, &kek, vec![]).await;
    assert!(
        logs.lines()
            .any(|l| l.contains("\"request_id\":\"trace-me-42\"")),
        "request logs carry the request id"
    );
}
on_both_backends!(logs_are_json_lines_carrying_the_request_id);

/// Client secrets (right and wrong, Basic and in the body) and the tokens issued.
async fn client_secrets_and_access_tokens_never_reach_the_logs(backend: Backend) {
    let env = json_log_env(&backend).await;
    let kek = Kek::generate_encoded().unwrap();
    let (id, secret) = id_and_secret(&cli_json(
        &env,
        &[
            "clients",
            "create",
            "--name",
            "svc",
            "--scope",
            "a",
            "--audience",
            "aud",
            "--json",
        ],
    ));
    let (child, base) = serve(&env, Some(&kek), "trace").await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let token = r.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Failed attempts carry secrets too.
    let _ = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&id, Some("wrong-secret-value-1234"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await;
    let _ = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await;
    stop(child);
    assert_log_is_clean(
        &env,
        &kek,
        vec![
            secret.clone(),
            "wrong-secret-value-1234".to_string(),
            token.clone(),
            token.split('.').nth(2).unwrap().to_string(),
            STANDARD.encode(format!("{id}:{secret}")),
        ],
    )
    .await;
}
on_both_backends!(client_secrets_and_access_tokens_never_reach_the_logs);

/// A user's password (set with `users create --password-stdin`, right and wrong), the
/// login's tokens and the refresh tokens before and after rotation.
async fn passwords_and_refresh_tokens_never_reach_the_logs(backend: Backend) {
    let env = json_log_env(&backend).await;
    let kek = Kek::generate_encoded().unwrap();
    let password = "correct horse battery staple 42";
    let mut child = tessera(
        &env,
        &["users", "create", "--username", "alice", "--password-stdin"],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{password}").unwrap();
    }
    assert!(child.wait().unwrap().success());
    let (app_id, app_secret) = id_and_secret(&cli_json(
        &env,
        &[
            "clients",
            "create",
            "--name",
            "app",
            "--grant",
            "password",
            "--grant",
            "refresh_token",
            "--scope",
            "openid",
            "--audience",
            "aud",
            "--json",
        ],
    ));
    let (child, base) = serve(&env, Some(&kek), "trace").await;
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&app_id, Some(&app_secret))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", password),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh_token = login["refresh_token"].as_str().unwrap().to_string();
    let _ = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&app_id, Some(&app_secret))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wrong-password-xyz"),
        ])
        .send()
        .await;
    let refreshed: serde_json::Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&app_id, Some(&app_secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stop(child);
    assert_log_is_clean(
        &env,
        &kek,
        vec![
            password.to_string(),
            "wrong-password-xyz".to_string(),
            app_secret,
            refresh_token,
            refreshed["refresh_token"].as_str().unwrap().to_string(),
            login["access_token"].as_str().unwrap().to_string(),
        ],
    )
    .await;
}
on_both_backends!(passwords_and_refresh_tokens_never_reach_the_logs);

/// The admin client's secret and token, and a password the admin API generates.
async fn admin_tokens_and_generated_passwords_never_reach_the_logs(backend: Backend) {
    let env = json_log_env(&backend).await;
    let kek = Kek::generate_encoded().unwrap();
    let (admin_id, admin_secret) = id_and_secret(&cli_json(
        &env,
        &["clients", "create", "--admin", "--name", "ops", "--json"],
    ));
    let (child, base) = serve(&env, Some(&kek), "trace").await;
    let http = reqwest::Client::new();
    let admin_token: serde_json::Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&admin_id, Some(&admin_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin_token = admin_token["access_token"].as_str().unwrap().to_string();
    let created: serde_json::Value = http
        .post(format!("{base}/admin/v1/users"))
        .bearer_auth(&admin_token)
        .json(&serde_json::json!({"username": "bob"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let generated_password = created["password"].as_str().unwrap().to_string();
    stop(child);
    assert_log_is_clean(
        &env,
        &kek,
        vec![
            generated_password,
            admin_token.clone(),
            admin_token.split('.').nth(2).unwrap().to_string(),
            admin_secret,
        ],
    )
    .await;
}
on_both_backends!(admin_tokens_and_generated_passwords_never_reach_the_logs);

#[test]
fn openapi_command_prints_the_committed_spec() {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/tessera.json"))
            .unwrap(),
    )
    .unwrap();
    assert!(
        printed == committed,
        "`tessera openapi` differs from openapi/tessera.json"
    );
}

#[test]
fn config_command_masks_secrets_and_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("config")
        .current_dir(dir.path())
        .env(
            "TESSERA_KEK",
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=",
        )
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("kek = \"********\""), "{printed}");
    assert!(
        printed.contains("rotation_interval = \"7days\""),
        "{printed}"
    );
    std::fs::write(
        dir.path().join("tessera.toml"),
        "rotaton_interval = \"1d\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("config")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a typo in the config file must be refused"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("rotaton_interval"));
}

/// `tessera clients create --admin` bootstraps the admin API: its client-credentials token
/// opens `/admin/v1`.
async fn admin_client_bootstraps_the_admin_api(backend: Backend) {
    let env = env(&backend).await;
    let out = tessera(
        &env,
        &["clients", "create", "--admin", "--name", "ops", "--json"],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        created["audiences"],
        serde_json::json!(["urn:tessera:admin"])
    );
    let admin = crate::support::TestClient {
        id: created["client_id"].as_str().unwrap().into(),
        secret: created["client_secret"].as_str().unwrap().into(),
    };
    let app = crate::support::start(
        env.settings.clone(),
        tempfile::tempdir().unwrap(),
        std::sync::Arc::new(tessera::clock::SystemClock),
    )
    .await;
    let token = app.access_token(&admin).await;
    let r = app
        .http
        .get(app.url("/admin/v1/audit"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
on_both_backends!(admin_client_bootstraps_the_admin_api);
