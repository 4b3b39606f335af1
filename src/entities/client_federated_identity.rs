use sea_orm::entity::prelude::*;

/// A federated identity a client is bound to: tokens of `federation` whose `sub` is exactly
/// `subject` and whose claims meet `conditions` authenticate the client.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_federated_identities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub client_id: String,
    pub federation: String,
    pub subject: String,
    /// JSON object: claim path (dots between levels) -> required string value.
    pub conditions: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
