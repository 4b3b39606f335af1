//! The token endpoint: the client is authenticated once, the form is parsed once into a
//! typed [`GrantRequest`], and the request goes to its grant's module (node-oidc-provider
//! / fosite style). A grant never calls a sibling grant: what they share (scope and
//! audience rules, issuing a user's tokens, starting a refresh family) lives outside them.
//!
//! Adding a grant: a variant of [`GrantRequest`] (and its parameters in
//! `http::oauth::TokenForm`), a [`GrantType`], and one module here.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod password;
pub mod refresh;
pub mod request;
pub mod token_exchange;

use std::net::IpAddr;

use serde::Serialize;

pub use request::{GrantRequest, Target};

use crate::{
    accounts::User,
    client_auth,
    clients::Client,
    context::Context,
    error::OAuthError,
    metrics::METRICS,
    params::FormFields,
    scope,
    token_rate_limits::Endpoint,
    tokens::{AccessTokenRequest, IdTokenRequest, IssuedToken},
};

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
    /// RFC 8693 §2.2.1: the type of the token issued by a token exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

pub use crate::tokens::token_type;

/// Handles `POST /oauth/token` once the HTTP layer has read the form, the
/// `Authorization` header and the `DPoP` headers. The order of the checks decides which
/// error a bad request gets: rate limit per IP, `grant_type` present, client
/// authentication, rate limit per client, grant type supported and allowed for the client,
/// the grant's parameters, then the DPoP proof (RFC 9449: proof, server nonce, single
/// use), so that a malformed request does not spend a proof.
pub async fn token(
    ctx: &Context,
    authorization: Option<&str>,
    params: &impl FormFields,
    client_ip: Option<IpAddr>,
    dpop_proofs: &[&str],
) -> Result<TokenResponse, OAuthError> {
    ctx.rate_limits.check_ip(Endpoint::Token, client_ip)?;
    params.required("grant_type")?;
    let client = client_auth::authenticate_or_public(ctx, authorization, params).await?;
    ctx.rate_limits
        .check_client(Endpoint::Token, &client.client_id)?;
    let grant = GrantRequest::grant_type(params)?;
    if !client.allows(grant) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let request = GrantRequest::parse(grant, params)?;
    let jkt = ctx.dpop.token_request(&client, dpop_proofs).await?;
    let jkt = jkt.as_deref();
    let issued = match request {
        GrantRequest::ClientCredentials { target } => {
            client_credentials::handle(ctx, &client, &target, jkt)
        }
        GrantRequest::Password {
            username,
            password,
            target,
        } => {
            let login = password::Login {
                username: &username,
                password: &password,
                client_ip,
            };
            password::handle(ctx, &client, login, &target, jkt).await
        }
        GrantRequest::RefreshToken {
            refresh_token,
            target,
        } => refresh::handle(ctx, &client, &refresh_token, &target, jkt).await,
        GrantRequest::AuthorizationCode {
            code,
            code_verifier,
            redirect_uri,
            resources,
        } => {
            authorization_code::handle(
                ctx,
                &client,
                &code,
                &code_verifier,
                redirect_uri.as_deref(),
                &resources,
                jkt,
            )
            .await
        }
        GrantRequest::DeviceCode { device_code } => {
            device_code::handle(ctx, &client, &device_code, jkt).await
        }
        GrantRequest::TokenExchange(exchange) => {
            token_exchange::handle(ctx, &client, &exchange, jkt).await
        }
    }?;
    METRICS.token_issued(
        grant.as_str(),
        ctx.settings
            .metrics_client_label
            .then_some(client.client_id.as_str()),
        ctx.alg_for(&client).as_str(),
    );
    Ok(issued)
}

/// What a user's tokens carry and how they came about.
pub(crate) struct UserGrant<'a> {
    pub user: &'a User,
    pub scope: &'a str,
    pub audience: &'a [String],
    /// When the user authenticated (the ID token's `auth_time`).
    pub auth_time: i64,
    pub refresh_token: Option<String>,
    /// The authorization request's `nonce`, echoed in the ID token.
    pub nonce: Option<&'a str>,
    /// The DPoP proof key the access token is bound to (`cnf.jkt`), if any.
    pub dpop_jkt: Option<&'a str>,
}

/// Access token (+ ID token when `openid` was granted) for a user, shared by the password,
/// refresh and authorization code grants. Also returns the access token's facts (the
/// authorization code grant records them, to revoke on code reuse).
pub(crate) fn user_tokens(
    ctx: &Context,
    client: &Client,
    grant: UserGrant<'_>,
) -> Result<(TokenResponse, IssuedToken), OAuthError> {
    let ttl = ctx.token_ttl_for(client);
    let alg = ctx.alg_for(client);
    let user = grant.user;
    let issued = ctx.issuer.issue_access_token(&AccessTokenRequest {
        subject: &user.id,
        client_id: &client.client_id,
        audience: grant.audience,
        scope: grant.scope,
        ttl_secs: ttl,
        alg,
        roles: Some(&user.roles),
        extra: Some(&user.claims),
        dpop_jkt: grant.dpop_jkt,
        act: None,
    })?;
    let id_token = if scope::contains(grant.scope, "openid") {
        Some(ctx.issuer.issue_id_token(&IdTokenRequest {
            subject: &user.id,
            client_id: &client.client_id,
            auth_time: grant.auth_time,
            access_token: &issued.token,
            nonce: grant.nonce,
            username: Some(&user.username),
            ttl_secs: ttl,
            alg,
        })?)
    } else {
        None
    };
    let response = TokenResponse {
        access_token: issued.token.clone(),
        token_type: token_type(grant.dpop_jkt),
        expires_in: issued.expires_in,
        scope: (!grant.scope.is_empty()).then(|| grant.scope.to_string()),
        refresh_token: grant.refresh_token,
        id_token,
        issued_token_type: None,
    };
    Ok((response, issued))
}
