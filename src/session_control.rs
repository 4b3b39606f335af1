//! The endpoints that answer "stateless tokens can't be revoked": RFC 7009 revocation,
//! RFC 7662 introspection, logout (one session or everywhere), the revocation feed and
//! OIDC UserInfo — plus the account changes that must cut sessions (disable, delete,
//! role change). Domain functions only; `http::oauth` calls them.

use serde::Serialize;

use crate::{
    clients::Client,
    error::{OAuthError, Result},
    grants::GrantContext,
    revocation::Feed,
    tokens::verify::{VerifiedAccess, verify_access},
    users::User,
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
    ctx: &GrantContext,
    token: &str,
) -> Result<Option<(VerifiedAccess, Option<User>)>> {
    let now = ctx.clock.now();
    let leeway = ctx.settings.clock_leeway.as_secs() as i64;
    let claims = match verify_access(
        &ctx.keyring.snapshot(),
        ctx.issuer.issuer(),
        token,
        now,
        leeway,
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
    match ctx.users.get(&claims.sub).await? {
        Some(u) if !u.disabled && u.not_before.is_none_or(|nb| claims.iat >= nb) => {
            Ok(Some((claims, Some(u))))
        }
        _ => Ok(None),
    }
}

/// RFC 7662: what the token is, if it is active. Refresh tokens are only described to the
/// client they were issued to.
pub async fn introspect(
    ctx: &GrantContext,
    client: &Client,
    token: &str,
) -> Result<Introspection, OAuthError> {
    if token.is_empty() {
        return Ok(Introspection::inactive());
    }
    if let Some(found) = ctx.sessions.find(token).await.map_err(OAuthError::from)? {
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
        let Some(user) = found.user.filter(|u| !u.disabled) else {
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
    let Some((c, user)) = active_access_token(ctx, token)
        .await
        .map_err(OAuthError::from)?
    else {
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

/// RFC 7009: a refresh token revokes its family; an access token's `jti` is denylisted
/// until its expiry. Tokens of other clients and unknown tokens are ignored (still 200).
pub async fn revoke(ctx: &GrantContext, client: &Client, token: &str) -> Result<(), OAuthError> {
    if let Some(found) = ctx.sessions.find(token).await.map_err(OAuthError::from)? {
        let family = found.family;
        if family.client_id == client.client_id {
            ctx.sessions
                .revoke_family(&family.id)
                .await
                .map_err(OAuthError::from)?;
            tracing::info!(client_id = %client.client_id, "refresh token family revoked");
        }
        return Ok(());
    }
    let now = ctx.clock.now();
    let leeway = ctx.settings.clock_leeway.as_secs() as i64;
    if let Ok(c) = verify_access(
        &ctx.keyring.snapshot(),
        ctx.issuer.issuer(),
        token,
        now,
        leeway,
    ) && c.client_id == client.client_id
    {
        ctx.revocations
            .revoke_jti(&c.jti, c.exp + leeway)
            .await
            .map_err(OAuthError::from)?;
        tracing::info!(client_id = %client.client_id, "access token revoked");
    }
    Ok(())
}

/// Logout: revokes the session of `refresh_token`; with `everywhere`, every session of the
/// user and every access token issued to them until now.
pub async fn logout(
    ctx: &GrantContext,
    client: &Client,
    refresh_token: &str,
    everywhere: bool,
) -> Result<(), OAuthError> {
    let Some(family) = ctx
        .sessions
        .find(refresh_token)
        .await
        .map_err(OAuthError::from)?
        .map(|found| found.family)
    else {
        return Ok(());
    };
    if family.client_id != client.client_id {
        return Ok(());
    }
    ctx.sessions
        .revoke_family(&family.id)
        .await
        .map_err(OAuthError::from)?;
    if everywhere {
        logout_everywhere(ctx, &family.user_id)
            .await
            .map_err(OAuthError::from)?;
    }
    Ok(())
}

/// Revokes all of a user's sessions and access tokens issued until now.
pub async fn logout_everywhere(ctx: &GrantContext, user_id: &str) -> Result<()> {
    // Access tokens carry whole seconds: "issued before now+1" covers one issued this second.
    let t = ctx.clock.now() + 1;
    ctx.sessions.revoke_user(user_id).await?;
    ctx.users.set_not_before(user_id, t).await?;
    ctx.revocations.subject_not_before(user_id, t).await?;
    tracing::info!(user_id, "user logged out everywhere");
    Ok(())
}

/// Replaces a user's roles; tokens with the old roles stop being active.
pub async fn change_roles(ctx: &GrantContext, user_id: &str, roles: &[String]) -> Result<User> {
    ctx.users.set_roles(user_id, roles).await?;
    // Whole seconds: "issued before now+1" also covers a token issued this second.
    let t = ctx.clock.now() + 1;
    ctx.revocations.subject_not_before(user_id, t).await?;
    ctx.users.set_not_before(user_id, t).await
}

/// Disables (or re-enables) a user; disabling ends their sessions.
pub async fn set_disabled(ctx: &GrantContext, user_id: &str, disabled: bool) -> Result<User> {
    let user = ctx.users.set_disabled(user_id, disabled).await?;
    if disabled {
        logout_everywhere(ctx, user_id).await?;
    }
    Ok(user)
}

/// Deletes a user after ending their sessions.
pub async fn delete_user(ctx: &GrantContext, user_id: &str) -> Result<bool> {
    if ctx.users.get(user_id).await?.is_none() {
        return Ok(false);
    }
    logout_everywhere(ctx, user_id).await?;
    ctx.users.delete(user_id).await
}

/// The revocation feed after `since` (a cursor from an earlier page).
pub async fn feed(ctx: &GrantContext, since: Option<&str>) -> Result<Feed, OAuthError> {
    let since = match since {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| OAuthError::invalid_request("since must be a cursor from the feed"))?,
        ),
    };
    ctx.revocations.feed(since).await.map_err(OAuthError::from)
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
    ctx: &GrantContext,
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
    if !claims
        .scope
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .any(|s| s == "openid")
    {
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
