//! Client authentication with keys instead of secrets (`private_key_jwt`, RFC 7523 §2.2):
//! - `clients.jwks`: the client's public keys, an inline JWK Set (JSON text), or NULL;
//! - `clients.jwks_uri`: where the client publishes them (fetched by the server), or NULL.
//!
//! `clients.token_endpoint_auth_method` gains the value `private_key_jwt` (a text column
//! already); such a client has an empty `secret_hash`. One column per statement: SQLite
//! alters one thing at a time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    Jwks,
    JwksUri,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(ColumnDef::new(Clients::Jwks).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(ColumnDef::new(Clients::JwksUri).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [Clients::JwksUri, Clients::Jwks] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
