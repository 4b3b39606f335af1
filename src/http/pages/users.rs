//! `/console/users`: the console's Users pages. Each handler admits the viewer (an admin;
//! for forms also the CSRF rule), calls `pages::console::users` and renders its outcome.

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
            clients::url_path,
            forms::FormData,
            users::{self, UserAction},
        },
        session::Audience,
    },
};

/// The Users paths and methods, for `Allow` on 405 answers (`http::pages::methods`).
pub const METHODS: &[(&str, &str)] = &[
    ("/console/users", "GET"),
    ("/console/users", "POST"),
    ("/console/users/new", "GET"),
    ("/console/users/:id", "GET"),
    ("/console/users/:id", "POST"),
    ("/console/users/:id/password", "GET"),
    ("/console/users/:id/password", "POST"),
    ("/console/users/:id/:action", "GET"),
    ("/console/users/:id/:action", "POST"),
];

/// The Users routes.
pub fn route(route: Route) -> Route {
    route
        .at("/console/users", get(list).post(create))
        .at("/console/users/new", get(new))
        .at("/console/users/:id", get(show).post(update))
        .at(
            "/console/users/:id/password",
            get(password_page).post(set_password),
        )
        .at("/console/users/:id/:action", get(confirm).post(act))
}

fn action(name: &str) -> Option<UserAction> {
    match name {
        "disable" => Some(UserAction::Disable),
        "enable" => Some(UserAction::Enable),
        "sessions" => Some(UserAction::EndSessions),
        _ => None,
    }
}

fn user_path(id: &str) -> String {
    format!("/console/users/{}", url_path(id))
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
        users::list_page(&services(state), &v, q, cursor).await,
    )
}

#[handler]
async fn new(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    match admit(state, req, Audience::Admins).await {
        Ok(v) => respond(state, req, users::new_page(&v)),
        Err(r) => r,
    }
}

#[handler]
async fn create(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let (v, form) = match admit_post(state, req, body, Audience::Admins, "/console/users/new").await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(
        state,
        req,
        users::create(&services(state), &v, FormData(form)).await,
    )
}

#[handler]
async fn show(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    match admit(state, req, Audience::Admins).await {
        Ok(v) => respond(state, req, users::show(&services(state), &v, &id).await),
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
    let (v, form) = match admit_post(state, req, body, Audience::Admins, &user_path(&id)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(
        state,
        req,
        users::update(&services(state), &v, &id, FormData(form)).await,
    )
}

#[handler]
async fn password_page(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    match admit(state, req, Audience::Admins).await {
        Ok(v) => respond(
            state,
            req,
            users::password_page(&services(state), &v, &id).await,
        ),
        Err(r) => r,
    }
}

#[handler]
async fn set_password(
    req: &Request,
    Path(id): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (v, form) = match admit_post(state, req, body, Audience::Admins, &user_path(&id)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(
        state,
        req,
        users::set_password(&services(state), &v, &id, FormData(form)).await,
    )
}

#[handler]
async fn confirm(
    req: &Request,
    Path((id, name)): Path<(String, String)>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let v = match admit(state, req, Audience::Admins).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let outcome = match action(&name) {
        Some(what) => users::confirm(&services(state), &v, &id, what).await,
        None => users::no_such_page(&v),
    };
    respond(state, req, outcome)
}

#[handler]
async fn act(
    req: &Request,
    Path((id, name)): Path<(String, String)>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (v, _) = match admit_post(state, req, body, Audience::Admins, &user_path(&id)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let outcome = match action(&name) {
        Some(what) => users::act(&services(state), &v, &id, what).await,
        None => users::no_such_page(&v),
    };
    respond(state, req, outcome)
}
