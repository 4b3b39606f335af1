//! Browser sign-in (OAuth 2.0 authorization code flow with PKCE, OpenID Connect):
//! `GET /oauth/authorize`, the login form, single sign-on through the sealed session
//! cookie, and RP-initiated logout. Domain logic only: `http::browser` turns an
//! [`Outcome`] into a response. The token exchange is `grants::authorization_code`.

pub mod codes;
pub mod logout;
pub mod pages;
pub mod request;
pub mod uris;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::{
    browser_session::{
        BrowserSession, CookiePolicy, LOGIN_COOKIE, LoginCsrf, Purpose, SESSION_COOKIE,
        cookie_value, set_cookie,
    },
    clients::{Client, GrantType, random_token},
    grants::{GrantContext, Params},
    users::normalize_username,
};
use codes::NewCode;
use request::{AuthRequest, Refusal};
use uris::with_query;

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
    fn error_page(status: u16, message: &str) -> Self {
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

pub(crate) fn cookie_policy(ctx: &GrantContext) -> CookiePolicy {
    CookiePolicy {
        idle_ttl: ctx.settings.session_idle_ttl.as_secs() as i64,
        max_ttl: ctx.settings.session_max_ttl.as_secs() as i64,
        secure: ctx.settings.session_cookie_secure,
    }
}

/// `GET /oauth/authorize`.
pub async fn authorize(ctx: &GrantContext, params: &Params, cookies: Option<&str>) -> Outcome {
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
    login_page(ctx, &req, &client, cookies, "", None, 200, None)
}

/// `POST /oauth/login`: the login form.
pub async fn login(
    ctx: &GrantContext,
    params: &Params,
    cookies: Option<&str>,
    ip: Option<IpAddr>,
) -> Outcome {
    let now = ctx.clock.now();
    let sealer = &ctx.sealer;
    // CSRF: the token in the form must equal the one in this browser's pre-login cookie and
    // the one sealed into the pending request. A form posted from elsewhere has no cookie
    // (SameSite=Lax) and cannot forge the sealed values.
    let cookie: Option<LoginCsrf> = cookie_value(cookies, LOGIN_COOKIE)
        .and_then(|c| sealer.open(Purpose::LoginCsrf, c))
        .filter(|c: &LoginCsrf| c.exp > now);
    let pending: Option<Pending> = params
        .single("request")
        .ok()
        .flatten()
        .and_then(|r| sealer.open(Purpose::PendingRequest, r))
        .filter(|p: &Pending| p.exp > now);
    let form_csrf = params.single("csrf").ok().flatten();
    let (Some(cookie), Some(pending), Some(form_csrf)) = (cookie, pending, form_csrf) else {
        tracing::info!("login form refused: missing or expired CSRF state");
        return Outcome::error_page(
            403,
            "This sign-in form has expired or did not come from this site.",
        );
    };
    let ok = bool::from(cookie.csrf.as_bytes().ct_eq(form_csrf.as_bytes()))
        & bool::from(pending.csrf.as_bytes().ct_eq(form_csrf.as_bytes()));
    if !ok {
        tracing::warn!("login form refused: CSRF token mismatch");
        return Outcome::error_page(
            403,
            "This sign-in form has expired or did not come from this site.",
        );
    }
    let req = pending.req;
    let client = match ctx.clients.get(&req.client_id).await {
        Ok(Some(c))
            if c.allows(GrantType::AuthorizationCode)
                && c.redirect_uris.contains(&req.redirect_uri) =>
        {
            c
        }
        Ok(_) => {
            return Outcome::error_page(
                400,
                "The application that sent you here is no longer registered.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "client lookup failed");
            return Outcome::error_page(500, "The server could not complete the request.");
        }
    };
    let username = params.single("username").ok().flatten().unwrap_or("");
    let password = params.single("password").ok().flatten().unwrap_or("");
    if username.is_empty() || password.is_empty() {
        return login_page(
            ctx,
            &req,
            &client,
            cookies,
            username,
            Some("Enter your username and password."),
            400,
            None,
        );
    }
    // Same throttling and no-enumeration rules as the password grant.
    let key = normalize_username(username).unwrap_or_else(|_| username.to_lowercase());
    if let Err(retry_after) = ctx.throttle.check(&key, ip) {
        tracing::warn!(client_id = %client.client_id, "browser login throttled");
        let msg = format!("Too many failed attempts. Try again in {retry_after} seconds.");
        return login_page(
            ctx,
            &req,
            &client,
            cookies,
            username,
            Some(&msg),
            429,
            Some(retry_after),
        );
    }
    let user = match ctx.users.find_by_username(username).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            return Outcome::error_page(503, "The server could not complete the request.");
        }
    };
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    let password_ok = ctx.users.hasher().verify(password.to_string(), phc).await;
    let user = match user {
        Some(u) if password_ok && !u.disabled => u,
        _ => {
            ctx.throttle.failure(&key, ip);
            tracing::info!(client_id = %client.client_id, "browser login refused");
            return login_page(
                ctx,
                &req,
                &client,
                cookies,
                username,
                Some("The username or password is incorrect."),
                400,
                None,
            );
        }
    };
    ctx.throttle.success(&key, ip);
    let sid = match random_token(16) {
        Ok(s) => s,
        Err(_) => return Outcome::error_page(500, "The server could not complete the request."),
    };
    let session = BrowserSession {
        sid,
        sub: user.id.clone(),
        auth_time: now,
        seen: now,
    };
    tracing::info!(client_id = %client.client_id, "browser login");
    issue_code(ctx, &req, session).await
}

/// The live session of this browser, if any: sealed cookie intact, within its idle and
/// absolute lifetimes, user still enabled and not logged out everywhere since.
pub(crate) async fn live_session(
    ctx: &GrantContext,
    cookies: Option<&str>,
) -> Option<BrowserSession> {
    let s: BrowserSession = ctx
        .sealer
        .open(Purpose::Session, cookie_value(cookies, SESSION_COOKIE)?)?;
    if !s.is_live(ctx.clock.now(), &cookie_policy(ctx)) {
        return None;
    }
    match ctx.users.get(&s.sub).await {
        Ok(Some(u)) if !u.disabled && u.not_before.is_none_or(|nb| s.auth_time >= nb) => Some(s),
        _ => None,
    }
}

/// Issues a code for `req` in `session` and sends the browser back to the client; the
/// session cookie is (re)issued with its idle clock reset.
async fn issue_code(ctx: &GrantContext, req: &AuthRequest, mut session: BrowserSession) -> Outcome {
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
    let policy = cookie_policy(ctx);
    let max_age = (session.auth_time + policy.max_ttl - now).min(policy.idle_ttl);
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        params.push(("state", s));
    }
    params.push(("iss", ctx.issuer.issuer()));
    Outcome::Redirect {
        location: with_query(&req.redirect_uri, &params),
        set_cookie: Some(set_cookie(
            SESSION_COOKIE,
            &sealed,
            "/",
            max_age,
            policy.secure,
        )),
    }
}

fn refused(ctx: &GrantContext, r: Refusal) -> Outcome {
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

/// The login form for `req`, with this browser's CSRF token (kept if it has a valid one,
/// so several open login tabs all work).
#[allow(clippy::too_many_arguments)]
fn login_page(
    ctx: &GrantContext,
    req: &AuthRequest,
    client: &Client,
    cookies: Option<&str>,
    username: &str,
    error: Option<&str>,
    status: u16,
    retry_after: Option<u64>,
) -> Outcome {
    let now = ctx.clock.now();
    let ttl = ctx.settings.login_form_ttl.as_secs() as i64;
    let csrf = cookie_value(cookies, LOGIN_COOKIE)
        .and_then(|c| ctx.sealer.open::<LoginCsrf>(Purpose::LoginCsrf, c))
        .filter(|c| c.exp > now + 60)
        .map(|c| c.csrf)
        .or_else(|| random_token(32).ok());
    let Some(csrf) = csrf else {
        return Outcome::error_page(500, "The server could not complete the request.");
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
        return Outcome::error_page(500, "The server could not complete the request.");
    };
    let html = pages::login(&pages::LoginPage {
        client_name: &client.name,
        action: LOGIN_PATH,
        request: &request,
        csrf: &csrf,
        username,
        error,
    });
    Outcome::Page {
        page: Page {
            status,
            html,
            retry_after,
        },
        set_cookie: Some(set_cookie(
            LOGIN_COOKIE,
            &cookie,
            "/oauth",
            ttl,
            ctx.settings.session_cookie_secure,
        )),
    }
}
