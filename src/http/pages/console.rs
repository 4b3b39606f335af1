//! `/console`: the admin console's routes. Each handler admits the viewer (sign-in,
//! role, and for forms the CSRF rule of `pages::session`), calls the page's function in
//! `crate::pages::console` and renders its outcome.

use std::sync::Arc;

use poem::{
    Body, Request, Response, Route, get, handler, post,
    web::{Data, Path},
};

use super::{admit, admit_post, query, respond, services};
use crate::{
    http::AppState,
    pages::{
        console::{audit, keys, overview},
        session::{self, Audience},
    },
};

/// The console's paths and methods, for `Allow` on 405 answers (`http::allowed_methods`).
pub const METHODS: &[(&str, &str)] = &[
    ("/console", "GET"),
    (session::CALLBACK_PATH, "GET"),
    (session::SIGNOUT_PATH, "POST"),
    ("/console/keys", "GET"),
    ("/console/keys/rotate", "POST"),
    ("/console/keys/:kid/revoke", "GET"),
    ("/console/keys/:kid/revoke", "POST"),
    ("/console/audit", "GET"),
];

/// The console's routes. Clients and users (`/console/clients`, `/console/users`) add
/// theirs with one `route(route)` call in `http::pages::routes`.
pub fn route(route: Route) -> Route {
    route
        .at("/console", get(home))
        .at("/console/", get(home))
        .at(session::CALLBACK_PATH, get(callback))
        .at(session::SIGNOUT_PATH, post(sign_out))
        .at("/console/keys", get(keys_page))
        .at("/console/keys/rotate", post(keys_rotate))
        .at(
            "/console/keys/:kid/revoke",
            get(key_revoke_page).post(key_revoke),
        )
        .at("/console/audit", get(audit_page))
}

#[handler]
async fn home(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let v = match admit(state, req, Audience::Admins).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    respond(state, req, overview::show(&services(state), &v).await)
}

/// The authorization server's answer to a page sign-in.
#[handler]
async fn callback(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let outcome = session::finish_sign_in(&state.ctx, &query(req), super::cookies(req)).await;
    respond(state, req, outcome)
}

/// Sign-out, from any page (console or account).
#[handler]
async fn sign_out(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let (v, _) = match admit_post(state, req, body, Audience::Anyone, "/console").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(state, req, session::sign_out(&state.ctx, &v).await)
}

#[handler]
async fn keys_page(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let v = match admit(state, req, Audience::Admins).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    respond(state, req, keys::show(&services(state), &v).await)
}

#[handler]
async fn keys_rotate(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let (v, form) = match admit_post(state, req, body, Audience::Admins, "/console/keys").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(state, req, keys::rotate(&services(state), &v, &form).await)
}

#[handler]
async fn key_revoke_page(
    req: &Request,
    Path(kid): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let v = match admit(state, req, Audience::Admins).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    respond(
        state,
        req,
        keys::confirm_revoke(&services(state), &v, &kid).await,
    )
}

#[handler]
async fn key_revoke(
    req: &Request,
    body: Body,
    Path(kid): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let back = format!("/console/keys/{kid}/revoke");
    let (v, form) = match admit_post(state, req, body, Audience::Admins, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(
        state,
        req,
        keys::revoke(&services(state), &v, &kid, &form).await,
    )
}

#[handler]
async fn audit_page(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let v = match admit(state, req, Audience::Admins).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    respond(
        state,
        req,
        audit::show(&services(state), &v, &query(req)).await,
    )
}
