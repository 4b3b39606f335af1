//! `idx_refresh_families_client (client_id)`: switching a client's authentication method
//! revokes its refresh-token families (`clients::ClientRegistry::update_guarded`), one
//! range of this index however many families other clients hold.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshFamilies {
    Table,
    ClientId,
}

const INDEX: &str = "idx_refresh_families_client";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(INDEX)
                    .table(RefreshFamilies::Table)
                    .col(RefreshFamilies::ClientId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(RefreshFamilies::Table)
                    .to_owned(),
            )
            .await
    }
}
