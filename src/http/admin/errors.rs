//! The admin API's one error type and its JSON body.

use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::error::Error;

/// Error body of the admin API.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct Problem {
    /// Machine-readable code: `invalid_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `payload_too_large`, `unsupported_media_type`, `server_error` or
    /// `temporarily_unavailable`.
    pub error: String,
    /// Human-readable explanation (never internal detail).
    pub message: String,
    /// The request field at fault, for validation errors.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
}

impl poem_openapi::types::Example for Problem {
    fn example() -> Self {
        Problem {
            error: "invalid_request".into(),
            message:
                "at least one audience (the resource server that accepts the tokens) is required"
                    .into(),
            field: Some("audiences".into()),
        }
    }
}

/// Failure answers of the admin API.
#[derive(Debug, ApiResponse)]
pub enum AdminError {
    /// A field is invalid (see `field`), or the body is not the documented JSON.
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// No bearer token, or not a valid admin token of this issuer.
    #[oai(status = 401)]
    Unauthorized(
        Json<Problem>,
        /// `Bearer realm="tessera-admin"`.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// A valid admin token without the scope this operation needs, or a change only a
    /// `tessera:admin` token may make (granting or touching `tessera:*` scopes or the admin
    /// audience), or a client widening its own scopes or audiences.
    #[oai(status = 403)]
    Forbidden(
        Json<Problem>,
        /// `Bearer error="insufficient_scope"` with the scope needed.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// No such client, user or key.
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// The change conflicts with the current state (a taken username, a concurrent rotation).
    #[oai(status = 409)]
    Conflict(Json<Problem>),
    /// The body exceeds 64 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<Problem>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<Problem>),
    /// An unexpected failure; the detail is in the server's logs.
    #[oai(status = 500)]
    Internal(Json<Problem>),
    /// The database is unavailable; retry later.
    #[oai(status = 503)]
    Unavailable(
        Json<Problem>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        String,
    ),
}

pub type AdminResult<T> = Result<T, AdminError>;

fn problem(error: &str, message: impl Into<String>, field: Option<&str>) -> Json<Problem> {
    Json(Problem {
        error: error.into(),
        message: message.into(),
        field: field.map(str::to_string),
    })
}

impl AdminError {
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        Self::BadRequest(problem("invalid_request", message, Some(field)))
    }

    pub fn unauthorized() -> Self {
        Self::Unauthorized(
            problem(
                "unauthorized",
                "a valid admin bearer token is required",
                None,
            ),
            r#"Bearer realm="tessera-admin""#.into(),
        )
    }

    /// 401 with a `DPoP` challenge (RFC 9449 §7.1): a DPoP-bound admin token without its
    /// proof, with an invalid or replayed one, or without the server nonce.
    pub fn dpop_unauthorized(error: &str, description: &str) -> Self {
        Self::Unauthorized(
            problem("unauthorized", description, None),
            crate::dpop::challenge(error, description),
        )
    }

    pub fn forbidden(scope: &str) -> Self {
        Self::Forbidden(
            problem(
                "forbidden",
                format!("the token lacks the scope {scope} (or tessera:admin)"),
                None,
            ),
            format!(r#"Bearer realm="tessera-admin", error="insufficient_scope", scope="{scope}""#),
        )
    }

    /// A change the admin policy refuses (see `admin::policy`).
    pub fn refused(why: crate::admin::Refusal) -> Self {
        let challenge = match why.scope_needed() {
            Some(scope) => format!(
                r#"Bearer realm="tessera-admin", error="insufficient_scope", scope="{scope}""#
            ),
            None => r#"Bearer realm="tessera-admin", error="insufficient_scope""#.to_string(),
        };
        Self::Forbidden(problem("forbidden", why.message(), None), challenge)
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(problem("not_found", format!("no such {what}"), None))
    }

    pub fn too_large(limit: usize) -> Self {
        Self::PayloadTooLarge(problem(
            "payload_too_large",
            format!("the body exceeds {limit} bytes"),
            None,
        ))
    }

    /// An error poem raised before the handler ran (parsing, authentication).
    pub fn from_poem(e: &poem::Error) -> Self {
        match e.status().as_u16() {
            401 => Self::unauthorized(),
            404 | 405 => Self::not_found("operation"),
            413 => Self::too_large(super::MAX_ADMIN_BODY),
            415 => Self::UnsupportedMediaType(problem(
                "unsupported_media_type",
                "the body must be application/json",
                None,
            )),
            400..=499 => {
                let message = e.to_string();
                let field = field_of_parse_error(&message);
                Self::BadRequest(problem("invalid_request", message, field.as_deref()))
            }
            _ => {
                tracing::error!(error = %e, "admin request failed");
                Self::Internal(problem(
                    "server_error",
                    "the server could not complete the request",
                    None,
                ))
            }
        }
    }
}

/// The field a poem-openapi parse error is about: its messages quote it as
/// ``parameter `limit` `` or ``field `password` ``.
fn field_of_parse_error(message: &str) -> Option<String> {
    ["parameter `", "field `"].iter().find_map(|marker| {
        let start = message.find(marker)? + marker.len();
        let len = message[start..].find('`')?;
        Some(message[start..start + len].to_string())
    })
}

impl From<Error> for AdminError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid { field, reason } => Self::bad_request(field.api_name(), reason),
            Error::NotFound(what) => {
                Self::NotFound(problem("not_found", format!("{what} not found"), None))
            }
            Error::Conflict(msg) => Self::Conflict(problem("conflict", msg, None)),
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "admin request: dependency unavailable");
                Self::Unavailable(
                    problem(
                        "temporarily_unavailable",
                        "the service is temporarily unavailable, retry later",
                        None,
                    ),
                    "1".into(),
                )
            }
            e => {
                tracing::error!(error = %e, "admin request failed");
                Self::Internal(problem(
                    "server_error",
                    "the server could not complete the request",
                    None,
                ))
            }
        }
    }
}
