//! The hot queries and the periodic clean-ups use indexes (`docs/scale.md`): SQLite's
//! `EXPLAIN QUERY PLAN` of each, built by the same functions the code runs, must not
//! scan a table that grows with clients, users, tokens or revocations (a `SCAN` of it),
//! nor sort a result in a temporary B-tree. A behaviour of the schema, not a timing.

use sea_orm::{
    ColumnTrait, Condition, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DbBackend, EntityTrait, QueryFilter, QueryTrait, Statement,
};

use crate::{
    entities::{
        authorization_code, browser_session, browser_session_family, refresh_family, refresh_token,
        registry_version, revocation_event, user,
    },
    paging,
};

/// Tables whose size grows with use (everything but the keys and the version row).
const GROWING: &[&str] = &[
    "clients",
    "users",
    "refresh_families",
    "refresh_tokens",
    "revocation_events",
    "authorization_codes",
    "browser_sessions",
    "browser_session_families",
    "admin_audit",
    "login_failures",
];

async fn schema() -> DatabaseConnection {
    let mut opts = ConnectOptions::new("sqlite::memory:");
    // One connection: an in-memory database is per connection.
    opts.max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    let db = Database::connect(opts).await.expect("sqlite in memory");
    crate::storage::migrate(&db).await.expect("migrations");
    db
}

/// The plan's `detail` lines for `stmt`.
async fn plan(db: &DatabaseConnection, stmt: Statement) -> Vec<String> {
    let explain = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!("EXPLAIN QUERY PLAN {}", stmt.sql),
        stmt.values.map(|v| v.0).unwrap_or_default(),
    );
    db.query_all_raw(explain)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {}: {e}", stmt.sql))
        .iter()
        .map(|r| r.try_get::<String>("", "detail").expect("detail column"))
        .collect()
}

/// Asserts that `stmt` touches growing tables only through an index (or its primary key).
/// `allow_scan_with_limit`: a `SCAN … USING INDEX` that reads the index in order and stops
/// after the page (the first page of a listing) is accepted.
async fn assert_indexed(
    db: &DatabaseConnection,
    what: &str,
    stmt: Statement,
    allow_ordered_scan: bool,
) {
    let lines = plan(db, stmt.clone()).await;
    assert!(!lines.is_empty(), "{what}: no plan");
    for line in &lines {
        let scan_of_growing = GROWING
            .iter()
            .any(|t| line == &format!("SCAN {t}") || line.starts_with(&format!("SCAN {t} ")));
        let ordered_index_scan =
            line.contains(" USING INDEX ") || line.contains(" USING COVERING INDEX ");
        assert!(
            !scan_of_growing || (allow_ordered_scan && ordered_index_scan),
            "{what} scans a growing table: {line:?}\nSQL: {}\nplan: {lines:#?}",
            stmt.sql
        );
        assert!(
            !line.contains("TEMP B-TREE"),
            "{what} sorts in a temporary B-tree: {line:?}\nSQL: {}",
            stmt.sql
        );
    }
}

#[tokio::test]
async fn hot_queries_and_clean_ups_use_indexes() {
    let db = schema().await;
    let sqlite = DbBackend::Sqlite;
    let now = 1_800_000_000_i64;

    // Token endpoint and introspection: client, user, refresh token, denylist.
    assert_indexed(
        &db,
        "client by id",
        crate::entities::client::Entity::find_by_id("c".to_string()).build(sqlite),
        false,
    )
    .await;
    assert_indexed(
        &db,
        "user by id",
        user::Entity::find_by_id("u".to_string()).build(sqlite),
        false,
    )
    .await;
    assert_indexed(
        &db,
        "user by username (password grant)",
        user::Entity::find()
            .filter(user::Column::Username.eq("alice"))
            .build(sqlite),
        false,
    )
    .await;
    assert_indexed(
        &db,
        "refresh token with family and user",
        crate::refresh_families::find_query("h").build(sqlite),
        false,
    )
    .await;
    assert_indexed(
        &db,
        "revoked jti",
        crate::revocation::jti_query("j").build(sqlite),
        false,
    )
    .await;
    // Discovery refresh: the change counter only.
    assert_indexed(
        &db,
        "registry version",
        registry_version::Entity::find_by_id("clients".to_string()).build(sqlite),
        false,
    )
    .await;
    // Switching a client's authentication method revokes its refresh-token families.
    assert_indexed(
        &db,
        "refresh families of a client",
        crate::clients::revoke_refresh_families_query("c", now).build(sqlite),
        false,
    )
    .await;
    // Revocation feed: first page and a later one.
    for since in [None, Some(12_345)] {
        assert_indexed(
            &db,
            "feed page",
            crate::revocation::feed_query(since, 1000).build(sqlite),
            false,
        )
        .await;
    }
    // Admin listings: the first page reads an index in order; deep pages seek.
    assert_indexed(
        &db,
        "clients first page",
        crate::clients::page_query(None, 50).unwrap().build(sqlite),
        true,
    )
    .await;
    let deep = paging::encode_cursor("1700000000:seed-c0099999");
    assert_indexed(
        &db,
        "clients deep page",
        crate::clients::page_query(Some(&deep), 50)
            .unwrap()
            .build(sqlite),
        false,
    )
    .await;
    assert_indexed(
        &db,
        "users first page",
        crate::accounts::store::page_query(None, None, 50)
            .unwrap()
            .build(sqlite),
        true,
    )
    .await;
    let deep = paging::encode_cursor("seed-user0999999");
    assert_indexed(
        &db,
        "users deep page",
        crate::accounts::store::page_query(None, Some(&deep), 50)
            .unwrap()
            .build(sqlite),
        false,
    )
    .await;

    // Console searches: a name or username prefix is one index range, first page or deep.
    for cursor in [None, Some(paging::encode_cursor("billing\nseed-c0099999"))] {
        assert_indexed(
            &db,
            "clients by name prefix",
            crate::clients::search_query("Bill", cursor.as_deref(), 50)
                .unwrap()
                .build(sqlite),
            false,
        )
        .await;
    }
    for cursor in [None, Some(paging::encode_cursor("alice"))] {
        assert_indexed(
            &db,
            "users by username prefix",
            crate::accounts::store::prefix_query("Al", cursor.as_deref(), 50)
                .unwrap()
                .build(sqlite),
            false,
        )
        .await;
    }

    // Periodic clean-ups, one batch each.
    use crate::storage::batch_delete;
    let cleanups: Vec<(&str, Statement)> = vec![
        (
            "expired refresh tokens",
            batch_delete::<refresh_token::Entity>(
                refresh_token::Column::TokenHash,
                Condition::all().add(refresh_token::Column::ExpiresAt.lt(now)),
            )
            .build(sqlite),
        ),
        (
            "expired refresh families",
            batch_delete::<refresh_family::Entity>(
                refresh_family::Column::Id,
                Condition::all().add(refresh_family::Column::ExpiresAt.lt(now)),
            )
            .build(sqlite),
        ),
        (
            "expired revocations",
            batch_delete::<revocation_event::Entity>(
                revocation_event::Column::Seq,
                Condition::all()
                    .add(revocation_event::Column::Kind.eq(crate::revocation::KIND_JTI))
                    .add(revocation_event::Column::ValidUntil.lt(now)),
            )
            .build(sqlite),
        ),
        (
            "expired authorization codes",
            batch_delete::<authorization_code::Entity>(
                authorization_code::Column::CodeHash,
                Condition::all().add(authorization_code::Column::ExpiresAt.lt(now)),
            )
            .build(sqlite),
        ),
        (
            "expired session links",
            batch_delete::<browser_session_family::Entity>(
                browser_session_family::Column::FamilyId,
                Condition::all().add(browser_session_family::Column::ExpiresAt.lt(now)),
            )
            .build(sqlite),
        ),
        (
            "expired browser sessions",
            batch_delete::<browser_session::Entity>(
                browser_session::Column::SessionId,
                Condition::all().add(browser_session::Column::ExpiresAt.lt(now)),
            )
            .build(sqlite),
        ),
    ];
    for (what, stmt) in cleanups {
        assert_indexed(&db, what, stmt, false).await;
    }
}

#[tokio::test]
async fn the_checker_sees_a_full_scan() {
    // Guards the test above: a query with no usable index is reported as a scan.
    let db = schema().await;
    let stmt = refresh_family::Entity::find()
        .filter(refresh_family::Column::Scope.eq("x"))
        .build(DbBackend::Sqlite);
    let lines = plan(&db, stmt).await;
    assert!(
        lines.iter().any(|l| l.starts_with("SCAN refresh_families")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn clean_ups_delete_every_expired_row_in_batches() {
    use sea_orm::{PaginatorTrait, QueryFilter as _};
    let db = schema().await;
    // 2.5 batches of expired entries and a few live ones.
    let expired = (crate::storage::PURGE_BATCH * 5 / 2) as usize;
    for (n, valid_until) in [(expired, 100), (7, 2_000_000_000)] {
        let values: Vec<String> = (0..n)
            .map(|i| format!("('jti', 'j{valid_until}-{i}', {valid_until}, 0)"))
            .collect();
        for chunk in values.chunks(500) {
            db.execute_unprepared(&format!(
                "INSERT INTO revocation_events (kind, subject, valid_until, created_at) VALUES {}",
                chunk.join(", ")
            ))
            .await
            .unwrap();
        }
    }
    let deleted = crate::storage::delete_in_batches::<revocation_event::Entity>(
        &db,
        revocation_event::Column::Seq,
        Condition::all().add(revocation_event::Column::ValidUntil.lt(1_000)),
    )
    .await
    .unwrap();
    assert_eq!(deleted, expired as u64);
    let left = revocation_event::Entity::find()
        .filter(revocation_event::Column::ValidUntil.gt(1_000))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(left, 7);
    assert_eq!(
        revocation_event::Entity::find().count(&db).await.unwrap(),
        7
    );
}
