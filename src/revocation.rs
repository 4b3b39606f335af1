//! The revocation log: revoked access-token ids (the denylist) and subject not-before
//! times, kept until they no longer matter, and served as a feed so verifiers honour
//! revocation by polling instead of calling per request.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::Serialize;

use crate::{
    clock::SharedClock,
    entities::revocation_event::{self, Entity as Events},
    error::Result,
};

pub const KIND_JTI: &str = "jti";
pub const KIND_SUB: &str = "sub";

/// Most entries in one feed page.
pub const FEED_PAGE: u64 = 1000;

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
        Ok(Events::find()
            .filter(revocation_event::Column::Kind.eq(KIND_JTI))
            .filter(revocation_event::Column::Subject.eq(jti))
            .one(&self.db)
            .await?
            .is_some())
    }

    /// Entries after `since` (all relevant ones when `None`), oldest first.
    pub async fn feed(&self, since: Option<i64>) -> Result<Feed> {
        let now = self.clock.now();
        let rows = Events::find()
            .filter(revocation_event::Column::Seq.gt(since.unwrap_or(0)))
            .order_by_asc(revocation_event::Column::Seq)
            .limit(FEED_PAGE + 1)
            .all(&self.db)
            .await?;
        let more = rows.len() as u64 > FEED_PAGE;
        let rows = &rows[..rows.len().min(FEED_PAGE as usize)];
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
        Events::delete_many()
            .filter(revocation_event::Column::Kind.eq(KIND_JTI))
            .filter(revocation_event::Column::ValidUntil.lt(now))
            .exec(&self.db)
            .await?;
        Events::delete_many()
            .filter(revocation_event::Column::Kind.eq(KIND_SUB))
            .filter(revocation_event::Column::ValidUntil.lt(now - self.subject_retention))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
