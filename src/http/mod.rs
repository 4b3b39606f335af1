//! The HTTP surface: poem-openapi APIs (thin handlers over domain functions), the OpenAPI
//! document and Swagger UI, the shared [`AppState`], TLS, CORS and connection guards.
//! Only this module, `app` (the server) and `cli`/`main` know about poem; a test in
//! `tests/api/layout.rs` keeps it so.

pub mod admin;
pub mod browser;
pub mod client_ip;
pub mod conn_limit;
pub mod cors;
pub mod discovery;
pub mod docs;
pub mod form;
pub mod gzip;
pub mod health;
pub mod metrics;
pub mod oauth;
pub mod observe;
pub mod pages;
pub mod responses;
pub mod state;
pub mod tls;

pub use state::AppState;

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response, http::header};
use poem_openapi::{OpenApiService, Tags};

#[derive(Tags)]
pub enum ApiTags {
    /// OAuth 2.0 endpoints (RFC 6749).
    #[oai(rename = "OAuth 2.0")]
    OAuth,
    /// Keys and metadata for verifiers and client libraries.
    Discovery,
    /// Probes for orchestrators and load balancers.
    Health,
    /// Admin API: OAuth clients. Bearer token with `tessera:clients` or `tessera:admin`.
    #[oai(rename = "Admin: clients")]
    AdminClients,
    /// Admin API: users. Bearer token with `tessera:users` or `tessera:admin`.
    #[oai(rename = "Admin: users")]
    AdminUsers,
    /// Admin API: signing keys. Bearer token with `tessera:keys` or `tessera:admin`.
    #[oai(rename = "Admin: keys")]
    AdminKeys,
    /// Admin API: the audit log of admin changes. Bearer token with `tessera:admin`.
    #[oai(rename = "Admin: audit")]
    AdminAudit,
    /// Browser sign-in: authorization code flow with PKCE, login page, RP-initiated logout.
    #[oai(rename = "Browser sign-in")]
    Browser,
}

pub type Apis = (
    oauth::OAuthApi,
    discovery::DiscoveryApi,
    health::HealthApi,
    metrics::MetricsApi,
    admin::ClientsApi,
    admin::UsersApi,
    admin::KeysApi,
    admin::AuditApi,
    admin::FederationsApi,
    browser::BrowserApi,
);

/// The OpenAPI service of the whole server.
pub fn api_service(state: Arc<AppState>, server_url: &str) -> OpenApiService<Apis, ()> {
    let apis = (
        oauth::OAuthApi {
            state: state.clone(),
        },
        discovery::DiscoveryApi {
            state: state.clone(),
        },
        health::HealthApi {
            state: state.clone(),
        },
        metrics::MetricsApi {
            state: state.clone(),
        },
        admin::ClientsApi(admin::AdminCtx {
            state: state.clone(),
        }),
        admin::UsersApi(admin::AdminCtx {
            state: state.clone(),
        }),
        admin::KeysApi(admin::AdminCtx {
            state: state.clone(),
        }),
        admin::AuditApi(admin::AdminCtx {
            state: state.clone(),
        }),
        admin::FederationsApi(admin::AdminCtx {
            state: state.clone(),
        }),
        browser::BrowserApi { state },
    );
    let mut svc = OpenApiService::new(apis, "Tessera", env!("CARGO_PKG_VERSION"))
        .description(
            "Tessera issues RS256/ES256 JWT access tokens signed with rotating keys and publishes \
             the public keys at `/.well-known/jwks.json`, so services verify tokens locally.\n\n\
             The admin API (`/admin/v1`) manages clients, users and keys. It takes a bearer \
             token that this Tessera issues to an admin client: create one with \
             `tessera clients create --admin --name ops`, get a token with \
             `curl -u ID:SECRET -d grant_type=client_credentials <issuer>/oauth/token`, then \
             press **Authorize** and paste the `access_token`.",
        )
        .license("Apache-2.0");
    if !server_url.is_empty() {
        svc = svc.server(server_url);
    }
    svc
}

/// The spec as served and as committed under `openapi/` (no server URL, so it does not
/// depend on configuration).
pub fn spec_json() -> String {
    api_service(Arc::new(AppState::placeholder()), "").spec()
}

/// Content-Security-Policy of HTML pages that set none of their own (the landing page):
/// nothing loads but inline styles and same-origin images, and no site may frame them.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
                            base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// Content-Security-Policy of Swagger UI (`/docs`): its bundle and styles are inline in the
/// page, the spec is embedded, "Try it out" calls this origin; still no framing and no
/// `eval`.
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
                            style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                            connect-src 'self'; base-uri 'none'; form-action 'self'; \
                            frame-ancestors 'none'";

/// Middleware: response hygiene (S7) on every response, including those poem produces
/// itself (404, 405):
/// - `X-Content-Type-Options: nosniff` everywhere;
/// - HTML without a Content-Security-Policy of its own gets one with
///   `frame-ancestors 'none'` ([`PAGE_CSP`], or [`DOCS_CSP`] under `/docs`), and
///   `X-Frame-Options: DENY` for browsers that predate CSP;
/// - `405` answers name the allowed methods in `Allow` (RFC 9110 §15.5.6);
/// - every response of the OAuth endpoints and UserInfo is `Cache-Control: no-store` and
///   `Pragma: no-cache` (RFC 6749 §5.1, §5.2; they carry tokens, secrets or user data).
pub async fn response_hygiene<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let uri = req.uri().clone();
    let resp = match next.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let mut resp = resp;
    let path = uri.path();
    let status = resp.status();
    let headers = resp.headers_mut();
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(header::HeaderValue::from_static("nosniff"));
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.trim_start().get(..9))
        .is_some_and(|ct| ct.eq_ignore_ascii_case("text/html"));
    if html {
        let docs = path == "/docs" || path.starts_with("/docs/");
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(header::HeaderValue::from_static(if docs {
                DOCS_CSP
            } else {
                PAGE_CSP
            }));
        headers
            .entry(header::X_FRAME_OPTIONS)
            .or_insert(header::HeaderValue::from_static("DENY"));
    }
    if status == poem::http::StatusCode::METHOD_NOT_ALLOWED
        && !headers.contains_key(header::ALLOW)
        && let Ok(v) = header::HeaderValue::from_str(&allowed_methods(path))
    {
        headers.insert(header::ALLOW, v);
    }
    if path.starts_with("/oauth/") || path == "/userinfo" {
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static(responses::NO_STORE),
            );
        }
        let no_store = headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("no-store"));
        if no_store && !headers.contains_key(header::PRAGMA) {
            headers.insert(
                header::PRAGMA,
                header::HeaderValue::from_static(responses::NO_CACHE),
            );
        }
    }
    Ok(resp)
}

/// The methods a path answers, for `Allow`: from the API's own description (so it cannot
/// drift from the routes), plus the documents served beside it. `GET` implies `HEAD`.
fn allowed_methods(path: &str) -> String {
    use std::sync::OnceLock;

    use poem_openapi::OpenApi;
    /// Path templates as segments (`None` = a `{parameter}`) and their methods.
    type Table = Vec<(Vec<Option<String>>, Vec<String>)>;
    static TABLE: OnceLock<Table> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table: Table = Vec::new();
        let mut add = |template: &str, method: &str| {
            let segments: Vec<Option<String>> = template
                .trim_matches('/')
                .split('/')
                .map(|s| (!(s.starts_with('{') || s.starts_with(':'))).then(|| s.to_string()))
                .collect();
            match table.iter_mut().find(|(t, _)| *t == segments) {
                Some((_, methods)) => methods.push(method.to_string()),
                None => table.push((segments, vec![method.to_string()])),
            }
        };
        for api in <Apis as OpenApi>::meta() {
            for p in api.paths {
                for op in p.operations {
                    add(&p.path, op.method.as_str());
                }
            }
        }
        for doc in ["/openapi.json", "/docs", "/docs/oauth-receiver.html"] {
            add(doc, "GET");
        }
        for (path, method) in pages::methods() {
            add(path, method);
        }
        for (_, methods) in table.iter_mut() {
            if methods.iter().any(|m| m == "GET") {
                methods.push("HEAD".into());
            }
            methods.sort();
            methods.dedup();
        }
        table
    });
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    table
        .iter()
        .find(|(t, _)| {
            t.len() == segments.len()
                && t.iter()
                    .zip(&segments)
                    .all(|(t, s)| t.as_deref().is_none_or(|t| t == *s))
        })
        .map(|(_, methods)| methods.join(", "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn allowed_methods_come_from_the_routes() {
        assert_eq!(super::allowed_methods("/oauth/token"), "POST");
        assert_eq!(
            super::allowed_methods("/.well-known/jwks.json"),
            "GET, HEAD"
        );
        assert_eq!(
            super::allowed_methods("/oauth/end_session"),
            "GET, HEAD, POST"
        );
        assert_eq!(
            super::allowed_methods("/console/keys/k1/revoke"),
            "GET, HEAD, POST"
        );
        assert_eq!(super::allowed_methods("/console/signout"), "POST");
        let client = super::allowed_methods("/admin/v1/clients/abc");
        assert!(
            client.contains("DELETE") && client.contains("PATCH"),
            "{client}"
        );
    }
}
