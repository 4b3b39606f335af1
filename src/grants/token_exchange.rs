//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): a service that
//! received a token (the *subject token*) trades it for a token for another service,
//! acting for the same subject. The new token is never wider than what it came from:
//!
//! - audience: named by `audience`/`resource`, each one of the client's registered
//!   *exchange audiences* (the per-client policy of who may call what on whose behalf);
//! - scope: within the subject token's scope and the client's scopes;
//! - lifetime: within the subject token's remaining lifetime, `token_exchange_max_ttl`
//!   and the client's token lifetime;
//! - `sub` stays the subject's; `act` names who acts (the exchanging client, or the
//!   `actor_token`'s subject), with the subject token's own `act` nested inside it, so a
//!   chain gateway → orders → billing reads `act.sub = orders, act.act.sub = gateway`
//!   (§4.1); at most `token_exchange_max_depth` actors deep;
//! - a `may_act` claim in the subject token (§4.4) names the only actor allowed.
//!
//! A presented token is checked like any bearer token presented to Tessera (one rule,
//! `token_status::active_access_token`: signature, `typ at+jwt`, issuer, expiry,
//! revocation, the subject's not-before), so logging a user out everywhere also ends
//! every token exchanged from theirs: an exchanged token carries the user's `sub`, and
//! its `iat` is before the new not-before.

use serde_json::{Map, Value, json};

use super::{TokenResponse, request::Exchange};
use crate::{
    accounts::User, clients::Client, context::Context, error::OAuthError, scope,
    token_status::active_access_token, tokens::AccessTokenRequest, tokens::verify::VerifiedAccess,
};

/// RFC 8693 §3 token type identifiers understood by the token-exchange grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// `urn:ietf:params:oauth:token-type:access_token`: a Tessera access token.
    AccessToken,
    /// `urn:ietf:params:oauth:token-type:jwt`: as a subject or actor token, a JWT of a
    /// trusted federated issuer (not yet supported, see [`verify_presented`]); as the
    /// requested type, a JWT access token (what Tessera issues anyway).
    Jwt,
    /// `urn:ietf:params:oauth:token-type:id_token`: never accepted (an ID token says who
    /// signed in to a client, it authorises nothing).
    IdToken,
    /// `urn:ietf:params:oauth:token-type:refresh_token`: never accepted nor issued.
    RefreshToken,
}

impl TokenType {
    pub const ACCESS_TOKEN: &'static str = "urn:ietf:params:oauth:token-type:access_token";
    pub const JWT: &'static str = "urn:ietf:params:oauth:token-type:jwt";
    pub const ID_TOKEN: &'static str = "urn:ietf:params:oauth:token-type:id_token";
    pub const REFRESH_TOKEN: &'static str = "urn:ietf:params:oauth:token-type:refresh_token";

    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::AccessToken => Self::ACCESS_TOKEN,
            TokenType::Jwt => Self::JWT,
            TokenType::IdToken => Self::ID_TOKEN,
            TokenType::RefreshToken => Self::REFRESH_TOKEN,
        }
    }

    /// A `*_token_type` parameter: an unknown identifier is `invalid_request`.
    pub fn parse_param(s: &str) -> Result<Self, OAuthError> {
        match s {
            Self::ACCESS_TOKEN => Ok(TokenType::AccessToken),
            Self::JWT => Ok(TokenType::Jwt),
            Self::ID_TOKEN => Ok(TokenType::IdToken),
            Self::REFRESH_TOKEN => Ok(TokenType::RefreshToken),
            _ => Err(OAuthError::invalid_request(
                "unsupported token type (supported: urn:ietf:params:oauth:token-type:access_token)",
            )),
        }
    }
}

/// Which presented token a message is about.
#[derive(Debug, Clone, Copy)]
enum Role {
    Subject,
    Actor,
}

impl Role {
    fn param(self) -> &'static str {
        match self {
            Role::Subject => "subject_token",
            Role::Actor => "actor_token",
        }
    }
}

/// A presented token that passed its check: its claims and, for a user's token, the
/// user as stored now.
pub(crate) struct Presented {
    pub claims: VerifiedAccess,
    pub user: Option<User>,
}

/// The one check of a token presented for exchange (subject or actor token), per type.
/// Each accepted type is one arm: a `jwt` of a federated issuer (the federation registry,
/// when it exists) becomes an arm here returning the same [`Presented`]; until then it is
/// refused with `invalid_request` (RFC 8693 §2.2.2: the type is not supported).
async fn verify_presented(
    ctx: &Context,
    kind: TokenType,
    token: &str,
    role: Role,
) -> Result<Presented, OAuthError> {
    match kind {
        TokenType::AccessToken => match active_access_token(ctx, token).await? {
            Some((claims, user)) => Ok(Presented { claims, user }),
            None => Err(OAuthError::InvalidGrant(
                format!("the {} is invalid, expired or revoked", role.param()).into(),
            )),
        },
        TokenType::Jwt => Err(OAuthError::invalid_request(format!(
            "{}_type urn:ietf:params:oauth:token-type:jwt (a token of a federated issuer) is not supported yet; present a Tessera access token",
            role.param()
        ))),
        TokenType::IdToken | TokenType::RefreshToken => Err(OAuthError::invalid_request(format!(
            "{}_type must be urn:ietf:params:oauth:token-type:access_token (an ID or refresh token is not accepted)",
            role.param()
        ))),
    }
}

/// RFC 8693 §4.4: whether `may_act` allows the actor. Every identifying member present
/// (`sub`, `client_id`) must match; a `may_act` naming neither, or of another shape,
/// allows nobody (a restriction we cannot read is no permission).
fn may_act_allows(may_act: &Value, actor_sub: &str, actor_client: &str) -> bool {
    let Value::Object(m) = may_act else {
        return false;
    };
    let sub = m.get("sub");
    let client = m.get("client_id");
    if sub.is_none() && client.is_none() {
        return false;
    }
    sub.is_none_or(|s| s.as_str() == Some(actor_sub))
        && client.is_none_or(|c| c.as_str() == Some(actor_client))
}

/// Actors already in a chain: the nesting depth of `act`. Our own signed tokens only
/// reach here, whose depth was bounded when they were issued; the walk is bounded anyway.
fn chain_depth(act: Option<&Value>) -> u32 {
    let mut depth = 0;
    let mut cur = act;
    while let Some(a) = cur {
        depth += 1;
        if depth > 64 {
            break;
        }
        cur = a.get("act");
    }
    depth
}

/// `dpop_jkt`: the key of the request's DPoP proof, if any; the new token is bound to it.
pub async fn handle(
    ctx: &Context,
    client: &Client,
    req: &Exchange,
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    // X1, checked before any token is: a request for a service the client may not call
    // on anyone's behalf costs nothing and learns nothing about the tokens.
    let audience = scope::audience(&client.exchange_audiences, &req.audiences).map_err(|_| {
        OAuthError::InvalidTarget(
            "the requested audience is not one this client may obtain by token exchange".into(),
        )
    })?;
    let issued_type = match req.requested_token_type {
        None | Some(TokenType::AccessToken) => TokenType::AccessToken,
        Some(TokenType::Jwt) => TokenType::Jwt,
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "requested_token_type must be an access_token or a jwt",
            ));
        }
    };
    let subject = verify_presented(
        ctx,
        req.subject_token_type,
        &req.subject_token,
        Role::Subject,
    )
    .await?;
    let actor = match &req.actor {
        Some((token, kind)) => Some(verify_presented(ctx, *kind, token, Role::Actor).await?),
        None => None,
    };
    // Who acts: the actor token's subject, else the exchanging client itself.
    let (actor_sub, actor_client) = match &actor {
        Some(a) => (a.claims.sub.as_str(), a.claims.client_id.as_str()),
        None => (client.client_id.as_str(), client.client_id.as_str()),
    };
    let s = &subject.claims;
    // X3: the subject token restricts who may act for it.
    if let Some(may_act) = &s.may_act
        && !may_act_allows(may_act, actor_sub, actor_client)
    {
        tracing::info!(client_id = %client.client_id, "token exchange refused: actor not allowed by may_act");
        return Err(OAuthError::InvalidGrant(
            "the subject token does not allow this actor (may_act)".into(),
        ));
    }
    // X3: one more actor must stay within the configured depth.
    if chain_depth(s.act.as_ref()) + 1 > ctx.settings.token_exchange_max_depth {
        return Err(OAuthError::InvalidGrant(
            "the delegation chain would exceed the maximum depth".into(),
        ));
    }
    let mut act = Map::new();
    act.insert("sub".into(), json!(actor_sub));
    act.insert("client_id".into(), json!(actor_client));
    if let Some(prior) = &s.act {
        act.insert("act".into(), prior.clone());
    }
    let act = Value::Object(act);
    // X1: scope within the subject token's and the client's.
    let subject_scope = s.scope.as_deref().unwrap_or("");
    let allowed: Vec<String> = subject_scope
        .split(' ')
        .filter(|x| !x.is_empty() && client.scopes.iter().any(|c| c == x))
        .map(str::to_string)
        .collect();
    let scope = scope::granted_scope(&allowed, req.scope.as_deref()).map_err(|_| {
        OAuthError::invalid_scope(
            "the requested scope exceeds the subject token's scope or the client's scopes",
        )
    })?;
    let now = ctx.clock.now();
    let ttl = (s.exp - now)
        .min(ctx.settings.token_exchange_max_ttl.as_secs() as i64)
        .min(ctx.token_ttl_for(client));
    if ttl <= 0 {
        // Accepted within the clock leeway, but there is no lifetime left to hand on.
        return Err(OAuthError::InvalidGrant(
            "the subject_token is invalid, expired or revoked".into(),
        ));
    }
    // The user's claims as stored now (like a refresh), except `may_act`: it was honoured
    // at this hop; the next hop's actor is the one this token is for.
    let extra: Option<Map<String, Value>> = subject.user.as_ref().map(|u| {
        let mut m = u.claims.clone();
        m.remove("may_act");
        m
    });
    let issued = ctx.issuer.issue_access_token(&AccessTokenRequest {
        subject: &s.sub,
        client_id: &client.client_id,
        audience: &audience,
        scope: &scope,
        ttl_secs: ttl,
        alg: ctx.alg_for(client),
        roles: subject.user.as_ref().map(|u| u.roles.as_slice()),
        extra: extra.as_ref(),
        dpop_jkt,
        act: Some(&act),
    })?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: super::token_type(dpop_jkt),
        expires_in: issued.expires_in,
        scope: (!scope.is_empty()).then_some(scope),
        refresh_token: None,
        id_token: None,
        issued_token_type: Some(issued_type.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn may_act_needs_every_named_member_to_match() {
        let both = json!({"sub": "s", "client_id": "c"});
        assert!(may_act_allows(&both, "s", "c"));
        assert!(!may_act_allows(&both, "s", "x"));
        assert!(may_act_allows(&json!({"client_id": "c"}), "any", "c"));
        assert!(!may_act_allows(&json!({}), "s", "c"));
        assert!(!may_act_allows(&json!("s"), "s", "c"));
        assert!(!may_act_allows(&json!({"sub": 1}), "1", "c"));
    }

    #[test]
    fn chain_depth_counts_nested_actors() {
        assert_eq!(chain_depth(None), 0);
        let two = json!({"sub": "b", "act": {"sub": "a"}});
        assert_eq!(chain_depth(Some(&two)), 2);
    }
}
