//! The revocation log: revoked access-token ids (the denylist) and subject not-before
//! times, kept until they no longer matter, and served as a feed so verifiers honour
//! revocation by polling instead of calling per request.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::Serialize;

use crate::{
    clock::SharedClock,
    entities::revocation_event::{self, Entity as Events},
    error::Result,
    storage::delete_in_batches,
};

pub const KIND_JTI: &str = "jti";
pub const KIND_SUB: &str = "sub";

/// Entries in one feed page unless the reader asks for another size: ~64 KB of JSON,
/// which fits the default response cap of `tessera-verify` (64 KiB).
pub const FEED_PAGE: u64 = 1000;
/// The largest page a reader may ask for (`limit`): ~500 KB of JSON; a 100,000-entry
/// first sync is then 10 requests, ~0.25 s of server CPU with gzip (`docs/scale.md`).
pub const FEED_MAX_PAGE: u64 = 10_000;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RevokedJti {
    pub jti: String,
    pub exp: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SubjectNotBefore {
    pub sub: String,
    pub not_before: i64,
}

/// One page of the feed.
#[derive(Debug, Clone, Serialize)]
pub struct Feed {
    /// Pass back as `since` to get only what came after.
    pub cursor: String,
    pub revoked: Vec<RevokedJti>,
    pub subjects: Vec<SubjectNotBefore>,
    /// More entries are waiting: ask again with `cursor` at once.
    pub more: bool,
}

/// Whether `jti` is denylisted: a point lookup of the `(kind, subject)` index.
pub(crate) fn jti_query(jti: &str) -> sea_orm::Select<Events> {
    Events::find()
        .filter(revocation_event::Column::Kind.eq(KIND_JTI))
        .filter(revocation_event::Column::Subject.eq(jti))
}

/// One feed page (`page + 1` rows, the extra one says `more`): a primary-key range.
pub(crate) fn feed_query(since: Option<i64>, page: u64) -> sea_orm::Select<Events> {
    Events::find()
        .filter(revocation_event::Column::Seq.gt(since.unwrap_or(0)))
        .order_by_asc(revocation_event::Column::Seq)
        .limit(page + 1)
}

pub struct RevocationLog {
    db: DatabaseConnection,
    clock: SharedClock,
    /// How long a subject's not-before time matters: the longest access-token lifetime.
    subject_retention: i64,
}

impl RevocationLog {
    pub fn new(db: DatabaseConnection, clock: SharedClock, subject_retention: i64) -> Self {
        Self {
            db,
            clock,
            subject_retention,
        }
    }

    /// Denylists an access token until its expiry.
    pub async fn revoke_jti(&self, jti: &str, exp: i64) -> Result<()> {
        if self.is_jti_revoked(jti).await? {
            return Ok(());
        }
        self.insert(KIND_JTI, jti, exp).await
    }

    /// Access tokens of `sub` issued before `t` are revoked.
    pub async fn subject_not_before(&self, sub: &str, t: i64) -> Result<()> {
        self.insert(KIND_SUB, sub, t).await
    }

    async fn insert(&self, kind: &str, subject: &str, valid_until: i64) -> Result<()> {
        revocation_event::ActiveModel {
            kind: Set(kind.into()),
            subject: Set(subject.into()),
            valid_until: Set(valid_until),
            created_at: Set(self.clock.now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    pub async fn is_jti_revoked(&self, jti: &str) -> Result<bool> {
        Ok(jti_query(jti).one(&self.db).await?.is_some())
    }

    /// Up to `page` entries (at most [`FEED_MAX_PAGE`]) after `since` (all relevant ones
    /// when `None`), oldest first: a range of the primary key, O(log N + page).
    pub async fn feed(&self, since: Option<i64>, page: u64) -> Result<Feed> {
        let now = self.clock.now();
        let page = page.clamp(1, FEED_MAX_PAGE);
        let rows = feed_query(since, page).all(&self.db).await?;
        let more = rows.len() as u64 > page;
        let rows = &rows[..rows.len().min(page as usize)];
        let cursor = rows
            .last()
            .map(|r| r.seq)
            .or(since)
            .unwrap_or(0)
            .to_string();
        let mut feed = Feed {
            cursor,
            revoked: vec![],
            subjects: vec![],
            more,
        };
        for r in rows {
            match r.kind.as_str() {
                KIND_JTI if r.valid_until > now => feed.revoked.push(RevokedJti {
                    jti: r.subject.clone(),
                    exp: r.valid_until,
                }),
                KIND_SUB if r.valid_until + self.subject_retention > now => {
                    feed.subjects.push(SubjectNotBefore {
                        sub: r.subject.clone(),
                        not_before: r.valid_until,
                    })
                }
                _ => {}
            }
        }
        Ok(feed)
    }

    /// Drops entries that can no longer affect any valid token.
    pub async fn purge(&self) -> Result<()> {
        let now = self.clock.now();
        for (kind, before) in [(KIND_JTI, now), (KIND_SUB, now - self.subject_retention)] {
            delete_in_batches::<Events>(
                &self.db,
                revocation_event::Column::Seq,
                Condition::all()
                    .add(revocation_event::Column::Kind.eq(kind))
                    .add(revocation_event::Column::ValidUntil.lt(before)),
            )
            .await?;
        }
        Ok(())
    }
}
