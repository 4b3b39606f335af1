//! The client registry: registration, server-generated secrets (stored as SHA-256 hashes,
//! compared in constant time), client authentication, and an in-memory cache so the token
//! endpoint does not hit the database on every request.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait, sea_query::Expr,
};
use serde::Serialize;

pub mod builtin;
pub mod redirect_uris;

use crate::{
    clock::SharedClock,
    entities::{
        client::{self, Entity as Clients},
        refresh_family,
        registry_version::{self, Entity as RegistryVersions},
    },
    error::{Error, Field, OAuthError, Result},
    keys::Alg,
    paging::{self, Page},
    scope::is_scope_token,
    secrets::{hash_secret, hash_secret_hex, hashes_equal, hex_decode_32, random_token},
};
use tessera_verify::jws::{JwksError, JwksPolicy, PublicKeySet};

/// Grant types a client can be registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GrantType {
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// Resource-owner password (first-party apps only).
    #[serde(rename = "password")]
    Password,
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// Browser sign-in: authorization code with PKCE.
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    /// RFC 8693 token exchange: a service trades a token it received for one for another
    /// audience, acting for the token's subject. Registered as `token_exchange`.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
    /// RFC 8628 device authorization: a device without a browser shows a code the user
    /// approves elsewhere. Registered as `device_code`.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::TokenExchange => TOKEN_EXCHANGE,
            GrantType::DeviceCode => DEVICE_CODE,
        }
    }
    /// The `grant_type` value of the token endpoint (and the stored form).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_credentials" => Some(GrantType::ClientCredentials),
            "password" => Some(GrantType::Password),
            "refresh_token" => Some(GrantType::RefreshToken),
            "authorization_code" => Some(GrantType::AuthorizationCode),
            TOKEN_EXCHANGE => Some(GrantType::TokenExchange),
            DEVICE_CODE => Some(GrantType::DeviceCode),
            _ => None,
        }
    }
    /// A grant type named at registration (CLI `--grant`, admin API): the token
    /// endpoint's value, or the short name of a URN grant (`token_exchange`). The short
    /// names are for operators only; the token endpoint accepts the URN alone.
    pub fn parse_registered(s: &str) -> Option<Self> {
        match s {
            "token_exchange" => Some(GrantType::TokenExchange),
            "device_code" => Some(GrantType::DeviceCode),
            _ => Self::parse(s),
        }
    }
}

/// RFC 8693 §2.1 `grant_type` of token exchange.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8628 §3.4 `grant_type` of the device flow.
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// How a client authenticates at the token, revocation and introspection endpoints and
/// the revocation feed (RFC 7591 `token_endpoint_auth_method`); chosen at registration,
/// changed only by an update that names it ([`ClientUpdate::token_endpoint_auth_method`]).
/// `client_auth` dispatches on it: one module per method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthMethod {
    /// A server-generated secret, sent with HTTP Basic (`client_secret_basic`) or in the
    /// body (`client_secret_post`); stored as `client_secret_basic`.
    #[serde(rename = "client_secret_basic")]
    ClientSecret,
    /// RFC 7523 §2.2: a JWT signed with one of the client's registered keys (`jwks` or
    /// `jwks_uri`); the client has no secret.
    #[serde(rename = "private_key_jwt")]
    PrivateKeyJwt,
    /// A public client: `client_id` alone, bound by PKCE instead.
    #[serde(rename = "none")]
    None,
    /// Workload identity federation (`src/federation`): the client sends a token of a
    /// trusted external issuer (Kubernetes, SPIFFE, GitHub Actions) as its client
    /// assertion, matching one of its bound identities; no secret, no keys of its own.
    /// Not an RFC 7591 value: on the wire it is a JWT client assertion (RFC 7523).
    #[serde(rename = "federated")]
    Federated,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecret => AUTH_METHOD_SECRET,
            AuthMethod::PrivateKeyJwt => AUTH_METHOD_PRIVATE_KEY_JWT,
            AuthMethod::None => AUTH_METHOD_NONE,
            AuthMethod::Federated => AUTH_METHOD_FEDERATED,
        }
    }

    /// The stored and RFC 7591 name (`client_secret_basic`, `private_key_jwt`, `none`,
    /// `federated`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            AUTH_METHOD_SECRET => Some(AuthMethod::ClientSecret),
            AUTH_METHOD_PRIVATE_KEY_JWT => Some(AuthMethod::PrivateKeyJwt),
            AUTH_METHOD_NONE => Some(AuthMethod::None),
            AUTH_METHOD_FEDERATED => Some(AuthMethod::Federated),
            _ => None,
        }
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered client (without its secret).
#[derive(Debug, Clone, Serialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    /// `None` for a public client (no secret; `token_endpoint_auth_method=none`).
    #[serde(skip)]
    secret_hash: Option<[u8; 32]>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub audiences: Vec<String>,
    /// Access-token lifetime in seconds, if not the server default.
    pub token_ttl: Option<i64>,
    /// Signing algorithm, if not the server default.
    pub alg: Option<Alg>,
    /// Exact redirect URIs (authorization code flow).
    pub redirect_uris: Vec<String>,
    /// URIs RP-initiated logout may return to.
    pub post_logout_redirect_uris: Vec<String>,
    /// `client_secret_basic` (confidential, with a secret), `private_key_jwt` (its own
    /// keys, no secret) or `none` (public: PKCE only, no secret).
    pub token_endpoint_auth_method: AuthMethod,
    /// RFC 9449 §5.2: the client must send a DPoP proof at the token endpoint (its access
    /// tokens are always DPoP-bound).
    pub dpop_bound_access_tokens: bool,
    /// RFC 9449 §8: the client's DPoP proofs must carry a server nonce (also when the
    /// `dpop_nonce` setting is `off`).
    pub dpop_nonce_required: bool,
    /// RFC 8693: audiences the client may obtain by token exchange (`audience` or
    /// `resource` of the exchange must be among them); empty: none.
    pub exchange_audiences: Vec<String>,
    /// `private_key_jwt`: the registered JWK Set (public keys), when given inline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// `private_key_jwt`: where the client publishes its JWK Set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The inline `jwks`, imported once when the client is read (each key bound to one
    /// algorithm), not per request.
    #[serde(skip)]
    keys: Option<Arc<PublicKeySet>>,
    pub created_at: i64,
}

impl Client {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == AuthMethod::None
    }

    /// The registered inline keys of a `private_key_jwt` client.
    pub fn inline_keys(&self) -> Option<&Arc<PublicKeySet>> {
        self.keys.as_ref()
    }

    fn from_row(m: client::Model) -> Result<Self> {
        let method = AuthMethod::parse(&m.token_endpoint_auth_method).ok_or_else(|| {
            Error::Corrupt(format!(
                "client {} has an unknown token_endpoint_auth_method",
                m.client_id
            ))
        })?;
        let hash = if method != AuthMethod::ClientSecret {
            None
        } else {
            Some(hex_decode_32(&m.secret_hash).ok_or_else(|| {
                Error::Corrupt(format!(
                    "client {} has a malformed secret hash",
                    m.client_id
                ))
            })?)
        };
        Ok(Client {
            grant_types: m
                .grant_types
                .split_whitespace()
                .filter_map(GrantType::parse)
                .collect(),
            scopes: split(&m.scopes),
            audiences: split(&m.audiences),
            token_ttl: m.token_ttl,
            alg: m.alg.as_deref().and_then(|a| a.parse().ok()),
            redirect_uris: split(&m.redirect_uris),
            post_logout_redirect_uris: split(&m.post_logout_redirect_uris),
            token_endpoint_auth_method: method,
            dpop_bound_access_tokens: m.dpop_bound_access_tokens,
            dpop_nonce_required: m.dpop_nonce_required,
            exchange_audiences: split(&m.exchange_audiences),
            keys: match &m.jwks {
                Some(text) => Some(Arc::new(import_jwks(text).map_err(|e| {
                    Error::Corrupt(format!("client {} has an unusable jwks: {e}", m.client_id))
                })?)),
                None => None,
            },
            jwks: m.jwks.as_deref().and_then(|t| serde_json::from_str(t).ok()),
            jwks_uri: m.jwks_uri,
            client_id: m.client_id,
            name: m.name,
            secret_hash: hash,
            created_at: m.created_at,
        })
    }
}

/// What an operator gives to register a client.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub audiences: Vec<String>,
    pub token_ttl: Option<Duration>,
    pub alg: Option<Alg>,
    /// Exact redirect URIs (required with the `authorization_code` grant).
    pub redirect_uris: Vec<String>,
    /// URIs RP-initiated logout may redirect to.
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (SPA, mobile app): no secret, PKCE only; may use only the
    /// `authorization_code` and `refresh_token` grants.
    pub public: bool,
    /// RFC 9449 §5.2: DPoP proofs required at the token endpoint.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9449 §8: server nonces required in the client's DPoP proofs.
    pub dpop_nonce_required: bool,
    /// RFC 8693: audiences the client may obtain by token exchange (required with the
    /// `token_exchange` grant).
    pub exchange_audiences: Vec<String>,
    /// `private_key_jwt` with these public keys: a JWK Set document (JSON text). No secret
    /// is generated.
    pub jwks: Option<String>,
    /// `private_key_jwt` with the keys published at this `https` URL. No secret.
    pub jwks_uri: Option<String>,
    /// Authenticated by federated identities (bound with `federation::Federations::bind`):
    /// no secret, no keys.
    pub federated: bool,
}

/// Changes to a registered client; `None` leaves a field as it is. For the optional
/// settings, `Some(None)` returns to the server default.
#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
    pub token_ttl: Option<Option<Duration>>,
    pub alg: Option<Option<Alg>>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub dpop_bound_access_tokens: Option<bool>,
    pub dpop_nonce_required: Option<bool>,
    pub exchange_audiences: Option<Vec<String>>,
    /// A `private_key_jwt` client's new inline JWK Set (key rotation: publish the new key
    /// beside the old one, switch the client over, then drop the old one).
    pub jwks: Option<String>,
    /// A `private_key_jwt` client's new JWK Set URL.
    pub jwks_uri: Option<String>,
    /// A new authentication method. Switching ends what the old one authenticated with: a
    /// secret is dropped (a new one is generated when switching to
    /// [`AuthMethod::ClientSecret`], returned once), keys are dropped (switching to
    /// [`AuthMethod::PrivateKeyJwt`] needs `jwks` or `jwks_uri` in the same update), and
    /// the client's refresh tokens are revoked (see [`ClientRegistry::update_guarded`]).
    pub token_endpoint_auth_method: Option<AuthMethod>,
}

/// `token_endpoint_auth_method` of confidential clients (Basic or post).
pub const AUTH_METHOD_SECRET: &str = "client_secret_basic";
/// `token_endpoint_auth_method` of clients that sign assertions with their own keys.
pub const AUTH_METHOD_PRIVATE_KEY_JWT: &str = "private_key_jwt";
/// `token_endpoint_auth_method` of clients authenticated by federated identities.
pub const AUTH_METHOD_FEDERATED: &str = "federated";
/// Longest inline JWK Set accepted at registration (ten RSA-4096 keys fit easily).
pub const MAX_JWKS_LEN: usize = 64 * 1024;

/// Imports a client's JWK Set: strict (every key usable, RSA keys name their `alg`).
fn import_jwks(text: &str) -> std::result::Result<PublicKeySet, JwksError> {
    PublicKeySet::from_jwks(text.as_bytes(), &JwksPolicy::CLIENT_KEYS)
}
/// `token_endpoint_auth_method` of public clients.
pub const AUTH_METHOD_NONE: &str = "none";

/// A client together with its secret, returned once at creation or secret rotation.
#[derive(Debug, Clone, Serialize)]
pub struct ClientWithSecret {
    #[serde(flatten)]
    pub client: Client,
    /// Empty for a public client (it has none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_secret: String,
}

/// Limits that registration enforces.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationLimits {
    pub max_token_ttl: Duration,
}

/// Credentials presented by a client at an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
}

/// Registry of clients with a short-lived cache of known clients and one of unknown
/// client ids, so that authenticating an unknown id costs what a known one does (no
/// database read in either case while cached; T2).
pub struct ClientRegistry {
    db: DatabaseConnection,
    clock: SharedClock,
    cache_ttl: Duration,
    cache: RwLock<HashMap<String, (Arc<Client>, Instant)>>,
    /// Client ids found absent, for `cache_ttl` each (at most [`CACHE_CAPACITY`]).
    missing: RwLock<HashMap<String, Instant>>,
    /// Hash compared against when the client id is unknown, so both paths do the same work.
    dummy_hash: [u8; 32],
}

/// Entries in each cache; when full, expired entries go, and if none has expired the
/// cache starts over (memory stays bounded whatever ids are presented).
const CACHE_CAPACITY: usize = 10_000;

/// Inserts into a bounded cache: when full, expired entries are dropped first, then all.
fn bounded_insert<V>(
    map: &mut HashMap<String, V>,
    key: &str,
    value: V,
    expired: impl Fn(&V) -> bool,
) {
    if map.len() >= CACHE_CAPACITY && !map.contains_key(key) {
        map.retain(|_, v| !expired(v));
        if map.len() >= CACHE_CAPACITY {
            map.clear();
        }
    }
    map.insert(key.to_string(), value);
}

/// A change refused by the guard of a guarded registry operation, or done.
pub type Guarded<T, R> = std::result::Result<T, R>;

/// How many times a guarded change re-reads the client when it changed underneath.
const GUARD_ATTEMPTS: usize = 5;

impl ClientRegistry {
    pub fn new(db: DatabaseConnection, clock: SharedClock, cache_ttl: Duration) -> Self {
        Self {
            db,
            clock,
            cache_ttl,
            cache: RwLock::new(HashMap::new()),
            missing: RwLock::new(HashMap::new()),
            dummy_hash: hash_secret("dummy"),
        }
    }

    /// Looks a client up (caches first: known clients, then ids known to be absent).
    pub async fn get(&self, client_id: &str) -> Result<Option<Arc<Client>>> {
        if let Ok(cache) = self.cache.read()
            && let Some((c, at)) = cache.get(client_id)
            && at.elapsed() < self.cache_ttl
        {
            return Ok(Some(c.clone()));
        }
        if let Ok(missing) = self.missing.read()
            && let Some(at) = missing.get(client_id)
            && at.elapsed() < self.cache_ttl
        {
            return Ok(None);
        }
        let ttl = self.cache_ttl;
        let Some(row) = Clients::find_by_id(client_id.to_string())
            .one(&self.db)
            .await?
        else {
            if let Ok(mut cache) = self.cache.write() {
                cache.remove(client_id);
            }
            if let Ok(mut missing) = self.missing.write() {
                bounded_insert(&mut missing, client_id, Instant::now(), |at| {
                    at.elapsed() >= ttl
                });
            }
            return Ok(None);
        };
        let client = Arc::new(Client::from_row(row)?);
        if let Ok(mut cache) = self.cache.write() {
            bounded_insert(
                &mut cache,
                client_id,
                (client.clone(), Instant::now()),
                |(_, at)| at.elapsed() >= ttl,
            );
        }
        if let Ok(mut missing) = self.missing.write() {
            missing.remove(client_id);
        }
        Ok(Some(client))
    }

    /// Authenticates a confidential client. Unknown client and wrong secret both answer
    /// `invalid_client` after the same hashing and comparison work.
    pub async fn authenticate(&self, creds: &Credentials) -> Result<Arc<Client>, OAuthError> {
        let client = self.get(&creds.client_id).await?;
        let presented = hash_secret(&creds.client_secret);
        // A public client has no secret: presenting one never authenticates it.
        let expected = client
            .as_ref()
            .and_then(|c| c.secret_hash.as_ref())
            .unwrap_or(&self.dummy_hash);
        // Nor does a client that authenticates with its keys (it has no secret either).
        let ok: bool = hashes_equal(&presented, expected)
            && client
                .as_ref()
                .is_some_and(|c| c.token_endpoint_auth_method == AuthMethod::ClientSecret);
        match client {
            Some(c) if ok => Ok(c),
            Some(_) => {
                tracing::info!(client_id = %creds.client_id, "client authentication failed: wrong secret");
                Err(OAuthError::InvalidClient)
            }
            None => {
                tracing::info!("client authentication failed: unknown client_id");
                Err(OAuthError::InvalidClient)
            }
        }
    }

    /// Forgets what the caches know about `client_id` (on this instance).
    pub fn invalidate(&self, client_id: &str) {
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(client_id);
        }
        if let Ok(mut missing) = self.missing.write() {
            missing.remove(client_id);
        }
    }

    /// Registers a client and returns it with its secret (shown once, stored hashed).
    pub async fn create(
        &self,
        new: NewClient,
        limits: RegistrationLimits,
    ) -> Result<ClientWithSecret> {
        let created = self
            .create_guarded(new, limits, |_, _| Ok::<(), std::convert::Infallible>(()))
            .await?;
        Ok(created.unwrap_or_else(|never| match never {}))
    }

    /// [`create`](Self::create), if `guard` accepts the validated scopes and audiences.
    pub async fn create_guarded<R>(
        &self,
        new: NewClient,
        limits: RegistrationLimits,
        guard: impl FnOnce(&[String], &[String]) -> std::result::Result<(), R>,
    ) -> Result<Guarded<ClientWithSecret, R>> {
        let validated = validate(new, limits)?;
        if let Err(r) = guard(&validated.scopes, &validated.audiences) {
            return Ok(Err(r));
        }
        let client_id = random_token(16)?;
        let (secret, secret_hash) = if validated.auth != AuthMethod::ClientSecret {
            (String::new(), String::new())
        } else {
            let s = random_token(32)?;
            let h = hash_secret_hex(&s);
            (s, h)
        };
        let now = self.clock.now();
        let row = client::ActiveModel {
            client_id: Set(client_id.clone()),
            name_key: Set(name_key(&validated.name)),
            name: Set(validated.name),
            secret_hash: Set(secret_hash),
            redirect_uris: Set(validated.redirect_uris.join(" ")),
            post_logout_redirect_uris: Set(validated.post_logout_redirect_uris.join(" ")),
            token_endpoint_auth_method: Set(validated.auth.as_str().into()),
            jwks: Set(validated.jwks),
            jwks_uri: Set(validated.jwks_uri),
            grant_types: Set(join_grants(&validated.grant_types)),
            scopes: Set(validated.scopes.join(" ")),
            audiences: Set(validated.audiences.join(" ")),
            token_ttl: Set(validated.token_ttl.map(|d| d.as_secs() as i64)),
            alg: Set(validated.alg.map(|a| a.as_str().to_string())),
            dpop_bound_access_tokens: Set(validated.dpop_bound_access_tokens),
            dpop_nonce_required: Set(validated.dpop_nonce_required),
            exchange_audiences: Set(validated.exchange_audiences.join(" ")),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let txn = self.db.begin().await?;
        let model = row.insert(&txn).await?;
        bump_version(&txn).await?;
        txn.commit().await?;
        self.invalidate(&client_id);
        Ok(Ok(ClientWithSecret {
            client: Client::from_row(model)?,
            client_secret: secret,
        }))
    }

    /// The stored row of `client_id`, or `NotFound`.
    async fn row(&self, client_id: &str) -> Result<client::Model> {
        Clients::find_by_id(client_id.to_string())
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("client {client_id}")))
    }

    /// The condition "this client still has the scopes, audiences and authentication
    /// method of `row`": guarded changes write only while what the guard judged is what is
    /// stored (compare-and-set), so a concurrent change cannot slip between the check and
    /// the write (nor two switches of method each believe their new secret is the one).
    fn unchanged_since(row: &client::Model) -> sea_orm::Condition {
        sea_orm::Condition::all()
            .add(client::Column::ClientId.eq(row.client_id.clone()))
            .add(client::Column::Scopes.eq(row.scopes.clone()))
            .add(client::Column::Audiences.eq(row.audiences.clone()))
            .add(client::Column::TokenEndpointAuthMethod.eq(row.token_endpoint_auth_method.clone()))
    }

    /// A client read from the database (not the cache), for the admin API.
    pub async fn fetch(&self, client_id: &str) -> Result<Option<Client>> {
        Clients::find_by_id(client_id.to_string())
            .one(&self.db)
            .await?
            .map(Client::from_row)
            .transpose()
    }

    /// A page of clients in creation order.
    pub async fn page(&self, cursor: Option<&str>, limit: u64) -> Result<Page<Client>> {
        let rows = page_query(cursor, limit)?.all(&self.db).await?;
        Page::from_rows(
            rows,
            limit,
            |r| paging::encode_cursor(&format!("{}:{}", r.created_at, r.client_id)),
            Client::from_row,
        )
    }

    /// A page of the clients whose name starts with `term`, without regard to case, in
    /// name order: one range of `idx_clients_name_key` (tested in `query_plans`), however
    /// large the registry.
    pub async fn search(
        &self,
        term: &str,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Page<Client>> {
        let rows = search_query(term, cursor, limit)?.all(&self.db).await?;
        Page::from_rows(
            rows,
            limit,
            |r| paging::encode_cursor(&format!("{}\n{}", r.name_key, r.client_id)),
            Client::from_row,
        )
    }

    /// Applies `changes` with the same validation as registration. Tokens already issued
    /// keep their claims; new tokens follow the new settings (at once on this instance,
    /// within `client_cache_ttl` on others). The answer carries a secret only when the
    /// changes switched the client to [`AuthMethod::ClientSecret`] (shown this once).
    pub async fn update(
        &self,
        client_id: &str,
        changes: ClientUpdate,
        limits: RegistrationLimits,
    ) -> Result<ClientWithSecret> {
        let updated = self
            .update_guarded(client_id, changes, limits, |_, _| {
                Ok::<(), std::convert::Infallible>(())
            })
            .await?;
        Ok(updated.unwrap_or_else(|never| match never {}))
    }

    /// [`update`](Self::update), if `guard` accepts the client as stored and the scopes
    /// and audiences it would have. The write happens only if the stored scopes, audiences
    /// and authentication method are still those the guard saw (otherwise it re-reads and
    /// asks again).
    ///
    /// A switch of authentication method replaces the credentials in the same
    /// transaction: the old secret or keys stop working, a new secret is generated when
    /// the new method uses one, and every refresh-token family of the client is revoked.
    /// Those tokens were issued to whoever held the old credentials; after a switch to
    /// `none` they would otherwise be redeemable with the client id alone.
    pub async fn update_guarded<R>(
        &self,
        client_id: &str,
        changes: ClientUpdate,
        limits: RegistrationLimits,
        mut guard: impl FnMut(&Client, (&[String], &[String])) -> std::result::Result<(), R>,
    ) -> Result<Guarded<ClientWithSecret, R>> {
        for _ in 0..GUARD_ATTEMPTS {
            let row = self.row(client_id).await?;
            let current = Client::from_row(row.clone())?;
            let v = validate(merge(&current, changes.clone())?, limits)?;
            if let Err(r) = guard(&current, (&v.scopes, &v.audiences)) {
                return Ok(Err(r));
            }
            let switched = v.auth != current.token_endpoint_auth_method;
            let secret = if switched && v.auth == AuthMethod::ClientSecret {
                random_token(32)?
            } else {
                String::new()
            };
            let now = self.clock.now();
            let mut am = client::ActiveModel {
                name_key: Set(name_key(&v.name)),
                name: Set(v.name),
                grant_types: Set(join_grants(&v.grant_types)),
                scopes: Set(v.scopes.join(" ")),
                audiences: Set(v.audiences.join(" ")),
                token_ttl: Set(v.token_ttl.map(|d| d.as_secs() as i64)),
                alg: Set(v.alg.map(|a| a.as_str().to_string())),
                redirect_uris: Set(v.redirect_uris.join(" ")),
                post_logout_redirect_uris: Set(v.post_logout_redirect_uris.join(" ")),
                dpop_bound_access_tokens: Set(v.dpop_bound_access_tokens),
                dpop_nonce_required: Set(v.dpop_nonce_required),
                exchange_audiences: Set(v.exchange_audiences.join(" ")),
                jwks: Set(v.jwks),
                jwks_uri: Set(v.jwks_uri),
                updated_at: Set(now),
                ..Default::default()
            };
            if switched {
                am.token_endpoint_auth_method = Set(v.auth.as_str().into());
                am.secret_hash = Set(if secret.is_empty() {
                    String::new()
                } else {
                    hash_secret_hex(&secret)
                });
            }
            let txn = self.db.begin().await?;
            let res = Clients::update_many()
                .set(am)
                .filter(Self::unchanged_since(&row))
                .exec(&txn)
                .await?;
            if res.rows_affected > 0 {
                bump_version(&txn).await?;
                if switched {
                    revoke_refresh_families(&txn, client_id, now).await?;
                }
            }
            txn.commit().await?;
            self.invalidate(client_id);
            if res.rows_affected > 0 {
                return Ok(Ok(ClientWithSecret {
                    client: Client::from_row(self.row(client_id).await?)?,
                    client_secret: secret,
                }));
            }
        }
        Err(Error::Conflict(
            "the client changed during the update; retry".into(),
        ))
    }

    pub async fn list(&self) -> Result<Vec<Client>> {
        Clients::find()
            .order_by_asc(client::Column::CreatedAt)
            .order_by_asc(client::Column::ClientId)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Client::from_row)
            .collect()
    }

    /// The registry's change counter: bumped, in the same transaction, by every
    /// registration, update and deletion, on any instance. One primary-key read.
    pub async fn version(&self) -> Result<i64> {
        Ok(RegistryVersions::find_by_id(CLIENTS_REGISTRY.to_string())
            .one(&self.db)
            .await?
            .map_or(0, |r| r.version))
    }

    /// Every scope some client may request, sorted (discovery's `scopes_supported`), with
    /// the [`version`](Self::version) it is at least as new as — or `None` when the
    /// version is still `known`. The check is one primary-key read; only a changed
    /// registry is read whole (see `docs/scale.md`).
    ///
    /// The version is read before the scopes: a change that lands in between is in the
    /// scopes already and bumps the version past the one returned, so the next call reads
    /// again (once too often, never once too few).
    pub async fn scopes_if_changed(
        &self,
        known: Option<i64>,
    ) -> Result<Option<(i64, Vec<String>)>> {
        let version = self.version().await?;
        if known == Some(version) {
            return Ok(None);
        }
        Ok(Some((version, self.all_scopes().await?)))
    }

    /// Every scope some client may request, sorted. Reads the scopes column of every
    /// client: call through [`scopes_if_changed`](Self::scopes_if_changed). Read in
    /// primary-key chunks, so memory holds one chunk and the distinct scopes (not every
    /// client's row), and the connection is free for requests between chunks.
    pub async fn all_scopes(&self) -> Result<Vec<String>> {
        use sea_orm::QuerySelect;
        const CHUNK: u64 = 1000;
        let mut scopes = std::collections::BTreeSet::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = Clients::find()
                .select_only()
                .column(client::Column::ClientId)
                .column(client::Column::Scopes)
                .order_by_asc(client::Column::ClientId)
                .limit(CHUNK);
            if let Some(id) = &after {
                q = q.filter(client::Column::ClientId.gt(id.clone()));
            }
            let rows: Vec<(String, String)> = q.into_tuple().all(&self.db).await?;
            for (_, s) in &rows {
                for scope in s.split_whitespace() {
                    if !scopes.contains(scope) {
                        scopes.insert(scope.to_string());
                    }
                }
            }
            if (rows.len() as u64) < CHUNK {
                return Ok(scopes.into_iter().collect());
            }
            after = rows.into_iter().last().map(|(id, _)| id);
        }
    }

    /// Deletes a client; `false` if it did not exist.
    pub async fn delete(&self, client_id: &str) -> Result<bool> {
        let txn = self.db.begin().await?;
        let res = Clients::delete_by_id(client_id.to_string())
            .exec(&txn)
            .await?;
        if res.rows_affected > 0 {
            bump_version(&txn).await?;
        }
        txn.commit().await?;
        self.invalidate(client_id);
        Ok(res.rows_affected > 0)
    }

    /// [`delete`](Self::delete), if `guard` accepts the client as stored (compare-and-set
    /// as in [`update_guarded`](Self::update_guarded)).
    pub async fn delete_guarded<R>(
        &self,
        client_id: &str,
        mut guard: impl FnMut(&Client) -> std::result::Result<(), R>,
    ) -> Result<Guarded<bool, R>> {
        for _ in 0..GUARD_ATTEMPTS {
            let row = match self.row(client_id).await {
                Ok(row) => row,
                Err(Error::NotFound(_)) => return Ok(Ok(false)),
                Err(e) => return Err(e),
            };
            if let Err(r) = guard(&Client::from_row(row.clone())?) {
                return Ok(Err(r));
            }
            let txn = self.db.begin().await?;
            let res = Clients::delete_many()
                .filter(Self::unchanged_since(&row))
                .exec(&txn)
                .await?;
            if res.rows_affected > 0 {
                bump_version(&txn).await?;
            }
            txn.commit().await?;
            self.invalidate(client_id);
            if res.rows_affected > 0 {
                return Ok(Ok(true));
            }
        }
        Err(Error::Conflict(
            "the client changed during the delete; retry".into(),
        ))
    }

    /// Replaces the secret; the old one stops working (within the cache lifetime on other
    /// instances, at once on this one).
    pub async fn rotate_secret(&self, client_id: &str) -> Result<ClientWithSecret> {
        let rotated = self
            .rotate_secret_guarded(client_id, |_| Ok::<(), std::convert::Infallible>(()))
            .await?;
        Ok(rotated.unwrap_or_else(|never| match never {}))
    }

    /// [`rotate_secret`](Self::rotate_secret), if `guard` accepts the client as stored
    /// (compare-and-set as in [`update_guarded`](Self::update_guarded)).
    pub async fn rotate_secret_guarded<R>(
        &self,
        client_id: &str,
        mut guard: impl FnMut(&Client) -> std::result::Result<(), R>,
    ) -> Result<Guarded<ClientWithSecret, R>> {
        for _ in 0..GUARD_ATTEMPTS {
            let row = self.row(client_id).await?;
            if row.token_endpoint_auth_method == AUTH_METHOD_NONE {
                return Err(Error::invalid(
                    Field::Public,
                    "a public client has no secret to rotate",
                ));
            }
            if row.token_endpoint_auth_method == AUTH_METHOD_PRIVATE_KEY_JWT {
                return Err(Error::invalid(
                    Field::Jwks,
                    "a private_key_jwt client has no secret to rotate (update its keys instead)",
                ));
            }
            if row.token_endpoint_auth_method != AUTH_METHOD_SECRET {
                return Err(Error::invalid(
                    Field::Federated,
                    "a federated client has no secret to rotate (it authenticates with its federated identities)",
                ));
            }
            if let Err(r) = guard(&Client::from_row(row.clone())?) {
                return Ok(Err(r));
            }
            let secret = random_token(32)?;
            let am = client::ActiveModel {
                secret_hash: Set(hash_secret_hex(&secret)),
                updated_at: Set(self.clock.now()),
                ..Default::default()
            };
            let res = Clients::update_many()
                .set(am)
                .filter(Self::unchanged_since(&row))
                .exec(&self.db)
                .await?;
            self.invalidate(client_id);
            if res.rows_affected > 0 {
                return Ok(Ok(ClientWithSecret {
                    client: Client::from_row(self.row(client_id).await?)?,
                    client_secret: secret,
                }));
            }
        }
        Err(Error::Conflict(
            "the client changed during the rotation; retry".into(),
        ))
    }
}

/// The registration `changes` would leave: absent fields keep their current values. A
/// client keeps its method and keys unless the changes name new ones: a `private_key_jwt`
/// client may change its keys (inline to URL and back); a switch of method drops the old
/// keys, and a switch to `private_key_jwt` must bring its keys.
fn merge(current: &Client, changes: ClientUpdate) -> Result<NewClient> {
    let method = changes
        .token_endpoint_auth_method
        .unwrap_or(current.token_endpoint_auth_method);
    let switched = method != current.token_endpoint_auth_method;
    let keyed = method == AuthMethod::PrivateKeyJwt;
    if !keyed && (changes.jwks.is_some() || changes.jwks_uri.is_some()) {
        return Err(Error::invalid(
            Field::Jwks,
            "only a private_key_jwt client has keys",
        ));
    }
    let (jwks, jwks_uri) = match (changes.jwks, changes.jwks_uri) {
        (None, None) if !switched => (
            current.jwks.as_ref().map(|v| v.to_string()),
            current.jwks_uri.clone(),
        ),
        (None, None) if keyed => {
            return Err(Error::invalid(
                Field::Jwks,
                "switching to private_key_jwt needs the client's keys: jwks or jwks_uri",
            ));
        }
        (jwks, jwks_uri) => (jwks, jwks_uri),
    };
    let current = current.clone();
    Ok(NewClient {
        name: changes.name.unwrap_or(current.name),
        grant_types: changes.grant_types.unwrap_or_else(|| {
            current
                .grant_types
                .iter()
                .map(|g| g.as_str().to_string())
                .collect()
        }),
        scopes: changes.scopes.unwrap_or(current.scopes),
        audiences: changes.audiences.unwrap_or(current.audiences),
        token_ttl: changes.token_ttl.unwrap_or(
            current
                .token_ttl
                .map(|s| Duration::from_secs(s.max(0) as u64)),
        ),
        alg: changes.alg.unwrap_or(current.alg),
        redirect_uris: changes.redirect_uris.unwrap_or(current.redirect_uris),
        post_logout_redirect_uris: changes
            .post_logout_redirect_uris
            .unwrap_or(current.post_logout_redirect_uris),
        public: method == AuthMethod::None,
        federated: method == AuthMethod::Federated,
        jwks,
        jwks_uri,
        dpop_bound_access_tokens: changes
            .dpop_bound_access_tokens
            .unwrap_or(current.dpop_bound_access_tokens),
        dpop_nonce_required: changes
            .dpop_nonce_required
            .unwrap_or(current.dpop_nonce_required),
        exchange_audiences: changes
            .exchange_audiences
            .unwrap_or(current.exchange_audiences),
    })
}

struct Validated {
    name: String,
    grant_types: Vec<GrantType>,
    scopes: Vec<String>,
    audiences: Vec<String>,
    token_ttl: Option<Duration>,
    alg: Option<Alg>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    auth: AuthMethod,
    /// The inline JWK Set, compact JSON.
    jwks: Option<String>,
    jwks_uri: Option<String>,
    dpop_bound_access_tokens: bool,
    dpop_nonce_required: bool,
    exchange_audiences: Vec<String>,
}

/// How a registration authenticates, and its keys (validated).
fn validate_keys(
    public: bool,
    federated: bool,
    jwks: Option<&str>,
    jwks_uri: Option<&str>,
) -> Result<(AuthMethod, Option<String>, Option<String>)> {
    if federated {
        return match (public, jwks, jwks_uri) {
            (false, None, None) => Ok((AuthMethod::Federated, None, None)),
            _ => Err(Error::invalid(
                Field::Public,
                "a federated client has neither keys nor a secret, and is not public",
            )),
        };
    }
    match (public, jwks, jwks_uri) {
        (true, None, None) => Ok((AuthMethod::None, None, None)),
        (false, None, None) => Ok((AuthMethod::ClientSecret, None, None)),
        (true, _, _) => Err(Error::invalid(
            Field::Public,
            "a public client has no keys (jwks and jwks_uri are for private_key_jwt clients)",
        )),
        (false, Some(_), Some(_)) => Err(Error::invalid(
            Field::Jwks,
            "give either jwks or jwks_uri, not both",
        )),
        (false, Some(text), None) => {
            if text.len() > MAX_JWKS_LEN {
                return Err(Error::invalid(
                    Field::Jwks,
                    format!("larger than {MAX_JWKS_LEN} bytes"),
                ));
            }
            import_jwks(text).map_err(|e| Error::invalid(Field::Jwks, e.to_string()))?;
            // Stored compact; the keys were checked, the text is what is kept.
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|_| Error::invalid(Field::Jwks, "not JSON"))?;
            Ok((AuthMethod::PrivateKeyJwt, Some(value.to_string()), None))
        }
        (false, None, Some(uri)) => {
            check_jwks_uri(uri).map_err(|why| Error::invalid(Field::JwksUri, why))?;
            Ok((AuthMethod::PrivateKeyJwt, None, Some(uri.to_string())))
        }
    }
}

/// The form of a `jwks_uri` a client may register: an absolute `https` URL (or `http` to
/// a loopback host, for development) without user information or fragment. Whether the
/// server may fetch it (SSRF guards, `remote_jwks_*` settings) is decided by
/// `remote_jwks::Fetcher::check_url` at registration and again at every connection.
pub fn check_jwks_uri(uri: &str) -> Result<(), &'static str> {
    let rest = match (uri.strip_prefix("https://"), uri.strip_prefix("http://")) {
        (Some(rest), _) => rest,
        (None, Some(rest))
            if ["127.0.0.1", "[::1]", "localhost"].iter().any(|h| {
                rest.strip_prefix(h)
                    .is_some_and(|r| r.is_empty() || r.starts_with([':', '/']))
            }) =>
        {
            rest
        }
        _ => return Err("must be an https URL"),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') || uri.contains('#') {
        return Err("must be an https URL with a host, without user information or fragment");
    }
    if uri.len() > 2048 || uri.chars().any(|c| c.is_control() || c == ' ') {
        return Err("must be an https URL of at most 2048 characters");
    }
    Ok(())
}

/// Refuses control characters (NUL, newlines, tabs, escapes, C1 controls) in every
/// entry of a text field: they have no place in names, scopes, audiences or URIs and are
/// the raw material of log and header injection (A5).
fn no_control_chars<'a>(field: Field, values: impl IntoIterator<Item = &'a str>) -> Result<()> {
    if values.into_iter().any(|v| v.chars().any(char::is_control)) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn validate(new: NewClient, limits: RegistrationLimits) -> Result<Validated> {
    no_control_chars(Field::Name, [new.name.as_str()])?;
    no_control_chars(Field::Scopes, new.scopes.iter().map(String::as_str))?;
    no_control_chars(Field::Audiences, new.audiences.iter().map(String::as_str))?;
    no_control_chars(
        Field::ExchangeAudiences,
        new.exchange_audiences.iter().map(String::as_str),
    )?;
    no_control_chars(
        Field::RedirectUris,
        new.redirect_uris.iter().map(String::as_str),
    )?;
    no_control_chars(
        Field::PostLogoutRedirectUris,
        new.post_logout_redirect_uris.iter().map(String::as_str),
    )?;
    let (auth, jwks, jwks_uri) = validate_keys(
        new.public,
        new.federated,
        new.jwks.as_deref(),
        new.jwks_uri.as_deref(),
    )?;
    let name = new.name.trim().to_string();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::invalid(Field::Name, "must be 1 to 200 characters"));
    }
    let mut grant_types = Vec::new();
    for g in new
        .grant_types
        .iter()
        .flat_map(|g| g.split([' ', ',']))
        .filter(|g| !g.is_empty())
    {
        let gt = GrantType::parse_registered(g).ok_or_else(|| {
            Error::invalid(Field::GrantTypes, format!(
                "unsupported grant type {g:?} (supported: client_credentials, password, refresh_token, authorization_code, token_exchange, device_code)"
            ))
        })?;
        if !grant_types.contains(&gt) {
            grant_types.push(gt);
        }
    }
    if grant_types.is_empty() {
        return Err(Error::invalid(
            Field::GrantTypes,
            "at least one grant type is required",
        ));
    }
    let mut scopes = Vec::new();
    for s in new.scopes.iter().flat_map(|s| s.split_whitespace()) {
        if !is_scope_token(s) {
            return Err(Error::invalid(
                Field::Scopes,
                format!("{s:?} is not a valid scope token (RFC 6749 §3.3)"),
            ));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }
    let mut audiences = Vec::new();
    for a in new.audiences.iter().flat_map(|a| a.split_whitespace()) {
        if a.len() > 512 {
            return Err(Error::invalid(Field::Audiences, "too long"));
        }
        if !audiences.iter().any(|x| x == a) {
            audiences.push(a.to_string());
        }
    }
    if audiences.is_empty() {
        return Err(Error::invalid(
            Field::Audiences,
            "at least one audience (the resource server that accepts the tokens) is required",
        ));
    }
    let exchange_audiences = exchange_audiences(&grant_types, &new.exchange_audiences)?;
    if let Some(ttl) = new.token_ttl
        && (ttl < Duration::from_secs(1) || ttl > limits.max_token_ttl)
    {
        return Err(Error::invalid(
            Field::TokenTtl,
            format!(
                "must be between 1s and max_access_token_ttl ({})",
                humantime::format_duration(limits.max_token_ttl)
            ),
        ));
    }
    let redirect = redirect_uris::validate_client_uris(
        &grant_types,
        &new.redirect_uris,
        &new.post_logout_redirect_uris,
        new.public,
    )?;
    Ok(Validated {
        name,
        grant_types,
        scopes,
        audiences,
        token_ttl: new.token_ttl,
        alg: new.alg,
        redirect_uris: redirect.redirect_uris,
        post_logout_redirect_uris: redirect.post_logout_redirect_uris,
        auth,
        jwks,
        jwks_uri,
        dpop_bound_access_tokens: new.dpop_bound_access_tokens,
        dpop_nonce_required: new.dpop_nonce_required,
        exchange_audiences,
    })
}

/// The token-exchange policy of a registration: the audiences the client may exchange
/// for. Required with the `token_exchange` grant (a client allowed to exchange for nothing
/// is a registration mistake better reported now than at every exchange), refused without
/// it (a policy that does nothing would mislead the next reader).
fn exchange_audiences(grants: &[GrantType], given: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for a in given.iter().flat_map(|a| a.split_whitespace()) {
        if a.len() > 512 {
            return Err(Error::invalid(Field::ExchangeAudiences, "too long"));
        }
        if !out.iter().any(|x| x == a) {
            out.push(a.to_string());
        }
    }
    match (grants.contains(&GrantType::TokenExchange), out.is_empty()) {
        (true, true) => Err(Error::invalid(
            Field::ExchangeAudiences,
            "the token_exchange grant needs at least one exchange audience (the services the client may call on a user's behalf)",
        )),
        (false, false) => Err(Error::invalid(
            Field::ExchangeAudiences,
            "exchange audiences are only for clients with the token_exchange grant",
        )),
        _ => Ok(out),
    }
}

/// The query of one [`ClientRegistry::page`]: `limit + 1` rows after the cursor, a range
/// of `idx_clients_created` (tested with `EXPLAIN QUERY PLAN` in `query_plans`).
pub(crate) fn page_query(cursor: Option<&str>, limit: u64) -> Result<sea_orm::Select<Clients>> {
    use sea_orm::{Condition, QuerySelect};
    let mut q = Clients::find()
        .order_by_asc(client::Column::CreatedAt)
        .order_by_asc(client::Column::ClientId);
    if let Some(c) = cursor {
        let key = paging::decode_cursor(c)?;
        let (at, id) = key
            .split_once(':')
            .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())))
            .ok_or_else(|| {
                Error::invalid(Field::Cursor, "not a cursor returned by this listing")
            })?;
        // `(created_at, client_id) > (at, id)`, written so that the first term bounds
        // a range of `idx_clients_created` (which also gives the order): O(log N + page)
        // however deep the page (an `OR` of the two cases is not a range).
        q = q.filter(
            Condition::all().add(client::Column::CreatedAt.gte(at)).add(
                Condition::any()
                    .add(client::Column::CreatedAt.gt(at))
                    .add(client::Column::ClientId.gt(id)),
            ),
        );
    }
    Ok(q.limit(limit + 1))
}

/// The search key of a client name (`clients.name_key`): lowercase, so a search ignores
/// case. Names have no control characters, so `\n` separates the key from the client id in
/// a search cursor.
pub(crate) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// The query of one [`ClientRegistry::search`]: `limit + 1` clients whose `name_key` starts
/// with the lowercased `term`, after the cursor, in `(name_key, client_id)` order: a range
/// of `idx_clients_name_key` (see [`paging::prefix_successor`]).
pub(crate) fn search_query(
    term: &str,
    cursor: Option<&str>,
    limit: u64,
) -> Result<sea_orm::Select<Clients>> {
    use sea_orm::{Condition, QuerySelect};
    let prefix = name_key(term.trim());
    let mut q = Clients::find()
        .filter(client::Column::NameKey.gte(prefix.clone()))
        .order_by_asc(client::Column::NameKey)
        .order_by_asc(client::Column::ClientId);
    if let Some(end) = paging::prefix_successor(&prefix) {
        q = q.filter(client::Column::NameKey.lt(end));
    }
    if let Some(c) = cursor {
        let key = paging::decode_cursor(c)?;
        let (name, id) = key.split_once('\n').ok_or_else(|| {
            Error::invalid(Field::Cursor, "not a cursor returned by this listing")
        })?;
        // `(name_key, client_id) > (name, id)` as a range of the index (see `page_query`).
        q = q.filter(
            Condition::all().add(client::Column::NameKey.gte(name)).add(
                Condition::any()
                    .add(client::Column::NameKey.gt(name))
                    .add(client::Column::ClientId.gt(id)),
            ),
        );
    }
    Ok(q.limit(limit + 1))
}

/// The `registry_versions` row of the client registry.
const CLIENTS_REGISTRY: &str = "clients";

/// Counts a change of the client registry, inside the transaction that makes it.
async fn bump_version(txn: &impl ConnectionTrait) -> Result<()> {
    RegistryVersions::update_many()
        .col_expr(
            registry_version::Column::Version,
            sea_orm::sea_query::ExprTrait::add(Expr::col(registry_version::Column::Version), 1),
        )
        .filter(registry_version::Column::Name.eq(CLIENTS_REGISTRY))
        .exec(txn)
        .await?;
    Ok(())
}

/// The query that revokes every live refresh-token family of a client (a range of
/// `idx_refresh_families_client`, tested in `query_plans`).
pub(crate) fn revoke_refresh_families_query(
    client_id: &str,
    now: i64,
) -> sea_orm::UpdateMany<refresh_family::Entity> {
    refresh_family::Entity::update_many()
        .col_expr(refresh_family::Column::RevokedAt, Expr::value(now))
        .filter(refresh_family::Column::ClientId.eq(client_id))
        .filter(refresh_family::Column::RevokedAt.is_null())
}

/// Revokes the client's refresh-token families, inside the transaction that switches its
/// authentication method ([`ClientRegistry::update_guarded`]). Written here rather than in
/// `refresh_families`, which reads clients: the two modules must not import each other.
async fn revoke_refresh_families(
    txn: &impl ConnectionTrait,
    client_id: &str,
    now: i64,
) -> Result<u64> {
    Ok(revoke_refresh_families_query(client_id, now)
        .exec(txn)
        .await?
        .rows_affected)
}

fn join_grants(grants: &[GrantType]) -> String {
    grants
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn split(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_uris_must_be_https() {
        for bad in [
            "http://keys.example/jwks",
            "http://127.0.0.1.example/jwks",
            "https://",
            "https://u@h/x",
            "https://h/x#f",
            "ftp://h",
        ] {
            assert!(check_jwks_uri(bad).is_err(), "{bad}");
        }
        for good in [
            "https://keys.example/jwks.json",
            "http://127.0.0.1:8080/jwks",
        ] {
            assert!(check_jwks_uri(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn registration_is_validated() {
        let limits = RegistrationLimits {
            max_token_ttl: Duration::from_secs(3600),
        };
        let ok = NewClient {
            name: "billing".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["orders:read orders:write".into()],
            audiences: vec!["https://orders.internal".into()],
            ..Default::default()
        };
        let v = validate(ok.clone(), limits).unwrap();
        assert_eq!(v.scopes, vec!["orders:read", "orders:write"]);
        assert!(
            validate(
                NewClient {
                    audiences: vec![],
                    ..ok.clone()
                },
                limits
            )
            .is_err()
        );
        assert!(
            validate(
                NewClient {
                    grant_types: vec!["implicit".into()],
                    ..ok.clone()
                },
                limits
            )
            .is_err()
        );
        assert!(
            validate(
                NewClient {
                    token_ttl: Some(Duration::from_secs(7200)),
                    ..ok.clone()
                },
                limits
            )
            .is_err()
        );
        assert!(
            validate(
                NewClient {
                    scopes: vec!["bad\"scope".into()],
                    ..ok
                },
                limits
            )
            .is_err()
        );
    }

    /// The token-exchange policy: required with the grant (registered by its short name,
    /// stored and served as the RFC 8693 URN), refused without it.
    #[test]
    fn exchange_audiences_go_with_the_token_exchange_grant() {
        let limits = RegistrationLimits {
            max_token_ttl: Duration::from_secs(3600),
        };
        let gateway = NewClient {
            name: "gateway".into(),
            grant_types: vec!["client_credentials token_exchange".into()],
            audiences: vec!["https://gateway.internal".into()],
            exchange_audiences: vec!["https://orders.internal".into()],
            ..Default::default()
        };
        let v = validate(gateway.clone(), limits).unwrap();
        assert!(v.grant_types.contains(&GrantType::TokenExchange));
        assert_eq!(
            join_grants(&v.grant_types),
            format!("client_credentials {TOKEN_EXCHANGE}")
        );
        assert_eq!(
            GrantType::parse("token_exchange"),
            None,
            "the URN alone at /oauth/token"
        );
        let none = NewClient {
            exchange_audiences: vec![],
            ..gateway.clone()
        };
        assert!(validate(none, limits).is_err());
        let without_grant = NewClient {
            grant_types: vec!["client_credentials".into()],
            ..gateway
        };
        assert!(validate(without_grant, limits).is_err());
    }
}
