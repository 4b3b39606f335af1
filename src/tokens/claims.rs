//! Claim sets, serialised straight from borrowed data (no intermediate JSON values).

use serde::{Serialize, Serializer};

/// `aud`: a single string when there is one audience (what most verifiers expect), an
/// array otherwise (RFC 7519 §4.1.3).
#[derive(Debug, Clone)]
pub enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

impl<'a> Audience<'a> {
    pub fn from_slice(v: &'a [String]) -> Self {
        if v.len() == 1 {
            Audience::One(&v[0])
        } else {
            Audience::Many(v)
        }
    }
}

impl Serialize for Audience<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::One(a) => s.serialize_str(a),
            Audience::Many(v) => v.serialize(s),
        }
    }
}

/// RFC 9068 §2.2 access-token claims.
#[derive(Debug, Serialize)]
pub struct AccessClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: Audience<'a>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: &'a str,
    pub client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'a str>,
    /// The user's roles (user tokens only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<&'a [String]>,
    /// RFC 9449 §6: the confirmation of a DPoP-bound token (the proof key's thumbprint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation<'a>>,
    /// RFC 8693 §4.1: the actor chain of an exchanged token (`{"sub", "client_id",
    /// "act": ...}`, the current actor outermost).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<&'a serde_json::Value>,
    /// The user's custom claims (user tokens only; reserved names are refused at creation).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// `cnf` of a DPoP-bound access token: `{"jkt": <RFC 7638 thumbprint>}`.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmation<'a> {
    pub jkt: &'a str,
}

/// OpenID Connect Core §2 ID token claims.
#[derive(Debug, Serialize)]
pub struct IdClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    /// The client the ID token is for.
    pub aud: &'a str,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    /// Left half of SHA-256 of the access token, base64url (OIDC Core §3.1.3.6).
    pub at_hash: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_is_a_string_when_single() {
        let one = vec!["a".to_string()];
        let two = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            serde_json::to_string(&Audience::from_slice(&one)).unwrap(),
            r#""a""#
        );
        assert_eq!(
            serde_json::to_string(&Audience::from_slice(&two)).unwrap(),
            r#"["a","b"]"#
        );
    }

    #[test]
    fn claims_have_integer_times_and_no_empty_scope() {
        let aud = vec!["https://orders".to_string()];
        let c = AccessClaims {
            iss: "https://issuer",
            sub: "c1",
            aud: Audience::from_slice(&aud),
            exp: 200,
            iat: 100,
            nbf: 100,
            jti: "j",
            client_id: "c1",
            scope: None,
            roles: None,
            cnf: None,
            act: None,
            extra: None,
        };
        let v: serde_json::Value = serde_json::to_value(&c).unwrap();
        assert_eq!(v["exp"], 200);
        assert!(v.get("scope").is_none());
    }
}
