//! Per-request observability: a request id (honoured from `X-Request-Id` when it is a
//! short token, generated otherwise, returned in the response), a tracing span carrying it
//! so every log line of the request names it, one access-log line, and the latency metric.
//! Paths are logged and labelled as route templates, never raw: query strings and ids can
//! carry codes, tokens or personal data.

use std::{
    sync::{
        LazyLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, Method},
};
use tracing::Instrument;

use crate::metrics::METRICS;

const REQUEST_ID: &str = "x-request-id";

/// Middleware: request id, span, access log, latency.
pub async fn observe<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let route = route_of(req.uri().path());
    let method = method_label(req.method());
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(next_request_id);
    let span = tracing::info_span!("request", request_id = %id, method = %method, route);
    let mut resp = async {
        let resp = match next.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let status = resp.status().as_u16();
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::warn!(status, ms, "request failed");
        } else {
            tracing::debug!(status, ms, "request");
        }
        resp
    }
    .instrument(span)
    .await;
    METRICS.request(
        route,
        method,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(resp)
}

/// A random per-process prefix and a counter: unique ids without a random draw (a
/// syscall) per request. 32 hex digits, like a UUID without dashes.
fn next_request_id() -> String {
    static PREFIX: LazyLock<u64> = LazyLock::new(|| uuid::Uuid::new_v4().as_u64_pair().0);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:016x}{:016x}",
        *PREFIX,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The method as a label value; anything unusual is `other` (no unbounded label values).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// An incoming request id is kept only if it is 1-64 of `[A-Za-z0-9._-]` (no log injection).
fn is_request_id(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

const STATIC_ROUTES: &[&str] = &[
    "/",
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/logout",
    "/oauth/revocations",
    "/oauth/authorize",
    "/oauth/login",
    "/oauth/end_session",
    "/userinfo",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/admin/v1/clients",
    "/admin/v1/users",
    "/admin/v1/keys",
    "/admin/v1/keys/rotate",
    "/admin/v1/audit",
];

/// The route template of a path, e.g. `/admin/v1/users/{id}/password`; `other` for paths
/// no route serves (scans must not create label values).
pub fn route_of(path: &str) -> &'static str {
    if let Some(r) = STATIC_ROUTES.iter().find(|r| **r == path) {
        return r;
    }
    if path.starts_with("/docs") {
        return "/docs";
    }
    // The pages: one label per family (their paths carry ids and filters).
    for family in ["/console", "/account", "/pages/assets"] {
        if path
            .strip_prefix(family)
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
        {
            return family;
        }
    }
    let mut parts = path.trim_start_matches('/').split('/');
    if let (Some("admin"), Some("v1"), Some(area), Some(_id)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    {
        let rest = parts.next();
        if parts.next().is_none() {
            return match (area, rest) {
                ("clients", None) => "/admin/v1/clients/{id}",
                ("clients", Some("secret")) => "/admin/v1/clients/{id}/secret",
                ("users", None) => "/admin/v1/users/{id}",
                ("users", Some("password")) => "/admin/v1/users/{id}/password",
                ("users", Some("logout")) => "/admin/v1/users/{id}/logout",
                ("keys", Some("revoke")) => "/admin/v1/keys/{kid}/revoke",
                _ => "other",
            };
        }
    }
    "other"
}

#[cfg(test)]
mod tests {
    use super::{is_request_id, route_of};

    #[test]
    fn routes_are_templates_never_ids() {
        assert_eq!(route_of("/oauth/token"), "/oauth/token");
        assert_eq!(
            route_of("/admin/v1/users/abc/password"),
            "/admin/v1/users/{id}/password"
        );
        assert_eq!(route_of("/admin/v1/clients/xyz"), "/admin/v1/clients/{id}");
        assert_eq!(
            route_of("/admin/v1/keys/k1/revoke"),
            "/admin/v1/keys/{kid}/revoke"
        );
        assert_eq!(route_of("/docs/index.css"), "/docs");
        assert_eq!(route_of("/console/keys/abc/revoke"), "/console");
        assert_eq!(route_of("/consolex"), "other");
        assert_eq!(route_of("/wp-login.php"), "other");
        assert_eq!(route_of("/admin/v1/clients/a/b/c"), "other");
    }

    #[test]
    fn only_plain_request_ids_are_reused() {
        assert!(is_request_id("3f2a-9_b.c"));
        assert!(!is_request_id(""));
        assert!(!is_request_id("a b"));
        assert!(!is_request_id("x\ninjected=1"));
        assert!(!is_request_id(&"a".repeat(65)));
    }
}
