//! Remote key sets: a client's `jwks_uri` (private_key_jwt) and a federated issuer's JWKS,
//! OIDC discovery document or SPIFFE bundle endpoint, fetched with the discipline of
//! `tessera-verify` (its client builder, size-capped reads and `Cache-Control` parsing are
//! reused from [`tessera_verify::fetch`]) plus the SSRF guards of row C5 ([`address`]).
//!
//! - [`Fetcher`]: one HTTP client per process. `https` only (plain `http` to a loopback host
//!   with the development setting), redirects never followed, no proxy (a proxy would
//!   resolve names where the guard cannot see them), every resolved address checked at
//!   connection time, a body cap and a whole-request timeout.
//! - [`RemoteSet`]: one cached document per URL, parsed once by the caller's function into
//!   its own key type. Fresh for `Cache-Control: max-age` clamped to
//!   `[remote_jwks_min_cache, remote_jwks_max_cache]`; after that the cached value still
//!   answers while a single background refresh runs (at most one attempt per
//!   `remote_jwks_refetch_cooldown` after a failure), up to `remote_jwks_max_stale` past
//!   its freshness: then [`Unavailable`] (503 `temporarily_unavailable`, row C7), never
//!   an empty or unchecked key set. An unknown `kid` may force one refetch per cooldown
//!   ([`RemoteSet::refetch_for_unknown_kid`]).
//! - [`RemoteSets`]: the sets by URL, shared by all requests.

pub mod address;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use arc_swap::ArcSwapOption;

pub use address::{AddressPolicy, Refused};

use crate::config::Settings;

/// Sizes and times of remote fetches (settings `remote_jwks_*`).
#[derive(Debug, Clone)]
pub struct FetchLimits {
    /// Whole request, connection included.
    pub timeout: Duration,
    /// Largest body read (after decompression).
    pub max_bytes: usize,
    /// Freshness bounds applied to `Cache-Control: max-age`.
    pub min_cache: Duration,
    pub max_cache: Duration,
    /// Freshness when the answer has no `max-age`.
    pub default_cache: Duration,
    /// How long past its freshness a set still answers while refreshes fail.
    pub max_stale: Duration,
    /// Least time between two forced refetches (unknown `kid`, failed refresh).
    pub refetch_cooldown: Duration,
}

impl FetchLimits {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            timeout: s.remote_jwks_timeout,
            max_bytes: s.remote_jwks_max_bytes,
            min_cache: s.remote_jwks_min_cache,
            max_cache: s.remote_jwks_max_cache,
            default_cache: Duration::from_secs(300).clamp(
                s.remote_jwks_min_cache,
                s.remote_jwks_max_cache.max(s.remote_jwks_min_cache),
            ),
            max_stale: s.remote_jwks_max_stale,
            refetch_cooldown: s.remote_jwks_refetch_cooldown,
        }
    }
}

/// A fetch that did not produce a document. The text is for logs and operators only.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("{url}: redirects are not followed (HTTP {status})")]
    Redirect { url: String, status: u16 },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    /// Network failure, timeout, body over the cap, or an address refused by the DNS hook.
    #[error("{0}")]
    Transport(String),
    /// The body is not the expected document (the parser's reason).
    #[error("{url}: {reason}")]
    Invalid { url: String, reason: String },
}

/// One fetched document.
#[derive(Debug)]
pub struct Fetched {
    pub body: Vec<u8>,
    /// `max-age` of the answer, if it had one (`no-store`/`no-cache`: zero).
    pub max_age: Option<Duration>,
}

/// The guarded HTTP client (one per process, in `Context`).
pub struct Fetcher {
    http: reqwest::Client,
    policy: Arc<AddressPolicy>,
    limits: FetchLimits,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("policy", &self.policy)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    pub fn new(policy: AddressPolicy, limits: FetchLimits) -> crate::error::Result<Self> {
        let policy = Arc::new(policy);
        let http = tessera_verify::fetch::client_builder(limits.timeout)
            .map_err(|e| crate::error::Error::Config(e.to_string()))?
            .dns_resolver(Arc::new(address::GuardedResolver {
                policy: policy.clone(),
            }))
            .no_proxy()
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::error::Error::Config(format!("remote JWKS client: {e}")))?;
        Ok(Self {
            http,
            policy,
            limits,
        })
    }

    /// From the settings `remote_jwks_*` (validated by the configuration).
    pub fn from_settings(s: &Settings) -> crate::error::Result<Self> {
        let allowed = crate::ip_net::parse_list(&s.remote_jwks_allowed_networks)
            .map_err(crate::error::Error::Config)?;
        Self::new(
            AddressPolicy {
                allow_loopback: s.remote_jwks_allow_loopback,
                allowed,
            },
            FetchLimits::from_settings(s),
        )
    }

    pub fn limits(&self) -> &FetchLimits {
        &self.limits
    }

    /// The URL check of [`AddressPolicy::check_url`], for registration (CLI, admin API).
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, Refused> {
        self.policy.check_url(url)
    }

    /// GET `url` within the policy and limits; a 2xx answer's body.
    pub async fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        let u = self.policy.check_url(url)?;
        let req = self.http.get(u).header(
            reqwest::header::ACCEPT,
            "application/json, application/jwk-set+json",
        );
        let (status, headers, body) =
            tessera_verify::fetch::send_capped(req, url, self.limits.max_bytes)
                .await
                .map_err(|e| FetchError::Transport(e.to_string()))?;
        if status.is_redirection() {
            return Err(FetchError::Redirect {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        Ok(Fetched {
            body,
            max_age: tessera_verify::fetch::max_age(&headers),
        })
    }
}

/// The keys could not be fetched and the cached ones (if any) are too old to use: the
/// request gets 503 `temporarily_unavailable` (row C7), never a check skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the remote key set is unavailable")]
pub struct Unavailable;

/// What a document becomes: the caller's parsed key set and, optionally, a freshness the
/// document itself asks for (a SPIFFE bundle's `spiffe_refresh_hint`).
pub struct Parsed<T> {
    pub value: T,
    pub refresh_hint: Option<Duration>,
}

/// A fetch-and-parse step: the URL to GET may itself come from a first document (OIDC
/// discovery → `jwks_uri`), so the loader is a function of the fetcher.
pub type Loader<T> = Arc<
    dyn for<'a> Fn(
            &'a Fetcher,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Parsed<T>, FetchError>> + Send + 'a>,
        > + Send
        + Sync,
>;

struct Cached<T> {
    value: Arc<T>,
    fresh_until: Instant,
}

/// One remote document, cached.
pub struct RemoteSet<T> {
    fetcher: Arc<Fetcher>,
    load: Loader<T>,
    cached: ArcSwapOption<Cached<T>>,
    /// Serialises fetches (single flight); remembers failures and forced refetches.
    fetching: tokio::sync::Mutex<FetchState>,
}

impl<T: Send + Sync + 'static> RemoteSet<T> {
    pub fn new(fetcher: Arc<Fetcher>, load: Loader<T>) -> Arc<Self> {
        Arc::new(Self {
            fetcher,
            load,
            cached: ArcSwapOption::const_empty(),
            fetching: tokio::sync::Mutex::new(FetchState::default()),
        })
    }

    /// A set that fetches one URL and parses it with `parse`.
    pub fn url(
        fetcher: Arc<Fetcher>,
        url: String,
        parse: fn(&[u8]) -> Result<Parsed<T>, String>,
    ) -> Arc<Self> {
        let url = Arc::new(url);
        Self::new(
            fetcher,
            Arc::new(move |f: &Fetcher| {
                let url = url.clone();
                Box::pin(async move {
                    let got = f.get(&url).await?;
                    let mut parsed = parse(&got.body).map_err(|reason| FetchError::Invalid {
                        url: url.to_string(),
                        reason,
                    })?;
                    if parsed.refresh_hint.is_none() {
                        parsed.refresh_hint = got.max_age;
                    }
                    Ok(parsed)
                })
            }),
        )
    }

    /// The current set: the cached one while fresh; past freshness the cached one while
    /// within `max_stale` (a refresh runs in the background); otherwise a fetch now.
    pub async fn current(self: &Arc<Self>) -> Result<Arc<T>, Unavailable> {
        let now = Instant::now();
        if let Some(c) = self.cached.load_full() {
            if now <= c.fresh_until {
                return Ok(c.value.clone());
            }
            if now <= c.fresh_until + self.fetcher.limits.max_stale {
                self.spawn_refresh();
                return Ok(c.value.clone());
            }
        }
        self.refresh(false).await;
        match self.cached.load_full() {
            Some(c) if Instant::now() <= c.fresh_until + self.fetcher.limits.max_stale => {
                Ok(c.value.clone())
            }
            _ => Err(Unavailable),
        }
    }

    /// An unknown `kid`: refetch now unless an unknown kid forced one within the cooldown
    /// (or the last attempt failed within it); `Some` with the new set when it ran and
    /// succeeded.
    pub async fn refetch_for_unknown_kid(self: &Arc<Self>) -> Option<Arc<T>> {
        if self.refresh(true).await {
            self.cached.load_full().map(|c| c.value.clone())
        } else {
            None
        }
    }

    fn spawn_refresh(self: &Arc<Self>) {
        // A fetch in flight, or a failure within the cooldown: nothing to start.
        match self.fetching.try_lock() {
            Ok(state) if !state.failed_recently(self.fetcher.limits.refetch_cooldown) => {}
            _ => return,
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = self.clone();
        handle.spawn(async move {
            this.refresh(false).await;
        });
    }

    /// One fetch, single flight. After a failure no new attempt for a cooldown (an
    /// unreachable issuer is not hammered by every request); `forced` (unknown kid) also
    /// at most once per cooldown. True when a new value was stored, by us or by a fetch
    /// that finished while we waited.
    async fn refresh(&self, forced: bool) -> bool {
        let before = self.cached.load_full().map(|c| c.fresh_until);
        let mut state = self.fetching.lock().await;
        if self.cached.load_full().map(|c| c.fresh_until) != before {
            return true;
        }
        let cooldown = self.fetcher.limits.refetch_cooldown;
        if state.failed_recently(cooldown)
            || (forced && state.last_forced.is_some_and(|t| t.elapsed() < cooldown))
        {
            return false;
        }
        let now = Instant::now();
        if forced {
            state.last_forced = Some(now);
        }
        match (self.load)(&self.fetcher).await {
            Ok(parsed) => {
                state.last_failure = None;
                let l = &self.fetcher.limits;
                let ttl = parsed
                    .refresh_hint
                    .unwrap_or(l.default_cache)
                    .clamp(l.min_cache, l.max_cache.max(l.min_cache));
                self.cached.store(Some(Arc::new(Cached {
                    value: Arc::new(parsed.value),
                    fresh_until: Instant::now() + ttl,
                })));
                true
            }
            Err(e) => {
                state.last_failure = Some(now);
                tracing::warn!(error = %e, "remote key set fetch failed; cached keys kept");
                false
            }
        }
    }
}

#[derive(Default)]
struct FetchState {
    /// When the last failed attempt started (cleared by a success).
    last_failure: Option<Instant>,
    /// When the last unknown-kid refetch started.
    last_forced: Option<Instant>,
}

impl FetchState {
    fn failed_recently(&self, cooldown: Duration) -> bool {
        self.last_failure.is_some_and(|t| t.elapsed() < cooldown)
    }
}

/// Remote sets by key (a URL, or an issuer name), created on first use.
pub struct RemoteSets<T> {
    sets: Mutex<HashMap<String, Arc<RemoteSet<T>>>>,
}

impl<T> Default for RemoteSets<T> {
    fn default() -> Self {
        Self {
            sets: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Send + Sync + 'static> RemoteSets<T> {
    /// The set under `key`, made by `make` the first time.
    pub fn get_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> Arc<RemoteSet<T>>,
    ) -> Arc<RemoteSet<T>> {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        sets.entry(key.to_owned()).or_insert_with(make).clone()
    }

    /// Forgets a set (its registration changed or was removed).
    pub fn remove(&self, key: &str) {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        sets.remove(key);
    }
}
