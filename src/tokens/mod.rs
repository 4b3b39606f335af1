//! Token issuance: RFC 9068 JWT access tokens signed with the keyring.

pub mod claims;
pub mod verify;

use std::sync::Arc;

use aws_lc_rs::rand::SecureRandom;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};

pub use claims::{AccessClaims, Audience, Confirmation, IdClaims};

use crate::{
    clock::SharedClock,
    error::{Error, Result},
    keys::{Alg, Keyring},
};

/// What a grant asks the issuer to put in an access token.
#[derive(Debug, Clone)]
pub struct AccessTokenRequest<'a> {
    pub subject: &'a str,
    pub client_id: &'a str,
    pub audience: &'a [String],
    /// Granted scopes, space-separated ("" for none).
    pub scope: &'a str,
    pub ttl_secs: i64,
    pub alg: Alg,
    /// Roles of a user subject.
    pub roles: Option<&'a [String]>,
    /// Custom claims of a user subject.
    pub extra: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// The DPoP proof key's thumbprint: the token is bound to it (`cnf.jkt`, RFC 9449 §6).
    pub dpop_jkt: Option<&'a str>,
    /// RFC 8693 §4.1: who acts for the subject (token exchange only), nested for chains.
    pub act: Option<&'a serde_json::Value>,
}

/// What an ID token says.
#[derive(Debug, Clone)]
pub struct IdTokenRequest<'a> {
    pub subject: &'a str,
    pub client_id: &'a str,
    pub auth_time: i64,
    pub access_token: &'a str,
    pub nonce: Option<&'a str>,
    pub username: Option<&'a str>,
    pub ttl_secs: i64,
    pub alg: Alg,
}

/// A signed access token and the facts a response needs.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub jti: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub expires_in: i64,
}

/// `token_type` of a token response and of introspection: `DPoP` for a token bound to a
/// proof key (RFC 9449 §5), else `Bearer`. (Here rather than in `grants`, so that
/// `token_status`, which token exchange calls, does not depend on `grants`.)
pub fn token_type(dpop_jkt: Option<&str>) -> &'static str {
    if dpop_jkt.is_some() { "DPoP" } else { "Bearer" }
}

/// Signs tokens for one issuer.
pub struct TokenIssuer {
    issuer: String,
    keyring: Arc<Keyring>,
    clock: SharedClock,
}

impl TokenIssuer {
    pub fn new(issuer: String, keyring: Arc<Keyring>, clock: SharedClock) -> Self {
        Self {
            issuer,
            keyring,
            clock,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Builds, serialises and signs an access token (header `typ: at+jwt`).
    pub fn issue_access_token(&self, req: &AccessTokenRequest<'_>) -> Result<IssuedToken> {
        let now = self.clock.now();
        let jti = random_id(self.keyring.rng())?;
        let claims = AccessClaims {
            iss: &self.issuer,
            sub: req.subject,
            aud: Audience::from_slice(req.audience),
            exp: now + req.ttl_secs,
            iat: now,
            nbf: now,
            jti: &jti,
            client_id: req.client_id,
            scope: (!req.scope.is_empty()).then_some(req.scope),
            roles: req.roles,
            cnf: req.dpop_jkt.map(|jkt| Confirmation { jkt }),
            act: req.act,
            extra: req.extra.filter(|m| !m.is_empty()),
        };
        let payload = serde_json::to_vec(&claims).map_err(|e| Error::Crypto(e.to_string()))?;
        let token = self.keyring.sign(req.alg, now, |key| {
            let mut input =
                String::with_capacity(key.access_header_b64.len() + payload.len() * 4 / 3 + 400);
            input.push_str(&key.access_header_b64);
            input.push('.');
            B64.encode_string(&payload, &mut input);
            input
        })?;
        Ok(IssuedToken {
            token,
            jti,
            issued_at: now,
            expires_at: now + req.ttl_secs,
            expires_in: req.ttl_secs,
        })
    }
}

impl TokenIssuer {
    /// Signs an OIDC ID token (header `typ: JWT`).
    pub fn issue_id_token(&self, req: &IdTokenRequest<'_>) -> Result<String> {
        let now = self.clock.now();
        let at_hash = at_hash(req.access_token);
        let claims = IdClaims {
            iss: &self.issuer,
            sub: req.subject,
            aud: req.client_id,
            exp: now + req.ttl_secs,
            iat: now,
            auth_time: req.auth_time,
            at_hash: &at_hash,
            nonce: req.nonce,
            // Authorized party: the client (OIDC Core §2), for relying parties that check it.
            azp: Some(req.client_id),
            preferred_username: req.username,
        };
        let payload = serde_json::to_vec(&claims).map_err(|e| Error::Crypto(e.to_string()))?;
        self.keyring.sign(req.alg, now, |key| {
            let mut input = key.jwt_header_b64.clone();
            input.push('.');
            B64.encode_string(&payload, &mut input);
            input
        })
    }
}

/// OIDC `at_hash`: base64url of the left half of SHA-256 of the access token (both our
/// algorithms hash with SHA-256).
pub fn at_hash(access_token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    B64.encode(&d.as_ref()[..16])
}

/// Bytes of randomness in a token id (`jti`): 96 bits, base64url (16 characters).
///
/// Why not 128: a `jti` only has to be unique, not secret (it is in the signed token), and
/// 96 random bits make a collision unlikely (< 2^-32) until about 2^32 tokens are live at once.
/// Every revoked `jti` travels to every verifier in the revocation feed, where its entropy is
/// what gzip cannot shrink: 12 bytes instead of 16 per entry keeps a 100,000-entry first sync
/// under 1.5 MB on the wire (`bench/scale.sh`).
pub const TOKEN_ID_BYTES: usize = 12;

/// A fresh token id: [`TOKEN_ID_BYTES`] random bytes, base64url (16 characters).
pub fn random_id(rng: &dyn SecureRandom) -> Result<String> {
    let mut b = [0u8; TOKEN_ID_BYTES];
    rng.fill(&mut b)
        .map_err(|_| Error::Crypto("random generator failed".into()))?;
    Ok(B64.encode(b))
}
