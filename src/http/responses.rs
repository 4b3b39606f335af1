//! The one place where [`OAuthError`] becomes an HTTP response (RFC 6749 §5.2).

use std::marker::PhantomData;

use poem::{IntoResponse, Response, http::header};
use poem_openapi::{
    ApiResponse, Object,
    payload::{Json, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use serde::Serialize;

use crate::error::OAuthError;

/// A JSON body serialised straight from a domain value `T` with serde, documented in OpenAPI
/// as the schema `D` with the same content type as poem-openapi's `Json<D>`.
///
/// `Json<D>` first converts the value into a `serde_json::Value` tree (an allocation per
/// field and a copy of every string, the token included) and then serialises that tree;
/// this payload writes the bytes in one pass. `D` and `T` must serialise to the same
/// fields (the token endpoint has a test that checks it).
#[derive(Debug)]
pub struct DirectJson<D, T>(pub T, PhantomData<fn() -> D>);

impl<D, T> DirectJson<D, T> {
    pub fn new(value: T) -> Self {
        Self(value, PhantomData)
    }
}

impl<D: Type, T: Send> Payload for DirectJson<D, T> {
    const CONTENT_TYPE: &'static str = JSON_CONTENT_TYPE;
    fn schema_ref() -> MetaSchemaRef {
        D::schema_ref()
    }
    fn register(registry: &mut Registry) {
        D::register(registry);
    }
}

impl<D: Send, T: Serialize + Send> IntoResponse for DirectJson<D, T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder()
                .header(header::CONTENT_TYPE, JSON_CONTENT_TYPE)
                .body(body),
            // Serialising plain structs of strings and integers cannot fail; never leak why.
            Err(_) => Response::builder()
                .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
                .finish(),
        }
    }
}

pub const NO_STORE: &str = "no-store";
pub const NO_CACHE: &str = "no-cache";
/// What poem-openapi's `Json` declares, so the OpenAPI document is the same either way.
const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// RFC 6749 §5.2 error body.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct OAuthErrorBody {
    /// Error code: `invalid_request`, `invalid_client`, `invalid_grant`,
    /// `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, `invalid_target`,
    /// `invalid_dpop_proof`, `use_dpop_nonce`, `slow_down`, `server_error` or
    /// `temporarily_unavailable`.
    pub error: String,
    /// Human-readable explanation. Safe wording: never internal detail.
    #[oai(skip_serializing_if_is_none)]
    pub error_description: Option<String>,
}

impl poem_openapi::types::Example for OAuthErrorBody {
    fn example() -> Self {
        OAuthErrorBody {
            error: "invalid_scope".into(),
            error_description: Some(
                "the requested scope exceeds what this client may request".into(),
            ),
        }
    }
}

/// Failure answers of the OAuth endpoints. Always `Cache-Control: no-store`.
#[derive(Debug, ApiResponse)]
pub enum OAuthFailure {
    /// The request is malformed, or the grant, scope, resource or DPoP proof is refused.
    #[oai(status = 400)]
    BadRequest(
        Json<OAuthErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
        /// A fresh DPoP server nonce (RFC 9449 §8): always with `use_dpop_nonce`, and on
        /// errors of token requests that carried a DPoP proof.
        #[oai(header = "DPoP-Nonce")]
        Option<String>,
    ),
    /// Client authentication failed (`invalid_client`).
    #[oai(status = 401)]
    Unauthorized(
        Json<OAuthErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
        /// The authentication scheme to use: `Basic realm="tessera"`.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// The request body exceeds the configured limit.
    #[oai(status = 413)]
    PayloadTooLarge(
        Json<OAuthErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// `slow_down`: too many failed logins, or the token endpoint's rate limit per IP or
    /// per client; retry after the given seconds.
    #[oai(status = 429)]
    TooManyRequests(
        Json<OAuthErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
        #[oai(header = "Retry-After")] String,
    ),
    /// The server failed; details are in its logs only.
    #[oai(status = 500)]
    ServerError(
        Json<OAuthErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// A dependency (database, signing key) is unavailable; retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(
        Json<OAuthErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
        #[oai(header = "Retry-After")] String,
    ),
}

impl From<OAuthError> for OAuthFailure {
    fn from(e: OAuthError) -> Self {
        crate::metrics::METRICS.oauth_error(e.code());
        let body = Json(OAuthErrorBody {
            error: e.code().into(),
            error_description: Some(e.description().into()),
        });
        let (cc, pragma) = (NO_STORE.to_string(), NO_CACHE.to_string());
        if let OAuthError::SlowDown { retry_after } = e {
            return OAuthFailure::TooManyRequests(body, cc, pragma, retry_after.to_string());
        }
        match e.status() {
            401 => OAuthFailure::Unauthorized(
                body,
                cc,
                pragma,
                r#"Basic realm="tessera", charset="UTF-8""#.into(),
            ),
            413 => OAuthFailure::PayloadTooLarge(body, cc, pragma),
            500 => OAuthFailure::ServerError(body, cc, pragma),
            503 => OAuthFailure::Unavailable(body, cc, pragma, "1".into()),
            _ => OAuthFailure::BadRequest(body, cc, pragma, None),
        }
    }
}

impl OAuthFailure {
    /// Adds a `DPoP-Nonce` header to a 400 answer.
    pub fn with_dpop_nonce(self, nonce: String) -> Self {
        match self {
            OAuthFailure::BadRequest(body, cc, pragma, _) => {
                OAuthFailure::BadRequest(body, cc, pragma, Some(nonce))
            }
            other => other,
        }
    }
}
