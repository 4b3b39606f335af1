//! `/account`: the account page's routes. Each handler admits the viewer (any enabled
//! signed-in user; for forms also the CSRF rule of `pages::session`), calls
//! `crate::pages::account` and renders its outcome.

use std::sync::Arc;

use poem::{
    Body, Request, Response, Route, get, handler, post,
    web::{Data, RemoteAddr},
};

use super::{admit, admit_post, respond, services};
use crate::{
    http::AppState,
    pages::{account, session::Audience},
};

/// The account page's paths and methods, for `Allow` on 405 answers.
pub const METHODS: &[(&str, &str)] = &[
    (account::PATH, "GET"),
    (account::PASSWORD_PATH, "POST"),
    (account::END_PATH, "POST"),
    (account::END_ALL_PATH, "POST"),
];

/// The account page's routes.
pub fn route(route: Route) -> Route {
    route
        .at(account::PATH, get(show))
        .at(account::PASSWORD_PATH, post(change_password))
        .at(account::END_PATH, post(end_session))
        .at(account::END_ALL_PATH, post(end_all))
}

#[handler]
async fn show(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let v = match admit(state, req, Audience::Anyone).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    respond(state, req, account::show(&services(state), &v).await)
}

#[handler]
async fn change_password(
    req: &Request,
    remote: &RemoteAddr,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (v, form) = match admit_post(state, req, body, Audience::Anyone, account::PATH).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ip = crate::http::client_ip::client_ip(&state.trusted_proxies, remote, req.headers());
    respond(
        state,
        req,
        account::change_password(&services(state), &v, &form, ip).await,
    )
}

#[handler]
async fn end_session(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let (v, form) = match admit_post(state, req, body, Audience::Anyone, account::PATH).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(
        state,
        req,
        account::end_session(&services(state), &v, &form).await,
    )
}

#[handler]
async fn end_all(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let (v, _) = match admit_post(state, req, body, Audience::Anyone, account::PATH).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(state, req, account::end_all(&services(state), &v).await)
}
