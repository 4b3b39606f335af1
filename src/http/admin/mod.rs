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
mod federations;
mod keys;
mod users;

use std::sync::Arc;

use poem::{Body, Endpoint, IntoResponse, Request, Response, error::ReadBodyError};
use poem_openapi::{SecurityScheme, auth::Bearer};

pub use clients::ClientsApi;
pub use errors::{AdminError, AdminResult, Problem};
pub use federations::FederationsApi;
pub use keys::{AuditApi, KeysApi};
pub use users::UsersApi;

use crate::{
    admin::{AdminOps, Area, Denied, Principal},
    http::AppState,
};

/// Largest JSON body the admin API reads.
pub const MAX_ADMIN_BODY: usize = 64 * 1024;

/// An access token from this Tessera (as `Bearer`, or as `DPoP` with a proof when it is
/// DPoP-bound, RFC 9449 §7: see `dpop_binding`), for the audience `urn:tessera:admin`, with
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

    /// The admin operations (`admin::ops`), shared with the console.
    pub fn ops(&self) -> AdminOps<'_> {
        AdminOps::new(&self.state.ctx, &self.state.audit)
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

/// Middleware for `/admin/`: DPoP (RFC 9449 §7). `Authorization: DPoP <token>` with a
/// proof for this method and URL, by the token's `cnf.jkt` key, carrying its `ath`, fresh,
/// never seen before (and with the server nonce when nonces are required) is accepted and
/// handed on as the bearer token the admin handlers read; a DPoP-bound token sent as
/// `Bearer` or without a proof is refused with a `DPoP` challenge (no downgrade, D4). The
/// token itself is then verified as always (`admin::auth`). Plain bearer requests cost
/// nothing here.
pub async fn dpop_binding<E: Endpoint>(
    state: &AppState,
    next: E,
    mut req: Request,
) -> poem::Result<Response> {
    let path = req.uri().path().to_string();
    if !path.starts_with("/admin/") {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(authorization) = authorization else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let (scheme, token) = authorization.trim().split_once(' ').unwrap_or(("", ""));
    let dpop_scheme = scheme.eq_ignore_ascii_case("dpop");
    let bound_as_bearer = scheme.eq_ignore_ascii_case("bearer") && claims_name_cnf(token);
    if !(dpop_scheme || bound_as_bearer) {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let proofs = super::oauth::dpop_proofs(&req);
    let resource = crate::token_status::ResourceRequest {
        authorization: Some(&authorization),
        dpop_proofs: &proofs,
        method: req.method().as_str(),
        path: &path,
    };
    let ctx = &state.ctx;
    use crate::token_status::BearerError as E;
    let refused = match crate::token_status::resource_token(ctx, &resource).await {
        Ok(_) => {
            // Bound and proven: the handlers read it as the bearer token it now is.
            let bearer = format!("Bearer {}", token.trim());
            if let Ok(v) = poem::http::HeaderValue::from_str(&bearer) {
                req.headers_mut().insert("authorization", v);
            }
            return next.call(req).await.map(IntoResponse::into_response);
        }
        // Not our token, or the database: the admin check answers as it always does.
        Err(E::Missing | E::InvalidToken | E::InsufficientScope | E::Unavailable) => {
            return next.call(req).await.map(IntoResponse::into_response);
        }
        Err(E::DpopRequired) => {
            AdminError::dpop_unauthorized("invalid_token", crate::dpop::BOUND_TOKEN_NEEDS_PROOF)
        }
        Err(E::InvalidDpopProof(why)) => AdminError::dpop_unauthorized("invalid_dpop_proof", &why),
        Err(E::UseDpopNonce) => {
            let mut resp =
                AdminError::dpop_unauthorized("use_dpop_nonce", crate::dpop::PROOF_NEEDS_NONCE)
                    .into_response();
            if let Ok(v) = poem::http::HeaderValue::from_str(&ctx.dpop.nonce()) {
                resp.headers_mut().insert("dpop-nonce", v);
            }
            return Ok(resp);
        }
    };
    Ok(refused.into_response())
}

/// Whether the (unverified) claims of a compact JWS have a `cnf` member: a DPoP-bound
/// token, which must not be accepted as a bearer token. It only routes the request to the
/// full check (which verifies the token); anything unreadable: no.
fn claims_name_cnf(token: &str) -> bool {
    tessera_verify::decode_unverified(token.trim())
        .is_ok_and(|(_, claims)| claims.get("cnf").is_some())
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
