use sea_orm::entity::prelude::*;

/// A signing key. For `local` keys the private half is sealed with the KEK (`keys::kek`),
/// bound to `kid`; for external backends (`pkcs11`) it never leaves the HSM and
/// `sealed_private_key` is empty.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub alg: String,
    /// kid of the newest key of this alg when this one was created; unique per alg.
    pub succeeds: String,
    pub public_jwk: String,
    pub sealed_private_key: Vec<u8>,
    pub created_at: i64,
    pub activates_at: i64,
    pub revoked_at: Option<i64>,
    /// Who holds the private key: `local` or `pkcs11` (`keys::custody::KeyBackend`).
    pub backend: String,
    /// The backend's reference to the private key (an RFC 7512 `pkcs11:` URI); empty
    /// for `local`.
    pub key_ref: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
