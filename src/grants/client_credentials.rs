//! `grant_type=client_credentials` (RFC 6749 §4.4): a service gets a token for itself.

use super::{Target, TokenResponse};
use crate::{
    clients::Client, context::Context, error::OAuthError, scope, tokens::AccessTokenRequest,
};

/// `dpop_jkt`: the DPoP proof key the token is bound to, if the request carried a proof.
pub fn handle(
    ctx: &Context,
    client: &Client,
    target: &Target,
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let scope = scope::granted_scope(&client.scopes, target.scope.as_deref())?;
    let audience = scope::audience(&client.audiences, &target.resources)?;
    let issued = ctx.issuer.issue_access_token(&AccessTokenRequest {
        subject: &client.client_id,
        client_id: &client.client_id,
        audience: &audience,
        scope: &scope,
        ttl_secs: ctx.token_ttl_for(client),
        alg: ctx.alg_for(client),
        roles: None,
        extra: None,
        dpop_jkt,
        act: None,
    })?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: super::token_type(dpop_jkt),
        expires_in: issued.expires_in,
        scope: (!scope.is_empty()).then_some(scope),
        refresh_token: None,
        id_token: None,
        issued_token_type: None,
    })
}
