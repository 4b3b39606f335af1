//! `grant_type=password` (RFC 6749 §4.3), for first-party apps registered for it. The
//! password check (throttling, one answer for unknown user, wrong password and disabled
//! user) is `accounts::Accounts::check_password`, the same as the login form's.

use std::net::IpAddr;

use super::{Target, TokenResponse, UserGrant, user_tokens};
use crate::{
    accounts::PasswordRefused, clients::Client, context::Context, error::OAuthError, scope,
};

/// The user's credentials and where they came from.
pub struct Login<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub client_ip: Option<IpAddr>,
}

pub async fn handle(
    ctx: &Context,
    client: &Client,
    Login {
        username,
        password,
        client_ip,
    }: Login<'_>,
    target: &Target,
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let scope = scope::granted_scope(&client.scopes, target.scope.as_deref())?;
    let audience = scope::audience(&client.audiences, &target.resources)?;
    let user = match ctx
        .accounts
        .check_password(username, password, client_ip)
        .await
    {
        Ok(user) => user,
        Err(PasswordRefused::Throttled { retry_after }) => {
            tracing::warn!(client_id = %client.client_id, "password grant throttled");
            return Err(OAuthError::SlowDown { retry_after });
        }
        Err(PasswordRefused::Incorrect) => {
            tracing::info!(client_id = %client.client_id, "password grant refused");
            return Err(OAuthError::InvalidGrant(
                "the username or password is incorrect".into(),
            ));
        }
        Err(PasswordRefused::Unavailable(e)) => return Err(e.into()),
    };
    let auth_time = ctx.clock.now();
    // A login that chose its audience keeps it on refresh (R10).
    let chosen_audience = (!target.resources.is_empty()).then_some(audience.as_slice());
    let refresh_token = ctx
        .refresh_families
        .start_if_allowed(
            client,
            &user.id,
            &scope,
            chosen_audience,
            auth_time,
            dpop_jkt,
        )
        .await?
        .map(|(token, _)| token);
    let grant = UserGrant {
        user: &user,
        scope: &scope,
        audience: &audience,
        auth_time,
        refresh_token,
        nonce: None,
        dpop_jkt,
    };
    Ok(user_tokens(ctx, client, grant)?.0)
}
