//! The database as the command line sees it: only `serve` and `migrate` create one, every
//! other command first checks that a Tessera database is where it looks ([`existing`]);
//! `tessera backup` copies an SQLite database consistently while the server runs.

use std::path::Path;

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::config::{Settings, absolute, sqlite_path};

/// The table every migrated Tessera database has (sea-orm's migration bookkeeping).
const MIGRATIONS_TABLE: &str = "seaql_migrations";

/// Fails, naming the absolute place it looked at, unless a Tessera database is there: the
/// SQLite file exists (it is not created) and holds the migrations table, or the PostgreSQL
/// schema holds it. A command run from another directory then says so instead of creating
/// an empty database the server never sees.
pub async fn existing(settings: &Settings) -> Result<(), String> {
    let missing = || {
        format!(
            "no Tessera database at {} (run `tessera serve` or `tessera migrate` there first, \
             or point at the server's with --database-url / TESSERA_DATABASE_URL / --config)",
            settings.database_location()
        )
    };
    if settings.uses_sqlite() {
        match sqlite_path(&settings.database_url) {
            Some(p) if Path::new(p).is_file() => {}
            _ => return Err(missing()),
        }
    }
    let db = crate::storage::connect(settings)
        .await
        .map_err(|e| format!("cannot open {}: {e}", settings.database_location()))?;
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            format!(
                "SELECT CAST(CASE WHEN to_regclass('{MIGRATIONS_TABLE}') IS NULL THEN 0 ELSE 1 END \
                 AS int8) AS present"
            )
        }
        _ => format!(
            "SELECT count(*) AS present FROM sqlite_master \
             WHERE type = 'table' AND name = '{MIGRATIONS_TABLE}'"
        ),
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .map_err(|e| format!("cannot read {}: {e}", settings.database_location()))?;
    let present = row
        .and_then(|r| r.try_get::<i64>("", "present").ok())
        .is_some_and(|n| n > 0);
    let _ = db.close().await;
    if present { Ok(()) } else { Err(missing()) }
}

/// `tessera backup FILE`: a consistent copy of the SQLite database (`VACUUM INTO` reads
/// one snapshot, so writes by a running server are either wholly in it or not at all),
/// written to a new file of mode 0600. Never overwrites; never migrates the source.
pub async fn backup(settings: &Settings, file: &Path) -> Result<String, String> {
    if !settings.uses_sqlite() {
        return Err(format!(
            "tessera backup copies SQLite databases; {} is PostgreSQL: use pg_dump \
             (e.g. pg_dump --format=custom --file=tessera.dump{} \"$DATABASE_URL\"), restore \
             with pg_restore. The key-encryption key is not in the database either way: \
             keep it separately",
            settings.database_location(),
            settings
                .database_schema
                .as_deref()
                .map(|s| format!(" --schema={s}"))
                .unwrap_or_default()
        ));
    }
    existing(settings).await?;
    let target = absolute(file);
    let target_str = target
        .to_str()
        .ok_or_else(|| format!("{} is not a UTF-8 path", target.display()))?
        .to_string();
    // Created here, exclusively: an existing file is never overwritten, and the copy (sealed
    // keys, secret hashes) is private from the start. VACUUM INTO accepts an empty file.
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&target) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(format!(
                "{target_str} already exists: backup never overwrites a file (choose another name)"
            ));
        }
        Err(e) => return Err(format!("cannot create {target_str}: {e}")),
    }
    let result = async {
        let db = crate::storage::connect(settings)
            .await
            .map_err(|e| e.to_string())?;
        let sql = format!("VACUUM INTO '{}'", target_str.replace('\'', "''"));
        let res = db.execute_unprepared(&sql).await.map_err(|e| e.to_string());
        let _ = db.close().await;
        res.map(|_| ())
    }
    .await;
    if let Err(e) = result {
        let _ = std::fs::remove_file(&target);
        return Err(format!(
            "backup of {} failed: {e}",
            settings.database_location()
        ));
    }
    let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
    Ok(format!(
        "backed up {} to {target_str} ({size} bytes)\n\
         the key-encryption key is not in the backup: keep {} (or TESSERA_KEK) separately",
        settings.database_location(),
        absolute(&settings.kek_file).display()
    ))
}
