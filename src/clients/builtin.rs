//! Clients Tessera registers for itself, under fixed client ids: `tessera-console`, the
//! public client the console and account pages sign in with (`pages::session`). Their
//! registration is code, not data: every start-up brings the stored row back to what the
//! code says (an operator's edit, or an issuer that changed, is undone), validated like
//! any registration.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

use super::{
    Client, ClientRegistry, NewClient, RegistrationLimits, Validated, bump_version, join_grants,
    validate,
};
use crate::{
    entities::client::{self, Entity as Clients},
    error::Result,
};

impl ClientRegistry {
    /// Registers `new` under `client_id`, or updates the stored registration when it
    /// differs. Idempotent; instances starting together are fine (the loser of an insert
    /// race re-reads and updates).
    pub async fn sync_builtin(
        &self,
        client_id: &str,
        new: NewClient,
        limits: RegistrationLimits,
    ) -> Result<Client> {
        let v = validate(new, limits)?;
        for _ in 0..2 {
            let stored = Clients::find_by_id(client_id.to_string())
                .one(&self.db)
                .await?;
            let now = self.clock.now();
            let mut row = columns(&v);
            match stored {
                Some(m) if same(&m, &v) => return Client::from_row(m),
                Some(_) => {
                    row.updated_at = Set(now);
                    let txn = self.db.begin().await?;
                    Clients::update_many()
                        .set(row)
                        .filter(client::Column::ClientId.eq(client_id))
                        .exec(&txn)
                        .await?;
                    bump_version(&txn).await?;
                    txn.commit().await?;
                    tracing::info!(client_id, "built-in client registration updated");
                }
                None => {
                    row.client_id = Set(client_id.to_string());
                    row.created_at = Set(now);
                    row.updated_at = Set(now);
                    let txn = self.db.begin().await?;
                    match row.insert(&txn).await {
                        Ok(_) => {
                            bump_version(&txn).await?;
                            txn.commit().await?;
                            tracing::info!(client_id, "built-in client registered");
                        }
                        // Another instance registered it first: read it again.
                        Err(e) if crate::error::is_unique_violation(&e) => {
                            txn.rollback().await?;
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            self.invalidate(client_id);
        }
        let m = Clients::find_by_id(client_id.to_string())
            .one(&self.db)
            .await?
            .ok_or_else(|| crate::error::Error::NotFound(format!("client {client_id}")))?;
        Client::from_row(m)
    }
}

/// The stored columns of a validated registration (no id, no timestamps).
fn columns(v: &Validated) -> client::ActiveModel {
    client::ActiveModel {
        name: Set(v.name.clone()),
        name_key: Set(super::name_key(&v.name)),
        secret_hash: Set(String::new()),
        redirect_uris: Set(v.redirect_uris.join(" ")),
        post_logout_redirect_uris: Set(v.post_logout_redirect_uris.join(" ")),
        token_endpoint_auth_method: Set(v.auth.as_str().into()),
        jwks: Set(v.jwks.clone()),
        jwks_uri: Set(v.jwks_uri.clone()),
        grant_types: Set(join_grants(&v.grant_types)),
        scopes: Set(v.scopes.join(" ")),
        audiences: Set(v.audiences.join(" ")),
        token_ttl: Set(v.token_ttl.map(|d| d.as_secs() as i64)),
        alg: Set(v.alg.map(|a| a.as_str().to_string())),
        dpop_bound_access_tokens: Set(v.dpop_bound_access_tokens),
        dpop_nonce_required: Set(v.dpop_nonce_required),
        exchange_audiences: Set(v.exchange_audiences.join(" ")),
        ..Default::default()
    }
}

/// Whether the stored row already says what `v` says.
fn same(m: &client::Model, v: &Validated) -> bool {
    m.name == v.name
        && m.secret_hash.is_empty()
        && m.redirect_uris == v.redirect_uris.join(" ")
        && m.post_logout_redirect_uris == v.post_logout_redirect_uris.join(" ")
        && m.token_endpoint_auth_method == v.auth.as_str()
        && m.jwks == v.jwks
        && m.jwks_uri == v.jwks_uri
        && m.grant_types == join_grants(&v.grant_types)
        && m.scopes == v.scopes.join(" ")
        && m.audiences == v.audiences.join(" ")
        && m.token_ttl == v.token_ttl.map(|d| d.as_secs() as i64)
        && m.alg == v.alg.map(|a| a.as_str().to_string())
        && m.dpop_bound_access_tokens == v.dpop_bound_access_tokens
        && m.dpop_nonce_required == v.dpop_nonce_required
        && m.exchange_audiences == v.exchange_audiences.join(" ")
}
