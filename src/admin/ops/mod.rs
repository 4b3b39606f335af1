//! The admin operations, one code path for every front end: the admin API
//! (`http::admin`) and the console (`pages::console`) call these functions, which apply
//! the policy guard (`admin::policy`), make the change through the domain (`clients`,
//! `accounts`, `federation`) and record it in the audit log with the caller as actor.
//! Front ends only translate their input and render the outcome.

mod clients;
mod users;

pub use clients::ClientSearch;
pub use users::{CreatedUser, UserChanges};

use super::{AuditLog, Principal, Refusal};
use crate::{clients::Client, context::Context};

/// Who performs an admin operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An admin-API client, by the admin token it presented.
    Client(Principal),
    /// A person signed in to the console. The console admits only holders of the
    /// `console_admin_role`, so they act as a `tessera:admin` token does.
    ConsoleUser { username: String },
}

impl Actor {
    /// The actor as the audit log records it: the client id, or `user:<username>`.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::Client(p) => p.client_id.clone(),
            Actor::ConsoleUser { username } => format!("user:{username}"),
        }
    }

    /// `admin::policy` for registering a client with these scopes and audiences.
    pub fn may_register(&self, scopes: &[String], audiences: &[String]) -> Result<(), Refusal> {
        match self {
            Actor::Client(p) => p.may_register(scopes, audiences),
            Actor::ConsoleUser { .. } => Ok(()),
        }
    }

    /// `admin::policy` for changing `target` (a person is no client, so rule A3 — a client
    /// widening itself — cannot apply).
    pub fn may_change(
        &self,
        target: &Client,
        proposed: Option<(&[String], &[String])>,
    ) -> Result<(), Refusal> {
        match self {
            Actor::Client(p) => p.may_change(target, proposed),
            Actor::ConsoleUser { .. } => Ok(()),
        }
    }
}

/// The admin operations over one server's domain services and audit log.
pub struct AdminOps<'a> {
    pub ctx: &'a Context,
    pub audit: &'a AuditLog,
}

impl<'a> AdminOps<'a> {
    pub fn new(ctx: &'a Context, audit: &'a AuditLog) -> Self {
        Self { ctx, audit }
    }

    /// Records a change. The change has happened: a failure to record it is logged loudly
    /// but does not turn the answer into an error.
    async fn record(&self, actor: &Actor, action: &str, target: &str, detail: serde_json::Value) {
        let name = actor.audit_name();
        if let Err(e) = self.audit.record(&name, action, target, detail).await {
            tracing::error!(error = %e, action, target, actor = %name, "audit record failed");
        }
    }
}
