//! The admin API under `/admin/v1`: clients, users, keys and the audit log, over the same
//! domain functions as the CLI. Every operation takes a bearer token issued by this
//! Tessera (see [`crate::admin::auth`]); every change is written to the audit log.
//!
//! Errors are one JSON shape, [`Problem`], produced in one place ([`AdminError`]); the
//! [`json_errors`] middleware gives poem's own extractor failures (bad JSON, missing
//! token) the same shape, so every answer of `/admin/` matches the published schema.

mod body;
mod clients;
mod errors;
mod keys;
mod users;

use std::sync::Arc;

use poem::{Body, Endpoint, IntoResponse, Request, Response, error::ReadBodyError};
use poem_openapi::{SecurityScheme, auth::Bearer};

pub use clients::ClientsApi;
pub use errors::{AdminError, AdminResult, Problem};
pub use keys::{AuditApi, KeysApi};
pub use users::UsersApi;

use crate::{
    admin::{Area, Denied, Principal},
    http::AppState,
};

/// Largest JSON body the admin API reads.
pub const MAX_ADMIN_BODY: usize = 64 * 1024;

/// A bearer access token from this Tessera, for the audience `urn:tessera:admin`, with
/// scope `tessera:admin` or the area's own scope (`tessera:clients`, `tessera:users`,
/// `tessera:keys`). Get one with the client credentials of an admin client
/// (`tessera clients create --admin`) at `POST /oauth/token`.
#[derive(SecurityScheme)]
#[oai(rename = "adminToken", ty = "bearer", bearer_format = "JWT")]
pub struct AdminToken(pub Bearer);

/// What the admin handlers share: the server state, authorisation and auditing.
#[derive(Clone)]
pub struct AdminCtx {
    pub state: Arc<AppState>,
}

impl AdminCtx {
    /// The caller behind `token`, if it may use `area`.
    pub async fn authorize(&self, token: &AdminToken, area: Area) -> AdminResult<Principal> {
        let state = &self.state;
        match state
            .admin
            .authorize(&state.ctx, &token.0.token, area)
            .await?
        {
            Ok(p) => Ok(p),
            Err(Denied::Unauthenticated) => Err(AdminError::unauthorized()),
            Err(Denied::Forbidden) => Err(AdminError::forbidden(area.scope())),
        }
    }

    /// Records a change. The change has happened: a failure to record it is logged loudly
    /// but does not turn the answer into an error.
    pub async fn audit(
        &self,
        who: &Principal,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) {
        if let Err(e) = self
            .state
            .audit
            .record(&who.client_id, action, target, detail)
            .await
        {
            tracing::error!(error = %e, action, target, actor = %who.client_id, "audit record failed");
        }
    }
}

/// Middleware for `/admin/`: bounds the body, refuses duplicate JSON keys and control
/// characters in it (400 naming the field, see `body`), and turns errors poem raises before a handler
/// runs (malformed JSON, wrong content type, missing bearer token, unknown path) into
/// [`Problem`] JSON.
pub async fn json_errors<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    if !req.uri().path().starts_with("/admin/") {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let body = req.take_body();
    match body.into_bytes_limit(MAX_ADMIN_BODY).await {
        Ok(bytes) => {
            // Duplicate keys and control characters, which the typed parser would let
            // through (it keeps the last of two values), are refused here.
            if let Some(f) = body::check(&bytes) {
                return Ok(AdminError::bad_request(&f.field, f.message).into_response());
            }
            req.set_body(Body::from_bytes(bytes))
        }
        Err(ReadBodyError::PayloadTooLarge) => {
            return Ok(AdminError::too_large(MAX_ADMIN_BODY).into_response());
        }
        Err(_) => {
            return Ok(
                AdminError::bad_request("body", "the body could not be read").into_response(),
            );
        }
    }
    match next.call(req).await {
        Ok(resp) => {
            let resp = resp.into_response();
            if resp.status() == poem::http::StatusCode::NOT_FOUND && resp.content_type().is_none() {
                return Ok(AdminError::not_found("operation").into_response());
            }
            Ok(resp)
        }
        Err(e) if e.is_from_response() => Ok(e.into_response()),
        Err(e) => Ok(AdminError::from_poem(&e).into_response()),
    }
}
