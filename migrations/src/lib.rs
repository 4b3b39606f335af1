//! Database schema of Tessera, as sea-orm migrations.
//!
//! Migrations run automatically at `tessera serve`, `tessera migrate` and before any
//! CLI command that touches the database, so a fresh or outdated database is never
//! used as it is. Timestamps are stored as Unix seconds (`BIGINT`) so that SQLite and
//! PostgreSQL behave the same.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_keys_and_clients;
mod m20261122_000002_users_and_sessions;
mod m20261123_000003_admin_audit;
mod m20261123_000004_authorization_code;
mod m20261206_000001_refresh_family_audience;
mod m20261206_000002_browser_sessions;
mod m20261206_000003_login_failures;
mod m20261207_000101_replay_records;
mod m20261207_000102_dpop_bindings;
mod m20261207_000222_scale;
mod m20261208_017001_client_keys;
mod m20261208_017101_federations;
mod m20261208_019001_token_exchange;
mod m20261208_019002_device_codes;
mod m20261208_020001_key_custody;
mod m20261210_021001_audit_filters;
mod m20261210_021101_console_search;
mod m20261210_021201_browser_session_last_used;
mod m20261210_021301_refresh_families_client;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_keys_and_clients::Migration),
            Box::new(m20261122_000002_users_and_sessions::Migration),
            Box::new(m20261123_000003_admin_audit::Migration),
            Box::new(m20261123_000004_authorization_code::Migration),
            Box::new(m20261206_000001_refresh_family_audience::Migration),
            Box::new(m20261206_000002_browser_sessions::Migration),
            Box::new(m20261206_000003_login_failures::Migration),
            Box::new(m20261207_000101_replay_records::Migration),
            Box::new(m20261207_000102_dpop_bindings::Migration),
            Box::new(m20261207_000222_scale::Migration),
            Box::new(m20261208_017001_client_keys::Migration),
            Box::new(m20261208_017101_federations::Migration),
            Box::new(m20261208_019001_token_exchange::Migration),
            Box::new(m20261208_019002_device_codes::Migration),
            Box::new(m20261208_020001_key_custody::Migration),
            Box::new(m20261210_021001_audit_filters::Migration),
            Box::new(m20261210_021101_console_search::Migration),
            Box::new(m20261210_021201_browser_session_last_used::Migration),
            Box::new(m20261210_021301_refresh_families_client::Migration),
        ]
    }
}
