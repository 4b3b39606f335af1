//! The CORS allow-list for browser clients (`cors_allowed_origins`, parsed by
//! `config::parse_origins`).

use std::{collections::HashSet, sync::Arc};

use poem::{Endpoint, IntoResponse, Request, Response, middleware::Cors};

/// CORS for the listed origins only. Requests from other origins (and same-origin or
/// non-browser requests, which send no `Origin` or one not listed) pass through untouched:
/// without `Access-Control-Allow-Origin` the browser keeps the response from the page, and
/// a preflight gets the route's own 405. poem's `Cors` alone would answer 403 to any
/// unlisted `Origin`, including this server's own login form.
#[derive(Clone)]
pub struct CorsPolicy {
    origins: Arc<HashSet<String>>,
    cors: Arc<Cors>,
}

impl CorsPolicy {
    pub fn new(origins: Vec<String>) -> Self {
        let cors = Cors::new()
            .allow_origins(origins.iter().map(String::as_str))
            .allow_methods([poem::http::Method::GET, poem::http::Method::POST])
            .allow_headers(["authorization", "content-type"])
            .allow_credentials(false)
            .max_age(600);
        Self {
            origins: Arc::new(origins.into_iter().collect()),
            cors: Arc::new(cors),
        }
    }

    /// Middleware body for `EndpointExt::around`.
    pub async fn handle<E: Endpoint>(&self, ep: Arc<E>, req: Request) -> poem::Result<Response> {
        let listed = req
            .header(poem::http::header::ORIGIN)
            .is_some_and(|o| self.origins.contains(o));
        let mut resp = if listed {
            let ep = poem::Middleware::transform(self.cors.as_ref(), ep);
            ep.call(req).await?.into_response()
        } else {
            ep.call(req).await?.into_response()
        };
        if !self.origins.is_empty() {
            // The response now depends on `Origin`: shared caches (the JWKS is cacheable)
            // must not hand one origin's answer to another.
            resp.headers_mut().append(
                poem::http::header::VARY,
                poem::http::HeaderValue::from_static("Origin"),
            );
        }
        Ok(resp)
    }
}
