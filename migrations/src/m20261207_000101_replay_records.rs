//! Replay records (`src/replay.rs`): one row per single-use value seen (a DPoP proof's `jti`,
//! later a client assertion's `jti`), keyed by the SHA-256 of (purpose, scope, jti), kept
//! until the value could no longer be accepted anyway. The primary key is what makes "first
//! one wins" hold across instances sharing a PostgreSQL database.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReplayRecords {
    Table,
    KeyHash,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReplayRecords::Table)
                    .if_not_exists()
                    // Lowercase hex of SHA-256(purpose, scope, jti).
                    .col(
                        ColumnDef::new(ReplayRecords::KeyHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    // Unix seconds; the clean-up deletes rows past it, in bounded batches.
                    .col(
                        ColumnDef::new(ReplayRecords::ExpiresAt)
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
                    .name("idx_replay_records_expires_at")
                    .table(ReplayRecords::Table)
                    .col(ReplayRecords::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReplayRecords::Table).to_owned())
            .await
    }
}
