//! Browser sign-in (authorization code + PKCE): client redirect URIs, post-logout redirect
//! URIs and client type; authorization codes (stored only as hashes); the link from a
//! browser session to the refresh families issued under it (RP-initiated logout revokes
//! them).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    RedirectUris,
    PostLogoutRedirectUris,
    TokenEndpointAuthMethod,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    CodeHash,
    ClientId,
    UserId,
    RedirectUri,
    CodeChallenge,
    Scope,
    Nonce,
    AuthTime,
    SessionId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    ReusedAt,
    FamilyId,
    AccessJti,
    AccessExp,
}

#[derive(DeriveIden)]
enum BrowserSessionFamilies {
    Table,
    FamilyId,
    SessionId,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite cannot add several in one statement.
        for col in [
            // Space-separated exact redirect URIs.
            ColumnDef::new(Clients::RedirectUris)
                .text()
                .not_null()
                .default("")
                .to_owned(),
            ColumnDef::new(Clients::PostLogoutRedirectUris)
                .text()
                .not_null()
                .default("")
                .to_owned(),
            // `client_secret_basic` (confidential: basic or post) or `none` (public, PKCE only).
            ColumnDef::new(Clients::TokenEndpointAuthMethod)
                .string()
                .not_null()
                .default("client_secret_basic")
                .to_owned(),
        ] {
            let mut col = col;
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AuthorizationCodes::Table)
                    .if_not_exists()
                    // Hex SHA-256 of the code: the code itself is never stored.
                    .col(
                        ColumnDef::new(AuthorizationCodes::CodeHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::ClientId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::UserId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::RedirectUri)
                            .text()
                            .not_null(),
                    )
                    // PKCE S256 challenge.
                    .col(
                        ColumnDef::new(AuthorizationCodes::CodeChallenge)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuthorizationCodes::Scope).text().not_null())
                    .col(ColumnDef::new(AuthorizationCodes::Nonce).text().null())
                    .col(
                        ColumnDef::new(AuthorizationCodes::AuthTime)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::SessionId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    // Set when redeemed (compare-and-set: single use).
                    .col(
                        ColumnDef::new(AuthorizationCodes::UsedAt)
                            .big_integer()
                            .null(),
                    )
                    // Set when a redeemed code came back: what it issued is revoked.
                    .col(
                        ColumnDef::new(AuthorizationCodes::ReusedAt)
                            .big_integer()
                            .null(),
                    )
                    // What the redemption issued, so a reuse can revoke it.
                    .col(ColumnDef::new(AuthorizationCodes::FamilyId).string().null())
                    .col(
                        ColumnDef::new(AuthorizationCodes::AccessJti)
                            .string()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::AccessExp)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("authorization_codes_expires")
                    .table(AuthorizationCodes::Table)
                    .col(AuthorizationCodes::ExpiresAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BrowserSessionFamilies::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(BrowserSessionFamilies::FamilyId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(BrowserSessionFamilies::SessionId)
                            .string()
                            .not_null(),
                    )
                    // The family's absolute expiry: the link can go after it.
                    .col(
                        ColumnDef::new(BrowserSessionFamilies::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("browser_session_families_session")
                    .table(BrowserSessionFamilies::Table)
                    .col(BrowserSessionFamilies::SessionId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}
