//! `grant_type=client_credentials` (RFC 6749 §4.4): a service gets a token for itself.

use super::{GrantContext, Params, TokenResponse};
use crate::{
    clients::{Client, is_scope_token},
    error::OAuthError,
    tokens::AccessTokenRequest,
};

pub fn handle(
    ctx: &GrantContext,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let scope = granted_scope(&client.scopes, params.single("scope")?)?;
    let audience = audience(&client.audiences, &params.all("resource"))?;
    let ttl = client
        .token_ttl
        .unwrap_or(ctx.settings.access_token_ttl.as_secs() as i64);
    let issued = ctx
        .issuer
        .issue_access_token(&AccessTokenRequest {
            subject: &client.client_id,
            client_id: &client.client_id,
            audience: &audience,
            scope: &scope,
            ttl_secs: ttl,
            alg: ctx.alg_for(client),
            roles: None,
            extra: None,
        })
        .map_err(OAuthError::from)?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: (!scope.is_empty()).then_some(scope),
        refresh_token: None,
        id_token: None,
    })
}

/// The scope granted: the requested scopes if all are allowed (`invalid_scope` otherwise),
/// or every allowed scope when none is requested (RFC 6749 §3.3 default).
pub fn granted_scope(allowed: &[String], requested: Option<&str>) -> Result<String, OAuthError> {
    let Some(requested) = requested else {
        return Ok(allowed.join(" "));
    };
    let mut granted: Vec<&str> = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if !is_scope_token(s) {
            return Err(OAuthError::invalid_scope(
                "the scope parameter is malformed",
            ));
        }
        if !allowed.iter().any(|a| a == s) {
            return Err(OAuthError::invalid_scope(
                "the requested scope exceeds what this client may request",
            ));
        }
        if !granted.contains(&s) {
            granted.push(s);
        }
    }
    Ok(granted.join(" "))
}

/// The token audience: the RFC 8707 `resource`s asked for (each must be registered for the
/// client), or every registered audience when none is asked for.
pub fn audience(registered: &[String], resources: &[&str]) -> Result<Vec<String>, OAuthError> {
    if resources.is_empty() {
        if registered.is_empty() {
            return Err(OAuthError::InvalidTarget(
                "the client has no registered audience".into(),
            ));
        }
        return Ok(registered.to_vec());
    }
    let mut out: Vec<String> = Vec::new();
    for r in resources {
        if !registered.iter().any(|a| a == r) {
            return Err(OAuthError::InvalidTarget(
                "the requested resource is not available to this client".into(),
            ));
        }
        if !out.iter().any(|o| o == r) {
            out.push(r.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn scope_narrowing() {
        let allowed = v(&["a", "b"]);
        assert_eq!(granted_scope(&allowed, None).unwrap(), "a b");
        assert_eq!(granted_scope(&allowed, Some("b")).unwrap(), "b");
        assert_eq!(granted_scope(&allowed, Some("b b")).unwrap(), "b");
        assert!(matches!(
            granted_scope(&allowed, Some("a c")),
            Err(OAuthError::InvalidScope(_))
        ));
    }

    #[test]
    fn audience_selection() {
        let reg = v(&["https://a", "https://b"]);
        assert_eq!(audience(&reg, &[]).unwrap(), reg);
        assert_eq!(audience(&reg, &["https://b"]).unwrap(), v(&["https://b"]));
        assert!(matches!(
            audience(&reg, &["https://c"]),
            Err(OAuthError::InvalidTarget(_))
        ));
    }
}
