//! Is this token active, and what does it say? RFC 7662 introspection, OIDC UserInfo, and
//! the one "active access token" rule they share: a valid signature by a published key,
//! not expired, not denylisted, its subject not logged out since, its user or client still
//! there. Domain functions only; `http::oauth` calls them.

use serde::Serialize;

use crate::{
    accounts::User,
    clients::Client,
    context::Context,
    dpop::{ProofRefused, single_proof},
    error::{OAuthError, Result},
    scope,
    tokens::verify::{VerifiedAccess, verify_access},
};

/// RFC 7662 §2.2 introspection response. Inactive tokens are `{"active": false}` only.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// RFC 9449 §6.2: the confirmation of a DPoP-bound token, `{"jkt": ...}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<serde_json::Value>,
    /// RFC 8693 §4.1: the actor chain of an exchanged token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
}

impl Introspection {
    fn inactive() -> Self {
        Self::default()
    }
}

/// An access token that is valid now: signature, type, issuer, time, not denylisted, its
/// subject not logged out since, its user or client still existing and enabled.
pub async fn active_access_token(
    ctx: &Context,
    token: &str,
) -> Result<Option<(VerifiedAccess, Option<User>)>> {
    let claims = match verify_access(
        &ctx.keyring.snapshot(),
        ctx.issuer.issuer(),
        token,
        ctx.clock.now(),
        ctx.leeway(),
    ) {
        Ok(c) => c,
        Err(why) => {
            tracing::debug!(?why, "token is not a valid access token");
            return Ok(None);
        }
    };
    if ctx.revocations.is_jti_revoked(&claims.jti).await? {
        return Ok(None);
    }
    if claims.sub == claims.client_id {
        // A client's own token: the client must still exist.
        return Ok(ctx
            .clients
            .get(&claims.client_id)
            .await?
            .map(|_| (claims, None)));
    }
    match ctx.accounts.users().get(&claims.sub).await? {
        Some(u) if !u.disabled && u.not_before.is_none_or(|nb| claims.iat >= nb) => {
            Ok(Some((claims, Some(u))))
        }
        // A service's own token exchanged (RFC 8693): its subject is a client, its
        // `client_id` the exchanging one. The subject client must still exist.
        None if claims.act.is_some() => {
            Ok(ctx.clients.get(&claims.sub).await?.map(|_| (claims, None)))
        }
        _ => Ok(None),
    }
}

/// RFC 7662: what the token is, if it is active. Refresh tokens are only described to the
/// client they were issued to.
pub async fn introspect(
    ctx: &Context,
    client: &Client,
    token: &str,
) -> Result<Introspection, OAuthError> {
    if token.is_empty() {
        return Ok(Introspection::inactive());
    }
    if let Some(found) = ctx.refresh_families.find(token).await? {
        let (t, family) = (found.token, found.family);
        let now = ctx.clock.now();
        let active = family.client_id == client.client_id
            && family.revoked_at.is_none()
            && t.used_at.is_none()
            && t.expires_at > now
            && family.expires_at > now;
        if !active {
            return Ok(Introspection::inactive());
        }
        let Some(user) = found.user.map(User::from).filter(|u| !u.disabled) else {
            return Ok(Introspection::inactive());
        };
        return Ok(Introspection {
            active: true,
            scope: Some(family.scope),
            client_id: Some(family.client_id),
            username: Some(user.username),
            token_type: Some("refresh_token".into()),
            exp: Some(t.expires_at),
            iat: Some(t.created_at),
            sub: Some(user.id),
            iss: Some(ctx.issuer.issuer().into()),
            ..Default::default()
        });
    }
    let Some((c, user)) = active_access_token(ctx, token).await? else {
        return Ok(Introspection::inactive());
    };
    let cnf = c.jkt().map(|jkt| serde_json::json!({ "jkt": jkt }));
    // RFC 9449 §6.2: `DPoP` for a bound token.
    let token_type = crate::tokens::token_type(c.jkt()).to_string();
    Ok(Introspection {
        active: true,
        cnf,
        scope: c.scope,
        client_id: Some(c.client_id),
        username: user.map(|u| u.username),
        token_type: Some(token_type),
        exp: Some(c.exp),
        iat: Some(c.iat),
        nbf: c.nbf,
        sub: Some(c.sub),
        aud: Some(c.aud),
        iss: Some(c.iss),
        jti: Some(c.jti),
        roles: c.roles,
        act: c.act,
    })
}

/// RFC 6750 and RFC 9449 §7.1 errors of the UserInfo endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    /// No token: 401 without an error code.
    Missing,
    /// 401 `invalid_token`.
    InvalidToken,
    /// 401 `invalid_token` with a `DPoP` challenge: a DPoP-bound token sent as `Bearer`, or
    /// without a proof (no downgrade, D4), or a bearer token sent with the DPoP scheme.
    DpopRequired,
    /// 401 `invalid_dpop_proof` (D1, D2, D3, D5): the proof is invalid, of another request,
    /// of another key than the token's, without the token's `ath`, or replayed.
    InvalidDpopProof(String),
    /// 401 `use_dpop_nonce` with a fresh `DPoP-Nonce` (D6).
    UseDpopNonce,
    /// 403 `insufficient_scope`.
    InsufficientScope,
    /// 503.
    Unavailable,
}

impl From<ProofRefused> for BearerError {
    fn from(r: ProofRefused) -> Self {
        match r {
            ProofRefused::Invalid(m) => BearerError::InvalidDpopProof(m),
            ProofRefused::UseNonce => BearerError::UseDpopNonce,
            ProofRefused::Unavailable(_) => BearerError::Unavailable,
        }
    }
}

/// A request to a protected resource of ours: its `Authorization` header, its `DPoP`
/// headers, and the method and path it was made with (the proof's `htm` and `htu`).
#[derive(Debug, Clone, Copy)]
pub struct ResourceRequest<'a> {
    pub authorization: Option<&'a str>,
    pub dpop_proofs: &'a [&'a str],
    pub method: &'a str,
    /// Path of the endpoint; its external URL is the issuer followed by it.
    pub path: &'a str,
}

/// The active access token of a resource request (RFC 6750 `Bearer` or RFC 9449 `DPoP`
/// scheme). A DPoP-bound token is accepted only with the `DPoP` scheme and a proof, for
/// this request, by the token's key, with the token's `ath`, fresh, with the server nonce
/// when nonces are required, never seen before.
pub async fn resource_token(
    ctx: &Context,
    req: &ResourceRequest<'_>,
) -> Result<(VerifiedAccess, Option<User>), BearerError> {
    let (dpop_scheme, token) = match req.authorization.map(str::trim) {
        None | Some("") => return Err(BearerError::Missing),
        Some(h) => match h.split_once(' ') {
            Some((scheme, t)) if !t.trim().is_empty() => {
                if scheme.eq_ignore_ascii_case("bearer") {
                    (false, t.trim())
                } else if scheme.eq_ignore_ascii_case("dpop") {
                    (true, t.trim())
                } else {
                    return Err(BearerError::InvalidToken);
                }
            }
            _ => return Err(BearerError::InvalidToken),
        },
    };
    let proof = single_proof(req.dpop_proofs)?;
    let active = active_access_token(ctx, token).await.map_err(|e| {
        tracing::warn!(error = %e, "resource token check failed");
        BearerError::Unavailable
    })?;
    let Some((claims, user)) = active else {
        return Err(BearerError::InvalidToken);
    };
    match (claims.jkt(), dpop_scheme) {
        // A bearer token is used as one (a stray DPoP header is ignored, RFC 9449 §7.2).
        (None, false) => return Ok((claims, user)),
        (Some(_), false) | (None, true) => return Err(BearerError::DpopRequired),
        (Some(_), true) => {}
    }
    let Some(proof) = proof else {
        return Err(BearerError::DpopRequired);
    };
    let url = ctx.dpop.endpoint_url(req.path);
    let verified = ctx
        .dpop
        .accept_proof(
            proof,
            req.method,
            &url,
            Some(token),
            ctx.dpop.nonce_always(),
        )
        .await?;
    if Some(verified.jkt.as_str()) != claims.jkt() {
        tracing::info!("DPoP proof signed by another key than the token's");
        return Err(BearerError::InvalidDpopProof(
            "the DPoP proof key is not the key the access token is bound to".into(),
        ));
    }
    Ok((claims, user))
}

/// OIDC UserInfo: claims about the user behind an active access token with `openid`.
pub async fn userinfo(
    ctx: &Context,
    req: &ResourceRequest<'_>,
) -> Result<serde_json::Value, BearerError> {
    let (claims, user) = resource_token(ctx, req).await?;
    let Some(user) = user else {
        return Err(BearerError::InsufficientScope);
    };
    if !scope::contains(claims.scope.as_deref().unwrap_or(""), "openid") {
        return Err(BearerError::InsufficientScope);
    }
    let mut out = serde_json::Map::new();
    out.insert("sub".into(), user.id.into());
    out.insert("preferred_username".into(), user.username.into());
    out.insert("roles".into(), user.roles.into());
    for (k, v) in user.claims {
        out.entry(k).or_insert(v);
    }
    Ok(serde_json::Value::Object(out))
}
