//! DPoP proofs (RFC 9449): the one implementation of the proof check (§4.3), shared by
//! the Tessera token endpoint and by resource servers using [`Verifier::verify_request`].
//!
//! [`verify_proof`] is pure: it checks the proof's format, header, key, signature and
//! claims against [`ProofExpectations`], but keeps no state. The caller owns the `jti`
//! replay records and the server nonces (the verifier's own replay cache is in
//! `verify_request`).
//!
//! What is checked, in order:
//! 1. size (at most [`MAX_PROOF_LEN`] bytes) before any parsing; three non-empty segments of
//!    canonical unpadded base64url;
//! 2. header: one JSON object without duplicate members; `typ` exactly `dpop+jwt`; `alg`
//!    one of ES256, RS256, PS256, EdDSA (or its RFC 9864 name Ed25519; never `none`, never HMAC); no `crit`, `jku`,
//!    `x5u`, `x5c`, `b64`, `zip` or JWE parameter; a `jwk` object holding a public key
//!    only (no `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) whose type matches `alg`
//!    (EC P-256 for ES256, RSA of at least 2048 bits for RS256/PS256, OKP Ed25519 for EdDSA);
//! 3. signature with that key (aws-lc-rs);
//! 4. claims: one JSON object without duplicate members at any depth; `jti` (a non-empty
//!    string of at most [`MAX_JTI_LEN`] bytes), `htm`, `htu` (strings) and `iat` (a number)
//!    present; `htm` equal to the request method; `htu` without query or fragment (§4.2)
//!    and equal to the request URL compared per §4.3 (scheme and host case-insensitive,
//!    default port dropped, percent-encoding case normalised; the request's own query and
//!    fragment ignored); `iat` within `[now - max_age - leeway, now + leeway]`; when an
//!    access token is given, `ath` equal to [`access_token_hash`] of it; `nonce`, when
//!    present, a string (returned for the caller to check).
//!
//! [`Verifier::verify_request`]: crate::Verifier::verify_request

use std::fmt;

use aws_lc_rs::{
    digest::{SHA256, digest},
    signature::{
        ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
        RSA_PSS_2048_8192_SHA256, VerificationAlgorithm,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Map, Value};

use crate::json;

/// Longest accepted proof (checked before any parsing): room for a 4096-bit RSA key and
/// signature with generous claims.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// Longest accepted `jti` (bytes).
pub const MAX_JTI_LEN: usize = 256;

/// Header parameters never accepted in a proof: the key must come from `jwk` only, and
/// nothing may change how the JWS is processed.
const FORBIDDEN_HEADERS: [&str; 16] = [
    "crit", "jku", "x5u", "x5c", "b64", "zip", "enc", "cty", "epk", "apu", "apv", "iv", "tag",
    "p2s", "p2c", "url",
];

/// JWK members that only a private (or symmetric) key has.
pub(crate) const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What the caller expects of a proof.
#[derive(Debug, Clone, Copy)]
pub struct ProofExpectations<'a> {
    /// HTTP method, compared exactly (uppercase).
    pub method: &'a str,
    /// External URL of the request; compared per §4.3 (scheme/host case-insensitive,
    /// default port normalised, query and fragment ignored).
    pub url: &'a str,
    /// `Some` => the proof must carry `ath` = b64url(SHA-256(token)).
    pub access_token: Option<&'a str>,
    /// Unix seconds (injected time).
    pub now: i64,
    /// Seconds: `iat` must be within `[now - max_age - leeway, now + leeway]`.
    pub max_age: i64,
    /// Clock-skew allowance, seconds.
    pub leeway: i64,
}

/// A proof that passed every check of [`verify_proof`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// RFC 7638 SHA-256 thumbprint of the proof key, base64url.
    pub jkt: String,
    /// The proof's `jti` (at most [`MAX_JTI_LEN`] bytes).
    pub jti: String,
    /// The proof's `iat` (fractions rounded up).
    pub iat: i64,
    /// The proof's `nonce`, checked by the caller (server nonces), not here.
    pub nonce: Option<String>,
    /// The proof's algorithm.
    pub alg: ProofAlg,
}

/// The proof signature algorithms accepted (RFC 9449 §4.2; never `none`, never HMAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProofAlg {
    /// ECDSA P-256 with SHA-256, 64-byte `r || s` signatures.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, keys of at least 2048 bits.
    Rs256,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256, keys of at least 2048 bits.
    Ps256,
    /// Ed25519.
    EdDsa,
}

impl ProofAlg {
    /// Every accepted algorithm, in the order advertised (discovery
    /// `dpop_signing_alg_values_supported`, `WWW-Authenticate ... algs`).
    pub const ALL: [ProofAlg; 4] = [
        ProofAlg::Es256,
        ProofAlg::Rs256,
        ProofAlg::Ps256,
        ProofAlg::EdDsa,
    ];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProofAlg::Es256 => "ES256",
            ProofAlg::Rs256 => "RS256",
            ProofAlg::Ps256 => "PS256",
            ProofAlg::EdDsa => "EdDSA",
        }
    }

    /// Exact, case-sensitive match against the allow-list. `Ed25519`, the fully-specified
    /// name of RFC 9864 (sent by oauth4webapi / openid-client for Ed25519 keys), is the
    /// same algorithm as `EdDSA` with an Ed25519 key.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "Ed25519" => Some(ProofAlg::EdDsa),
            _ => ProofAlg::ALL.into_iter().find(|a| a.as_str() == name),
        }
    }

    /// Every accepted `alg` header value: the names of [`ALL`](Self::ALL) plus `Ed25519`
    /// (RFC 9864), for discovery (`dpop_signing_alg_values_supported`).
    pub const NAMES: [&'static str; 5] = ["ES256", "RS256", "PS256", "EdDSA", "Ed25519"];

    /// [`NAMES`](Self::NAMES) space-separated, for `WWW-Authenticate: DPoP algs="..."`.
    pub fn all_names() -> &'static str {
        "ES256 RS256 PS256 EdDSA Ed25519"
    }

    fn verification(self) -> &'static dyn VerificationAlgorithm {
        match self {
            ProofAlg::Es256 => &ECDSA_P256_SHA256_FIXED,
            ProofAlg::Rs256 => &RSA_PKCS1_2048_8192_SHA256,
            ProofAlg::Ps256 => &RSA_PSS_2048_8192_SHA256,
            ProofAlg::EdDsa => &ED25519,
        }
    }
}

impl fmt::Display for ProofAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a proof was refused. `Display` is a safe client-facing description (it never
/// echoes proof content); the OAuth error code is always `invalid_dpop_proof`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// Longer than [`MAX_PROOF_LEN`].
    #[error("the DPoP proof is too large")]
    TooLarge,
    /// Not a compact JWS of canonical unpadded base64url segments.
    #[error("the DPoP proof is not a compact JWS")]
    Malformed,
    /// The header is not one JSON object without duplicate members, or a member has the
    /// wrong type.
    #[error("the DPoP proof header is not valid")]
    InvalidHeader,
    /// `typ` is not exactly `dpop+jwt`.
    #[error("the DPoP proof typ must be dpop+jwt")]
    WrongType,
    /// `alg` is missing or not ES256, RS256, PS256 or EdDSA.
    #[error("the DPoP proof alg is not supported")]
    UnsupportedAlgorithm,
    /// A header parameter that is never accepted (`crit`, `jku`, `x5c`...).
    #[error("the DPoP proof header has a parameter that is not allowed")]
    ForbiddenHeader,
    /// No `jwk` header, or not an object.
    #[error("the DPoP proof has no jwk")]
    MissingJwk,
    /// The `jwk` holds private key members.
    #[error("the DPoP proof jwk must be a public key")]
    PrivateKey,
    /// The `jwk` is not a usable public key (unknown type or curve, bad coordinates,
    /// RSA below 2048 bits...).
    #[error("the DPoP proof jwk is not a valid public key")]
    InvalidJwk,
    /// The `jwk` type does not match `alg`.
    #[error("the DPoP proof alg does not match its jwk")]
    AlgorithmMismatch,
    /// The signature does not verify with the `jwk`.
    #[error("the DPoP proof signature is invalid")]
    BadSignature,
    /// The claims are not one JSON object without duplicate members.
    #[error("the DPoP proof claims are not valid JSON")]
    InvalidClaims,
    /// A required claim is absent.
    #[error("the DPoP proof has no {0} claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an invalid value (e.g. an empty or over-long `jti`).
    #[error("the DPoP proof {0} claim is invalid")]
    InvalidClaim(&'static str),
    /// `htm` is not the request method.
    #[error("the DPoP proof htm does not match the request method")]
    WrongMethod,
    /// `htu` is not the request URL, or carries a query or fragment.
    #[error("the DPoP proof htu does not match the request URL")]
    WrongUrl,
    /// `iat` is older than the accepted window.
    #[error("the DPoP proof is too old")]
    Stale,
    /// `iat` is in the future (beyond the leeway).
    #[error("the DPoP proof is issued in the future")]
    IssuedInFuture,
    /// An access token was presented but the proof has no `ath`.
    #[error("the DPoP proof has no ath")]
    MissingAth,
    /// `ath` is not the hash of the presented access token.
    #[error("the DPoP proof ath does not match the access token")]
    WrongAth,
}

impl ProofError {
    /// The RFC 9449 §7.1 error code.
    pub fn error_code(&self) -> &'static str {
        "invalid_dpop_proof"
    }
}

/// b64url(SHA-256(access_token)), for `ath`.
pub fn access_token_hash(token: &str) -> String {
    B64.encode(digest(&SHA256, token.as_bytes()))
}

/// RFC 7638 thumbprint of a public JWK (EC P-256, RSA, OKP Ed25519): b64url(SHA-256) of
/// the required members in lexicographic order. Private members, other key types or
/// curves, and non-string or non-base64url members are refused.
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, ProofError> {
    let m = jwk.as_object().ok_or(ProofError::MissingJwk)?;
    if PRIVATE_MEMBERS.iter().any(|p| m.contains_key(*p)) {
        return Err(ProofError::PrivateKey);
    }
    Ok(thumbprint(&key_members(m)?))
}

/// The key-defining members of a JWK, checked for type and encoding.
pub(crate) enum KeyMembers<'a> {
    Ec { x: &'a str, y: &'a str },
    Rsa { n: &'a str, e: &'a str },
    Ed25519 { x: &'a str },
}

fn member<'a>(m: &'a Map<String, Value>, name: &str) -> Result<&'a str, ProofError> {
    match m.get(name) {
        Some(Value::String(s)) if !s.is_empty() && B64.decode(s).is_ok() => Ok(s),
        _ => Err(ProofError::InvalidJwk),
    }
}

pub(crate) fn key_members(m: &Map<String, Value>) -> Result<KeyMembers<'_>, ProofError> {
    let text = |name| match m.get(name) {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(ProofError::InvalidJwk),
    };
    match text("kty")? {
        "EC" => {
            if text("crv")? != "P-256" {
                return Err(ProofError::InvalidJwk);
            }
            Ok(KeyMembers::Ec {
                x: member(m, "x")?,
                y: member(m, "y")?,
            })
        }
        "RSA" => Ok(KeyMembers::Rsa {
            n: member(m, "n")?,
            e: member(m, "e")?,
        }),
        "OKP" => {
            if text("crv")? != "Ed25519" {
                return Err(ProofError::InvalidJwk);
            }
            Ok(KeyMembers::Ed25519 { x: member(m, "x")? })
        }
        _ => Err(ProofError::InvalidJwk),
    }
}

/// The canonical JSON of RFC 7638 §3.2 (values are base64url: no escaping needed).
pub(crate) fn thumbprint(k: &KeyMembers<'_>) -> String {
    let canonical = match k {
        KeyMembers::Ec { x, y } => format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
        KeyMembers::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
        KeyMembers::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
    };
    B64.encode(digest(&SHA256, canonical.as_bytes()))
}

/// Imports the proof key for `alg`.
pub(crate) fn import(alg: ProofAlg, k: &KeyMembers<'_>) -> Result<ParsedPublicKey, ProofError> {
    let dec = |s: &str| B64.decode(s).map_err(|_| ProofError::InvalidJwk);
    match (alg, k) {
        (ProofAlg::Es256, KeyMembers::Ec { x, y }) => {
            let (x, y) = (dec(x)?, dec(y)?);
            if x.len() != 32 || y.len() != 32 {
                return Err(ProofError::InvalidJwk);
            }
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            // Rejects points off the curve and the point at infinity.
            ParsedPublicKey::new(alg.verification(), &point).map_err(|_| ProofError::InvalidJwk)
        }
        (ProofAlg::Rs256 | ProofAlg::Ps256, KeyMembers::Rsa { n, e }) => {
            let (n, e) = (dec(n)?, dec(e)?);
            if n.first() == Some(&0) || e.first() == Some(&0) {
                return Err(ProofError::InvalidJwk);
            }
            let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
            if !(2048..=8192).contains(&bits) {
                return Err(ProofError::InvalidJwk);
            }
            if e.is_empty() || e.len() > 4 || e[e.len() - 1] & 1 == 0 || e == [1] {
                return Err(ProofError::InvalidJwk);
            }
            ParsedPublicKey::new(alg.verification(), crate::jwk::rsa_public_key_der(&n, &e))
                .map_err(|_| ProofError::InvalidJwk)
        }
        (ProofAlg::EdDsa, KeyMembers::Ed25519 { x }) => {
            let x = dec(x)?;
            if x.len() != 32 {
                return Err(ProofError::InvalidJwk);
            }
            ParsedPublicKey::new(alg.verification(), &x).map_err(|_| ProofError::InvalidJwk)
        }
        _ => Err(ProofError::AlgorithmMismatch),
    }
}

/// Verifies a DPoP proof JWT (RFC 9449 §4.3). Pure: no replay or nonce check (the caller
/// owns replay records and nonces).
pub fn verify_proof(
    proof: &str,
    expect: &ProofExpectations<'_>,
) -> Result<VerifiedProof, ProofError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::TooLarge);
    }
    let [h, p, s] = crate::token::split(proof, MAX_PROOF_LEN).map_err(|_| ProofError::Malformed)?;
    let header_bytes = B64.decode(h).map_err(|_| ProofError::Malformed)?;
    json::check_no_duplicates(&header_bytes).map_err(|_| ProofError::InvalidHeader)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&header_bytes).map_err(|_| ProofError::InvalidHeader)?;

    match header.get("typ") {
        Some(Value::String(t)) if t == "dpop+jwt" => {}
        _ => return Err(ProofError::WrongType),
    }
    let alg = match header.get("alg") {
        Some(Value::String(a)) => ProofAlg::from_name(a).ok_or(ProofError::UnsupportedAlgorithm)?,
        _ => return Err(ProofError::UnsupportedAlgorithm),
    };
    if FORBIDDEN_HEADERS.iter().any(|f| header.contains_key(*f)) {
        return Err(ProofError::ForbiddenHeader);
    }
    let jwk = match header.get("jwk") {
        Some(Value::Object(m)) => m,
        _ => return Err(ProofError::MissingJwk),
    };
    if PRIVATE_MEMBERS.iter().any(|p| jwk.contains_key(*p)) {
        return Err(ProofError::PrivateKey);
    }
    let members = key_members(jwk)?;
    let key = import(alg, &members)?;

    let signature = B64.decode(s).map_err(|_| ProofError::Malformed)?;
    if matches!(alg, ProofAlg::Es256 | ProofAlg::EdDsa) && signature.len() != 64 {
        return Err(ProofError::BadSignature);
    }
    let signing_input = &proof.as_bytes()[..h.len() + 1 + p.len()];
    key.verify_sig(signing_input, &signature)
        .map_err(|_| ProofError::BadSignature)?;

    let payload = B64.decode(p).map_err(|_| ProofError::Malformed)?;
    json::check_no_duplicates(&payload).map_err(|_| ProofError::InvalidClaims)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&payload).map_err(|_| ProofError::InvalidClaims)?;

    let string = |name: &'static str| match claims.get(name) {
        None => Err(ProofError::MissingClaim(name)),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(_) => Err(ProofError::InvalidClaim(name)),
    };
    let jti = string("jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(ProofError::InvalidClaim("jti"));
    }
    let htm = string("htm")?;
    let htu = string("htu")?;
    let iat = match claims.get("iat") {
        None => return Err(ProofError::MissingClaim("iat")),
        Some(Value::Number(n)) => numeric_date(n).ok_or(ProofError::InvalidClaim("iat"))?,
        Some(_) => return Err(ProofError::InvalidClaim("iat")),
    };
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ProofError::InvalidClaim("nonce")),
    };

    if htm != expect.method {
        return Err(ProofError::WrongMethod);
    }
    // §4.2: htu is the target URI "without query and fragment parts".
    if htu.contains(['?', '#']) {
        return Err(ProofError::WrongUrl);
    }
    match (normalize_url(htu), normalize_url(expect.url)) {
        (Some(a), Some(b)) if a == b => {}
        _ => return Err(ProofError::WrongUrl),
    }
    let leeway = expect.leeway.max(0);
    if iat > expect.now.saturating_add(leeway) {
        return Err(ProofError::IssuedInFuture);
    }
    if iat
        < expect
            .now
            .saturating_sub(expect.max_age.max(0))
            .saturating_sub(leeway)
    {
        return Err(ProofError::Stale);
    }
    if let Some(token) = expect.access_token {
        match claims.get("ath") {
            None => return Err(ProofError::MissingAth),
            Some(Value::String(a)) => {
                if *a != access_token_hash(token) {
                    return Err(ProofError::WrongAth);
                }
            }
            Some(_) => return Err(ProofError::InvalidClaim("ath")),
        }
    }
    Ok(VerifiedProof {
        jkt: thumbprint(&members),
        jti: jti.to_owned(),
        iat,
        nonce,
        alg,
    })
}

/// A NumericDate rounded up (towards "newer", the stricter side for the future check);
/// `None` for non-finite values. Out-of-range values saturate.
pub(crate) fn numeric_date(n: &serde_json::Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        Some(i)
    } else if n.is_u64() {
        Some(i64::MAX)
    } else {
        n.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.ceil() as i64)
    }
}

/// An `http`/`https` URL reduced for comparison (RFC 3986 §6.2.2, §6.2.3): scheme and
/// host lowercased, default port dropped, empty path as `/`, percent-encodings
/// uppercased and unreserved characters decoded, query and fragment removed. `None` for
/// anything else (other schemes, userinfo, a missing host, invalid ports).
pub fn normalize_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    // IPv6 literals keep their colons inside brackets.
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    if host.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    out.push_str(&scheme);
    out.push_str("://");
    out.push_str(&host.to_ascii_lowercase());
    if let Some(port) = port {
        if port.is_empty() {
            // "host:" is the default port (RFC 3986 §6.2.3).
        } else {
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let digits = port.trim_start_matches('0');
            let n: u32 = if digits.is_empty() {
                0
            } else if digits.len() > 5 {
                return None;
            } else {
                digits.parse().ok()?
            };
            if n > 65535 {
                return None;
            }
            let n = n.to_string();
            if n != default_port {
                out.push(':');
                out.push_str(&n);
            }
        }
    }
    normalize_path(path, &mut out)?;
    Some(out)
}

fn normalize_path(path: &str, out: &mut String) -> Option<()> {
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(hex, 16).ok()?;
            if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                out.push(v as char);
            } else {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            let c = path[i..].chars().next()?;
            out.push(c);
            i += c.len_utf8();
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_per_rfc3986_normalisation() {
        let n = |u: &str| normalize_url(u);
        assert_eq!(
            n("HTTPS://API.Example.com:443/a/%7euser/%2f"),
            n("https://api.example.com/a/~user/%2F")
        );
        assert_eq!(n("https://api.example.com"), n("https://api.example.com/"));
        assert_eq!(n("http://h:80/x"), n("http://h/x"));
        assert_eq!(n("https://h:/x"), n("https://h/x"));
        assert_ne!(n("https://h:8443/x"), n("https://h/x"));
        assert_ne!(n("http://h/x"), n("https://h/x"));
        assert_ne!(n("https://h/X"), n("https://h/x"));
        assert_eq!(n("https://h/x?a=1#f"), n("https://h/x"));
        assert_eq!(
            n("https://[::1]:8443/x").as_deref(),
            Some("https://[::1]:8443/x")
        );
        assert_eq!(n("https://[::1]/x").as_deref(), Some("https://[::1]/x"));
        assert_eq!(n("ftp://h/x"), None);
        assert_eq!(n("https://u@h/x"), None);
        assert_eq!(n("https:///x"), None);
        assert_eq!(n("https://h:99999/x"), None);
        assert_eq!(n("https://h:x/x"), None);
        assert_eq!(n("https://h/%zz"), None);
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        let mut private = jwk.clone();
        private["d"] = "AQAB".into();
        assert_eq!(jwk_thumbprint(&private), Err(ProofError::PrivateKey));
        assert_eq!(
            jwk_thumbprint(&serde_json::json!({"kty":"oct","k":"AAAA"})),
            Err(ProofError::PrivateKey)
        );
        assert_eq!(
            jwk_thumbprint(&serde_json::json!({"kty":"EC","crv":"P-384","x":"AA","y":"AA"})),
            Err(ProofError::InvalidJwk)
        );
    }

    #[test]
    fn ath_is_b64url_sha256() {
        // RFC 9449 §7.1 example token and its ath.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn algs_list() {
        assert_eq!(ProofAlg::NAMES.join(" "), ProofAlg::all_names());
        for a in ProofAlg::ALL {
            assert!(ProofAlg::NAMES.contains(&a.as_str()));
        }
        for n in ProofAlg::NAMES {
            assert!(ProofAlg::from_name(n).is_some());
        }
        assert_eq!(ProofAlg::from_name("EdDSA"), Some(ProofAlg::EdDsa));
        assert_eq!(ProofAlg::from_name("Ed25519"), Some(ProofAlg::EdDsa));
        assert_eq!(ProofAlg::from_name("none"), None);
        assert_eq!(ProofAlg::from_name("HS256"), None);
        assert_eq!(ProofAlg::from_name("es256"), None);
    }
}
