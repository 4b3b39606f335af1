//! DPoP (RFC 9449): per-client settings and the key bindings of refresh families and
//! authorization codes.
//! - `clients.dpop_bound_access_tokens` (§5.2): the client must send a proof at the token
//!   endpoint; `clients.dpop_nonce_required` (§8): its proofs must carry a server nonce.
//! - `refresh_families.dpop_jkt` (§5): the proof key a public client's refresh tokens are
//!   bound to (NULL: not bound).
//! - `authorization_codes.dpop_jkt` (§10): the `dpop_jkt` of the authorization request; the
//!   code exchange must present a proof with that key.
//!
//! One column per statement: SQLite alters one thing at a time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    DpopBoundAccessTokens,
    DpopNonceRequired,
}

#[derive(DeriveIden)]
enum RefreshFamilies {
    Table,
    DpopJkt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    DpopJkt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [Clients::DpopBoundAccessTokens, Clients::DpopNonceRequired] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .add_column(ColumnDef::new(col).boolean().not_null().default(false))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshFamilies::Table)
                    .add_column(ColumnDef::new(RefreshFamilies::DpopJkt).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuthorizationCodes::Table)
                    .add_column(ColumnDef::new(AuthorizationCodes::DpopJkt).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuthorizationCodes::Table)
                    .drop_column(AuthorizationCodes::DpopJkt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshFamilies::Table)
                    .drop_column(RefreshFamilies::DpopJkt)
                    .to_owned(),
            )
            .await?;
        for col in [Clients::DpopNonceRequired, Clients::DpopBoundAccessTokens] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
