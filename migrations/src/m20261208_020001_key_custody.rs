//! Key custody (issue #20, `docs/hsm.md`): each signing key records which backend holds
//! its private half (`local`: sealed in `sealed_private_key`, as before; `pkcs11`: inside
//! an HSM token) and the backend's reference to it (an RFC 7512 `pkcs11:` URI). Keys of
//! external backends store no private material: their `sealed_private_key` is empty.
//! Existing rows are `local` with an empty reference.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Backend,
    KeyRef,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(SigningKeys::Table)
                    .add_column(
                        ColumnDef::new(SigningKeys::Backend)
                            .string()
                            .not_null()
                            .default("local"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SigningKeys::Table)
                    .add_column(
                        ColumnDef::new(SigningKeys::KeyRef)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [SigningKeys::KeyRef, SigningKeys::Backend] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SigningKeys::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
