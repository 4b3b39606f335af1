//! The domain's one hallway: every service a grant, the authorization endpoint, the token
//! status endpoints, the admin API or the CLI uses, built once by [`Context::new`] from the
//! settings, the database, the clock, the keyring and the cookie sealer. Nothing here
//! knows about HTTP.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    accounts::{
        Accounts, Limits, LoginThrottle, PasswordHasher, PasswordPolicy, SharedLoginThrottle,
        SignUp, Throttle, UserStore,
    },
    authorization_codes::CodeStore,
    browser_cookies::{BrowserSessionRecords, Sealer},
    clients::{Client, ClientRegistry},
    clock::SharedClock,
    config::Settings,
    device_codes::DeviceCodeStore,
    dpop::{Dpop, NonceKeys},
    error::Result,
    federation::FederationRegistry,
    keys::{Alg, Keyring},
    refresh_families::RefreshFamilies,
    remote_jwks::Fetcher,
    replay::{ReplayLimits, ReplayRecords},
    revocation::RevocationLog,
    token_rate_limits::TokenRateLimits,
    tokens::TokenIssuer,
};

/// The services of the domain, shared by the whole server (and by CLI commands).
pub struct Context {
    pub settings: Arc<Settings>,
    pub clock: SharedClock,
    /// The keys published and signed with (a snapshot per use).
    pub keyring: Arc<Keyring>,
    /// Signs access and ID tokens for this issuer.
    pub issuer: TokenIssuer,
    pub clients: ClientRegistry,
    /// Users, the password check, and the changes that end sessions.
    pub accounts: Accounts,
    /// Refresh-token families (rotation, reuse detection).
    pub refresh_families: Arc<RefreshFamilies>,
    /// The denylist of access tokens and subject not-before times, and its feed.
    pub revocations: Arc<RevocationLog>,
    /// Authorization codes and the refresh families issued in each browser session.
    pub codes: CodeStore,
    /// Seals the browser session cookie and the login form state.
    pub sealer: Sealer,
    /// Which browser sessions are still open (logout ends them server-side).
    pub browser_sessions: Arc<BrowserSessionRecords>,
    /// Token-endpoint rate limits (per IP, per client).
    pub rate_limits: TokenRateLimits,
    /// Single-use values (DPoP proof `jti`s) recorded across instances.
    pub replay: Arc<ReplayRecords>,
    /// DPoP proofs, server nonces and key binding (RFC 9449).
    pub dpop: Dpop,
    /// Device authorization requests (RFC 8628).
    pub device_codes: DeviceCodeStore,
    /// Failed user-code entries on the device verification page, per browser session and
    /// per IP (X4). In memory, per instance: with 20^8 codes alive for minutes, per-instance
    /// limits still leave guessing hopeless.
    pub device_guesses: LoginThrottle,
    /// The guarded HTTP client for remote key sets (client `jwks_uri`, federated
    /// issuers): SSRF guards, size and time limits (row C5).
    pub fetcher: Arc<Fetcher>,
    /// Trusted external issuers and the federated identities clients are bound to.
    pub federations: FederationRegistry,
    /// `private_key_jwt` clients' remote JWK Sets (`jwks_uri`), fetched through
    /// [`Self::fetcher`] and cached, by URL.
    pub client_jwks: crate::remote_jwks::RemoteSets<tessera_verify::jws::PublicKeySet>,
}

impl Context {
    pub fn new(
        settings: Arc<Settings>,
        db: DatabaseConnection,
        clock: SharedClock,
        keyring: Arc<Keyring>,
        sealer: Sealer,
        nonce_keys: NonceKeys,
    ) -> Result<Self> {
        let replay = Arc::new(ReplayRecords::new(
            db.clone(),
            clock.clone(),
            ReplayLimits {
                batch_max: settings.replay_batch_max,
                queue_max: settings.replay_queue_max,
                recent_capacity: settings.replay_recent_capacity,
                purge_batch: settings.replay_purge_batch,
            },
        ));
        let dpop = Dpop::new(&settings, nonce_keys, replay.clone(), clock.clone());
        let refresh_families = Arc::new(RefreshFamilies::new(
            db.clone(),
            clock.clone(),
            settings.refresh_idle_ttl.as_secs() as i64,
            settings.refresh_max_ttl.as_secs() as i64,
        ));
        let revocations = Arc::new(RevocationLog::new(
            db.clone(),
            clock.clone(),
            (settings.max_access_token_ttl + settings.clock_leeway).as_secs() as i64,
        ));
        let users = Arc::new(UserStore::new(
            db.clone(),
            clock.clone(),
            PasswordHasher::new(&settings)?,
        ));
        let browser_sessions = Arc::new(BrowserSessionRecords::new(db.clone(), clock.clone()));
        let limits = Limits {
            per_user_ip: settings.login_max_failures_per_user_ip,
            per_user: settings.login_max_failures_per_user,
            per_ip: settings.login_max_failures_per_ip,
            window: settings.login_failure_window,
        };
        // Several instances share a PostgreSQL database: their failure counts must add up.
        let throttle = if settings.uses_sqlite() {
            Throttle::Local(LoginThrottle::new(limits))
        } else {
            Throttle::Shared(SharedLoginThrottle::new(db.clone(), clock.clone(), limits))
        };
        // Sign-ups count per source only (docs/account.md): the per-user limits never bite.
        let signup_limits = Limits {
            per_user_ip: settings.registration_max_per_ip,
            per_user: u32::MAX,
            per_ip: settings.registration_max_per_ip,
            window: settings.login_failure_window,
        };
        let signup = SignUp {
            throttle: if settings.uses_sqlite() {
                Throttle::Local(LoginThrottle::new(signup_limits))
            } else {
                Throttle::Shared(
                    SharedLoginThrottle::new(db.clone(), clock.clone(), signup_limits)
                        .namespaced("signup "),
                )
            },
            policy: PasswordPolicy::from_settings(&settings),
        };
        let fetcher = Arc::new(Fetcher::from_settings(&settings)?);
        let federations = FederationRegistry::new(db.clone(), clock.clone(), fetcher.clone());
        Ok(Self {
            issuer: TokenIssuer::new(settings.issuer.clone(), keyring.clone(), clock.clone()),
            clients: ClientRegistry::new(db.clone(), clock.clone(), settings.client_cache_ttl),
            accounts: Accounts::new(
                users,
                refresh_families.clone(),
                revocations.clone(),
                browser_sessions.clone(),
                throttle,
                signup,
                clock.clone(),
            ),
            device_codes: DeviceCodeStore::new(db.clone(), clock.clone()),
            device_guesses: LoginThrottle::new(Limits {
                per_user_ip: settings.device_max_failures_per_session,
                per_user: settings.device_max_failures_per_session,
                per_ip: settings.device_max_failures_per_ip,
                window: settings.login_failure_window,
            }),
            codes: CodeStore::new(db, clock.clone()),
            rate_limits: TokenRateLimits::new(
                settings.token_rate_per_ip,
                settings.token_rate_per_ip_burst,
                settings.token_rate_per_client,
                settings.token_rate_per_client_burst,
            ),
            refresh_families,
            revocations,
            replay,
            dpop,
            federations,
            fetcher,
            client_jwks: Default::default(),
            sealer,
            browser_sessions,
            keyring,
            clock,
            settings,
        })
    }

    /// The algorithm a client's tokens are signed with.
    pub fn alg_for(&self, client: &Client) -> Alg {
        client.alg.unwrap_or(self.settings.default_alg)
    }

    /// The access-token lifetime of a client, in seconds.
    pub fn token_ttl_for(&self, client: &Client) -> i64 {
        client
            .token_ttl
            .unwrap_or(self.settings.access_token_ttl.as_secs() as i64)
    }

    /// The clock leeway, in seconds.
    pub fn leeway(&self) -> i64 {
        self.settings.clock_leeway.as_secs() as i64
    }
}
