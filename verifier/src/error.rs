//! Errors: [`VerifyError`] says why one token was rejected (for logs and metrics);
//! [`Error`] says why a verifier could not be built or refreshed.

use std::fmt;

/// The part of a token a format error was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Header,
    Payload,
    Signature,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Header => "header",
            Part::Payload => "payload",
            Part::Signature => "signature",
        })
    }
}

/// Why a token was rejected.
///
/// The `Display` text is meant for logs: it names the failed check but never contains the
/// token, and attacker-controlled values (alg, typ, header names) are escaped and truncated.
/// Answer HTTP clients with [`VerifyError::public_message`] and
/// [`VerifyError::error_code`] instead (RFC 6750 §3.1), which reveal nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Longer than the configured size limit (checked before any parsing).
    #[error("token is longer than the {limit}-byte limit")]
    TooLarge { limit: usize },
    /// Not a strict compact JWS: wrong number of segments, empty segment, or a character
    /// outside the base64url alphabet (padding, `+`, `/`, whitespace...).
    #[error("token is not a compact JWS: {0}")]
    Malformed(&'static str),
    /// A segment is not canonical unpadded base64url.
    #[error("token {0} is not canonical unpadded base64url")]
    Base64(Part),
    /// The header or payload is not one JSON object, has duplicate members, is nested too
    /// deeply, or is not UTF-8.
    #[error("token {part} is not a valid JSON object: {detail}")]
    Json { part: Part, detail: String },
    /// `alg` is missing or not on the allow-list (RS256, ES256): `none`, HS*, PS*...
    #[error("algorithm {0} is not allowed")]
    UnsupportedAlgorithm(Escaped),
    /// A header parameter that is never accepted: `crit`, `jwk`, `jku`, `x5u`, `x5c`,
    /// `x5t`, `zip`, `enc`, `cty`, `b64`, JWE parameters...
    #[error("header parameter {0} is not allowed")]
    ForbiddenHeader(Escaped),
    /// A header member has the wrong JSON type (e.g. a numeric `kid`).
    #[error("header parameter {0} has the wrong type")]
    InvalidHeader(&'static str),
    /// `typ` is missing or is not `at+jwt` / `application/at+jwt` (RFC 9068 §4).
    #[error("typ {0} is not at+jwt")]
    WrongType(Escaped),
    /// The header has no `kid`.
    #[error("token has no kid")]
    MissingKid,
    /// No key with this `kid` (after at most one refetch per cooldown window).
    #[error("no verification key has this kid")]
    UnknownKey,
    /// The header `alg` is not the algorithm of the key with this `kid`.
    #[error("token alg {token} does not match the key's alg {key}")]
    AlgorithmMismatch {
        token: &'static str,
        key: &'static str,
    },
    /// Wrong length or invalid signature.
    #[error("signature is invalid")]
    BadSignature,
    /// A required claim is absent.
    #[error("claim {0} is missing")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type (e.g. `"exp":"9999999999"`); never treated as absent.
    #[error("claim {0} has the wrong type")]
    InvalidClaim(&'static str),
    /// `iss` is not exactly the configured issuer.
    #[error("issuer does not match")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("audience does not contain ours")]
    WrongAudience,
    /// `exp` has passed (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not valid yet (nbf)")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token was issued in the future (iat)")]
    IssuedInFuture,
    /// The revocation feed lists this `jti`.
    #[error("token has been revoked (jti)")]
    Revoked,
    /// The token was issued before its subject's `not_before` in the revocation feed.
    #[error("token was issued before the subject's revocation time")]
    SubjectRevoked,
    /// The cached keys are older than the staleness bound and the issuer is unreachable.
    #[error("verification keys are stale: the issuer has been unreachable for too long")]
    KeysUnavailable,
    /// The revocation feed has been unreachable longer than the configured bound.
    #[error("revocation feed is stale")]
    RevocationUnavailable,
    /// The token is sender-constrained (`cnf`, e.g. DPoP-bound) and was checked without
    /// its proof: use [`Verifier::verify_request`](crate::Verifier::verify_request).
    #[error("token is bound to a key (cnf) and needs a proof of possession")]
    SenderConstrained,
}

impl VerifyError {
    /// The RFC 6750 error code for a `WWW-Authenticate: Bearer` challenge.
    pub fn error_code(&self) -> &'static str {
        "invalid_token"
    }

    /// A message safe to show to a client: it does not say which check failed.
    pub fn public_message(&self) -> &'static str {
        "The access token is invalid"
    }
}

/// An attacker-controlled string, escaped and cut to 40 characters for logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Escaped(String);

impl Escaped {
    pub(crate) fn new(s: &str) -> Self {
        let mut out: String = s.chars().take(40).collect();
        if s.chars().nth(40).is_some() {
            out.push('…');
        }
        Escaped(out)
    }
    pub(crate) fn absent() -> Self {
        Escaped("(absent)".into())
    }
    /// The (truncated) value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Escaped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Escaped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Why a verifier could not be built, or a key / revocation fetch failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Invalid configuration (empty issuer or audience, leeway above 300 s, plain `http://`
    /// to a non-loopback host...).
    #[error("invalid verifier configuration: {0}")]
    Config(String),
    /// The discovery document is unusable (wrong `issuer`, no `jwks_uri`...).
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// The JWK Set is unusable (invalid JSON, no usable key...).
    #[error("invalid JWK Set: {0}")]
    Jwks(String),
    /// An HTTP request failed (network, status, size cap, timeout).
    #[error("fetching {url} failed: {detail}")]
    Fetch { url: String, detail: String },
    /// The revocation feed answered something unusable.
    #[error("revocation feed: {0}")]
    Revocation(String),
}
