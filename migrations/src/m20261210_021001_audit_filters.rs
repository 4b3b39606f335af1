//! Indexes for the console's audit log page (`docs/console.md`): newest first (`at`, then
//! `id`, with a keyset cursor on both), filtered by actor, by action and by a time range,
//! each query is one index range scan read backwards, at 100,000 entries and beyond
//! (`bench/pages.sh`).

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
}

/// Every index this migration adds (`down` drops them by name).
fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        // `WHERE actor = ? [AND at range] [AND (at, id) < cursor] ORDER BY at DESC, id DESC`.
        Index::create()
            .if_not_exists()
            .name("idx_admin_audit_actor")
            .table(AdminAudit::Table)
            .col(AdminAudit::Actor)
            .col(AdminAudit::At)
            .col(AdminAudit::Id)
            .to_owned(),
        // The same with `action = ?`.
        Index::create()
            .if_not_exists()
            .name("idx_admin_audit_action")
            .table(AdminAudit::Table)
            .col(AdminAudit::Action)
            .col(AdminAudit::At)
            .col(AdminAudit::Id)
            .to_owned(),
        // No filter, or a time range only.
        Index::create()
            .if_not_exists()
            .name("idx_admin_audit_at")
            .table(AdminAudit::Table)
            .col(AdminAudit::At)
            .col(AdminAudit::Id)
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "idx_admin_audit_actor",
            "idx_admin_audit_action",
            "idx_admin_audit_at",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .if_exists()
                        .name(name)
                        .table(AdminAudit::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
