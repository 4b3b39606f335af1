//! Key material: generation, PKCS#8 (de)serialisation, signing, public JWK and RFC 7638
//! thumbprint.
//!
//! All private-key operations go through aws-lc-rs (constant-time, OpenSSL-speed; see
//! `docs/crypto-limits.md`), never through the `rsa` crate (RUSTSEC-2023-0071).

use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    rsa::KeySize,
    signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde::{Deserialize, Serialize};

use super::Alg;
use crate::error::{Error, Result};

/// A private key ready to sign.
pub enum PrivateKey {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

impl std::fmt::Debug for PrivateKey {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrivateKey::Es256(_) => f.write_str("PrivateKey(ES256, redacted)"),
            PrivateKey::Rs256(_) => f.write_str("PrivateKey(RS256, redacted)"),
        }
    }
}

/// A public key as published in the JWKS (RFC 7517): public members only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
}

impl PrivateKey {
    /// Generates a fresh key. RSA generation takes ~0.1–0.5 s: call it off the async workers.
    pub fn generate(alg: Alg, rsa_bits: u32) -> Result<(PrivateKey, Vec<u8>)> {
        let pkcs8 = match alg {
            Alg::ES256 => {
                let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| Error::Crypto("P-256 key generation failed".into()))?;
                kp.to_pkcs8v1()
                    .map_err(|_| Error::Crypto("P-256 key encoding failed".into()))?
                    .as_ref()
                    .to_vec()
            }
            Alg::RS256 => {
                let size = match rsa_bits {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    other => return Err(Error::Config(format!("unsupported RSA size {other}"))),
                };
                let kp = RsaKeyPair::generate(size)
                    .map_err(|_| Error::Crypto("RSA key generation failed".into()))?;
                let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp)
                    .map_err(|_| Error::Crypto("RSA key encoding failed".into()))?;
                der.as_ref().to_vec()
            }
        };
        let key = PrivateKey::from_pkcs8(alg, &pkcs8)?;
        Ok((key, pkcs8))
    }

    /// Parses an unencrypted PKCS#8 document.
    pub fn from_pkcs8(alg: Alg, pkcs8: &[u8]) -> Result<PrivateKey> {
        match alg {
            Alg::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .map(PrivateKey::Es256)
                .map_err(|e| Error::Crypto(format!("invalid P-256 key: {e}"))),
            Alg::RS256 => {
                let kp = RsaKeyPair::from_pkcs8(pkcs8)
                    .map_err(|e| Error::Crypto(format!("invalid RSA key: {e}")))?;
                if kp.public_modulus_len() * 8 < 2048 {
                    return Err(Error::Crypto("RSA key shorter than 2048 bits".into()));
                }
                Ok(PrivateKey::Rs256(kp))
            }
        }
    }

    pub fn alg(&self) -> Alg {
        match self {
            PrivateKey::Es256(_) => Alg::ES256,
            PrivateKey::Rs256(_) => Alg::RS256,
        }
    }

    /// Signs `msg` and returns the JWS signature bytes (raw r||s for ES256).
    pub fn sign(&self, rng: &SystemRandom, msg: &[u8]) -> Result<Vec<u8>> {
        match self {
            PrivateKey::Es256(kp) => kp
                .sign(rng, msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| Error::Crypto("ES256 signing failed".into())),
            PrivateKey::Rs256(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, rng, msg, &mut sig)
                    .map_err(|_| Error::Crypto("RS256 signing failed".into()))?;
                Ok(sig)
            }
        }
    }

    /// The public JWK with `kid` set to the RFC 7638 thumbprint.
    pub fn public_jwk(&self) -> PublicJwk {
        let mut jwk = match self {
            PrivateKey::Es256(kp) => {
                // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
                let point = kp.public_key().as_ref();
                PublicJwk {
                    kty: "EC".into(),
                    crv: Some("P-256".into()),
                    x: Some(B64.encode(&point[1..33])),
                    y: Some(B64.encode(&point[33..65])),
                    n: None,
                    e: None,
                    kid: String::new(),
                    use_: "sig".into(),
                    alg: "ES256".into(),
                }
            }
            PrivateKey::Rs256(kp) => {
                let public = kp.public_key();
                PublicJwk {
                    kty: "RSA".into(),
                    crv: None,
                    x: None,
                    y: None,
                    n: Some(B64.encode(public.modulus().big_endian_without_leading_zero())),
                    e: Some(B64.encode(public.exponent().big_endian_without_leading_zero())),
                    kid: String::new(),
                    use_: "sig".into(),
                    alg: "RS256".into(),
                }
            }
        };
        jwk.kid = thumbprint(&jwk);
        jwk
    }
}

/// Verifies a JWS signature with a published public JWK (ES256: raw r||s).
pub fn verify_with_jwk(jwk: &PublicJwk, msg: &[u8], sig: &[u8]) -> Result<()> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
        UnparsedPublicKey,
    };
    let bad = || Error::Crypto("signature does not verify".into());
    let field = |v: &Option<String>| {
        v.as_deref()
            .and_then(|s| B64.decode(s).ok())
            .ok_or_else(|| Error::Crypto(format!("malformed public key {}", jwk.kid)))
    };
    match jwk.alg.as_str() {
        "ES256" => {
            let mut point = vec![0x04];
            point.extend(field(&jwk.x)?);
            point.extend(field(&jwk.y)?);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(msg, sig)
                .map_err(|_| bad())
        }
        "RS256" => RsaPublicKeyComponents {
            n: field(&jwk.n)?,
            e: field(&jwk.e)?,
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, msg, sig)
        .map_err(|_| bad()),
        other => Err(Error::Crypto(format!("unsupported alg {other}"))),
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url): the hash of the required public members
/// in lexicographic order, serialised without whitespace.
pub fn thumbprint(jwk: &PublicJwk) -> String {
    // serde_json escapes strings exactly as RFC 7638 §3 requires for these ASCII values.
    let s =
        |v: &Option<String>| serde_json::to_string(v.as_deref().unwrap_or("")).unwrap_or_default();
    let canonical = match jwk.kty.as_str() {
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            s(&jwk.crv),
            s(&jwk.x),
            s(&jwk.y)
        ),
        _ => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, s(&jwk.e), s(&jwk.n)),
    };
    B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 7638 §3.1.
    #[test]
    fn rfc7638_example_thumbprint() {
        let jwk = PublicJwk {
            kty: "RSA".into(),
            crv: None,
            x: None,
            y: None,
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into()),
            e: Some("AQAB".into()),
            kid: String::new(),
            use_: "sig".into(),
            alg: "RS256".into(),
        };
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn generated_keys_round_trip_and_sign() {
        let rng = SystemRandom::new();
        for alg in Alg::ALL {
            let (key, pkcs8) = PrivateKey::generate(alg, 2048).unwrap();
            let again = PrivateKey::from_pkcs8(alg, &pkcs8).unwrap();
            assert_eq!(key.public_jwk(), again.public_jwk());
            let sig = key.sign(&rng, b"msg").unwrap();
            assert_eq!(sig.len(), if alg == Alg::ES256 { 64 } else { 256 });
            let jwk = key.public_jwk();
            verify_with_jwk(&jwk, b"msg", &sig).unwrap();
            assert!(verify_with_jwk(&jwk, b"other", &sig).is_err());
            assert_eq!(jwk.kid.len(), 43);
            assert_eq!(jwk.alg, alg.as_str());
        }
    }

    #[test]
    fn debug_never_prints_key_material() {
        let (key, _) = PrivateKey::generate(Alg::ES256, 2048).unwrap();
        assert_eq!(format!("{key:?}"), "PrivateKey(ES256, redacted)");
    }
}
