use sea_orm::entity::prelude::*;

/// A user. `id` (a UUID) is the stable `sub`; `username` is normalised (see `users`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Space-separated role names.
    pub roles: String,
    /// JSON object of custom claims.
    pub claims: String,
    pub disabled: bool,
    /// Access tokens issued before this time are inactive (logout everywhere, role change).
    pub not_before: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
