//! `grant_type=refresh_token` (RFC 6749 §6) with rotation: every use spends the token and
//! returns a new one; a spent token coming back revokes its family (RFC 9700 §4.14.2).
//! The user is read with the token, so role changes show in the next access token and a
//! disabled or deleted user cannot refresh.

use super::{Target, TokenResponse, UserGrant, user_tokens};
use crate::{
    accounts::User, clients::Client, context::Context, error::OAuthError,
    refresh_families::granted_audience, scope,
};

const REFUSED: &str = "the refresh token is invalid, expired or revoked";

/// `dpop_jkt`: the key of the request's DPoP proof, if any. A family bound to a key (a
/// public client's, RFC 9449 §5) refreshes only with a proof of that key (D7); the new
/// access token is bound to the proof's key either way.
pub async fn handle(
    ctx: &Context,
    client: &Client,
    refresh_token: &str,
    target: &Target,
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let families = &ctx.refresh_families;
    // Check the requested scope before spending the token, so a bad request costs nothing.
    let Some(mut found) = families.find(refresh_token).await? else {
        return Err(OAuthError::InvalidGrant(REFUSED.into()));
    };
    let family = &found.family;
    if family.client_id != client.client_id {
        tracing::warn!(client_id = %client.client_id, "refresh token of another client presented");
        return Err(OAuthError::InvalidGrant(REFUSED.into()));
    }
    // Checked before the token is spent: a thief without the key changes nothing.
    if let Some(bound) = family.dpop_jkt.as_deref()
        && dpop_jkt != Some(bound)
    {
        tracing::warn!(client_id = %client.client_id, "refresh token presented without its DPoP key");
        return Err(OAuthError::InvalidGrant(
            "the refresh token is bound to another DPoP key".into(),
        ));
    }
    let granted: Vec<String> = family
        .scope
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let scope = scope::granted_scope(&granted, target.scope.as_deref()).map_err(|_| {
        OAuthError::invalid_scope("the requested scope exceeds the scope originally granted")
    })?;
    // The audience stays what the login was granted: a refresh may narrow it with
    // `resource`, never reach another of the client's audiences (R10).
    let allowed = granted_audience(family, &client.audiences)?;
    let audience = scope::audience(&allowed, &target.resources)?;
    // The user comes with the token (same query): a disabled or deleted user cannot
    // refresh, and role changes show in the next access token.
    let user = match found.user.take().map(User::from) {
        Some(u) if !u.disabled => u,
        _ => {
            families.revoke_family(&found.family.id).await?;
            return Err(OAuthError::InvalidGrant(REFUSED.into()));
        }
    };
    let (next, family) = match families.rotate(found, &client.client_id).await? {
        Ok(v) => v,
        Err(reason) => {
            tracing::warn!(client_id = %client.client_id, ?reason, "refresh token refused");
            return Err(OAuthError::InvalidGrant(REFUSED.into()));
        }
    };
    let grant = UserGrant {
        user: &user,
        scope: &scope,
        audience: &audience,
        auth_time: family.auth_time,
        refresh_token: Some(next),
        nonce: None,
        dpop_jkt,
    };
    Ok(user_tokens(ctx, client, grant)?.0)
}
