//! Verification of tokens Tessera signed itself: access tokens (introspection, revocation,
//! UserInfo) and ID tokens given back as a logout hint. One core, [`verify_signature`],
//! does what both need: size limit, strict compact form, no `crit`, algorithm pinned by
//! the published key (never taken from the token). Keys come from the keyring snapshot,
//! so a revoked key verifies nothing. Each kind then checks its own `typ` and claims.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde::Deserialize;

use crate::keys::keyring::Snapshot;

/// Largest token accepted before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Claims of a verified access token.
#[derive(Debug, Clone, Deserialize)]
pub struct VerifiedAccess {
    pub iss: String,
    pub sub: String,
    pub aud: serde_json::Value,
    pub exp: i64,
    pub iat: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    pub jti: String,
    pub client_id: String,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// The confirmation of a DPoP-bound token (RFC 9449 §6).
    #[serde(default)]
    pub cnf: Option<VerifiedCnf>,
    /// RFC 8693 §4.1: the actor chain of an exchanged token.
    #[serde(default)]
    pub act: Option<serde_json::Value>,
    /// RFC 8693 §4.4: who may act for the subject (a custom claim of the user, copied
    /// into their tokens, or carried over by an exchange).
    #[serde(default)]
    pub may_act: Option<serde_json::Value>,
}

/// `cnf` of an access token we issued.
#[derive(Debug, Clone, Deserialize)]
pub struct VerifiedCnf {
    /// The thumbprint of the key the token is bound to.
    pub jkt: String,
}

impl VerifiedAccess {
    /// The DPoP key the token is bound to, if it is bound.
    pub fn jkt(&self) -> Option<&str> {
        self.cnf.as_ref().map(|c| c.jkt.as_str())
    }
}

/// The JOSE header members Tessera reads.
#[derive(Deserialize)]
pub struct Header {
    pub alg: String,
    pub kid: String,
    pub typ: Option<String>,
    pub crit: Option<serde_json::Value>,
}

/// Why a token did not verify (for logs; clients only ever learn "inactive").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Malformed,
    UnknownKey,
    Signature,
    WrongType,
    WrongIssuer,
    Expired,
    NotYetValid,
}

/// Checks the form and the signature of a compact JWS against the published keys, and
/// returns its header and its (still encoded) payload.
pub fn verify_signature<'t>(
    snapshot: &Snapshot,
    token: &'t str,
) -> Result<(Header, &'t str), Invalid> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Invalid::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Invalid::Malformed);
    };
    let header: Header = decode_json(h)?;
    if header.crit.is_some() {
        return Err(Invalid::Malformed);
    }
    let key = snapshot
        .keys()
        .iter()
        .find(|k| k.kid == header.kid)
        .ok_or(Invalid::UnknownKey)?;
    if header.alg != key.alg.as_str() {
        return Err(Invalid::Signature);
    }
    let sig = B64.decode(s).map_err(|_| Invalid::Malformed)?;
    let signed = &token[..h.len() + 1 + p.len()];
    key.verify(signed.as_bytes(), &sig)
        .map_err(|_| Invalid::Signature)?;
    Ok((header, p))
}

/// Verifies signature, type, issuer and times of an access token.
pub fn verify_access(
    snapshot: &Snapshot,
    issuer: &str,
    token: &str,
    now: i64,
    leeway: i64,
) -> Result<VerifiedAccess, Invalid> {
    let (header, payload) = verify_signature(snapshot, token)?;
    if !header.typ.is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")) {
        return Err(Invalid::WrongType);
    }
    let claims: VerifiedAccess = decode_json(payload)?;
    if claims.iss != issuer {
        return Err(Invalid::WrongIssuer);
    }
    if claims.exp + leeway <= now {
        return Err(Invalid::Expired);
    }
    if claims.nbf.unwrap_or(claims.iat) > now + leeway {
        return Err(Invalid::NotYetValid);
    }
    Ok(claims)
}

/// Claims of an ID token used as `id_token_hint`.
#[derive(Debug, Deserialize)]
pub struct HintClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
}

/// An ID token we issued (signature by a published key, `typ: JWT`, our issuer). Expiry is
/// not checked: OIDC RP-Initiated Logout §2 accepts expired hints.
pub fn verify_id_token_hint(
    snapshot: &Snapshot,
    issuer: &str,
    token: &str,
) -> Result<HintClaims, Invalid> {
    let (header, payload) = verify_signature(snapshot, token)?;
    if header.typ.as_deref() != Some("JWT") {
        return Err(Invalid::WrongType);
    }
    let claims: HintClaims = decode_json(payload)?;
    if claims.iss != issuer {
        return Err(Invalid::WrongIssuer);
    }
    Ok(claims)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, Invalid> {
    let bytes = B64.decode(part).map_err(|_| Invalid::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Invalid::Malformed)
}
