//! `POST /oauth/login`: the login form. Three steps, each a function: the form must be
//! ours (CSRF), its client must still be registered for the redirect URI, and the
//! password check (`accounts::Accounts::check_password`, the same as the password
//! grant's) must pass; then a browser session starts and a code goes back to the client.

use std::net::IpAddr;
use std::sync::Arc;

use super::{FormState, Outcome, Pending, issue_code, login_page};
use crate::{
    accounts::{PasswordRefused, User},
    browser_cookies::{BrowserSession, LOGIN_COOKIE, LoginCsrf, Purpose, cookie_value},
    clients::{Client, GrantType},
    context::Context,
    params::Params,
    secrets::strings_equal,
};

use super::request::AuthRequest;

const FORM_REFUSED: &str = "This sign-in form has expired or did not come from this site.";
const SERVER_FAILED: &str = "The server could not complete the request.";

/// `POST /oauth/login`.
pub async fn login(
    ctx: &Context,
    params: &Params,
    cookies: Option<&str>,
    ip: Option<IpAddr>,
) -> Outcome {
    let req = match form_from_this_site(ctx, params, cookies) {
        Ok(req) => req,
        Err(refused) => return refused,
    };
    let client = match client_still_registered(ctx, &req).await {
        Ok(client) => client,
        Err(refused) => return refused,
    };
    let username = params.single("username").ok().flatten().unwrap_or("");
    let password = params.single("password").ok().flatten().unwrap_or("");
    if username.is_empty() || password.is_empty() {
        let form = FormState::refused(username, "Enter your username and password.", 400);
        return login_page(ctx, &req, &client, cookies, form);
    }
    match ctx.accounts.check_password(username, password, ip).await {
        Ok(user) => sign_in(ctx, &req, &client, &user).await,
        Err(PasswordRefused::Throttled { retry_after }) => {
            tracing::warn!(client_id = %client.client_id, "browser login throttled");
            let msg = format!("Too many failed attempts. Try again in {retry_after} seconds.");
            let form = FormState {
                retry_after: Some(retry_after),
                ..FormState::refused(username, &msg, 429)
            };
            login_page(ctx, &req, &client, cookies, form)
        }
        Err(PasswordRefused::Incorrect) => {
            tracing::info!(client_id = %client.client_id, "browser login refused");
            let form = FormState::refused(username, "The username or password is incorrect.", 400);
            login_page(ctx, &req, &client, cookies, form)
        }
        Err(PasswordRefused::Unavailable(e)) => {
            tracing::error!(error = %e, "user lookup failed");
            Outcome::error_page(503, SERVER_FAILED)
        }
    }
}

/// CSRF: the token in the form must equal the one in this browser's pre-login cookie and
/// the one sealed into the pending request. A form posted from elsewhere has no cookie
/// (SameSite=Lax) and cannot forge the sealed values. Returns the pending request.
pub(super) fn form_from_this_site(
    ctx: &Context,
    params: &Params,
    cookies: Option<&str>,
) -> Result<AuthRequest, Outcome> {
    let now = ctx.clock.now();
    let cookie: Option<LoginCsrf> = cookie_value(cookies, LOGIN_COOKIE)
        .and_then(|c| ctx.sealer.open(Purpose::LoginCsrf, c))
        .filter(|c: &LoginCsrf| c.exp > now);
    let pending: Option<Pending> = params
        .single("request")
        .ok()
        .flatten()
        .and_then(|r| ctx.sealer.open(Purpose::PendingRequest, r))
        .filter(|p: &Pending| p.exp > now);
    let form_csrf = params.single("csrf").ok().flatten();
    let (Some(cookie), Some(pending), Some(form_csrf)) = (cookie, pending, form_csrf) else {
        tracing::info!("login form refused: missing or expired CSRF state");
        return Err(Outcome::error_page(403, FORM_REFUSED));
    };
    // Both comparisons run whatever the first one gives (no short-circuit).
    let ok = strings_equal(&cookie.csrf, form_csrf) & strings_equal(&pending.csrf, form_csrf);
    if !ok {
        tracing::warn!("login form refused: CSRF token mismatch");
        return Err(Outcome::error_page(403, FORM_REFUSED));
    }
    Ok(pending.req)
}

/// The client of a pending request, if it is still registered for the code flow with the
/// same redirect URI (it may have changed while the form was open).
pub(super) async fn client_still_registered(
    ctx: &Context,
    req: &AuthRequest,
) -> Result<Arc<Client>, Outcome> {
    match ctx.clients.get(&req.client_id).await {
        Ok(Some(c))
            if c.allows(GrantType::AuthorizationCode)
                && c.redirect_uris.contains(&req.redirect_uri) =>
        {
            Ok(c)
        }
        Ok(_) => Err(Outcome::error_page(
            400,
            "The application that sent you here is no longer registered.",
        )),
        Err(e) => {
            tracing::error!(error = %e, "client lookup failed");
            Err(Outcome::error_page(500, SERVER_FAILED))
        }
    }
}

/// Starts a browser session for `user` and sends a code back to the client.
async fn sign_in(ctx: &Context, req: &AuthRequest, client: &Client, user: &User) -> Outcome {
    let session = match start_session(ctx, user).await {
        Ok(s) => s,
        Err(refused) => return refused,
    };
    tracing::info!(client_id = %client.client_id, "browser login");
    issue_code(ctx, req, session).await
}

/// A new browser session for `user`, recorded server-side (logout ends it, and with it
/// every copy of the cookie). Shared by the login form and the device verification page.
pub(crate) async fn start_session(ctx: &Context, user: &User) -> Result<BrowserSession, Outcome> {
    crate::sessions::open_browser_session(ctx, &user.id, ctx.clock.now())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot record the browser session");
            Outcome::error_page(503, SERVER_FAILED)
        })
}
