//! The form body of the OAuth endpoints as a poem-openapi extractor.
//!
//! poem-openapi's own `Form` would answer a wrong content type with 415 and a parse error
//! with its own body; OAuth wants RFC 6749 `invalid_request` JSON instead, and repeated
//! parameters detected, and credentials or tokens in the URL query refused
//! ([`no_secrets_in_query`]). This extractor never fails: it hands the handler either the
//! parameters or the [`OAuthError`] to answer with, while the schema `T` documents the form.

use std::marker::PhantomData;

use poem::{Request, RequestBody, error::ReadBodyError};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaMediaType, MetaRequest, Registry},
    types::Type,
};

use crate::{error::OAuthError, params::Params};

/// Largest form body, set per route as poem data.
#[derive(Debug, Clone, Copy)]
pub struct FormLimit(pub usize);

pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

pub struct OAuthForm<T> {
    pub params: Result<Params, OAuthError>,
    _schema: PhantomData<T>,
}

impl<'a, T: Type> ApiExtractor<'a> for OAuthForm<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(
                "Form-encoded parameters (RFC 6749 §3.2). Parameters must not be repeated.",
            ),
            content: vec![MetaMediaType {
                content_type: FORM_CONTENT_TYPE,
                schema: T::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let limit = request
            .data::<FormLimit>()
            .map(|l| l.0)
            .unwrap_or(16 * 1024);
        Ok(Self {
            params: read(request, body, limit).await,
            _schema: PhantomData,
        })
    }
}

/// Parameters that carry a credential or a token: never accepted in a URL query, where
/// proxies, browsers and access logs keep them (RFC 6749 §2.3.1, RFC 6750 §2.3, A6).
pub const SECRET_PARAMETERS: &[&str] = &[
    "client_secret",
    "refresh_token",
    "password",
    "code",
    "code_verifier",
    "client_assertion",
    "access_token",
    "token",
];

/// Refuses a request whose query string names any of [`SECRET_PARAMETERS`] (with or
/// without a value), with `invalid_request`; the value is neither read nor logged.
pub fn no_secrets_in_query(request: &Request) -> Result<(), OAuthError> {
    let Some(query) = request.uri().query() else {
        return Ok(());
    };
    let found = form_urlencoded::parse(query.as_bytes())
        .any(|(name, _)| SECRET_PARAMETERS.contains(&name.as_ref()));
    if found {
        return Err(OAuthError::invalid_request(
            "credentials and tokens must be sent in the request body or the Authorization \
             header, never in the URL query",
        ));
    }
    Ok(())
}

async fn read(
    request: &Request,
    body: &mut RequestBody,
    limit: usize,
) -> Result<Params, OAuthError> {
    no_secrets_in_query(request)?;
    let is_form = request
        .content_type()
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE));
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let body = body
        .take()
        .map_err(|_| OAuthError::invalid_request("the request has no body"))?;
    let unreadable = |_| OAuthError::invalid_request("the request body could not be read");
    let bytes = match declared_length(request) {
        // Known length: refuse an oversized body before reading it, otherwise take the body
        // as hyper collected it (one chunk, no copy). hyper never yields more bytes than
        // Content-Length declares, so the limit holds.
        Some(n) if n > limit => return Err(OAuthError::PayloadTooLarge),
        Some(_) => body.into_bytes().await.map_err(unreadable)?,
        // Chunked: read with a running limit (4 KiB at a time, copied).
        None => body.into_bytes_limit(limit).await.map_err(|e| match e {
            ReadBodyError::PayloadTooLarge => OAuthError::PayloadTooLarge,
            _ => OAuthError::invalid_request("the request body could not be read"),
        })?,
    };
    Params::parse(&bytes)
}

/// The `Content-Length` of a request, when it has exactly one well-formed one and no
/// `Transfer-Encoding` (which would take precedence over it).
fn declared_length(request: &Request) -> Option<usize> {
    if request
        .headers()
        .contains_key(poem::http::header::TRANSFER_ENCODING)
    {
        return None;
    }
    let mut values = request
        .headers()
        .get_all(poem::http::header::CONTENT_LENGTH)
        .iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use poem::{Request, http::header};

    use super::declared_length;

    #[test]
    fn only_an_unambiguous_content_length_skips_the_running_limit() {
        let req = |headers: &[(header::HeaderName, &str)]| {
            let mut b = Request::builder();
            for (k, v) in headers {
                b = b.header(k.clone(), *v);
            }
            b.finish()
        };
        assert_eq!(
            declared_length(&req(&[(header::CONTENT_LENGTH, "42")])),
            Some(42)
        );
        assert_eq!(declared_length(&req(&[])), None);
        assert_eq!(
            declared_length(&req(&[(header::CONTENT_LENGTH, "x")])),
            None
        );
        assert_eq!(
            declared_length(&req(&[
                (header::CONTENT_LENGTH, "1"),
                (header::CONTENT_LENGTH, "1")
            ])),
            None
        );
        assert_eq!(
            declared_length(&req(&[
                (header::CONTENT_LENGTH, "1"),
                (header::TRANSFER_ENCODING, "chunked")
            ])),
            None
        );
    }
}
