//! `/console/clients`: the console's Clients pages. Each handler admits the viewer (an
//! admin; for forms also the CSRF rule), calls `pages::console::clients` and renders its
//! outcome.

use std::sync::Arc;

use poem::{
    Body, Request, Response, Route, get, handler,
    web::{Data, Path},
};

use super::{admit, admit_post, param, respond, services};
use crate::{
    http::AppState,
    pages::{
        console::{
            clients::{self, Destructive},
            forms::FormData,
        },
        session::Audience,
    },
};

/// The Clients paths and methods, for `Allow` on 405 answers (`http::pages::methods`).
pub const METHODS: &[(&str, &str)] = &[
    ("/console/clients", "GET"),
    ("/console/clients", "POST"),
    ("/console/clients/new", "GET"),
    ("/console/clients/:id", "GET"),
    ("/console/clients/:id", "POST"),
    ("/console/clients/:id/rotate", "GET"),
    ("/console/clients/:id/rotate", "POST"),
    ("/console/clients/:id/delete", "GET"),
    ("/console/clients/:id/delete", "POST"),
];

/// The Clients routes.
pub fn route(route: Route) -> Route {
    route
        .at("/console/clients", get(list).post(create))
        .at("/console/clients/new", get(new))
        .at("/console/clients/:id", get(show).post(update))
        .at(
            "/console/clients/:id/rotate",
            get(confirm_rotate).post(rotate),
        )
        .at(
            "/console/clients/:id/delete",
            get(confirm_delete).post(delete),
        )
}

#[handler]
async fn list(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let v = match admit(state, req, Audience::Admins).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (q, cursor) = (param(req, "q"), param(req, "cursor"));
    respond(
        state,
        req,
        clients::list_page(&services(state), &v, q, cursor).await,
    )
}

#[handler]
async fn new(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    match admit(state, req, Audience::Admins).await {
        Ok(v) => respond(state, req, clients::new_page(&v)),
        Err(r) => r,
    }
}

#[handler]
async fn create(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let (v, form) =
        match admit_post(state, req, body, Audience::Admins, "/console/clients/new").await {
            Ok(x) => x,
            Err(r) => return r,
        };
    respond(
        state,
        req,
        clients::create(&services(state), &v, FormData(form)).await,
    )
}

#[handler]
async fn show(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    match admit(state, req, Audience::Admins).await {
        Ok(v) => respond(state, req, clients::show(&services(state), &v, &id).await),
        Err(r) => r,
    }
}

#[handler]
async fn update(
    req: &Request,
    Path(id): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let back = format!("/console/clients/{}", clients::url_path(&id));
    let (v, form) = match admit_post(state, req, body, Audience::Admins, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(
        state,
        req,
        clients::update(&services(state), &v, &id, FormData(form)).await,
    )
}

async fn confirm(req: &Request, id: &str, state: &AppState, what: Destructive) -> Response {
    match admit(state, req, Audience::Admins).await {
        Ok(v) => respond(
            state,
            req,
            clients::confirm(&services(state), &v, id, what).await,
        ),
        Err(r) => r,
    }
}

#[handler]
async fn confirm_rotate(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    confirm(req, &id, state, Destructive::Rotate).await
}

#[handler]
async fn confirm_delete(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    confirm(req, &id, state, Destructive::Delete).await
}

#[handler]
async fn rotate(
    req: &Request,
    Path(id): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let back = format!("/console/clients/{}", clients::url_path(&id));
    let (v, form) = match admit_post(state, req, body, Audience::Admins, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(
        state,
        req,
        clients::rotate(&services(state), &v, &id, FormData(form)).await,
    )
}

#[handler]
async fn delete(
    req: &Request,
    Path(id): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (v, _) = match admit_post(state, req, body, Audience::Admins, "/console/clients").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(state, req, clients::delete(&services(state), &v, &id).await)
}
