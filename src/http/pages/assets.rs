//! `GET /pages/assets/pages.css`: the pages' stylesheet, from memory. Its URL carries a
//! content hash (`?v=`), so a browser may keep it a year; a request without the current
//! hash still gets it, cached briefly.

use poem::{
    IntoResponse, Request, Response, Route, get, handler,
    http::{HeaderValue, header},
};

use crate::pages;

pub fn route(route: Route) -> Route {
    route.at(pages::CSS_PATH, get(css))
}

#[handler]
fn css(req: &Request) -> Response {
    let current = req.uri().path_and_query().map(|p| p.as_str()) == Some(pages::css_url());
    let mut resp = pages::CSS
        .with_content_type("text/css; charset=utf-8")
        .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if current {
            "public, max-age=31536000, immutable"
        } else {
            "public, max-age=300"
        }),
    );
    resp
}
