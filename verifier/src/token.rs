//! Strict compact-JWS parsing (RFC 7515 §3.1, §7.1; RFC 8725 §3.7; RFC 9068 §4) before any
//! cryptography.

use std::{borrow::Cow, fmt};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::{
    error::{Escaped, Part, VerifyError},
    json::{self, AnyNoDup, Key, Seen},
    jwk::Alg,
};

/// Header parameters that are never accepted. Our issuer never sets them; each one either
/// lets the token pick its own key or URL (CVE-2018-0114, RFC 8725 §3.10), changes how
/// the payload must be processed (`crit`, `b64`, `zip`), or belongs to JWE or nesting
/// (RFC 8725 §3.3, §2.8).
const FORBIDDEN_HEADERS: [&str; 19] = [
    "crit", "jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "b64", "zip", "enc", "cty", "epk",
    "apu", "apv", "iv", "tag", "p2s", "p2c", "url",
];

/// Longest accepted signature segment: a 1024-byte (8192-bit RSA) signature.
const MAX_SIG_B64: usize = 1366;

/// A token whose format and header have been checked, not yet its signature or claims.
pub(crate) struct Parsed<'a> {
    pub signing_input: &'a [u8],
    pub payload_b64: &'a str,
    pub kid: String,
    pub alg: Alg,
    pub signature: Vec<u8>,
}

/// Splits on exactly two dots and checks the base64url alphabet in the same pass.
pub(crate) fn split(token: &str, max_len: usize) -> Result<[&str; 3], VerifyError> {
    if token.len() > max_len {
        return Err(VerifyError::TooLarge { limit: max_len });
    }
    let bytes = token.as_bytes();
    let mut dots = [0usize; 2];
    let mut n = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => {}
            b'.' => {
                if n == 2 {
                    return Err(VerifyError::Malformed("more than three segments"));
                }
                dots[n] = i;
                n += 1;
            }
            _ => {
                return Err(VerifyError::Malformed(
                    "character outside the unpadded base64url alphabet",
                ));
            }
        }
    }
    if n != 2 {
        return Err(VerifyError::Malformed("fewer than three segments"));
    }
    let (h, p, s) = (
        &token[..dots[0]],
        &token[dots[0] + 1..dots[1]],
        &token[dots[1] + 1..],
    );
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(VerifyError::Malformed("empty segment"));
    }
    Ok([h, p, s])
}

/// Canonical unpadded base64url (the engine rejects padding and non-zero trailing bits).
pub(crate) fn decode(part: Part, s: &str) -> Result<Vec<u8>, VerifyError> {
    B64.decode(s).map_err(|_| VerifyError::Base64(part))
}

pub(crate) fn parse(token: &str, max_len: usize) -> Result<Parsed<'_>, VerifyError> {
    let [h, p, s] = split(token, max_len)?;
    let header_bytes = decode(Part::Header, h)?;
    let header = parse_header(&header_bytes)?;
    if let Some(name) = header.forbidden {
        return Err(VerifyError::ForbiddenHeader(Escaped::new(&name)));
    }
    let alg = match &header.alg {
        None => return Err(VerifyError::UnsupportedAlgorithm(Escaped::absent())),
        Some(a) => {
            Alg::from_name(a).ok_or_else(|| VerifyError::UnsupportedAlgorithm(Escaped::new(a)))?
        }
    };
    match &header.typ {
        Some(t) if is_at_jwt(t) => {}
        Some(t) => return Err(VerifyError::WrongType(Escaped::new(t))),
        None => return Err(VerifyError::WrongType(Escaped::absent())),
    }
    let kid = header.kid.ok_or(VerifyError::MissingKid)?;
    if s.len() > MAX_SIG_B64 {
        return Err(VerifyError::BadSignature);
    }
    let signature = decode(Part::Signature, s)?;
    if alg == Alg::ES256 && signature.len() != 64 {
        return Err(VerifyError::BadSignature);
    }
    Ok(Parsed {
        signing_input: &token.as_bytes()[..h.len() + 1 + p.len()],
        payload_b64: p,
        kid,
        alg,
        signature,
    })
}

/// `at+jwt` or `application/at+jwt`, compared case-insensitively (RFC 9068 §4, RFC 7515 §4.1.9).
pub(crate) fn is_at_jwt(typ: &str) -> bool {
    let t = if typ.len() > 12 && typ[..12].eq_ignore_ascii_case("application/") {
        &typ[12..]
    } else {
        typ
    };
    t.eq_ignore_ascii_case("at+jwt")
}

#[derive(Default)]
pub(crate) struct Header {
    pub alg: Option<String>,
    pub kid: Option<String>,
    pub typ: Option<String>,
    /// The first forbidden parameter present.
    pub forbidden: Option<String>,
}

pub(crate) fn parse_header(bytes: &[u8]) -> Result<Header, VerifyError> {
    let h: HeaderResult = serde_json::from_slice(bytes).map_err(|e| VerifyError::Json {
        part: Part::Header,
        detail: json::describe(&e),
    })?;
    h.0
}

/// The outcome of the header visitor: JSON-level problems are serde errors, typed
/// problems are kept here so they map to precise [`VerifyError`]s.
struct HeaderResult(Result<Header, VerifyError>);

impl<'de> de::Deserialize<'de> for HeaderResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = HeaderResult;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderResult, A::Error> {
        let mut h = Header::default();
        let mut bad_type: Option<&'static str> = None;
        let mut seen = Seen::default();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            seen.insert(Cow::clone(&k))?;
            let slot = match &*k {
                "alg" => Some((&mut h.alg, "alg")),
                "kid" => Some((&mut h.kid, "kid")),
                "typ" => Some((&mut h.typ, "typ")),
                _ => None,
            };
            match slot {
                Some((slot, name)) => {
                    // A non-string value is a type error whatever it contains.
                    match map.next_value::<Value>()? {
                        Value::String(s) => *slot = Some(s),
                        _ => bad_type = bad_type.or(Some(name)),
                    }
                }
                None => {
                    if h.forbidden.is_none() && FORBIDDEN_HEADERS.contains(&&*k) {
                        h.forbidden = Some(k.to_string());
                    }
                    map.next_value::<AnyNoDup>()?;
                }
            }
        }
        Ok(HeaderResult(match bad_type {
            Some(name) => Err(VerifyError::InvalidHeader(name)),
            None => Ok(h),
        }))
    }
}
