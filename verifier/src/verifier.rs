//! The [`Verifier`]: key discovery, caching and refresh, and the verification pipeline.

use std::{
    marker::PhantomData,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use serde::Deserialize;

use crate::{
    claims::{self, Claims, Policy},
    dpop::{self, ProofExpectations},
    error::{Error, Part, VerifyError},
    fetch,
    jwk::{KeySet, VerifyKey},
    replay::{Record, ReplayCache},
    request::{self, RequestError, RequestParts, Scheme},
    revocation::{self, RevocationFeed},
    token::{self, Parsed},
};

/// Largest accepted leeway for `exp`/`nbf`/`iat`.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;
type NonceCheck = Arc<dyn Fn(Option<&str>) -> Result<(), String> + Send + Sync>;

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Tunables; every default is documented on the builder method that changes it.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub leeway: Duration,
    pub max_token_size: usize,
    pub refetch_cooldown: Duration,
    pub cache_min_ttl: Duration,
    pub cache_max_ttl: Duration,
    pub default_cache_ttl: Duration,
    pub max_stale: Duration,
    pub refresh_retry: Duration,
    pub fetch_timeout: Duration,
    pub max_response_size: usize,
    pub allow_http: bool,
    pub dpop_max_age: Duration,
    pub dpop_replay_capacity: usize,
    pub dpop_required: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            leeway: Duration::from_secs(60),
            max_token_size: 8 * 1024,
            refetch_cooldown: Duration::from_secs(30),
            cache_min_ttl: Duration::from_secs(30),
            cache_max_ttl: Duration::from_secs(3600),
            default_cache_ttl: Duration::from_secs(300),
            max_stale: Duration::from_secs(3600),
            refresh_retry: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(5),
            max_response_size: 64 * 1024,
            allow_http: false,
            dpop_max_age: Duration::from_secs(60),
            dpop_replay_capacity: 1 << 18,
            dpop_required: false,
        }
    }
}

/// Counters, for metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// JWKS requests sent (initial, scheduled, unknown-kid and explicit refreshes).
    pub jwks_fetches: u64,
    /// JWKS requests that failed (network, status, invalid or empty set).
    pub jwks_fetch_failures: u64,
    /// Refetches triggered by an unknown `kid`.
    pub unknown_kid_refetches: u64,
    /// Successful revocation-feed polls.
    pub revocation_polls: u64,
    /// Keys currently cached.
    pub keys: usize,
    /// Revoked jtis currently held (not yet expired).
    pub revoked_jtis: usize,
    /// Subjects with a `not_before` currently held.
    pub revoked_subjects: usize,
    /// DPoP proof `jti`s currently held by the replay cache.
    pub dpop_replay_entries: usize,
}

struct Cached {
    set: KeySet,
    /// `None` for static keys, which never go stale.
    fresh_until: Option<Instant>,
    etag: Option<String>,
}

struct Source {
    http: reqwest::Client,
    jwks_uri: String,
}

struct Inner {
    policy: Policy,
    opts: Options,
    now: Clock,
    keys: ArcSwap<Cached>,
    source: Option<Source>,
    /// When the last unknown-kid refetch started; the lock makes refetches single-flight.
    kid_refetch: tokio::sync::Mutex<Option<Instant>>,
    /// Serialises fetches so that an older answer never overwrites a newer one.
    fetch_lock: tokio::sync::Mutex<()>,
    next_refresh: Mutex<Instant>,
    revocation: Option<revocation::State>,
    jwks_fetches: AtomicU64,
    jwks_failures: AtomicU64,
    kid_refetches: AtomicU64,
    revocation_polls: AtomicU64,
    replay: ReplayCache,
    nonce: Option<NonceCheck>,
}

/// Verifies RFC 9068 JWT access tokens from one issuer for one audience.
///
/// Cheap to clone (an `Arc`); share one per process. Built with [`Verifier::builder`]
/// (discovery + JWKS over HTTP, cached and refreshed in the background) or
/// [`Verifier::from_jwks`] (static keys).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.policy.issuer)
            .field("audience", &self.inner.policy.audience)
            .field("kids", &self.inner.keys.load().set.kids())
            .finish_non_exhaustive()
    }
}

/// Type-state marker: a required builder setting not given yet.
#[derive(Debug, Default)]
pub struct Missing;
/// Type-state marker: a required builder setting given.
#[derive(Debug)]
pub struct Given;

/// Builds a [`Verifier`]. `build` exists only once both [`issuer`](Self::issuer) and
/// [`audience`](Self::audience) are set, so a verifier that skips the audience check
/// cannot be built:
///
/// ```compile_fail
/// # async fn f() {
/// let v = tessera_verify::Verifier::builder().issuer("https://auth.internal").build().await;
/// # }
/// ```
pub struct VerifierBuilder<I = Missing, A = Missing> {
    issuer: String,
    audience: String,
    opts: Options,
    jwks_uri: Option<String>,
    static_jwks: Option<Vec<u8>>,
    http: Option<reqwest::Client>,
    revocation: Option<RevocationFeed>,
    clock: Option<Clock>,
    nonce: Option<NonceCheck>,
    _state: PhantomData<(I, A)>,
}

impl Verifier {
    /// Starts a builder; set [`issuer`](VerifierBuilder::issuer) and
    /// [`audience`](VerifierBuilder::audience), then `build().await`.
    pub fn builder() -> VerifierBuilder<Missing, Missing> {
        VerifierBuilder {
            issuer: String::new(),
            audience: String::new(),
            opts: Options::default(),
            jwks_uri: None,
            static_jwks: None,
            http: None,
            revocation: None,
            clock: None,
            nonce: None,
            _state: PhantomData,
        }
    }

    /// A verifier over a fixed JWK Set (air-gapped or tests): no network, keys never go
    /// stale, default options. Use the builder's
    /// [`static_jwks`](VerifierBuilder::static_jwks) to change options.
    pub fn from_jwks(jwks_json: &str, issuer: &str, audience: &str) -> Result<Verifier, Error> {
        Verifier::builder()
            .issuer(issuer)
            .audience(audience)
            .static_jwks(jwks_json)
            .build_static()
    }

    /// Verifies a token: strict format, header, key by `kid`, signature with the key's own
    /// algorithm, then claims (`iss`, `aud`, `exp`/`nbf`/`iat`, required claims) and the
    /// revocation lists. An unknown `kid` triggers at most one JWKS refetch per cooldown
    /// window, shared by all concurrent callers.
    ///
    /// A sender-constrained token (one with a `cnf` claim, e.g. DPoP-bound) is refused
    /// with [`VerifyError::SenderConstrained`]: it is only valid with its proof, so use
    /// [`verify_request`](Self::verify_request) (or the middlewares) for those.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        unbound(self.verify_ignoring_binding(token).await?)
    }

    /// Like [`verify`](Self::verify) but never waits for the network: an unknown `kid`
    /// schedules a background refetch (within the cooldown) and is rejected now.
    pub fn verify_cached(&self, token: &str) -> Result<Claims, VerifyError> {
        unbound(self.verify_cached_ignoring_binding(token)?)
    }

    /// Like [`verify`](Self::verify) but also returns sender-constrained tokens: **the
    /// caller must then check the binding itself** (for DPoP: [`dpop::verify_proof`] with
    /// `ath`, the proof key thumbprint equal to [`Claims::confirmation_jkt`], and a replay
    /// check of the proof's `jti`). For issuers that keep their own replay records.
    pub async fn verify_ignoring_binding(&self, token: &str) -> Result<Claims, VerifyError> {
        let parsed = token::parse(token, self.inner.opts.max_token_size)?;
        let key = match self.inner.lookup(&parsed.kid)? {
            Some(k) => k,
            None => self.inner.refetch_for(&parsed.kid).await?,
        };
        self.inner.finish(&parsed, &key)
    }

    fn verify_cached_ignoring_binding(&self, token: &str) -> Result<Claims, VerifyError> {
        let parsed = token::parse(token, self.inner.opts.max_token_size)?;
        match self.inner.lookup(&parsed.kid)? {
            Some(key) => self.inner.finish(&parsed, &key),
            None => {
                self.inner.spawn_refetch(parsed.kid);
                Err(VerifyError::UnknownKey)
            }
        }
    }

    /// Verifies the credentials of one HTTP request and returns the token's claims
    /// (RFC 6750 and RFC 9449 §7):
    ///
    /// - `Authorization: Bearer <token>`: the token as with [`verify`](Self::verify);
    ///   a token bound with `cnf` is refused ([`RequestError::BoundTokenAsBearer`], no
    ///   downgrade), and so is any bearer token when [`dpop_required`] is set;
    /// - `Authorization: DPoP <token>` with one `DPoP` proof: the token must carry
    ///   `cnf.jkt`; the proof must pass [`dpop::verify_proof`] against `method`, `url`
    ///   (the public URL), the clock ([`dpop_max_age`], [`leeway`]) and `ath` of the token;
    ///   its key thumbprint must equal `cnf.jkt`; the [`dpop_nonce`] check, when set,
    ///   must accept its `nonce`; its `jti` must not have been seen (in-memory replay
    ///   cache of this verifier, bounded by [`dpop_replay_capacity`]).
    ///
    /// The error gives the HTTP answer: [`RequestError::status`],
    /// [`RequestError::www_authenticate`], [`RequestError::dpop_nonce`].
    ///
    /// [`dpop_required`]: VerifierBuilder::dpop_required
    /// [`dpop_max_age`]: VerifierBuilder::dpop_max_age
    /// [`leeway`]: VerifierBuilder::leeway
    /// [`dpop_nonce`]: VerifierBuilder::dpop_nonce
    /// [`dpop_replay_capacity`]: VerifierBuilder::dpop_replay_capacity
    pub async fn verify_request(&self, req: &RequestParts<'_>) -> Result<Claims, RequestError> {
        let (scheme, token) = self.credentials(req)?;
        let claims = self
            .verify_ignoring_binding(token)
            .await
            .map_err(|reason| RequestError::InvalidToken { scheme, reason })?;
        self.check_binding(req, scheme, token, claims)
    }

    /// Like [`verify_request`](Self::verify_request) but never waits for the network
    /// (see [`verify_cached`](Self::verify_cached)).
    pub fn verify_request_cached(&self, req: &RequestParts<'_>) -> Result<Claims, RequestError> {
        let (scheme, token) = self.credentials(req)?;
        let claims = self
            .verify_cached_ignoring_binding(token)
            .map_err(|reason| RequestError::InvalidToken { scheme, reason })?;
        self.check_binding(req, scheme, token, claims)
    }

    fn credentials<'r>(&self, req: &RequestParts<'r>) -> Result<(Scheme, &'r str), RequestError> {
        let no_credentials = RequestError::NoCredentials {
            bearer_allowed: !self.inner.opts.dpop_required,
        };
        let Some(value) = req.authorization else {
            return Err(no_credentials);
        };
        match request::parse_authorization(value) {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(no_credentials),
            Err(scheme) => Err(RequestError::InvalidRequest { scheme }),
        }
    }

    fn check_binding(
        &self,
        req: &RequestParts<'_>,
        scheme: Scheme,
        token: &str,
        claims: Claims,
    ) -> Result<Claims, RequestError> {
        let inner = &self.inner;
        match scheme {
            Scheme::Bearer => {
                if claims.is_sender_constrained() {
                    return Err(RequestError::BoundTokenAsBearer);
                }
                if inner.opts.dpop_required {
                    return Err(RequestError::DpopRequired);
                }
                Ok(claims)
            }
            Scheme::DPoP => {
                let Some(jkt) = claims.confirmation_jkt() else {
                    return Err(RequestError::NotDpopBound);
                };
                let proof = req.dpop.ok_or(RequestError::MissingProof)?;
                let now = (inner.now)();
                let max_age = inner.opts.dpop_max_age.as_secs() as i64;
                let leeway = inner.policy.leeway;
                let verified = dpop::verify_proof(
                    proof,
                    &ProofExpectations {
                        method: req.method,
                        url: req.url,
                        access_token: Some(token),
                        now,
                        max_age,
                        leeway,
                    },
                )
                .map_err(RequestError::InvalidProof)?;
                if verified.jkt != jkt {
                    return Err(RequestError::KeyMismatch);
                }
                if let Some(check) = &inner.nonce {
                    check(verified.nonce.as_deref())
                        .map_err(|nonce| RequestError::UseNonce { nonce })?;
                }
                let expires = verified.iat.saturating_add(max_age).saturating_add(leeway);
                match inner
                    .replay
                    .record(&verified.jkt, &verified.jti, expires, now)
                {
                    Record::Fresh => Ok(claims),
                    Record::Replayed => Err(RequestError::Replayed),
                    Record::Full => {
                        tracing::warn!("DPoP replay cache full: request refused");
                        Err(RequestError::ReplayCacheFull)
                    }
                }
            }
        }
    }

    /// Fetches the JWK Set now (ignores the cooldown). Errors leave the cache unchanged.
    pub async fn refresh(&self) -> Result<(), Error> {
        self.inner.fetch_jwks().await
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.policy.issuer
    }

    /// The configured audience.
    pub fn audience(&self) -> &str {
        &self.inner.policy.audience
    }

    /// The kids currently cached, sorted.
    pub fn key_ids(&self) -> Vec<String> {
        self.inner.keys.load().set.kids()
    }

    /// Counters since the verifier was built.
    pub fn stats(&self) -> Stats {
        let i = &self.inner;
        Stats {
            jwks_fetches: i.jwks_fetches.load(Ordering::Relaxed),
            jwks_fetch_failures: i.jwks_failures.load(Ordering::Relaxed),
            unknown_kid_refetches: i.kid_refetches.load(Ordering::Relaxed),
            revocation_polls: i.revocation_polls.load(Ordering::Relaxed),
            keys: i.keys.load().set.len(),
            revoked_jtis: i.revocation.as_ref().map_or(0, |r| r.sizes().0),
            revoked_subjects: i.revocation.as_ref().map_or(0, |r| r.sizes().1),
            dpop_replay_entries: i.replay.len(),
        }
    }
}

impl<I, A> VerifierBuilder<I, A> {
    fn cast<I2, A2>(self) -> VerifierBuilder<I2, A2> {
        VerifierBuilder {
            issuer: self.issuer,
            audience: self.audience,
            opts: self.opts,
            jwks_uri: self.jwks_uri,
            static_jwks: self.static_jwks,
            http: self.http,
            revocation: self.revocation,
            clock: self.clock,
            nonce: self.nonce,
            _state: PhantomData,
        }
    }

    /// The issuer identifier, compared exactly with `iss` (no normalisation) and used for
    /// discovery at `{issuer}/.well-known/openid-configuration`. Required.
    pub fn issuer(mut self, issuer: impl Into<String>) -> VerifierBuilder<Given, A> {
        self.issuer = issuer.into();
        self.cast()
    }

    /// This service's audience: `aud` (a string or an array) must contain it exactly.
    /// Required.
    pub fn audience(mut self, audience: impl Into<String>) -> VerifierBuilder<I, Given> {
        self.audience = audience.into();
        self.cast()
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat`. Default 60 s; at most 300 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.opts.leeway = leeway;
        self
    }

    /// Longest accepted token, checked before any parsing. Default 8 KiB.
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.opts.max_token_size = bytes;
        self
    }

    /// Minimum time between two refetches triggered by unknown `kid`s. Default 30 s.
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.opts.refetch_cooldown = cooldown;
        self
    }

    /// Floor and ceiling applied to the JWKS `Cache-Control: max-age`. Default 30 s and
    /// 1 h. Keys are refreshed in the background at 80 % of the resulting lifetime.
    pub fn cache_ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.opts.cache_min_ttl = min;
        self.opts.cache_max_ttl = max.max(min);
        self
    }

    /// Lifetime used when the JWKS response has no `max-age`. Default 5 min (then bounded).
    pub fn default_cache_ttl(mut self, ttl: Duration) -> Self {
        self.opts.default_cache_ttl = ttl;
        self
    }

    /// How long past their lifetime cached keys keep verifying while the issuer is
    /// unreachable (stale-if-error). Default 1 h; after that tokens are rejected with
    /// [`VerifyError::KeysUnavailable`] until a fetch succeeds.
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.opts.max_stale = max_stale;
        self
    }

    /// Delay between background retries after a failed refresh. Default 10 s.
    pub fn refresh_retry(mut self, every: Duration) -> Self {
        self.opts.refresh_retry = every.max(Duration::from_millis(100));
        self
    }

    /// Timeout of each HTTP request of the default client. Default 5 s.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.opts.fetch_timeout = timeout;
        self
    }

    /// Largest accepted discovery / JWKS / revocation response. Default 64 KiB.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.opts.max_response_size = bytes;
        self
    }

    /// Allow plain `http://` to non-loopback hosts. Default false (loopback `http://` is
    /// always allowed, for tests and sidecars).
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.opts.allow_http = allow;
        self
    }

    /// Skip discovery and read keys from this URL.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// Use this fixed JWK Set instead of fetching one (no network, no staleness).
    pub fn static_jwks(mut self, jwks_json: impl Into<String>) -> Self {
        self.static_jwks = Some(jwks_json.into().into_bytes());
        self
    }

    /// Use this HTTP client (proxies, custom roots, mTLS). Its own timeouts apply.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Enable the revocation feed (off by default).
    pub fn revocation(mut self, feed: RevocationFeed) -> Self {
        self.revocation = Some(feed);
        self
    }

    /// DPoP proofs (RFC 9449): how old a proof's `iat` may be, on top of the
    /// [`leeway`](Self::leeway) (which also bounds how far in the future it may be).
    /// Default 60 s. This is also the replay window: a proof's `jti` is remembered until
    /// `iat + max_age + leeway`.
    pub fn dpop_max_age(mut self, max_age: Duration) -> Self {
        self.opts.dpop_max_age = max_age;
        self
    }

    /// DPoP replay cache size: how many proof `jti`s are remembered at most. Default
    /// 262 144 (about 25 MiB when full). Entries are evicted only once expired; when the
    /// cache is full of live entries, DPoP requests are refused with 503 until some
    /// expire (never accepted unchecked). Size it for the peak DPoP request rate times
    /// `dpop_max_age + 2 × leeway`.
    pub fn dpop_replay_capacity(mut self, entries: usize) -> Self {
        self.opts.dpop_replay_capacity = entries;
        self
    }

    /// Refuse plain bearer tokens in [`Verifier::verify_request`] and the middlewares:
    /// only DPoP-bound tokens with a proof pass. Default false (bearer tokens without
    /// `cnf` are accepted; bound tokens always need their proof).
    pub fn dpop_required(mut self, required: bool) -> Self {
        self.opts.dpop_required = required;
        self
    }

    /// Server nonces (RFC 9449 §9): `check` receives the proof's `nonce` (or `None`) and
    /// returns `Ok(())` to accept it, or `Err(fresh_nonce)` to refuse the request with
    /// `401 use_dpop_nonce` and `DPoP-Nonce: fresh_nonce`. Off by default.
    pub fn dpop_nonce(
        mut self,
        check: impl Fn(Option<&str>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.nonce = Some(Arc::new(check));
        self
    }

    /// Replace the clock used for `exp`/`nbf`/`iat` (unix seconds). For tests.
    pub fn clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(now));
        self
    }
}

impl VerifierBuilder<Given, Given> {
    fn check(&self) -> Result<(), Error> {
        if self.issuer.is_empty() {
            return Err(Error::Config("the issuer is empty".into()));
        }
        if self.audience.is_empty() {
            return Err(Error::Config("the audience is empty".into()));
        }
        if self.opts.leeway > MAX_LEEWAY {
            return Err(Error::Config(format!(
                "leeway {:?} is above the {:?} maximum",
                self.opts.leeway, MAX_LEEWAY
            )));
        }
        if self.opts.max_token_size == 0 {
            return Err(Error::Config("max_token_size is 0".into()));
        }
        if self.opts.dpop_replay_capacity == 0 {
            return Err(Error::Config("dpop_replay_capacity is 0".into()));
        }
        if self.opts.dpop_max_age > Duration::from_secs(3600) {
            return Err(Error::Config("dpop_max_age is above one hour".into()));
        }
        Ok(())
    }

    fn assemble(self, cached: Cached, source: Option<Source>) -> Inner {
        let revocation = self
            .revocation
            .map(|feed| revocation::State::new(feed, &self.issuer));
        Inner {
            policy: Policy {
                issuer: self.issuer,
                audience: self.audience,
                leeway: self.opts.leeway.as_secs() as i64,
            },
            now: self.clock.unwrap_or_else(|| Arc::new(system_now)),
            keys: ArcSwap::from_pointee(cached),
            source,
            kid_refetch: tokio::sync::Mutex::new(None),
            fetch_lock: tokio::sync::Mutex::new(()),
            next_refresh: Mutex::new(Instant::now()),
            revocation,
            jwks_fetches: AtomicU64::new(0),
            jwks_failures: AtomicU64::new(0),
            kid_refetches: AtomicU64::new(0),
            revocation_polls: AtomicU64::new(0),
            replay: ReplayCache::new(self.opts.dpop_replay_capacity),
            nonce: self.nonce,
            opts: self.opts,
        }
    }

    /// Builds a verifier over [`static_jwks`](Self::static_jwks) without a runtime.
    pub fn build_static(self) -> Result<Verifier, Error> {
        self.check()?;
        if self.revocation.is_some() {
            return Err(Error::Config(
                "the revocation feed needs `build().await`".into(),
            ));
        }
        let Some(json) = &self.static_jwks else {
            return Err(Error::Config("build_static needs static_jwks".into()));
        };
        let set = KeySet::from_json(json)?;
        let cached = Cached {
            set,
            fresh_until: None,
            etag: None,
        };
        Ok(Verifier {
            inner: Arc::new(self.assemble(cached, None)),
        })
    }

    /// Discovers the JWKS URI (unless given), fetches the keys, reads the revocation feed
    /// once (when enabled) and starts the background refreshes. Fails if any of these
    /// fails: a verifier never starts without keys.
    pub async fn build(self) -> Result<Verifier, Error> {
        self.check()?;
        if let Some(json) = &self.static_jwks {
            let set = KeySet::from_json(json)?;
            let cached = Cached {
                set,
                fresh_until: None,
                etag: None,
            };
            let inner = Arc::new(self.assemble(cached, None));
            start_revocation(&inner, None).await?;
            return Ok(Verifier { inner });
        }
        let http = match &self.http {
            Some(c) => c.clone(),
            None => fetch::default_client(self.opts.fetch_timeout)?,
        };
        let jwks_uri = match &self.jwks_uri {
            Some(u) => fetch::check_url(u, self.opts.allow_http)?.to_string(),
            None => discover(&http, &self.issuer, &self.opts).await?,
        };
        if let Some(feed) = &self.revocation {
            let url = feed.url.clone().unwrap_or_else(|| self.issuer.clone());
            fetch::check_url(&url, self.opts.allow_http)?;
        }
        let cached = Cached {
            set: KeySet::default(),
            fresh_until: Some(Instant::now()),
            etag: None,
        };
        let inner = Arc::new(self.assemble(cached, Some(Source { http, jwks_uri })));
        inner.fetch_jwks().await?;
        start_revocation(&inner, inner.source.as_ref().map(|s| s.http.clone())).await?;
        tokio::spawn(refresh_loop(Arc::downgrade(&inner)));
        Ok(Verifier { inner })
    }
}

/// Refuses sender-constrained tokens outside [`Verifier::verify_request`].
fn unbound(claims: Claims) -> Result<Claims, VerifyError> {
    if claims.is_sender_constrained() {
        Err(VerifyError::SenderConstrained)
    } else {
        Ok(claims)
    }
}

/// Reads `{issuer}/.well-known/openid-configuration`; its `issuer` must be ours exactly.
async fn discover(http: &reqwest::Client, issuer: &str, opts: &Options) -> Result<String, Error> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    fetch::check_url(&url, opts.allow_http)?;
    let (status, _, body) =
        fetch::send_capped(http.get(&url), &url, opts.max_response_size).await?;
    if !status.is_success() {
        return Err(Error::Fetch {
            url,
            detail: format!("HTTP {status}"),
        });
    }
    #[derive(Deserialize)]
    struct Doc {
        issuer: String,
        jwks_uri: String,
    }
    crate::json::check_no_duplicates(&body)
        .map_err(|e| Error::Discovery(format!("invalid JSON: {e}")))?;
    let doc: Doc =
        serde_json::from_slice(&body).map_err(|e| Error::Discovery(format!("{url}: {e}")))?;
    if doc.issuer != issuer {
        return Err(Error::Discovery(format!(
            "the document's issuer {:?} is not {issuer:?} (RFC 8414 §3.3)",
            doc.issuer
        )));
    }
    Ok(fetch::check_url(&doc.jwks_uri, opts.allow_http)?.to_string())
}

async fn start_revocation(inner: &Arc<Inner>, http: Option<reqwest::Client>) -> Result<(), Error> {
    let Some(state) = &inner.revocation else {
        return Ok(());
    };
    let http = match http {
        Some(h) => h,
        None => fetch::default_client(inner.opts.fetch_timeout)?,
    };
    inner.poll_revocations(state, &http).await?;
    tokio::spawn(revocation_loop(Arc::downgrade(inner), http));
    Ok(())
}

impl Inner {
    fn lookup(&self, kid: &str) -> Result<Option<Arc<VerifyKey>>, VerifyError> {
        let cached = self.keys.load();
        if let Some(fresh) = cached.fresh_until
            && Instant::now() > fresh + self.opts.max_stale
        {
            return Err(VerifyError::KeysUnavailable);
        }
        Ok(cached.set.get(kid).cloned())
    }

    fn finish(&self, p: &Parsed<'_>, key: &VerifyKey) -> Result<Claims, VerifyError> {
        if key.alg != p.alg {
            return Err(VerifyError::AlgorithmMismatch {
                token: p.alg.as_str(),
                key: key.alg.as_str(),
            });
        }
        if !key.verify(p.signing_input, &p.signature) {
            return Err(VerifyError::BadSignature);
        }
        let payload = token::decode(Part::Payload, p.payload_b64)?;
        let claims = claims::parse(payload)?;
        self.policy.check(&claims, (self.now)())?;
        if let Some(r) = &self.revocation {
            r.check(&claims)?;
        }
        Ok(claims)
    }

    /// Single-flight refetch for an unknown kid, at most once per cooldown window.
    async fn refetch_for(&self, kid: &str) -> Result<Arc<VerifyKey>, VerifyError> {
        if self.source.is_none() {
            return Err(VerifyError::UnknownKey);
        }
        let mut last = self.kid_refetch.lock().await;
        // Another caller may have fetched while we waited for the lock.
        if let Some(k) = self.lookup(kid)? {
            return Ok(k);
        }
        if last.is_some_and(|t| t.elapsed() < self.opts.refetch_cooldown) {
            return Err(VerifyError::UnknownKey);
        }
        *last = Some(Instant::now());
        self.kid_refetches.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.fetch_jwks().await {
            tracing::warn!(error = %e, "JWKS refetch for an unknown kid failed; cached keys kept");
        }
        drop(last);
        self.lookup(kid)?.ok_or(VerifyError::UnknownKey)
    }

    fn spawn_refetch(self: &Arc<Self>, kid: String) {
        if self.source.is_none() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // A refetch in flight, or one within the cooldown: nothing to do.
        match self.kid_refetch.try_lock() {
            Ok(last) if !last.is_some_and(|t| t.elapsed() < self.opts.refetch_cooldown) => {}
            _ => return,
        }
        let inner = self.clone();
        handle.spawn(async move {
            let _ = inner.refetch_for(&kid).await;
        });
    }

    fn ttl(&self, headers: &reqwest::header::HeaderMap) -> Duration {
        fetch::max_age(headers)
            .unwrap_or(self.opts.default_cache_ttl)
            .clamp(self.opts.cache_min_ttl, self.opts.cache_max_ttl)
    }

    async fn fetch_jwks(&self) -> Result<(), Error> {
        let Some(src) = &self.source else {
            return Ok(());
        };
        let _serial = self.fetch_lock.lock().await;
        self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.fetch_jwks_inner(src).await;
        let next = match &result {
            Ok(ttl) => Instant::now() + (*ttl * 4 / 5).max(Duration::from_secs(1)),
            Err(_) => {
                self.jwks_failures.fetch_add(1, Ordering::Relaxed);
                Instant::now() + self.opts.refresh_retry
            }
        };
        if let Ok(mut n) = self.next_refresh.lock() {
            *n = next;
        }
        result.map(|_| ())
    }

    async fn fetch_jwks_inner(&self, src: &Source) -> Result<Duration, Error> {
        let current = self.keys.load_full();
        let mut req = src.http.get(&src.jwks_uri);
        if let Some(etag) = &current.etag
            && !current.set.is_empty()
        {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let (status, headers, body) =
            fetch::send_capped(req, &src.jwks_uri, self.opts.max_response_size).await?;
        let ttl = self.ttl(&headers);
        if status == reqwest::StatusCode::NOT_MODIFIED && !current.set.is_empty() {
            self.keys.store(Arc::new(Cached {
                set: current.set.clone(),
                fresh_until: Some(Instant::now() + ttl),
                etag: current.etag.clone(),
            }));
            return Ok(ttl);
        }
        if !status.is_success() {
            return Err(Error::Fetch {
                url: src.jwks_uri.clone(),
                detail: format!("HTTP {status}"),
            });
        }
        let set = KeySet::from_json(&body)?;
        let etag = headers
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let old = current.set.kids();
        let new = set.kids();
        if old != new {
            tracing::info!(kids = ?new, "verification keys updated");
        }
        self.keys.store(Arc::new(Cached {
            set,
            fresh_until: Some(Instant::now() + ttl),
            etag,
        }));
        Ok(ttl)
    }

    async fn poll_revocations(
        &self,
        state: &revocation::State,
        http: &reqwest::Client,
    ) -> Result<(), Error> {
        state
            .poll(
                http,
                self.opts.max_response_size.max(1024 * 1024),
                (self.now)(),
                self.policy.leeway,
            )
            .await?;
        self.revocation_polls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Refreshes the keys at 80 % of their lifetime, or `refresh_retry` after a failure.
/// Ends when the last [`Verifier`] clone is dropped.
async fn refresh_loop(weak: Weak<Inner>) {
    loop {
        let delay = {
            let Some(inner) = weak.upgrade() else { return };
            let next = inner
                .next_refresh
                .lock()
                .map(|n| *n)
                .unwrap_or_else(|_| Instant::now());
            next.saturating_duration_since(Instant::now())
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
            continue;
        }
        let Some(inner) = weak.upgrade() else { return };
        if let Err(e) = inner.fetch_jwks().await {
            tracing::warn!(error = %e, "JWKS refresh failed; serving cached keys");
        }
    }
}

async fn revocation_loop(weak: Weak<Inner>, http: reqwest::Client) {
    loop {
        let every = match weak.upgrade() {
            Some(inner) => match &inner.revocation {
                Some(s) => s.interval(),
                None => return,
            },
            None => return,
        };
        tokio::time::sleep(every).await;
        let Some(inner) = weak.upgrade() else { return };
        let Some(state) = &inner.revocation else {
            return;
        };
        if let Err(e) = inner.poll_revocations(state, &http).await {
            tracing::warn!(error = %e, url = state.url(), "revocation poll failed; last lists kept");
        }
    }
}
