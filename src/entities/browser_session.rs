use sea_orm::entity::prelude::*;

/// A browser session (the `sid` of a session cookie): open until `ended_at` is set by
/// logout or "log out everywhere"; a cookie whose row is missing or ended signs nobody in.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "browser_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: String,
    pub user_id: String,
    pub created_at: i64,
    /// Absolute end of the session (`session_max_ttl` after the password entry).
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    /// When an authorization request last used the session (refreshed at most once a
    /// minute); `None` for sessions recorded before the column existed.
    pub last_used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
