//! Server nonces for DPoP proofs (RFC 9449 §8), stateless: the nonce of time step `t`
//! (`t = now / dpop_nonce_rotation`) is `base64url(HMAC-SHA256(key, "dpop-nonce" ‖ t))`,
//! truncated to 128 bits, under a key derived from the KEK. Every instance sharing the KEK
//! computes the same nonces, so no instance stores or shares any; a nonce is accepted in
//! its own step and the next one (it lives between one and two rotation intervals). When
//! the KEK rotates, nonces made under the previous KEK (still listed) are accepted too.

use aws_lc_rs::hmac;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};

use crate::{
    error::{Error, Result},
    keys::Kek,
    secrets::strings_equal,
};

/// HKDF `info` of the nonce key (see `Kek::derive`).
const HKDF_INFO: &[u8] = b"tessera dpop-nonce v1";

/// Makes and checks server nonces.
pub struct NonceKeys {
    /// The first key makes nonces; all of them check.
    keys: Vec<hmac::Key>,
    /// Seconds per step (`dpop_nonce_rotation`).
    step: i64,
}

impl NonceKeys {
    /// Keys derived from the KEK(s): every instance sharing the KEK agrees.
    pub fn from_kek(kek: &Kek, rotation_secs: u64) -> Result<Self> {
        Ok(Self::from_raw(&kek.derive(HKDF_INFO)?, rotation_secs))
    }

    /// A random key (no KEK: the CLI, the OpenAPI document).
    pub fn random(rotation_secs: u64) -> Result<Self> {
        let k: [u8; 32] = {
            use aws_lc_rs::rand::SecureRandom;
            let mut k = [0u8; 32];
            aws_lc_rs::rand::SystemRandom::new()
                .fill(&mut k)
                .map_err(|_| Error::Crypto("random generator failed".into()))?;
            k
        };
        Ok(Self::from_raw(&[k], rotation_secs))
    }

    fn from_raw(raw: &[[u8; 32]], rotation_secs: u64) -> Self {
        Self {
            keys: raw
                .iter()
                .map(|k| hmac::Key::new(hmac::HMAC_SHA256, k))
                .collect(),
            step: rotation_secs.max(1) as i64,
        }
    }

    fn nonce_with(key: &hmac::Key, step: i64) -> String {
        let mut ctx = hmac::Context::with_key(key);
        ctx.update(b"dpop-nonce");
        ctx.update(&step.to_be_bytes());
        B64.encode(&ctx.sign().as_ref()[..16])
    }

    /// The nonce to hand out at `now`.
    pub fn current(&self, now: i64) -> String {
        Self::nonce_with(&self.keys[0], now.div_euclid(self.step))
    }

    /// Whether `nonce` is the nonce of the current or the previous step (under any KEK).
    pub fn is_valid(&self, nonce: &str, now: i64) -> bool {
        let step = now.div_euclid(self.step);
        // Every candidate is compared, in constant time each.
        let mut ok = false;
        for key in &self.keys {
            for s in [step, step - 1] {
                ok |= strings_equal(nonce, &Self::nonce_with(key, s));
            }
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(text: &str) -> Kek {
        Kek::parse(text).unwrap()
    }

    /// D6: two instances sharing the KEK agree on nonces without sharing state; a nonce
    /// lives one to two steps; another KEK's nonces are refused.
    #[test]
    fn nonces_are_shared_by_kek_and_expire_after_two_steps() {
        let shared = Kek::generate_encoded().unwrap();
        let a = NonceKeys::from_kek(&kek(&shared), 300).unwrap();
        let b = NonceKeys::from_kek(&kek(&shared), 300).unwrap();
        let other = NonceKeys::from_kek(&kek(&Kek::generate_encoded().unwrap()), 300).unwrap();
        let now = 1_000_000;
        let n = a.current(now);
        assert_eq!(n, b.current(now));
        assert!(b.is_valid(&n, now));
        assert!(b.is_valid(&n, now + 300), "previous step still accepted");
        assert!(!b.is_valid(&n, now + 600), "two steps later: stale");
        assert!(!other.is_valid(&n, now));
        assert!(!a.is_valid("", now));
        assert!(!a.is_valid("not-a-nonce", now));
        assert_ne!(a.current(now), a.current(now + 300), "rotates");
    }

    /// KEK rotation: nonces made under the old KEK stay valid while it is listed.
    #[test]
    fn old_kek_nonces_survive_kek_rotation() {
        let old = Kek::generate_encoded().unwrap();
        let new = Kek::generate_encoded().unwrap();
        let before = NonceKeys::from_kek(&kek(&old), 60).unwrap();
        let after = NonceKeys::from_kek(&kek(&format!("{new},{old}")), 60).unwrap();
        let n = before.current(5_000);
        assert!(after.is_valid(&n, 5_000));
        assert_ne!(after.current(5_000), n);
    }
}
