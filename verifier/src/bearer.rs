//! RFC 6750 bearer-token handling shared by the poem and tower integrations.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::{Claims, Verifier};

/// What a protected route demands beyond a valid token.
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    scopes: Arc<[String]>,
    realm: Option<Arc<str>>,
}

impl Requirements {
    /// No scope required: any valid token.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a scope the token must carry (all added scopes are required).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        let mut v = self.scopes.to_vec();
        v.push(scope.into());
        self.scopes = v.into();
        self
    }
    /// `realm` of the `WWW-Authenticate` challenge.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(Arc::from(realm.into()));
        self
    }
    /// The required scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

/// Why a request is refused.
#[derive(Debug)]
pub(crate) enum Denial {
    /// No `Authorization: Bearer` header: 401, challenge without an error code (§3.1).
    NoToken,
    /// Several Authorization headers, or an unreadable one: 400 `invalid_request`.
    InvalidRequest,
    /// 401 `invalid_token`.
    InvalidToken,
    /// 403 `insufficient_scope`.
    InsufficientScope,
}

/// Reads the one bearer token of a request (header only: RFC 9700 §4.3 — tokens in
/// query strings or bodies are ignored).
fn bearer(headers: &HeaderMap) -> Result<&str, Denial> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Denial::NoToken);
    };
    if values.next().is_some() {
        return Err(Denial::InvalidRequest);
    }
    let value = value.to_str().map_err(|_| Denial::InvalidRequest)?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return if value.eq_ignore_ascii_case("bearer") {
            Err(Denial::InvalidRequest)
        } else {
            Err(Denial::NoToken)
        };
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic...): no bearer credentials at all.
        return Err(Denial::NoToken);
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() || token.contains(' ') {
        return Err(Denial::InvalidRequest);
    }
    Ok(token)
}

/// Verifies the request's bearer token and the required scopes.
pub(crate) async fn authorize(
    verifier: &Verifier,
    headers: &HeaderMap,
    req: &Requirements,
) -> Result<Claims, Denial> {
    let token = bearer(headers)?;
    let claims = verifier.verify(token).await.map_err(|e| {
        tracing::debug!(error = %e, "bearer token rejected");
        Denial::InvalidToken
    })?;
    if !req.scopes.iter().all(|s| claims.has_scope(s)) {
        tracing::debug!(sub = claims.sub(), "bearer token lacks a required scope");
        return Err(Denial::InsufficientScope);
    }
    Ok(claims)
}

fn quoted(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

impl Denial {
    pub fn status(&self) -> StatusCode {
        match self {
            Denial::NoToken | Denial::InvalidToken => StatusCode::UNAUTHORIZED,
            Denial::InvalidRequest => StatusCode::BAD_REQUEST,
            Denial::InsufficientScope => StatusCode::FORBIDDEN,
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3).
    pub fn challenge(&self, req: &Requirements) -> HeaderValue {
        let mut s = String::from("Bearer");
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(realm) = &req.realm {
            params.push(("realm", realm.to_string()));
        }
        match self {
            Denial::NoToken => {}
            Denial::InvalidRequest => params.push(("error", "invalid_request".into())),
            Denial::InvalidToken => {
                params.push(("error", "invalid_token".into()));
                params.push(("error_description", "The access token is invalid".into()));
            }
            Denial::InsufficientScope => {
                params.push(("error", "insufficient_scope".into()));
                params.push(("scope", req.scopes.join(" ")));
            }
        }
        for (i, (k, v)) in params.iter().enumerate() {
            s.push_str(if i == 0 { " " } else { ", " });
            quoted(&mut s, k, v);
        }
        HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    /// A small JSON body (never echoes the token).
    #[cfg_attr(not(feature = "poem"), allow(dead_code))]
    pub fn body(&self) -> &'static str {
        match self {
            Denial::NoToken => {
                r#"{"error":"unauthorized","error_description":"A bearer access token is required"}"#
            }
            Denial::InvalidRequest => {
                r#"{"error":"invalid_request","error_description":"Malformed Authorization header"}"#
            }
            Denial::InvalidToken => {
                r#"{"error":"invalid_token","error_description":"The access token is invalid"}"#
            }
            Denial::InsufficientScope => {
                r#"{"error":"insufficient_scope","error_description":"The access token lacks a required scope"}"#
            }
        }
    }

    /// The headers of the refusal.
    pub fn headers(&self, req: &Requirements) -> [(header::HeaderName, HeaderValue); 3] {
        [
            (header::WWW_AUTHENTICATE, self.challenge(req)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(values: &[&str]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for v in values {
            m.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn extraction() {
        assert!(matches!(bearer(&h(&[])), Err(Denial::NoToken)));
        assert!(matches!(bearer(&h(&["Basic abc"])), Err(Denial::NoToken)));
        assert!(matches!(
            bearer(&h(&["Bearer a", "Bearer b"])),
            Err(Denial::InvalidRequest)
        ));
        assert!(matches!(
            bearer(&h(&["Bearer"])),
            Err(Denial::InvalidRequest)
        ));
        assert!(matches!(
            bearer(&h(&["Bearer a b"])),
            Err(Denial::InvalidRequest)
        ));
        assert_eq!(bearer(&h(&["bearer abc"])).ok(), Some("abc"));
        assert_eq!(bearer(&h(&["BEARER  abc"])).ok(), Some("abc"));
    }

    #[test]
    fn challenges() {
        let r = Requirements::new().scope("a:read").realm("api");
        assert_eq!(Denial::NoToken.challenge(&Requirements::new()), "Bearer");
        assert_eq!(
            Denial::InsufficientScope.challenge(&r),
            r#"Bearer realm="api", error="insufficient_scope", scope="a:read""#
        );
        assert_eq!(
            Denial::InvalidToken.challenge(&Requirements::new()),
            r#"Bearer error="invalid_token", error_description="The access token is invalid""#
        );
    }
}
