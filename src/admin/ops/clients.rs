//! Client operations: register, update, rotate the secret of, delete, search.

use serde_json::json;

use super::{Actor, AdminOps};
use crate::{
    admin::{Refusal, audit},
    clients::{
        AuthMethod, Client, ClientUpdate, ClientWithSecret, Guarded, NewClient, RegistrationLimits,
    },
    error::{Error, Field, Result},
    paging::Page,
};

/// A console search of clients: the client whose id is the term, if any, and a page of
/// those whose name starts with it.
#[derive(Debug, Clone)]
pub struct ClientSearch {
    pub by_id: Option<Client>,
    pub by_name: Page<Client>,
}

impl AdminOps<'_> {
    fn limits(&self) -> RegistrationLimits {
        RegistrationLimits {
            max_token_ttl: self.ctx.settings.max_access_token_ttl,
        }
    }

    /// A `jwks_uri` the server may fetch (the SSRF guards of `remote_jwks`, checked again
    /// at every connection), refused at registration rather than at the first login.
    fn check_jwks_uri(&self, uri: Option<&str>) -> Result<()> {
        if let Some(uri) = uri {
            self.ctx
                .fetcher
                .check_url(uri)
                .map_err(|e| Error::invalid(Field::JwksUri, e.to_string()))?;
        }
        Ok(())
    }

    /// Registers a client (`client.create`); the secret, if it has one, is in the answer
    /// only.
    pub async fn create_client(
        &self,
        actor: &Actor,
        new: NewClient,
    ) -> Result<Guarded<ClientWithSecret, Refusal>> {
        self.check_jwks_uri(new.jwks_uri.as_deref())?;
        let created = self
            .ctx
            .clients
            .create_guarded(new, self.limits(), |scopes, audiences| {
                actor.may_register(scopes, audiences)
            })
            .await?;
        if let Ok(c) = &created {
            let c = &c.client;
            self.record(
                actor,
                "client.create",
                &c.client_id,
                audit::client_detail(c),
            )
            .await;
        }
        Ok(created)
    }

    /// Changes a client (`client.update`), validated as at registration. A switch of
    /// authentication method replaces its credentials (the new secret, if any, is in the
    /// answer only), revokes its refresh tokens and, when it leaves `federated`, removes
    /// its federated-identity bindings (they could no longer authenticate it, and would
    /// silently do so again if it came back).
    pub async fn update_client(
        &self,
        actor: &Actor,
        client_id: &str,
        changes: ClientUpdate,
    ) -> Result<Guarded<ClientWithSecret, Refusal>> {
        self.check_jwks_uri(changes.jwks_uri.as_deref())?;
        let mut detail = update_detail(&changes);
        let mut before = None;
        let updated = self
            .ctx
            .clients
            .update_guarded(client_id, changes, self.limits(), |current, proposed| {
                before = Some(current.token_endpoint_auth_method);
                actor.may_change(current, Some(proposed))
            })
            .await?;
        if let Ok(c) = &updated {
            let after = c.client.token_endpoint_auth_method;
            if let Some(before) = before.filter(|b| *b != after) {
                detail["token_endpoint_auth_method"] =
                    json!({"from": before.as_str(), "to": after.as_str()});
                if before == AuthMethod::Federated {
                    self.ctx.federations.unbind_all(client_id).await?;
                }
            }
            self.record(actor, "client.update", &c.client.client_id, detail)
                .await;
        }
        Ok(updated)
    }

    /// Replaces a client's secret (`client.rotate_secret`); the new one is in the answer
    /// only.
    pub async fn rotate_client_secret(
        &self,
        actor: &Actor,
        client_id: &str,
    ) -> Result<Guarded<ClientWithSecret, Refusal>> {
        let rotated = self
            .ctx
            .clients
            .rotate_secret_guarded(client_id, |current| actor.may_change(current, None))
            .await?;
        if rotated.is_ok() {
            self.record(actor, "client.rotate_secret", client_id, json!({}))
                .await;
        }
        Ok(rotated)
    }

    /// Deletes a client and its federated-identity bindings (`client.delete`); `false`
    /// when there was no such client.
    pub async fn delete_client(
        &self,
        actor: &Actor,
        client_id: &str,
    ) -> Result<Guarded<bool, Refusal>> {
        let deleted = self
            .ctx
            .clients
            .delete_guarded(client_id, |current| actor.may_change(current, None))
            .await?;
        if let Ok(true) = deleted {
            self.ctx.federations.unbind_all(client_id).await?;
            self.record(actor, "client.delete", client_id, json!({}))
                .await;
        }
        Ok(deleted)
    }

    /// The console's client search: an exact client id (first page only), and a page of
    /// the clients whose name starts with `term` (case-insensitive). Both are index
    /// look-ups (the primary key, `idx_clients_name_key`).
    pub async fn search_clients(
        &self,
        term: &str,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<ClientSearch> {
        let term = term.trim();
        let by_id = match cursor {
            None if !term.is_empty() => self.ctx.clients.fetch(term).await?,
            _ => None,
        };
        let mut by_name = self.ctx.clients.search(term, cursor, limit).await?;
        if let Some(c) = &by_id {
            by_name.items.retain(|x| x.client_id != c.client_id);
        }
        Ok(ClientSearch { by_id, by_name })
    }
}

/// What `client.update` records: the fields asked to change (never keys or secrets;
/// inline keys only as "changed"; a switch of authentication method as `from`/`to`, added
/// once it is done).
fn update_detail(c: &ClientUpdate) -> serde_json::Value {
    json!({
        "name": c.name, "grant_types": c.grant_types, "scopes": c.scopes,
        "audiences": c.audiences,
        "token_ttl": c.token_ttl.map(|t| t.map(|d| d.as_secs())),
        "redirect_uris": c.redirect_uris, "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "alg": c.alg.map(|a| a.map(|a| a.as_str())),
        "dpop_bound_access_tokens": c.dpop_bound_access_tokens,
        "dpop_nonce_required": c.dpop_nonce_required,
        "exchange_audiences": c.exchange_audiences,
        "jwks_uri": c.jwks_uri, "jwks_changed": c.jwks.is_some(),
        "token_endpoint_auth_method": c.token_endpoint_auth_method.map(|m| m.as_str()),
    })
}
