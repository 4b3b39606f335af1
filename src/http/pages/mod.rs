//! The HTTP side of the console and account pages: thin poem handlers that read the
//! cookies, the query or the form, call `crate::pages` and render its [`Outcome`] with
//! the pages' headers (strict CSP, no framing, no caching). The route tree of `/console`,
//! `/account` and `/pages/assets` is assembled in [`routes`]: each page module adds its
//! routes with one `route(route)` call there.

pub mod account;
pub mod assets;
pub mod clients;
pub mod console;
pub mod users;

use poem::{
    Body, IntoResponse, Request, Response, Route,
    error::ReadBodyError,
    http::{HeaderValue, StatusCode, header},
};

use crate::{
    http::AppState,
    pages::{
        self, MessagePage, Outcome, Services,
        session::{self, Audience, PostContext, Viewer},
    },
    params::Params,
};

/// Adds every page route to `route`. A page module (console clients and users, the
/// account page) adds its routes here with one `route(route)` call.
pub fn routes(route: Route) -> Route {
    let route = assets::route(route);
    let route = account::route(route);
    let route = clients::route(route);
    let route = users::route(route);
    console::route(route)
}

/// Every page path and its methods (templates with `:param`), for `Allow` on 405
/// answers. A page module adds its own list here.
pub fn methods() -> impl Iterator<Item = (&'static str, &'static str)> {
    console::METHODS
        .iter()
        .chain(account::METHODS)
        .chain(clients::METHODS)
        .chain(users::METHODS)
        .copied()
        .chain([(crate::pages::CSS_PATH, "GET")])
}

/// The domain services of a page request.
pub(crate) fn services(state: &AppState) -> Services<'_> {
    Services {
        ctx: &state.ctx,
        db: &state.db,
        keys: state.keys.as_deref(),
        audit: &state.audit,
    }
}

/// The request's `Cookie` header.
pub(crate) fn cookies(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
}

/// The path and query of the request (where to come back after sign-in).
pub(crate) fn here(req: &Request) -> String {
    req.uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string())
}

/// The query string's parameters (too many: none).
pub(crate) fn query(req: &Request) -> Params {
    Params::parse(req.uri().query().unwrap_or("").as_bytes()).unwrap_or_default()
}

/// A query parameter's first value.
pub(crate) fn param(req: &Request, name: &str) -> Option<String> {
    query(req).all(name).first().map(|v| v.to_string())
}

/// The viewer of a page at this request's URL, or the response to send instead (sign-in
/// redirect, 403 page, 503 page).
pub(crate) async fn admit(
    state: &AppState,
    req: &Request,
    audience: Audience,
) -> Result<Viewer, Response> {
    session::admit(&services(state), cookies(req), &here(req), audience)
        .await
        .map_err(|o| respond(state, req, o))
}

/// A form post: the bounded `application/x-www-form-urlencoded` body, the viewer (a user
/// without a session is sent to sign in and back to `back`), and the CSRF check of
/// `pages::session` (one rule for every page form). Refusals are ready responses.
pub(crate) async fn admit_post(
    state: &AppState,
    req: &Request,
    body: Body,
    audience: Audience,
    back: &str,
) -> Result<(Viewer, Params), Response> {
    let s = services(state);
    let v = session::admit(&s, cookies(req), back, audience)
        .await
        .map_err(|o| respond(state, req, o))?;
    let form = read_form(state, req, body)
        .await
        .map_err(|o| respond(state, req, o(&v)))?;
    let post = PostContext {
        origin: req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok()),
        sec_fetch_site: req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok()),
    };
    session::check_post(&state.ctx, &v, &form, post).map_err(|o| respond(state, req, o))?;
    Ok((v, form))
}

type Refusal = Box<dyn FnOnce(&Viewer) -> Outcome + Send>;

/// Reads a form body: `application/x-www-form-urlencoded`, at most `max_form_bytes`.
async fn read_form(state: &AppState, req: &Request, body: Body) -> Result<Params, Refusal> {
    let refused = |status: u16, message: &'static str| -> Refusal {
        Box::new(move |v: &Viewer| {
            MessagePage::outcome(
                status,
                v.layout("Form refused", ""),
                "Form refused",
                message,
            )
        })
    };
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(refused(400, "The form could not be read."));
    }
    let bytes = match body.into_bytes_limit(state.settings.max_form_bytes).await {
        Ok(b) => b,
        Err(ReadBodyError::PayloadTooLarge) => {
            return Err(refused(413, "The form is too large."));
        }
        Err(_) => return Err(refused(400, "The form could not be read.")),
    };
    Params::parse(&bytes).map_err(|_| refused(400, "The form has too many fields."))
}

/// Renders an outcome with the pages' headers. A flash message the request brought has
/// been shown by the page: its cookie goes.
pub(crate) fn respond(state: &AppState, req: &Request, outcome: Outcome) -> Response {
    let had_flash =
        crate::browser_cookies::cookie_value(cookies(req), session::FLASH_COOKIE).is_some();
    let (status, body, location, mut set_cookies) = match outcome {
        Outcome::Page {
            status,
            html,
            set_cookies,
        } => (status, Some(html), None, set_cookies),
        Outcome::Redirect {
            location,
            set_cookies,
        } => (303, None, Some(location), set_cookies),
    };
    if had_flash && body.is_some() {
        set_cookies.push(session::clear_flash(&state.ctx));
    }
    let mut resp = match body {
        Some(html) => html
            .with_content_type("text/html; charset=utf-8")
            .into_response(),
        None => Response::default(),
    };
    resp.set_status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(pages::CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if let Some(location) = location
        && let Ok(v) = HeaderValue::from_str(&location)
    {
        headers.insert(header::LOCATION, v);
    }
    for c in set_cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    resp
}
