//! Device authorization grant (RFC 8628): one row per device authorization request.
//! The `device_code` (what the device polls with, 256 bits) is stored only as its SHA-256;
//! the `user_code` (typed by a person, 8 letters of a 20-consonant alphabet) in clear,
//! unique, because the verification page looks it up. Expired rows are deleted in batches
//! by the periodic clean-up (index on `expires_at`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeviceCodes {
    Table,
    DeviceCodeHash,
    UserCode,
    ClientId,
    Scope,
    Status,
    UserId,
    AuthTime,
    PollInterval,
    LastPollAt,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeviceCodes::Table)
                    .col(
                        ColumnDef::new(DeviceCodes::DeviceCodeHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DeviceCodes::UserCode).string().not_null())
                    .col(ColumnDef::new(DeviceCodes::ClientId).string().not_null())
                    .col(ColumnDef::new(DeviceCodes::Scope).text().not_null())
                    .col(ColumnDef::new(DeviceCodes::Status).string().not_null())
                    .col(ColumnDef::new(DeviceCodes::UserId).string().null())
                    .col(ColumnDef::new(DeviceCodes::AuthTime).big_integer().null())
                    .col(
                        ColumnDef::new(DeviceCodes::PollInterval)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DeviceCodes::LastPollAt).big_integer().null())
                    .col(
                        ColumnDef::new(DeviceCodes::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeviceCodes::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_device_codes_user_code")
                    .table(DeviceCodes::Table)
                    .col(DeviceCodes::UserCode)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_device_codes_expires")
                    .table(DeviceCodes::Table)
                    .col(DeviceCodes::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeviceCodes::Table).to_owned())
            .await
    }
}
