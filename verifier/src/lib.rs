//! # tessera-verify
//!
//! Strict, fast verification of RFC 9068 JWT access tokens issued by Tessera (or any
//! issuer that signs ES256/RS256 `at+jwt` tokens and publishes a JWK Set).
//!
//! ```no_run
//! # async fn demo(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use tessera_verify::Verifier;
//!
//! let verifier = Verifier::builder()
//!     .issuer("https://auth.internal")
//!     .audience("orders")
//!     .build()
//!     .await?;
//! let claims = verifier.verify(token).await?;
//! if claims.has_scope("orders:read") {
//!     println!("hello {}", claims.sub());
//! }
//! # Ok(()) }
//! ```
//!
//! What is checked, in order (RFC 8725, RFC 9068 §4):
//! 1. size (default 8 KiB) before any parsing; exactly three non-empty segments of
//!    canonical unpadded base64url;
//! 2. header: one JSON object without duplicate members; `alg` exactly `ES256` or
//!    `RS256`; `typ` `at+jwt` or `application/at+jwt` (case-insensitive); a `kid`; no
//!    `crit`, `jwk`, `jku`, `x5u`, `x5c`, `x5t`, `zip`, `cty`, `b64` or JWE parameter;
//! 3. key: exact `kid` match in the cached JWK Set; the key's own algorithm must equal
//!    `alg` (a key is used with exactly one algorithm; there is no HMAC code path);
//! 4. signature (aws-lc-rs; ES256 signatures must be 64 raw bytes);
//! 5. claims: one JSON object without duplicate members at any depth; `iss`, `sub`, `aud`,
//!    `exp`, `iat`, `jti`, `client_id` present with the right types (time claims are JSON
//!    numbers); `iss` exactly ours; `aud` contains ours; `exp`/`nbf`/`iat` within the
//!    leeway (default 60 s, at most 300 s);
//! 6. revocation lists, when the feed is enabled.
//!
//! DPoP-bound tokens (RFC 9449): [`Verifier::verify_request`] checks a whole request
//! (`Authorization: Bearer` or `DPoP` with a `DPoP` proof: proof signature and claims, the
//! key thumbprint against `cnf.jkt`, `ath`, and a bounded `jti` replay cache); a token with
//! `cnf` is never accepted as a bearer token, not even by [`Verifier::verify`]. The proof
//! check alone is [`dpop::verify_proof`].
//!
//! Integrations (features, off by default): `poem` ([`poem::TesseraAuth`]) and `tower`
//! ([`tower::TesseraLayer`], for axum, tonic and hyper).

mod claims;
pub mod dpop;
mod error;
pub mod fetch;
mod json;
mod jwk;
pub mod jws;
mod replay;
mod request;
mod revocation;
mod token;
mod verifier;

#[cfg(any(feature = "poem", feature = "tower"))]
mod bearer;
#[cfg(feature = "poem")]
pub mod poem;
#[cfg(feature = "tower")]
pub mod tower;

pub use claims::{Actor, Claims, decode_unverified};
pub use error::{Error, Escaped, Part, VerifyError};
pub use jwk::Alg;
pub use request::{RequestError, RequestParts, Scheme};
pub use revocation::RevocationFeed;
pub use verifier::{Given, MAX_LEEWAY, Missing, Stats, Verifier, VerifierBuilder};

#[cfg(any(feature = "poem", feature = "tower"))]
pub use bearer::Requirements;

/// Internals exposed for the benchmarks and fuzz targets; not a stable API.
#[doc(hidden)]
pub mod __private {
    /// Format and header checks only (no key, no signature).
    pub fn parse_only(token: &str, max_len: usize) -> Result<(), crate::VerifyError> {
        crate::token::parse(token, max_len).map(|_| ())
    }
    /// Imports a JWK Set and checks one signature with the key `kid`.
    pub fn verify_raw(
        jwks: &[u8],
        kid: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, crate::Error> {
        let set = crate::jwk::KeySet::from_json(jwks)?;
        Ok(set.get(kid).is_some_and(|k| k.verify(message, signature)))
    }
}
