//! `grant_type=authorization_code` (RFC 6749 §4.1.3) with PKCE (RFC 7636) for confidential
//! and public clients. The code is spent before anything else is checked, so a code
//! presented with a wrong verifier or by the wrong client is gone; a code presented twice
//! revokes the refresh family and the access token its first redemption issued.

use super::{GrantContext, Params, TokenResponse, client_credentials, user_tokens_with};
use crate::{
    authorize::{
        codes::{CodeRow, Redeemed},
        request::pkce_matches,
    },
    clients::{Client, GrantType},
    error::OAuthError,
};

const REFUSED: &str = "the authorization code is invalid, expired or already used";

pub async fn handle(
    ctx: &GrantContext,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let code = params
        .single("code")?
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let verifier = params
        .single("code_verifier")?
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is missing (PKCE)"))?;
    let redirect_uri = params.single("redirect_uri")?;
    let audience = client_credentials::audience(&client.audiences, &params.all("resource"))?;
    let row = match ctx.codes.redeem(code).await.map_err(OAuthError::from)? {
        Redeemed::Fresh(row) => row,
        Redeemed::Reused(row) => {
            tracing::warn!(client_id = %client.client_id, "authorization code reused: revoking what it issued");
            revoke_issued(ctx, &row).await?;
            return Err(OAuthError::InvalidGrant(REFUSED.into()));
        }
        Redeemed::Unknown | Redeemed::Expired => {
            return Err(OAuthError::InvalidGrant(REFUSED.into()));
        }
    };
    if row.client_id != client.client_id {
        tracing::warn!(client_id = %client.client_id, "authorization code of another client presented");
        return Err(OAuthError::InvalidGrant(REFUSED.into()));
    }
    // RFC 6749 §4.1.3: the redirect URI of the authorization request, identical.
    if redirect_uri != Some(row.redirect_uri.as_str()) {
        return Err(OAuthError::InvalidGrant(
            "redirect_uri does not match the authorization request".into(),
        ));
    }
    if !pkce_matches(verifier, &row.code_challenge) {
        return Err(OAuthError::InvalidGrant(
            "the code_verifier does not match the code_challenge".into(),
        ));
    }
    let user = match ctx
        .users
        .get(&row.user_id)
        .await
        .map_err(OAuthError::from)?
    {
        Some(u) if !u.disabled && u.not_before.is_none_or(|nb| row.auth_time >= nb) => u,
        _ => return Err(OAuthError::InvalidGrant(REFUSED.into())),
    };
    let (refresh_token, family) = if client.allows(GrantType::RefreshToken) {
        let (token, family) = ctx
            .sessions
            .start(&user.id, &client.client_id, &row.scope, row.auth_time)
            .await
            .map_err(OAuthError::from)?;
        ctx.codes
            .link_family(&row.session_id, &family.id, family.expires_at)
            .await
            .map_err(OAuthError::from)?;
        (Some(token), Some(family))
    } else {
        (None, None)
    };
    let (response, issued) = user_tokens_with(
        ctx,
        client,
        &user,
        &row.scope,
        &audience,
        row.auth_time,
        refresh_token,
        row.nonce.as_deref(),
    )?;
    let family_id = family.as_ref().map(|f| f.id.as_str());
    let still_fresh = ctx
        .codes
        .record_issued(&row.code_hash, family_id, &issued.jti, issued.expires_at)
        .await
        .map_err(OAuthError::from)?;
    if !still_fresh {
        // The code came back while we were issuing: what we just issued is revoked.
        let row = CodeRow {
            family_id: family_id.map(str::to_string),
            access_jti: Some(issued.jti),
            access_exp: Some(issued.expires_at),
            ..row
        };
        revoke_issued(ctx, &row).await?;
        return Err(OAuthError::InvalidGrant(REFUSED.into()));
    }
    Ok(response)
}

async fn revoke_issued(ctx: &GrantContext, row: &CodeRow) -> Result<(), OAuthError> {
    if let Some(f) = &row.family_id {
        ctx.sessions
            .revoke_family(f)
            .await
            .map_err(OAuthError::from)?;
    }
    if let (Some(jti), Some(exp)) = (&row.access_jti, row.access_exp) {
        ctx.revocations
            .revoke_jti(jti, exp)
            .await
            .map_err(OAuthError::from)?;
    }
    Ok(())
}
