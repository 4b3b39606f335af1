//! Replay records: "this single-use value has been seen", for DPoP proofs (RFC 9449 §11.1)
//! now and client assertions (private_key_jwt, RFC 7523 §3) next.
//!
//! A value is recorded under the SHA-256 of (purpose, scope, jti) — the scope being the
//! proof key's thumbprint for a DPoP proof, the `client_id` for a client assertion — until
//! it could no longer be accepted anyway (`expires_at`). [`ReplayRecords::record_once`]
//! answers [`Recorded::Fresh`] only once the caller's own row is in the database, so a
//! value is accepted at most once, also across instances sharing a PostgreSQL database
//! (the primary key decides).
//!
//! Cost: no database round trip of its own per request. A writer task takes every insert
//! waiting at the moment (at most `replay_batch_max`) into one
//! `INSERT … ON CONFLICT DO NOTHING RETURNING key_hash` (a group commit; SQLite ≥ 3.35 and
//! PostgreSQL both return the rows actually inserted) and answers each caller through a
//! oneshot: under load, hundreds of requests share one statement. In front of it, a bounded
//! in-memory set of recent keys refuses a replay on the same instance without touching the
//! database. Expired rows go in bounded batches in the periodic clean-up ([`Self::purge`]),
//! so it never holds SQLite's writer for long.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use aws_lc_rs::digest;
use sea_orm::{
    ConnectionTrait, DatabaseConnection,
    sea_query::{Alias, Expr, OnConflict, Query},
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    clock::SharedClock,
    error::{Error, Result},
    secrets::hex,
};

/// What a single-use value is; part of the record key, so a DPoP `jti` and an assertion
/// `jti` never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A DPoP proof (scope: the proof key's RFC 7638 thumbprint).
    DpopProof,
    /// A client assertion (scope: the `client_id`).
    ClientAssertion,
    /// A console form whose result is shown once (scope: the signed-in username).
    ConsoleForm,
}

impl Purpose {
    fn tag(self) -> &'static [u8] {
        match self {
            Purpose::DpopProof => b"dpop-proof",
            Purpose::ClientAssertion => b"client-assertion",
            Purpose::ConsoleForm => b"console-form",
        }
    }
}

/// The answer of [`ReplayRecords::record_once`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First time: this request's record was written; accept it.
    Fresh,
    /// Seen before (here or on another instance): refuse it.
    Replayed,
}

/// Sizes of the replay-record machinery (settings `replay_*`).
#[derive(Debug, Clone, Copy)]
pub struct ReplayLimits {
    /// Most rows in one insert statement.
    pub batch_max: usize,
    /// Most inserts waiting for the writer; more callers wait for room.
    pub queue_max: usize,
    /// Entries of the in-memory set of recent keys.
    pub recent_capacity: usize,
    /// Rows deleted per statement of the clean-up.
    pub purge_batch: u64,
}

/// Most purge statements per clean-up round (the rest waits for the next round).
const PURGE_ROUNDS: usize = 100;

const TABLE: &str = "replay_records";
const KEY: &str = "key_hash";
const EXPIRES: &str = "expires_at";

/// The record key of a value: SHA-256 of the purpose, the length-prefixed scope and the jti.
pub fn record_key(purpose: Purpose, scope: &str, jti: &str) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(purpose.tag());
    ctx.update(&[0]);
    ctx.update(&(scope.len() as u64).to_be_bytes());
    ctx.update(scope.as_bytes());
    ctx.update(jti.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// One insert waiting for the writer.
struct Pending {
    key: String,
    expires_at: i64,
    /// `Err(true)`: the database is unavailable; `Err(false)`: another failure.
    reply: oneshot::Sender<std::result::Result<Recorded, bool>>,
}

/// The replay-record service (one per process, in `Context`).
pub struct ReplayRecords {
    db: DatabaseConnection,
    clock: SharedClock,
    limits: ReplayLimits,
    /// Keys seen recently on this instance, with their expiry.
    recent: Mutex<HashMap<[u8; 32], i64>>,
    /// The writer task's queue, started on first use (inside the runtime).
    writer: OnceLock<mpsc::Sender<Pending>>,
    /// Insert statements the writer has run (each carries one batch).
    statements: Arc<AtomicU64>,
}

impl ReplayRecords {
    pub fn new(db: DatabaseConnection, clock: SharedClock, limits: ReplayLimits) -> Self {
        Self {
            db,
            clock,
            limits: ReplayLimits {
                batch_max: limits.batch_max.max(1),
                queue_max: limits.queue_max.max(1),
                recent_capacity: limits.recent_capacity.max(1),
                purge_batch: limits.purge_batch.max(1),
            },
            recent: Mutex::new(HashMap::new()),
            writer: OnceLock::new(),
            statements: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many insert statements the writer has run so far: under concurrency far fewer
    /// than the records written (group commit).
    pub fn statements_written(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Records `jti` of `purpose` within `scope`, valid until `expires_at` (Unix seconds):
    /// [`Recorded::Fresh`] once this request's row is stored, [`Recorded::Replayed`] if the
    /// value was recorded before (on this instance: without a database round trip).
    pub async fn record_once(
        &self,
        purpose: Purpose,
        scope: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<Recorded> {
        let key = record_key(purpose, scope, jti);
        let now = self.clock.now();
        if !self.claim_locally(key, expires_at, now) {
            return Ok(Recorded::Replayed);
        }
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            key: hex(&key),
            expires_at,
            reply,
        };
        let outcome = match self.writer().send(pending).await {
            Ok(()) => answer.await.unwrap_or(Err(false)),
            Err(_) => Err(false),
        };
        match outcome {
            Ok(r) => Ok(r),
            Err(unavailable) => {
                // Not recorded: a retry with the same value must not be refused here.
                self.release_locally(&key);
                Err(if unavailable {
                    Error::Unavailable("the replay records cannot be written")
                } else {
                    Error::Crypto("the replay-record writer stopped".into())
                })
            }
        }
    }

    /// Claims `key` in the recent set: `false` if it is there and not expired.
    fn claim_locally(&self, key: [u8; 32], expires_at: i64, now: i64) -> bool {
        let Ok(mut recent) = self.recent.lock() else {
            return true;
        };
        if recent.get(&key).is_some_and(|&exp| exp >= now) {
            return false;
        }
        if recent.len() >= self.limits.recent_capacity {
            recent.retain(|_, exp| *exp >= now);
            if recent.len() >= self.limits.recent_capacity {
                // The database stays the authority: forgetting only costs round trips.
                recent.clear();
            }
        }
        recent.insert(key, expires_at);
        true
    }

    fn release_locally(&self, key: &[u8; 32]) {
        if let Ok(mut recent) = self.recent.lock() {
            recent.remove(key);
        }
    }

    fn writer(&self) -> &mpsc::Sender<Pending> {
        self.writer.get_or_init(|| {
            let (tx, rx) = mpsc::channel(self.limits.queue_max);
            tokio::spawn(write_batches(
                self.db.clone(),
                rx,
                self.limits.batch_max,
                self.statements.clone(),
            ));
            tx
        })
    }

    /// Deletes expired records, `replay_purge_batch` rows per statement (each its own short
    /// transaction, with a yield in between), at most [`PURGE_ROUNDS`] statements per call.
    /// Returns how many rows went.
    pub async fn purge(&self) -> Result<u64> {
        use sea_orm::sea_query::ExprTrait as _;
        let now = self.clock.now();
        if let Ok(mut recent) = self.recent.lock() {
            recent.retain(|_, exp| *exp >= now);
        }
        let backend = self.db.get_database_backend();
        let mut total = 0;
        for _ in 0..PURGE_ROUNDS {
            let expired = Query::select()
                .column(Alias::new(KEY))
                .from(Alias::new(TABLE))
                .and_where(Expr::col(Alias::new(EXPIRES)).lt(now))
                .limit(self.limits.purge_batch)
                .to_owned();
            let delete = Query::delete()
                .from_table(Alias::new(TABLE))
                .and_where(Expr::col(Alias::new(KEY)).in_subquery(expired))
                .to_owned();
            let n = self
                .db
                .execute_raw(backend.build(&delete))
                .await?
                .rows_affected();
            total += n;
            if n < self.limits.purge_batch {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok(total)
    }
}

/// The writer: everything waiting (up to `batch_max`) goes into one statement; each caller
/// learns whether its row was the one inserted.
async fn write_batches(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Pending>,
    batch_max: usize,
    statements: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(batch_max);
    while rx.recv_many(&mut batch, batch_max).await > 0 {
        statements.fetch_add(1, Ordering::Relaxed);
        match insert_batch(&db, &batch).await {
            Ok(mut inserted) => {
                for p in batch.drain(..) {
                    // `remove`: a key twice in one batch is fresh once.
                    let r = if inserted.remove(&p.key) {
                        Recorded::Fresh
                    } else {
                        Recorded::Replayed
                    };
                    let _ = p.reply.send(Ok(r));
                }
            }
            Err(e) => {
                let unavailable = e.is_unavailable();
                tracing::warn!(error = %e, rows = batch.len(), "replay records not written");
                for p in batch.drain(..) {
                    let _ = p.reply.send(Err(unavailable));
                }
            }
        }
    }
}

/// One `INSERT … ON CONFLICT (key_hash) DO NOTHING RETURNING key_hash`: the keys returned
/// are those this statement inserted.
async fn insert_batch(db: &DatabaseConnection, batch: &[Pending]) -> Result<HashSet<String>> {
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new(TABLE))
        .columns([Alias::new(KEY), Alias::new(EXPIRES)]);
    let mut seen = HashSet::with_capacity(batch.len());
    for p in batch {
        if seen.insert(p.key.as_str()) {
            insert.values_panic([p.key.clone().into(), p.expires_at.into()]);
        }
    }
    insert
        .on_conflict(OnConflict::column(Alias::new(KEY)).do_nothing().to_owned())
        .returning_col(Alias::new(KEY));
    let rows = db
        .query_all_raw(db.get_database_backend().build(&insert))
        .await?;
    rows.into_iter()
        .map(|r| r.try_get::<String>("", KEY).map_err(Error::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{clock::FakeClock, config::Settings};

    const LIMITS: ReplayLimits = ReplayLimits {
        batch_max: 64,
        queue_max: 1024,
        recent_capacity: 1000,
        purge_batch: 10,
    };

    async fn sqlite(dir: &tempfile::TempDir) -> DatabaseConnection {
        let settings = Settings {
            database_url: format!("sqlite://{}/replay.db?mode=rwc", dir.path().display()),
            ..Settings::default()
        };
        crate::storage::connect_and_migrate(&settings)
            .await
            .unwrap()
    }

    async fn count(db: &DatabaseConnection) -> i64 {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM replay_records",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }

    #[test]
    fn keys_separate_purpose_scope_and_jti() {
        let k = record_key(Purpose::DpopProof, "ab", "c");
        assert_ne!(k, record_key(Purpose::ClientAssertion, "ab", "c"));
        assert_ne!(k, record_key(Purpose::DpopProof, "a", "bc"));
        assert_eq!(k, record_key(Purpose::DpopProof, "ab", "c"));
    }

    /// D1, C1: many concurrent requests with one jti — exactly one is fresh, on one
    /// instance (recent set) and across two instances sharing the database (the batch
    /// insert's primary key), and they share statements (group commit).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_same_jti_is_fresh_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        let clock = Arc::new(FakeClock::new(1_000));
        let a = Arc::new(ReplayRecords::new(db.clone(), clock.clone(), LIMITS));
        let b = Arc::new(ReplayRecords::new(db.clone(), clock.clone(), LIMITS));
        let mut tasks = Vec::new();
        for i in 0..200 {
            let r = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                // 20 distinct jtis, each presented 10 times across both instances.
                let jti = format!("jti-{}", i % 20);
                r.record_once(Purpose::DpopProof, "jkt", &jti, 1_060)
                    .await
                    .unwrap()
            }));
        }
        let mut fresh = 0;
        for t in tasks {
            if t.await.unwrap() == Recorded::Fresh {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 20, "one fresh answer per distinct jti");
        assert_eq!(count(&db).await, 20);
        // Another scope or purpose with the same jti is a different value.
        assert_eq!(
            a.record_once(Purpose::ClientAssertion, "jkt", "jti-0", 1_060)
                .await
                .unwrap(),
            Recorded::Fresh
        );
        assert_eq!(
            b.record_once(Purpose::DpopProof, "other", "jti-0", 1_060)
                .await
                .unwrap(),
            Recorded::Fresh
        );
    }

    /// Group commit: 200 concurrent distinct records share a few statements (batches of at
    /// most 64), and each caller still learns its own answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_records_share_statements() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        let r = Arc::new(ReplayRecords::new(
            db.clone(),
            Arc::new(FakeClock::new(1_000)),
            LIMITS,
        ));
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let r = r.clone();
                tokio::spawn(async move {
                    r.record_once(Purpose::DpopProof, "k", &format!("j{i}"), 2_000)
                        .await
                        .unwrap()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Recorded::Fresh);
        }
        assert_eq!(count(&db).await, 200);
        let statements = r.statements_written();
        assert!(
            (4..200).contains(&statements),
            "200 records in {statements} statements"
        );
    }

    /// The in-memory set forgets (capacity), the database still refuses.
    #[tokio::test]
    async fn the_database_refuses_what_the_recent_set_forgot() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        let clock = Arc::new(FakeClock::new(1_000));
        let small = ReplayLimits {
            recent_capacity: 2,
            ..LIMITS
        };
        let r = ReplayRecords::new(db, clock, small);
        for jti in ["a", "b", "c", "d"] {
            let first = r.record_once(Purpose::DpopProof, "k", jti, 2_000);
            assert_eq!(first.await.unwrap(), Recorded::Fresh);
        }
        for jti in ["a", "b", "c", "d"] {
            let again = r.record_once(Purpose::DpopProof, "k", jti, 2_000);
            assert_eq!(again.await.unwrap(), Recorded::Replayed, "{jti}");
        }
    }

    /// Expired rows go in batches of `purge_batch`; live ones stay.
    #[tokio::test]
    async fn purge_deletes_expired_rows_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        let clock = Arc::new(FakeClock::new(1_000));
        let r = ReplayRecords::new(db.clone(), clock.clone(), LIMITS);
        for i in 0..25 {
            r.record_once(Purpose::DpopProof, "k", &format!("old-{i}"), 1_010)
                .await
                .unwrap();
        }
        r.record_once(Purpose::DpopProof, "k", "live", 5_000)
            .await
            .unwrap();
        clock.set(1_100);
        assert_eq!(r.purge().await.unwrap(), 25);
        assert_eq!(count(&db).await, 1);
        assert_eq!(
            r.record_once(Purpose::DpopProof, "k", "live", 5_000)
                .await
                .unwrap(),
            Recorded::Replayed
        );
    }
}
