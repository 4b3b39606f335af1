//! What the handlers share: the domain [`Context`] plus what only the HTTP surface needs
//! (the published discovery document, the JWKS cache header, admin-token verification,
//! the audit log, the key manager for the admin keys API).

use std::sync::Arc;

use arc_swap::ArcSwap;
use sea_orm::DatabaseConnection;

use super::{client_ip::TrustedProxies, discovery::PublishedDiscovery};
use crate::{
    admin::{AdminAuth, AuditLog},
    browser_cookies::Sealer,
    clock::{SharedClock, SystemClock},
    config::Settings,
    context::Context,
    dpop::NonceKeys,
    error::{Error, Result},
    keys::{KeyManager, Keyring},
};

/// Everything the handlers share.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub keyring: Arc<Keyring>,
    /// The key manager (rotation); `None` where no keys are managed (the OpenAPI document).
    pub keys: Option<Arc<KeyManager>>,
    /// The domain: grants, sign-in, token status, accounts.
    pub ctx: Context,
    pub discovery: ArcSwap<PublishedDiscovery>,
    /// The client-registry version `discovery` was computed at (-1: not yet).
    discovery_version: std::sync::atomic::AtomicI64,
    pub jwks_cache_control: String,
    /// Admin API authorisation (tokens verified with `tessera-verify`).
    pub admin: AdminAuth,
    /// Admin audit log.
    pub audit: AuditLog,
    /// `trusted_proxies`, parsed: whose forwarding headers name the client IP.
    pub trusted_proxies: TrustedProxies,
}

impl AppState {
    pub fn new(
        settings: Arc<Settings>,
        db: DatabaseConnection,
        clock: SharedClock,
        keyring: Arc<Keyring>,
        keys: Option<Arc<KeyManager>>,
        sealer: Sealer,
        nonce_keys: NonceKeys,
    ) -> Result<Self> {
        let ctx = Context::new(
            settings.clone(),
            db.clone(),
            clock.clone(),
            keyring.clone(),
            sealer,
            nonce_keys,
        )?;
        let trusted_proxies =
            TrustedProxies::parse(&settings.trusted_proxies).map_err(Error::Config)?;
        Ok(Self {
            trusted_proxies,
            discovery: ArcSwap::from_pointee(PublishedDiscovery::new(&settings.issuer, vec![])),
            discovery_version: std::sync::atomic::AtomicI64::new(-1),
            jwks_cache_control: format!("public, max-age={}", settings.jwks_max_age),
            ctx,
            admin: AdminAuth::new(),
            audit: AuditLog::new(db.clone(), clock.clone()),
            settings,
            db,
            clock,
            keyring,
            keys,
        })
    }

    /// A state with no database, only to generate the OpenAPI document.
    pub fn placeholder() -> Self {
        let settings = Settings {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..Settings::default()
        };
        let clock: SharedClock = Arc::new(SystemClock);
        Self::new(
            Arc::new(settings),
            DatabaseConnection::default(),
            clock,
            Arc::new(Keyring::new()),
            None,
            Sealer::random().expect("random cookie key"),
            NonceKeys::random(60).expect("random nonce key"),
        )
        .expect("placeholder state")
    }

    /// Re-reads what discovery advertises from the client registry, when the registry
    /// changed. Internal scopes (`tessera:*`, the admin API's) are never advertised (S9).
    ///
    /// `scopes_supported` stays what the registered clients may request (so a client
    /// registered on any instance shows up on every instance), but the periodic refresh
    /// costs one primary-key read while nothing changed: the registry keeps a change
    /// counter, bumped in the transaction of every registration, update and deletion, and
    /// the registry is read whole only when the counter moved (`docs/scale.md`). A
    /// configured list was the other choice; it would need every deployment to repeat
    /// its clients' scopes in the configuration and would go stale silently.
    pub async fn refresh_discovery(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        let known = self.discovery_version.load(Ordering::Acquire);
        let Some((version, mut scopes)) = self
            .ctx
            .clients
            .scopes_if_changed((known >= 0).then_some(known))
            .await?
        else {
            return Ok(());
        };
        scopes.retain(|s| !is_internal_scope(s));
        if self.discovery.load().scopes != scopes {
            self.discovery.store(Arc::new(PublishedDiscovery::new(
                &self.settings.issuer,
                scopes,
            )));
        }
        self.discovery_version.store(version, Ordering::Release);
        Ok(())
    }
}

/// Whether a scope is Tessera's own (`tessera:*`, see `admin::ALL_SCOPES`), never shown
/// to strangers.
pub fn is_internal_scope(scope: &str) -> bool {
    scope.starts_with("tessera:") || crate::admin::ALL_SCOPES.contains(&scope)
}
