//! What a token may carry: the scope granted out of what was allowed and asked for
//! (RFC 6749 §3.3), and the audience out of the registered ones and the RFC 8707
//! `resource`s asked for. One rule for every grant and for the authorization endpoint.

use crate::error::OAuthError;

/// RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ).
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Whether a space-separated scope string contains `scope`.
pub fn contains(scopes: &str, scope: &str) -> bool {
    scopes.split(' ').any(|s| s == scope)
}

/// The scope granted: the requested scopes if all are allowed (`invalid_scope` otherwise),
/// or every allowed scope when none is requested (RFC 6749 §3.3 default).
pub fn granted_scope(allowed: &[String], requested: Option<&str>) -> Result<String, OAuthError> {
    let Some(requested) = requested else {
        return Ok(allowed.join(" "));
    };
    let mut granted: Vec<&str> = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if !is_scope_token(s) {
            return Err(OAuthError::invalid_scope(
                "the scope parameter is malformed",
            ));
        }
        if !allowed.iter().any(|a| a == s) {
            return Err(OAuthError::invalid_scope(
                "the requested scope exceeds what this client may request",
            ));
        }
        if !granted.contains(&s) {
            granted.push(s);
        }
    }
    Ok(granted.join(" "))
}

/// The token audience: the RFC 8707 `resource`s asked for (each must be registered for the
/// client), or every registered audience when none is asked for.
pub fn audience(registered: &[String], resources: &[String]) -> Result<Vec<String>, OAuthError> {
    if resources.is_empty() {
        if registered.is_empty() {
            return Err(OAuthError::InvalidTarget(
                "the client has no registered audience".into(),
            ));
        }
        return Ok(registered.to_vec());
    }
    let mut out: Vec<String> = Vec::new();
    for r in resources {
        if !registered.iter().any(|a| a == r) {
            return Err(OAuthError::InvalidTarget(
                "the requested resource is not available to this client".into(),
            ));
        }
        if !out.iter().any(|o| o == r) {
            out.push(r.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn scope_narrowing() {
        let allowed = v(&["a", "b"]);
        assert_eq!(granted_scope(&allowed, None).unwrap(), "a b");
        assert_eq!(granted_scope(&allowed, Some("b")).unwrap(), "b");
        assert_eq!(granted_scope(&allowed, Some("b b")).unwrap(), "b");
        assert!(matches!(
            granted_scope(&allowed, Some("a c")),
            Err(OAuthError::InvalidScope(_))
        ));
    }

    #[test]
    fn audience_selection() {
        let reg = v(&["https://a", "https://b"]);
        assert_eq!(audience(&reg, &[]).unwrap(), reg);
        assert_eq!(
            audience(&reg, &v(&["https://b"])).unwrap(),
            v(&["https://b"])
        );
        assert!(matches!(
            audience(&reg, &v(&["https://c"])),
            Err(OAuthError::InvalidTarget(_))
        ));
    }

    #[test]
    fn scope_tokens_follow_rfc6749() {
        assert!(is_scope_token("orders:read"));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token("a\\b"));
        assert!(!is_scope_token("é"));
        assert!(!is_scope_token(""));
        assert!(contains("openid profile", "openid"));
        assert!(!contains("openidx", "openid"));
    }
}
