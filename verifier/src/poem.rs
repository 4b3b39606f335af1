//! poem integration (feature `poem`).
//!
//! ```no_run
//! # async fn demo(verifier: tessera_verify::Verifier) {
//! use poem::{EndpointExt, Route, get, handler, web::Data};
//! use tessera_verify::{Claims, poem::TesseraAuth};
//!
//! #[handler]
//! fn orders(claims: Data<&Claims>) -> String {
//!     format!("orders of {}", claims.sub())
//! }
//!
//! let app = Route::new().at(
//!     "/orders",
//!     get(orders).with(TesseraAuth::new(verifier).require_scope("orders:read")),
//! );
//! # }
//! ```
//!
//! The middleware puts the verified [`Claims`] into the request extensions (read them with
//! `Data<&Claims>` or the `&Claims` extractor) and otherwise answers 401 / 400 / 403 / 503
//! with an RFC 6750 `WWW-Authenticate: Bearer` or RFC 9449 §7.1 `WWW-Authenticate: DPoP`
//! challenge. Both `Authorization: Bearer` and `Authorization: DPoP` (with a `DPoP` proof)
//! are handled as [`Verifier::verify_request`] does; a DPoP-bound token is never accepted
//! as a bearer token. The proof's `htu` is checked against
//! [`external_base_url`](TesseraAuth::external_base_url) + path when set, else against the
//! URL rebuilt from the listener's scheme and the `Host` header.

use poem::{
    Endpoint, FromRequest, IntoResponse, Middleware, Request, RequestBody, Response, Result,
};

use crate::{
    Claims, Verifier,
    bearer::{self, Requirements},
};

/// Middleware requiring a valid access token (and optionally scopes).
#[derive(Clone)]
pub struct TesseraAuth {
    verifier: Verifier,
    req: Requirements,
}

impl TesseraAuth {
    /// Any valid token from `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            req: Requirements::new(),
        }
    }
    /// Also require this scope (repeatable: all are required); else 403 `insufficient_scope`.
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.req = self.req.scope(scope);
        self
    }
    /// The `realm` of the challenge.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.req = self.req.realm(realm);
        self
    }
    /// The service's public base URL (`https://api.example.com`), against which DPoP
    /// proofs' `htu` is checked (base + request path). Needed behind a reverse proxy or TLS
    /// terminator; see [`Requirements::external_base_url`].
    pub fn external_base_url(mut self, base: impl Into<String>) -> Self {
        self.req = self.req.external_base_url(base);
        self
    }
}

impl<E: Endpoint> Middleware<E> for TesseraAuth {
    type Output = TesseraAuthEndpoint<E>;
    fn transform(&self, inner: E) -> Self::Output {
        TesseraAuthEndpoint {
            inner,
            auth: self.clone(),
        }
    }
}

/// The endpoint produced by [`TesseraAuth`].
pub struct TesseraAuthEndpoint<E> {
    inner: E,
    auth: TesseraAuth,
}

impl<E: Endpoint> Endpoint for TesseraAuthEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        let default_scheme = req.scheme().as_str().to_owned();
        let url = bearer::request_url(&self.auth.req, req.uri(), req.headers(), &default_scheme);
        let method = req.method().as_str().to_owned();
        match bearer::authorize(
            &self.auth.verifier,
            &method,
            &url,
            req.headers(),
            &self.auth.req,
        )
        .await
        {
            Ok(claims) => {
                req.extensions_mut().insert(claims);
                self.inner.call(req).await.map(IntoResponse::into_response)
            }
            Err(denial) => {
                let mut resp = Response::builder().status(denial.status());
                for (k, v) in denial.headers(&self.auth.req) {
                    resp = resp.header(k, v);
                }
                Ok(resp.body(denial.body()))
            }
        }
    }
}

/// Extracts the claims put there by [`TesseraAuth`]; 401 when the route is not protected.
impl<'a> FromRequest<'a> for &'a Claims {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> Result<Self> {
        req.extensions()
            .get::<Claims>()
            .ok_or_else(|| poem::Error::from_status(poem::http::StatusCode::UNAUTHORIZED))
    }
}
