//! Cost that stays flat as the registry grows (`docs/scale.md`):
//!
//! - `registry_versions`: one row per registry whose derived data an instance caches
//!   (today `clients`: discovery's `scopes_supported`). Every change of a client bumps its
//!   version in the same transaction, so an instance's periodic refresh reads one row and
//!   recomputes only when the version moved (O(1) when nothing changed, on every instance).
//! - Indexes for the admin client listing (keyset paging on `(created_at, client_id)`) and
//!   for the periodic expiry clean-ups, which otherwise scan whole tables.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RegistryVersions {
    Table,
    Name,
    Version,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    CreatedAt,
    ClientId,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum RefreshFamilies {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum RevocationEvents {
    Table,
    Kind,
    ValidUntil,
}

#[derive(DeriveIden)]
enum BrowserSessionFamilies {
    Table,
    ExpiresAt,
}

/// Every index this migration adds (`down` drops them by name).
fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        // Admin client listing: `ORDER BY created_at, client_id` with a keyset cursor.
        Index::create()
            .if_not_exists()
            .name("idx_clients_created")
            .table(Clients::Table)
            .col(Clients::CreatedAt)
            .col(Clients::ClientId)
            .to_owned(),
        // Expiry clean-ups (`purge`): range scans instead of whole-table scans.
        Index::create()
            .if_not_exists()
            .name("idx_refresh_tokens_expires")
            .table(RefreshTokens::Table)
            .col(RefreshTokens::ExpiresAt)
            .to_owned(),
        Index::create()
            .if_not_exists()
            .name("idx_refresh_families_expires")
            .table(RefreshFamilies::Table)
            .col(RefreshFamilies::ExpiresAt)
            .to_owned(),
        Index::create()
            .if_not_exists()
            .name("idx_revocation_events_expiry")
            .table(RevocationEvents::Table)
            .col(RevocationEvents::Kind)
            .col(RevocationEvents::ValidUntil)
            .to_owned(),
        Index::create()
            .if_not_exists()
            .name("idx_browser_session_families_expires")
            .table(BrowserSessionFamilies::Table)
            .col(BrowserSessionFamilies::ExpiresAt)
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RegistryVersions::Table)
                    .if_not_exists()
                    // `clients`.
                    .col(
                        ColumnDef::new(RegistryVersions::Name)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    // Bumped by every change of that registry.
                    .col(
                        ColumnDef::new(RegistryVersions::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(RegistryVersions::Table)
                    .columns([RegistryVersions::Name, RegistryVersions::Version])
                    .values_panic(["clients".into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            ("idx_clients_created", Clients::Table.into_iden()),
            (
                "idx_refresh_tokens_expires",
                RefreshTokens::Table.into_iden(),
            ),
            (
                "idx_refresh_families_expires",
                RefreshFamilies::Table.into_iden(),
            ),
            (
                "idx_revocation_events_expiry",
                RevocationEvents::Table.into_iden(),
            ),
            (
                "idx_browser_session_families_expires",
                BrowserSessionFamilies::Table.into_iden(),
            ),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(RegistryVersions::Table).to_owned())
            .await
    }
}
