use sea_orm::entity::prelude::*;

/// A registered OAuth client. Lists are stored space-separated.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub name: String,
    /// `name` lowercased: the key of the console's name search (`idx_clients_name_key`).
    pub name_key: String,
    /// Hex SHA-256 of the secret (secrets are 256-bit random, so a fast hash is right).
    pub secret_hash: String,
    pub grant_types: String,
    pub scopes: String,
    pub audiences: String,
    /// Access-token lifetime in seconds; NULL = server default.
    pub token_ttl: Option<i64>,
    /// Signing algorithm; NULL = server default.
    pub alg: Option<String>,
    /// Space-separated exact redirect URIs (authorization code flow).
    pub redirect_uris: String,
    /// Space-separated URIs allowed after RP-initiated logout.
    pub post_logout_redirect_uris: String,
    /// `client_secret_basic` (confidential, with a secret), `private_key_jwt` (signed
    /// assertions with its registered keys; no secret) or `none` (public client, PKCE only).
    pub token_endpoint_auth_method: String,
    /// RFC 9449 §5.2: the client must send a DPoP proof at the token endpoint.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9449 §8: the client's DPoP proofs must carry a server nonce.
    pub dpop_nonce_required: bool,
    /// RFC 8693: audiences the client may obtain by token exchange (space-separated).
    pub exchange_audiences: String,
    /// `private_key_jwt`: the client's public keys, an inline JWK Set (JSON text).
    pub jwks: Option<String>,
    /// `private_key_jwt`: where the client publishes its JWK Set (fetched by the server).
    pub jwks_uri: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
