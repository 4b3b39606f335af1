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

/// A DPoP client key (RFC 9449): makes proofs with hand-built headers.
pub enum ProofKey {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
    Ps256(RsaKeyPair),
    EdDsa(aws_lc_rs::signature::Ed25519KeyPair),
}

impl ProofKey {
    pub fn es256() -> ProofKey {
        ProofKey::Es256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }
    pub fn rs256() -> ProofKey {
        ProofKey::Rs256(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }
    pub fn ps256() -> ProofKey {
        ProofKey::Ps256(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }
    pub fn eddsa() -> ProofKey {
        ProofKey::EdDsa(aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap())
    }

    pub fn alg(&self) -> &'static str {
        match self {
            ProofKey::Es256(_) => "ES256",
            ProofKey::Rs256(_) => "RS256",
            ProofKey::Ps256(_) => "PS256",
            ProofKey::EdDsa(_) => "EdDSA",
        }
    }

    /// The public JWK (required members only).
    pub fn jwk(&self) -> Value {
        match self {
            ProofKey::Es256(kp) => {
                let p = kp.public_key().as_ref();
                json!({"kty":"EC","crv":"P-256","x":b64(&p[1..33]),"y":b64(&p[33..65])})
            }
            ProofKey::Rs256(kp) | ProofKey::Ps256(kp) => {
                let p = kp.public_key();
                json!({"kty":"RSA",
                       "n":b64(p.modulus().big_endian_without_leading_zero()),
                       "e":b64(p.exponent().big_endian_without_leading_zero())})
            }
            ProofKey::EdDsa(kp) => {
                json!({"kty":"OKP","crv":"Ed25519","x":b64(kp.public_key().as_ref())})
            }
        }
    }

    /// RFC 7638 thumbprint, computed independently of the crate.
    pub fn jkt(&self) -> String {
        let j = self.jwk();
        let canonical = match self {
            ProofKey::Es256(_) => format!(
                r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
                j["x"], j["y"]
            ),
            ProofKey::Rs256(_) | ProofKey::Ps256(_) => {
                format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, j["e"], j["n"])
            }
            ProofKey::EdDsa(_) => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":{}}}"#, j["x"]),
        };
        b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    pub fn sign_raw(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            ProofKey::Es256(kp) => kp.sign(&rng, msg).unwrap().as_ref().to_vec(),
            ProofKey::Rs256(kp) | ProofKey::Ps256(kp) => {
                let enc: &'static dyn aws_lc_rs::signature::RsaEncoding = match self {
                    ProofKey::Rs256(_) => &RSA_PKCS1_SHA256,
                    _ => &aws_lc_rs::signature::RSA_PSS_SHA256,
                };
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(enc, &rng, msg, &mut sig).unwrap();
                sig
            }
            ProofKey::EdDsa(kp) => kp.sign(msg).as_ref().to_vec(),
        }
    }

    /// The standard proof header.
    pub fn header(&self) -> Value {
        json!({"typ":"dpop+jwt","alg":self.alg(),"jwk":self.jwk()})
    }

    /// Signs exact JSON texts.
    pub fn proof_raw(&self, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let sig = self.sign_raw(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    pub fn proof_with(&self, header: &Value, claims: &Value) -> String {
        self.proof_raw(&header.to_string(), &claims.to_string())
    }

    /// A fresh proof for `htm` `htu` at `iat`, bound to `token` when given.
    pub fn proof(&self, htm: &str, htu: &str, iat: i64, token: Option<&str>) -> String {
        self.proof_with(&self.header(), &proof_claims(htm, htu, iat, token))
    }
}

static PROOF_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Proof claims with a fresh jti.
pub fn proof_claims(htm: &str, htu: &str, iat: i64, token: Option<&str>) -> Value {
    let n = PROOF_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut c = json!({"jti":format!("proof-{n}-{iat}"),"htm":htm,"htu":htu,"iat":iat});
    if let Some(t) = token {
        c["ath"] =
            b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, t.as_bytes()).as_ref())
                .into();
    }
    c
}

/// Shared proof keys (RSA generation is slow).
pub fn pk_es() -> &'static ProofKey {
    static K: OnceLock<ProofKey> = OnceLock::new();
    K.get_or_init(ProofKey::es256)
}
pub fn pk_es2() -> &'static ProofKey {
    static K: OnceLock<ProofKey> = OnceLock::new();
    K.get_or_init(ProofKey::es256)
}
pub fn pk_rs() -> &'static ProofKey {
    static K: OnceLock<ProofKey> = OnceLock::new();
    K.get_or_init(ProofKey::rs256)
}
pub fn pk_ps() -> &'static ProofKey {
    static K: OnceLock<ProofKey> = OnceLock::new();
    K.get_or_init(ProofKey::ps256)
}
pub fn pk_ed() -> &'static ProofKey {
    static K: OnceLock<ProofKey> = OnceLock::new();
    K.get_or_init(ProofKey::eddsa)
}

/// A valid claim set bound to the DPoP key `jkt`.
pub fn bound_claims(now: i64, jkt: &str) -> Value {
    let mut c = claims(now);
    c["cnf"] = json!({ "jkt": jkt });
    c
}
