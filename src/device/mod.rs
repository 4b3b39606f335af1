//! Device authorization grant (RFC 8628): `POST /oauth/device_authorization` (a device
//! asks for a user code) and the verification page at `/device` (a person signs in, types
//! or confirms the code, sees who asks for what, approves or denies). Domain logic only:
//! `http::oauth` and `http::browser` translate. The polling is `grants::device_code`, the
//! storage `device_codes`.

pub mod page;
pub mod pages;

use std::net::IpAddr;

use crate::{
    client_auth, clients::GrantType, context::Context, device_codes::display_user_code,
    error::OAuthError, params::FormFields, scope, token_rate_limits::Endpoint,
};

/// Where people approve devices.
pub const VERIFICATION_PATH: &str = "/device";

/// RFC 8628 §3.2 device authorization response.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    /// Shown to the person, `BCDF-GHJK`.
    pub user_code: String,
    pub verification_uri: String,
    /// The verification page with the code filled in (for a QR code or a link). Opening it
    /// never approves anything: the person still confirms on the page (X6).
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// `POST /oauth/device_authorization`: client authentication as at the token endpoint
/// (confidential clients with their secret, public clients by `client_id`), the client
/// registered for the device grant, the scope within its scopes.
pub async fn authorize(
    ctx: &Context,
    authorization: Option<&str>,
    params: &impl FormFields,
    client_ip: Option<IpAddr>,
) -> Result<DeviceAuthorization, OAuthError> {
    ctx.rate_limits.check_ip(Endpoint::Token, client_ip)?;
    let client = client_auth::authenticate_or_public(ctx, authorization, params).await?;
    ctx.rate_limits
        .check_client(Endpoint::Token, &client.client_id)?;
    if !client.allows(GrantType::DeviceCode) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let scope = scope::granted_scope(&client.scopes, params.single("scope")?)?;
    let ttl = ctx.settings.device_code_ttl.as_secs() as i64;
    let interval = ctx.settings.device_poll_interval as i64;
    let (device_code, user_code) = ctx
        .device_codes
        .issue(&client.client_id, &scope, ttl, interval)
        .await?;
    let user_code = display_user_code(&user_code);
    let verification_uri = format!("{}{VERIFICATION_PATH}", ctx.issuer.issuer());
    Ok(DeviceAuthorization {
        verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
        verification_uri,
        device_code,
        user_code,
        expires_in: ttl,
        interval,
    })
}
