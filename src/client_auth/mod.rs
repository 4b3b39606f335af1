//! Client authentication at every client-authenticated endpoint (token, revocation,
//! introspection, logout, the revocation feed): one module per method. Today:
//! `client_secret_basic` / `client_secret_post` ([`client_secret`]) and `none` for public
//! clients, which identify themselves by `client_id` alone and are bound by PKCE instead.

pub mod client_secret;

use std::sync::Arc;

use crate::{
    clients::{Client, ClientRegistry},
    error::OAuthError,
    params::FormFields,
};

/// Authenticates a confidential client; any failure is `invalid_client`.
pub async fn authenticate(
    clients: &ClientRegistry,
    authorization: Option<&str>,
    params: &impl FormFields,
) -> Result<Arc<Client>, OAuthError> {
    let credentials = client_secret::credentials(authorization, params)?;
    clients.authenticate(&credentials).await
}

/// [`authenticate`], or a public client (`token_endpoint_auth_method=none`) named by
/// `client_id` alone when the request carries no credentials. Used where public clients
/// may come: the token endpoint, revocation and logout (RFC 7009 §2.1: they can only touch
/// their own tokens).
pub async fn authenticate_or_public(
    clients: &ClientRegistry,
    authorization: Option<&str>,
    params: &impl FormFields,
) -> Result<Arc<Client>, OAuthError> {
    if authorization.is_none() && params.single("client_secret")?.is_none() {
        let Some(id) = params.single("client_id")? else {
            return Err(OAuthError::InvalidClient);
        };
        return match clients.get(id).await? {
            Some(c) if c.is_public() => Ok(c),
            _ => Err(OAuthError::InvalidClient),
        };
    }
    authenticate(clients, authorization, params).await
}
