use sea_orm::entity::prelude::*;

/// An authorization code (RFC 6749 §4.1.2), stored only as the hex SHA-256 of the code.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "authorization_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    /// PKCE S256 challenge (RFC 7636).
    pub code_challenge: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    /// The browser session the code was issued in.
    pub session_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub reused_at: Option<i64>,
    pub family_id: Option<String>,
    pub access_jti: Option<String>,
    pub access_exp: Option<i64>,
    /// RFC 9449 §10: the `dpop_jkt` of the authorization request; the exchange must
    /// present a DPoP proof with this key.
    pub dpop_jkt: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
