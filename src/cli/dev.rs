//! Hidden developer commands for `bench/scale.sh` (`tessera dev …`, not in `--help`):
//! seeding a database with a large registry straight through the storage layer, and
//! measuring what a `tessera-verify` revocation feed holds in memory.

use std::time::{Duration, Instant};

use clap::Subcommand;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, EntityTrait, TransactionTrait, sea_query::Expr,
};
use serde_json::json;

use crate::{
    accounts::password_hash::PasswordHasher,
    config::Settings,
    entities::{
        admin_audit, client, refresh_family, refresh_token, registry_version, revocation_event,
        user,
    },
    error::{Error, Result},
    revocation::KIND_JTI,
    secrets::{hash_secret_hex, random_token},
};

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Bulk-inserts a large registry (one precomputed password hash for every user; one
    /// transaction per batch). Prints what it inserted, as JSON.
    Seed {
        /// Confidential clients (client_credentials) with a handful of distinct scopes.
        #[arg(long, default_value_t = 100_000)]
        clients: u64,
        /// Users, all with the same (unknown) password's argon2id hash.
        #[arg(long, default_value_t = 1_000_000)]
        users: u64,
        /// Live revoked access-token ids (the feed's entries).
        #[arg(long, default_value_t = 100_000)]
        revocations: u64,
        /// Refresh families, each with one live refresh token.
        #[arg(long, default_value_t = 100_000)]
        families: u64,
        /// Audit log entries, spread over the last 30 days: a few hundred actors, every
        /// action name (the console's audit page, `bench/pages.sh`).
        #[arg(long, default_value_t = 0)]
        audit: u64,
    },
    /// Builds a `tessera-verify` verifier with the revocation feed of `issuer`, waits for
    /// its first sync and prints the process's memory before and after, as JSON.
    FeedMemory {
        /// The issuer whose revocation feed is read (its base URL).
        #[arg(long)]
        issuer: String,
        /// A confidential client of that issuer, to authenticate to the feed.
        #[arg(long)]
        client_id: String,
        /// Read from the environment, never from the command line.
        #[arg(long, env = "TESSERA_DEV_CLIENT_SECRET", hide_env_values = true)]
        client_secret: String,
    },
}

pub async fn run(cmd: DevCommand, settings: &Settings) -> Result<()> {
    match cmd {
        DevCommand::Seed {
            clients,
            users,
            revocations,
            families,
            audit,
        } => {
            // Like every command but `serve` and `migrate`: never create a database.
            super::database::existing(settings)
                .await
                .map_err(crate::error::Error::Config)?;
            let db = crate::storage::connect_and_migrate(settings).await?;
            let t = Instant::now();
            let mut seeded = seed(settings, &db, [clients, users, revocations, families]).await?;
            seed_audit(&db, audit).await?;
            seeded["audit"] = json!(audit);
            println!(
                "{}",
                json!({"seeded": seeded, "secs": t.elapsed().as_secs_f64()})
            );
            Ok(())
        }
        DevCommand::FeedMemory {
            issuer,
            client_id,
            client_secret,
        } => feed_memory(&issuer, &client_id, &client_secret).await,
    }
}

/// Rows per INSERT statement, and statements per transaction.
const ROWS_PER_INSERT: u64 = 500;
const INSERTS_PER_TXN: u64 = 20;

/// Inserts `n` rows made by `row(i)`, `ROWS_PER_INSERT` per statement.
async fn insert_rows<E, A>(db: &DatabaseConnection, n: u64, row: impl Fn(u64) -> A) -> Result<()>
where
    E: EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E>,
{
    let mut i = 0;
    while i < n {
        let txn = db.begin().await?;
        for _ in 0..INSERTS_PER_TXN {
            if i >= n {
                break;
            }
            let end = (i + ROWS_PER_INSERT).min(n);
            E::insert_many((i..end).map(&row))
                .exec_without_returning(&txn)
                .await?;
            i = end;
        }
        txn.commit().await?;
    }
    Ok(())
}

async fn seed(
    settings: &Settings,
    db: &DatabaseConnection,
    [clients, users, revocations, families]: [u64; 4],
) -> Result<serde_json::Value> {
    use sea_orm::Set;
    let now = chrono_now();
    // One real argon2 hash (of a password nobody is given), shared by every seeded user.
    let hasher = PasswordHasher::new(settings)?;
    let password_hash = hasher.hash(random_token(24)?).await?;
    let secret_hash = hash_secret_hex(&random_token(32)?);
    let seed = random_token(6)?.replace(['-', '_'], "x");
    insert_rows::<client::Entity, _>(db, clients, |i| client::ActiveModel {
        client_id: Set(format!("seed-{seed}-c{i:07}")),
        name: Set(format!("seeded client {i}")),
        name_key: Set(format!("seeded client {i}")),
        secret_hash: Set(secret_hash.clone()),
        grant_types: Set("client_credentials".into()),
        // A handful of distinct scopes, as real registries have: discovery lists them once.
        scopes: Set(format!("seed:read seed:write{}", i % 8)),
        audiences: Set("https://seeded.example".into()),
        token_ttl: Set(None),
        alg: Set(None),
        redirect_uris: Set(String::new()),
        post_logout_redirect_uris: Set(String::new()),
        token_endpoint_auth_method: Set(crate::clients::AUTH_METHOD_SECRET.into()),
        dpop_bound_access_tokens: Set(false),
        dpop_nonce_required: Set(false),
        exchange_audiences: Set(String::new()),
        jwks: Set(None),
        jwks_uri: Set(None),
        created_at: Set(now - clients as i64 + i as i64),
        updated_at: Set(now),
    })
    .await?;
    insert_rows::<user::Entity, _>(db, users, |i| user::ActiveModel {
        id: Set(format!("seed-{seed}-u{i:08}")),
        username: Set(format!("seed-{seed}-user{i:08}").to_lowercase()),
        password_hash: Set(password_hash.clone()),
        roles: Set(String::new()),
        claims: Set("{}".into()),
        disabled: Set(false),
        not_before: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .await?;
    insert_rows::<revocation_event::Entity, _>(db, revocations, |_| {
        revocation_event::ActiveModel {
            kind: Set(KIND_JTI.into()),
            // A real access-token id: as many random bits as `tokens::random_id` gives.
            subject: Set(random_token(crate::tokens::TOKEN_ID_BYTES).unwrap_or_default()),
            valid_until: Set(now + 3600),
            created_at: Set(now),
            ..Default::default()
        }
    })
    .await?;
    let family_client = format!("seed-{seed}-c{:07}", 0);
    insert_rows::<refresh_family::Entity, _>(db, families, |i| refresh_family::ActiveModel {
        id: Set(format!("seed-{seed}-f{i:08}")),
        user_id: Set(format!("seed-{seed}-u{:08}", i % users.max(1))),
        client_id: Set(family_client.clone()),
        scope: Set("seed:read".into()),
        auth_time: Set(now),
        created_at: Set(now),
        expires_at: Set(now + 86_400),
        revoked_at: Set(None),
        audience: Set(None),
        dpop_jkt: Set(None),
    })
    .await?;
    insert_rows::<refresh_token::Entity, _>(db, families, |i| refresh_token::ActiveModel {
        token_hash: Set(hash_secret_hex(&format!("seed-{seed}-t{i}"))),
        family_id: Set(format!("seed-{seed}-f{i:08}")),
        created_at: Set(now),
        expires_at: Set(now + 3600),
        used_at: Set(None),
    })
    .await?;
    // The clients changed: instances recompute discovery once.
    registry_version::Entity::update_many()
        .col_expr(
            registry_version::Column::Version,
            sea_orm::sea_query::ExprTrait::add(Expr::col(registry_version::Column::Version), 1),
        )
        .exec(db)
        .await?;
    // Fresh planner statistics, as a database that grew over time would have.
    db.execute_unprepared("ANALYZE").await?;
    // The admin listing's cursor just before the last 1% of the seeded clients: a deep page.
    let deep = clients - clients / 100;
    Ok(json!({
        "clients": clients, "users": users, "revocations": revocations, "families": families,
        "deep_client_cursor": crate::paging::encode_cursor(&format!(
            "{}:seed-{seed}-c{deep:07}", now - clients as i64 + deep as i64
        )),
    }))
}

/// `n` audit entries over the last 30 days (oldest first, so ids grow with time as in a
/// real log): 300 actors (`user:…`, client ids, `cli:…`) and every known action.
async fn seed_audit(db: &DatabaseConnection, n: u64) -> Result<()> {
    use sea_orm::Set;
    let actions = crate::admin::audit::KNOWN_ACTIONS;
    let now = chrono_now();
    let span = 30 * 86_400_i64;
    insert_rows::<admin_audit::Entity, _>(db, n, |i| admin_audit::ActiveModel {
        at: Set(now - span + (i as i64 * span) / n.max(1) as i64),
        actor: Set(match i % 3 {
            0 => format!("user:seed-admin{}", i % 100),
            1 => format!("seed-client-{}", i % 100),
            _ => format!("cli:seed-op{}", i % 100),
        }),
        action: Set(actions[(i % actions.len() as u64) as usize].into()),
        target: Set(format!("seed-target-{}", i % 1000)),
        detail: Set(json!({"seeded": i}).to_string()),
        ..Default::default()
    })
    .await?;
    if n > 0 {
        db.execute_unprepared("ANALYZE").await?;
    }
    Ok(())
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `VmRSS` and `VmHWM` of this process, KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn feed_memory(issuer: &str, client_id: &str, client_secret: &str) -> Result<()> {
    use tessera_verify::{RevocationFeed, Verifier};
    let (rss_before, _) = memory_kib();
    let t = Instant::now();
    let verifier = Verifier::builder()
        .issuer(issuer)
        .audience("https://seeded.example")
        .allow_http(true)
        .revocation(
            RevocationFeed::new(client_id, client_secret).interval(Duration::from_secs(3600)),
        )
        .build()
        .await
        .map_err(|e| Error::Config(format!("verifier: {e}")))?;
    let sync = t.elapsed();
    let stats = verifier.stats();
    let (rss_after, hwm) = memory_kib();
    println!(
        "{}",
        json!({
            "revoked_jtis": stats.revoked_jtis,
            "polls": stats.revocation_polls,
            "first_sync_ms": sync.as_secs_f64() * 1000.0,
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            "hwm_kib": hwm,
            "held_kib": rss_after.saturating_sub(rss_before),
        })
    );
    drop(verifier);
    Ok(())
}
