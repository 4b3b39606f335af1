//! Login-failure counters shared by every instance on one database (`docs/security.md` P8):
//! with several instances behind a load balancer, the throttle limits hold for the fleet,
//! not once per instance. Used on PostgreSQL; a SQLite deployment is one instance and
//! counts in memory.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    Key,
    Failures,
    WindowStart,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginFailures::Table)
                    .if_not_exists()
                    // `u:<username>`, `i:<source>` or `ui:<source> <username>`.
                    .col(
                        ColumnDef::new(LoginFailures::Key)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(LoginFailures::Failures).integer().not_null())
                    // Unix seconds; the counter restarts once the window has passed.
                    .col(
                        ColumnDef::new(LoginFailures::WindowStart)
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
                    .name("idx_login_failures_window")
                    .table(LoginFailures::Table)
                    .col(LoginFailures::WindowStart)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginFailures::Table).to_owned())
            .await
    }
}
