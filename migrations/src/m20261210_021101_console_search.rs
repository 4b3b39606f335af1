//! Search for the console's Clients and Users pages (issue #21), served by indexes at any
//! registry size:
//!
//! - `clients.name_key`: the client's name lowercased (Rust's Unicode lowercase, written
//!   by the registry on every create and update), with the index
//!   `idx_clients_name_key (name_key, client_id)`: a name-prefix search is one range of it,
//!   in the order the page shows, paged by keyset.
//! - PostgreSQL only: `users.username` and `clients.name_key` compare bytewise
//!   (`COLLATE "C"`), as SQLite's default `BINARY` does. A prefix search is the range
//!   `[prefix, successor(prefix))`, which is exact only under a bytewise order; a
//!   locale order (`en_US`) ignores punctuation at the first level and would drop matches.
//!   This also gives the admin user listing the same order on both databases.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    ClientId,
    Name,
    NameKey,
}

const INDEX: &str = "idx_clients_name_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let pg = manager.get_database_backend() == DbBackend::Postgres;
        let mut column = ColumnDef::new(Clients::NameKey);
        column.string().not_null().default("");
        if pg {
            column.extra("COLLATE \"C\"");
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        // Backfill with the same rule the registry applies (`str::to_lowercase`).
        let conn = manager.get_connection();
        let rows = conn
            .query_all(
                &Query::select()
                    .columns([Clients::ClientId, Clients::Name])
                    .from(Clients::Table)
                    .to_owned(),
            )
            .await?;
        for row in rows {
            let id: String = row.try_get("", "client_id")?;
            let name: String = row.try_get("", "name")?;
            manager
                .exec_stmt(
                    Query::update()
                        .table(Clients::Table)
                        .value(Clients::NameKey, name.to_lowercase())
                        .and_where(Expr::col(Clients::ClientId).eq(id))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(INDEX)
                    .table(Clients::Table)
                    .col(Clients::NameKey)
                    .col(Clients::ClientId)
                    .to_owned(),
            )
            .await?;
        if pg {
            // The unique index on username is rebuilt in the new order.
            conn.execute_unprepared(
                r#"ALTER TABLE "users" ALTER COLUMN "username" TYPE varchar COLLATE "C""#,
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Clients::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::NameKey)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    r#"ALTER TABLE "users" ALTER COLUMN "username" TYPE varchar COLLATE "default""#,
                )
                .await?;
        }
        Ok(())
    }
}
