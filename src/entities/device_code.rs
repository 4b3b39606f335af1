use sea_orm::entity::prelude::*;

/// A device authorization request (RFC 8628 §3.1): the device code only as its hex SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub device_code_hash: String,
    /// Normalised: 8 letters of the RFC 8628 §6.1 consonant alphabet, no dash.
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
    /// `pending`, `approved`, `denied` or `used`.
    pub status: String,
    /// Who approved (set with `approved`).
    pub user_id: Option<String>,
    /// When that user signed in (the ID token's `auth_time`).
    pub auth_time: Option<i64>,
    /// Seconds the device must wait between polls; +5 at each `slow_down`.
    pub poll_interval: i64,
    pub last_poll_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
