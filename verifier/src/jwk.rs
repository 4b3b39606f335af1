//! JWK Set import: each usable key is parsed once (aws-lc-rs `ParsedPublicKey`) and bound
//! to exactly one algorithm.

use std::{collections::HashMap, fmt, sync::Arc};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{error::Error, json};

/// The signature algorithms a verifier accepts. There is deliberately no `none`, no HMAC
/// and no RSA-PSS: a token's `alg` must equal its key's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256, 64-byte `r || s` signatures.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048 to 8192-bit keys.
    RS256,
}

impl Alg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::RS256 => "RS256",
        }
    }

    /// Exact, case-sensitive match against the allow-list.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Alg::ES256),
            "RS256" => Some(Alg::RS256),
            _ => None,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One imported public key.
pub struct VerifyKey {
    pub(crate) kid: String,
    pub(crate) alg: Alg,
    pub(crate) key: ParsedPublicKey,
}

impl VerifyKey {
    /// Checks a signature with this key's algorithm.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        // ES256: exactly 64 bytes r || s (RFC 7518 §3.4). DER or other lengths never reach
        // the primitive; aws-lc rejects r or s equal to 0 or >= n (CVE-2022-21449).
        if self.alg == Alg::ES256 && signature.len() != 64 {
            return false;
        }
        self.key.verify_sig(message, signature).is_ok()
    }
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

/// Keys by `kid` (exact match only: a kid is never a path, a query or a URL).
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    keys: HashMap<String, Arc<VerifyKey>>,
}

impl KeySet {
    pub fn get(&self, kid: &str) -> Option<&Arc<VerifyKey>> {
        self.keys.get(kid)
    }
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    pub fn kids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.keys.keys().cloned().collect();
        v.sort();
        v
    }

    /// Parses a JWK Set document. Keys that are invalid, unsupported, meant for encryption,
    /// carry private members, or share a kid with another key are skipped (and logged);
    /// a set without any usable key is an error, so that a broken or empty answer never
    /// replaces good cached keys.
    pub fn from_json(bytes: &[u8]) -> Result<KeySet, Error> {
        json::check_no_duplicates(bytes)
            .map_err(|e| Error::Jwks(format!("not a JSON document: {}", json::describe(&e))))?;
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<Value>,
        }
        let doc: Doc = serde_json::from_slice(bytes)
            .map_err(|e| Error::Jwks(format!("no \"keys\" array: {}", json::describe(&e))))?;
        let mut keys: HashMap<String, Arc<VerifyKey>> = HashMap::new();
        let mut duplicated: Vec<String> = Vec::new();
        for (i, v) in doc.keys.iter().enumerate() {
            let Value::Object(m) = v else {
                tracing::warn!(index = i, "JWKS entry is not an object; ignored");
                continue;
            };
            match import(m) {
                Ok(k) => {
                    if keys.contains_key(&k.kid) {
                        duplicated.push(k.kid.clone());
                    } else {
                        keys.insert(k.kid.clone(), Arc::new(k));
                    }
                }
                Err(why) => {
                    let kid = m.get("kid").and_then(Value::as_str).unwrap_or("");
                    tracing::warn!(index = i, kid = ?crate::error::Escaped::new(kid), reason = why, "JWK ignored");
                }
            }
        }
        for kid in duplicated {
            tracing::warn!(kid = ?crate::error::Escaped::new(&kid), "several JWKs share this kid; all ignored");
            keys.remove(&kid);
        }
        if keys.is_empty() {
            return Err(Error::Jwks("no usable ES256/RS256 signing key".into()));
        }
        Ok(KeySet { keys })
    }
}

const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

fn str_member<'a>(m: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, &'static str> {
    match m.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err("a member has the wrong type"),
    }
}

fn b64(s: Option<&str>, what: &'static str) -> Result<Vec<u8>, &'static str> {
    let s = s.ok_or(what)?;
    B64.decode(s)
        .map_err(|_| "a key member is not canonical base64url")
}

/// Imports one JWK, or says why it is not usable.
fn import(m: &Map<String, Value>) -> Result<VerifyKey, &'static str> {
    if PRIVATE_MEMBERS.iter().any(|p| m.contains_key(*p)) {
        return Err("contains private key material");
    }
    let kid = str_member(m, "kid")?.ok_or("no kid")?;
    if kid.is_empty() {
        return Err("empty kid");
    }
    if let Some(u) = str_member(m, "use")?
        && u != "sig"
    {
        return Err("use is not sig");
    }
    if let Some(ops) = m.get("key_ops") {
        let ok = ops
            .as_array()
            .is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
        if !ok {
            return Err("key_ops does not allow verify");
        }
    }
    let kty = str_member(m, "kty")?.ok_or("no kty")?;
    let alg = match str_member(m, "alg")? {
        Some(a) => Alg::from_name(a).ok_or("unsupported alg")?,
        // A key without `alg` is bound to the only algorithm we accept for its type.
        None => match kty {
            "EC" => Alg::ES256,
            "RSA" => Alg::RS256,
            _ => return Err("unsupported kty"),
        },
    };
    let key = match (alg, kty) {
        (Alg::ES256, "EC") => {
            if str_member(m, "crv")? != Some("P-256") {
                return Err("ES256 key is not on P-256");
            }
            let x = b64(str_member(m, "x")?, "no x")?;
            let y = b64(str_member(m, "y")?, "no y")?;
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates must be 32 bytes");
            }
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            // Rejects points off the curve and the point at infinity.
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
                .map_err(|_| "invalid P-256 point")?
        }
        (Alg::RS256, "RSA") => {
            let n = b64(str_member(m, "n")?, "no n")?;
            let e = b64(str_member(m, "e")?, "no e")?;
            if n.first() == Some(&0) || e.first() == Some(&0) {
                return Err("RSA integer with a leading zero byte");
            }
            let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
            if !(2048..=8192).contains(&bits) {
                return Err("RSA modulus must be 2048 to 8192 bits");
            }
            if e.is_empty() || e.len() > 4 || e[e.len() - 1] & 1 == 0 || e == [1] {
                return Err("invalid RSA exponent");
            }
            ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_public_key_der(&n, &e))
                .map_err(|_| "invalid RSA key")?
        }
        _ => return Err("alg does not match kty"),
    };
    Ok(VerifyKey {
        kid: kid.to_owned(),
        alg,
        key,
    })
}

/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017).
pub(crate) fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, v: &[u8]) {
        let pad = v[0] & 0x80 != 0;
        out.push(0x02);
        length(out, v.len() + pad as usize);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}
