//! The HTTP surface: poem-openapi APIs (thin handlers over domain functions), the OpenAPI
//! document and Swagger UI, the shared [`AppState`], TLS, CORS and connection guards.
//! Only this module, `app` (the server) and `cli`/`main` know about poem; a test in
//! `tests/api/layout.rs` keeps it so.

pub mod admin;
pub mod browser;
pub mod conn_limit;
pub mod cors;
pub mod discovery;
pub mod docs;
pub mod form;
pub mod health;
pub mod metrics;
pub mod oauth;
pub mod observe;
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

/// Middleware: every response of the OAuth endpoints — including those poem produces
/// itself, such as 405 — is marked `no-store` (RFC 6749 §5.1, §5.2).
pub async fn no_store_on_oauth<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let oauth = req.uri().path().starts_with("/oauth/");
    let resp = match next.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    if !oauth {
        return Ok(resp);
    }
    let mut resp = resp;
    let headers = resp.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        headers.insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    }
    Ok(resp)
}
