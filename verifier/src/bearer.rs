//! RFC 6750 bearer-token and RFC 9449 DPoP handling shared by the poem and tower
//! integrations.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::{Claims, RequestError, RequestParts, Scheme, Verifier, request::challenge};

/// What a protected route demands beyond a valid token.
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    scopes: Arc<[String]>,
    realm: Option<Arc<str>>,
    external_base_url: Option<Arc<str>>,
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
    /// The public base URL of the service (`https://api.example.com`, optionally with a
    /// path prefix): a DPoP proof's `htu` must equal this base followed by the request
    /// path. Set it behind a reverse proxy or TLS terminator; without it the URL is
    /// rebuilt from the request (`Host` header, and the scheme of the listener for poem
    /// or `http` for tower), which only matches when clients reach the service directly.
    pub fn external_base_url(mut self, base: impl Into<String>) -> Self {
        self.external_base_url = Some(Arc::from(base.into()));
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
    /// The credentials (token, proof) are missing or invalid.
    Request(RequestError),
    /// 403 `insufficient_scope`, challenged with the scheme the request used.
    InsufficientScope(Scheme),
}

/// The one value of a header: `Ok(None)` when absent, `Err(())` when repeated or not
/// visible ASCII.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ()> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    value.to_str().map(Some).map_err(|_| ())
}

/// The URL the client addressed: `external_base_url` + path when configured, else
/// `scheme://authority/path` from the request (authority from the URI or the `Host`
/// header; scheme from the URI, else `default_scheme`). Query and fragment are left out.
pub(crate) fn request_url(
    req: &Requirements,
    uri: &http::Uri,
    headers: &HeaderMap,
    default_scheme: &str,
) -> String {
    let path = uri.path();
    if let Some(base) = &req.external_base_url {
        return format!("{}{}", base.trim_end_matches('/'), path);
    }
    let authority = uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or("");
    let scheme = uri.scheme_str().unwrap_or(default_scheme);
    format!("{scheme}://{authority}{path}")
}

/// Verifies the request's credentials (Bearer or DPoP, see
/// [`Verifier::verify_request`]) and the required scopes.
pub(crate) async fn authorize(
    verifier: &Verifier,
    method: &str,
    url: &str,
    headers: &HeaderMap,
    req: &Requirements,
) -> Result<Claims, Denial> {
    let authorization = single(headers, header::AUTHORIZATION.as_str()).map_err(|()| {
        Denial::Request(RequestError::InvalidRequest {
            scheme: Scheme::Bearer,
        })
    })?;
    // Several DPoP headers: treated as no proof (refused for the DPoP scheme).
    let dpop = single(headers, "dpop").unwrap_or(None);
    let parts = RequestParts {
        method,
        url,
        authorization,
        dpop,
    };
    let claims = verifier.verify_request(&parts).await.map_err(|e| {
        tracing::debug!(error = %e, "request credentials rejected");
        Denial::Request(e)
    })?;
    if !req.scopes.iter().all(|s| claims.has_scope(s)) {
        tracing::debug!(sub = claims.sub(), "access token lacks a required scope");
        let scheme = if claims.confirmation_jkt().is_some() {
            Scheme::DPoP
        } else {
            Scheme::Bearer
        };
        return Err(Denial::InsufficientScope(scheme));
    }
    Ok(claims)
}

impl Denial {
    pub fn status(&self) -> StatusCode {
        match self {
            Denial::Request(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED)
            }
            Denial::InsufficientScope(_) => StatusCode::FORBIDDEN,
        }
    }

    /// The `WWW-Authenticate` values (RFC 6750 §3, RFC 9449 §7.1).
    pub fn challenges(&self, req: &Requirements) -> Vec<HeaderValue> {
        let realm = req.realm.as_deref();
        let values = match self {
            Denial::Request(e) => e.www_authenticate(realm),
            Denial::InsufficientScope(scheme) => vec![challenge(
                *scheme,
                realm,
                Some("insufficient_scope"),
                None,
                Some(&req.scopes.join(" ")),
            )],
        };
        values
            .iter()
            .map(|v| {
                HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
            })
            .collect()
    }

    /// A small JSON body (never echoes the token).
    #[cfg_attr(not(feature = "poem"), allow(dead_code))]
    pub fn body(&self) -> String {
        match self {
            Denial::Request(RequestError::NoCredentials { .. }) => {
                r#"{"error":"unauthorized","error_description":"An access token is required"}"#
                    .into()
            }
            Denial::Request(e) => e.json_body(),
            Denial::InsufficientScope(_) => {
                r#"{"error":"insufficient_scope","error_description":"The access token lacks a required scope"}"#.into()
            }
        }
    }

    /// The headers of the refusal (`WWW-Authenticate` may repeat).
    pub fn headers(&self, req: &Requirements) -> Vec<(header::HeaderName, HeaderValue)> {
        let mut h: Vec<(header::HeaderName, HeaderValue)> = self
            .challenges(req)
            .into_iter()
            .map(|v| (header::WWW_AUTHENTICATE, v))
            .collect();
        h.push((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        h.push((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
        if let Denial::Request(e) = self
            && let Some(n) = e.dpop_nonce()
            && let Ok(v) = HeaderValue::from_str(n)
        {
            h.push((header::HeaderName::from_static("dpop-nonce"), v));
        }
        h
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
    fn single_header() {
        assert_eq!(single(&h(&[]), "authorization"), Ok(None));
        assert_eq!(
            single(&h(&["Bearer a"]), "authorization"),
            Ok(Some("Bearer a"))
        );
        assert_eq!(
            single(&h(&["Bearer a", "Bearer b"]), "authorization"),
            Err(())
        );
    }

    #[test]
    fn urls_from_requests() {
        let r = Requirements::new();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("svc.local:8080"));
        let uri: http::Uri = "/orders/1?x=2".parse().unwrap();
        assert_eq!(
            request_url(&r, &uri, &headers, "http"),
            "http://svc.local:8080/orders/1"
        );
        let r = r.external_base_url("https://api.example.com/v1/");
        assert_eq!(
            request_url(&r, &uri, &headers, "http"),
            "https://api.example.com/v1/orders/1"
        );
        let abs: http::Uri = "https://h2.example/orders".parse().unwrap();
        assert_eq!(
            request_url(&Requirements::new(), &abs, &HeaderMap::new(), "http"),
            "https://h2.example/orders"
        );
    }

    #[test]
    fn challenges() {
        let r = Requirements::new().scope("a:read").realm("api");
        let no = Denial::Request(RequestError::NoCredentials {
            bearer_allowed: true,
        });
        assert_eq!(no.challenges(&Requirements::new())[0], "Bearer");
        assert_eq!(
            no.challenges(&Requirements::new())[1],
            r#"DPoP algs="ES256 RS256 PS256 EdDSA Ed25519""#
        );
        assert_eq!(
            Denial::InsufficientScope(Scheme::Bearer).challenges(&r)[0],
            r#"Bearer realm="api", error="insufficient_scope", scope="a:read""#
        );
        assert_eq!(
            Denial::InsufficientScope(Scheme::DPoP).challenges(&r)[0],
            r#"DPoP realm="api", error="insufficient_scope", scope="a:read", algs="ES256 RS256 PS256 EdDSA Ed25519""#
        );
    }
}
