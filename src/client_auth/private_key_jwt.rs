//! `private_key_jwt` (RFC 7523 §2.2 and §3, RFC 7521 §4.2, OIDC Core §9): the client signs a
//! short-lived JWT with its own private key; Tessera holds only the public keys.
//!
//! Checks, in order (any failure is 401 `invalid_client`, the reason only in the log):
//! 1. the JWS against the client's registered keys ([`tessera_verify::jws::verify`]): the
//!    key by exact `kid` (or the keys of the header's algorithm when there is none), the
//!    algorithm **of the key** (ES256, RS256, PS256, EdDSA; the header has to agree, it
//!    never chooses), no `none`, no HMAC, no key in the header;
//! 2. [`check_claims`]: `iss` = `sub` = the client_id; `aud` the issuer identifier as the
//!    sole value (draft-ietf-oauth-rfc7523bis), or the token endpoint URL when the
//!    compatibility setting `client_assertion_accept_token_endpoint_audience` is on; `exp`
//!    present, not past (beyond the clock leeway) and at most
//!    `client_assertion_max_lifetime` ahead; `nbf` and `iat`, when present, not in the
//!    future beyond the leeway; `jti` present (1 to 256 bytes);
//!    With a `jwks_uri`, the keys come from the remote key-set cache (`remote_jwks`: SSRF
//!    guards, bounded freshness); an unknown `kid` triggers one refetch within its
//!    cooldown, and keys that cannot be fetched (cache too old) give 503.
//! 3. single use: the `jti` is recorded in the replay records
//!    (`Purpose::ClientAssertion`, scope the client_id) until `exp` + leeway, after which
//!    the assertion is refused anyway. The record is group-committed with the others
//!    waiting (no round trip of its own) and decided by the primary key, so a second use is
//!    refused on this instance and on any other sharing the database (row C1).
//!
//! `client_secret_jwt` (an HMAC keyed with a shared secret) is deliberately not offered:
//! the point of this method is that the server holds no secret of the client.

use std::sync::Arc;

use serde_json::{Map, Value};
use tessera_verify::jws::{self, JwksPolicy, JwsError, PublicKeySet, VerifiedJws};

use crate::{
    clients::Client,
    context::Context,
    error::OAuthError,
    remote_jwks::{Parsed, RemoteSet},
    replay::{Purpose, Recorded},
};

/// Longest accepted assertion (checked before any parsing): room for an RSA-4096
/// signature and generous claims.
pub const MAX_ASSERTION_LEN: usize = 8 * 1024;
/// Longest accepted `jti` (bytes).
pub const MAX_JTI_LEN: usize = 256;

/// What an assertion's claims must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub client_id: &'a str,
    /// The issuer identifier (the only `aud` accepted by default).
    pub issuer: &'a str,
    /// The token endpoint URL, accepted as `aud` when the compatibility setting is on.
    pub token_endpoint: Option<&'a str>,
    pub now: i64,
    pub leeway: i64,
    /// Seconds `exp` may lie ahead of now.
    pub max_lifetime: i64,
}

/// Why an assertion's claims were refused (for the log only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{0} is not valid")]
    Invalid(&'static str),
    #[error("iss is not the client_id")]
    WrongIssuer,
    #[error("sub is not the client_id")]
    WrongSubject,
    #[error("aud is not the issuer identifier (as its sole value)")]
    WrongAudience,
    #[error("expired")]
    Expired,
    #[error("exp is further ahead than client_assertion_max_lifetime")]
    TooLong,
    #[error("not yet valid (nbf or iat in the future)")]
    NotYetValid,
}

/// The facts of an assertion that passed [`check_claims`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub jti: String,
    pub exp: i64,
}

/// Checks the claims of a verified assertion (pure; the signature is already checked).
pub fn check_claims(claims: &Map<String, Value>, e: &Expected<'_>) -> Result<Checked, ClaimError> {
    let string = |name: &'static str| match claims.get(name) {
        None => Err(ClaimError::Missing(name)),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(_) => Err(ClaimError::Invalid(name)),
    };
    if string("iss")? != e.client_id {
        return Err(ClaimError::WrongIssuer);
    }
    if string("sub")? != e.client_id {
        return Err(ClaimError::WrongSubject);
    }
    let aud = match claims.get("aud") {
        None => return Err(ClaimError::Missing("aud")),
        Some(Value::String(s)) => s.as_str(),
        // "as its sole value": a one-element array says the same; more is refused.
        Some(Value::Array(a)) => match a.as_slice() {
            [Value::String(s)] => s.as_str(),
            _ => return Err(ClaimError::WrongAudience),
        },
        Some(_) => return Err(ClaimError::Invalid("aud")),
    };
    if aud != e.issuer && Some(aud) != e.token_endpoint {
        return Err(ClaimError::WrongAudience);
    }
    let time = |name: &'static str| match jws::numeric_date(claims, name) {
        None => Ok(None),
        Some(Ok(t)) => Ok(Some(t)),
        Some(Err(())) => Err(ClaimError::Invalid(name)),
    };
    let exp = time("exp")?.ok_or(ClaimError::Missing("exp"))?;
    if exp.saturating_add(e.leeway) <= e.now {
        return Err(ClaimError::Expired);
    }
    if exp
        > e.now
            .saturating_add(e.max_lifetime)
            .saturating_add(e.leeway)
    {
        return Err(ClaimError::TooLong);
    }
    for name in ["nbf", "iat"] {
        if let Some(t) = time(name)?
            && t > e.now.saturating_add(e.leeway)
        {
            return Err(ClaimError::NotYetValid);
        }
    }
    let jti = string("jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(ClaimError::Invalid("jti"));
    }
    Ok(Checked {
        jti: jti.to_string(),
        exp,
    })
}

/// The client an assertion sent without `client_id` claims to come from: its `sub`
/// (unverified: only to find whose keys to verify it with).
pub fn claimed_client_id(assertion: &str) -> Option<String> {
    match jws::unverified_claims(assertion, MAX_ASSERTION_LEN)?.remove("sub")? {
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// Imports a fetched client JWK Set: as strict as an inline one.
fn parse_remote(body: &[u8]) -> Result<Parsed<PublicKeySet>, String> {
    PublicKeySet::from_jwks(body, &JwksPolicy::CLIENT_KEYS)
        .map(|value| Parsed {
            value,
            refresh_hint: None,
        })
        .map_err(|e| e.to_string())
}

/// Where a client's keys come from.
enum Keys<'a> {
    Inline(&'a Arc<PublicKeySet>),
    Remote(Arc<RemoteSet<PublicKeySet>>),
}

fn keys_of<'a>(ctx: &Context, client: &'a Client) -> Result<Keys<'a>, OAuthError> {
    if let Some(keys) = client.inline_keys() {
        return Ok(Keys::Inline(keys));
    }
    if let Some(uri) = &client.jwks_uri {
        return Ok(Keys::Remote(ctx.client_jwks.get_or_insert(uri, || {
            RemoteSet::url(ctx.fetcher.clone(), uri.clone(), parse_remote)
        })));
    }
    tracing::warn!(client_id = %client.client_id,
        "client authentication failed: the client has no keys");
    Err(OAuthError::InvalidClient)
}

/// The signature check with the client's keys: for a `jwks_uri`, the cached set (503 when
/// it cannot be fetched and the cache is too old, row C7's rule), and on an unknown `kid`
/// one refetch (at most once per `remote_jwks_refetch_cooldown`): the client may have
/// published a new key.
async fn verify_signature(
    ctx: &Context,
    client: &Client,
    assertion: &str,
) -> Result<Result<VerifiedJws, JwsError>, OAuthError> {
    match keys_of(ctx, client)? {
        Keys::Inline(keys) => Ok(jws::verify(assertion, keys, MAX_ASSERTION_LEN)),
        Keys::Remote(set) => {
            let keys = set.current().await.map_err(|_| {
                tracing::warn!(client_id = %client.client_id,
                    "client authentication failed: the client's jwks_uri is unavailable");
                OAuthError::TemporarilyUnavailable
            })?;
            let first = jws::verify(assertion, &keys, MAX_ASSERTION_LEN);
            if !matches!(first, Err(JwsError::UnknownKey)) {
                return Ok(first);
            }
            Ok(match set.refetch_for_unknown_kid().await {
                Some(keys) => jws::verify(assertion, &keys, MAX_ASSERTION_LEN),
                None => first,
            })
        }
    }
}

/// Authenticates `client` (registered for `private_key_jwt`) by `assertion`.
pub async fn verify(ctx: &Context, client: &Client, assertion: &str) -> Result<(), OAuthError> {
    let fail = |reason: &dyn std::fmt::Display| {
        tracing::info!(client_id = %client.client_id, reason = %reason,
            "client authentication failed: client assertion refused");
        OAuthError::InvalidClient
    };
    let verified = verify_signature(ctx, client, assertion)
        .await?
        .map_err(|e| fail(&e))?;
    let issuer = ctx.settings.issuer.as_str();
    // Built only when the compatibility setting is on.
    let token_endpoint = ctx
        .settings
        .client_assertion_accept_token_endpoint_audience
        .then(|| format!("{issuer}/oauth/token"));
    let checked = check_claims(
        &verified.claims,
        &Expected {
            client_id: &client.client_id,
            issuer,
            token_endpoint: token_endpoint.as_deref(),
            now: ctx.clock.now(),
            leeway: ctx.leeway(),
            max_lifetime: ctx.settings.client_assertion_max_lifetime.as_secs() as i64,
        },
    )
    .map_err(|e| fail(&e))?;
    // Kept until the assertion could no longer pass the `exp` check anyway.
    let until = checked.exp.saturating_add(ctx.leeway());
    match ctx
        .replay
        .record_once(
            Purpose::ClientAssertion,
            &client.client_id,
            &checked.jti,
            until,
        )
        .await?
    {
        Recorded::Fresh => Ok(()),
        Recorded::Replayed => Err(fail(&"jti already used (replay)")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const E: Expected<'static> = Expected {
        client_id: "c1",
        issuer: "https://auth.example",
        token_endpoint: None,
        now: 1_000,
        leeway: 60,
        max_lifetime: 300,
    };

    fn claims(extra: Value) -> Map<String, Value> {
        let mut c =
            json!({"iss":"c1","sub":"c1","aud":"https://auth.example","exp":1_100,"jti":"j"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c.as_object().unwrap().clone()
    }

    /// C2, C4: issuer, subject, audience and the time claims.
    #[test]
    fn claims_are_checked() {
        let ok = check_claims(&claims(json!({})), &E).unwrap();
        assert_eq!((ok.jti.as_str(), ok.exp), ("j", 1_100));
        assert!(check_claims(&claims(json!({"aud":["https://auth.example"]})), &E).is_ok());
        for (extra, why) in [
            (json!({"iss":"c2"}), ClaimError::WrongIssuer),
            (json!({"sub":"c2"}), ClaimError::WrongSubject),
            (json!({"iss":null}), ClaimError::Missing("iss")),
            (
                json!({"aud":"https://auth.example/oauth/token"}),
                ClaimError::WrongAudience,
            ),
            (
                json!({"aud":["https://auth.example","x"]}),
                ClaimError::WrongAudience,
            ),
            (json!({"aud":null}), ClaimError::Missing("aud")),
            (json!({"exp":null}), ClaimError::Missing("exp")),
            (json!({"exp":"1100"}), ClaimError::Invalid("exp")),
            (json!({"exp":940}), ClaimError::Expired),
            (json!({"exp":1_361}), ClaimError::TooLong),
            (json!({"nbf":1_061}), ClaimError::NotYetValid),
            (json!({"iat":1_061}), ClaimError::NotYetValid),
            (json!({"jti":null}), ClaimError::Missing("jti")),
            (json!({"jti":""}), ClaimError::Invalid("jti")),
            (json!({"jti":"x".repeat(257)}), ClaimError::Invalid("jti")),
        ] {
            assert_eq!(
                check_claims(&claims(extra.clone()), &E),
                Err(why),
                "{extra}"
            );
        }
        // Within the leeway: just expired, just too far ahead, nbf slightly ahead.
        assert!(check_claims(&claims(json!({"exp":941})), &E).is_ok());
        assert!(check_claims(&claims(json!({"exp":1_360, "nbf":1_060})), &E).is_ok());
        // The compatibility setting adds the token endpoint, nothing else.
        let compat = Expected {
            token_endpoint: Some("https://auth.example/oauth/token"),
            ..E
        };
        assert!(
            check_claims(
                &claims(json!({"aud":"https://auth.example/oauth/token"})),
                &compat
            )
            .is_ok()
        );
        assert!(check_claims(&claims(json!({})), &compat).is_ok());
        assert_eq!(
            check_claims(
                &claims(json!({"aud":"https://auth.example/oauth/revoke"})),
                &compat
            ),
            Err(ClaimError::WrongAudience)
        );
    }
}
