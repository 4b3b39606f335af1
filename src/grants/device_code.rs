//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4): the device
//! polls until the user has answered on the verification page. Each poll is recorded, so
//! polling faster than the interval gets `slow_down` and a 5 s longer interval (X5); an
//! approval is redeemed once (compare-and-set), then the device code is spent. Tokens are
//! those of the code flow: an access token, an ID token with `openid`, and a refresh token
//! for clients registered for `refresh_token`.

use super::{TokenResponse, UserGrant, user_tokens};
use crate::{clients::Client, context::Context, device_codes::Poll, error::OAuthError, scope};

const REFUSED: &str = "the device code is invalid or already used";

/// `dpop_jkt`: the key of the request's DPoP proof, if any; the tokens are bound to it.
pub async fn handle(
    ctx: &Context,
    client: &Client,
    device_code: &str,
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let row = match ctx
        .device_codes
        .poll(&client.client_id, device_code)
        .await?
    {
        Poll::Approved(row) => row,
        Poll::Pending => return Err(OAuthError::AuthorizationPending),
        Poll::SlowDown => return Err(OAuthError::PollTooFast),
        Poll::Expired => return Err(OAuthError::ExpiredToken),
        Poll::Denied => return Err(OAuthError::AccessDenied),
        Poll::Unknown | Poll::Used => return Err(OAuthError::InvalidGrant(REFUSED.into())),
    };
    let (Some(user_id), Some(auth_time)) = (row.user_id.as_deref(), row.auth_time) else {
        return Err(OAuthError::InvalidGrant(REFUSED.into()));
    };
    // The user may have been disabled or logged out everywhere since approving.
    let user = match ctx.accounts.users().get(user_id).await? {
        Some(u) if !u.disabled && u.not_before.is_none_or(|nb| auth_time >= nb) => u,
        _ => return Err(OAuthError::InvalidGrant(REFUSED.into())),
    };
    let audience = scope::audience(&client.audiences, &[])?;
    let family = ctx
        .refresh_families
        .start_if_allowed(client, &user.id, &row.scope, None, auth_time, dpop_jkt)
        .await?;
    let grant = UserGrant {
        user: &user,
        scope: &row.scope,
        audience: &audience,
        auth_time,
        refresh_token: family.map(|(token, _)| token),
        nonce: None,
        dpop_jkt,
    };
    tracing::info!(client_id = %client.client_id, "device authorization redeemed");
    Ok(user_tokens(ctx, client, grant)?.0)
}
