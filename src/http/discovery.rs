//! `GET /.well-known/jwks.json`, `/.well-known/openid-configuration` and
//! `/.well-known/oauth-authorization-server` (RFC 8414).

use std::sync::Arc;

use poem::{IntoResponse, Response, http::header};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::Header,
    payload::{Html, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};

use super::ApiTags;
use crate::http::AppState;

/// One public key (RFC 7517). Only public members are ever present.
#[derive(Debug, Object)]
pub struct JwkDoc {
    /// Key type: `EC` or `RSA`.
    pub kty: String,
    /// Key id: the RFC 7638 SHA-256 thumbprint of the key.
    pub kid: String,
    /// Always `sig`.
    #[oai(rename = "use")]
    pub use_: String,
    /// `ES256` or `RS256`: the only algorithm this key is used with.
    pub alg: String,
    /// EC curve: `P-256`.
    pub crv: Option<String>,
    /// EC x coordinate (base64url).
    pub x: Option<String>,
    /// EC y coordinate (base64url).
    pub y: Option<String>,
    /// RSA modulus (base64url).
    pub n: Option<String>,
    /// RSA public exponent (base64url).
    pub e: Option<String>,
}

/// A JWK Set: every key that may have signed a token still valid, or will sign soon.
#[derive(Debug, Object)]
pub struct JwkSetDoc {
    /// The published keys, newest first.
    pub keys: Vec<JwkDoc>,
}

/// JSON bytes serialised once (when keys or clients change, not per request), documented
/// in OpenAPI as `T`.
pub struct PreSerialized<T>(pub bytes::Bytes, std::marker::PhantomData<fn() -> T>);

impl<T> PreSerialized<T> {
    pub fn new(bytes: bytes::Bytes) -> Self {
        Self(bytes, std::marker::PhantomData)
    }
}

impl<T: Type> Payload for PreSerialized<T> {
    const CONTENT_TYPE: &'static str = "application/json";
    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }
    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for PreSerialized<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(self.0)
    }
}

#[derive(ApiResponse)]
pub enum JwksResponse {
    /// The JWK Set.
    #[oai(status = 200)]
    Ok(
        PreSerialized<JwkSetDoc>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "ETag")] String,
    ),
    /// The client's cached copy (`If-None-Match`) is current.
    #[oai(status = 304)]
    NotModified(
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "ETag")] String,
    ),
}

/// OpenID Provider / OAuth 2.0 Authorization Server metadata.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct DiscoveryDoc {
    /// The issuer identifier: exactly the `iss` of every token.
    pub issuer: String,
    /// The authorization endpoint (browser sign-in, authorization code flow with PKCE).
    pub authorization_endpoint: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The JWK Set document.
    pub jwks_uri: String,
    /// RFC 8628 device authorization endpoint.
    pub device_authorization_endpoint: String,
    /// RFC 7009 revocation endpoint.
    pub revocation_endpoint: String,
    /// RFC 7662 introspection endpoint.
    pub introspection_endpoint: String,
    /// OpenID Connect UserInfo endpoint.
    pub userinfo_endpoint: String,
    /// Tessera's logout endpoint (one session, or everywhere).
    pub logout_endpoint: String,
    /// OpenID Connect RP-initiated logout endpoint.
    pub end_session_endpoint: String,
    /// Tessera's revocation feed: revoked token ids and subject not-before times for
    /// verifiers that poll.
    pub revocation_feed_endpoint: String,
    /// Client authentication methods at the revocation endpoint.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// `private_key_jwt` assertion algorithms at the revocation endpoint.
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// Client authentication methods at the introspection endpoint.
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// `private_key_jwt` assertion algorithms at the introspection endpoint.
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// Claims that tokens and UserInfo may carry.
    pub claims_supported: Vec<String>,
    /// Grant types the token endpoint accepts.
    pub grant_types_supported: Vec<String>,
    /// Client authentication methods at the token endpoint (`client_secret_jwt`, an HMAC
    /// over a shared secret, is deliberately absent).
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// `private_key_jwt` assertion algorithms at the token endpoint: each must also be the
    /// algorithm of the client's registered key.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// Response types of the authorization endpoint: `code` only.
    pub response_types_supported: Vec<String>,
    /// Response modes of the authorization endpoint: `query`.
    pub response_modes_supported: Vec<String>,
    /// PKCE methods: `S256` only (PKCE is required for every client).
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9207: authorization responses carry `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    /// `prompt` values understood by the authorization endpoint.
    pub prompt_values_supported: Vec<String>,
    /// Subject identifier types.
    pub subject_types_supported: Vec<String>,
    /// Algorithms used to sign ID tokens.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Algorithms used to sign access tokens (RFC 9068).
    pub access_token_signing_alg_values_supported: Vec<String>,
    /// RFC 9449 §5.1: algorithms accepted in DPoP proofs.
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// Scopes registered clients may request.
    pub scopes_supported: Vec<String>,
    /// The OpenAPI description of this server.
    pub service_documentation: String,
}

/// The discovery document as served: built and serialised when the advertised scopes change.
#[derive(Debug)]
pub struct PublishedDiscovery {
    pub scopes: Vec<String>,
    pub json: bytes::Bytes,
}

impl PublishedDiscovery {
    pub fn new(issuer: &str, scopes: Vec<String>) -> Self {
        let doc = DiscoveryDoc::new(issuer, scopes.clone());
        Self {
            scopes,
            json: bytes::Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()),
        }
    }
}

impl DiscoveryDoc {
    pub fn new(issuer: &str, scopes: Vec<String>) -> Self {
        let algs = vec!["ES256".to_string(), "RS256".to_string()];
        // No `client_secret_jwt`: an HMAC keyed with a secret the server must also hold.
        let auth_methods: Vec<String> = vec![
            "client_secret_basic".into(),
            "client_secret_post".into(),
            "private_key_jwt".into(),
        ];
        let assertion_algs: Vec<String> = tessera_verify::jws::SigAlg::NAMES
            .map(str::to_string)
            .to_vec();
        // Public clients (no secret) at the token endpoint only.
        let mut token_auth_methods = auth_methods.clone();
        token_auth_methods.push("none".into());
        let claims = [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "client_id",
            "scope",
            "roles",
            "auth_time",
            "at_hash",
            "nonce",
            "azp",
            "preferred_username",
        ];
        Self {
            issuer: issuer.into(),
            authorization_endpoint: format!("{issuer}/oauth/authorize"),
            token_endpoint: format!("{issuer}/oauth/token"),
            jwks_uri: format!("{issuer}/.well-known/jwks.json"),
            device_authorization_endpoint: format!("{issuer}/oauth/device_authorization"),
            revocation_endpoint: format!("{issuer}/oauth/revoke"),
            introspection_endpoint: format!("{issuer}/oauth/introspect"),
            userinfo_endpoint: format!("{issuer}/userinfo"),
            logout_endpoint: format!("{issuer}/oauth/logout"),
            end_session_endpoint: format!("{issuer}/oauth/end_session"),
            revocation_feed_endpoint: format!("{issuer}/oauth/revocations"),
            revocation_endpoint_auth_methods_supported: auth_methods.clone(),
            revocation_endpoint_auth_signing_alg_values_supported: assertion_algs.clone(),
            introspection_endpoint_auth_methods_supported: auth_methods.clone(),
            introspection_endpoint_auth_signing_alg_values_supported: assertion_algs.clone(),
            claims_supported: claims.iter().map(|c| c.to_string()).collect(),
            grant_types_supported: vec![
                "authorization_code".into(),
                "client_credentials".into(),
                "password".into(),
                "refresh_token".into(),
                crate::clients::TOKEN_EXCHANGE.into(),
                crate::clients::DEVICE_CODE.into(),
            ],
            token_endpoint_auth_methods_supported: token_auth_methods,
            token_endpoint_auth_signing_alg_values_supported: assertion_algs,
            response_types_supported: vec!["code".into()],
            response_modes_supported: vec!["query".into()],
            code_challenge_methods_supported: vec!["S256".into()],
            authorization_response_iss_parameter_supported: true,
            prompt_values_supported: vec!["none".into(), "login".into()],
            subject_types_supported: vec!["public".into()],
            id_token_signing_alg_values_supported: algs.clone(),
            access_token_signing_alg_values_supported: algs,
            dpop_signing_alg_values_supported: tessera_verify::dpop::ProofAlg::NAMES
                .map(str::to_string)
                .to_vec(),
            scopes_supported: scopes,
            service_documentation: format!("{issuer}/docs"),
        }
    }
}

#[derive(ApiResponse)]
pub enum DiscoveryResponse {
    /// The metadata document.
    #[oai(status = 200)]
    Ok(
        PreSerialized<DiscoveryDoc>,
        #[oai(header = "Cache-Control")] String,
    ),
}

pub struct DiscoveryApi {
    pub state: Arc<AppState>,
}

#[OpenApi]
impl DiscoveryApi {
    /// Landing page
    ///
    /// A small HTML page linking the API documentation (`/docs`), the OpenID configuration
    /// and the JWKS.
    #[oai(
        path = "/",
        method = "get",
        tag = "ApiTags::Discovery",
        operation_id = "landing"
    )]
    async fn landing(&self) -> Html<&'static str> {
        Html(LANDING)
    }

    /// JSON Web Key Set
    ///
    /// The public keys that verify Tessera's tokens: the active key per algorithm, the next
    /// keys (published before they sign), and retired keys until every token they signed
    /// has expired. Served from memory; honours `If-None-Match` with 304.
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        tag = "ApiTags::Discovery",
        operation_id = "jwks"
    )]
    async fn jwks(
        &self,
        /// An ETag from a previous response.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> JwksResponse {
        let snap = self.state.keyring.snapshot();
        let cc = self.state.jwks_cache_control.clone();
        if let Some(inm) = if_none_match.0
            && etag_matches(&inm, &snap.etag)
        {
            return JwksResponse::NotModified(cc, snap.etag.clone());
        }
        JwksResponse::Ok(PreSerialized::new(snap.jwks.clone()), cc, snap.etag.clone())
    }

    /// OpenID Connect discovery
    ///
    /// OpenID Provider metadata (OpenID Connect Discovery 1.0 §3).
    #[oai(
        path = "/.well-known/openid-configuration",
        method = "get",
        tag = "ApiTags::Discovery",
        operation_id = "openidConfiguration"
    )]
    async fn openid_configuration(&self) -> DiscoveryResponse {
        self.doc()
    }

    /// OAuth 2.0 authorization server metadata
    ///
    /// RFC 8414 metadata; the same document as the OpenID configuration.
    #[oai(
        path = "/.well-known/oauth-authorization-server",
        method = "get",
        tag = "ApiTags::Discovery",
        operation_id = "oauthAuthorizationServer"
    )]
    async fn oauth_authorization_server(&self) -> DiscoveryResponse {
        self.doc()
    }
}

impl DiscoveryApi {
    fn doc(&self) -> DiscoveryResponse {
        let doc = self.state.discovery.load();
        DiscoveryResponse::Ok(
            PreSerialized::new(doc.json.clone()),
            self.state.jwks_cache_control.clone(),
        )
    }
}

/// `If-None-Match` matching (RFC 9110 §13.1.2, weak comparison): a list of tags or `*`.
fn etag_matches(header: &str, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == bare)
}

/// The page at `/`: where to go next.
pub const LANDING: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tessera</title></head>
<body><h1>Tessera</h1><p>An OAuth 2.0 token issuer.</p><ul>
<li><a href="/docs">API documentation (Swagger UI)</a></li>
<li><a href="/.well-known/openid-configuration">OpenID configuration</a></li>
<li><a href="/.well-known/jwks.json">JSON Web Key Set</a></li></ul></body></html>"#;

#[cfg(test)]
mod tests {
    #[test]
    fn etag_matching() {
        assert!(super::etag_matches("\"a\"", "\"a\""));
        assert!(super::etag_matches("\"b\", W/\"a\"", "\"a\""));
        assert!(super::etag_matches("*", "\"a\""));
        assert!(!super::etag_matches("\"b\"", "\"a\""));
    }
}
