use sea_orm::entity::prelude::*;

/// A chain of rotated refresh tokens from one login. Revoking it kills every token in it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_families")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    /// Scope granted at login; refreshes may narrow it, never widen it.
    pub scope: String,
    pub auth_time: i64,
    pub created_at: i64,
    /// Absolute lifetime of the family.
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The audience granted at login when it chose one with `resource` (RFC 8707), as a
    /// JSON array; refreshes stay within it. `None`: the client's registered audiences.
    pub audience: Option<String>,
    /// RFC 9449 §5: the DPoP key a public client's refresh tokens are bound to; a refresh
    /// must present a proof with it. `None`: not bound.
    pub dpop_jkt: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
