use sea_orm::entity::prelude::*;

/// A trusted external issuer (workload identity federation, `src/federation`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "federations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Exact `iss` of its tokens.
    pub issuer: String,
    /// Its JWKS or SPIFFE bundle endpoint; NULL with NULL `jwks`: OIDC discovery.
    pub jwks_uri: Option<String>,
    /// An inline JWK Set (JSON), or NULL.
    pub jwks: Option<String>,
    /// Required `aud` member; NULL: Tessera's issuer identifier.
    pub audience: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
