//! `/admin/v1/federations` (trusted external issuers for workload identity federation) and
//! `/admin/v1/clients/{client_id}/federated-identities` (the identities a client is bound
//! to). Thin: the rules are `crate::federation`'s, shared with the CLI; every change audited.

use std::collections::BTreeMap;

use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde_json::json;

use super::{AdminCtx, AdminError, AdminResult, AdminToken};
use crate::{
    admin::Area,
    federation::{Binding, Federation, NewBinding, NewFederation},
    http::ApiTags,
};

/// A trusted external issuer.
#[derive(Debug, Object)]
#[oai(example)]
pub struct FederationBody {
    /// The name clients are bound by (`k8s-prod`).
    pub name: String,
    /// The exact `iss` of its tokens, or `spiffe://TRUST-DOMAIN` for a SPIFFE trust domain
    /// (JWT-SVIDs then match by their `sub`).
    pub issuer: String,
    /// Its JWKS or SPIFFE bundle endpoint; absent with no `jwks`: keys from the issuer's
    /// OIDC discovery document.
    #[oai(skip_serializing_if_is_none)]
    pub jwks_uri: Option<String>,
    /// Its keys as an inline JWK Set (public keys only).
    #[oai(skip_serializing_if_is_none)]
    pub jwks: Option<serde_json::Value>,
    /// The audience its tokens must contain; absent: Tessera's issuer identifier.
    #[oai(skip_serializing_if_is_none)]
    pub audience: Option<String>,
    /// Unix seconds (ignored on creation).
    #[oai(default)]
    pub created_at: i64,
}

impl poem_openapi::types::Example for FederationBody {
    fn example() -> Self {
        FederationBody {
            name: "github".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            jwks_uri: None,
            jwks: None,
            audience: None,
            created_at: 1_795_000_000,
        }
    }
}

impl From<Federation> for FederationBody {
    fn from(f: Federation) -> Self {
        FederationBody {
            name: f.name,
            issuer: f.issuer,
            jwks_uri: f.jwks_uri,
            jwks: f.jwks,
            audience: f.audience,
            created_at: f.created_at,
        }
    }
}

/// Every trusted issuer.
#[derive(Debug, Object)]
pub struct FederationList {
    /// By name.
    pub items: Vec<FederationBody>,
}

/// A federated identity a client is bound to.
#[derive(Debug, Object)]
#[oai(example)]
pub struct FederatedIdentityBody {
    /// Binding id (ignored on creation).
    #[oai(default)]
    pub id: String,
    /// The federation's name.
    pub federation: String,
    /// The exact `sub` of the external tokens (no wildcards), e.g.
    /// `system:serviceaccount:payments:billing`.
    pub subject: String,
    /// Claims the token must carry with exactly these values; dots address nested claims
    /// (`kubernetes.io.namespace`).
    #[oai(default)]
    pub conditions: BTreeMap<String, String>,
}

impl poem_openapi::types::Example for FederatedIdentityBody {
    fn example() -> Self {
        FederatedIdentityBody {
            id: "q8Hj2kLm9NpR".into(),
            federation: "k8s-prod".into(),
            subject: "system:serviceaccount:payments:billing".into(),
            conditions: BTreeMap::from([(
                "kubernetes.io.namespace".to_string(),
                "payments".to_string(),
            )]),
        }
    }
}

impl From<Binding> for FederatedIdentityBody {
    fn from(b: Binding) -> Self {
        FederatedIdentityBody {
            id: b.id,
            federation: b.federation,
            subject: b.subject,
            conditions: b.conditions,
        }
    }
}

/// The identities of one client.
#[derive(Debug, Object)]
pub struct FederatedIdentityList {
    /// Oldest first.
    pub items: Vec<FederatedIdentityBody>,
}

#[derive(ApiResponse)]
pub enum Removed {
    /// Removed, or did not exist.
    #[oai(status = 204)]
    NoContent,
}

pub struct FederationsApi(pub AdminCtx);

#[OpenApi(prefix_path = "/admin/v1", tag = "ApiTags::AdminClients")]
impl FederationsApi {
    /// List trusted external issuers
    ///
    /// The issuers (Kubernetes clusters, SPIFFE trust domains, GitHub Actions) whose tokens
    /// may authenticate clients bound to their identities.
    #[oai(
        path = "/federations",
        method = "get",
        operation_id = "listFederations"
    )]
    async fn list(&self, auth: AdminToken) -> AdminResult<Json<FederationList>> {
        self.0.authorize(&auth, Area::Clients).await?;
        let list = self.0.state.ctx.federations.list().await?;
        Ok(Json(FederationList {
            items: list.into_iter().map(Into::into).collect(),
        }))
    }

    /// Trust an external issuer
    ///
    /// Keys come from `jwks`, else `jwks_uri`, else the issuer's OIDC discovery document;
    /// URLs must be https to public addresses (see `remote_jwks_*` settings).
    #[oai(
        path = "/federations",
        method = "post",
        operation_id = "createFederation"
    )]
    async fn create(
        &self,
        auth: AdminToken,
        body: Json<FederationBody>,
    ) -> AdminResult<Json<FederationBody>> {
        let who = self.0.authorize(&auth, Area::Clients).await?;
        let b = body.0;
        let f = self
            .0
            .state
            .ctx
            .federations
            .add(NewFederation {
                name: b.name,
                issuer: b.issuer,
                jwks_uri: b.jwks_uri,
                jwks: b.jwks.map(|v| v.to_string()),
                audience: b.audience,
            })
            .await?;
        self.0
            .audit(
                &who,
                "federation.add",
                &f.name,
                json!({"issuer": f.issuer, "jwks_uri": f.jwks_uri,
                       "inline_jwks": f.jwks.is_some(), "audience": f.audience}),
            )
            .await;
        Ok(Json(f.into()))
    }

    /// Read a trusted issuer
    ///
    /// Its issuer, key source (inline keys are public keys only) and audience.
    #[oai(
        path = "/federations/:name",
        method = "get",
        operation_id = "getFederation"
    )]
    async fn get(
        &self,
        auth: AdminToken,
        /// The federation's name.
        name: Path<String>,
    ) -> AdminResult<Json<FederationBody>> {
        self.0.authorize(&auth, Area::Clients).await?;
        let f = self.0.state.ctx.federations.get(&name.0).await?;
        Ok(Json(
            f.ok_or_else(|| AdminError::not_found("federation"))?.into(),
        ))
    }

    /// Stop trusting an issuer
    ///
    /// Refused (409) while clients are bound to its identities.
    #[oai(
        path = "/federations/:name",
        method = "delete",
        operation_id = "deleteFederation"
    )]
    async fn delete(
        &self,
        auth: AdminToken,
        /// The federation's name.
        name: Path<String>,
    ) -> AdminResult<Removed> {
        let who = self.0.authorize(&auth, Area::Clients).await?;
        if self.0.state.ctx.federations.remove(&name.0).await? {
            self.0
                .audit(&who, "federation.remove", &name.0, json!({}))
                .await;
        }
        Ok(Removed::NoContent)
    }

    /// List a client's federated identities
    ///
    /// The federated identities (federation, exact subject, claim conditions) whose
    /// tokens authenticate this client.
    #[oai(
        path = "/clients/:client_id/federated-identities",
        method = "get",
        operation_id = "listFederatedIdentities"
    )]
    async fn identities(
        &self,
        auth: AdminToken,
        /// The client id.
        client_id: Path<String>,
    ) -> AdminResult<Json<FederatedIdentityList>> {
        self.0.authorize(&auth, Area::Clients).await?;
        let items = self
            .0
            .state
            .ctx
            .federations
            .bindings_of(&client_id.0)
            .await?;
        Ok(Json(FederatedIdentityList {
            items: items.into_iter().map(Into::into).collect(),
        }))
    }

    /// Bind a client to a federated identity
    ///
    /// The client (registered with `token_endpoint_auth_method` `federated`) then
    /// authenticates with that identity's tokens as `client_assertion`.
    #[oai(
        path = "/clients/:client_id/federated-identities",
        method = "post",
        operation_id = "addFederatedIdentity"
    )]
    async fn bind(
        &self,
        auth: AdminToken,
        /// The client id.
        client_id: Path<String>,
        body: Json<FederatedIdentityBody>,
    ) -> AdminResult<Json<FederatedIdentityBody>> {
        let who = self.0.authorize(&auth, Area::Clients).await?;
        let ctx = &self.0.state.ctx;
        let client = ctx
            .clients
            .fetch(&client_id.0)
            .await?
            .ok_or_else(|| AdminError::not_found("client"))?;
        who.may_change(&client, None).map_err(AdminError::refused)?;
        if client.token_endpoint_auth_method != crate::clients::AuthMethod::Federated {
            return Err(AdminError::bad_request(
                "federation",
                "only a client whose token_endpoint_auth_method is federated has federated identities",
            ));
        }
        let b = body.0;
        let bound = ctx
            .federations
            .bind(
                &client.client_id,
                NewBinding {
                    federation: b.federation,
                    subject: b.subject,
                    conditions: b.conditions,
                },
            )
            .await?;
        self.0
            .audit(
                &who,
                "client.federated_identity.add",
                &client.client_id,
                json!({"federation": bound.federation, "subject": bound.subject,
                       "conditions": bound.conditions}),
            )
            .await;
        Ok(Json(bound.into()))
    }
}
