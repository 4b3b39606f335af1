//! The token endpoint's grants, one module per grant (node-oidc-provider / fosite style):
//! the client is authenticated once here, then the request goes to its grant handler.
//! The other OAuth endpoints (revocation, introspection, logout, feed, UserInfo) live in
//! [`crate::session_control`] and reuse this context.

pub mod authorization_code;
pub mod client_auth;
pub mod client_credentials;
pub mod params;
pub mod password;
pub mod refresh;

use std::{net::IpAddr, sync::Arc};

use serde::Serialize;

pub use params::Params;

use crate::{
    authorize::codes::CodeStore,
    browser_session::Sealer,
    clients::{Client, ClientRegistry, GrantType},
    clock::SharedClock,
    config::Settings,
    error::OAuthError,
    keys::{Alg, Keyring},
    metrics::METRICS,
    ratelimit::TokenRateLimits,
    revocation::RevocationLog,
    sessions::Sessions,
    throttle::LoginThrottle,
    tokens::{AccessTokenRequest, IdTokenRequest, IssuedToken, TokenIssuer},
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
    /// Authorization codes and browser-session links (browser sign-in).
    pub codes: Arc<CodeStore>,
    /// Seals the browser session cookie and the login form state.
    pub sealer: Arc<Sealer>,
    /// Token-endpoint rate limits (per IP, per client).
    pub rate_limits: Arc<TokenRateLimits>,
}

impl GrantContext {
    /// The algorithm a client's tokens are signed with.
    pub fn alg_for(&self, client: &Client) -> Alg {
        client.alg.unwrap_or(self.settings.default_alg)
    }
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
    ctx.rate_limits.check_ip(client_ip)?;
    let grant_type = params
        .single("grant_type")?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    let client = authenticate_or_public(ctx, authorization, params).await?;
    ctx.rate_limits.check_client(&client.client_id)?;
    let grant = GrantType::parse(grant_type).ok_or(OAuthError::UnsupportedGrantType)?;
    if !client.allows(grant) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let issued = match grant {
        GrantType::ClientCredentials => client_credentials::handle(ctx, &client, params),
        GrantType::Password => password::handle(ctx, &client, params, client_ip).await,
        GrantType::RefreshToken => refresh::handle(ctx, &client, params).await,
        GrantType::AuthorizationCode => authorization_code::handle(ctx, &client, params).await,
    }?;
    METRICS.token_issued(
        grant.as_str(),
        &client.client_id,
        ctx.alg_for(&client).as_str(),
    );
    Ok(issued)
}

/// Client authentication at the token endpoint, where a public client
/// (`token_endpoint_auth_method=none`) identifies itself by `client_id` alone: it has no
/// secret, and PKCE binds its codes instead. Confidential clients must authenticate.
/// Also used by revocation and logout, which RFC 7009 §2.1 opens to public clients (they
/// can only touch their own tokens).
pub async fn authenticate_or_public(
    ctx: &GrantContext,
    authorization: Option<&str>,
    params: &Params,
) -> Result<Arc<Client>, OAuthError> {
    if authorization.is_none() && params.single("client_secret")?.is_none() {
        let Some(id) = params.single("client_id")? else {
            return Err(OAuthError::InvalidClient);
        };
        return match ctx.clients.get(id).await.map_err(OAuthError::from)? {
            Some(c) if c.is_public() => Ok(c),
            _ => Err(OAuthError::InvalidClient),
        };
    }
    authenticate(ctx, authorization, params).await
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
    user_tokens_with(
        ctx,
        client,
        user,
        scope,
        audience,
        auth_time,
        refresh_token,
        None,
    )
    .map(|(r, _)| r)
}

/// [`user_tokens`] with the ID token's `nonce`, also returning the access token's facts
/// (the authorization code grant records them to revoke on code reuse).
#[allow(clippy::too_many_arguments)]
pub(crate) fn user_tokens_with(
    ctx: &GrantContext,
    client: &Client,
    user: &User,
    scope: &str,
    audience: &[String],
    auth_time: i64,
    refresh_token: Option<String>,
    nonce: Option<&str>,
) -> Result<(TokenResponse, IssuedToken), OAuthError> {
    let ttl = client
        .token_ttl
        .unwrap_or(ctx.settings.access_token_ttl.as_secs() as i64);
    let alg = ctx.alg_for(client);
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
                    nonce,
                    username: Some(&user.username),
                    ttl_secs: ttl,
                    alg,
                })
                .map_err(OAuthError::from)?,
        )
    } else {
        None
    };
    let response = TokenResponse {
        access_token: issued.token.clone(),
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: (!scope.is_empty()).then(|| scope.to_string()),
        refresh_token,
        id_token,
    };
    Ok((response, issued))
}
