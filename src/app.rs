//! Assembles the server: opens storage and keys, builds the [`AppState`], binds, serves
//! the route table with its middleware, and runs the background refresh (keys, discovery,
//! purges).
//!
//! The server is a library so that tests start it in-process on `127.0.0.1:0`
//! (`App::build` then `App::port`), exactly as `tessera serve` does on its configured port.

use std::{sync::Arc, time::Duration};

use poem::{
    EndpointExt, Route, Server,
    listener::{Acceptor, AcceptorExt, Listener, TcpListener},
};
use sea_orm::DatabaseConnection;

use crate::{
    browser_cookies::Sealer,
    clock::SharedClock,
    config::{Settings, parse_origins},
    dpop::NonceKeys,
    error::{Error, Result},
    http::{self, AppState, cors::CorsPolicy, form::FormLimit, tls},
    keys::{Custody, Kek, KeyManager, Keyring, store},
};

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
    /// TLS configuration when `tls_cert_file`/`tls_key_file` are set (see `http::tls`).
    tls: Option<tls::TlsStream>,
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
        let tls = tls::load_tls(&settings)?;
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
        // DPoP server nonces too: every instance sharing the KEK accepts every nonce.
        let nonce_keys = NonceKeys::from_kek(&kek, settings.dpop_nonce_rotation.as_secs())?;
        // The HSM (if any) is opened and logged in here: a wrong module or PIN exits
        // before listening, naming the setting (H3).
        let custody = Arc::new(Custody::open(&settings.custody(), kek)?);
        let keys = Arc::new(KeyManager::new(
            db.clone(),
            custody,
            keyring.clone(),
            clock.clone(),
            settings.key_policy(),
            settings.rsa_bits,
        ));
        keys.tick(true).await?;
        let state = Arc::new(AppState::new(
            settings.clone(),
            db,
            clock,
            keyring,
            Some(keys),
            sealer,
            nonce_keys,
        )?);
        // The built-in client the console and account pages sign in with.
        crate::pages::session::sync_console_client(&state.ctx).await?;
        crate::pages::console::overview::mark_started();
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
        // Per-IP cap, stall timeout and request deadline/rate on the raw TCP connection, so TLS handshakes are
        // guarded too.
        let guarded = http::conn_limit::PerIpLimit::new(
            self.acceptor,
            settings.max_connections_per_ip,
            http::conn_limit::Timeouts {
                stall: settings.idle_timeout,
                head: settings.request_head_timeout,
                min_rate: settings.min_body_rate,
            },
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
    let cors =
        CorsPolicy::new(parse_origins(&state.settings.cors_allowed_origins).unwrap_or_default());
    let dpop_state = state.clone();
    let route = Route::new()
        .at("/openapi.json", http::docs::openapi_json(state.clone()))
        .nest("/docs", http::docs::swagger_ui(state.clone()))
        .nest("/", api);
    // The console and account pages (and their stylesheet), outside the OpenAPI document.
    http::pages::routes(route)
        .data(state.clone())
        .data(FormLimit(state.settings.max_form_bytes))
        // DPoP-bound admin tokens: proof checked, then handed on as a bearer token.
        .around(move |ep, req| {
            let state = dpop_state.clone();
            async move { http::admin::dpop_binding(&state, ep, req).await }
        })
        // Inner first: admin errors become JSON before `response_hygiene` adds the common headers;
        // outermost, request id, access log and latency of every request.
        .around(http::admin::json_errors)
        .around(http::gzip::gzip_feed)
        .around(http::response_hygiene)
        .around(move |ep, req| {
            let cors = cors.clone();
            async move { cors.handle(ep, req).await }
        })
        .around(http::observe::observe)
}

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
            let ctx = &state.ctx;
            ctx.rate_limits.forget_idle();
            if let Err(e) = ctx
                .refresh_families
                .purge()
                .await
                .and(ctx.revocations.purge().await)
                .and(ctx.codes.purge().await)
                .and(ctx.device_codes.purge().await)
                .and(ctx.browser_sessions.purge().await)
                .and(ctx.accounts.purge_throttle().await)
                .and(ctx.replay.purge().await.map(|_| ()))
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
