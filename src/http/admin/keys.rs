//! `/admin/v1/keys` (list, rotate now, revoke) and `/admin/v1/audit` (the audit log).

use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::json;

use super::{AdminCtx, AdminError, AdminResult, AdminToken, clients::SigningAlg};
use crate::{
    admin::{Area, AuditEntry, audit::AuditFilter},
    http::ApiTags,
    keys::{Alg, KeyManager, manager::KeyInfo},
    paging,
};

/// A signing key and where it is in its lifecycle (never key material).
#[derive(Debug, Object)]
#[oai(example)]
pub struct KeyBody {
    /// Key id: the RFC 7638 JWK thumbprint.
    pub kid: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    /// Who holds the private key: `local` (sealed with the KEK in the database),
    /// `pkcs11` (inside an HSM token; see docs/hsm.md) or `aws-kms` (inside AWS KMS; see
    /// docs/kms.md).
    pub backend: String,
    /// `NEXT` (published, not yet signing), `ACTIVE` (signing), `RETIRED` (published for
    /// verification only), `EXPIRED` (unpublished) or `REVOKED`.
    pub state: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When it starts (or started) signing.
    pub activates_at: i64,
    /// When it stopped (or will stop) signing, if a successor exists.
    #[oai(skip_serializing_if_is_none)]
    pub retired_at: Option<i64>,
    /// When it leaves the JWKS.
    #[oai(skip_serializing_if_is_none)]
    pub unpublish_at: Option<i64>,
    /// When it was revoked.
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<i64>,
}

impl poem_openapi::types::Example for KeyBody {
    fn example() -> Self {
        KeyBody {
            kid: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs".into(),
            alg: "ES256".into(),
            backend: "local".into(),
            state: "ACTIVE".into(),
            created_at: 1_795_000_000,
            activates_at: 1_795_000_600,
            retired_at: None,
            unpublish_at: None,
            revoked_at: None,
        }
    }
}

impl From<KeyInfo> for KeyBody {
    fn from(k: KeyInfo) -> Self {
        KeyBody {
            kid: k.kid,
            alg: k.alg,
            backend: k.backend,
            state: k.state.to_string(),
            created_at: k.created_at,
            activates_at: k.activates_at,
            retired_at: k.retired_at,
            unpublish_at: k.unpublish_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// Every stored key.
#[derive(Debug, Object)]
pub struct KeyList {
    /// Keys of both algorithms, oldest first.
    pub items: Vec<KeyBody>,
}

/// What to rotate.
#[derive(Debug, Object)]
#[oai(example)]
pub struct RotateBody {
    /// The algorithm to rotate; absent = both.
    pub alg: Option<SigningAlg>,
    /// Sign with the new key at once (emergencies). Otherwise it signs after the
    /// pre-publication period, so verifiers have cached it first.
    #[oai(default)]
    pub now: bool,
}

impl poem_openapi::types::Example for RotateBody {
    fn example() -> Self {
        RotateBody {
            alg: Some(SigningAlg::ES256),
            now: false,
        }
    }
}

/// Keys created by a rotation; they are in the JWKS when this answer is sent.
#[derive(Debug, Object)]
pub struct Rotated {
    /// Key ids of the new keys.
    pub published: Vec<String>,
}

/// An audit entry.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AuditBody {
    /// Entry id; increases with every change.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Client id of the admin token that made the change.
    pub actor: String,
    /// `client.create`, `client.update`, `client.rotate_secret`, `client.delete`,
    /// `user.create`, `user.update`, `user.set_password`, `user.logout_everywhere`,
    /// `user.delete`, `key.rotate` or `key.revoke`.
    pub action: String,
    /// The client id, user id or key id acted on ("" when none).
    pub target: String,
    /// Non-secret parameters of the change.
    pub detail: serde_json::Value,
}

impl poem_openapi::types::Example for AuditBody {
    fn example() -> Self {
        AuditBody {
            id: 42,
            at: 1_795_000_000,
            actor: "Jq3vX0b1mY8k2fQeZ7tLhA".into(),
            action: "client.update".into(),
            target: "Zx81aQ0nR4tY7uI2oP5sDg".into(),
            detail: json!({"scopes": ["orders:read", "orders:write"]}),
        }
    }
}

impl From<AuditEntry> for AuditBody {
    fn from(e: AuditEntry) -> Self {
        AuditBody {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
        }
    }
}

/// A page of audit entries, newest first.
#[derive(Debug, Object)]
pub struct AuditPage {
    /// Up to `limit` entries, newest first.
    pub items: Vec<AuditBody>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

pub struct KeysApi(pub AdminCtx);

impl KeysApi {
    fn manager(&self) -> AdminResult<&KeyManager> {
        // Only the placeholder state used to print the OpenAPI document has no manager.
        self.0
            .state
            .keys
            .as_deref()
            .ok_or_else(|| AdminError::from(crate::error::Error::NoSigningKey("admin")))
    }
}

#[OpenApi(prefix_path = "/admin/v1", tag = "ApiTags::AdminKeys")]
impl KeysApi {
    /// List signing keys
    ///
    /// Every stored key with its state and dates (never key material).
    #[oai(path = "/keys", method = "get", operation_id = "listKeys")]
    async fn list(&self, auth: AdminToken) -> AdminResult<Json<KeyList>> {
        self.0.authorize(&auth, Area::Keys).await?;
        let keys = self.manager()?.list().await?;
        Ok(Json(KeyList {
            items: keys.into_iter().map(Into::into).collect(),
        }))
    }

    /// Rotate signing keys
    ///
    /// Publishes a new key per algorithm now. It is in the JWKS when this answers; it signs
    /// after the pre-publication period, or at once with `now: true`.
    #[oai(path = "/keys/rotate", method = "post", operation_id = "rotateKeys")]
    async fn rotate(&self, auth: AdminToken, body: Json<RotateBody>) -> AdminResult<Json<Rotated>> {
        let who = self.0.authorize(&auth, Area::Keys).await?;
        let manager = self.manager()?;
        let algs = match body.0.alg {
            Some(a) => vec![Alg::from(a)],
            None => Alg::ALL.to_vec(),
        };
        let published = crate::admin::keys::rotate(
            manager,
            &self.0.state.audit,
            &who.client_id,
            &algs,
            body.0.now,
        )
        .await?;
        Ok(Json(Rotated { published }))
    }

    /// Revoke a signing key
    ///
    /// Removes the key from the JWKS at once, so tokens it signed stop verifying once
    /// verifiers refresh; if it was signing, a new key signs from now on.
    #[oai(
        path = "/keys/:kid/revoke",
        method = "post",
        operation_id = "revokeKey"
    )]
    async fn revoke(
        &self,
        auth: AdminToken,
        /// The key id.
        kid: Path<String>,
    ) -> AdminResult<Json<KeyBody>> {
        let who = self.0.authorize(&auth, Area::Keys).await?;
        let manager = self.manager()?;
        let info = crate::admin::keys::revoke(manager, &self.0.state.audit, &who.client_id, &kid.0)
            .await?;
        Ok(Json(info.into()))
    }
}

pub struct AuditApi(pub AdminCtx);

#[OpenApi(prefix_path = "/admin/v1", tag = "ApiTags::AdminAudit")]
impl AuditApi {
    /// Read the audit log
    ///
    /// Every change made through the admin API, the console or the CLI, newest first,
    /// optionally only those of one actor, of one action, or in a time range (all given
    /// filters apply; each combination is one index range, fast at any size). Needs
    /// `tessera:admin`.
    #[oai(path = "/audit", method = "get", operation_id = "listAudit")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: AdminToken,
        /// `next_cursor` of the previous page (with the same filters).
        cursor: Query<Option<String>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
        /// Only entries of this actor, exactly: a client id, `user:<username>` (the
        /// console) or `cli:<os user>`.
        #[oai(validator(max_length = 256))]
        actor: Query<Option<String>>,
        /// Only entries of this action, exactly, e.g. `client.update` or `key.rotate`.
        #[oai(validator(max_length = 64))]
        action: Query<Option<String>>,
        /// Only entries at or after this time (Unix seconds).
        since: Query<Option<i64>>,
        /// Only entries before this time (Unix seconds).
        until: Query<Option<i64>>,
    ) -> AdminResult<Json<AuditPage>> {
        self.0.authorize(&auth, Area::Audit).await?;
        let limit = paging::limit(limit.0)?;
        let filter = AuditFilter {
            actor: actor.0.filter(|a| !a.is_empty()),
            action: action.0.filter(|a| !a.is_empty()),
            from: since.0,
            to: until.0,
        };
        let page = self
            .0
            .state
            .audit
            .search(&filter, cursor.0.as_deref(), limit)
            .await?;
        Ok(Json(AuditPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }
}
