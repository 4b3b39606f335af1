//! Whole-request verification ([`Verifier::verify_request`]): the `Authorization` header
//! (`Bearer` or `DPoP` scheme) and the `DPoP` proof, with RFC 6750 / RFC 9449 §7.1
//! answers.
//!
//! [`Verifier::verify_request`]: crate::Verifier::verify_request

use crate::{dpop::ProofAlg, dpop::ProofError, error::VerifyError};

/// The parts of an HTTP request that carry credentials.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The HTTP method (`GET`, `POST`...), compared exactly with the proof's `htm`.
    pub method: &'a str,
    /// The request's URL **as the client sees it** (behind a proxy: the public URL, not
    /// the internal one), compared with the proof's `htu`; its query is ignored.
    pub url: &'a str,
    /// The `Authorization` header, when there is exactly one. Callers must refuse
    /// requests with several (the middlewares answer 400 `invalid_request`).
    pub authorization: Option<&'a str>,
    /// The `DPoP` header, when there is exactly one. Several are refused by the
    /// middlewares with `invalid_dpop_proof` (RFC 9449 §4.3 step 1); callers of
    /// [`verify_request`](crate::Verifier::verify_request) must do the same.
    pub dpop: Option<&'a str>,
}

/// The authentication scheme of a request or of a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RFC 6750.
    Bearer,
    /// RFC 9449.
    DPoP,
}

impl Scheme {
    /// The scheme name as sent in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer",
            Scheme::DPoP => "DPoP",
        }
    }
}

/// Why a request is refused. [`status`](Self::status) and
/// [`www_authenticate`](Self::www_authenticate) give the RFC 6750 / RFC 9449 §7.1 answer;
/// `Display` is for logs (it never contains the token or the proof).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No `Authorization` header with the `Bearer` or `DPoP` scheme: 401 with bare
    /// challenges (no error code, RFC 6750 §3.1).
    #[error("no access token")]
    NoCredentials {
        /// Whether plain bearer tokens are accepted (else only the DPoP challenge).
        bearer_allowed: bool,
    },
    /// A malformed `Authorization` header: 400 `invalid_request`.
    #[error("malformed Authorization header")]
    InvalidRequest {
        /// The scheme of the challenge.
        scheme: Scheme,
    },
    /// The access token itself is invalid: 401 `invalid_token`.
    #[error("access token rejected: {reason}")]
    InvalidToken {
        /// The scheme the token was presented with.
        scheme: Scheme,
        /// Why (for logs).
        reason: VerifyError,
    },
    /// A sender-constrained token (`cnf`) presented as a bearer token (RFC 9449 §7.2,
    /// no downgrade): 401 `DPoP error="invalid_token"`.
    #[error("a DPoP-bound token was presented as a bearer token")]
    BoundTokenAsBearer,
    /// A token without `cnf.jkt` presented with the DPoP scheme, or a `cnf` binding this
    /// crate cannot check: 401 `DPoP error="invalid_token"`.
    #[error("the token is not bound to a DPoP key")]
    NotDpopBound,
    /// A plain bearer token while the verifier requires DPoP: 401 `DPoP error="invalid_token"`.
    #[error("DPoP is required")]
    DpopRequired,
    /// DPoP scheme without a `DPoP` header, or with several: 401 `invalid_dpop_proof`.
    #[error("the DPoP proof is missing or repeated")]
    MissingProof,
    /// The proof failed a check of RFC 9449 §4.3: 401 `invalid_dpop_proof`.
    #[error("DPoP proof rejected: {0}")]
    InvalidProof(ProofError),
    /// The proof key is not the key the token is bound to (`cnf.jkt`): 401
    /// `invalid_dpop_proof`.
    #[error("the DPoP proof key is not the token's key")]
    KeyMismatch,
    /// The proof's `jti` was already used within its window: 401 `invalid_dpop_proof`.
    #[error("the DPoP proof was replayed")]
    Replayed,
    /// The nonce check refused the proof's `nonce` (or its absence): 401
    /// `use_dpop_nonce` with this fresh nonce in a `DPoP-Nonce` header (RFC 9449 §9).
    #[error("a fresh DPoP nonce is required")]
    UseNonce {
        /// The nonce to send in `DPoP-Nonce`.
        nonce: String,
    },
    /// The replay cache is full of live entries: 503 (refusing is safer than forgetting).
    #[error("the DPoP replay cache is full")]
    ReplayCacheFull,
}

impl RequestError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::InvalidRequest { .. } => 400,
            RequestError::ReplayCacheFull => 503,
            _ => 401,
        }
    }

    /// The scheme of the challenge.
    pub fn scheme(&self) -> Scheme {
        match self {
            RequestError::NoCredentials { bearer_allowed } => {
                if *bearer_allowed {
                    Scheme::Bearer
                } else {
                    Scheme::DPoP
                }
            }
            RequestError::InvalidRequest { scheme } | RequestError::InvalidToken { scheme, .. } => {
                *scheme
            }
            _ => Scheme::DPoP,
        }
    }

    /// The OAuth error code, when there is one.
    pub fn error_code(&self) -> Option<&'static str> {
        Some(match self {
            RequestError::NoCredentials { .. } | RequestError::ReplayCacheFull => return None,
            RequestError::InvalidRequest { .. } => "invalid_request",
            RequestError::InvalidToken { .. }
            | RequestError::BoundTokenAsBearer
            | RequestError::NotDpopBound
            | RequestError::DpopRequired => "invalid_token",
            RequestError::MissingProof
            | RequestError::InvalidProof(_)
            | RequestError::KeyMismatch
            | RequestError::Replayed => "invalid_dpop_proof",
            RequestError::UseNonce { .. } => "use_dpop_nonce",
        })
    }

    /// A description safe to show to the client (it does not say which token check failed).
    pub fn public_message(&self) -> &'static str {
        match self {
            RequestError::NoCredentials { .. } => "An access token is required",
            RequestError::InvalidRequest { .. } => "Malformed Authorization header",
            RequestError::InvalidToken { .. } => "The access token is invalid",
            RequestError::BoundTokenAsBearer => {
                "The access token is bound to a key: use the DPoP scheme with a proof"
            }
            RequestError::NotDpopBound => "The access token is not bound to a DPoP key",
            RequestError::DpopRequired => "A DPoP-bound access token is required",
            RequestError::MissingProof => "Exactly one DPoP proof is required",
            RequestError::InvalidProof(e) => proof_message(e),
            RequestError::KeyMismatch => "The DPoP proof key is not the access token's key",
            RequestError::Replayed => "The DPoP proof has already been used",
            RequestError::UseNonce { .. } => "A fresh DPoP nonce is required",
            RequestError::ReplayCacheFull => "Try again later",
        }
    }

    /// The fresh nonce to send in a `DPoP-Nonce` header (for `use_dpop_nonce`).
    pub fn dpop_nonce(&self) -> Option<&str> {
        match self {
            RequestError::UseNonce { nonce } => Some(nonce),
            _ => None,
        }
    }

    /// The `WWW-Authenticate` values of the answer (one header each), RFC 6750 §3 and
    /// RFC 9449 §7.1, e.g. `DPoP error="invalid_dpop_proof", error_description="...",
    /// algs="ES256 RS256 PS256 EdDSA Ed25519"`. A request without credentials gets the `Bearer`
    /// challenge (when bearer tokens are accepted) **and** a `DPoP` one.
    pub fn www_authenticate(&self, realm: Option<&str>) -> Vec<String> {
        let code = self.error_code();
        // `invalid_request` keeps its bare RFC 6750 form (as before DPoP support).
        let description = match self {
            RequestError::InvalidRequest { .. } => None,
            _ => code.map(|_| self.public_message()),
        };
        match self {
            RequestError::NoCredentials {
                bearer_allowed: true,
            } => vec![
                challenge(Scheme::Bearer, realm, None, None, None),
                challenge(Scheme::DPoP, realm, None, None, None),
            ],
            RequestError::ReplayCacheFull => vec![],
            _ => vec![challenge(self.scheme(), realm, code, description, None)],
        }
    }

    /// A small JSON body (never echoes the token).
    pub fn json_body(&self) -> String {
        let mut s = String::from("{\"error\":");
        push_json_str(&mut s, self.error_code().unwrap_or("unauthorized"));
        s.push_str(",\"error_description\":");
        push_json_str(&mut s, self.public_message());
        s.push('}');
        s
    }
}

fn push_json_str(out: &mut String, v: &str) {
    out.push_str(&serde_json::Value::from(v).to_string());
}

/// Client-facing descriptions of proof errors (fixed strings: nothing from the proof).
fn proof_message(e: &ProofError) -> &'static str {
    match e {
        ProofError::WrongMethod => "The DPoP proof htm does not match the request method",
        ProofError::WrongUrl => "The DPoP proof htu does not match the request URL",
        ProofError::Stale => "The DPoP proof is too old",
        ProofError::IssuedInFuture => "The DPoP proof is issued in the future",
        ProofError::MissingAth => "The DPoP proof has no ath",
        ProofError::WrongAth => "The DPoP proof ath does not match the access token",
        ProofError::BadSignature => "The DPoP proof signature is invalid",
        _ => "The DPoP proof is invalid",
    }
}

/// One challenge: `Scheme realm="..", error="..", error_description="..", scope="..",
/// algs=".."` (DPoP challenges always carry `algs`).
pub(crate) fn challenge(
    scheme: Scheme,
    realm: Option<&str>,
    error: Option<&str>,
    description: Option<&str>,
    scope: Option<&str>,
) -> String {
    let mut s = String::from(scheme.as_str());
    let mut params: Vec<(&str, &str)> = Vec::new();
    if let Some(r) = realm {
        params.push(("realm", r));
    }
    if let Some(e) = error {
        params.push(("error", e));
    }
    if let Some(d) = description {
        params.push(("error_description", d));
    }
    if let Some(sc) = scope {
        params.push(("scope", sc));
    }
    if scheme == Scheme::DPoP {
        params.push(("algs", ProofAlg::all_names()));
    }
    for (i, (k, v)) in params.iter().enumerate() {
        s.push_str(if i == 0 { " " } else { ", " });
        s.push_str(k);
        s.push_str("=\"");
        for c in v.chars() {
            // Quoted-string: escape quote and backslash; drop control characters.
            if c == '"' || c == '\\' {
                s.push('\\');
            }
            if !c.is_control() {
                s.push(c);
            }
        }
        s.push('"');
    }
    s
}

/// Splits `Authorization` into scheme and token (RFC 7235 token68, one token).
pub(crate) fn parse_authorization(value: &str) -> Result<Option<(Scheme, &str)>, Scheme> {
    let (scheme_name, rest) = match value.split_once(' ') {
        Some(x) => x,
        None => (value, ""),
    };
    let scheme = if scheme_name.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme_name.eq_ignore_ascii_case("dpop") {
        Scheme::DPoP
    } else {
        // Another scheme (Basic...): no credentials of ours at all.
        return Ok(None);
    };
    let token = rest.trim_matches(' ');
    if token.is_empty() || token.contains(' ') {
        return Err(scheme);
    }
    Ok(Some((scheme, token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc9449_section_7_1() {
        assert_eq!(
            RequestError::NoCredentials {
                bearer_allowed: true
            }
            .www_authenticate(Some("api")),
            vec![
                r#"Bearer realm="api""#.to_string(),
                r#"DPoP realm="api", algs="ES256 RS256 PS256 EdDSA Ed25519""#.to_string()
            ]
        );
        assert_eq!(
            RequestError::BoundTokenAsBearer.www_authenticate(None),
            vec![
                r#"DPoP error="invalid_token", error_description="The access token is bound to a key: use the DPoP scheme with a proof", algs="ES256 RS256 PS256 EdDSA Ed25519""#
            ]
        );
        assert_eq!(
            RequestError::Replayed.www_authenticate(None)[0],
            r#"DPoP error="invalid_dpop_proof", error_description="The DPoP proof has already been used", algs="ES256 RS256 PS256 EdDSA Ed25519""#
        );
        let nonce = RequestError::UseNonce { nonce: "n1".into() };
        assert_eq!(nonce.dpop_nonce(), Some("n1"));
        assert!(nonce.www_authenticate(None)[0].starts_with(r#"DPoP error="use_dpop_nonce""#));
        assert_eq!(
            RequestError::InvalidToken {
                scheme: Scheme::Bearer,
                reason: VerifyError::Expired
            }
            .www_authenticate(None)[0],
            r#"Bearer error="invalid_token", error_description="The access token is invalid""#
        );
        assert_eq!(RequestError::ReplayCacheFull.status(), 503);
        assert_eq!(
            RequestError::Replayed.json_body(),
            r#"{"error":"invalid_dpop_proof","error_description":"The DPoP proof has already been used"}"#
        );
        assert_eq!(
            challenge(Scheme::Bearer, Some("a\"b\\\n"), None, None, None),
            r#"Bearer realm="a\"b\\""#
        );
    }

    #[test]
    fn authorization_schemes() {
        assert_eq!(
            parse_authorization("DPoP abc"),
            Ok(Some((Scheme::DPoP, "abc")))
        );
        assert_eq!(
            parse_authorization("dpop  abc"),
            Ok(Some((Scheme::DPoP, "abc")))
        );
        assert_eq!(
            parse_authorization("bearer abc"),
            Ok(Some((Scheme::Bearer, "abc")))
        );
        assert_eq!(parse_authorization("Basic abc"), Ok(None));
        assert_eq!(parse_authorization("DPoP"), Err(Scheme::DPoP));
        assert_eq!(parse_authorization("DPoP a b"), Err(Scheme::DPoP));
        assert_eq!(parse_authorization("Bearer"), Err(Scheme::Bearer));
    }
}
