//! `/openapi.json` and the Swagger UI under `/docs`, built on their first request.
//!
//! Building them means serialising the whole OpenAPI document and copying Swagger UI's
//! ~1.5 MB of JavaScript into a page: done at start-up it cost every instance a few MiB
//! of resident memory (and start-up time) whether or not anyone ever opened the docs.

use std::sync::{Arc, OnceLock};

use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, endpoint::BoxEndpoint};

use crate::http::AppState;

/// An endpoint made by `make` on its first request, then kept.
pub struct Lazy<F> {
    make: F,
    endpoint: OnceLock<BoxEndpoint<'static>>,
}

impl<F: Fn() -> BoxEndpoint<'static> + Send + Sync> Lazy<F> {
    pub fn new(make: F) -> Self {
        Self {
            make,
            endpoint: OnceLock::new(),
        }
    }
}

impl<F: Fn() -> BoxEndpoint<'static> + Send + Sync> Endpoint for Lazy<F> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        self.endpoint.get_or_init(&self.make).call(req).await
    }
}

/// The Swagger UI (page and OAuth receiver) for `/docs`.
pub fn swagger_ui(state: Arc<AppState>) -> impl Endpoint<Output = Response> {
    Lazy::new(move || {
        super::api_service(state.clone(), &state.settings.issuer)
            .swagger_ui()
            .map_to_response()
            .boxed()
    })
}

/// The OpenAPI document (with this server's URL) for `/openapi.json`.
pub fn openapi_json(state: Arc<AppState>) -> impl Endpoint<Output = Response> {
    Lazy::new(move || {
        let spec = super::api_service(state.clone(), &state.settings.issuer).spec();
        poem::endpoint::make_sync(move |_| {
            spec.clone()
                .with_content_type("application/json; charset=utf-8")
                .into_response()
        })
        .boxed()
    })
}
