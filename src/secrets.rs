//! Random values and the hashing of high-entropy secrets: client secrets, refresh tokens,
//! authorization codes, session ids and CSRF tokens are all made here and stored (when
//! stored at all) as SHA-256 hashes compared in constant time.

use aws_lc_rs::{
    digest,
    rand::{SecureRandom, SystemRandom},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// SHA-256 of a secret. Secrets are 256-bit random, so a fast hash is the right tool: a slow
/// KDF would add nothing against guessing and only cost throughput.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// [`hash_secret`] as lowercase hex, the form stored in the database.
pub fn hash_secret_hex(secret: &str) -> String {
    hex(&hash_secret(secret))
}

/// Whether two secret hashes are equal, compared in constant time (every byte, wherever
/// they differ).
pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// Whether two secret strings are equal, in time independent of where they differ (the
/// length may show).
pub fn strings_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// `n` random bytes, base64url without padding.
pub fn random_token(n: usize) -> Result<String> {
    let mut b = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Error::Crypto("random generator failed".into()))?;
    Ok(B64.encode(b))
}

/// Lowercase hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The 32 bytes of a 64-character hex string, if it is one.
pub fn hex_decode_32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hashed_and_hex_round_trips() {
        let h = hash_secret("s3cret");
        assert_eq!(hex_decode_32(&hex(&h)), Some(h));
        assert_eq!(hash_secret_hex("s3cret"), hex(&h));
        assert_ne!(hex(&h), "s3cret");
        assert!(hex_decode_32("zz").is_none());
    }

    /// T11: secrets are compared with `subtle::ConstantTimeEq`.
    #[test]
    fn secret_comparison_is_constant_time_eq() {
        let a = hash_secret("a");
        let b = hash_secret("b");
        assert!(hashes_equal(&a, &a));
        assert!(!hashes_equal(&a, &b));
        assert!(strings_equal("csrf", "csrf"));
        assert!(!strings_equal("csrf", "csrg"));
    }

    #[test]
    fn random_tokens_have_the_promised_entropy() {
        let t = random_token(32).unwrap();
        assert_eq!(t.len(), 43);
        assert_ne!(t, random_token(32).unwrap());
    }
}
