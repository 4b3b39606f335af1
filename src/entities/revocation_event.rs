use sea_orm::entity::prelude::*;

/// The revocation log: revoked access-token ids and subject not-before times, in feed order.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revocation_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// `jti` or `sub`.
    pub kind: String,
    pub subject: String,
    /// jti: the token's `exp`; sub: the not-before time.
    pub valid_until: i64,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
