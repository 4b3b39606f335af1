use sea_orm::entity::prelude::*;

/// One refresh token, stored only as the hex SHA-256 of its value.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub family_id: String,
    pub created_at: i64,
    /// Idle expiry.
    pub expires_at: i64,
    /// Set when the token is exchanged; a second use is reuse.
    pub used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::refresh_family::Entity",
        from = "Column::FamilyId",
        to = "super::refresh_family::Column::Id"
    )]
    Family,
}

impl Related<super::refresh_family::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Family.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
