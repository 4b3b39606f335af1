//! tower integration (feature `tower`): a [`Layer`] for axum, tonic and hyper services.
//!
//! ```ignore
//! use axum::{Extension, Router, routing::get};
//! use tessera_verify::{Claims, tower::TesseraLayer};
//!
//! async fn orders(Extension(claims): Extension<Claims>) -> String {
//!     format!("orders of {}", claims.sub())
//! }
//!
//! let app: Router = Router::new()
//!     .route("/orders", get(orders))
//!     .layer(TesseraLayer::new(verifier).require_scope("orders:read"));
//! ```
//!
//! Verified [`Claims`] go into the request extensions. Both `Authorization: Bearer` and
//! `Authorization: DPoP` (with a `DPoP` proof, RFC 9449) are handled as
//! [`Verifier::verify_request`](crate::Verifier::verify_request) does. DPoP proofs' `htu`
//! is checked against [`external_base_url`](TesseraLayer::external_base_url) + path when
//! set, else against `http://` (or the URI's own scheme) + `Host` + path: set the base URL
//! whenever clients reach the service over TLS or through a proxy.
//! Refusals are 401 / 400 / 403 / 503 with an RFC 6750 `WWW-Authenticate: Bearer` or
//! RFC 9449 `WWW-Authenticate: DPoP` challenge (and `DPoP-Nonce` when a nonce is
//! required) and an empty body (the response body type
//! only needs `Default`, so any tower service fits; gRPC clients see HTTP 401 as
//! `Unauthenticated`).

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use tower_layer::Layer;
use tower_service::Service;

use crate::{
    Verifier,
    bearer::{self, Requirements},
};

/// A layer requiring a valid access token (and optionally scopes).
#[derive(Clone)]
pub struct TesseraLayer {
    verifier: Verifier,
    req: Requirements,
}

impl TesseraLayer {
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

impl<S> Layer<S> for TesseraLayer {
    type Service = TesseraService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TesseraService {
            inner,
            auth: self.clone(),
        }
    }
}

/// The service produced by [`TesseraLayer`].
#[derive(Clone)]
pub struct TesseraService<S> {
    inner: S,
    auth: TesseraLayer,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for TesseraService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        // The clone is not ready; keep the ready one (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            let url = bearer::request_url(&auth.req, req.uri(), req.headers(), "http");
            let method = req.method().as_str().to_owned();
            let outcome =
                bearer::authorize(&auth.verifier, &method, &url, req.headers(), &auth.req).await;
            match outcome {
                Ok(claims) => {
                    req.extensions_mut().insert(claims);
                    inner.call(req).await
                }
                Err(denial) => {
                    let mut resp = http::Response::new(ResBody::default());
                    *resp.status_mut() = denial.status();
                    for (k, v) in denial.headers(&auth.req) {
                        if k != http::header::CONTENT_TYPE {
                            resp.headers_mut().append(k, v);
                        }
                    }
                    Ok(resp)
                }
            }
        })
    }
}
