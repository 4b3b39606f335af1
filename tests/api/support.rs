//! Test harness: starts the real server on 127.0.0.1:0 with a temporary SQLite file, or
//! on PostgreSQL in a schema of its own. PostgreSQL tests are `#[ignore]`d; run them with
//! `TESSERA_TEST_POSTGRES_URL=... cargo test --test api -- --ignored postgres` (they fail,
//! never pass, when the variable is unset).

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use sea_orm::{ConnectionTrait, Database};
use tessera::{
    App, Settings,
    clients::{NewClient, RegistrationLimits},
    clock::{FakeClock, SharedClock, SystemClock},
    http::AppState,
    keys::{Alg, Kek},
};

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres { url: String },
}

impl Backend {
    /// The PostgreSQL backend from `TESSERA_TEST_POSTGRES_URL`. Panics when it is unset or
    /// empty: a PostgreSQL test that was asked to run must not pass without running.
    pub fn postgres() -> Backend {
        match std::env::var("TESSERA_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Backend::Postgres { url },
            _ => panic!(
                "this PostgreSQL test needs TESSERA_TEST_POSTGRES_URL \
                 (e.g. postgres://postgres@127.0.0.1:5432/test); it is unset"
            ),
        }
    }
}

/// Runs a test body on SQLite (`<name>::sqlite`) and on PostgreSQL (`<name>::postgres`,
/// ignored unless asked for with `--ignored`; see the module header).
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs TESSERA_TEST_POSTGRES_URL"]
            async fn postgres() {
                super::$name($crate::support::Backend::postgres()).await;
            }
        }
    };
}

pub struct TestApp {
    pub base: String,
    pub state: Arc<AppState>,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }
}

/// Settings for a test instance on `backend`, with files under `dir`.
pub async fn test_settings(backend: &Backend, dir: &std::path::Path) -> Settings {
    let mut s = Settings {
        bind: "127.0.0.1:0".into(),
        issuer: String::new(),
        kek: Some(Kek::generate_encoded().unwrap()),
        kek_file: dir.join("kek"),
        key_refresh_interval: Duration::from_millis(200),
        // Cheap hashing keeps the suite fast; the P4 test restores the OWASP parameters.
        argon2_memory_kib: 1024,
        argon2_iterations: 1,
        client_cache_ttl: Duration::from_millis(200),
        // Rate limits are tested on their own (tests/api/ops.rs); the suite sends bursts.
        token_rate_per_ip: 0,
        token_rate_per_client: 0,
        ..Settings::default()
    };
    match backend {
        Backend::Sqlite => {
            s.database_url = format!("sqlite://{}/tessera.db?mode=rwc", dir.display())
        }
        Backend::Postgres { url } => {
            let schema = format!("t_{}", random_suffix());
            let db = Database::connect(url.as_str())
                .await
                .expect("PostgreSQL reachable");
            db.execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .unwrap();
            s.database_url = url.clone();
            s.database_schema = Some(schema);
        }
    }
    s
}

fn random_suffix() -> String {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, |_| {}, Arc::new(SystemClock)).await
}

/// Starts a server with adjusted settings and a given clock.
pub async fn spawn_with(
    backend: Backend,
    adjust: impl FnOnce(&mut Settings),
    clock: SharedClock,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&backend, dir.path()).await;
    adjust(&mut settings);
    start(settings, dir, clock).await
}

pub async fn start(settings: Settings, dir: tempfile::TempDir, clock: SharedClock) -> TestApp {
    let app = App::build(settings, clock).await.expect("server starts");
    let state = app.state().clone();
    let base = state.settings.issuer.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run(async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    TestApp {
        base,
        state,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        dir,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// An HTTP client whose requests leave from `ip` (any 127.x address is loopback), to stand
/// for another source address.
pub fn http_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Alice's password in [`with_alice`].
pub const PW: &str = "correct horse battery";

/// A server with a first-party client (`openid orders:read orders:write`, password and
/// refresh_token grants) and the user `alice` (role `reader`, password [`PW`]); returns the
/// app, the client and alice's `sub`.
pub async fn with_alice(backend: Backend) -> (TestApp, TestClient, String) {
    let app = spawn(backend).await;
    let c = app.app_client("openid orders:read orders:write").await;
    let sub = app.user("alice", PW, &["reader"]).await;
    (app, c, sub)
}

/// A registered client and its secret.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: String,
}

/// Client-authenticated requests, made the same way whether the server runs in this
/// process ([`TestApp`]) or as a child process (`procs::Instance`).
pub(crate) trait ServerHttp {
    fn http(&self) -> &reqwest::Client;
    fn url(&self, path: &str) -> String;

    /// POST to a client-authenticated endpoint with a form.
    async fn post_as(
        &self,
        c: &TestClient,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http()
            .post(self.url(path))
            .basic_auth(&c.id, Some(&c.secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The revocation feed.
    async fn feed(&self, c: &TestClient, since: Option<&str>) -> serde_json::Value {
        let mut url = self.url("/oauth/revocations");
        if let Some(s) = since {
            url = format!("{url}?since={s}");
        }
        let r = self
            .http()
            .get(url)
            .basic_auth(&c.id, Some(&c.secret))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

impl ServerHttp for TestApp {
    fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn url(&self, path: &str) -> String {
        TestApp::url(self, path)
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn client(&self, scopes: &str, audiences: &[&str], alg: Option<Alg>) -> TestClient {
        let new = NewClient {
            name: "test client".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec![scopes.into()],
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
            token_ttl: None,
            alg,
            ..Default::default()
        };
        self.register(new).await
    }

    /// A first-party client allowed password + refresh_token (and client_credentials).
    pub async fn app_client(&self, scopes: &str) -> TestClient {
        let new = NewClient {
            name: "first-party app".into(),
            grant_types: vec![
                "password".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ],
            scopes: vec![scopes.into()],
            audiences: vec!["https://api.internal".into()],
            token_ttl: None,
            alg: None,
            ..Default::default()
        };
        self.register(new).await
    }

    async fn register(&self, new: NewClient) -> TestClient {
        let limits = RegistrationLimits {
            max_token_ttl: Duration::from_secs(86400),
        };
        let c = self.state.ctx.clients.create(new, limits).await.unwrap();
        TestClient {
            id: c.client.client_id,
            secret: c.client_secret,
        }
    }

    /// Creates a user; returns its id (the `sub`).
    pub async fn user(&self, username: &str, password: &str, roles: &[&str]) -> String {
        self.state
            .ctx
            .accounts
            .users()
            .create(tessera::accounts::NewUser {
                username: username.into(),
                password: password.into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                claims: serde_json::json!({"team": "payments"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            })
            .await
            .unwrap()
            .id
    }

    /// Password grant; returns the JSON body (panics unless 200).
    pub async fn login(
        &self,
        c: &TestClient,
        username: &str,
        password: &str,
        scope: &str,
    ) -> serde_json::Value {
        let r = self
            .token_request(
                c,
                &[
                    ("grant_type", "password"),
                    ("username", username),
                    ("password", password),
                    ("scope", scope),
                ],
            )
            .await;
        assert_eq!(r.status(), 200, "login failed");
        r.json().await.unwrap()
    }

    /// Refresh grant: (status, body).
    pub async fn refresh(&self, c: &TestClient, token: &str) -> (u16, serde_json::Value) {
        let r = self
            .token_request(
                c,
                &[("grant_type", "refresh_token"), ("refresh_token", token)],
            )
            .await;
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// Introspection body.
    pub async fn introspect(&self, c: &TestClient, token: &str) -> serde_json::Value {
        let r = self
            .post_as(c, "/oauth/introspect", &[("token", token)])
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        r.json().await.unwrap()
    }

    /// POST /oauth/token with Basic auth and the given form.
    pub async fn token_request(&self, c: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
        self.post_as(c, "/oauth/token", form).await
    }

    /// A client_credentials access token (panics unless 200).
    pub async fn access_token(&self, c: &TestClient) -> String {
        let r = self
            .token_request(c, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    pub async fn jwks(&self) -> serde_json::Value {
        self.http
            .get(self.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Decodes the JSON header of a compact JWS.
pub fn header(token: &str) -> serde_json::Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&B64.decode(h).unwrap()).unwrap()
}

/// Decodes the JSON claims of a compact JWS (no verification).
pub fn claims(token: &str) -> serde_json::Value {
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(p).unwrap()).unwrap()
}

/// Verifies a token with the independent `jsonwebtoken` crate against a JWKS document,
/// checking signature, issuer, audience and expiry.
pub fn verify_independently(
    token: &str,
    jwks: &serde_json::Value,
    issuer: &str,
    audience: &str,
) -> Result<serde_json::Value, String> {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
    let set: JwkSet = serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let h = decode_header(token).map_err(|e| e.to_string())?;
    let kid = h.kid.ok_or("no kid")?;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| format!("kid {kid} not in JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(h.alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
    let data = decode::<serde_json::Value>(token, &key, &v).map_err(|e| e.to_string())?;
    Ok(data.claims)
}

/// A fake clock starting at the real current time (so independent verifiers accept `exp`).
pub fn fake_clock_now() -> FakeClock {
    FakeClock::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    )
}
