//! Server-side record of browser sessions (`docs/security.md` B5): the sealed session
//! cookie still carries the session, but a session counts only while its row here is
//! open, so logout and "log out everywhere" end copies of the cookie too.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BrowserSessions {
    Table,
    SessionId,
    UserId,
    CreatedAt,
    ExpiresAt,
    EndedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BrowserSessions::Table)
                    .if_not_exists()
                    // The `sid` sealed in the cookie (random, 128 bits).
                    .col(
                        ColumnDef::new(BrowserSessions::SessionId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(BrowserSessions::UserId).string().not_null())
                    .col(
                        ColumnDef::new(BrowserSessions::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    // The absolute end of the session (`session_max_ttl`): purged after.
                    .col(
                        ColumnDef::new(BrowserSessions::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    // Set by logout or "log out everywhere".
                    .col(
                        ColumnDef::new(BrowserSessions::EndedAt)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_browser_sessions_user")
                    .table(BrowserSessions::Table)
                    .col(BrowserSessions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_browser_sessions_expires")
                    .table(BrowserSessions::Table)
                    .col(BrowserSessions::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BrowserSessions::Table).to_owned())
            .await
    }
}
