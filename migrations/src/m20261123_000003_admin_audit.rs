//! The admin audit log: who changed what through the admin API, and when. Append-only;
//! never holds a secret (no client secret, no password, no key material).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AdminAudit {
    Table,
    Id,
    At,
    Actor,
    Action,
    Target,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AdminAudit::Table)
                    .if_not_exists()
                    // Strictly increasing: the paging cursor (newest first).
                    .col(
                        ColumnDef::new(AdminAudit::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AdminAudit::At).big_integer().not_null())
                    // The client id of the admin token that made the change.
                    .col(ColumnDef::new(AdminAudit::Actor).string().not_null())
                    // e.g. "client.create", "user.disable", "key.rotate".
                    .col(ColumnDef::new(AdminAudit::Action).string().not_null())
                    // The client id, user id or key id acted on ("" when none).
                    .col(ColumnDef::new(AdminAudit::Target).string().not_null())
                    // JSON object with the non-secret parameters of the change.
                    .col(ColumnDef::new(AdminAudit::Detail).text().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AdminAudit::Table).to_owned())
            .await
    }
}
