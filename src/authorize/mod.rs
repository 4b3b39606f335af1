//! Browser sign-in (OAuth 2.0 authorization code flow with PKCE, OpenID Connect):
//! `GET /oauth/authorize`, the login form, single sign-on through the sealed session
//! cookie, and RP-initiated logout. Domain logic only: `http::browser` turns an
//! [`Outcome`] into a response. The token exchange is `grants::authorization_code`; the
//! codes and PKCE are `authorization_codes`.

pub mod login;
pub mod logout;
pub mod pages;
pub mod request;
pub mod signup;

use serde::{Deserialize, Serialize};

pub use login::login;
pub use logout::end_session;

use crate::{
    authorization_codes::NewCode,
    browser_cookies::{
        BrowserSession, CookiePolicy, LOGIN_COOKIE, LoginCsrf, Purpose, SESSION_COOKIE,
        cookie_value, set_cookie,
    },
    clients::{Client, redirect_uris::with_query},
    context::Context,
    params::Params,
    secrets::random_token,
};
use request::{AuthRequest, Refusal};

/// Where the login form posts.
pub const LOGIN_PATH: &str = "/oauth/login";

/// A page to show.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub html: String,
    pub retry_after: Option<u64>,
}

/// What the browser gets.
#[derive(Debug)]
pub enum Outcome {
    /// Go there (back to the client with a code or an error, or to a post-logout URI).
    Redirect {
        location: String,
        set_cookie: Option<String>,
    },
    /// Show a page (login form, error, signed out).
    Page {
        page: Page,
        set_cookie: Option<String>,
    },
}

impl Outcome {
    pub(crate) fn error_page(status: u16, message: &str) -> Self {
        Outcome::Page {
            page: Page {
                status,
                html: pages::error(message),
                retry_after: None,
            },
            set_cookie: None,
        }
    }
}

/// The authorization request while the login form is open (sealed in the form).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    req: AuthRequest,
    csrf: String,
    exp: i64,
}

pub(crate) fn cookie_policy(ctx: &Context) -> CookiePolicy {
    CookiePolicy {
        idle_ttl: ctx.settings.session_idle_ttl.as_secs() as i64,
        max_ttl: ctx.settings.session_max_ttl.as_secs() as i64,
        secure: ctx.settings.session_cookie_secure,
    }
}

/// `GET /oauth/authorize`.
pub async fn authorize(ctx: &Context, params: &Params, cookies: Option<&str>) -> Outcome {
    let (req, client) = match request::validate(ctx, params).await {
        Ok(v) => v,
        Err(r) => return refused(ctx, r),
    };
    let now = ctx.clock.now();
    let session = live_session(ctx, cookies).await.filter(|s| {
        // OIDC Core §3.1.2.1: max_age=0 is equivalent to prompt=login.
        !req.force_login
            && req
                .max_age
                .is_none_or(|max| max > 0 && now - s.auth_time <= max)
    });
    if let Some(session) = session {
        // Single sign-on: a live session skips the login page.
        return issue_code(ctx, &req, session).await;
    }
    if req.no_prompt {
        return refused(
            ctx,
            Refusal::Redirect {
                redirect_uri: req.redirect_uri.clone(),
                error: "login_required",
                description: "the user must sign in",
                state: req.state.clone(),
            },
        );
    }
    login_page(ctx, &req, &client, cookies, FormState::fresh())
}

/// The live session of this browser, if any: sealed cookie intact, within its idle and
/// absolute lifetimes, its server-side record still open (not logged out: B5), user still
/// enabled and not logged out everywhere since.
pub(crate) async fn live_session(ctx: &Context, cookies: Option<&str>) -> Option<BrowserSession> {
    let s: BrowserSession = ctx
        .sealer
        .open(Purpose::Session, cookie_value(cookies, SESSION_COOKIE)?)?;
    if !s.is_live(ctx.clock.now(), &cookie_policy(ctx)) {
        return None;
    }
    match ctx.browser_sessions.is_open(&s.sid, &s.sub).await {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the browser session record");
            return None;
        }
    }
    match ctx.accounts.users().get(&s.sub).await {
        Ok(Some(u)) if !u.disabled && u.not_before.is_none_or(|nb| s.auth_time >= nb) => Some(s),
        _ => None,
    }
}

/// Issues a code for `req` in `session` and sends the browser back to the client; the
/// session cookie is (re)issued with its idle clock reset.
async fn issue_code(ctx: &Context, req: &AuthRequest, mut session: BrowserSession) -> Outcome {
    let now = ctx.clock.now();
    session.seen = now;
    let code = ctx
        .codes
        .issue(&NewCode {
            client_id: &req.client_id,
            user_id: &session.sub,
            redirect_uri: &req.redirect_uri,
            code_challenge: &req.code_challenge,
            scope: &req.scope,
            nonce: req.nonce.as_deref(),
            auth_time: session.auth_time,
            session_id: &session.sid,
            dpop_jkt: req.dpop_jkt.as_deref(),
        })
        .await;
    let (code, sealed) = match (code, ctx.sealer.seal(Purpose::Session, &session)) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot issue an authorization code");
            return refused(
                ctx,
                Refusal::Redirect {
                    redirect_uri: req.redirect_uri.clone(),
                    error: "server_error",
                    description: "the server could not complete the request",
                    state: req.state.clone(),
                },
            );
        }
    };
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        params.push(("state", s));
    }
    params.push(("iss", ctx.issuer.issuer()));
    Outcome::Redirect {
        location: with_query(&req.redirect_uri, &params),
        set_cookie: Some(session_set_cookie(ctx, &session, &sealed)),
    }
}

/// The `Set-Cookie` of a sealed session: it lives as long as the session may (the shorter
/// of the idle and the absolute lifetime left).
pub(crate) fn session_set_cookie(ctx: &Context, session: &BrowserSession, sealed: &str) -> String {
    let policy = cookie_policy(ctx);
    let max_age = (session.auth_time + policy.max_ttl - ctx.clock.now()).min(policy.idle_ttl);
    set_cookie(SESSION_COOKIE, sealed, "/", max_age, policy.secure)
}

fn refused(ctx: &Context, r: Refusal) -> Outcome {
    match r.location(ctx.issuer.issuer()) {
        Some(location) => Outcome::Redirect {
            location,
            set_cookie: None,
        },
        None => {
            let Refusal::Page(msg) = r else {
                unreachable!("a refusal without location is a page")
            };
            Outcome::error_page(400, msg)
        }
    }
}

/// What the login form shows besides the request: the username typed, the error or
/// notice, and the HTTP status that goes with it.
struct FormState<'a> {
    username: &'a str,
    error: Option<&'a str>,
    /// A neutral message above the form (after a sign-up).
    notice: Option<&'a str>,
    status: u16,
    retry_after: Option<u64>,
}

impl<'a> FormState<'a> {
    /// A first showing: empty, 200.
    fn fresh() -> Self {
        FormState {
            username: "",
            error: None,
            notice: None,
            status: 200,
            retry_after: None,
        }
    }

    /// The form again after a refused attempt.
    fn refused(username: &'a str, error: &'a str, status: u16) -> Self {
        FormState {
            username,
            error: Some(error),
            notice: None,
            status,
            retry_after: None,
        }
    }
}

/// The hidden state of a form of the login family (login, sign-up): the sealed pending
/// request, this browser's CSRF token (kept if it has a valid one, so several open tabs
/// all work) and the `Set-Cookie` of the pre-login cookie carrying it.
struct SealedForm {
    request: String,
    csrf: String,
    set_cookie: String,
}

fn seal_form(
    ctx: &Context,
    req: &AuthRequest,
    cookies: Option<&str>,
) -> Result<SealedForm, Outcome> {
    let now = ctx.clock.now();
    let ttl = ctx.settings.login_form_ttl.as_secs() as i64;
    let csrf = cookie_value(cookies, LOGIN_COOKIE)
        .and_then(|c| ctx.sealer.open::<LoginCsrf>(Purpose::LoginCsrf, c))
        .filter(|c| c.exp > now + 60)
        .map(|c| c.csrf)
        .or_else(|| random_token(32).ok());
    let Some(csrf) = csrf else {
        return Err(Outcome::error_page(
            500,
            "The server could not complete the request.",
        ));
    };
    let exp = now + ttl;
    let pending = Pending {
        req: req.clone(),
        csrf: csrf.clone(),
        exp,
    };
    let sealed = (
        ctx.sealer.seal(Purpose::PendingRequest, &pending),
        ctx.sealer.seal(
            Purpose::LoginCsrf,
            &LoginCsrf {
                csrf: csrf.clone(),
                exp,
            },
        ),
    );
    let (Ok(request), Ok(cookie)) = sealed else {
        return Err(Outcome::error_page(
            500,
            "The server could not complete the request.",
        ));
    };
    Ok(SealedForm {
        request,
        csrf,
        set_cookie: set_cookie(
            LOGIN_COOKIE,
            &cookie,
            "/oauth",
            ttl,
            ctx.settings.session_cookie_secure,
        ),
    })
}

/// The login form for `req`.
fn login_page(
    ctx: &Context,
    req: &AuthRequest,
    client: &Client,
    cookies: Option<&str>,
    form: FormState<'_>,
) -> Outcome {
    let sealed = match seal_form(ctx, req, cookies) {
        Ok(s) => s,
        Err(refused) => return refused,
    };
    // The sign-up page carries the same pending request (base64url: safe in a URL).
    let signup = ctx
        .settings
        .registration_enabled
        .then(|| format!("{}?request={}", signup::SIGNUP_PATH, sealed.request));
    let html = pages::login(&pages::LoginPage {
        client_name: &client.name,
        action: LOGIN_PATH,
        request: &sealed.request,
        csrf: &sealed.csrf,
        username: form.username,
        error: form.error,
        notice: form.notice,
        signup: signup.as_deref(),
    });
    Outcome::Page {
        page: Page {
            status: form.status,
            html,
            retry_after: form.retry_after,
        },
        set_cookie: Some(sealed.set_cookie),
    }
}
