//! Signing keys and OAuth clients.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Alg,
    Succeeds,
    PublicJwk,
    SealedPrivateKey,
    CreatedAt,
    ActivatesAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    ClientId,
    Name,
    SecretHash,
    GrantTypes,
    Scopes,
    Audiences,
    TokenTtl,
    Alg,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SigningKeys::Kid)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SigningKeys::Alg).string().not_null())
                    // kid of the newest key of this alg when this one was created ("" for the
                    // first). Unique per alg: the database guard that lets exactly one instance
                    // create each next key.
                    .col(ColumnDef::new(SigningKeys::Succeeds).string().not_null())
                    .col(ColumnDef::new(SigningKeys::PublicJwk).text().not_null())
                    .col(
                        ColumnDef::new(SigningKeys::SealedPrivateKey)
                            .blob()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SigningKeys::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SigningKeys::ActivatesAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(SigningKeys::RevokedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("signing_keys_alg_succeeds")
                    .table(SigningKeys::Table)
                    .col(SigningKeys::Alg)
                    .col(SigningKeys::Succeeds)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Clients::ClientId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Clients::Name).string().not_null())
                    .col(ColumnDef::new(Clients::SecretHash).string().not_null())
                    .col(ColumnDef::new(Clients::GrantTypes).string().not_null())
                    .col(ColumnDef::new(Clients::Scopes).text().not_null())
                    .col(ColumnDef::new(Clients::Audiences).text().not_null())
                    .col(ColumnDef::new(Clients::TokenTtl).big_integer().null())
                    .col(ColumnDef::new(Clients::Alg).string().null())
                    .col(ColumnDef::new(Clients::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Clients::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Clients::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await
    }
}
