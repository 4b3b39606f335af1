//! Is this token active, and what does it say? RFC 7662 introspection, OIDC UserInfo, and
//! the one "active access token" rule they share: a valid signature by a published key,
//! not expired, not denylisted, its subject not logged out since, its user or client still
//! there. Domain functions only; `http::oauth` calls them.

use serde::Serialize;

use crate::{
    accounts::User,
    clients::Client,
    context::Context,
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
    Ok(Introspection {
        active: true,
        scope: c.scope,
        client_id: Some(c.client_id),
        username: user.map(|u| u.username),
        token_type: Some("Bearer".into()),
        exp: Some(c.exp),
        iat: Some(c.iat),
        nbf: c.nbf,
        sub: Some(c.sub),
        aud: Some(c.aud),
        iss: Some(c.iss),
        jti: Some(c.jti),
        roles: c.roles,
    })
}

/// RFC 6750 errors of the UserInfo endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// No token: 401 without an error code.
    Missing,
    /// 401 `invalid_token`.
    InvalidToken,
    /// 403 `insufficient_scope`.
    InsufficientScope,
    /// 503.
    Unavailable,
}

/// OIDC UserInfo: claims about the user behind an active access token with `openid`.
pub async fn userinfo(
    ctx: &Context,
    authorization: Option<&str>,
) -> Result<serde_json::Value, BearerError> {
    let token = match authorization.map(str::trim) {
        None | Some("") => return Err(BearerError::Missing),
        Some(h) => match h.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
                t.trim()
            }
            _ => return Err(BearerError::InvalidToken),
        },
    };
    let active = active_access_token(ctx, token).await.map_err(|e| {
        tracing::warn!(error = %e, "userinfo failed");
        BearerError::Unavailable
    })?;
    let Some((claims, user)) = active else {
        return Err(BearerError::InvalidToken);
    };
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
