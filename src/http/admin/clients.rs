//! `/admin/v1/clients`: register, list, read, update, rotate the secret of, delete clients.

use std::time::Duration;

use super::{AdminCtx, AdminError, AdminResult, AdminToken};
use crate::{
    admin::{Actor, Area},
    clients::{AuthMethod, Client, ClientUpdate, ClientWithSecret, NewClient},
    error::{Error, Field},
    http::ApiTags,
    keys::Alg,
    paging,
};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
};

/// A signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum SigningAlg {
    ES256,
    RS256,
}

impl From<SigningAlg> for Alg {
    fn from(a: SigningAlg) -> Self {
        match a {
            SigningAlg::ES256 => Alg::ES256,
            SigningAlg::RS256 => Alg::RS256,
        }
    }
}

impl From<Alg> for SigningAlg {
    fn from(a: Alg) -> Self {
        match a {
            Alg::ES256 => SigningAlg::ES256,
            Alg::RS256 => SigningAlg::RS256,
        }
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum TokenEndpointAuthMethod {
    /// A server-generated secret, sent with HTTP Basic or in the body.
    #[oai(rename = "client_secret_basic")]
    ClientSecretBasic,
    /// A JWT signed with one of the client's registered keys (`jwks` or `jwks_uri`).
    #[oai(rename = "private_key_jwt")]
    PrivateKeyJwt,
    /// A public client: no secret, PKCE only.
    #[oai(rename = "none")]
    None,
    /// Workload identity federation: tokens of the federated identities bound to it.
    #[oai(rename = "federated")]
    Federated,
}

impl From<TokenEndpointAuthMethod> for AuthMethod {
    fn from(m: TokenEndpointAuthMethod) -> Self {
        match m {
            TokenEndpointAuthMethod::ClientSecretBasic => AuthMethod::ClientSecret,
            TokenEndpointAuthMethod::PrivateKeyJwt => AuthMethod::PrivateKeyJwt,
            TokenEndpointAuthMethod::None => AuthMethod::None,
            TokenEndpointAuthMethod::Federated => AuthMethod::Federated,
        }
    }
}

/// A registered client (its secret is never shown again after creation or rotation).
#[derive(Debug, Object)]
#[oai(example)]
pub struct ClientBody {
    /// The client id (server-generated).
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Grant types it may use: `client_credentials`, `password`, `refresh_token`,
    /// `authorization_code`, `urn:ietf:params:oauth:grant-type:token-exchange`,
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    pub grant_types: Vec<String>,
    /// Scopes it may request.
    pub scopes: Vec<String>,
    /// Audiences of its tokens (one is selected with RFC 8707 `resource`).
    pub audiences: Vec<String>,
    /// Redirect URIs of the authorization code flow, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to.
    pub post_logout_redirect_uris: Vec<String>,
    /// `client_secret_basic` (confidential: has a secret), `private_key_jwt` (signs client
    /// assertions with its own key; no secret) or `none` (public: PKCE only).
    pub token_endpoint_auth_method: String,
    /// `private_key_jwt`: the registered JWK Set (public keys), when given inline.
    #[oai(skip_serializing_if_is_none)]
    pub jwks: Option<serde_json::Value>,
    /// `private_key_jwt`: the URL of the client's JWK Set.
    #[oai(skip_serializing_if_is_none)]
    pub jwks_uri: Option<String>,
    /// Access-token lifetime in seconds; absent = the server's `access_token_ttl`.
    #[oai(skip_serializing_if_is_none)]
    pub token_ttl: Option<u64>,
    /// Signing algorithm of its tokens; absent = the server's `default_alg`.
    #[oai(skip_serializing_if_is_none)]
    pub alg: Option<SigningAlg>,
    /// RFC 9449 §5.2: the client must send a DPoP proof at the token endpoint; its access
    /// tokens are always DPoP-bound.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9449 §8: the client's DPoP proofs must carry a server nonce (`DPoP-Nonce`), also
    /// when the server's `dpop_nonce` setting is `off`.
    pub dpop_nonce_required: bool,
    /// RFC 8693 token exchange: the audiences the client may obtain by exchanging a token
    /// it received (`audience`/`resource` of the exchange); empty without the
    /// `token_exchange` grant.
    pub exchange_audiences: Vec<String>,
    /// Registration time, Unix seconds.
    pub created_at: i64,
}

impl poem_openapi::types::Example for ClientBody {
    fn example() -> Self {
        ClientBody {
            client_id: "Jq3vX0b1mY8k2fQeZ7tLhA".into(),
            name: "billing".into(),
            grant_types: default_grants(),
            scopes: vec!["orders:read".into()],
            audiences: vec!["https://orders.internal".into()],
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            token_endpoint_auth_method: "client_secret_basic".into(),
            jwks: None,
            jwks_uri: None,
            token_ttl: Some(900),
            alg: Some(SigningAlg::ES256),
            dpop_bound_access_tokens: false,
            dpop_nonce_required: false,
            exchange_audiences: vec![],
            created_at: 1_795_000_000,
        }
    }
}

impl From<Client> for ClientBody {
    fn from(c: Client) -> Self {
        ClientBody {
            grant_types: c
                .grant_types
                .iter()
                .map(|g| g.as_str().to_string())
                .collect(),
            token_ttl: c.token_ttl.map(|t| t.max(0) as u64),
            alg: c.alg.map(Into::into),
            token_endpoint_auth_method: c.token_endpoint_auth_method.to_string(),
            jwks: c.jwks,
            jwks_uri: c.jwks_uri,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            client_id: c.client_id,
            name: c.name,
            scopes: c.scopes,
            audiences: c.audiences,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            dpop_nonce_required: c.dpop_nonce_required,
            exchange_audiences: c.exchange_audiences,
            created_at: c.created_at,
        }
    }
}

/// A client with its secret: shown exactly once, Tessera stores only a hash.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ClientCredentialsBody {
    /// The client.
    pub client: ClientBody,
    /// The client secret (256 bits, base64url). Store it now: it cannot be shown again.
    /// Absent for a public client, which has none.
    #[oai(skip_serializing_if_is_none)]
    pub client_secret: Option<String>,
}

impl poem_openapi::types::Example for ClientCredentialsBody {
    fn example() -> Self {
        ClientCredentialsBody {
            client: ClientBody::example(),
            client_secret: Some("x4GkR0pV9z7sQ2mN8bW1cT5yH3jL6dF0aE9uK2iO7qS".into()),
        }
    }
}

impl From<ClientWithSecret> for ClientCredentialsBody {
    fn from(c: ClientWithSecret) -> Self {
        ClientCredentialsBody {
            client: c.client.into(),
            client_secret: Some(c.client_secret).filter(|s| !s.is_empty()),
        }
    }
}

/// A client after an update: its registration, and the new secret when the update
/// switched it to `client_secret_basic`.
#[derive(Debug, Object)]
pub struct UpdatedClientBody {
    /// The registration as it is now.
    #[oai(flatten)]
    pub client: ClientBody,
    /// The secret generated because the update switched the client to
    /// `client_secret_basic` (256 bits, base64url). Store it now: it cannot be shown again.
    /// Absent otherwise.
    #[oai(skip_serializing_if_is_none)]
    pub client_secret: Option<String>,
}

/// A page of clients, oldest first.
#[derive(Debug, Object)]
pub struct ClientPage {
    /// Up to `limit` clients.
    pub items: Vec<ClientBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A client to register. The secret is generated by the server.
#[derive(Debug, Object)]
#[oai(example)]
pub struct NewClientBody {
    /// Display name, 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// Grant types: `client_credentials` (default), `password`, `refresh_token`,
    /// `authorization_code`, `token_exchange` (RFC 8693; needs `exchange_audiences`),
    /// `device_code` (RFC 8628).
    #[oai(default = "default_grants")]
    pub grant_types: Vec<String>,
    /// Scopes it may request (RFC 6749 §3.3 scope tokens).
    #[oai(default)]
    pub scopes: Vec<String>,
    /// Audiences of its tokens; at least one.
    pub audiences: Vec<String>,
    /// Access-token lifetime in seconds (1 to the server's `max_access_token_ttl`).
    #[oai(validator(minimum(value = "1")))]
    pub token_ttl: Option<u64>,
    /// Signing algorithm of its tokens (default: the server's `default_alg`).
    pub alg: Option<SigningAlg>,
    /// Redirect URIs for the authorization code flow (required with that grant), matched
    /// exactly; `http` only on loopback hosts, no fragments.
    #[oai(default)]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to.
    #[oai(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (SPA, mobile app, CLI): no secret, PKCE only, only the
    /// `authorization_code`, `device_code` and `refresh_token` grants. To change later,
    /// update `token_endpoint_auth_method`.
    #[oai(default)]
    pub public: bool,
    /// Workload identity federation: the client has neither secret nor keys and
    /// authenticates with tokens of the federated identities bound to it afterwards
    /// (`POST /clients/{client_id}/federated-identities`). To change later, update
    /// `token_endpoint_auth_method`.
    #[oai(default)]
    pub federated: bool,
    /// RFC 9449 §5.2: require a DPoP proof at the token endpoint (all its access tokens are
    /// then DPoP-bound). Default `false`.
    #[oai(default)]
    pub dpop_bound_access_tokens: bool,
    /// RFC 9449 §8: require a server nonce in the client's DPoP proofs. Default `false`.
    #[oai(default)]
    pub dpop_nonce_required: bool,
    /// RFC 8693: the audiences the client may obtain by token exchange. Required with the
    /// `token_exchange` grant, refused without it. Default: none.
    #[oai(default)]
    pub exchange_audiences: Vec<String>,
    /// `private_key_jwt`: the client's public keys as a JWK Set (`{"keys": [...]}`); no
    /// secret is generated. Each key names its `alg` (ES256, RS256, PS256, EdDSA) unless
    /// its type allows only one (EC P-256: ES256, OKP Ed25519: EdDSA); at most 10 keys,
    /// no private members. Not with `jwks_uri` or `public`.
    pub jwks: Option<serde_json::Value>,
    /// `private_key_jwt`: the `https` URL where the client publishes its JWK Set. Not with
    /// `jwks` or `public`.
    pub jwks_uri: Option<String>,
}

fn default_grants() -> Vec<String> {
    vec!["client_credentials".into()]
}

impl poem_openapi::types::Example for NewClientBody {
    fn example() -> Self {
        NewClientBody {
            name: "billing".into(),
            grant_types: default_grants(),
            scopes: vec!["orders:read".into()],
            audiences: vec!["https://orders.internal".into()],
            token_ttl: Some(900),
            alg: Some(SigningAlg::ES256),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            public: false,
            federated: false,
            dpop_bound_access_tokens: false,
            dpop_nonce_required: false,
            exchange_audiences: vec![],
            jwks: None,
            jwks_uri: None,
        }
    }
}

/// Changes to a client; absent fields stay as they are. `token_ttl: null` and
/// `alg: null` return to the server defaults. A new `token_endpoint_auth_method` replaces
/// the client's credentials: see the field.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ClientPatch {
    /// New display name.
    pub name: Option<String>,
    /// New grant types (replace the old ones).
    pub grant_types: Option<Vec<String>>,
    /// New scopes (replace the old ones).
    pub scopes: Option<Vec<String>>,
    /// New audiences (replace the old ones); at least one.
    pub audiences: Option<Vec<String>>,
    /// Seconds, or `null` for the server default.
    pub token_ttl: MaybeUndefined<u64>,
    /// Algorithm, or `null` for the server default.
    pub alg: MaybeUndefined<SigningAlg>,
    /// New redirect URIs (replace the old ones).
    pub redirect_uris: Option<Vec<String>>,
    /// New post-logout redirect URIs (replace the old ones).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Require (`true`) or stop requiring DPoP proofs at the token endpoint.
    pub dpop_bound_access_tokens: Option<bool>,
    /// Require (`true`) or stop requiring server nonces in DPoP proofs.
    pub dpop_nonce_required: Option<bool>,
    /// New token-exchange audiences (replace the old ones).
    pub exchange_audiences: Option<Vec<String>>,
    /// A `private_key_jwt` client's new JWK Set (replaces the keys; to rotate, register
    /// the new key beside the old one first).
    pub jwks: Option<serde_json::Value>,
    /// A `private_key_jwt` client's new JWK Set URL (replaces inline keys).
    pub jwks_uri: Option<String>,
    /// A new authentication method. The old credentials stop working (at once on this
    /// instance, within `client_cache_ttl` on others) and the client's refresh tokens are
    /// revoked. `client_secret_basic`: a new secret is generated and returned once in
    /// `client_secret`. `private_key_jwt`: give `jwks` or `jwks_uri` in the same request.
    /// `none`: only the grants of a public client (`authorization_code`, `device_code`,
    /// `refresh_token`). `federated`: bind identities afterwards
    /// (`POST /clients/{client_id}/federated-identities`); leaving `federated` removes the
    /// client's bindings.
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
}

impl poem_openapi::types::Example for ClientPatch {
    fn example() -> Self {
        ClientPatch {
            name: None,
            grant_types: None,
            scopes: Some(vec!["orders:read".into(), "orders:write".into()]),
            audiences: None,
            token_ttl: MaybeUndefined::Null,
            alg: MaybeUndefined::Undefined,
            redirect_uris: None,
            post_logout_redirect_uris: None,
            dpop_bound_access_tokens: None,
            dpop_nonce_required: None,
            exchange_audiences: None,
            jwks: None,
            jwks_uri: None,
            token_endpoint_auth_method: None,
        }
    }
}

fn maybe<T, U>(m: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match m {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v))),
    }
}

#[derive(ApiResponse)]
pub enum Created {
    /// Registered. The response holds the secret, shown only this once.
    #[oai(status = 201)]
    Created(Json<ClientCredentialsBody>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted, or did not exist (deletes are idempotent). Its tokens stop being accepted
    /// by introspection and the admin API at once.
    #[oai(status = 204)]
    NoContent,
}

pub struct ClientsApi(pub AdminCtx);

#[OpenApi(prefix_path = "/admin/v1", tag = "ApiTags::AdminClients")]
impl ClientsApi {
    /// List clients
    ///
    /// Registered clients, oldest first, `limit` per page (default 50, at most 200).
    #[oai(path = "/clients", method = "get", operation_id = "listClients")]
    async fn list(
        &self,
        auth: AdminToken,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
    ) -> AdminResult<Json<ClientPage>> {
        self.0.authorize(&auth, Area::Clients).await?;
        let limit = paging::limit(limit.0)?;
        let page = self
            .0
            .state
            .ctx
            .clients
            .page(cursor.0.as_deref(), limit)
            .await?;
        Ok(Json(ClientPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Register a client
    ///
    /// Creates a client with a server-generated secret, returned once in the response.
    /// The client can get tokens at once.
    #[oai(path = "/clients", method = "post", operation_id = "createClient")]
    async fn create(&self, auth: AdminToken, body: Json<NewClientBody>) -> AdminResult<Created> {
        let who = Actor::Client(self.0.authorize(&auth, Area::Clients).await?);
        let b = body.0;
        let created = self
            .0
            .ops()
            .create_client(
                &who,
                NewClient {
                    name: b.name,
                    grant_types: b.grant_types,
                    scopes: b.scopes,
                    audiences: b.audiences,
                    token_ttl: b.token_ttl.map(Duration::from_secs),
                    alg: b.alg.map(Into::into),
                    redirect_uris: b.redirect_uris,
                    post_logout_redirect_uris: b.post_logout_redirect_uris,
                    public: b.public,
                    dpop_bound_access_tokens: b.dpop_bound_access_tokens,
                    dpop_nonce_required: b.dpop_nonce_required,
                    exchange_audiences: b.exchange_audiences,
                    jwks: b.jwks.map(|v| v.to_string()),
                    jwks_uri: b.jwks_uri,
                    federated: b.federated,
                },
            )
            .await?
            .map_err(AdminError::refused)?;
        Ok(Created::Created(Json(created.into())))
    }

    /// Get a client
    ///
    /// The client's registration (never its secret).
    #[oai(
        path = "/clients/:client_id",
        method = "get",
        operation_id = "getClient"
    )]
    async fn get(
        &self,
        auth: AdminToken,
        /// The client id.
        client_id: Path<String>,
    ) -> AdminResult<Json<ClientBody>> {
        self.0.authorize(&auth, Area::Clients).await?;
        match self.0.state.ctx.clients.fetch(&client_id.0).await? {
            Some(c) => Ok(Json(c.into())),
            None => Err(AdminError::not_found("client")),
        }
    }

    /// Update a client
    ///
    /// Changes grant types, scopes, audiences, redirect URIs, token lifetime, algorithm,
    /// keys or authentication method, validated as at registration. Tokens already issued
    /// keep their claims. When the authentication method switches to
    /// `client_secret_basic`, the answer carries the new secret, shown this once.
    #[oai(
        path = "/clients/:client_id",
        method = "patch",
        operation_id = "updateClient"
    )]
    async fn update(
        &self,
        auth: AdminToken,
        /// The client id.
        client_id: Path<String>,
        body: Json<ClientPatch>,
    ) -> AdminResult<Json<UpdatedClientBody>> {
        let who = Actor::Client(self.0.authorize(&auth, Area::Clients).await?);
        let b = body.0;
        let changes = ClientUpdate {
            name: b.name,
            grant_types: b.grant_types,
            scopes: b.scopes,
            audiences: b.audiences,
            token_ttl: maybe(b.token_ttl, Duration::from_secs),
            alg: maybe(b.alg, Alg::from),
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            dpop_bound_access_tokens: b.dpop_bound_access_tokens,
            dpop_nonce_required: b.dpop_nonce_required,
            exchange_audiences: b.exchange_audiences,
            jwks: b.jwks.map(|v| v.to_string()),
            jwks_uri: b.jwks_uri,
            token_endpoint_auth_method: b.token_endpoint_auth_method.map(Into::into),
        };
        let updated = self
            .0
            .ops()
            .update_client(&who, &client_id.0, changes)
            .await
            .map_err(|e| match e {
                // A patch names the method, not the registration's `public` / `federated`
                // flags: what those rules refuse is reported on the field it has.
                Error::Invalid {
                    field: Field::Public | Field::Federated,
                    reason,
                } => Error::invalid(Field::TokenEndpointAuthMethod, reason),
                e => e,
            })?
            .map_err(AdminError::refused)?;
        Ok(Json(UpdatedClientBody {
            client_secret: Some(updated.client_secret).filter(|s| !s.is_empty()),
            client: updated.client.into(),
        }))
    }

    /// Rotate a client's secret
    ///
    /// Generates a new secret (returned once); the old one stops working at once on this
    /// instance and within `client_cache_ttl` on others.
    #[oai(
        path = "/clients/:client_id/secret",
        method = "post",
        operation_id = "rotateClientSecret"
    )]
    async fn rotate_secret(
        &self,
        auth: AdminToken,
        /// The client id.
        client_id: Path<String>,
    ) -> AdminResult<Json<ClientCredentialsBody>> {
        let who = Actor::Client(self.0.authorize(&auth, Area::Clients).await?);
        let rotated = self
            .0
            .ops()
            .rotate_client_secret(&who, &client_id.0)
            .await?
            .map_err(AdminError::refused)?;
        Ok(Json(rotated.into()))
    }

    /// Delete a client
    ///
    /// Idempotent: deleting an unknown client also answers 204.
    #[oai(
        path = "/clients/:client_id",
        method = "delete",
        operation_id = "deleteClient"
    )]
    async fn delete(
        &self,
        auth: AdminToken,
        /// The client id.
        client_id: Path<String>,
    ) -> AdminResult<Deleted> {
        let who = Actor::Client(self.0.authorize(&auth, Area::Clients).await?);
        self.0
            .ops()
            .delete_client(&who, &client_id.0)
            .await?
            .map_err(AdminError::refused)?;
        Ok(Deleted::NoContent)
    }
}
