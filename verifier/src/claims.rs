//! Verified access-token claims (RFC 9068 §2.2) and their validation.

use std::{fmt, sync::Arc};

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::{
    error::{Part, VerifyError},
    json::{self, AnyNoDup, Key, Seen},
};

/// The claims of a verified access token.
///
/// Standard claims are typed; anything else (custom claims) is read with
/// [`Claims::custom`] or [`Claims::get`] from the verified payload.
#[derive(Clone)]
pub struct Claims {
    iss: String,
    sub: String,
    aud: Vec<String>,
    exp: i64,
    iat: i64,
    nbf: Option<i64>,
    jti: String,
    client_id: String,
    scope: Option<String>,
    roles: Vec<String>,
    cnf: Option<Confirmation>,
    actors: Vec<Actor>,
    raw: Arc<str>,
}

/// One party of a delegation chain (RFC 8693 §4.1 `act`): who acts for the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `sub` of the actor: for Tessera, the exchanging client's id (or the subject of the
    /// actor token it presented).
    pub sub: String,
    /// `client_id` of the actor, when the issuer names it.
    pub client_id: Option<String>,
}

/// Deepest `act` nesting accepted: beyond any real chain (Tessera's
/// `token_exchange_max_depth` is at most 16), so a hostile token cannot make a verifier
/// walk far.
const MAX_ACTORS: usize = 32;

/// The `cnf` claim (RFC 7800): what the token is bound to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Confirmation {
    /// `jkt`: RFC 7638 thumbprint of the DPoP key (RFC 9449 §6.1).
    pub jkt: Option<String>,
}

impl Claims {
    /// `iss`: always exactly the configured issuer.
    pub fn iss(&self) -> &str {
        &self.iss
    }
    /// `sub`: the user, or the client for `client_credentials` tokens.
    pub fn sub(&self) -> &str {
        &self.sub
    }
    /// `aud`, as a list (a single-string `aud` gives one element).
    pub fn aud(&self) -> &[String] {
        &self.aud
    }
    /// `exp`, seconds since the epoch.
    pub fn exp(&self) -> i64 {
        self.exp
    }
    /// `iat`, seconds since the epoch.
    pub fn iat(&self) -> i64 {
        self.iat
    }
    /// `nbf`, when present.
    pub fn nbf(&self) -> Option<i64> {
        self.nbf
    }
    /// `jti`: the token's unique id.
    pub fn jti(&self) -> &str {
        &self.jti
    }
    /// `client_id`: the OAuth client the token was issued to.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// `scope`, the raw space-separated string.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
    /// The granted scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
    }
    /// Whether `scope` contains exactly this scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }
    /// `roles` (empty when absent).
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
    /// Whether `roles` contains exactly this role.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
    /// `cnf.jkt` (RFC 9449 §6.1): the RFC 7638 thumbprint of the key this token is bound
    /// to, for DPoP-bound tokens.
    pub fn confirmation_jkt(&self) -> Option<&str> {
        self.cnf.as_ref().and_then(|c| c.jkt.as_deref())
    }
    /// Whether the token has a `cnf` claim, i.e. is sender-constrained (DPoP `jkt`, or a
    /// binding this crate cannot check such as mTLS `x5t#S256`). Such a token is never
    /// accepted as a plain bearer token.
    pub fn is_sender_constrained(&self) -> bool {
        self.cnf.is_some()
    }
    /// The token type to use with this token: `DPoP` when bound to a DPoP key, else
    /// `Bearer` (RFC 9449 §5).
    pub fn token_type(&self) -> &'static str {
        if self.confirmation_jkt().is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }
    /// RFC 8693 §4.1: the actor chain of a token issued by token exchange, the current
    /// actor first (the party that presented the token to you), then the one it got the
    /// subject's token from, and so on. Empty for a token the subject obtained directly.
    /// Only the current actor matters for access decisions (§4.1: prior actors are
    /// informational); `sub` stays the subject's.
    pub fn actors(&self) -> &[Actor] {
        &self.actors
    }
    /// The current actor (`act.sub`, `act.client_id`), if the token was exchanged.
    pub fn actor(&self) -> Option<&Actor> {
        self.actors.first()
    }
    /// Deserialises the whole verified payload into `T` (custom claims). `T` may name
    /// standard claims too; unknown members are ignored unless `T` denies them.
    pub fn custom<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.raw)
    }
    /// One claim as JSON, standard or custom.
    pub fn get(&self, name: &str) -> Option<Value> {
        let mut m: serde_json::Map<String, Value> = serde_json::from_str(&self.raw).ok()?;
        m.remove(name)
    }
    /// The verified payload, as sent by the issuer.
    pub fn json(&self) -> &str {
        &self.raw
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .field("iat", &self.iat)
            .field("nbf", &self.nbf)
            .field("jti", &self.jti)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("roles", &self.roles)
            .field("cnf_jkt", &self.confirmation_jkt())
            .field("actors", &self.actors)
            .finish_non_exhaustive()
    }
}

/// What the verifier checks claims against.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub issuer: String,
    pub audience: String,
    pub leeway: i64,
}

impl Policy {
    /// Required claims, exact issuer, audience, then time.
    pub fn check(&self, c: &Claims, now: i64) -> Result<(), VerifyError> {
        if c.iss != self.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if !c.aud.contains(&self.audience) {
            return Err(VerifyError::WrongAudience);
        }
        check_times(c, now, self.leeway)
    }
}

/// `exp`: valid while `now < exp + leeway`; `nbf`, `iat`: rejected when more than `leeway`
/// in the future. Saturating arithmetic: extreme values never overflow.
pub(crate) fn check_times(c: &Claims, now: i64, leeway: i64) -> Result<(), VerifyError> {
    if now >= c.exp.saturating_add(leeway) {
        return Err(VerifyError::Expired);
    }
    if let Some(nbf) = c.nbf
        && nbf > now.saturating_add(leeway)
    {
        return Err(VerifyError::NotYetValid);
    }
    if c.iat > now.saturating_add(leeway) {
        return Err(VerifyError::IssuedInFuture);
    }
    Ok(())
}

/// Parses a payload (already signature-checked) into [`Claims`]: one JSON object, no
/// duplicate members at any depth, RFC 9068 required claims present with the right types.
pub(crate) fn parse(payload: Vec<u8>) -> Result<Claims, VerifyError> {
    let raw: RawClaims = serde_json::from_slice(&payload).map_err(|e| VerifyError::Json {
        part: Part::Payload,
        detail: json::describe(&e),
    })?;
    // The payload parsed as JSON, so it is UTF-8.
    let text = String::from_utf8(payload).map_err(|_| VerifyError::Json {
        part: Part::Payload,
        detail: "not UTF-8".into(),
    })?;
    raw.into_claims(Arc::from(text))
}

#[derive(Default)]
struct RawClaims {
    iss: Option<Value>,
    sub: Option<Value>,
    aud: Option<Value>,
    exp: Option<Value>,
    iat: Option<Value>,
    nbf: Option<Value>,
    jti: Option<Value>,
    client_id: Option<Value>,
    scope: Option<Value>,
    roles: Option<Value>,
    cnf: Option<Result<Confirmation, ()>>,
    /// `act` is present (read again from the checked payload: only exchanged tokens pay).
    has_act: bool,
}

/// The `act` chain of a payload already checked for duplicate members: each level an
/// object with a string `sub`, an optional string `client_id` and an optional nested `act`.
fn actors(raw: &str) -> Result<Vec<Actor>, VerifyError> {
    #[derive(serde::Deserialize)]
    struct ActOnly {
        act: Value,
    }
    let bad = VerifyError::InvalidClaim("act");
    let top: ActOnly = serde_json::from_str(raw).map_err(|_| bad.clone())?;
    let mut out = Vec::new();
    let mut cur = Some(&top.act);
    while let Some(level) = cur {
        if out.len() == MAX_ACTORS {
            return Err(bad);
        }
        let Value::Object(m) = level else {
            return Err(bad);
        };
        let Some(Value::String(sub)) = m.get("sub") else {
            return Err(bad);
        };
        let client_id = match m.get("client_id") {
            None => None,
            Some(Value::String(c)) => Some(c.clone()),
            Some(_) => return Err(bad),
        };
        out.push(Actor {
            sub: sub.clone(),
            client_id,
        });
        cur = m.get("act");
    }
    Ok(out)
}

fn string(v: Option<Value>, name: &'static str) -> Result<String, VerifyError> {
    match v {
        None => Err(VerifyError::MissingClaim(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(VerifyError::InvalidClaim(name)),
    }
}

fn strings(v: Value, name: &'static str) -> Result<Vec<String>, VerifyError> {
    match v {
        Value::Array(a) => a
            .into_iter()
            .map(|x| match x {
                Value::String(s) => Ok(s),
                _ => Err(VerifyError::InvalidClaim(name)),
            })
            .collect(),
        _ => Err(VerifyError::InvalidClaim(name)),
    }
}

/// A NumericDate (RFC 7519 §2): a JSON number, never a string, bool or null. Fractions
/// round towards rejection (`exp` down, `nbf`/`iat` up); out-of-range values saturate.
fn numeric_date(
    v: Option<Value>,
    name: &'static str,
    round_up: bool,
) -> Result<Option<i64>, VerifyError> {
    let Some(v) = v else { return Ok(None) };
    let Value::Number(n) = v else {
        return Err(VerifyError::InvalidClaim(name));
    };
    if let Some(i) = n.as_i64() {
        Ok(Some(i))
    } else if n.is_u64() {
        Ok(Some(i64::MAX))
    } else if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
        // `as` saturates at i64::MIN / i64::MAX.
        Ok(Some(if round_up { f.ceil() } else { f.floor() } as i64))
    } else {
        Err(VerifyError::InvalidClaim(name))
    }
}

impl RawClaims {
    fn into_claims(self, raw: Arc<str>) -> Result<Claims, VerifyError> {
        let iss = string(self.iss, "iss")?;
        let sub = string(self.sub, "sub")?;
        let aud = match self.aud {
            None => return Err(VerifyError::MissingClaim("aud")),
            Some(Value::String(s)) => vec![s],
            Some(v) => strings(v, "aud")?,
        };
        let exp = numeric_date(self.exp, "exp", false)?.ok_or(VerifyError::MissingClaim("exp"))?;
        let iat = numeric_date(self.iat, "iat", true)?.ok_or(VerifyError::MissingClaim("iat"))?;
        let nbf = numeric_date(self.nbf, "nbf", true)?;
        let jti = string(self.jti, "jti")?;
        let client_id = string(self.client_id, "client_id")?;
        let scope = match self.scope {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(VerifyError::InvalidClaim("scope")),
        };
        let roles = match self.roles {
            None => Vec::new(),
            Some(v) => strings(v, "roles")?,
        };
        let cnf = match self.cnf {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(())) => return Err(VerifyError::InvalidClaim("cnf")),
        };
        let actors = if self.has_act {
            actors(&raw)?
        } else {
            Vec::new()
        };
        Ok(Claims {
            cnf,
            actors,
            iss,
            sub,
            aud,
            exp,
            iat,
            nbf,
            jti,
            client_id,
            scope,
            roles,
            raw,
        })
    }
}

impl<'de> de::Deserialize<'de> for RawClaims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ClaimsVisitor)
    }
}

struct ClaimsVisitor;

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = RawClaims;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawClaims, A::Error> {
        let mut r = RawClaims::default();
        let mut seen = Seen::default();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            seen.insert(k.clone())?;
            let slot = match &*k {
                "iss" => &mut r.iss,
                "sub" => &mut r.sub,
                "aud" => &mut r.aud,
                "exp" => &mut r.exp,
                "iat" => &mut r.iat,
                "nbf" => &mut r.nbf,
                "jti" => &mut r.jti,
                "client_id" => &mut r.client_id,
                "scope" => &mut r.scope,
                "roles" => &mut r.roles,
                "cnf" => {
                    r.cnf = Some(map.next_value::<CnfResult>()?.0);
                    continue;
                }
                "act" => {
                    map.next_value::<AnyNoDup>()?;
                    r.has_act = true;
                    continue;
                }
                _ => {
                    map.next_value::<AnyNoDup>()?;
                    continue;
                }
            };
            // Known claims are strings, numbers or arrays of strings: anything holding an
            // object is a type error below, so a plain `Value` is enough here.
            *slot = Some(map.next_value::<Value>()?);
        }
        Ok(r)
    }
}

/// `cnf`: an object without duplicate members; `jkt`, when present, a non-empty string.
/// A type error is kept (not a JSON error) so it maps to `InvalidClaim("cnf")`.
struct CnfResult(Result<Confirmation, ()>);

impl<'de> de::Deserialize<'de> for CnfResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CnfVisitor)
    }
}

struct CnfVisitor;

impl<'de> Visitor<'de> for CnfVisitor {
    type Value = CnfResult;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cnf object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CnfResult, A::Error> {
        let mut c = Confirmation::default();
        let mut ok = true;
        let mut seen = Seen::default();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            seen.insert(k.clone())?;
            if &*k == "jkt" {
                match map.next_value::<AnyValueNoDup>()?.0 {
                    Value::String(s) if !s.is_empty() => c.jkt = Some(s),
                    _ => ok = false,
                }
            } else {
                map.next_value::<AnyNoDup>()?;
            }
        }
        Ok(CnfResult(if ok { Ok(c) } else { Err(()) }))
    }
    fn visit_bool<E>(self, _: bool) -> Result<CnfResult, E> {
        Ok(CnfResult(Err(())))
    }
    fn visit_i64<E>(self, _: i64) -> Result<CnfResult, E> {
        Ok(CnfResult(Err(())))
    }
    fn visit_u64<E>(self, _: u64) -> Result<CnfResult, E> {
        Ok(CnfResult(Err(())))
    }
    fn visit_f64<E>(self, _: f64) -> Result<CnfResult, E> {
        Ok(CnfResult(Err(())))
    }
    fn visit_str<E>(self, _: &str) -> Result<CnfResult, E> {
        Ok(CnfResult(Err(())))
    }
    fn visit_unit<E>(self) -> Result<CnfResult, E> {
        Ok(CnfResult(Err(())))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<CnfResult, A::Error> {
        while seq.next_element::<AnyNoDup>()?.is_some() {}
        Ok(CnfResult(Err(())))
    }
}

/// A `Value` for a member that must be a scalar: objects inside are still checked for
/// duplicates (then the value is a type error anyway).
struct AnyValueNoDup(Value);

impl<'de> de::Deserialize<'de> for AnyValueNoDup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyValueNoDup;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<AnyValueNoDup, E> {
                Ok(AnyValueNoDup(Value::String(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<AnyValueNoDup, E> {
                Ok(AnyValueNoDup(Value::String(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<AnyValueNoDup, E> {
                Ok(AnyValueNoDup(Value::Null))
            }
            fn visit_i64<E>(self, _: i64) -> Result<AnyValueNoDup, E> {
                Ok(AnyValueNoDup(Value::Null))
            }
            fn visit_u64<E>(self, _: u64) -> Result<AnyValueNoDup, E> {
                Ok(AnyValueNoDup(Value::Null))
            }
            fn visit_f64<E>(self, _: f64) -> Result<AnyValueNoDup, E> {
                Ok(AnyValueNoDup(Value::Null))
            }
            fn visit_unit<E>(self) -> Result<AnyValueNoDup, E> {
                Ok(AnyValueNoDup(Value::Null))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<AnyValueNoDup, A::Error> {
                while seq.next_element::<AnyNoDup>()?.is_some() {}
                Ok(AnyValueNoDup(Value::Null))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AnyValueNoDup, A::Error> {
                de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|AnyNoDup| AnyValueNoDup(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

/// Decodes a token's header and payload as JSON **without verifying anything**: for
/// diagnostics (`tessera verify`) only. Never base an access decision on this.
pub fn decode_unverified(token: &str) -> Result<(Value, Value), VerifyError> {
    let [h, p, _] = crate::token::split(token, usize::MAX)?;
    let parse = |part, s: &str| -> Result<Value, VerifyError> {
        let bytes = crate::token::decode(part, s)?;
        serde_json::from_slice(&bytes).map_err(|e| VerifyError::Json {
            part,
            detail: json::describe(&e),
        })
    };
    Ok((parse(Part::Header, h)?, parse(Part::Payload, p)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(extra: &str) -> Vec<u8> {
        format!(
            r#"{{"iss":"i","sub":"alice","aud":"a","exp":2,"iat":1,"jti":"j","client_id":"c"{extra}}}"#
        )
        .into_bytes()
    }

    /// RFC 8693 §4.1: the nested `act` of a twice-exchanged token reads as a chain,
    /// current actor first; a token without `act` has none.
    #[test]
    fn the_actor_chain_is_read_current_actor_first() {
        let c = parse(payload(
            r#","act":{"sub":"orders","client_id":"orders","act":{"sub":"gateway"}}"#,
        ))
        .unwrap();
        assert_eq!(c.actor().unwrap().sub, "orders");
        let chain: Vec<&str> = c.actors().iter().map(|a| a.sub.as_str()).collect();
        assert_eq!(chain, ["orders", "gateway"]);
        assert_eq!(c.actors()[1].client_id, None);
        assert!(parse(payload("")).unwrap().actors().is_empty());
    }

    #[test]
    fn a_malformed_actor_chain_is_refused() {
        for bad in [
            r#","act":"orders""#,
            r#","act":{"client_id":"orders"}"#,
            r#","act":{"sub":"o","act":{"sub":1}}"#,
        ] {
            assert!(
                matches!(parse(payload(bad)), Err(VerifyError::InvalidClaim("act"))),
                "{bad}"
            );
        }
        let deep = format!(
            r#","act":{}{}"#,
            r#"{"sub":"x","act":"#.repeat(40) + r#"{"sub":"x"}"#,
            "}".repeat(40)
        );
        assert!(parse(payload(&deep)).is_err());
        // Duplicate members inside `act` are refused like anywhere in the payload.
        assert!(parse(payload(r#","act":{"sub":"a","sub":"b"}"#)).is_err());
    }
}
