//! The admin audit log: every change made through the admin API, newest first. Entries
//! hold identifiers and non-secret parameters only; callers pass no secret in `detail`.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::Serialize;

use crate::{
    clock::SharedClock,
    entities::admin_audit::{self, Entity as Audit},
    error::Result,
    paging::Page,
};

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Client id of the admin token.
    pub actor: String,
    /// e.g. `client.create`, `user.disable`, `key.rotate`.
    pub action: String,
    /// The client id, user id or key id acted on ("" when none).
    pub target: String,
    /// Non-secret parameters of the change.
    pub detail: serde_json::Value,
}

pub struct AuditLog {
    db: DatabaseConnection,
    clock: SharedClock,
}

impl AuditLog {
    pub fn new(db: DatabaseConnection, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// Appends an entry.
    pub async fn record(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        admin_audit::ActiveModel {
            at: Set(self.clock.now()),
            actor: Set(actor.to_string()),
            action: Set(action.to_string()),
            target: Set(target.to_string()),
            detail: Set(detail.to_string()),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Up to `limit` entries older than `before` (an entry id; `None` = newest), newest
    /// first, and the cursor for the next page.
    pub async fn list(&self, before: Option<i64>, limit: u64) -> Result<Page<AuditEntry>> {
        let mut q = Audit::find().order_by_desc(admin_audit::Column::Id);
        if let Some(b) = before {
            q = q.filter(admin_audit::Column::Id.lt(b));
        }
        let rows = q.limit(limit + 1).all(&self.db).await?;
        Page::from_rows(
            rows,
            limit,
            |r| r.id.to_string(),
            |r| {
                Ok(AuditEntry {
                    detail: serde_json::from_str(&r.detail).unwrap_or_default(),
                    id: r.id,
                    at: r.at,
                    actor: r.actor,
                    action: r.action,
                    target: r.target,
                })
            },
        )
    }
}
