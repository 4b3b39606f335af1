//! Workload identity federation (`src/federation`): the trusted external issuers
//! (`federations`) and the federated identities a client is bound to
//! (`client_federated_identities`: issuer name + exact `sub` + claim conditions).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Federations {
    Table,
    Name,
    Issuer,
    JwksUri,
    Jwks,
    Audience,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ClientFederatedIdentities {
    Table,
    Id,
    ClientId,
    Federation,
    Subject,
    Conditions,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Federations::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Federations::Name)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    // Exact `iss` of the external tokens; one registration per issuer.
                    .col(
                        ColumnDef::new(Federations::Issuer)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    // NULL with NULL `jwks`: keys from the issuer's OIDC discovery.
                    .col(ColumnDef::new(Federations::JwksUri).string().null())
                    // An inline JWK Set (JSON text), or NULL.
                    .col(ColumnDef::new(Federations::Jwks).text().null())
                    // NULL: Tessera's issuer identifier.
                    .col(ColumnDef::new(Federations::Audience).string().null())
                    .col(
                        ColumnDef::new(Federations::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ClientFederatedIdentities::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ClientFederatedIdentities::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ClientFederatedIdentities::ClientId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClientFederatedIdentities::Federation)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClientFederatedIdentities::Subject)
                            .string()
                            .not_null(),
                    )
                    // JSON object of claim path -> required string value ("{}": none).
                    .col(
                        ColumnDef::new(ClientFederatedIdentities::Conditions)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClientFederatedIdentities::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_client_federated_identities_client")
                    .table(ClientFederatedIdentities::Table)
                    .col(ClientFederatedIdentities::ClientId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_client_federated_identities_federation")
                    .table(ClientFederatedIdentities::Table)
                    .col(ClientFederatedIdentities::Federation)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ClientFederatedIdentities::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Federations::Table).to_owned())
            .await
    }
}
