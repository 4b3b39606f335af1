//! `grant_type=password` (RFC 6749 §4.3), for first-party apps registered for it.
//! Unknown user, wrong password and disabled user give one identical answer after the same
//! argon2 work; failures are throttled per username, per IP and per both.

use std::net::IpAddr;

use super::{GrantContext, Params, TokenResponse, client_credentials, user_tokens};
use crate::{
    clients::{Client, GrantType},
    error::OAuthError,
    users::normalize_username,
};

pub async fn handle(
    ctx: &GrantContext,
    client: &Client,
    params: &Params,
    client_ip: Option<IpAddr>,
) -> Result<TokenResponse, OAuthError> {
    let username = params
        .single("username")?
        .ok_or_else(|| OAuthError::invalid_request("username is missing"))?;
    let password = params
        .single("password")?
        .ok_or_else(|| OAuthError::invalid_request("password is missing"))?;
    let scope = client_credentials::granted_scope(&client.scopes, params.single("scope")?)?;
    let audience = client_credentials::audience(&client.audiences, &params.all("resource"))?;
    // Throttle on the normalised name so "Alice" and "alice" share a counter.
    let key = normalize_username(username).unwrap_or_else(|_| username.to_lowercase());
    if let Err(retry_after) = ctx.throttle.check(&key, client_ip) {
        tracing::warn!(client_id = %client.client_id, "password grant throttled");
        return Err(OAuthError::SlowDown { retry_after });
    }
    let user = ctx
        .users
        .find_by_username(username)
        .await
        .map_err(OAuthError::from)?;
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    let password_ok = ctx.users.hasher().verify(password.to_string(), phc).await;
    let user = match user {
        Some(u) if password_ok && !u.disabled => u,
        _ => {
            ctx.throttle.failure(&key, client_ip);
            tracing::info!(client_id = %client.client_id, "password grant refused");
            return Err(OAuthError::InvalidGrant(
                "the username or password is incorrect".into(),
            ));
        }
    };
    ctx.throttle.success(&key, client_ip);
    let auth_time = ctx.clock.now();
    let refresh_token = if client.allows(GrantType::RefreshToken) {
        let (token, _) = ctx
            .sessions
            .start(&user.id, &client.client_id, &scope, auth_time)
            .await
            .map_err(OAuthError::from)?;
        Some(token)
    } else {
        None
    };
    user_tokens(
        ctx,
        client,
        &user,
        &scope,
        &audience,
        auth_time,
        refresh_token,
    )
}
