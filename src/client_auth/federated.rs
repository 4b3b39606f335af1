//! Workload identity federation as client authentication: the client sends its
//! `client_id` and, as `client_assertion`, a token its platform gave it (a Kubernetes
//! projected service-account token, a SPIFFE JWT-SVID, a GitHub Actions OIDC token), with
//! `client_assertion_type` jwt-bearer (RFC 7523) or jwt-spiffe
//! (draft-ietf-oauth-spiffe-client-auth).
//!
//! Checks, in order (rows C6, C7); any failure is `invalid_client` except unreachable keys:
//! 1. the token names (unverified `iss`, or a SPIFFE `sub`) one of the federations **the
//!    client is bound to**; an issuer the client is not bound to is refused before any key
//!    is looked at, so an untrusted issuer reusing a trusted `kid` gets nowhere;
//! 2. the signature, with **that federation's keys only** (never another issuer's key with
//!    the same `kid`), the algorithm bound to the key (`tessera_verify::jws`); an unknown
//!    `kid` refetches the federation's keys at most once per cooldown; keys that cannot be
//!    had (source down past `remote_jwks_max_stale`) are 503 `temporarily_unavailable`,
//!    never a skipped check;
//! 3. the verified claims: `iss` again; `aud` contains the federation's audience (default
//!    Tessera's issuer identifier); `exp` required and not past (with `clock_leeway`);
//!    `nbf`/`iat` not in the future;
//! 4. `sub` exactly equal to a binding's subject for that federation, with all of the
//!    binding's claim conditions met;
//! 5. single use: the token's `jti` — or, for tokens without one (SPIFFE JWT-SVIDs may lack
//!    it), the SHA-256 of the whole token — is recorded until `exp` (`src/replay.rs`,
//!    `Purpose::ClientAssertion`, scoped by the issuer): a token authenticates once,
//!    across instances.

use std::sync::Arc;

use serde_json::{Map, Value};
use tessera_verify::jws::{self, JwsError, PublicKeySet};

use crate::{
    clients::Client,
    context::Context,
    error::OAuthError,
    federation::{Binding, Federation, conditions},
    replay::{Purpose, Recorded},
    secrets::hex,
};

/// Longest external token accepted (Kubernetes tokens with many claims run to ~1.5 KiB).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a federated token was refused (logged; the client only sees `invalid_client`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the client has no federated identity")]
    NotFederated,
    #[error("not a JWT")]
    Malformed,
    #[error("the issuer is not one the client is bound to")]
    UntrustedIssuer,
    #[error("signature: {0}")]
    Signature(JwsError),
    #[error("{0} is missing or not valid")]
    Claim(&'static str),
    #[error("aud does not contain the federation's audience")]
    WrongAudience,
    #[error("expired")]
    Expired,
    #[error("not yet valid (nbf or iat in the future)")]
    NotYetValid,
    #[error("sub or claim conditions match none of the client's bindings")]
    NoMatchingBinding,
    #[error("token already used (replay)")]
    Replayed,
}

/// What the verified claims must say.
pub struct Expected<'a> {
    pub federation: &'a Federation,
    pub audience: &'a str,
    pub now: i64,
    pub leeway: i64,
}

/// Checks verified claims against the federation and the client's bindings of it;
/// returns the replay key material (`jti`, or `None` to use the token hash) and `exp`.
pub fn check_claims(
    claims: &Map<String, Value>,
    e: &Expected<'_>,
    bindings: &[Binding],
) -> Result<(Option<String>, i64), Refusal> {
    let string = |name: &'static str| match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(Refusal::Claim(name)),
    };
    let iss = string("iss")?;
    let sub = string("sub")?.ok_or(Refusal::Claim("sub"))?;
    if !e.federation.issued(iss, Some(sub)) {
        return Err(Refusal::UntrustedIssuer);
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == e.audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(e.audience)),
        _ => return Err(Refusal::Claim("aud")),
    };
    if !aud_ok {
        return Err(Refusal::WrongAudience);
    }
    let time = |name: &'static str| match jws::numeric_date(claims, name) {
        None => Ok(None),
        Some(Ok(t)) => Ok(Some(t)),
        Some(Err(())) => Err(Refusal::Claim(name)),
    };
    let exp = time("exp")?.ok_or(Refusal::Claim("exp"))?;
    if exp.saturating_add(e.leeway) <= e.now {
        return Err(Refusal::Expired);
    }
    for name in ["nbf", "iat"] {
        if let Some(t) = time(name)?
            && t > e.now.saturating_add(e.leeway)
        {
            return Err(Refusal::NotYetValid);
        }
    }
    let matched = bindings.iter().any(|b| {
        b.federation == e.federation.name
            && b.subject == sub
            && conditions::all_hold(&b.conditions, claims)
    });
    if !matched {
        return Err(Refusal::NoMatchingBinding);
    }
    let jti = match string("jti")? {
        Some(j) if !j.is_empty() && j.len() <= 256 => Some(j.to_owned()),
        Some(_) => return Err(Refusal::Claim("jti")),
        None => None,
    };
    Ok((jti, exp))
}

/// Authenticates `client` (registered with `AuthMethod::Federated`) by `token`.
pub async fn verify(ctx: &Context, client: &Client, token: &str) -> Result<(), OAuthError> {
    let fail = |why: Refusal| {
        tracing::info!(client_id = %client.client_id, reason = %why,
            "client authentication failed: federated token refused");
        OAuthError::InvalidClient
    };
    let bindings = ctx.federations.bindings_of(&client.client_id).await?;
    if bindings.is_empty() {
        return Err(fail(Refusal::NotFederated));
    }
    // Only to choose among the client's own federations; everything is checked again on
    // the verified claims.
    let unverified =
        jws::unverified_claims(token, MAX_TOKEN_LEN).ok_or(fail(Refusal::Malformed))?;
    let (iss, sub) = (
        unverified.get("iss").and_then(Value::as_str),
        unverified.get("sub").and_then(Value::as_str),
    );
    let mut federation = None;
    let mut names: Vec<&str> = bindings.iter().map(|b| b.federation.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        if let Some(f) = ctx.federations.get(name).await?
            && f.issued(iss, sub)
        {
            federation = Some(f);
            break;
        }
    }
    let Some(federation) = federation else {
        return Err(fail(Refusal::UntrustedIssuer));
    };
    let keys = keys(ctx, &federation).await?;
    let verified = match jws::verify(token, &keys, MAX_TOKEN_LEN) {
        Err(JwsError::UnknownKey) => match ctx.federations.refetch(&federation).await {
            Some(fresh) => jws::verify(token, &fresh, MAX_TOKEN_LEN),
            None => Err(JwsError::UnknownKey),
        },
        other => other,
    }
    .map_err(|e| fail(Refusal::Signature(e)))?;
    let audience = federation
        .audience
        .as_deref()
        .unwrap_or(ctx.settings.issuer.as_str());
    let (jti, exp) = check_claims(
        &verified.claims,
        &Expected {
            federation: &federation,
            audience,
            now: ctx.clock.now(),
            leeway: ctx.leeway(),
        },
        &bindings,
    )
    .map_err(fail)?;
    let jti = jti.unwrap_or_else(|| {
        format!(
            "sha256:{}",
            hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref())
        )
    });
    let scope = format!("federation:{}", federation.issuer);
    let until = exp.saturating_add(ctx.leeway());
    match ctx
        .replay
        .record_once(Purpose::ClientAssertion, &scope, &jti, until)
        .await?
    {
        Recorded::Fresh => Ok(()),
        Recorded::Replayed => Err(fail(Refusal::Replayed)),
    }
}

async fn keys(ctx: &Context, federation: &Federation) -> Result<Arc<PublicKeySet>, OAuthError> {
    ctx.federations.keys(federation).await.map_err(|_| {
        tracing::warn!(federation = %federation.name, source = %federation.key_source(),
            "federated issuer keys unavailable (unreachable past remote_jwks_max_stale)");
        OAuthError::TemporarilyUnavailable
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn fed(issuer: &str) -> Federation {
        Federation {
            name: "k8s".into(),
            issuer: issuer.into(),
            jwks_uri: None,
            jwks: None,
            audience: None,
            created_at: 0,
        }
    }

    fn binding(sub: &str, conds: &[(&str, &str)]) -> Binding {
        Binding {
            id: "b".into(),
            client_id: "c".into(),
            federation: "k8s".into(),
            subject: sub.into(),
            conditions: conds
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn claims() {
        let f = fed("https://k8s.example");
        let e = Expected {
            federation: &f,
            audience: "https://auth.example",
            now: 1000,
            leeway: 60,
        };
        let b = [binding(
            "system:serviceaccount:payments:billing",
            &[("kubernetes.io.namespace", "payments")],
        )];
        let base = json!({"iss":"https://k8s.example","sub":"system:serviceaccount:payments:billing",
            "aud":["https://auth.example","other"],"exp":1100,"iat":990,"jti":"j1",
            "kubernetes.io":{"namespace":"payments"}});
        let with = |patch: Value| {
            let mut c = base.as_object().unwrap().clone();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    c.remove(k);
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
            c
        };
        assert_eq!(
            check_claims(&with(json!({})), &e, &b),
            Ok((Some("j1".into()), 1100))
        );
        assert_eq!(
            check_claims(&with(json!({"jti":null})), &e, &b),
            Ok((None, 1100))
        );
        for (patch, why) in [
            (json!({"iss":"https://other"}), Refusal::UntrustedIssuer),
            (
                json!({"sub":"system:serviceaccount:payments:other"}),
                Refusal::NoMatchingBinding,
            ),
            (
                json!({"kubernetes.io":{"namespace":"dev"}}),
                Refusal::NoMatchingBinding,
            ),
            (json!({"aud":"https://elsewhere"}), Refusal::WrongAudience),
            (json!({"aud":null}), Refusal::Claim("aud")),
            (json!({"exp":null}), Refusal::Claim("exp")),
            (json!({"exp":939}), Refusal::Expired),
            (json!({"nbf":1061}), Refusal::NotYetValid),
            (json!({"jti":""}), Refusal::Claim("jti")),
        ] {
            assert_eq!(
                check_claims(&with(patch.clone()), &e, &b),
                Err(why),
                "{patch}"
            );
        }
    }

    #[test]
    fn spiffe_trust_domains_match_by_subject() {
        let f = fed("spiffe://prod.example");
        assert!(f.issued(None, Some("spiffe://prod.example/ns/payments/sa/billing")));
        assert!(f.issued(Some("https://anything"), Some("spiffe://prod.example/x")));
        assert!(!f.issued(None, Some("spiffe://prod.example.evil/x")));
        assert!(!f.issued(None, Some("spiffe://other.example/x")));
        assert!(!f.issued(None, Some("spiffe://prod.example")));
    }
}
