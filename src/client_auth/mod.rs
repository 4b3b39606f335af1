//! Client authentication at every client-authenticated endpoint (token, revocation,
//! introspection, logout, the revocation feed): one module per method.
//! - `client_secret_basic` / `client_secret_post` ([`client_secret`]);
//! - `private_key_jwt` ([`private_key_jwt`], RFC 7523 §2.2): a JWT signed with one of the
//!   client's registered keys, in `client_assertion` with `client_assertion_type`
//!   [`JWT_BEARER`];
//! - `none` for public clients, which identify themselves by `client_id` alone and are
//!   bound by PKCE instead.
//!
//! A request presents exactly one method (RFC 6749 §2.3: "MUST NOT use more than one
//! authentication method in each request"): two at once is `invalid_request`. Which
//! module checks an assertion is decided by the method the client was **registered** with
//! ([`AuthMethod`]), never by the request: [`by_assertion`] is the one dispatch point
//! (workload identity federation adds its arm there).

pub mod client_secret;
pub mod federated;
pub mod private_key_jwt;

use std::sync::Arc;

use crate::{
    clients::{AuthMethod, Client, Credentials},
    context::Context,
    error::OAuthError,
    params::FormFields,
};

/// RFC 7523 §2.2 `client_assertion_type` of a JWT client assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// draft-ietf-oauth-spiffe-client-auth: a SPIFFE JWT-SVID as client assertion (clients
/// bound to federated SPIFFE identities).
pub const JWT_SPIFFE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";

/// The one client-authentication method a request presents.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented<'a> {
    /// `client_secret_basic` or `client_secret_post`.
    Secret(Credentials),
    /// RFC 7521 §4.2: `client_assertion` + `client_assertion_type`, `client_id` optional.
    Assertion {
        assertion_type: &'a str,
        assertion: &'a str,
        client_id: Option<&'a str>,
    },
    /// `client_id` alone (a public client).
    ClientId(&'a str),
    /// No credentials at all.
    Nothing,
}

/// Which method the request uses; more than one is `invalid_request`.
pub fn presented<'a>(
    authorization: Option<&str>,
    params: &'a impl FormFields,
) -> Result<Presented<'a>, OAuthError> {
    let assertion = params.single("client_assertion")?;
    let assertion_type = params.single("client_assertion_type")?;
    let secret = params.single("client_secret")?;
    let methods = usize::from(authorization.is_some())
        + usize::from(secret.is_some())
        + usize::from(assertion.is_some() || assertion_type.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use only one client authentication method",
        ));
    }
    if authorization.is_some() || secret.is_some() {
        return client_secret::credentials(authorization, params).map(Presented::Secret);
    }
    let client_id = params.single("client_id")?;
    match (assertion, assertion_type) {
        (Some(assertion), Some(assertion_type)) => Ok(Presented::Assertion {
            assertion_type,
            assertion,
            client_id,
        }),
        (Some(_), None) => Err(OAuthError::invalid_request(
            "client_assertion_type is missing",
        )),
        (None, Some(_)) => Err(OAuthError::invalid_request("client_assertion is missing")),
        (None, None) => Ok(client_id.map_or(Presented::Nothing, Presented::ClientId)),
    }
}

/// Authenticates a confidential client; any failure is `invalid_client`.
pub async fn authenticate(
    ctx: &Context,
    authorization: Option<&str>,
    params: &impl FormFields,
) -> Result<Arc<Client>, OAuthError> {
    confidential(ctx, presented(authorization, params)?).await
}

/// The confidential methods: a secret or an assertion; anything else is `invalid_client`.
async fn confidential(ctx: &Context, method: Presented<'_>) -> Result<Arc<Client>, OAuthError> {
    match method {
        Presented::Secret(credentials) => ctx.clients.authenticate(&credentials).await,
        Presented::Assertion {
            assertion_type,
            assertion,
            client_id,
        } => by_assertion(ctx, assertion_type, assertion, client_id).await,
        Presented::ClientId(_) | Presented::Nothing => Err(OAuthError::InvalidClient),
    }
}

/// [`authenticate`], or a public client (`token_endpoint_auth_method=none`) named by
/// `client_id` alone when the request carries no credentials. Used where public clients
/// may come: the token endpoint, revocation and logout (RFC 7009 §2.1: they can only touch
/// their own tokens).
pub async fn authenticate_or_public(
    ctx: &Context,
    authorization: Option<&str>,
    params: &impl FormFields,
) -> Result<Arc<Client>, OAuthError> {
    match presented(authorization, params)? {
        Presented::ClientId(id) => match ctx.clients.get(id).await? {
            Some(c) if c.is_public() => Ok(c),
            _ => Err(OAuthError::InvalidClient),
        },
        method => confidential(ctx, method).await,
    }
}

/// A client assertion: the client is the form's `client_id`, else the assertion's `sub`
/// (RFC 7523 §3: `sub` is the client_id), and the method it was registered with decides
/// which module checks the assertion. **The dispatch point**: a new assertion-based method
/// (workload identity federation: `AuthMethod::Federated` with [`JWT_BEARER`] or
/// [`JWT_SPIFFE`], `client_id` required since the external `sub` is not a client id) is one
/// arm here and one module beside [`private_key_jwt`].
async fn by_assertion(
    ctx: &Context,
    assertion_type: &str,
    assertion: &str,
    client_id: Option<&str>,
) -> Result<Arc<Client>, OAuthError> {
    let id = match client_id {
        Some(id) => id.to_string(),
        None => private_key_jwt::claimed_client_id(assertion).ok_or_else(|| {
            tracing::info!("client authentication failed: an assertion without client_id or sub");
            OAuthError::InvalidClient
        })?,
    };
    let Some(client) = ctx.clients.get(&id).await? else {
        tracing::info!("client authentication failed: unknown client_id");
        return Err(OAuthError::InvalidClient);
    };
    match (client.token_endpoint_auth_method, assertion_type) {
        (AuthMethod::PrivateKeyJwt, JWT_BEARER) => {
            private_key_jwt::verify(ctx, &client, assertion).await?
        }
        // The external token's `sub` is not a client id: the form must name the client.
        (AuthMethod::Federated, JWT_BEARER | JWT_SPIFFE) if client_id.is_some() => {
            federated::verify(ctx, &client, assertion).await?
        }
        (method, _) => {
            tracing::info!(client_id = %client.client_id, %method, assertion_type,
                "client authentication failed: the client is not registered for this assertion type");
            return Err(OAuthError::InvalidClient);
        }
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    fn p(body: &str) -> Params {
        Params::parse(body.as_bytes()).unwrap()
    }

    /// RFC 6749 §2.3: one method per request.
    #[test]
    fn exactly_one_method_per_request() {
        let basic = "Basic YTpi";
        let a = format!("client_assertion_type={JWT_BEARER}&client_assertion=x.y.z");
        for (auth, body) in [
            (Some(basic), a.clone()),
            (None, format!("{a}&client_secret=s&client_id=a")),
            (Some(basic), "client_secret=s".to_string()),
            (Some(basic), format!("client_assertion_type={JWT_BEARER}")),
        ] {
            assert!(
                matches!(
                    presented(auth, &p(&body)),
                    Err(OAuthError::InvalidRequest(_))
                ),
                "{auth:?} {body}"
            );
        }
        let params = p(&a);
        assert!(matches!(
            presented(None, &params),
            Ok(Presented::Assertion {
                client_id: None,
                assertion: "x.y.z",
                ..
            })
        ));
        let params = p("client_assertion=x.y.z");
        assert!(matches!(
            presented(None, &params),
            Err(OAuthError::InvalidRequest(_))
        ));
        let params = p("client_id=c");
        assert_eq!(presented(None, &params).unwrap(), Presented::ClientId("c"));
        let params = p("");
        assert_eq!(presented(None, &params).unwrap(), Presented::Nothing);
    }
}
