//! The token endpoint's grants, one module per grant (node-oidc-provider / fosite style):
//! the client is authenticated once here, then the request goes to its grant handler.

pub mod client_auth;
pub mod client_credentials;
pub mod params;

use std::sync::Arc;

use serde::Serialize;

pub use params::Params;

use crate::{
    clients::{ClientRegistry, GrantType},
    config::Settings,
    error::OAuthError,
    tokens::TokenIssuer,
};

/// What the grant handlers need, shared by the whole server.
pub struct GrantContext {
    pub clients: Arc<ClientRegistry>,
    pub issuer: Arc<TokenIssuer>,
    pub settings: Arc<Settings>,
}

/// RFC 6749 §5.1 successful token response.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Handles `POST /oauth/token` once the HTTP layer has read the form and the
/// `Authorization` header.
pub async fn token(
    ctx: &GrantContext,
    authorization: Option<&str>,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = params
        .single("grant_type")?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    let credentials = client_auth::credentials(authorization, params)?;
    let client = ctx.clients.authenticate(&credentials).await?;
    match grant_type {
        "client_credentials" => {
            if !client.allows(GrantType::ClientCredentials) {
                return Err(OAuthError::UnauthorizedClient);
            }
            client_credentials::handle(ctx, &client, params)
        }
        _ => Err(OAuthError::UnsupportedGrantType),
    }
}
