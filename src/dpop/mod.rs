//! DPoP (RFC 9449) at the issuer: which proofs a request must carry and what they bind.
//!
//! The proof itself (`typ`, `alg`, public `jwk`, signature, `htm`/`htu`/`iat`/`ath`) is
//! checked by the one implementation in `tessera_verify::dpop::verify_proof`; this module
//! adds what only the server can do: server nonces ([`nonces`], §8) and single use of each
//! proof across instances ([`crate::replay`], §11.1). Nothing here knows about HTTP: the
//! handlers pass the `DPoP` header values they received.

pub mod nonces;

use std::sync::Arc;

use tessera_verify::dpop::{ProofAlg, ProofExpectations, VerifiedProof, verify_proof};

use crate::{
    clients::Client,
    clock::SharedClock,
    config::{DpopNonceMode, Settings},
    error::OAuthError,
    replay::{Purpose, Recorded, ReplayRecords},
};

pub use nonces::NonceKeys;

/// The token endpoint's path (its external URL is the issuer followed by it).
pub const TOKEN_PATH: &str = "/oauth/token";
/// The UserInfo endpoint's path.
pub const USERINFO_PATH: &str = "/userinfo";

/// `error_description` of a DPoP-bound token sent as `Bearer` or without a proof (D4).
pub const BOUND_TOKEN_NEEDS_PROOF: &str =
    "a DPoP-bound access token is used with the DPoP scheme and a proof";
/// `error_description` of `use_dpop_nonce` at a resource (D6).
pub const PROOF_NEEDS_NONCE: &str = "the DPoP proof must carry the server nonce";

/// The bare `DPoP` challenge, offered beside `Bearer` when no token was sent (§7.1).
pub fn challenge_algs() -> String {
    format!(r#"DPoP algs="{}""#, ProofAlg::all_names())
}

/// `WWW-Authenticate` challenge of a resource refusing a DPoP request (§7.1).
pub fn challenge(error: &str, description: &str) -> String {
    format!(
        r#"DPoP error="{error}", error_description="{description}", algs="{}""#,
        ProofAlg::all_names()
    )
}

/// Why a proof was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofRefused {
    /// `invalid_dpop_proof`, with a safe description.
    Invalid(String),
    /// `use_dpop_nonce`: retry with the nonce of the `DPoP-Nonce` header.
    UseNonce,
    /// The replay records could not be written (503).
    Unavailable(bool),
}

impl From<ProofRefused> for OAuthError {
    fn from(r: ProofRefused) -> Self {
        match r {
            ProofRefused::Invalid(m) => OAuthError::InvalidDpopProof(m.into()),
            ProofRefused::UseNonce => OAuthError::UseDpopNonce,
            ProofRefused::Unavailable(true) => OAuthError::TemporarilyUnavailable,
            ProofRefused::Unavailable(false) => OAuthError::ServerError,
        }
    }
}

/// A request's `DPoP` headers: zero or one proof, never more (§4.3 check 1).
pub fn single_proof<'a>(proofs: &[&'a str]) -> Result<Option<&'a str>, ProofRefused> {
    match proofs {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(ProofRefused::Invalid(
            "more than one DPoP header was sent".into(),
        )),
    }
}

/// The issuer's DPoP service (in `Context`).
pub struct Dpop {
    nonces: NonceKeys,
    replay: Arc<ReplayRecords>,
    clock: SharedClock,
    issuer: String,
    /// `dpop_proof_max_age`, seconds.
    max_age: i64,
    /// `clock_leeway`, seconds.
    leeway: i64,
    /// `dpop_nonce = "required"`.
    nonce_always: bool,
}

impl Dpop {
    pub fn new(
        settings: &Settings,
        nonces: NonceKeys,
        replay: Arc<ReplayRecords>,
        clock: SharedClock,
    ) -> Self {
        Self {
            nonces,
            replay,
            clock,
            issuer: settings.issuer.clone(),
            max_age: settings.dpop_proof_max_age.as_secs() as i64,
            leeway: settings.clock_leeway.as_secs() as i64,
            nonce_always: settings.dpop_nonce == DpopNonceMode::Required,
        }
    }

    /// The external URL of one of our endpoints (issuer-based; `htu` is compared to it).
    pub fn endpoint_url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The server nonce to hand out now (`DPoP-Nonce`).
    pub fn nonce(&self) -> String {
        self.nonces.current(self.clock.now())
    }

    /// Whether every DPoP proof must carry a server nonce (`dpop_nonce = "required"`).
    pub fn nonce_always(&self) -> bool {
        self.nonce_always
    }

    /// Checks one proof for `method` and `url` (and `access_token` at a resource), then the
    /// server nonce when `nonce_required`, then records its `jti` (single use within the
    /// proof's lifetime, across instances). Only a proof that passed all three is returned.
    pub async fn accept_proof(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce_required: bool,
    ) -> Result<VerifiedProof, ProofRefused> {
        let now = self.clock.now();
        let proof = verify_proof(
            proof,
            &ProofExpectations {
                method,
                url,
                access_token,
                now,
                max_age: self.max_age,
                leeway: self.leeway,
            },
        )
        .map_err(|e| {
            tracing::info!(reason = %e, "DPoP proof refused");
            ProofRefused::Invalid(e.to_string())
        })?;
        if nonce_required
            && !proof
                .nonce
                .as_deref()
                .is_some_and(|n| self.nonces.is_valid(n, now))
        {
            return Err(ProofRefused::UseNonce);
        }
        // Past this time the proof is refused as stale anyway.
        let expires_at = proof.iat + self.max_age + self.leeway;
        match self
            .replay
            .record_once(Purpose::DpopProof, &proof.jkt, &proof.jti, expires_at)
            .await
        {
            Ok(Recorded::Fresh) => Ok(proof),
            Ok(Recorded::Replayed) => {
                tracing::warn!(jkt = %proof.jkt, "DPoP proof replayed");
                Err(ProofRefused::Invalid(
                    "the DPoP proof has already been used".into(),
                ))
            }
            Err(e) => Err(ProofRefused::Unavailable(e.is_unavailable())),
        }
    }

    /// The token endpoint's DPoP step (§5): the proof key's thumbprint when the request
    /// carries a valid proof, `None` when it carries none and the client may do without
    /// (`dpop_bound_access_tokens` unset).
    pub async fn token_request(
        &self,
        client: &Client,
        proofs: &[&str],
    ) -> Result<Option<String>, OAuthError> {
        let Some(proof) = single_proof(proofs)? else {
            if client.dpop_bound_access_tokens {
                return Err(OAuthError::InvalidDpopProof(
                    "this client must send a DPoP proof".into(),
                ));
            }
            return Ok(None);
        };
        let nonce_required = self.nonce_always || client.dpop_nonce_required;
        let url = self.endpoint_url(TOKEN_PATH);
        let proof = self
            .accept_proof(proof, "POST", &url, None, nonce_required)
            .await?;
        Ok(Some(proof.jkt))
    }
}
