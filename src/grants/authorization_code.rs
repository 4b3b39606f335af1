//! `grant_type=authorization_code` (RFC 6749 §4.1.3) with PKCE (RFC 7636) for confidential
//! and public clients. The code is spent before anything else is checked, so a code
//! presented with a wrong verifier or by the wrong client is gone; a code presented twice
//! revokes the refresh family and the access token its first redemption issued.

use super::{TokenResponse, UserGrant, user_tokens};
use crate::{
    authorization_codes::{CodeRow, Redeemed, pkce_matches},
    clients::Client,
    context::Context,
    error::OAuthError,
    scope,
};

const REFUSED: &str = "the authorization code is invalid, expired or already used";

pub async fn handle(
    ctx: &Context,
    client: &Client,
    code: &str,
    code_verifier: &str,
    redirect_uri: Option<&str>,
    resources: &[String],
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let audience = scope::audience(&client.audiences, resources)?;
    let row = match ctx.codes.redeem(code).await? {
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
    if !pkce_matches(code_verifier, &row.code_challenge) {
        return Err(OAuthError::InvalidGrant(
            "the code_verifier does not match the code_challenge".into(),
        ));
    }
    // RFC 9449 §10: a code bound with `dpop_jkt` is redeemed only with that key's proof.
    if let Some(bound) = row.dpop_jkt.as_deref()
        && dpop_jkt != Some(bound)
    {
        return Err(OAuthError::InvalidGrant(
            "the authorization code is bound to another DPoP key (dpop_jkt)".into(),
        ));
    }
    let user = match ctx.accounts.users().get(&row.user_id).await? {
        Some(u) if !u.disabled && u.not_before.is_none_or(|nb| row.auth_time >= nb) => u,
        _ => return Err(OAuthError::InvalidGrant(REFUSED.into())),
    };
    // A redemption that chose its audience keeps it on refresh (R10).
    let chosen_audience = (!resources.is_empty()).then_some(audience.as_slice());
    let family = ctx
        .refresh_families
        .start_if_allowed(
            client,
            &user.id,
            &row.scope,
            chosen_audience,
            row.auth_time,
            dpop_jkt,
        )
        .await?;
    let refresh_token = match &family {
        Some((token, family)) => {
            // Signing out of the browser session ends the families issued in it.
            ctx.codes
                .link_family(&row.session_id, &family.id, family.expires_at)
                .await?;
            Some(token.clone())
        }
        None => None,
    };
    let grant = UserGrant {
        user: &user,
        scope: &row.scope,
        audience: &audience,
        auth_time: row.auth_time,
        refresh_token,
        nonce: row.nonce.as_deref(),
        dpop_jkt,
    };
    let (response, issued) = user_tokens(ctx, client, grant)?;
    let family_id = family.as_ref().map(|(_, f)| f.id.as_str());
    let still_fresh = ctx
        .codes
        .record_issued(&row.code_hash, family_id, &issued.jti, issued.expires_at)
        .await?;
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

async fn revoke_issued(ctx: &Context, row: &CodeRow) -> Result<(), OAuthError> {
    if let Some(f) = &row.family_id {
        ctx.refresh_families.revoke_family(f).await?;
    }
    if let (Some(jti), Some(exp)) = (&row.access_jti, row.access_exp) {
        ctx.revocations.revoke_jti(jti, exp).await?;
    }
    Ok(())
}
