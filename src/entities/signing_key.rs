use sea_orm::entity::prelude::*;

/// A signing key. The private half is sealed with the KEK (`keys::kek`), bound to `kid`.
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
