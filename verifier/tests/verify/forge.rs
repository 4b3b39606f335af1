//! Token forging for tests and benchmarks: real aws-lc-rs keys, hand-built headers.
#![allow(dead_code)]

use std::sync::OnceLock;

use aws_lc_rs::{
    rand::SystemRandom,
    rsa::KeySize,
    signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};

pub const ISS: &str = "https://auth.test";
pub const AUD: &str = "orders";

pub enum Key {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

pub struct Signer {
    pub kid: String,
    pub alg: &'static str,
    pub key: Key,
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Signer {
    pub fn es256(kid: &str) -> Signer {
        Signer {
            kid: kid.into(),
            alg: "ES256",
            key: Key::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap()),
        }
    }

    pub fn rs256(kid: &str) -> Signer {
        Signer {
            kid: kid.into(),
            alg: "RS256",
            key: Key::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap()),
        }
    }

    /// The public JWK (with `alg` and `use`).
    pub fn jwk(&self) -> Value {
        match &self.key {
            Key::Ec(kp) => {
                let p = kp.public_key().as_ref();
                json!({"kty":"EC","crv":"P-256","kid":self.kid,"use":"sig","alg":"ES256",
                       "x":b64(&p[1..33]),"y":b64(&p[33..65])})
            }
            Key::Rsa(kp) => {
                let p = kp.public_key();
                json!({"kty":"RSA","kid":self.kid,"use":"sig","alg":"RS256",
                       "n":b64(p.modulus().big_endian_without_leading_zero()),
                       "e":b64(p.exponent().big_endian_without_leading_zero())})
            }
        }
    }

    pub fn sign_raw(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Ec(kp) => kp.sign(&rng, msg).unwrap().as_ref().to_vec(),
            Key::Rsa(kp) => {
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig).unwrap();
                sig
            }
        }
    }

    /// The standard header of our issuer.
    pub fn header(&self) -> Value {
        json!({"alg":self.alg,"kid":self.kid,"typ":"at+jwt"})
    }

    /// Signs exact JSON texts (to test duplicates, odd encodings...).
    pub fn token_raw(&self, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let sig = self.sign_raw(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    pub fn token_with(&self, header: &Value, claims: &Value) -> String {
        self.token_raw(&header.to_string(), &claims.to_string())
    }

    /// A valid token with the standard header.
    pub fn token(&self, claims: &Value) -> String {
        self.token_with(&self.header(), claims)
    }
}

/// A valid claim set for `ISS`/`AUD` at `now`.
pub fn claims(now: i64) -> Value {
    json!({"iss":ISS,"sub":"alice","aud":AUD,"exp":now+300,"iat":now,"nbf":now,
           "jti":"jti-1","client_id":"svc","scope":"orders:read orders:write","roles":["admin"]})
}

pub fn jwks(signers: &[&Signer]) -> String {
    json!({"keys": signers.iter().map(|s| s.jwk()).collect::<Vec<_>>()}).to_string()
}

/// Keys shared by all tests of one binary (RSA generation is slow).
pub fn es() -> &'static Signer {
    static K: OnceLock<Signer> = OnceLock::new();
    K.get_or_init(|| Signer::es256("es-1"))
}

pub fn rs() -> &'static Signer {
    static K: OnceLock<Signer> = OnceLock::new();
    K.get_or_init(|| Signer::rs256("rs-1"))
}
