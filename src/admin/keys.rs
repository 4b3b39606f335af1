//! Key operations of the admin API and the console, audited: one code path for both (the
//! HTTP handlers and the console's pages only name the actor and translate the answer).
//! The CLI's `tessera keys` commands call the same key manager and record the same actions
//! (reporting a failed record on stderr instead of the log).

use serde_json::json;

use super::AuditLog;
use crate::{
    error::Result,
    keys::{Alg, KeyManager, manager::KeyInfo},
};

/// Publishes a new key per algorithm in `algs` (at once with `immediately`), recording
/// one `key.rotate` entry per new key with `actor`. Returns the new kids.
pub async fn rotate(
    keys: &KeyManager,
    audit: &AuditLog,
    actor: &str,
    algs: &[Alg],
    immediately: bool,
) -> Result<Vec<String>> {
    let published = keys.rotate(algs, immediately).await?;
    for kid in &published {
        record(audit, actor, "key.rotate", kid, json!({"now": immediately})).await;
    }
    Ok(published)
}

/// Revokes `kid` (a signing key is replaced at once), recording `key.revoke` with
/// `actor`. Returns the key as it is now; `NotFound` for an unknown kid.
pub async fn revoke(
    keys: &KeyManager,
    audit: &AuditLog,
    actor: &str,
    kid: &str,
) -> Result<KeyInfo> {
    keys.revoke(kid).await?;
    record(audit, actor, "key.revoke", kid, json!({})).await;
    keys.list()
        .await?
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| crate::error::Error::NotFound(format!("key {kid}")))
}

/// Records a change that has happened: a failure to record it is logged loudly but does
/// not turn the answer into an error.
pub async fn record(
    audit: &AuditLog,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) {
    if let Err(e) = audit.record(actor, action, target, detail).await {
        tracing::error!(error = %e, action, target, actor, "audit record failed");
    }
}
