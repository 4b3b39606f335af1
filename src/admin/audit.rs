//! The admin audit log: every change made through the admin API or the command line,
//! newest first. Entries hold identifiers and non-secret parameters only; callers pass no
//! secret in `detail`.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::Serialize;

use crate::{
    clients::Client,
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
    /// Client id of the admin token, or `cli:<os user>` for the command line.
    pub actor: String,
    /// e.g. `client.create`, `user.disable`, `key.rotate`.
    pub action: String,
    /// The client id, user id or key id acted on ("" when none).
    pub target: String,
    /// Non-secret parameters of the change.
    pub detail: serde_json::Value,
}

/// The non-secret registration of a client, as `client.create` records it.
pub fn client_detail(c: &Client) -> serde_json::Value {
    serde_json::json!({"name": c.name, "grant_types": c.grant_types, "scopes": c.scopes,
           "audiences": c.audiences, "token_ttl": c.token_ttl, "alg": c.alg.map(|a| a.as_str()),
           "redirect_uris": c.redirect_uris,
           "post_logout_redirect_uris": c.post_logout_redirect_uris,
           "token_endpoint_auth_method": c.token_endpoint_auth_method,
           "dpop_bound_access_tokens": c.dpop_bound_access_tokens,
           "dpop_nonce_required": c.dpop_nonce_required,
           "exchange_audiences": c.exchange_audiences,
           "keys": key_summary(c), "jwks_uri": c.jwks_uri})
}

/// The registered public keys of a `private_key_jwt` client as the audit log and `clients
/// show` name them: kid, algorithm and RFC 7638 thumbprint (never the whole key).
pub fn key_summary(c: &Client) -> serde_json::Value {
    match c.inline_keys() {
        None => serde_json::Value::Null,
        Some(set) => set
            .keys()
            .iter()
            .map(|k| {
                serde_json::json!({"kid": k.kid(), "alg": k.alg().as_str(),
                                   "thumbprint": k.thumbprint()})
            })
            .collect(),
    }
}

/// The actor of changes made with the command line: `cli:<os user>`, the user from
/// `$USER`, else `$LOGNAME`, else `uid:<number>` (control characters replaced, at most
/// 64 characters).
pub fn cli_actor() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|u| !u.trim().is_empty())
        .map(|u| {
            u.trim()
                .chars()
                .take(64)
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        })
        .unwrap_or_else(current_uid);
    format!("cli:{user}")
}

#[cfg(unix)]
fn current_uid() -> String {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    format!("uid:{uid}")
}

#[cfg(not(unix))]
fn current_uid() -> String {
    "unknown".into()
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

    /// Up to `limit` entries matching `filter`, newest first (by time, then id), after
    /// `cursor` (the `next_cursor` of the previous page), and the cursor of the next page.
    /// Each filter combination is one backwards range scan of an index
    /// (`idx_admin_audit_*`): fast at any size.
    pub async fn search(
        &self,
        filter: &AuditFilter,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Page<AuditEntry>> {
        use sea_orm::sea_query::{Expr, ExprTrait};
        let mut q = Audit::find()
            .order_by_desc(admin_audit::Column::At)
            .order_by_desc(admin_audit::Column::Id);
        if let Some(actor) = &filter.actor {
            q = q.filter(admin_audit::Column::Actor.eq(actor.clone()));
        }
        if let Some(action) = &filter.action {
            q = q.filter(admin_audit::Column::Action.eq(action.clone()));
        }
        if let Some(from) = filter.from {
            q = q.filter(admin_audit::Column::At.gte(from));
        }
        if let Some(to) = filter.to {
            q = q.filter(admin_audit::Column::At.lt(to));
        }
        if let Some(c) = cursor {
            let (at, id) = decode_search_cursor(c)?;
            q = q.filter(
                Expr::tuple([
                    Expr::col(admin_audit::Column::At),
                    Expr::col(admin_audit::Column::Id),
                ])
                .lt(Expr::tuple([Expr::val(at), Expr::val(id)])),
            );
        }
        let rows = q.limit(limit + 1).all(&self.db).await?;
        Page::from_rows(
            rows,
            limit,
            |r| crate::paging::encode_cursor(&format!("{}:{}", r.at, r.id)),
            |r| Ok(entry(r)),
        )
    }

    /// Up to `limit` entries older than `before` (an entry id; `None` = newest), newest
    /// first, and the cursor for the next page.
    pub async fn list(&self, before: Option<i64>, limit: u64) -> Result<Page<AuditEntry>> {
        let mut q = Audit::find().order_by_desc(admin_audit::Column::Id);
        if let Some(b) = before {
            q = q.filter(admin_audit::Column::Id.lt(b));
        }
        let rows = q.limit(limit + 1).all(&self.db).await?;
        Page::from_rows(rows, limit, |r| r.id.to_string(), |r| Ok(entry(r)))
    }
}

/// What the console's audit log page filters on (all given filters apply).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exactly this actor (`user:alice`, a client id, `cli:root`).
    pub actor: Option<String>,
    /// Exactly this action (`key.rotate`).
    pub action: Option<String>,
    /// At or after (Unix seconds).
    pub from: Option<i64>,
    /// Before (Unix seconds).
    pub to: Option<i64>,
}

/// The `(at, id)` of a [`AuditLog::search`] cursor.
fn decode_search_cursor(cursor: &str) -> Result<(i64, i64)> {
    let text = crate::paging::decode_cursor(cursor)?;
    text.split_once(':')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.parse().ok()?)))
        .ok_or_else(|| {
            crate::error::Error::invalid(
                crate::error::Field::Cursor,
                "not a cursor returned by this listing",
            )
        })
}

fn entry(r: admin_audit::Model) -> AuditEntry {
    AuditEntry {
        detail: serde_json::from_str(&r.detail).unwrap_or_default(),
        id: r.id,
        at: r.at,
        actor: r.actor,
        action: r.action,
        target: r.target,
    }
}

/// Action names the audit log holds (the console offers them as suggestions).
pub const KNOWN_ACTIONS: &[&str] = &[
    "client.create",
    "client.update",
    "client.rotate_secret",
    "client.delete",
    "user.create",
    "user.update",
    "user.set_password",
    "user.logout_everywhere",
    "user.delete",
    "key.rotate",
    "key.revoke",
    "federation.add",
    "federation.remove",
];
