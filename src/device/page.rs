//! The verification page (`GET`/`POST /device`), on the sign-in page's machinery: the
//! same session cookie (a signed-in browser is not asked again), the same password check
//! and throttle (`accounts::Accounts::check_password`), a CSRF token in a sealed cookie
//! compared with the form's (a form posted from another site has no cookie: SameSite=Lax).
//!
//! Two steps, never one (X6): `GET` (also from `verification_uri_complete`) only shows the
//! entry form, prefilled; posting it shows the confirmation page with the client's name and
//! scopes; only a post of that page's Allow or Deny answers. Wrong codes count per browser
//! session and per IP (X4): over the limit the page answers 429.

use std::net::IpAddr;

use super::{VERIFICATION_PATH, pages};
use crate::{
    accounts::PasswordRefused,
    authorize::{Outcome, Page, live_session, login::start_session, session_set_cookie},
    browser_cookies::{BrowserSession, LoginCsrf, Purpose, cookie_value, set_cookie},
    context::Context,
    device_codes::{Decision, display_user_code, normalize_user_code},
    params::Params,
    secrets::{random_token, strings_equal},
};

const CSRF_COOKIE: &str = "tessera_device_csrf";
const SERVER_FAILED: &str = "The server could not complete the request.";
const FORM_REFUSED: &str = "This form has expired or did not come from this site.";
const BAD_CODE: &str = "That code is not valid or has expired. Check the code on your device.";

fn page(status: u16, html: String, set_cookie: Option<String>) -> Outcome {
    Outcome::Page {
        page: Page {
            status,
            html,
            retry_after: None,
        },
        set_cookie,
    }
}

/// `GET /device[?user_code=…]`: the entry form, the code prefilled if given. Nothing is
/// approved here, whatever the link says.
pub async fn show(ctx: &Context, params: &Params, cookies: Option<&str>) -> Outcome {
    let now = ctx.clock.now();
    let ttl = ctx.settings.login_form_ttl.as_secs() as i64;
    // Keep a valid token (several tabs), else a new one.
    let csrf = valid_csrf(ctx, cookies)
        .filter(|c| c.exp > now + 60)
        .map(|c| c.csrf)
        .or_else(|| random_token(32).ok());
    let Some(csrf) = csrf else {
        return Outcome::error_page(500, SERVER_FAILED);
    };
    let Ok(sealed) = ctx.sealer.seal(
        Purpose::DeviceCsrf,
        &LoginCsrf {
            csrf: csrf.clone(),
            exp: now + ttl,
        },
    ) else {
        return Outcome::error_page(500, SERVER_FAILED);
    };
    let typed = params.single("user_code").ok().flatten().unwrap_or("");
    let prefill = normalize_user_code(typed).map(|c| display_user_code(&c));
    let signed_in = live_session(ctx, cookies).await.is_some();
    let html = pages::entry(&pages::Entry {
        action: VERIFICATION_PATH,
        csrf: &csrf,
        user_code: prefill.as_deref().unwrap_or(""),
        signed_in,
        error: None,
    });
    let cookie = set_cookie(
        CSRF_COOKIE,
        &sealed,
        VERIFICATION_PATH,
        ttl,
        ctx.settings.session_cookie_secure,
    );
    page(200, html, Some(cookie))
}

fn valid_csrf(ctx: &Context, cookies: Option<&str>) -> Option<LoginCsrf> {
    let now = ctx.clock.now();
    cookie_value(cookies, CSRF_COOKIE)
        .and_then(|c| ctx.sealer.open::<LoginCsrf>(Purpose::DeviceCsrf, c))
        .filter(|c| c.exp > now)
}

/// `POST /device`: sign in if needed, then the code (step `continue`: show who asks for
/// what) or the answer (`approve` / `deny`).
pub async fn submit(
    ctx: &Context,
    params: &Params,
    cookies: Option<&str>,
    ip: Option<IpAddr>,
) -> Outcome {
    let field = |name: &'static str| params.single(name).ok().flatten().unwrap_or("");
    let csrf = field("csrf");
    let Some(cookie) = valid_csrf(ctx, cookies) else {
        return Outcome::error_page(403, FORM_REFUSED);
    };
    if !strings_equal(&cookie.csrf, csrf) {
        tracing::warn!("device form refused: CSRF token mismatch");
        return Outcome::error_page(403, FORM_REFUSED);
    }
    let entry = |status: u16, error: &str, signed_in: bool, set: Option<String>| {
        let html = pages::entry(&pages::Entry {
            action: VERIFICATION_PATH,
            csrf,
            user_code: field("user_code"),
            signed_in,
            error: Some(error),
        });
        page(status, html, set)
    };
    // The browser's session, or a sign-in with the form's username and password.
    let (session, new_cookie) = match live_session(ctx, cookies).await {
        Some(s) => (s, None),
        None => match sign_in(ctx, field("username"), field("password"), ip).await {
            Ok(v) => v,
            Err(SignIn::Refused(msg, status, retry)) => {
                let mut o = entry(status, &msg, false, None);
                if let Outcome::Page { page, .. } = &mut o {
                    page.retry_after = retry;
                }
                return o;
            }
            Err(SignIn::Failed(o)) => return o,
        },
    };
    // X4: wrong codes count per session and per IP, before the lookup.
    let guesses = format!("device-session:{}", session.sid);
    if let Err(retry_after) = ctx.device_guesses.check(&guesses, ip) {
        tracing::warn!("device code entry throttled");
        let msg = format!("Too many wrong codes. Try again in {retry_after} seconds.");
        let mut o = entry(429, &msg, true, new_cookie);
        if let Outcome::Page { page, .. } = &mut o {
            page.retry_after = Some(retry_after);
        }
        return o;
    }
    let code = normalize_user_code(field("user_code"));
    let row = match &code {
        Some(c) => match ctx.device_codes.pending(c).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "device code lookup failed");
                return Outcome::error_page(503, SERVER_FAILED);
            }
        },
        None => None,
    };
    let (Some(code), Some(row)) = (code, row) else {
        ctx.device_guesses.failure(&guesses, ip);
        return entry(400, BAD_CODE, true, new_cookie);
    };
    let answer = match field("action") {
        "approve" => Decision::Approve {
            user_id: &session.sub,
            auth_time: session.auth_time,
        },
        "deny" => Decision::Deny,
        _ => {
            // Step one: show who asks for what. Nothing is decided yet.
            let client_name = match ctx.clients.get(&row.client_id).await {
                Ok(Some(c)) => c.name.clone(),
                Ok(None) => return entry(400, BAD_CODE, true, new_cookie),
                Err(_) => return Outcome::error_page(503, SERVER_FAILED),
            };
            let scopes: Vec<&str> = row.scope.split_whitespace().collect();
            let html = pages::confirm(&pages::Confirm {
                action: VERIFICATION_PATH,
                csrf,
                user_code: &display_user_code(&code),
                client_name: &client_name,
                scopes: &scopes,
            });
            return page(200, html, new_cookie);
        }
    };
    let approved = matches!(answer, Decision::Approve { .. });
    match ctx.device_codes.decide(&code, answer).await {
        Ok(true) => {
            tracing::info!(client_id = %row.client_id, approved, "device authorization answered");
            page(200, pages::done(approved), new_cookie)
        }
        Ok(false) => entry(400, BAD_CODE, true, new_cookie),
        Err(e) => {
            tracing::error!(error = %e, "cannot record the device answer");
            Outcome::error_page(503, SERVER_FAILED)
        }
    }
}

enum SignIn {
    /// Shown on the form: message, status, `Retry-After`.
    Refused(String, u16, Option<u64>),
    Failed(Outcome),
}

/// The password check of the login form (same throttle, same answer for unknown users and
/// wrong passwords), then a new session; returns it with its `Set-Cookie`.
async fn sign_in(
    ctx: &Context,
    username: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> Result<(BrowserSession, Option<String>), SignIn> {
    if username.is_empty() || password.is_empty() {
        return Err(SignIn::Refused(
            "Sign in to connect the device.".into(),
            400,
            None,
        ));
    }
    let user = match ctx.accounts.check_password(username, password, ip).await {
        Ok(u) => u,
        Err(PasswordRefused::Throttled { retry_after }) => {
            return Err(SignIn::Refused(
                format!("Too many failed attempts. Try again in {retry_after} seconds."),
                429,
                Some(retry_after),
            ));
        }
        Err(PasswordRefused::Incorrect) => {
            return Err(SignIn::Refused(
                "The username or password is incorrect.".into(),
                400,
                None,
            ));
        }
        Err(PasswordRefused::Unavailable(e)) => {
            tracing::error!(error = %e, "user lookup failed");
            return Err(SignIn::Failed(Outcome::error_page(503, SERVER_FAILED)));
        }
    };
    let session = start_session(ctx, &user).await.map_err(SignIn::Failed)?;
    let Ok(sealed) = ctx.sealer.seal(Purpose::Session, &session) else {
        return Err(SignIn::Failed(Outcome::error_page(500, SERVER_FAILED)));
    };
    let cookie = session_set_cookie(ctx, &session, &sealed);
    tracing::info!("browser login (device verification)");
    Ok((session, Some(cookie)))
}
