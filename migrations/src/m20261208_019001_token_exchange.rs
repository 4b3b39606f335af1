//! Token exchange (RFC 8693): `clients.exchange_audiences`, the audiences a client may
//! obtain by exchanging a token it received (space-separated; empty: none). Kept apart
//! from `clients.audiences` (what the client's own tokens are for): being allowed to call
//! billing on a user's behalf is a different grant of trust than being billing's audience.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    ExchangeAudiences,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(
                        ColumnDef::new(Clients::ExchangeAudiences)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::ExchangeAudiences)
                    .to_owned(),
            )
            .await
    }
}
