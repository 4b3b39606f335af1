//! The console's Users pages: search by username and list, create, edit roles and claims,
//! disable and enable, set a new password, end all sessions. Every change is an
//! `admin::ops` operation, the same the admin API runs, audited with the actor
//! `user:<username>`; the destructive ones are confirmed on a page of their own first.

use askama::Template;

use super::clients::{ConfirmPage, url_path};
use super::forms::{FormData, FormErrors};
use crate::{
    accounts::{NewUser, User},
    admin::ops::UserChanges,
    error::{Error, Field, Result},
    pages::{
        Layout, MessagePage, Outcome, Services,
        session::{Viewer, done},
    },
};

/// The navigation entry of these pages.
const CURRENT: &str = "/console/users";

/// Page size of the list.
const PAGE: u64 = 50;

/// The create and edit forms' values, as typed.
#[derive(Debug, Clone, Default)]
pub struct UserForm {
    pub username: String,
    pub password: String,
    /// Space-separated.
    pub roles: String,
    /// A JSON object.
    pub claims: String,
}

impl UserForm {
    pub fn from_data(d: &FormData) -> Self {
        UserForm {
            username: d.get("username"),
            password: d.get("password"),
            roles: d.get("roles"),
            claims: d.get("claims"),
        }
    }

    pub fn from_user(u: &User) -> Self {
        UserForm {
            username: u.username.clone(),
            password: String::new(),
            roles: u.roles.join(" "),
            claims: claims_text(u),
        }
    }

    fn roles(&self) -> Vec<String> {
        self.roles.split_whitespace().map(str::to_string).collect()
    }

    /// The claims as the domain takes them; empty text is no claims.
    fn claims(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        if self.claims.trim().is_empty() {
            return Ok(serde_json::Map::new());
        }
        match serde_json::from_str::<serde_json::Value>(&self.claims) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            _ => Err(Error::invalid(
                Field::Claims,
                r#"must be a JSON object, e.g. {"team": "payments"}"#,
            )),
        }
    }
}

/// A user's claims as the edit form shows them (pretty JSON, `{}` when none).
pub fn claims_text(u: &User) -> String {
    if u.claims.is_empty() {
        return String::new();
    }
    serde_json::to_string_pretty(&u.claims).unwrap_or_default()
}

fn input_of(f: Field) -> &'static str {
    f.api_name()
}

#[derive(Template)]
#[template(path = "console/users.html")]
pub struct UsersPage {
    pub layout: Layout,
    pub q: String,
    pub items: Vec<User>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "console/user_new.html")]
pub struct NewUserPage {
    pub layout: Layout,
    pub form: UserForm,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "console/user.html")]
pub struct UserPage {
    pub layout: Layout,
    pub user: User,
    pub form: UserForm,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "console/user_password.html")]
pub struct PasswordPage {
    pub layout: Layout,
    pub user: User,
    pub errors: FormErrors,
}

impl UsersPage {
    /// A user id as a path segment.
    pub fn path(&self, id: &str) -> String {
        url_path(id)
    }
}

impl UserPage {
    pub fn url(&self) -> String {
        user_url(&self.user.id)
    }
}

impl PasswordPage {
    pub fn url(&self) -> String {
        user_url(&self.user.id)
    }
}

/// A page with only a heading and a message.
fn message(v: &Viewer, status: u16, heading: &str, text: &str) -> Outcome {
    MessagePage::outcome(status, v.layout(heading, CURRENT), heading, text)
}

fn unavailable(v: &Viewer, e: Error) -> Outcome {
    tracing::warn!(error = %e, "console users page failed");
    unavailable_page(v)
}

fn unavailable_page(v: &Viewer) -> Outcome {
    message(
        v,
        503,
        "Temporarily unavailable",
        "The request could not be completed; nothing was changed if it was a change. Try again.",
    )
}

fn not_found(v: &Viewer) -> Outcome {
    message(v, 404, "No such user", "There is no user with this id.")
}

/// An unknown page under a user's.
pub fn no_such_page(v: &Viewer) -> Outcome {
    message(v, 404, "No such page", "There is no such page.")
}

fn user_url(id: &str) -> String {
    format!("/console/users/{}", url_path(id))
}

/// The user, or the page that says why not.
async fn user(s: &Services<'_>, id: &str) -> std::result::Result<User, fn(&Viewer) -> Outcome> {
    match s.ctx.accounts.users().get(id).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(not_found),
        Err(e) => {
            tracing::warn!(error = %e, "console users page failed");
            Err(unavailable_page)
        }
    }
}

/// `GET /console/users?q=&cursor=`: users whose username starts with `q`, in username
/// order, 50 a page (one range of the username index).
pub async fn list_page(
    s: &Services<'_>,
    v: &Viewer,
    q: Option<String>,
    cursor: Option<String>,
) -> Outcome {
    let layout = v.layout("Users", CURRENT);
    let q = q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(64)
        .collect::<String>();
    let cursor = cursor.filter(|c| !c.is_empty());
    match s
        .ctx
        .accounts
        .users()
        .search_prefix(&q, cursor.as_deref(), PAGE)
        .await
    {
        Ok(page) => {
            let next = page
                .next_cursor
                .map(|c| format!("/console/users?q={}&cursor={}", url_path(&q), url_path(&c)));
            Outcome::page(
                200,
                &UsersPage {
                    layout,
                    q,
                    items: page.items,
                    next,
                },
            )
        }
        Err(Error::Invalid { .. }) => message(
            v,
            400,
            "Users",
            "That page link is not valid; start again from the first page.",
        ),
        Err(e) => unavailable(v, e),
    }
}

/// `GET /console/users/new`.
pub fn new_page(v: &Viewer) -> Outcome {
    let layout = v.layout("Create a user", CURRENT);
    Outcome::page(
        200,
        &NewUserPage {
            layout,
            form: UserForm::default(),
            errors: FormErrors::none(),
        },
    )
}

/// `POST /console/users`: creates the user; on to their page.
pub async fn create(s: &Services<'_>, v: &Viewer, data: FormData) -> Outcome {
    let layout = v.layout("Create a user", CURRENT);
    let mut form = UserForm::from_data(&data);
    let password = std::mem::take(&mut form.password);
    let again = |layout: Layout, form: UserForm, errors: FormErrors| {
        Outcome::page(
            400,
            &NewUserPage {
                layout,
                form,
                errors,
            },
        )
    };
    if password.is_empty() {
        return again(
            layout,
            form,
            FormErrors::on("password", "a password is required"),
        );
    }
    let claims = match form.claims() {
        Ok(c) => c,
        Err(e) => match FormErrors::from_domain(e, input_of) {
            Ok(errors) => return again(layout, form, errors),
            Err(e) => return unavailable(v, e),
        },
    };
    let new = NewUser {
        username: form.username.clone(),
        password: String::new(),
        roles: form.roles(),
        claims,
    };
    match s
        .admin_ops()
        .create_user(&v.admin_actor(), new, Some(password))
        .await
    {
        Ok(created) => done(s.ctx, v, &user_url(&created.user.id), "User created."),
        Err(e) => match FormErrors::from_domain(e, input_of) {
            Ok(errors) => again(layout, form, errors),
            Err(e) => unavailable(v, e),
        },
    }
}

/// `GET /console/users/{id}`.
pub async fn show(s: &Services<'_>, v: &Viewer, id: &str) -> Outcome {
    match user(s, id).await {
        Ok(user) => {
            let layout = v.layout(&format!("User {}", user.username), CURRENT);
            let form = UserForm::from_user(&user);
            Outcome::page(
                200,
                &UserPage {
                    layout,
                    user,
                    form,
                    errors: FormErrors::none(),
                },
            )
        }
        Err(page) => page(v),
    }
}

/// `POST /console/users/{id}`: new roles and claims.
pub async fn update(s: &Services<'_>, v: &Viewer, id: &str, data: FormData) -> Outcome {
    let current = match user(s, id).await {
        Ok(u) => u,
        Err(page) => return page(v),
    };
    let layout = v.layout(&format!("User {}", current.username), CURRENT);
    let form = UserForm {
        username: current.username.clone(),
        ..UserForm::from_data(&data)
    };
    let again = |layout: Layout, form: UserForm, errors: FormErrors| {
        Outcome::page(
            400,
            &UserPage {
                layout,
                user: current.clone(),
                form,
                errors,
            },
        )
    };
    let claims = match form.claims() {
        Ok(c) => c,
        Err(e) => match FormErrors::from_domain(e, input_of) {
            Ok(errors) => return again(layout, form, errors),
            Err(e) => return unavailable(v, e),
        },
    };
    let roles = form.roles();
    // Only what changed: an unchanged role list must not end the user's tokens.
    let changes = UserChanges {
        roles: (roles != current.roles).then_some(roles),
        claims: (claims != current.claims).then_some(claims),
        disabled: None,
    };
    if changes.roles.is_none() && changes.claims.is_none() {
        return done(s.ctx, v, &user_url(id), "Nothing to change.");
    }
    match s
        .admin_ops()
        .update_user(&v.admin_actor(), id, changes)
        .await
    {
        Ok(Some(_)) => done(s.ctx, v, &user_url(id), "User updated."),
        Ok(None) => not_found(v),
        Err(e) => match FormErrors::from_domain(e, input_of) {
            Ok(errors) => again(layout, form, errors),
            Err(e) => unavailable(v, e),
        },
    }
}

/// The confirmed actions on a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    Disable,
    Enable,
    EndSessions,
}

impl UserAction {
    pub fn path(self) -> &'static str {
        match self {
            UserAction::Disable => "disable",
            UserAction::Enable => "enable",
            UserAction::EndSessions => "sessions",
        }
    }
}

/// `GET /console/users/{id}/{disable,enable,sessions}`: the confirmation step.
pub async fn confirm(s: &Services<'_>, v: &Viewer, id: &str, what: UserAction) -> Outcome {
    let user = match user(s, id).await {
        Ok(u) => u,
        Err(page) => return page(v),
    };
    let name = &user.username;
    let (heading, message, button) = match what {
        UserAction::Disable => (
            format!("Disable {name}?"),
            "They can no longer sign in; every session ends and their access tokens become inactive at once.",
            "Disable the user",
        ),
        UserAction::Enable => (
            format!("Enable {name}?"),
            "They can sign in again with their password.",
            "Enable the user",
        ),
        UserAction::EndSessions => (
            format!("End every session of {name}?"),
            "Browser sessions and refresh tokens end, and every access token issued to them so far becomes inactive. They can sign in again.",
            "End all sessions",
        ),
    };
    let layout = v.layout(&heading, CURRENT);
    Outcome::page(
        200,
        &ConfirmPage {
            layout,
            heading,
            message: message.into(),
            action: format!("{}/{}", user_url(id), what.path()),
            button: button.into(),
            cancel: user_url(id),
            form_id: String::new(),
        },
    )
}

/// `POST /console/users/{id}/{disable,enable,sessions}`.
pub async fn act(s: &Services<'_>, v: &Viewer, id: &str, what: UserAction) -> Outcome {
    let who = v.admin_actor();
    let result = match what {
        UserAction::Disable | UserAction::Enable => {
            let changes = UserChanges {
                disabled: Some(what == UserAction::Disable),
                ..Default::default()
            };
            s.admin_ops()
                .update_user(&who, id, changes)
                .await
                .map(|u| u.is_some())
        }
        UserAction::EndSessions => s.admin_ops().logout_user_everywhere(&who, id).await,
    };
    let flash = match what {
        UserAction::Disable => "User disabled; their sessions ended.",
        UserAction::Enable => "User enabled.",
        UserAction::EndSessions => "Every session of the user ended.",
    };
    match result {
        Ok(true) => done(s.ctx, v, &user_url(id), flash),
        Ok(false) => not_found(v),
        Err(e) => unavailable(v, e),
    }
}

/// `GET /console/users/{id}/password`: the new-password form (its own confirmation).
pub async fn password_page(s: &Services<'_>, v: &Viewer, id: &str) -> Outcome {
    match user(s, id).await {
        Ok(user) => {
            let layout = v.layout(
                &format!("Set a new password for {}", user.username),
                CURRENT,
            );
            Outcome::page(
                200,
                &PasswordPage {
                    layout,
                    user,
                    errors: FormErrors::none(),
                },
            )
        }
        Err(page) => page(v),
    }
}

/// `POST /console/users/{id}/password`: sets it; every session of the user ends.
pub async fn set_password(s: &Services<'_>, v: &Viewer, id: &str, data: FormData) -> Outcome {
    let user = match user(s, id).await {
        Ok(u) => u,
        Err(page) => return page(v),
    };
    let layout = v.layout(
        &format!("Set a new password for {}", user.username),
        CURRENT,
    );
    let password = data.get("password");
    let again = |layout: Layout, errors: FormErrors| {
        Outcome::page(
            400,
            &PasswordPage {
                layout,
                user: user.clone(),
                errors,
            },
        )
    };
    if password.is_empty() {
        return again(layout, FormErrors::on("password", "a password is required"));
    }
    if password != data.get("password_again") {
        return again(
            layout,
            FormErrors::on("password_again", "the two passwords differ"),
        );
    }
    match s
        .admin_ops()
        .set_user_password(&v.admin_actor(), id, Some(password))
        .await
    {
        Ok(Some(_)) => done(
            s.ctx,
            v,
            &user_url(id),
            "Password set; every session of the user ended.",
        ),
        Ok(None) => not_found(v),
        Err(e) => match FormErrors::from_domain(e, input_of) {
            Ok(errors) => again(layout, errors),
            Err(e) => unavailable(v, e),
        },
    }
}
