//! Assembles the server: state, routes, middleware, background key refresh.
//!
//! The server is a library so that tests start it in-process on `127.0.0.1:0`
//! (`App::build` then `App::port`), exactly as `tessera serve` does on its configured port.

use std::{sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use poem::{
    EndpointExt, Route, Server,
    listener::{Acceptor, AcceptorExt, Listener, TcpListener},
};
use sea_orm::DatabaseConnection;

use crate::{
    admin::{AdminAuth, AuditLog},
    authorize::codes::CodeStore,
    browser_session::Sealer,
    clients::ClientRegistry,
    clock::{SharedClock, SystemClock},
    config::Settings,
    error::{Error, Result},
    grants::GrantContext,
    http::{self, discovery::PublishedDiscovery, form::FormLimit},
    keys::{Kek, KeyManager, Keyring, store},
    revocation::RevocationLog,
    sessions::Sessions,
    throttle::{Limits, LoginThrottle},
    tokens::TokenIssuer,
    users::{PasswordHasher, UserStore},
};

/// Everything the handlers share.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub keyring: Arc<Keyring>,
    pub keys: Option<Arc<KeyManager>>,
    pub grants: GrantContext,
    pub discovery: ArcSwap<PublishedDiscovery>,
    pub jwks_cache_control: String,
    /// Admin API authorisation (tokens verified with `tessera-verify`).
    pub admin: AdminAuth,
    /// Admin audit log.
    pub audit: AuditLog,
}

impl AppState {
    /// A state with no database, only to generate the OpenAPI document.
    pub fn placeholder() -> Self {
        let settings = Settings {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..Settings::default()
        };
        let clock: SharedClock = Arc::new(SystemClock);
        Self::assemble(
            Arc::new(settings),
            DatabaseConnection::default(),
            clock,
            Arc::new(Keyring::new()),
            None,
            Sealer::random().expect("random cookie key"),
        )
        .expect("placeholder state")
    }

    /// A state for CLI commands: database access, no keys, no HTTP.
    pub fn for_cli(
        settings: &Settings,
        db: DatabaseConnection,
        clock: SharedClock,
    ) -> Result<Self> {
        Self::assemble(
            Arc::new(settings.clone()),
            db,
            clock,
            Arc::new(Keyring::new()),
            None,
            Sealer::random()?,
        )
    }

    fn assemble(
        settings: Arc<Settings>,
        db: DatabaseConnection,
        clock: SharedClock,
        keyring: Arc<Keyring>,
        keys: Option<Arc<KeyManager>>,
        sealer: Sealer,
    ) -> Result<Self> {
        let clients = Arc::new(ClientRegistry::new(
            db.clone(),
            clock.clone(),
            settings.client_cache_ttl,
        ));
        let issuer = Arc::new(TokenIssuer::new(
            settings.issuer.clone(),
            keyring.clone(),
            clock.clone(),
        ));
        let hasher = PasswordHasher::new(&settings)?;
        let rate_limits = Arc::new(crate::ratelimit::TokenRateLimits::new(
            settings.token_rate_per_ip,
            settings.token_rate_per_ip_burst,
            settings.token_rate_per_client,
            settings.token_rate_per_client_burst,
        ));
        let grants = GrantContext {
            rate_limits,
            clients,
            issuer,
            settings: settings.clone(),
            users: Arc::new(UserStore::new(db.clone(), clock.clone(), hasher)),
            sessions: Arc::new(Sessions::new(
                db.clone(),
                clock.clone(),
                settings.refresh_idle_ttl.as_secs() as i64,
                settings.refresh_max_ttl.as_secs() as i64,
            )),
            revocations: Arc::new(RevocationLog::new(
                db.clone(),
                clock.clone(),
                (settings.max_access_token_ttl + settings.clock_leeway).as_secs() as i64,
            )),
            throttle: Arc::new(LoginThrottle::new(Limits {
                per_user_ip: settings.login_max_failures_per_user_ip,
                per_user: settings.login_max_failures_per_user,
                per_ip: settings.login_max_failures_per_ip,
                window: settings.login_failure_window,
            })),
            keyring: keyring.clone(),
            clock: clock.clone(),
            codes: Arc::new(CodeStore::new(db.clone(), clock.clone())),
            sealer: Arc::new(sealer),
        };
        Ok(Self {
            discovery: ArcSwap::from_pointee(PublishedDiscovery::new(&settings.issuer, vec![])),
            jwks_cache_control: format!("public, max-age={}", settings.jwks_max_age),
            grants,
            admin: AdminAuth::new(),
            audit: AuditLog::new(db.clone(), clock.clone()),
            settings,
            db,
            clock,
            keyring,
            keys,
        })
    }

    /// Re-reads what discovery advertises from the client registry.
    async fn refresh_discovery(&self) -> Result<()> {
        let scopes = self.grants.clients.all_scopes().await?;
        if self.discovery.load().scopes != scopes {
            self.discovery.store(Arc::new(PublishedDiscovery::new(
                &self.settings.issuer,
                scopes,
            )));
        }
        Ok(())
    }
}

/// Opens the database (migrating it) and loads the KEK. A fresh database may get a new
/// KEK file; one that already holds keys never does.
pub async fn open_storage(settings: &Settings) -> Result<(DatabaseConnection, Arc<Kek>)> {
    let db = crate::storage::connect_and_migrate(settings).await?;
    let has_keys = store::count(&db).await? > 0;
    let (kek, source) = Kek::load(settings.kek.as_deref(), &settings.kek_file, !has_keys)?;
    if source == crate::keys::kek::KekSource::NewFile {
        tracing::info!(path = %settings.kek_file.display(), "created a new key-encryption key file (mode 0600)");
    }
    Ok((db, Arc::new(kek)))
}

/// A built server, bound to its port, not yet serving.
pub struct App {
    state: Arc<AppState>,
    acceptor: poem::listener::TcpAcceptor,
    /// TLS configuration when `tls_cert_file`/`tls_key_file` are set (see `transport`).
    tls: Option<crate::transport::TlsStream>,
    port: u16,
}

impl App {
    /// Connects, migrates, loads (or creates) the keys and binds `settings.bind`.
    /// Fails — before listening — on a wrong or missing KEK.
    pub async fn build(mut settings: Settings, clock: SharedClock) -> Result<App> {
        // Bind first: an empty `issuer` means "http://<the address actually bound>", which
        // tests use with port 0.
        let acceptor = TcpListener::bind(settings.bind.as_str())
            .into_acceptor()
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", settings.bind)))?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied());
        let port = addr.map(|a| a.port()).unwrap_or(0);
        let tls = crate::transport::load_tls(&settings)?;
        if settings.issuer.is_empty()
            && let Some(addr) = addr
        {
            let scheme = if tls.is_some() { "https" } else { "http" };
            settings.issuer = format!("{scheme}://{addr}");
        }
        settings.validate().map_err(Error::Config)?;
        let settings = Arc::new(settings);
        let (db, kek) = open_storage(&settings).await?;
        let keyring = Arc::new(Keyring::new());
        // Browser cookies are sealed with a key derived from the KEK: every instance that
        // shares the KEK reads every session.
        let sealer = Sealer::from_kek(&kek)?;
        let keys = Arc::new(KeyManager::new(
            db.clone(),
            kek,
            keyring.clone(),
            clock.clone(),
            &settings,
        ));
        keys.tick(true).await?;
        let state = Arc::new(AppState::assemble(
            settings.clone(),
            db,
            clock,
            keyring,
            Some(keys),
            sealer,
        )?);
        state.refresh_discovery().await?;
        Ok(App {
            state,
            acceptor,
            tls,
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Serves until `shutdown` completes, then drains in-flight requests (up to 10 s).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let refresher = tokio::spawn(refresh_loop(self.state.clone()));
        let route = routes(self.state.clone());
        let settings = &self.state.settings;
        // Per-IP cap and stall timeout on the raw TCP connection, so TLS handshakes are
        // guarded too.
        let guarded = http::conn_limit::PerIpLimit::new(
            self.acceptor,
            settings.max_connections_per_ip,
            settings.idle_timeout,
        );
        let acceptor = match self.tls {
            Some(tls) => guarded.rustls(tls).boxed(),
            None => guarded.boxed(),
        };
        let res = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(route, shutdown, Some(Duration::from_secs(10)))
            .await;
        refresher.abort();
        res.map_err(|e| Error::Config(format!("server error: {e}")))
    }
}

/// The route table.
pub fn routes(state: Arc<AppState>) -> impl poem::Endpoint {
    let api = http::api_service(state.clone(), &state.settings.issuer);
    // Validated by Settings::validate; the policy is a no-op when the list is empty.
    let cors = crate::transport::CorsPolicy::new(
        crate::transport::parse_origins(&state.settings.cors_allowed_origins).unwrap_or_default(),
    );
    Route::new()
        .at("/openapi.json", http::docs::openapi_json(state.clone()))
        .nest("/docs", http::docs::swagger_ui(state.clone()))
        .nest("/", api)
        .data(FormLimit(state.settings.max_form_bytes))
        // Inner first: admin errors become JSON before `no_store_on_oauth` renders the rest;
        // outermost, request id, access log and latency of every request.
        .around(http::admin::json_errors)
        .around(http::no_store_on_oauth)
        .around(move |ep, req| {
            let cors = cors.clone();
            async move { cors.handle(ep, req).await }
        })
        .around(http::observe::observe)
}

pub const LANDING: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tessera</title></head>
<body><h1>Tessera</h1><p>An OAuth 2.0 token issuer.</p><ul>
<li><a href="/docs">API documentation (Swagger UI)</a></li>
<li><a href="/.well-known/openid-configuration">OpenID configuration</a></li>
<li><a href="/.well-known/jwks.json">JSON Web Key Set</a></li></ul></body></html>"#;

/// Every `key_refresh_interval`: rotation schedule + keyring refresh, and discovery refresh.
/// Failures (database down) are logged; the server keeps signing with the keys it has.
async fn refresh_loop(state: Arc<AppState>) {
    let mut interval = tokio::time::interval(state.settings.key_refresh_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    let mut last_purge = std::time::Instant::now();
    loop {
        interval.tick().await;
        if last_purge.elapsed() >= Duration::from_secs(60) {
            last_purge = std::time::Instant::now();
            let g = &state.grants;
            g.rate_limits.forget_idle();
            if let Err(e) = g
                .sessions
                .purge()
                .await
                .and(g.revocations.purge().await)
                .and(g.codes.purge().await)
            {
                tracing::debug!(error = %e, "purge failed");
            }
        }
        if let Some(keys) = &state.keys
            && let Err(e) = keys.tick(false).await
        {
            tracing::warn!(error = %e, "key refresh failed; serving the keys already loaded");
        }
        if let Err(e) = state.refresh_discovery().await {
            tracing::debug!(error = %e, "discovery refresh failed");
        }
    }
}
