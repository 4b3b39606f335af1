//! Self-service sign-up (`registration_enabled`, off by default: then 404): a page of the
//! login family, reached from the login page's "Create an account" link, carrying the same
//! sealed pending authorization request and protected by the same CSRF mechanism.
//!
//! The answer to a sign-up is the same whether the username was free or taken
//! (`docs/account.md`): the login page of the pending request with the username filled in
//! and one neutral notice, after the same work (one argon2 hash, one INSERT decided by the
//! unique index). The new person then signs in there and lands back in the flow that sent
//! them. Signing the new user in at once would answer a taken username differently (the
//! registrant cannot be signed in as someone else), which is exactly the answer that
//! enumerates accounts.

use std::net::IpAddr;

use super::{
    FormState, Outcome, Page, Pending, login::client_still_registered, login::form_from_this_site,
    login_page, pages, request::AuthRequest, seal_form,
};
use crate::{
    accounts::{RegisterRefused, Registered, User},
    browser_cookies::Purpose,
    clients::Client,
    context::Context,
    params::Params,
};

/// Where the sign-up page lives (GET shows it, POST creates the account).
pub const SIGNUP_PATH: &str = "/oauth/signup";

/// The notice shown after every sign-up, created or not.
pub const NEUTRAL_NOTICE: &str = "Sign in with the username and password you chose to \
    continue. If that username was already taken, no account was created: create one with \
    another username.";

const SERVER_FAILED: &str = "The server could not complete the request.";

/// What a sign-up submission did: the page to show, and the new user when one was
/// created (for the audit log; the page is the same either way).
pub struct SignupDone {
    pub outcome: Outcome,
    pub created: Option<User>,
}

impl From<Outcome> for SignupDone {
    fn from(outcome: Outcome) -> Self {
        SignupDone {
            outcome,
            created: None,
        }
    }
}

fn not_found() -> Outcome {
    Outcome::error_page(404, "There is no such page.")
}

/// `GET /oauth/signup?request=…`: the sign-up form for a pending authorization request.
pub async fn show(ctx: &Context, params: &Params, cookies: Option<&str>) -> Outcome {
    if !ctx.settings.registration_enabled {
        return not_found();
    }
    let now = ctx.clock.now();
    let pending: Option<Pending> = params
        .single("request")
        .ok()
        .flatten()
        .and_then(|r| ctx.sealer.open(Purpose::PendingRequest, r))
        .filter(|p: &Pending| p.exp > now);
    let Some(pending) = pending else {
        return Outcome::error_page(
            400,
            "This sign-up link has expired or is not valid. Go back to the application and \
             try again.",
        );
    };
    let client = match client_still_registered(ctx, &pending.req).await {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    signup_page(ctx, &pending.req, &client, cookies, Errors::default())
}

/// `POST /oauth/signup`.
pub async fn submit(
    ctx: &Context,
    params: &Params,
    cookies: Option<&str>,
    ip: Option<IpAddr>,
) -> SignupDone {
    if !ctx.settings.registration_enabled {
        return not_found().into();
    }
    let req = match form_from_this_site(ctx, params, cookies) {
        Ok(req) => req,
        Err(refused) => return refused.into(),
    };
    let client = match client_still_registered(ctx, &req).await {
        Ok(c) => c,
        Err(refused) => return refused.into(),
    };
    let field = |name| params.single(name).ok().flatten().unwrap_or("");
    let (username, password, confirm) = (
        field("username"),
        field("password"),
        field("password_confirm"),
    );
    let again = |errors: Errors<'_>| -> SignupDone {
        signup_page(ctx, &req, &client, cookies, errors).into()
    };
    if username.trim().is_empty() {
        return again(Errors::username(username, "Enter a username."));
    }
    if password.is_empty() {
        return again(Errors::password(username, "Enter a password."));
    }
    if password != confirm {
        return again(Errors::password(
            username,
            "The two passwords differ. Type the same password twice.",
        ));
    }
    match ctx.accounts.register(username, password, ip).await {
        Ok(registered) => {
            let created = match registered {
                Registered::Created(user) => Some(user),
                Registered::Taken => None,
            };
            let form = FormState {
                username,
                notice: Some(NEUTRAL_NOTICE),
                ..FormState::fresh()
            };
            SignupDone {
                outcome: login_page(ctx, &req, &client, cookies, form),
                created,
            }
        }
        Err(RegisterRefused::Username(msg)) => again(Errors::username(username, &msg)),
        Err(RegisterRefused::Policy(refusal)) => again(Errors::password(username, &refusal.0)),
        Err(RegisterRefused::Throttled { retry_after }) => {
            tracing::warn!(client_id = %client.client_id, "sign-up throttled");
            let msg =
                format!("Too many sign-ups from your network. Try again in {retry_after} seconds.");
            let errors = Errors {
                status: 429,
                retry_after: Some(retry_after),
                ..Errors::password(username, &msg)
            };
            again(errors)
        }
        Err(RegisterRefused::Unavailable(e)) => {
            tracing::error!(error = %e, "sign-up failed");
            Outcome::error_page(503, SERVER_FAILED).into()
        }
    }
}

/// The sign-up form's state besides the request.
#[derive(Default)]
struct Errors<'a> {
    username: &'a str,
    username_error: Option<&'a str>,
    password_error: Option<&'a str>,
    status: u16,
    retry_after: Option<u64>,
}

impl<'a> Errors<'a> {
    fn username(username: &'a str, error: &'a str) -> Self {
        Errors {
            username,
            username_error: Some(error),
            status: 400,
            ..Default::default()
        }
    }

    fn password(username: &'a str, error: &'a str) -> Self {
        Errors {
            username,
            password_error: Some(error),
            status: 400,
            ..Default::default()
        }
    }
}

fn signup_page(
    ctx: &Context,
    req: &AuthRequest,
    client: &Client,
    cookies: Option<&str>,
    errors: Errors<'_>,
) -> Outcome {
    let sealed = match seal_form(ctx, req, cookies) {
        Ok(s) => s,
        Err(refused) => return refused,
    };
    let policy = format!(
        "At least {} characters, hard to guess, and not containing the username.",
        ctx.accounts.password_policy().min_length
    );
    let html = pages::signup(&pages::SignupPage {
        client_name: &client.name,
        action: SIGNUP_PATH,
        request: &sealed.request,
        csrf: &sealed.csrf,
        username: errors.username,
        policy: &policy,
        username_error: errors.username_error,
        password_error: errors.password_error,
    });
    Outcome::Page {
        page: Page {
            status: if errors.status == 0 {
                200
            } else {
                errors.status
            },
            html,
            retry_after: errors.retry_after,
        },
        set_cookie: Some(sealed.set_cookie),
    }
}
