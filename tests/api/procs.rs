//! Real `tessera serve` processes sharing one database and one KEK, as several instances
//! behind a load balancer would: the harness for the multi-instance and fault tests.

use std::{
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use tessera::{
    Settings,
    clients::{NewClient, RegistrationLimits},
    clock::SystemClock,
    http::AppState,
    keys::Kek,
};

use crate::support::{Backend, ServerHttp, TestClient, test_settings};

/// The issuer every instance advertises: they stand for one service.
pub const ISSUER: &str = "https://issuer.tessera.test";

pub struct Cluster {
    pub dir: tempfile::TempDir,
    /// The settings the instances run with (database, schema, KEK, cheap hashing).
    pub settings: Settings,
    kek: String,
}

impl Cluster {
    pub async fn new(backend: &Backend) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = test_settings(backend, dir.path()).await;
        let kek = Kek::generate_encoded().unwrap();
        settings.kek = Some(kek.clone());
        settings.issuer = ISSUER.into();
        Cluster { dir, settings, kek }
    }

    /// A `tessera` command against the cluster's database.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_on(&self.settings.database_url, args)
    }

    /// A `tessera` command whose database URL is `url` (e.g. through a proxy).
    pub fn command_on(&self, url: &str, args: &[&str]) -> Command {
        // TESSERA_TEST_BIN: run another build of the binary (e.g. a private copy when
        // several checkouts share one target directory).
        let bin = std::env::var("TESSERA_TEST_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_tessera").to_string());
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env("TESSERA_BIND", "127.0.0.1:0")
            .env("TESSERA_ISSUER", ISSUER)
            .env("TESSERA_KEK", &self.kek)
            .env("TESSERA_DATABASE_URL", url)
            .env("TESSERA_KEY_REFRESH_INTERVAL", "250ms")
            .env("TESSERA_CLIENT_CACHE_TTL", "200ms")
            .env("TESSERA_ARGON2_MEMORY_KIB", "1024")
            .env("TESSERA_ARGON2_ITERATIONS", "1")
            .env("TESSERA_LOG", "info");
        if let Some(s) = &self.settings.database_schema {
            cmd.env("TESSERA_DATABASE_SCHEMA", s);
        }
        cmd
    }

    /// Starts `tessera serve` (named `name` for its log file) and waits until it answers.
    pub async fn serve(&self, name: &str) -> Instance {
        self.serve_with(name, &self.settings.database_url, &[])
            .await
    }

    pub async fn serve_with(&self, name: &str, url: &str, env: &[(&str, &str)]) -> Instance {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let base = format!("http://127.0.0.1:{port}");
        let log = self.dir.path().join(format!("{name}.log"));
        let mut cmd = self.command_on(url, &["serve"]);
        cmd.env("TESSERA_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            ));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let mut inst = Instance {
            child: Some(child),
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            log,
        };
        for _ in 0..600 {
            if let Ok(r) = inst.http.get(inst.url("/healthz")).send().await
                && r.status() == 200
            {
                return inst;
            }
            if let Some(status) = inst.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{name} exited early with {status}: {}", inst.log());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{name} did not become healthy: {}", inst.log());
    }

    /// Library access to the shared database, to register clients and users.
    pub async fn state(&self) -> AppState {
        let db = tessera::storage::connect_and_migrate(&self.settings)
            .await
            .unwrap();
        AppState::new(
            std::sync::Arc::new(self.settings.clone()),
            db,
            std::sync::Arc::new(SystemClock),
            std::sync::Arc::new(tessera::keys::Keyring::new()),
            None,
            tessera::browser_cookies::Sealer::random().unwrap(),
            tessera::dpop::NonceKeys::random(60).unwrap(),
        )
        .unwrap()
    }

    /// A user with the password `correct horse battery`, registered in the shared database.
    pub async fn user(&self, state: &AppState, username: &str) {
        state
            .ctx
            .accounts
            .users()
            .create(tessera::accounts::NewUser {
                username: username.into(),
                password: "correct horse battery".into(),
                roles: vec![],
                claims: Default::default(),
            })
            .await
            .unwrap();
    }

    /// A client allowed every grant used here, registered in the shared database.
    pub async fn app_client(&self, state: &AppState) -> TestClient {
        let new = NewClient {
            name: "fleet app".into(),
            grant_types: vec![
                "password".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ],
            scopes: vec!["read".into()],
            audiences: vec!["https://api.internal".into()],
            ..Default::default()
        };
        let limits = RegistrationLimits {
            max_token_ttl: Duration::from_secs(86400),
        };
        let c = state.ctx.clients.create(new, limits).await.unwrap();
        TestClient {
            id: c.client.client_id,
            secret: c.client_secret,
        }
    }
}

pub struct Instance {
    child: Option<Child>,
    pub base: String,
    pub http: reqwest::Client,
    log: PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl ServerHttp for Instance {
    fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn url(&self, path: &str) -> String {
        Instance::url(self, path)
    }
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// POST /oauth/token: (status, body).
    pub async fn token(&self, c: &TestClient, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let r = self.post_as(c, "/oauth/token", form).await;
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// A client_credentials access token (panics unless 200).
    pub async fn access_token(&self, c: &TestClient) -> String {
        let (status, body) = self.token(c, &[("grant_type", "client_credentials")]).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    pub async fn jwks(&self) -> serde_json::Value {
        self.get_json("/.well-known/jwks.json").await
    }

    /// The kids of the served JWKS, sorted.
    pub async fn kids(&self) -> Vec<String> {
        let mut k: Vec<String> = self.jwks().await["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect();
        k.sort();
        k
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Sends SIGTERM without waiting.
    pub fn sigterm(&self) {
        signal(self.pid(), "-TERM");
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.take().unwrap().wait().unwrap()
    }
}

pub fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// A small xorshift generator for the fault loops, seeded from the clock (the seed is
/// printed so a failure can be replayed with `TESSERA_FAULT_SEED`).
pub struct Rng(u64);

impl Rng {
    pub fn from_env_or_clock() -> Rng {
        let seed = std::env::var("TESSERA_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("fault seed: {seed} (replay with TESSERA_FAULT_SEED={seed})");
        Rng(seed)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}
