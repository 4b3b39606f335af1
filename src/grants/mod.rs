//! The token endpoint's grants, one module per grant (node-oidc-provider / fosite style):
//! the client is authenticated once here, then the request goes to its grant handler.
//! The other OAuth endpoints (revocation, introspection, logout, feed, UserInfo) live in
//! [`crate::session_control`] and reuse this context.

pub mod client_auth;
pub mod client_credentials;
pub mod params;
pub mod password;
pub mod refresh;

use std::{net::IpAddr, sync::Arc};

use serde::Serialize;

pub use params::Params;

use crate::{
    clients::{Client, ClientRegistry, GrantType},
    clock::SharedClock,
    config::Settings,
    error::OAuthError,
    keys::Keyring,
    revocation::RevocationLog,
    sessions::Sessions,
    throttle::LoginThrottle,
    tokens::{AccessTokenRequest, IdTokenRequest, TokenIssuer},
    users::{User, UserStore},
};

/// What the OAuth handlers need, shared by the whole server.
pub struct GrantContext {
    pub clients: Arc<ClientRegistry>,
    pub issuer: Arc<TokenIssuer>,
    pub settings: Arc<Settings>,
    pub users: Arc<UserStore>,
    pub sessions: Arc<Sessions>,
    pub revocations: Arc<RevocationLog>,
    pub throttle: Arc<LoginThrottle>,
    pub keyring: Arc<Keyring>,
    pub clock: SharedClock,
}

/// RFC 6749 §5.1 successful token response.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Handles `POST /oauth/token` once the HTTP layer has read the form and the
/// `Authorization` header.
pub async fn token(
    ctx: &GrantContext,
    authorization: Option<&str>,
    params: &Params,
    client_ip: Option<IpAddr>,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = params
        .single("grant_type")?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    let client = authenticate(ctx, authorization, params).await?;
    let grant = GrantType::parse(grant_type).ok_or(OAuthError::UnsupportedGrantType)?;
    if !client.allows(grant) {
        return Err(OAuthError::UnauthorizedClient);
    }
    match grant {
        GrantType::ClientCredentials => client_credentials::handle(ctx, &client, params),
        GrantType::Password => password::handle(ctx, &client, params, client_ip).await,
        GrantType::RefreshToken => refresh::handle(ctx, &client, params).await,
    }
}

/// Client authentication shared by every client-authenticated endpoint.
pub async fn authenticate(
    ctx: &GrantContext,
    authorization: Option<&str>,
    params: &Params,
) -> Result<Arc<Client>, OAuthError> {
    let credentials = client_auth::credentials(authorization, params)?;
    ctx.clients.authenticate(&credentials).await
}

/// Access token (+ ID token when `openid` was granted) for a user, shared by the password
/// and refresh grants.
pub(crate) fn user_tokens(
    ctx: &GrantContext,
    client: &Client,
    user: &User,
    scope: &str,
    audience: &[String],
    auth_time: i64,
    refresh_token: Option<String>,
) -> Result<TokenResponse, OAuthError> {
    let ttl = client
        .token_ttl
        .unwrap_or(ctx.settings.access_token_ttl.as_secs() as i64);
    let alg = client.alg.unwrap_or(ctx.settings.default_alg);
    let issued = ctx
        .issuer
        .issue_access_token(&AccessTokenRequest {
            subject: &user.id,
            client_id: &client.client_id,
            audience,
            scope,
            ttl_secs: ttl,
            alg,
            roles: Some(&user.roles),
            extra: Some(&user.claims),
        })
        .map_err(OAuthError::from)?;
    let id_token = if scope.split(' ').any(|s| s == "openid") {
        Some(
            ctx.issuer
                .issue_id_token(&IdTokenRequest {
                    subject: &user.id,
                    client_id: &client.client_id,
                    auth_time,
                    access_token: &issued.token,
                    nonce: None,
                    username: Some(&user.username),
                    ttl_secs: ttl,
                    alg,
                })
                .map_err(OAuthError::from)?,
        )
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: (!scope.is_empty()).then(|| scope.to_string()),
        refresh_token,
        id_token,
    })
}
