//! The in-memory keyring: what signs, and the JWKS that publishes it.
//!
//! A [`Snapshot`] holds exactly the published keys and the JWKS bytes built from those
//! same keys, swapped atomically (arc-swap) when the key table changes. A token is signed
//! with a key taken from the snapshot whose JWKS is being served, which is what makes
//! "no token signed by a key absent from the JWKS" true by construction. Signing never
//! takes a lock or touches the database.

use std::sync::Arc;

use arc_swap::ArcSwap;
use aws_lc_rs::rand::SystemRandom;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};

use super::{
    Alg,
    custody::{KeyBackend, Signer},
    material::PublicJwk,
};
use crate::error::{Error, Result};

/// A published key that can sign.
#[derive(Debug)]
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    pub activates_at: i64,
    pub jwk: PublicJwk,
    key: Signer,
    /// base64url of `{"alg":..,"kid":..,"typ":"at+jwt"}`, computed once.
    pub access_header_b64: String,
    /// base64url of `{"alg":..,"kid":..,"typ":"JWT"}` (ID tokens), computed once.
    pub jwt_header_b64: String,
}

impl SigningKey {
    /// `jwk` is the stored public key; `key` signs with its private half, wherever it is.
    pub fn new(kid: String, activates_at: i64, jwk: PublicJwk, key: Signer) -> Result<Self> {
        let alg: Alg = jwk.alg.parse().map_err(Error::Crypto)?;
        let header = |typ: &str| {
            B64.encode(format!(
                r#"{{"alg":"{}","kid":"{}","typ":"{}"}}"#,
                alg.as_str(),
                kid,
                typ
            ))
        };
        Ok(Self {
            access_header_b64: header("at+jwt"),
            jwt_header_b64: header("JWT"),
            kid,
            alg,
            activates_at,
            jwk,
            key,
        })
    }

    pub fn sign(&self, rng: &SystemRandom, msg: &[u8]) -> Result<Vec<u8>> {
        self.key.sign(rng, msg)
    }

    /// Verifies a JWS signature made with this key (the algorithm is the key's own), with
    /// the published public key: the same check for every backend.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        super::material::verify_with_jwk(&self.jwk, msg, sig)
    }

    /// Which backend holds the private key.
    pub fn backend(&self) -> KeyBackend {
        self.key.backend()
    }
}

/// An immutable view of the published keys.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Published keys, newest activation first.
    keys: Vec<Arc<SigningKey>>,
    /// The JWKS document, serialised once.
    pub jwks: bytes::Bytes,
    /// Strong ETag of `jwks`.
    pub etag: String,
}

impl Snapshot {
    pub fn new(mut keys: Vec<Arc<SigningKey>>) -> Self {
        keys.sort_by(|a, b| b.activates_at.cmp(&a.activates_at).then(a.kid.cmp(&b.kid)));
        let doc = serde_json::json!({ "keys": keys.iter().map(|k| &k.jwk).collect::<Vec<_>>() });
        let jwks = bytes::Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &jwks);
        let etag = format!("\"{}\"", B64.encode(&digest.as_ref()[..16]));
        Self { keys, jwks, etag }
    }

    /// The key that signs `alg` at `now`: the published key with the latest activation
    /// not after `now`.
    pub fn signer(&self, alg: Alg, now: i64) -> Option<&Arc<SigningKey>> {
        self.keys
            .iter()
            .find(|k| k.alg == alg && k.activates_at <= now)
    }

    pub fn keys(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }
}

/// Shared handle to the current snapshot.
#[derive(Debug, Default)]
pub struct Keyring {
    current: ArcSwap<Snapshot>,
    rng: SystemRandom,
}

impl Keyring {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn replace(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }

    pub fn rng(&self) -> &SystemRandom {
        &self.rng
    }

    /// Signs with the current key for `alg`: `signing_input` builds `header.payload` for
    /// that key (its `kid` goes in the header), and the whole compact JWS
    /// `header.payload.signature` is returned.
    pub fn sign(
        &self,
        alg: Alg,
        now: i64,
        signing_input: impl FnOnce(&SigningKey) -> String,
    ) -> Result<String> {
        let snap = self.current.load();
        let key = snap
            .signer(alg, now)
            .ok_or(Error::NoSigningKey(alg.as_str()))?;
        let mut token = signing_input(key);
        let sig = key.sign(&self.rng, token.as_bytes())?;
        token.push('.');
        B64.encode_string(sig, &mut token);
        Ok(token)
    }
}
