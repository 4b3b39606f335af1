//! `grant_type=refresh_token` (RFC 6749 §6) with rotation: every use spends the token and
//! returns a new one; a spent token coming back revokes its family (RFC 9700 §4.14.2).
//! The user is read with the token, so role changes show in the next access token and a
//! disabled or deleted user cannot refresh.

use super::{GrantContext, Params, TokenResponse, client_credentials, user_tokens};
use crate::{clients::Client, error::OAuthError};

const REFUSED: &str = "the refresh token is invalid, expired or revoked";

pub async fn handle(
    ctx: &GrantContext,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let token = params
        .single("refresh_token")?
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    // Check the requested scope before spending the token, so a bad request costs nothing.
    let Some(mut found) = ctx.sessions.find(token).await.map_err(OAuthError::from)? else {
        return Err(OAuthError::InvalidGrant(REFUSED.into()));
    };
    let family = &found.family;
    if family.client_id != client.client_id {
        tracing::warn!(client_id = %client.client_id, "refresh token of another client presented");
        return Err(OAuthError::InvalidGrant(REFUSED.into()));
    }
    let granted: Vec<String> = family
        .scope
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let scope =
        client_credentials::granted_scope(&granted, params.single("scope")?).map_err(|_| {
            OAuthError::invalid_scope("the requested scope exceeds the scope originally granted")
        })?;
    let audience = client_credentials::audience(&client.audiences, &params.all("resource"))?;
    // The user comes with the token (same query): a disabled or deleted user cannot
    // refresh, and role changes show in the next access token.
    let user = match found.user.take() {
        Some(u) if !u.disabled => u,
        _ => {
            ctx.sessions
                .revoke_family(&found.family.id)
                .await
                .map_err(OAuthError::from)?;
            return Err(OAuthError::InvalidGrant(REFUSED.into()));
        }
    };
    let (next, family) = match ctx
        .sessions
        .rotate(found, &client.client_id)
        .await
        .map_err(OAuthError::from)?
    {
        Ok(v) => v,
        Err(reason) => {
            tracing::warn!(client_id = %client.client_id, ?reason, "refresh token refused");
            return Err(OAuthError::InvalidGrant(REFUSED.into()));
        }
    };
    user_tokens(
        ctx,
        client,
        &user,
        &scope,
        &audience,
        family.auth_time,
        Some(next),
    )
}
