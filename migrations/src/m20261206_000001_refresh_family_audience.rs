//! The audience a login was granted (RFC 8707 `resource`), kept on its refresh family so a
//! refresh issues tokens for that audience only (R10). A JSON array of strings; NULL for
//! logins that chose no `resource` (and rows from before this migration): those follow
//! the client's registered audiences, as before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshFamilies {
    Table,
    Audience,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshFamilies::Table)
                    .add_column(ColumnDef::new(RefreshFamilies::Audience).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshFamilies::Table)
                    .drop_column(RefreshFamilies::Audience)
                    .to_owned(),
            )
            .await
    }
}
