//! When a browser session was last used, for the account page's session list
//! (`docs/account.md`). Written at most once a minute per session, on the authorization
//! requests that already read the session's row (and write a code); NULL for rows from
//! before this migration, which show their creation time instead. A refresh family's
//! "last used" needs no column: its newest token's `created_at` is the last rotation.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BrowserSessions {
    Table,
    LastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BrowserSessions::Table)
                    .add_column(
                        ColumnDef::new(BrowserSessions::LastUsedAt)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BrowserSessions::Table)
                    .drop_column(BrowserSessions::LastUsedAt)
                    .to_owned(),
            )
            .await
    }
}
