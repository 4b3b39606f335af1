//! Database connection and migrations.

use std::path::Path;

use sea_orm::{
    ColumnTrait, Condition, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DbBackend, DeleteMany, EntityTrait, QueryFilter, TransactionTrait, sea_query::Query,
};
use tessera_migrations::{Migrator, MigratorTrait};

use crate::{
    config::Settings,
    error::{Error, Result},
};

/// Connects to the configured database (creating the SQLite directory if needed) and
/// applies pending migrations, so no command ever runs against an outdated schema.
pub async fn connect_and_migrate(settings: &Settings) -> Result<DatabaseConnection> {
    let db = connect(settings).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        // Instances starting together would each try to create the same tables (and
        // one would fail). A transaction-scoped advisory lock, held on a connection of
        // its own, makes them take turns; the later ones find nothing left to do.
        let lock_db = connect(&Settings {
            database_max_connections: Some(1),
            ..settings.clone()
        })
        .await?;
        let lock = lock_db.begin().await?;
        lock.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({})",
            migration_lock_key(settings.database_schema.as_deref().unwrap_or(""))
        ))
        .await?;
        let res = migrate(&db).await;
        lock.commit().await?;
        lock_db.close().await?;
        res?;
    } else {
        migrate(&db).await?;
    }
    Ok(db)
}

/// The advisory-lock key for migrating `schema` (FNV-1a of a fixed prefix and the name):
/// stable across processes and versions, distinct per schema.
fn migration_lock_key(schema: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"tessera-migrate:".iter().chain(schema.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

pub async fn connect(settings: &Settings) -> Result<DatabaseConnection> {
    let url = settings.database_url.as_str();
    let sqlite_file = sqlite_path(url).map(Path::new);
    if let Some(path) = sqlite_file
        && !url.contains("mode=ro")
    {
        prepare_sqlite_file(path)?;
    }
    let mut opts = ConnectOptions::new(url.to_string());
    opts.max_connections(settings.pool_size())
        .min_connections(1)
        // Fail fast when the database is down: token requests answer 503 within a second.
        // (sea-orm maps both to the pool's acquire timeout, which covers connecting.)
        .connect_timeout(settings.database_acquire_timeout)
        .acquire_timeout(settings.database_acquire_timeout)
        .sqlx_logging(false);
    if let Some(schema) = &settings.database_schema {
        opts.set_schema_search_path(schema.clone());
    }
    if !settings.uses_sqlite() {
        // sqlx pings a pooled connection on every checkout by default: one more round trip
        // per statement. Only a connection idle long enough to have been dropped by the
        // server, a proxy or a firewall is worth checking first.
        opts.test_before_acquire_if_idle_for(std::time::Duration::from_secs(1));
        return Ok(Database::connect(opts).await?);
    }
    configure_sqlite(&mut opts);
    let db = open_sqlite(opts).await?;
    // SQLite creates `-wal` and `-shm` with the database file's mode; files left by an
    // older version are tightened too.
    if let Some(path) = sqlite_file {
        restrict_sqlite_files(path);
    }
    Ok(db)
}

/// K9: creates the database's directory (mode 0700) and the database file itself (mode
/// 0600, before SQLite would create it 0644 less the umask), whatever the umask.
fn prepare_sqlite_file(path: &Path) -> Result<()> {
    let cannot = |what: &str, p: &Path, e: std::io::Error| {
        Error::Config(format!("cannot create {what} {}: {e}", p.display()))
    };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .map_err(|e| cannot("database directory", dir, e))?;
        set_mode(dir, 0o700).map_err(|e| cannot("database directory", dir, e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        // An empty file is an empty SQLite database.
        Ok(_) => set_mode(path, 0o600).map_err(|e| cannot("database file", path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(cannot("database file", path, e)),
    }
}

/// Removes group and other access from the database file, its WAL and shared-memory
/// files, where they have any. Best effort: a file we do not own stays as it is (logged).
fn restrict_sqlite_files(path: &Path) {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        if let Ok(meta) = std::fs::metadata(file)
            && meta.permissions().mode() & 0o077 != 0
            && let Err(e) = set_mode(file, 0o600)
        {
            tracing::warn!(file = %file.display(), error = %e, "cannot restrict the database file to mode 0600");
        }
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

async fn open_sqlite(opts: ConnectOptions) -> Result<DatabaseConnection> {
    // Opening a SQLite file cannot find "the database down", only a busy machine: setting
    // up WAL on a new file waits for the disk, and on a loaded VM that has taken longer
    // than the short acquire timeout (which also bounds connecting, and is meant for
    // requests). So opening is retried, up to ~10 attempts, before giving up.
    let mut attempt = 1;
    loop {
        match Database::connect(opts.clone()).await {
            Err(e) if attempt < SQLITE_OPEN_ATTEMPTS && is_pool_timeout(&e) => {
                tracing::warn!(attempt, "opening the SQLite database timed out; retrying");
                attempt += 1;
            }
            res => return Ok(res?),
        }
    }
}

/// How many times opening a SQLite database is tried (see `connect`).
const SQLITE_OPEN_ATTEMPTS: u32 = 10;

/// Whether connecting failed because no connection came within the acquire timeout.
fn is_pool_timeout(e: &sea_orm::DbErr) -> bool {
    matches!(
        e,
        sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(inner))
            if matches!(**inner, sea_orm::SqlxError::PoolTimedOut)
    )
}

/// Settings every pooled SQLite connection gets (pragmas are per connection, so they
/// go in the connect options, not in a statement run on whichever connection is free).
fn configure_sqlite(opts: &mut ConnectOptions) {
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    // The "connection" is a thread in this process: the ping sqlx sends before handing one
    // out cannot find anything broken, and costs a hop to that thread per statement.
    opts.test_before_acquire(false);
    // WAL lets readers proceed during writes; NORMAL sync is durable in WAL mode except
    // for the last transactions on power loss, and saves an fsync per commit.
    opts.map_sqlx_sqlite_opts(|o| {
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
    });
    opts.map_sqlx_sqlite_pool_opts(|pool| {
        pool.after_connect(|conn, _| {
            Box::pin(async move {
                let mut handle = conn.lock_handle().await?;
                enable_query_planner_stability(handle.as_raw_handle().as_ptr());
                Ok(())
            })
        })
    });
}

/// Turns on SQLite's query-planner stability guarantee for one connection.
///
/// Without it, the bundled SQLite (built with STAT4) lets the planner look at the value
/// bound to a parameter, such as the `LIMIT ?` sea-orm binds for every `.one()`, and then
/// expires the prepared statement whenever that parameter is bound again: every
/// execution was parsed and planned anew (half of a refresh grant's instructions in the
/// profile in bench/analysis.md), and sqlx's statement cache never hit.
fn enable_query_planner_stability(db: *mut libsqlite3_sys::sqlite3) {
    // SAFETY: `db` is the live handle of a connection whose worker is locked by the
    // caller; SQLITE_DBCONFIG_ENABLE_QPSG takes an int and an optional int* (null).
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::ffi::c_int,
            std::ptr::null_mut::<std::ffi::c_int>(),
        )
    };
    if rc != libsqlite3_sys::SQLITE_OK {
        tracing::warn!(rc, "SQLite refused the query-planner stability flag");
    }
}

/// Rows one clean-up statement deletes at most (see [`delete_in_batches`]).
pub const PURGE_BATCH: u64 = 1000;

/// Deletes the rows of `E` that match `cond`, [`PURGE_BATCH`] at a time: each statement is
/// `DELETE … WHERE pk IN (SELECT pk … WHERE cond LIMIT n)`, a range of the index on the
/// condition's column, so no statement holds the (SQLite: single) writer for long however
/// many rows have expired, and requests waiting for the connection get it between batches.
/// The work is proportional to the rows deleted, not to the table. Returns the rows deleted.
pub async fn delete_in_batches<E: EntityTrait>(
    db: &DatabaseConnection,
    pk: E::Column,
    cond: Condition,
) -> Result<u64> {
    let mut deleted = 0;
    loop {
        let n = batch_delete::<E>(pk, cond.clone())
            .exec(db)
            .await?
            .rows_affected;
        deleted += n;
        if n < PURGE_BATCH {
            return Ok(deleted);
        }
        tokio::task::yield_now().await;
    }
}

/// One batch of [`delete_in_batches`].
pub(crate) fn batch_delete<E: EntityTrait>(pk: E::Column, cond: Condition) -> DeleteMany<E> {
    let batch = Query::select()
        .column(pk)
        .from(E::default())
        .cond_where(cond)
        .limit(PURGE_BATCH)
        .to_owned();
    E::delete_many().filter(pk.in_subquery(batch))
}

pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// The file path of a `sqlite:` URL, if it names a file.
fn sqlite_path(url: &str) -> Option<&str> {
    crate::config::sqlite_path(url)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_paths() {
        assert_eq!(
            super::sqlite_path("sqlite://data/t.db?mode=rwc"),
            Some("data/t.db")
        );
        assert_eq!(super::sqlite_path("sqlite::memory:"), None);
        assert_eq!(super::sqlite_path("postgres://x/y"), None);
    }

    #[test]
    fn only_a_connect_timeout_is_retried() {
        use std::sync::Arc;

        use sea_orm::{DbErr, RuntimeErr, SqlxError};
        let conn = |e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e)));
        assert!(super::is_pool_timeout(&conn(SqlxError::PoolTimedOut)));
        assert!(!super::is_pool_timeout(&conn(SqlxError::PoolClosed)));
        assert!(!super::is_pool_timeout(&DbErr::Query(
            RuntimeErr::SqlxError(Arc::new(SqlxError::PoolTimedOut))
        )));
    }

    #[test]
    fn migration_lock_keys_differ_per_schema() {
        assert_eq!(
            super::migration_lock_key("a"),
            super::migration_lock_key("a")
        );
        assert_ne!(
            super::migration_lock_key("a"),
            super::migration_lock_key("b")
        );
    }
}
