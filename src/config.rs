//! Settings: built-in defaults, then `tessera.toml`, then `TESSERA_*` environment variables,
//! then command-line flags.
//!
//! The fields of [`Settings`] are the one table of keys: every key is documented on its
//! field with its default, and everything else (the environment variables read, the typo
//! suggestions, `tessera config` with the source of each value) is derived from them.
//! Unknown keys in the file are rejected so a typo never silently falls back to a default;
//! an unknown `TESSERA_*` variable gets a warning naming the closest key.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

use crate::keys::{
    Alg,
    custody::{CustodySettings, KeyBackend},
    lifecycle::Policy,
};

/// The effective configuration of a Tessera process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address the HTTP server listens on. Default `127.0.0.1:8080`.
    pub bind: String,
    /// Public base URL of this issuer: the exact `iss` of every token and the base of
    /// every URL in discovery. Default: follows `bind`, `http://<bind>` (`https` with
    /// `tls_cert_file`; an unspecified address such as `0.0.0.0` becomes `127.0.0.1`). Set
    /// it to the URL clients and verifiers use (e.g. `https://auth.example.com`); it must
    /// match exactly.
    pub issuer: String,
    /// sea-orm database URL. Default `sqlite://data/tessera.db?mode=rwc` (the directory
    /// is created). `postgres://user@host/db` to share state between instances.
    pub database_url: String,
    /// PostgreSQL schema to use (sets `search_path`). Default: none (the server's default,
    /// usually `public`).
    pub database_schema: Option<String>,
    /// Maximum number of pooled database connections. Default: 10 for PostgreSQL, 1 for
    /// SQLite (see [`Settings::pool_size`]).
    pub database_max_connections: Option<u32>,
    /// Longest wait for a pooled database connection (including connecting) before a
    /// request fails with 503 `temporarily_unavailable`. Default 500ms, so clients get an
    /// answer within a second when the database is unreachable.
    #[serde(with = "humantime_serde_compat")]
    pub database_acquire_timeout: Duration,
    /// Key-encryption key(s) sealing the private signing keys at rest: base64 of 32 bytes,
    /// several separated by commas (the first seals, all unseal: KEK rotation). Default:
    /// unset, then `kek_file` is used.
    pub kek: Option<String>,
    /// File holding the key-encryption key when `kek` is unset; created with mode 0600
    /// on first run (only while the database holds no keys). Default `keys/kek`.
    pub kek_file: PathBuf,
    /// Signing algorithm for clients that do not choose one: `ES256` or `RS256`. Default `ES256`.
    pub default_alg: Alg,
    /// RSA modulus size for new RS256 keys: 2048, 3072 or 4096. Default 2048.
    pub rsa_bits: u32,
    /// How long a key signs before the next one takes over. Default `7d`.
    #[serde(with = "humantime_serde_compat")]
    pub rotation_interval: Duration,
    /// How long a new key is published in the JWKS before it signs. The effective value is
    /// at least `max(jwks_max_age, 10m)` because common verifiers cache a JWKS for 10 minutes
    /// whatever the header says. Default `10m`.
    #[serde(with = "humantime_serde_compat")]
    pub key_prepublish: Duration,
    /// `Cache-Control: max-age` of the JWKS and discovery documents, in seconds. Default 300.
    pub jwks_max_age: u64,
    /// How often each instance re-reads the key table (picking up CLI rotations, revocations
    /// and other instances' keys) and runs the rotation schedule. Default `2s`.
    #[serde(with = "humantime_serde_compat")]
    pub key_refresh_interval: Duration,
    /// Where new signing keys are created: `local` (sealed with the KEK in the database),
    /// `pkcs11` (inside an HSM token, `docs/hsm.md`) or `aws-kms` (inside AWS KMS, only in
    /// a build with the cargo feature `aws-kms`, `docs/kms.md`). Stored keys keep the backend that
    /// made them, so switching is a rotation. Default `local`.
    pub key_backend: KeyBackend,
    /// Path of the PKCS#11 module (shared library) of the HSM, e.g.
    /// `/usr/lib/softhsm/libsofthsm2.so`. Required with `key_backend = pkcs11`. Default: unset.
    pub pkcs11_module: Option<PathBuf>,
    /// Label of the PKCS#11 token holding the keys (or set `pkcs11_slot`). Default: unset.
    pub pkcs11_token_label: Option<String>,
    /// Slot id of the PKCS#11 token; takes precedence over `pkcs11_token_label`. Default: unset.
    pub pkcs11_slot: Option<u64>,
    /// User PIN of the PKCS#11 token, normally given as `TESSERA_PKCS11_PIN`; masked in
    /// `tessera config` and never logged. Default: unset (then `pkcs11_pin_file`).
    pub pkcs11_pin: Option<String>,
    /// File holding the PKCS#11 user PIN when `pkcs11_pin` is unset; refused unless only
    /// its owner can read it (mode 0600 or 0400). Default: unset.
    pub pkcs11_pin_file: Option<PathBuf>,
    /// Idle PKCS#11 sessions kept open for signing (more are opened under load and closed
    /// when returned beyond this number). Default 8.
    pub pkcs11_sessions: u32,
    /// AWS region of the KMS keys (`key_backend = aws-kms`, feature `aws-kms`), e.g.
    /// `eu-west-1`. Required with `aws-kms`. Credentials come from the standard
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` variables, never
    /// from a setting. Default: unset.
    pub aws_kms_region: Option<String>,
    /// KMS endpoint URL, for a VPC or FIPS endpoint or an emulator (moto); without it
    /// `https://kms.<region>.amazonaws.com/`. Default: unset.
    pub aws_kms_endpoint_url: Option<String>,
    /// Deadline of each KMS request (a signature waits at most this long before the token
    /// request gets 503 `temporarily_unavailable`). Default `2s`.
    #[serde(with = "humantime_serde_compat")]
    pub aws_kms_timeout: Duration,
    /// Access-token lifetime for clients that do not set one. Default `15m`.
    #[serde(with = "humantime_serde_compat")]
    pub access_token_ttl: Duration,
    /// Upper bound of any access-token lifetime; a retired key stays published this long
    /// (plus `clock_leeway`) after its last signature. Default `24h`.
    #[serde(with = "humantime_serde_compat")]
    pub max_access_token_ttl: Duration,
    /// Clock skew tolerated by verifiers; added to how long retired keys stay published.
    /// Default `60s`.
    #[serde(with = "humantime_serde_compat")]
    pub clock_leeway: Duration,
    /// How long a client registration is cached in memory; CLI changes to clients reach a
    /// running server within this time. Default `5s`.
    #[serde(with = "humantime_serde_compat")]
    pub client_cache_ttl: Duration,
    /// Idle lifetime of a refresh token: unused this long, it expires. Default `7d`.
    #[serde(with = "humantime_serde_compat")]
    pub refresh_idle_ttl: Duration,
    /// Absolute lifetime of a refresh-token family (one login). Default `30d`.
    #[serde(with = "humantime_serde_compat")]
    pub refresh_max_ttl: Duration,
    /// argon2id memory cost in KiB (OWASP: 19456). Default 19456.
    pub argon2_memory_kib: u32,
    /// argon2id iterations (OWASP: 2). Default 2.
    pub argon2_iterations: u32,
    /// argon2id lanes (OWASP: 1). Default 1.
    pub argon2_parallelism: u32,
    /// Password hashes computed at once, on blocking threads (never on the async workers).
    /// Default 0 = half the CPUs, at least 1.
    pub password_hash_concurrency: usize,
    /// Failed password logins allowed per username and client IP within `login_failure_window`
    /// before 429. Default 5.
    pub login_max_failures_per_user_ip: u32,
    /// Failed logins allowed per username from all IPs within the window (distributed
    /// guessing); high enough that one attacker cannot lock the real user out. Default 100.
    pub login_max_failures_per_user: u32,
    /// Failed logins allowed per client IP within the window (password spraying). Default 30.
    pub login_max_failures_per_ip: u32,
    /// Window of the failure counters; also the longest a throttle lasts. Default `5m`.
    #[serde(with = "humantime_serde_compat")]
    pub login_failure_window: Duration,
    // --- Browser sign-in (authorization code flow) ---
    /// Mark the session and login cookies `Secure` (sent over HTTPS only). Default `true`;
    /// set `false` only for local development over plain http.
    pub session_cookie_secure: bool,
    /// Idle lifetime of a browser session: unused this long, the user signs in again.
    /// Default `1h`.
    #[serde(with = "humantime_serde_compat")]
    pub session_idle_ttl: Duration,
    /// Absolute lifetime of a browser session (single sign-on) from the moment the user
    /// typed their password. Default `12h`.
    #[serde(with = "humantime_serde_compat")]
    pub session_max_ttl: Duration,
    /// How long a login page may be submitted after it was shown (its CSRF state lives
    /// this long). Default `10m`.
    #[serde(with = "humantime_serde_compat")]
    pub login_form_ttl: Duration,
    /// Largest accepted form body on the OAuth endpoints, in bytes. Default 16384.
    pub max_form_bytes: usize,
    /// The role a user needs to use the admin console at `/console` (`docs/console.md`);
    /// signed-in users without it get a 403 page. Default `tessera-admin`.
    pub console_admin_role: String,
    // --- Limits ---
    /// Token-endpoint requests per second per client IP, before any work (0 = no limit).
    /// Behind a load balancer every request has its address: raise it or set 0. Default 200.
    pub token_rate_per_ip: u32,
    /// Burst allowed above `token_rate_per_ip`. Default 400.
    pub token_rate_per_ip_burst: u32,
    /// Token-endpoint requests per second per authenticated client (0 = no limit).
    /// Default 1000.
    pub token_rate_per_client: u32,
    /// Burst allowed above `token_rate_per_client`. Default 2000.
    pub token_rate_per_client_burst: u32,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded: for=` name the client IP
    /// (rate limits, login throttle), comma-separated addresses or CIDRs such as
    /// `10.0.0.0/8`. From any other peer these headers are ignored. Default: empty = the
    /// TCP peer is the client.
    pub trusted_proxies: String,
    /// A connection with no bytes read or written for this long is closed (idle keep-alive
    /// connections, stalled clients). Default `30s`.
    #[serde(with = "humantime_serde_compat")]
    pub idle_timeout: Duration,
    /// Once a client starts sending a request, how long it may take before it must also
    /// keep up `min_body_rate` (request heads and bodies trickled byte by byte are closed;
    /// see `src/http/conn_limit.rs`). Default `10s`.
    #[serde(with = "humantime_serde_compat")]
    pub request_head_timeout: Duration,
    /// Bytes per second a client must average while sending a request that takes longer
    /// than `request_head_timeout` (measured over windows of that length). 0 = off.
    /// Default 1024.
    pub min_body_rate: u64,
    /// Connections one client IP may hold open at once; more are refused at accept, so a
    /// slow client (slowloris) cannot exhaust the server. Default 256.
    pub max_connections_per_ip: usize,
    /// Serve Prometheus metrics at `/metrics`. Default `true`.
    pub metrics: bool,
    /// When set, `/metrics` requires `Authorization: Bearer <metrics_token>`. Secret.
    /// Default: unset = open.
    pub metrics_token: Option<String>,
    /// Label `tessera_tokens_issued_total` with `client_id` (one series per client).
    /// Default `false`: series per grant and algorithm only.
    pub metrics_client_label: bool,
    /// Number of async worker threads. Default 0 = one per CPU.
    pub workers: usize,
    // --- Transport (src/http/tls.rs, src/http/cors.rs) ---
    /// PEM certificate chain (leaf first) to serve HTTPS with rustls; set together with
    /// `tls_key_file`. Default: unset = plain HTTP (e.g. behind a TLS-terminating proxy).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert_file`. Default: unset.
    pub tls_key_file: Option<PathBuf>,
    /// Browser origins allowed to call the API cross-origin (CORS), comma-separated, each
    /// exactly `scheme://host[:port]`, e.g. `https://app.example.com`. Only GET and POST with
    /// `Authorization`/`Content-Type`, no credentials. Default: empty = no CORS headers.
    pub cors_allowed_origins: String,
    // --- DPoP (RFC 9449; docs/dpop.md) and replay records (src/replay.rs) ---
    /// How old a DPoP proof may be: its `iat` must lie within this (plus `clock_leeway`)
    /// before now, and at most `clock_leeway` after. Its `jti` is remembered this long.
    /// Default `60s`.
    #[serde(with = "humantime_serde_compat")]
    pub dpop_proof_max_age: Duration,
    /// Server nonces in DPoP proofs (§8): `off` (only clients registered with
    /// `dpop_nonce_required` need one) or `required` (every DPoP proof, at the token endpoint
    /// and at `/userinfo`). Default `off`.
    pub dpop_nonce: DpopNonceMode,
    /// How often the server nonce changes; the current and the previous one are accepted,
    /// so a nonce lives between one and two intervals. Default `5m`.
    #[serde(with = "humantime_serde_compat")]
    pub dpop_nonce_rotation: Duration,
    /// Most replay records (DPoP proof `jti`s) written by one database statement: the
    /// writer takes every record waiting, up to this many (group commit). Default 256.
    pub replay_batch_max: usize,
    /// Most replay records waiting for the writer; further requests wait for room.
    /// Default 8192.
    pub replay_queue_max: usize,
    /// Recent replay records remembered in memory per instance, so a replay on the same
    /// instance is refused without a database round trip. Default 100000.
    pub replay_recent_capacity: usize,
    /// Expired replay records deleted per statement by the periodic clean-up (short
    /// transactions: SQLite's writer is never held long). Default 1000.
    pub replay_purge_batch: u64,
    // --- Token exchange (RFC 8693; docs/token-exchange.md) ---
    /// Longest lifetime of a token issued by token exchange; it is also never longer than
    /// the subject token's remaining lifetime nor the exchanging client's token lifetime.
    /// Default `5m`.
    #[serde(with = "humantime_serde_compat")]
    pub token_exchange_max_ttl: Duration,
    /// Most actors in a delegation chain: the nesting depth of the `act` claim of an
    /// exchanged token (1 = a token may be exchanged once, not re-exchanged). Default 3.
    pub token_exchange_max_depth: u32,
    // --- Device authorization grant (RFC 8628; docs/device.md) ---
    /// How long a device code and its user code can be used. Default `10m`.
    #[serde(with = "humantime_serde_compat")]
    pub device_code_ttl: Duration,
    /// Seconds a device waits between polls of the token endpoint (`interval`); polling
    /// faster gets `slow_down` and 5 more seconds. Default 5.
    pub device_poll_interval: u64,
    /// Wrong user codes one browser session may enter within `login_failure_window` before
    /// the verification page answers 429. Default 5.
    pub device_max_failures_per_session: u32,
    /// Wrong user codes one client IP may enter within `login_failure_window`. Default 20.
    pub device_max_failures_per_ip: u32,
    // --- private_key_jwt (RFC 7523; docs/private-key-jwt.md) ---
    /// How far ahead of now a client assertion's `exp` may be (RFC 7523 §3: the server may
    /// bound it); its `jti` is remembered until `exp`. Default `5m`.
    #[serde(with = "humantime_serde_compat")]
    pub client_assertion_max_lifetime: Duration,
    /// Compatibility: also accept a client assertion whose `aud` is the token endpoint URL
    /// (`{issuer}/oauth/token`), as older clients such as Authlib send, instead of the issuer
    /// identifier alone (draft-ietf-oauth-rfc7523bis). Default `false`.
    pub client_assertion_accept_token_endpoint_audience: bool,
    // --- Remote key sets: client jwks_uri, federated issuers (src/remote_jwks) ---
    /// Whole-request timeout (connection included) of a remote JWKS, discovery or SPIFFE
    /// bundle fetch. Default `5s`.
    #[serde(with = "humantime_serde_compat")]
    pub remote_jwks_timeout: Duration,
    /// Largest remote JWKS, discovery or bundle document read, in bytes (the fetch fails
    /// beyond). Default 65536.
    pub remote_jwks_max_bytes: usize,
    /// Least time a fetched key set is used before it is fetched again, whatever its
    /// `Cache-Control` says. Default `30s`.
    #[serde(with = "humantime_serde_compat")]
    pub remote_jwks_min_cache: Duration,
    /// Longest time a fetched key set is used before it is fetched again (`Cache-Control:
    /// max-age` or a SPIFFE `spiffe_refresh_hint` is clamped to this). Default `1h`.
    #[serde(with = "humantime_serde_compat")]
    pub remote_jwks_max_cache: Duration,
    /// How long past its freshness a key set still verifies while its source is
    /// unreachable; after that, requests needing it get 503 `temporarily_unavailable`.
    /// Default `1h`.
    #[serde(with = "humantime_serde_compat")]
    pub remote_jwks_max_stale: Duration,
    /// Least time between two fetches of one key set forced by an unknown `kid` or a
    /// failed refresh. Default `30s`.
    #[serde(with = "humantime_serde_compat")]
    pub remote_jwks_refetch_cooldown: Duration,
    /// Development only: let remote key sets be fetched from loopback addresses, over plain
    /// `http://` when the host is written `127.0.0.1`, `[::1]` or `localhost`. Default false
    /// (https only, loopback refused).
    pub remote_jwks_allow_loopback: bool,
    /// Comma-separated networks (`10.0.0.0/8`, `fd12::/16`, single addresses) that remote
    /// key sets may be fetched from although they are not public addresses (an internal
    /// issuer). Default empty: only public unicast addresses; private, loopback,
    /// link-local, CGNAT, ULA and metadata addresses are refused at connection time.
    pub remote_jwks_allowed_networks: String,
    /// Log filter in `tracing` syntax, e.g. `info` or `tessera=debug`. Default `info`.
    pub log: String,
    /// Log format: `text` or `json`. Default `text`.
    pub log_format: LogFormat,
}

/// The `dpop_nonce` setting.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DpopNonceMode {
    /// Nonces only for clients registered with `dpop_nonce_required`.
    Off,
    /// Every DPoP proof must carry a current server nonce.
    Required,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            issuer: "http://127.0.0.1:8080".into(),
            database_url: "sqlite://data/tessera.db?mode=rwc".into(),
            database_schema: None,
            database_max_connections: None,
            database_acquire_timeout: Duration::from_millis(500),
            kek: None,
            kek_file: PathBuf::from("keys/kek"),
            default_alg: Alg::ES256,
            rsa_bits: 2048,
            rotation_interval: Duration::from_secs(7 * 24 * 3600),
            key_prepublish: Duration::from_secs(600),
            jwks_max_age: 300,
            key_refresh_interval: Duration::from_secs(2),
            key_backend: KeyBackend::Local,
            pkcs11_module: None,
            pkcs11_token_label: None,
            pkcs11_slot: None,
            pkcs11_pin: None,
            pkcs11_pin_file: None,
            pkcs11_sessions: 8,
            aws_kms_region: None,
            aws_kms_endpoint_url: None,
            aws_kms_timeout: Duration::from_secs(2),
            access_token_ttl: Duration::from_secs(15 * 60),
            max_access_token_ttl: Duration::from_secs(24 * 3600),
            clock_leeway: Duration::from_secs(60),
            client_cache_ttl: Duration::from_secs(5),
            refresh_idle_ttl: Duration::from_secs(7 * 24 * 3600),
            refresh_max_ttl: Duration::from_secs(30 * 24 * 3600),
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            password_hash_concurrency: 0,
            login_max_failures_per_user_ip: 5,
            login_max_failures_per_user: 100,
            login_max_failures_per_ip: 30,
            login_failure_window: Duration::from_secs(300),
            token_rate_per_ip: 200,
            token_rate_per_ip_burst: 400,
            token_rate_per_client: 1000,
            token_rate_per_client_burst: 2000,
            trusted_proxies: String::new(),
            idle_timeout: Duration::from_secs(30),
            request_head_timeout: Duration::from_secs(10),
            min_body_rate: 1024,
            max_connections_per_ip: 256,
            metrics: true,
            metrics_token: None,
            metrics_client_label: false,
            session_cookie_secure: true,
            session_idle_ttl: Duration::from_secs(3600),
            session_max_ttl: Duration::from_secs(12 * 3600),
            login_form_ttl: Duration::from_secs(600),
            max_form_bytes: 16 * 1024,
            console_admin_role: "tessera-admin".into(),
            workers: 0,
            tls_cert_file: None,
            tls_key_file: None,
            cors_allowed_origins: String::new(),
            dpop_proof_max_age: Duration::from_secs(60),
            dpop_nonce: DpopNonceMode::Off,
            dpop_nonce_rotation: Duration::from_secs(300),
            replay_batch_max: 256,
            replay_queue_max: 8192,
            replay_recent_capacity: 100_000,
            replay_purge_batch: 1000,
            token_exchange_max_ttl: Duration::from_secs(300),
            token_exchange_max_depth: 3,
            device_code_ttl: Duration::from_secs(600),
            device_poll_interval: 5,
            device_max_failures_per_session: 5,
            device_max_failures_per_ip: 20,
            client_assertion_max_lifetime: Duration::from_secs(300),
            client_assertion_accept_token_endpoint_audience: false,
            remote_jwks_timeout: Duration::from_secs(5),
            remote_jwks_max_bytes: 64 * 1024,
            remote_jwks_min_cache: Duration::from_secs(30),
            remote_jwks_max_cache: Duration::from_secs(3600),
            remote_jwks_max_stale: Duration::from_secs(3600),
            remote_jwks_refetch_cooldown: Duration::from_secs(30),
            remote_jwks_allow_loopback: false,
            remote_jwks_allowed_networks: String::new(),
            log: "info".into(),
            log_format: LogFormat::Text,
        }
    }
}

/// Text settings whose environment variables are taken exactly as given: figment parses an
/// environment value that looks like a number as one, so `0042` would become `42` (a PIN or
/// a token label is often digits with leading zeros; a schema name may be digits).
const VERBATIM_ENV: &[&str] = &["pkcs11_pin", "pkcs11_token_label", "database_schema"];

/// Environment variables starting with `TESSERA_` that are not settings (lowercase, without
/// the prefix): no "not a setting" warning for them.
const NON_SETTING_ENV: &[&str] = &[
    // Read by the command line itself.
    "config",
    "verify_client_id",
    "verify_client_secret",
    "dev_client_secret",
    // Knobs of the tests, benchmarks and CI scripts (inherited by the processes they start).
    "advisory_db",
    "bin",
    "build_profile",
    "ci_tools",
    "fault_seed",
    "kill_loop",
    "port",
    "test_bin",
    "test_postgres_url",
    "update_openapi",
];

/// Where the effective value of a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default (or, for `issuer`, derived from `bind`).
    Default,
    /// The configuration file at this path.
    File(PathBuf),
    /// This environment variable.
    Env(String),
    /// A command-line flag.
    Flag,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file ({})", absolute(p).display()),
            Source::Env(v) => write!(f, "env ({v})"),
            Source::Flag => f.write_str("flag"),
        }
    }
}

/// Settings as loaded, with where each value came from and what deserves a warning.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    /// The source of every key (every field of [`Settings`]).
    pub sources: BTreeMap<String, Source>,
    /// Things the operator should know (unknown `TESSERA_*` variables...), one line each.
    pub warnings: Vec<String>,
}

impl Loaded {
    /// Whether `key` was set by the operator (file, environment or flag).
    pub fn is_explicit(&self, key: &str) -> bool {
        self.sources.get(key).is_some_and(|s| *s != Source::Default)
    }
}

/// The names of all settings (the fields of [`Settings`]).
pub fn keys() -> Vec<String> {
    match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => vec![],
    }
}

impl Settings {
    /// Loads defaults, then the TOML file (if `path` is given it must exist; otherwise
    /// `tessera.toml` is read when present), then `TESSERA_*` variables.
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        Self::load_with(path, &[]).map(|l| l.settings)
    }

    /// As [`Settings::load`], then `flags` (key, value) on top, keeping where each value
    /// came from. An `issuer` not set explicitly follows `bind` ([`derived_issuer`]).
    pub fn load_with(path: Option<&Path>, flags: &[(&str, String)]) -> Result<Loaded, String> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match path {
            Some(p) => {
                if !p.exists() {
                    return Err(format!("configuration file {} does not exist", p.display()));
                }
                figment = figment.merge(Toml::file_exact(p));
            }
            None => figment = figment.merge(Toml::file("tessera.toml")),
        }
        // Only variables naming a setting are read: other TESSERA_* variables (scripts,
        // deployment tooling) are not configuration, but get a warning unless listed in
        // NON_SETTING_ENV, so that a typo does not go unnoticed.
        let known = keys();
        let known_for_filter = known.clone();
        figment = figment.merge(Env::prefixed("TESSERA_").ignore(NON_SETTING_ENV).filter(
            move |k| {
                // Read verbatim below (VERBATIM_ENV).
                !VERBATIM_ENV
                    .iter()
                    .any(|v| k.as_str().eq_ignore_ascii_case(v))
                    && known_for_filter
                        .iter()
                        .any(|n| k.as_str().eq_ignore_ascii_case(n))
            },
        ));
        let verbatim: Vec<(&str, String)> = VERBATIM_ENV
            .iter()
            .filter_map(|key| {
                let value = std::env::var(format!("TESSERA_{}", key.to_uppercase())).ok()?;
                Some((*key, value))
            })
            .collect();
        for (key, value) in &verbatim {
            figment = figment.merge(Serialized::default(key, value));
        }
        for (k, v) in flags {
            figment = figment.merge(Serialized::default(k, v));
        }
        let mut settings: Settings = figment.extract().map_err(|e| e.to_string())?;
        let mut sources = BTreeMap::new();
        for key in &known {
            let source = if flags.iter().any(|(k, _)| k == key) {
                Source::Flag
            } else {
                match figment.find_metadata(key) {
                    Some(m) => match &m.source {
                        Some(figment::Source::File(p)) => Source::File(p.clone()),
                        _ if m.name.contains("environment") => {
                            Source::Env(format!("TESSERA_{}", key.to_ascii_uppercase()))
                        }
                        _ => Source::Default,
                    },
                    None => Source::Default,
                }
            };
            sources.insert(key.clone(), source);
        }
        for (key, _) in &verbatim {
            if !flags.iter().any(|(k, _)| k == key) {
                sources.insert(
                    key.to_string(),
                    Source::Env(format!("TESSERA_{}", key.to_uppercase())),
                );
            }
        }
        if sources.get("issuer") == Some(&Source::Default) {
            settings.issuer = derived_issuer(&settings.bind, settings.tls_cert_file.is_some());
        }
        settings.validate()?;
        let warnings = unknown_env_warnings(
            std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()),
            &known,
        );
        Ok(Loaded {
            settings,
            sources,
            warnings,
        })
    }

    /// Checks values that types alone cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.rsa_bits, 2048 | 3072 | 4096) {
            return Err(format!(
                "rsa_bits must be 2048, 3072 or 4096 (got {})",
                self.rsa_bits
            ));
        }
        if self.database_max_connections == Some(0) {
            return Err("database_max_connections must be at least 1".into());
        }
        if self.database_acquire_timeout.is_zero() {
            return Err("database_acquire_timeout must be greater than zero".into());
        }
        if self.issuer.is_empty() {
            // Allowed only until the server binds (App::build derives it from the address).
            return Err("issuer must be set (the public URL of this server)".into());
        }
        if self.issuer.ends_with('/') {
            return Err("issuer must not end with '/'".into());
        }
        if !(self.issuer.starts_with("https://") || self.issuer.starts_with("http://")) {
            return Err("issuer must be an http(s) URL".into());
        }
        if self.access_token_ttl > self.max_access_token_ttl {
            return Err("access_token_ttl must not exceed max_access_token_ttl".into());
        }
        if self.rotation_interval < Duration::from_secs(60) {
            return Err("rotation_interval must be at least 60s".into());
        }
        if self.console_admin_role.trim().is_empty()
            || self.console_admin_role.chars().any(char::is_whitespace)
        {
            return Err("console_admin_role must be one role name (no spaces)".into());
        }
        if self.session_idle_ttl.is_zero() || self.session_max_ttl.is_zero() {
            return Err("session_idle_ttl and session_max_ttl must be positive".into());
        }
        if self.login_form_ttl < Duration::from_secs(60) {
            return Err("login_form_ttl must be at least 60s".into());
        }
        if self.key_refresh_interval.is_zero() {
            return Err("key_refresh_interval must be positive".into());
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err("tls_cert_file and tls_key_file must be set together".into());
        }
        if self.dpop_proof_max_age.is_zero() || self.dpop_proof_max_age > Duration::from_secs(3600)
        {
            return Err("dpop_proof_max_age must be between 1s and 1h".into());
        }
        if self.client_assertion_max_lifetime.is_zero()
            || self.client_assertion_max_lifetime > Duration::from_secs(3600)
        {
            return Err("client_assertion_max_lifetime must be between 1s and 1h".into());
        }
        if self.dpop_nonce_rotation < Duration::from_secs(10) {
            return Err("dpop_nonce_rotation must be at least 10s".into());
        }
        if !(1..=1000).contains(&self.replay_batch_max) {
            return Err("replay_batch_max must be between 1 and 1000".into());
        }
        if self.replay_queue_max == 0
            || self.replay_recent_capacity == 0
            || self.replay_purge_batch == 0
        {
            return Err(
                "replay_queue_max, replay_recent_capacity and replay_purge_batch must be positive"
                    .into(),
            );
        }
        if self.device_code_ttl < Duration::from_secs(60) || self.device_poll_interval == 0 {
            return Err(
                "device_code_ttl must be at least 60s and device_poll_interval positive".into(),
            );
        }
        if self.token_exchange_max_ttl.is_zero() {
            return Err("token_exchange_max_ttl must be positive".into());
        }
        if !(1..=16).contains(&self.token_exchange_max_depth) {
            // The depth bounds the size of `act` in every exchanged token (and the work of
            // verifiers walking it): 16 nested actors is already far beyond any real chain.
            return Err("token_exchange_max_depth must be between 1 and 16".into());
        }
        parse_origins(&self.cors_allowed_origins)?;
        crate::ip_net::parse_list(&self.trusted_proxies)?;
        crate::ip_net::parse_list(&self.remote_jwks_allowed_networks)
            .map_err(|e| e.replace("trusted_proxies", "remote_jwks_allowed_networks"))?;
        if self.remote_jwks_max_bytes == 0 || self.remote_jwks_timeout.is_zero() {
            return Err("remote_jwks_max_bytes and remote_jwks_timeout must be positive".into());
        }
        if self.remote_jwks_min_cache > self.remote_jwks_max_cache {
            return Err("remote_jwks_min_cache must not exceed remote_jwks_max_cache".into());
        }
        Ok(())
    }

    /// The key lifecycle's timings: rotation interval, pre-publication, and how long a
    /// key stays published after it stops signing (the longest token lifetime + leeway).
    pub fn key_policy(&self) -> Policy {
        Policy {
            rotation_interval: self.rotation_interval.as_secs() as i64,
            prepublish: self.effective_prepublish().as_secs() as i64,
            retention: (self.max_access_token_ttl + self.clock_leeway).as_secs() as i64,
        }
    }

    /// Pre-publication time actually applied: never below `max(jwks_max_age, 10m)`.
    pub fn effective_prepublish(&self) -> Duration {
        self.key_prepublish
            .max(Duration::from_secs(self.jwks_max_age))
            .max(Duration::from_secs(600))
    }

    /// The connection pool size: `database_max_connections`, else 10 for PostgreSQL and 1
    /// for SQLite. SQLite has one writer at a time; with several pooled connections,
    /// concurrent write transactions wait for the lock in SQLite's busy handler, which
    /// sleeps in steps of milliseconds (refresh grant p99 0.5 s with 2 connections, 30 ms
    /// with 1, at higher throughput: bench/analysis.md). One connection queues them in
    /// memory instead; reads are microseconds, so they lose nothing by taking turns.
    pub fn pool_size(&self) -> u32 {
        self.database_max_connections
            .unwrap_or(if self.uses_sqlite() { 1 } else { 10 })
    }

    /// Whether `database_url` names an SQLite database (file or memory).
    pub fn uses_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// The configuration as TOML with secrets masked.
    pub fn to_masked_toml(&self) -> String {
        let mut out = String::new();
        for (k, v) in self.masked_values() {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out
    }

    /// The key-custody settings (`key_backend`, `pkcs11_*`) for `keys::Custody::open`.
    pub fn custody(&self) -> CustodySettings {
        CustodySettings {
            key_backend: self.key_backend,
            pkcs11_module: self.pkcs11_module.clone(),
            pkcs11_token_label: self.pkcs11_token_label.clone(),
            pkcs11_slot: self.pkcs11_slot,
            pkcs11_pin: self.pkcs11_pin.clone(),
            pkcs11_pin_file: self.pkcs11_pin_file.clone(),
            pkcs11_sessions: self.pkcs11_sessions,
            aws_kms_region: self.aws_kms_region.clone(),
            aws_kms_endpoint_url: self.aws_kms_endpoint_url.clone(),
            aws_kms_timeout: self.aws_kms_timeout,
        }
    }

    /// Every set key with its value as `tessera config` shows it: secrets masked, the pool
    /// size resolved, the SQLite file and other paths absolute; unset optional keys omitted.
    pub fn masked_values(&self) -> Vec<(String, serde_json::Value)> {
        let mut copy = self.clone();
        if copy.kek.is_some() {
            copy.kek = Some("********".into());
        }
        if copy.metrics_token.is_some() {
            copy.metrics_token = Some("********".into());
        }
        if copy.pkcs11_pin.is_some() {
            copy.pkcs11_pin = Some("********".into());
        }
        copy.pkcs11_pin_file = copy.pkcs11_pin_file.as_deref().map(absolute);
        copy.database_url = absolute_sqlite_url(&mask_url_password(&copy.database_url));
        // The effective pool size, not "unset": it depends on the database.
        copy.database_max_connections = Some(self.pool_size());
        copy.kek_file = absolute(&copy.kek_file);
        copy.tls_cert_file = copy.tls_cert_file.as_deref().map(absolute);
        copy.tls_key_file = copy.tls_key_file.as_deref().map(absolute);
        match serde_json::to_value(&copy) {
            Ok(serde_json::Value::Object(map)) => {
                map.into_iter().filter(|(_, v)| !v.is_null()).collect()
            }
            _ => vec![],
        }
    }

    /// Where the database is, for messages: the absolute SQLite file, or the URL (password
    /// masked) and schema.
    pub fn database_location(&self) -> String {
        match sqlite_path(&self.database_url) {
            Some(p) => absolute(Path::new(p)).display().to_string(),
            None => {
                let url = mask_url_password(&self.database_url);
                match &self.database_schema {
                    Some(s) => format!("{url} (schema {s})"),
                    None => url,
                }
            }
        }
    }
}

/// The issuer a server binding `bind` has when `issuer` is not set: `http://<bind>`
/// (`https` with TLS), an unspecified address (`0.0.0.0`, `[::]`) replaced by loopback.
pub fn derived_issuer(bind: &str, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let host_port = if let Some(port) = bind.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = bind.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        bind.to_string()
    };
    format!("{scheme}://{host_port}")
}

/// One warning per `TESSERA_*` variable in `names` that is neither a setting nor a known
/// non-setting, naming the closest setting when one is close.
pub fn unknown_env_warnings(names: impl Iterator<Item = String>, known: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for name in names {
        let Some(rest) = name
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("TESSERA_"))
            .map(|_| name[8..].to_ascii_lowercase())
        else {
            continue;
        };
        if known.contains(&rest) || NON_SETTING_ENV.contains(&rest.as_str()) {
            continue;
        }
        // Distance to the whole key, or (one more) to a tail of it after an underscore,
        // so that `TOKN_TTL` finds `ACCESS_TOKEN_TTL`.
        let score = |k: &str| {
            let tails = k
                .match_indices('_')
                .map(|(i, _)| strsim::levenshtein(&k[i + 1..], &rest) + 1);
            tails.fold(strsim::levenshtein(k, &rest), usize::min)
        };
        let closest = known
            .iter()
            .map(|k| (score(k), k))
            .min()
            .filter(|(d, _)| *d <= 2.max(rest.len() / 3));
        out.push(match closest {
            Some((_, k)) => format!(
                "{name} is not a setting; did you mean TESSERA_{}?",
                k.to_ascii_uppercase()
            ),
            None => format!("{name} is not a setting (`tessera config` lists them)"),
        });
    }
    out.sort();
    out
}

/// `path` made absolute against the current directory (unchanged if that fails).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A duration as accepted everywhere: a bare number of seconds (`15`), or `15s`, `10m`,
/// `1h`, `7d` and other humantime forms (`1h 30m`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| format!("{s:?}: {e}"));
    }
    humantime::parse_duration(s).map_err(|e| {
        format!("{s:?} is not a duration ({e}); write seconds (15) or 15s, 10m, 1h, 7d")
    })
}

/// The file of an SQLite URL (`sqlite://data/t.db?mode=rwc` → `data/t.db`); `None` for
/// in-memory databases and other backends.
pub fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path)
    }
}

/// An SQLite URL with its file made absolute; other URLs unchanged.
fn absolute_sqlite_url(url: &str) -> String {
    match sqlite_path(url) {
        Some(p) => {
            let query = url.split_once('?').map(|(_, q)| format!("?{q}"));
            format!(
                "sqlite://{}{}",
                absolute(Path::new(p)).display(),
                query.unwrap_or_default()
            )
        }
        None => url.to_string(),
    }
}

fn mask_url_password(url: &str) -> String {
    // scheme://user:password@host → scheme://user:********@host
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((creds, host)) = rest.split_once('@')
        && let Some((user, _)) = creds.split_once(':')
    {
        return format!("{scheme}://{user}:********@{host}");
    }
    url.to_string()
}

/// Durations written as `15m`, `7d`, `90s` (humantime), or as a number of seconds.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) => super::parse_duration(&t).map_err(D::Error::custom),
        }
    }
}

/// The origins of `cors_allowed_origins` (comma-separated), each checked to be a bare
/// `scheme://host[:port]` as browsers send it in `Origin`.
pub fn parse_origins(list: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let url = url::Url::parse(raw)
            .map_err(|e| format!("cors_allowed_origins: {raw:?} is not an origin: {e}"))?;
        let origin = url.origin().ascii_serialization();
        if !matches!(url.scheme(), "http" | "https") || origin != raw || raw.contains('*') {
            return Err(format!(
                "cors_allowed_origins: {raw:?} must be exactly scheme://host[:port] \
                 (no path, no trailing '/', no wildcard), e.g. https://app.example.com"
            ));
        }
        out.push(origin);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_prepublish_has_a_floor() {
        let s = Settings::default();
        s.validate().unwrap();
        assert_eq!(s.effective_prepublish(), Duration::from_secs(600));
        let s = Settings {
            jwks_max_age: 3600,
            ..Settings::default()
        };
        assert_eq!(s.effective_prepublish(), Duration::from_secs(3600));
    }

    #[test]
    fn masks_secrets() {
        let s = Settings {
            kek: Some("c2VjcmV0".into()),
            database_url: "postgres://app:hunter2@db/tessera".into(),
            ..Settings::default()
        };
        let out = s.to_masked_toml();
        assert!(
            !out.contains("c2VjcmV0") && !out.contains("hunter2"),
            "{out}"
        );
        assert!(out.contains("postgres://app:********@db/tessera"));
        assert!(out.contains("database_max_connections = 10"), "{out}");
    }

    #[test]
    fn sqlite_gets_one_connection_unless_configured() {
        let sqlite = Settings::default();
        assert_eq!(sqlite.pool_size(), 1);
        assert!(
            sqlite
                .to_masked_toml()
                .contains("database_max_connections = 1\n")
        );
        let postgres = Settings {
            database_url: "postgres://db/tessera".into(),
            ..Settings::default()
        };
        assert_eq!(postgres.pool_size(), 10);
        let chosen = Settings {
            database_max_connections: Some(4),
            ..Settings::default()
        };
        assert_eq!(chosen.pool_size(), 4);
        let zero = Settings {
            database_max_connections: Some(0),
            ..Settings::default()
        };
        assert!(zero.validate().is_err());
    }

    /// S8: a malformed `trusted_proxies` is refused by validation (so `tessera config` and
    /// start-up both say so), a good one passes.
    #[test]
    fn trusted_proxies_are_validated() {
        let bad = Settings {
            trusted_proxies: "10.0.0.0/8, proxy.local".into(),
            ..Settings::default()
        };
        assert!(bad.validate().unwrap_err().contains("proxy.local"));
        let good = Settings {
            trusted_proxies: "10.0.0.0/8, 2001:db8::/32".into(),
            ..Settings::default()
        };
        assert!(good.validate().is_ok());
    }

    #[test]
    fn every_key_has_a_documented_default() {
        // docs/configuration.md is the reference: each key gets a table row with its default.
        let doc = include_str!("../docs/configuration.md");
        let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
        let value = serde_json::to_value(Settings::default()).unwrap();
        let missing: Vec<&String> = value
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !rows.iter().any(|r| r.contains(&format!("`{k}`"))))
            .collect();
        assert!(
            missing.is_empty(),
            "keys without a row in docs/configuration.md: {missing:?}"
        );
    }

    #[test]
    fn durations_accept_bare_seconds() {
        assert_eq!(parse_duration("15").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration(" 15s ").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert!(parse_duration("soon").unwrap_err().contains("15s, 10m"));
        assert!(parse_duration("-5").is_err());
    }

    #[test]
    fn unknown_variables_are_named_with_the_closest_key() {
        let known = keys();
        let names = [
            "TESSERA_TOKN_TTL",
            "TESSERA_ACESS_TOKEN_TTL",
            "TESSERA_BIND",
            "TESSERA_CONFIG",
            "TESSERA_QQQQQQQQQQQQQQQQQQQQ",
            "PATH",
        ];
        let w = unknown_env_warnings(names.iter().map(|s| s.to_string()), &known);
        assert_eq!(
            w,
            vec![
                "TESSERA_ACESS_TOKEN_TTL is not a setting; did you mean TESSERA_ACCESS_TOKEN_TTL?",
                "TESSERA_QQQQQQQQQQQQQQQQQQQQ is not a setting (`tessera config` lists them)",
                "TESSERA_TOKN_TTL is not a setting; did you mean TESSERA_ACCESS_TOKEN_TTL?",
            ]
        );
    }

    #[test]
    fn issuer_follows_bind() {
        assert_eq!(
            derived_issuer("127.0.0.1:9090", false),
            "http://127.0.0.1:9090"
        );
        assert_eq!(
            derived_issuer("0.0.0.0:8080", false),
            "http://127.0.0.1:8080"
        );
        assert_eq!(derived_issuer("[::]:8443", true), "https://[::1]:8443");
        assert_eq!(
            derived_issuer("localhost:8080", false),
            "http://localhost:8080"
        );
    }

    #[test]
    fn origins_must_be_bare() {
        assert_eq!(parse_origins("").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_origins("https://app.example.com, http://localhost:3000").unwrap(),
            vec!["https://app.example.com", "http://localhost:3000"]
        );
        for bad in [
            "https://app.example.com/",
            "https://app.example.com/path",
            "*",
            "https://*.example.com",
            "ftp://files.example.com",
            "app.example.com",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad} accepted");
        }
    }
}
