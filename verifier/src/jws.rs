//! Signed JWTs from parties that registered their public keys: client assertions
//! (`private_key_jwt`, RFC 7523 §2.2) and tokens of federated issuers (workload identity).
//!
//! Two pieces, both pure (no clock, no replay state, no I/O):
//! - [`PublicKeySet::from_jwks`]: a JWK Set imported once, each key parsed by aws-lc-rs
//!   and **bound to exactly one algorithm** (ES256, RS256, PS256 or EdDSA/Ed25519): the
//!   `alg` of the JWK, or, without one, the only algorithm its type allows (EC P-256 →
//!   ES256, OKP Ed25519 → EdDSA). An RSA key without `alg` is ambiguous (RS256 or PS256)
//!   and is refused unless the caller's [`JwksPolicy`] names the algorithm to bind it to.
//!   The key import is the DPoP proof key's ([`crate::dpop`]): one implementation.
//! - [`verify`]: a compact JWS checked against such a set: size, canonical base64url, a
//!   header without duplicate members, `alg` in the allow-list (never `none`, never HMAC)
//!   **and equal to the key's bound algorithm** (the header alone never picks it), no
//!   header that brings its own key or changes processing (`jwk`, `jku`, `x5u`, `x5c`,
//!   `crit`, `b64`, `zip`, JWE members), the key by exact `kid` (or, without `kid`, the
//!   keys of that algorithm), the signature, then the claims as one JSON object without
//!   duplicate members. What the claims must say (`iss`, `sub`, `aud`, `exp`...) is the
//!   caller's business.

use std::{fmt, sync::Arc};

use aws_lc_rs::signature::ParsedPublicKey;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Map, Value};

pub use crate::dpop::ProofAlg as SigAlg;
use crate::{
    dpop::{self, PRIVATE_MEMBERS, ProofAlg},
    json,
};

/// Header parameters never accepted: each brings its own key or URL, changes how the
/// payload is processed, or belongs to JWE (RFC 8725 §3.10, §2.8).
const FORBIDDEN_HEADERS: [&str; 17] = [
    "crit", "jwk", "jku", "x5u", "x5c", "b64", "zip", "enc", "cty", "epk", "apu", "apv", "iv",
    "tag", "p2s", "p2c", "url",
];

/// How a JWK Set is imported.
#[derive(Debug, Clone, Copy)]
pub struct JwksPolicy {
    /// The algorithm an RSA key without `alg` is bound to; `None`: such a key is unusable.
    pub rsa_without_alg: Option<ProofAlg>,
    /// A `use` value accepted besides `sig` (a SPIFFE bundle's `jwt-svid`).
    pub extra_use: Option<&'static str>,
    /// Most keys in the set (each is tried when a JWT names no `kid`).
    pub max_keys: usize,
    /// `true`: unusable keys are skipped (a remote JWKS may carry keys for other uses);
    /// `false`: any unusable key makes the whole set an error (an operator's registration,
    /// where a silently dropped key would only show up as failed logins later).
    pub skip_unusable: bool,
}

impl JwksPolicy {
    /// A client's registered keys: strict, at most 10, RSA keys must name their `alg`.
    pub const CLIENT_KEYS: JwksPolicy = JwksPolicy {
        rsa_without_alg: None,
        extra_use: None,
        max_keys: 10,
        skip_unusable: false,
    };
}

/// Why a JWK Set was not imported; written for the operator who registered it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("not a JWK Set: {0}")]
    NotAJwks(String),
    #[error("key {index}: {reason}")]
    BadKey { index: usize, reason: &'static str },
    #[error("two keys have the kid {0:?}")]
    DuplicateKid(String),
    #[error("more than {0} keys")]
    TooManyKeys(usize),
    #[error("no usable signing key (ES256, RS256, PS256 or EdDSA)")]
    Empty,
}

/// One public key, bound to one algorithm.
pub struct PublicKey {
    kid: Option<String>,
    alg: ProofAlg,
    thumbprint: String,
    key: ParsedPublicKey,
}

impl PublicKey {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// The one algorithm this key verifies.
    pub fn alg(&self) -> ProofAlg {
        self.alg
    }
    /// RFC 7638 SHA-256 thumbprint, base64url.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("thumbprint", &self.thumbprint)
            .finish()
    }
}

/// An imported JWK Set.
#[derive(Debug, Clone, Default)]
pub struct PublicKeySet {
    keys: Vec<Arc<PublicKey>>,
}

impl PublicKeySet {
    /// Imports a JWK Set document (`{"keys": [...]}`) under `policy`.
    pub fn from_jwks(bytes: &[u8], policy: &JwksPolicy) -> Result<PublicKeySet, JwksError> {
        json::check_no_duplicates(bytes).map_err(|e| JwksError::NotAJwks(json::describe(&e)))?;
        let doc: Map<String, Value> =
            serde_json::from_slice(bytes).map_err(|e| JwksError::NotAJwks(json::describe(&e)))?;
        let Some(Value::Array(entries)) = doc.get("keys") else {
            return Err(JwksError::NotAJwks("no \"keys\" array".into()));
        };
        let mut keys: Vec<Arc<PublicKey>> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match import(entry, policy) {
                Ok(k) => {
                    if let Some(kid) = &k.kid
                        && keys.iter().any(|o| o.kid.as_ref() == Some(kid))
                    {
                        return Err(JwksError::DuplicateKid(kid.clone()));
                    }
                    keys.push(Arc::new(k));
                }
                Err(reason) if policy.skip_unusable => {
                    tracing::warn!(index, reason, "JWK ignored");
                }
                Err(reason) => return Err(JwksError::BadKey { index, reason }),
            }
            if keys.len() > policy.max_keys {
                return Err(JwksError::TooManyKeys(policy.max_keys));
            }
        }
        if keys.is_empty() {
            return Err(JwksError::Empty);
        }
        Ok(PublicKeySet { keys })
    }

    pub fn keys(&self) -> &[Arc<PublicKey>] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key has exactly this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn import(entry: &Value, policy: &JwksPolicy) -> Result<PublicKey, &'static str> {
    let Value::Object(m) = entry else {
        return Err("not a JSON object");
    };
    if PRIVATE_MEMBERS.iter().any(|p| m.contains_key(*p)) {
        return Err("contains private (or symmetric) key material");
    }
    let text = |name: &str| match m.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err("a member has the wrong type"),
    };
    let kid = match text("kid")? {
        Some("") => return Err("empty kid"),
        k => k.map(str::to_owned),
    };
    if let Some(u) = text("use")?
        && u != "sig"
        && Some(u) != policy.extra_use
    {
        return Err("use is not sig");
    }
    if let Some(ops) = m.get("key_ops") {
        let ok = ops
            .as_array()
            .is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
        if !ok {
            return Err("key_ops does not allow verify");
        }
    }
    let members = dpop::key_members(m)
        .map_err(|_| "not a usable public key (EC P-256, RSA or OKP Ed25519 with valid members)")?;
    let alg = match text("alg")? {
        Some(a) => ProofAlg::from_name(a).ok_or("unsupported alg (ES256, RS256, PS256, EdDSA)")?,
        None => match members {
            dpop::KeyMembers::Ec { .. } => ProofAlg::Es256,
            dpop::KeyMembers::Ed25519 { .. } => ProofAlg::EdDsa,
            dpop::KeyMembers::Rsa { .. } => policy
                .rsa_without_alg
                .ok_or("an RSA key must name its alg (RS256 or PS256)")?,
        },
    };
    let key = dpop::import(alg, &members).map_err(|e| match e {
        dpop::ProofError::AlgorithmMismatch => "alg does not match the key type",
        _ => "not a valid public key (RSA keys: 2048 to 8192 bits)",
    })?;
    Ok(PublicKey {
        kid,
        alg,
        thumbprint: dpop::thumbprint(&members),
        key,
    })
}

/// Why a JWS was refused. For logs; a client is only told that authentication failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("longer than {0} bytes")]
    TooLarge(usize),
    #[error("not a compact JWS")]
    Malformed,
    #[error("the header is not valid")]
    InvalidHeader,
    #[error("alg is missing or not ES256, RS256, PS256 or EdDSA")]
    UnsupportedAlgorithm,
    #[error("a header parameter that is never accepted")]
    ForbiddenHeader,
    #[error("no registered key has this kid")]
    UnknownKey,
    #[error("no registered key of this alg")]
    AlgorithmMismatch,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the claims are not one JSON object without duplicate members")]
    InvalidClaims,
}

/// A JWS whose signature verified with a registered key.
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// The verifying key's algorithm.
    pub alg: ProofAlg,
    /// The verifying key.
    pub key: Arc<PublicKey>,
}

/// Verifies a compact JWS with one of `keys` (see the module documentation).
pub fn verify(token: &str, keys: &PublicKeySet, max_len: usize) -> Result<VerifiedJws, JwsError> {
    if token.len() > max_len {
        return Err(JwsError::TooLarge(max_len));
    }
    let [h, p, s] = crate::token::split(token, max_len).map_err(|_| JwsError::Malformed)?;
    let header_bytes = B64.decode(h).map_err(|_| JwsError::Malformed)?;
    json::check_no_duplicates(&header_bytes).map_err(|_| JwsError::InvalidHeader)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&header_bytes).map_err(|_| JwsError::InvalidHeader)?;
    let alg = match header.get("alg") {
        Some(Value::String(a)) => ProofAlg::from_name(a).ok_or(JwsError::UnsupportedAlgorithm)?,
        _ => return Err(JwsError::UnsupportedAlgorithm),
    };
    if FORBIDDEN_HEADERS.iter().any(|f| header.contains_key(*f)) {
        return Err(JwsError::ForbiddenHeader);
    }
    let candidates: Vec<&Arc<PublicKey>> = match header.get("kid") {
        Some(Value::String(kid)) => {
            let k = keys
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid.as_str()))
                .ok_or(JwsError::UnknownKey)?;
            vec![k]
        }
        Some(_) => return Err(JwsError::InvalidHeader),
        None => keys.keys.iter().collect(),
    };
    // The key's own algorithm decides; the header only has to agree with it.
    let candidates: Vec<&Arc<PublicKey>> =
        candidates.into_iter().filter(|k| k.alg == alg).collect();
    if candidates.is_empty() {
        return Err(JwsError::AlgorithmMismatch);
    }
    let signature = B64.decode(s).map_err(|_| JwsError::Malformed)?;
    if matches!(alg, ProofAlg::Es256 | ProofAlg::EdDsa) && signature.len() != 64 {
        return Err(JwsError::BadSignature);
    }
    let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
    let key = candidates
        .into_iter()
        .find(|k| k.key.verify_sig(signing_input, &signature).is_ok())
        .ok_or(JwsError::BadSignature)?;
    let payload = B64.decode(p).map_err(|_| JwsError::Malformed)?;
    json::check_no_duplicates(&payload).map_err(|_| JwsError::InvalidClaims)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&payload).map_err(|_| JwsError::InvalidClaims)?;
    Ok(VerifiedJws {
        header,
        claims,
        alg,
        key: key.clone(),
    })
}

/// The claims of a compact JWS **without verifying anything** but its shape: only to find
/// out who claims to have signed it (e.g. the `sub` of a client assertion sent without
/// `client_id`), before [`verify`] with that party's keys.
pub fn unverified_claims(token: &str, max_len: usize) -> Option<Map<String, Value>> {
    let [_, p, _] = crate::token::split(token, max_len).ok()?;
    let payload = B64.decode(p).ok()?;
    json::check_no_duplicates(&payload).ok()?;
    serde_json::from_slice(&payload).ok()
}

/// A NumericDate claim (RFC 7519 §2): a JSON number, fractions rounded up; `None` when
/// absent or not a number.
pub fn numeric_date(claims: &Map<String, Value>, name: &str) -> Option<Result<i64, ()>> {
    match claims.get(name) {
        None => None,
        Some(Value::Number(n)) => Some(dpop::numeric_date(n).ok_or(())),
        Some(_) => Some(Err(())),
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::{
        rand::SystemRandom,
        signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair},
    };
    use serde_json::json;

    use super::*;

    fn ec() -> (EcdsaKeyPair, Value) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let pt = pair.public_key().as_ref();
        let jwk = json!({"kty":"EC","crv":"P-256","x":B64.encode(&pt[1..33]),"y":B64.encode(&pt[33..65])});
        (pair, jwk)
    }

    fn sign_ec(pair: &EcdsaKeyPair, header: Value, claims: Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    fn set(keys: Value) -> Result<PublicKeySet, JwksError> {
        PublicKeySet::from_jwks(
            json!({ "keys": keys }).to_string().as_bytes(),
            &JwksPolicy::CLIENT_KEYS,
        )
    }

    #[test]
    fn keys_are_bound_to_one_algorithm() {
        let (_, mut jwk) = ec();
        jwk["kid"] = "a".into();
        let s = set(json!([jwk])).unwrap();
        assert_eq!(s.keys()[0].alg(), ProofAlg::Es256);
        let ed = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let ed = Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap();
        let okp = json!({"kty":"OKP","crv":"Ed25519","x":B64.encode(ed.public_key().as_ref())});
        assert_eq!(set(json!([okp])).unwrap().keys()[0].alg(), ProofAlg::EdDsa);
        // An RSA key without alg is ambiguous: refused for clients.
        let rsa = json!({"kty":"RSA","n":B64.encode([0xc5u8; 256]),"e":"AQAB"});
        assert!(matches!(set(json!([rsa])), Err(JwksError::BadKey { .. })));
        let mut rsa_ps = rsa.clone();
        rsa_ps["alg"] = "PS256".into();
        assert_eq!(
            set(json!([rsa_ps])).unwrap().keys()[0].alg(),
            ProofAlg::Ps256
        );
        // Mismatch, private members, symmetric keys, duplicates, empty sets.
        let mut wrong = jwk.clone();
        wrong["alg"] = "RS256".into();
        assert!(set(json!([wrong])).is_err());
        let mut private = jwk.clone();
        private["d"] = "AAAA".into();
        assert!(set(json!([private])).is_err());
        assert!(set(json!([{"kty":"oct","k":"AAAA","alg":"HS256"}])).is_err());
        assert_eq!(
            set(json!([jwk, jwk])).unwrap_err(),
            JwksError::DuplicateKid("a".into())
        );
        assert_eq!(set(json!([])).unwrap_err(), JwksError::Empty);
    }

    /// C3: the header never picks the algorithm: `none`, HS256 keyed with the public key,
    /// an unknown kid, another key's signature, keys in the header.
    #[test]
    fn the_header_never_picks_the_key_or_the_algorithm() {
        let (pair, mut jwk) = ec();
        jwk["kid"] = "k1".into();
        let keys = set(json!([jwk.clone()])).unwrap();
        let claims = json!({"sub": "c"});
        let ok = sign_ec(&pair, json!({"alg":"ES256","kid":"k1"}), claims.clone());
        let v = verify(&ok, &keys, 8192).unwrap();
        assert_eq!(v.claims["sub"], "c");
        // Without kid: the keys of the header's algorithm are tried.
        let no_kid = sign_ec(&pair, json!({"alg":"ES256"}), claims.clone());
        assert!(verify(&no_kid, &keys, 8192).is_ok());

        let body = format!(
            "{}.{}",
            B64.encode(json!({"alg":"none","kid":"k1"}).to_string()),
            B64.encode(claims.to_string())
        );
        assert_eq!(
            verify(&format!("{body}."), &keys, 8192).unwrap_err(),
            JwsError::Malformed
        );
        assert_eq!(
            verify(&format!("{body}.AAAA"), &keys, 8192).unwrap_err(),
            JwsError::UnsupportedAlgorithm
        );
        // HS256 keyed with the public key's bytes (the classic confusion).
        let input = format!(
            "{}.{}",
            B64.encode(json!({"alg":"HS256","kid":"k1"}).to_string()),
            B64.encode(claims.to_string())
        );
        let hkey =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, jwk.to_string().as_bytes());
        let tag = aws_lc_rs::hmac::sign(&hkey, input.as_bytes());
        let hs = format!("{input}.{}", B64.encode(tag.as_ref()));
        assert_eq!(
            verify(&hs, &keys, 8192).unwrap_err(),
            JwsError::UnsupportedAlgorithm
        );
        // A registered key, the header claiming another algorithm.
        let ps = sign_ec(&pair, json!({"alg":"PS256","kid":"k1"}), claims.clone());
        assert_eq!(
            verify(&ps, &keys, 8192).unwrap_err(),
            JwsError::AlgorithmMismatch
        );
        let unknown = sign_ec(&pair, json!({"alg":"ES256","kid":"k2"}), claims.clone());
        assert_eq!(
            verify(&unknown, &keys, 8192).unwrap_err(),
            JwsError::UnknownKey
        );
        let (other, _) = ec();
        let foreign = sign_ec(&other, json!({"alg":"ES256","kid":"k1"}), claims.clone());
        assert_eq!(
            verify(&foreign, &keys, 8192).unwrap_err(),
            JwsError::BadSignature
        );
        let with_jwk = sign_ec(
            &pair,
            json!({"alg":"ES256","kid":"k1","jwk":jwk}),
            claims.clone(),
        );
        assert_eq!(
            verify(&with_jwk, &keys, 8192).unwrap_err(),
            JwsError::ForbiddenHeader
        );
        let dup = format!(
            "{}.{}",
            B64.encode(r#"{"alg":"ES256","kid":"k1","kid":"k1"}"#),
            B64.encode(claims.to_string())
        );
        assert_eq!(
            verify(&format!("{dup}.AAAA"), &keys, 8192).unwrap_err(),
            JwsError::InvalidHeader
        );
        assert_eq!(verify(&ok, &keys, 10).unwrap_err(), JwsError::TooLarge(10));
    }
}
