//! Browser sign-in endpoints: authorization, the login form, RP-initiated logout. Thin:
//! the query or form goes to `authorize`, whose [`Outcome`] becomes a page or a redirect.
//! Pages carry a strict Content-Security-Policy and may not be framed (clickjacking).

use std::sync::Arc;

use poem::{Request, web::RemoteAddr};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Query, payload::Html};

use super::{ApiTags, form::OAuthForm};
use crate::{
    authorize::{self, Outcome, pages},
    http::AppState,
    params::Params,
};

#[derive(Debug, ApiResponse)]
pub enum BrowserResponse {
    /// An HTML page: the login form, "sign out?" (its form posts back here), or "signed out".
    #[oai(status = 200)]
    Page(
        Html<String>,
        #[oai(header = "Content-Security-Policy")] String,
        #[oai(header = "X-Frame-Options")] String,
        /// The pre-login CSRF cookie, or the cleared session cookie after logout.
        #[oai(header = "Set-Cookie")]
        Option<String>,
    ),
    /// Back to the client's redirect URI with `code`, `state` and `iss` (RFC 9207), or with
    /// an RFC 6749 §4.1.2.1 `error`; after logout, to the registered
    /// `post_logout_redirect_uri` with `state`.
    #[oai(status = 302)]
    Found(
        #[oai(header = "Location")] String,
        /// The sealed session cookie (`HttpOnly; SameSite=Lax; Secure`), or its removal.
        #[oai(header = "Set-Cookie")]
        Option<String>,
    ),
    /// After a successful login form: back to the client's redirect URI with the code.
    #[oai(status = 303)]
    SeeOther(
        #[oai(header = "Location")] String,
        /// The sealed session cookie.
        #[oai(header = "Set-Cookie")]
        Option<String>,
    ),
    /// An error page: unknown client, unregistered redirect URI, invalid logout request
    /// (never redirected), or the login form with "incorrect username or password".
    #[oai(status = 400)]
    BadRequest(
        Html<String>,
        #[oai(header = "Content-Security-Policy")] String,
        #[oai(header = "X-Frame-Options")] String,
        #[oai(header = "Set-Cookie")] Option<String>,
    ),
    /// The login form's CSRF token is missing, wrong or expired.
    #[oai(status = 403)]
    Forbidden(
        Html<String>,
        #[oai(header = "Content-Security-Policy")] String,
        #[oai(header = "X-Frame-Options")] String,
    ),
    /// Too many failed logins: the form again, with the wait in `Retry-After`.
    #[oai(status = 429)]
    TooManyRequests(
        Html<String>,
        #[oai(header = "Content-Security-Policy")] String,
        #[oai(header = "X-Frame-Options")] String,
        #[oai(header = "Set-Cookie")] Option<String>,
        #[oai(header = "Retry-After")] String,
    ),
    /// The sign-up page when sign-up is disabled (`registration_enabled = false`).
    #[oai(status = 404)]
    NotFound(
        Html<String>,
        #[oai(header = "Content-Security-Policy")] String,
        #[oai(header = "X-Frame-Options")] String,
    ),
    /// The server failed or a dependency is down; nothing is redirected.
    #[oai(status = 503)]
    Unavailable(
        Html<String>,
        #[oai(header = "Content-Security-Policy")] String,
        #[oai(header = "X-Frame-Options")] String,
    ),
}

fn respond(outcome: Outcome, after_post: bool) -> BrowserResponse {
    let (csp, xfo) = (pages::CSP.to_string(), "DENY".to_string());
    match outcome {
        Outcome::Redirect {
            location,
            set_cookie,
        } if after_post => BrowserResponse::SeeOther(location, set_cookie),
        Outcome::Redirect {
            location,
            set_cookie,
        } => BrowserResponse::Found(location, set_cookie),
        Outcome::Page { page, set_cookie } => {
            let html = Html(page.html);
            match page.status {
                200 => BrowserResponse::Page(html, csp, xfo, set_cookie),
                403 => BrowserResponse::Forbidden(html, csp, xfo),
                404 => BrowserResponse::NotFound(html, csp, xfo),
                429 => BrowserResponse::TooManyRequests(
                    html,
                    csp,
                    xfo,
                    set_cookie,
                    page.retry_after.unwrap_or(1).to_string(),
                ),
                500..=599 => BrowserResponse::Unavailable(html, csp, xfo),
                _ => BrowserResponse::BadRequest(html, csp, xfo, set_cookie),
            }
        }
    }
}

fn cookies(req: &Request) -> Option<&str> {
    req.headers().get("cookie").and_then(|v| v.to_str().ok())
}

fn query_params(req: &Request) -> Result<Params, BrowserResponse> {
    Params::parse(req.uri().query().unwrap_or("").as_bytes()).map_err(|_| {
        respond(
            Outcome::Page {
                page: authorize::Page {
                    status: 400,
                    html: pages::error("The request has too many parameters."),
                    retry_after: None,
                },
                set_cookie: None,
            },
            false,
        )
    })
}

fn bad_form() -> BrowserResponse {
    respond(
        Outcome::Page {
            page: authorize::Page {
                status: 400,
                html: pages::error("The form could not be read."),
                retry_after: None,
            },
            set_cookie: None,
        },
        true,
    )
}

/// The login form as posted by the page.
#[derive(Debug, Object)]
pub struct LoginForm {
    /// The pending authorization request, sealed by the server (hidden field).
    pub request: String,
    /// The CSRF token (hidden field); must match this browser's pre-login cookie.
    pub csrf: String,
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

/// The sign-up form as posted by the page.
#[derive(Debug, Object)]
pub struct SignupForm {
    /// The pending authorization request, sealed by the server (hidden field).
    pub request: String,
    /// The CSRF token (hidden field); must match this browser's pre-login cookie.
    pub csrf: String,
    /// The username wanted (normalised: NFKC, lowercase; 1–64 characters, no spaces).
    pub username: String,
    /// The password chosen (the password policy applies: `password_min_length`,
    /// `password_min_score`, not containing the username).
    pub password: String,
    /// The same password again.
    pub password_confirm: String,
}

/// The device verification form (RFC 8628), as posted by its pages.
#[derive(Debug, Object)]
pub struct DeviceForm {
    /// The CSRF token (hidden field); must match this browser's cookie of the page.
    pub csrf: String,
    /// The code shown on the device (`BCDF-GHJK`; case, spaces and the dash do not matter).
    pub user_code: String,
    /// `continue` (show who asks for what), `approve` or `deny`.
    pub action: Option<String>,
    /// Without a session: the username.
    pub username: Option<String>,
    /// Without a session: the password.
    pub password: Option<String>,
}

/// RP-initiated logout parameters (form variant).
#[derive(Debug, Object)]
pub struct EndSessionForm {
    /// An ID token Tessera issued to the client (expired ones are accepted).
    pub id_token_hint: Option<String>,
    /// The client asking for logout (needed without `id_token_hint`).
    pub client_id: Option<String>,
    /// Where to go afterwards: exactly one of the client's registered post-logout URIs.
    pub post_logout_redirect_uri: Option<String>,
    /// Opaque value passed back to `post_logout_redirect_uri`.
    pub state: Option<String>,
    /// The token of the "sign out?" confirmation page (hidden field): bound to this
    /// browser's session; needed to end it without an `id_token_hint` for its user.
    pub csrf: Option<String>,
}

pub struct BrowserApi {
    pub state: Arc<AppState>,
}

#[OpenApi]
impl BrowserApi {
    /// Authorization endpoint
    ///
    /// Starts browser sign-in (RFC 6749 §4.1, OpenID Connect Core §3.1). Only
    /// `response_type=code`, with PKCE `S256` required for every client. The redirect URI
    /// must be registered (exact match). A browser with a live Tessera session goes straight
    /// back to the client with a code (single sign-on) unless `prompt=login` or `max_age`
    /// asks for a fresh login; otherwise the login page is shown. Errors about the client
    /// or redirect URI are shown on a page and never redirected; other errors go back to
    /// the client per RFC 6749 §4.1.2.1.
    #[oai(
        path = "/oauth/authorize",
        method = "get",
        tag = "ApiTags::Browser",
        operation_id = "authorize"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn authorize(
        &self,
        req: &Request,
        /// Must be `code`.
        #[oai(name = "response_type")]
        _response_type: Query<Option<String>>,
        /// The client's id.
        #[oai(name = "client_id")]
        _client_id: Query<Option<String>>,
        /// One of the client's registered redirect URIs, exactly (may be omitted when it
        /// has only one).
        #[oai(name = "redirect_uri")]
        _redirect_uri: Query<Option<String>>,
        /// Space-separated scopes (default: all the client's scopes); `openid` for an ID token.
        #[oai(name = "scope")]
        _scope: Query<Option<String>>,
        /// Opaque value returned to the client unchanged (CSRF protection of the client).
        #[oai(name = "state")]
        _state: Query<Option<String>>,
        /// OpenID Connect nonce, copied into the ID token.
        #[oai(name = "nonce")]
        _nonce: Query<Option<String>>,
        /// PKCE: BASE64URL(SHA256(code_verifier)), 43 characters. Required.
        #[oai(name = "code_challenge")]
        _code_challenge: Query<Option<String>>,
        /// PKCE method: must be `S256` (`plain` is refused).
        #[oai(name = "code_challenge_method")]
        _code_challenge_method: Query<Option<String>>,
        /// `login` forces the login page; `none` never shows a page (`login_required` when
        /// there is no session).
        #[oai(name = "prompt")]
        _prompt: Query<Option<String>>,
        /// Seconds: a session authenticated longer ago must sign in again.
        #[oai(name = "max_age")]
        _max_age: Query<Option<String>>,
        /// RFC 9449 §10: the thumbprint (RFC 7638, base64url SHA-256) of the client's DPoP
        /// key; the code can then only be exchanged with a DPoP proof of that key.
        #[oai(name = "dpop_jkt")]
        _dpop_jkt: Query<Option<String>>,
    ) -> BrowserResponse {
        let params = match query_params(req) {
            Ok(p) => p,
            Err(r) => return r,
        };
        respond(
            authorize::authorize(&self.state.ctx, &params, cookies(req)).await,
            false,
        )
    }

    /// Login form submission
    ///
    /// Posted by the login page. Checks the CSRF token against this browser's pre-login
    /// cookie, then the password (same throttling and same answer for unknown users and
    /// wrong passwords as the password grant). On success sets the sealed session cookie
    /// and returns to the client with a code.
    #[oai(
        path = "/oauth/login",
        method = "post",
        tag = "ApiTags::Browser",
        operation_id = "login"
    )]
    async fn login(
        &self,
        req: &Request,
        remote: &RemoteAddr,
        form: OAuthForm<LoginForm>,
    ) -> BrowserResponse {
        let Ok(params) = form.params else {
            return bad_form();
        };
        let ip = super::client_ip::client_ip(&self.state.trusted_proxies, remote, req.headers());
        respond(
            authorize::login(&self.state.ctx, &params, cookies(req), ip).await,
            true,
        )
    }

    /// Sign-up page
    ///
    /// The "Create an account" form for a pending authorization request (the sealed
    /// `request` of the login page, which links here). Only when `registration_enabled`;
    /// otherwise 404.
    #[oai(
        path = "/oauth/signup",
        method = "get",
        tag = "ApiTags::Browser",
        operation_id = "signup"
    )]
    async fn signup(
        &self,
        req: &Request,
        /// The sealed pending authorization request (from the login page's link).
        #[oai(name = "request")]
        _request: Query<Option<String>>,
    ) -> BrowserResponse {
        let params = match query_params(req) {
            Ok(p) => p,
            Err(r) => return r,
        };
        respond(
            authorize::signup::show(&self.state.ctx, &params, cookies(req)).await,
            false,
        )
    }

    /// Sign-up form submission
    ///
    /// Posted by the sign-up page. Checks the CSRF token as the login form does, the
    /// username rule and the password policy (400 with the form and the reason), and the
    /// per-IP sign-up limit (429 with `Retry-After`). Then answers the same way whether the
    /// username was free (the account is created, without roles) or taken: the login page
    /// of the pending request with the username filled in and a neutral notice, so the
    /// answer never tells whether an account exists. Only when `registration_enabled`;
    /// otherwise 404.
    #[oai(
        path = "/oauth/signup",
        method = "post",
        tag = "ApiTags::Browser",
        operation_id = "signupPost"
    )]
    async fn signup_post(
        &self,
        req: &Request,
        remote: &RemoteAddr,
        form: OAuthForm<SignupForm>,
    ) -> BrowserResponse {
        let Ok(params) = form.params else {
            return bad_form();
        };
        let ip = super::client_ip::client_ip(&self.state.trusted_proxies, remote, req.headers());
        let done = authorize::signup::submit(&self.state.ctx, &params, cookies(req), ip).await;
        if let Some(user) = &done.created {
            let actor = format!("user:{}", user.username);
            if let Err(e) = self
                .state
                .audit
                .record(&actor, "user.register", &user.id, serde_json::json!({}))
                .await
            {
                tracing::error!(error = %e, "audit record failed");
            }
        }
        respond(done.outcome, true)
    }

    /// End session (RP-initiated logout)
    ///
    /// OpenID Connect RP-Initiated Logout 1.0. Clears the session cookie, ends the session
    /// server-side and revokes the refresh tokens issued in it. An open session ends at once
    /// only with an `id_token_hint` for its user; otherwise a "sign out?" page asks the user,
    /// and its form (`POST`, with a CSRF token) ends it. Redirects only to a
    /// `post_logout_redirect_uri` registered for the client named by `id_token_hint` (or
    /// `client_id`), with `state`; anything else shows a page and redirects nowhere.
    #[oai(
        path = "/oauth/end_session",
        method = "get",
        tag = "ApiTags::Browser",
        operation_id = "endSession"
    )]
    async fn end_session(
        &self,
        req: &Request,
        /// An ID token Tessera issued to the client (expired ones are accepted).
        #[oai(name = "id_token_hint")]
        _id_token_hint: Query<Option<String>>,
        /// The client asking for logout (needed without `id_token_hint`).
        #[oai(name = "client_id")]
        _client_id: Query<Option<String>>,
        /// Where to go afterwards: exactly one of the client's registered post-logout URIs.
        #[oai(name = "post_logout_redirect_uri")]
        _post_logout_redirect_uri: Query<Option<String>>,
        /// Opaque value passed back to `post_logout_redirect_uri`.
        #[oai(name = "state")]
        _state: Query<Option<String>>,
    ) -> BrowserResponse {
        let params = match query_params(req) {
            Ok(p) => p,
            Err(r) => return r,
        };
        respond(
            authorize::logout::end_session(&self.state.ctx, &params, cookies(req), false).await,
            false,
        )
    }

    /// Device verification page
    ///
    /// RFC 8628 §3.3: the page where a person enters the code shown on a device (prefilled
    /// from `verification_uri_complete`), signing in first if the browser has no session.
    /// Showing it never approves anything.
    #[oai(
        path = "/device",
        method = "get",
        tag = "ApiTags::Browser",
        operation_id = "deviceVerification"
    )]
    async fn device(
        &self,
        req: &Request,
        /// The code to prefill (from `verification_uri_complete`).
        #[oai(name = "user_code")]
        _user_code: Query<Option<String>>,
    ) -> BrowserResponse {
        let params = match query_params(req) {
            Ok(p) => p,
            Err(r) => return r,
        };
        respond(
            crate::device::page::show(&self.state.ctx, &params, cookies(req)).await,
            false,
        )
    }

    /// Device verification form submission
    ///
    /// Posted by the verification page: checks the CSRF token, signs in when needed (same
    /// password check and throttle as the login form), then `continue` shows the client's
    /// name and scopes for the code, and `approve` / `deny` answer the device. Wrong codes
    /// are throttled per session and per IP (429 with `Retry-After`).
    #[oai(
        path = "/device",
        method = "post",
        tag = "ApiTags::Browser",
        operation_id = "deviceVerificationPost"
    )]
    async fn device_post(
        &self,
        req: &Request,
        remote: &RemoteAddr,
        form: OAuthForm<DeviceForm>,
    ) -> BrowserResponse {
        let Ok(params) = form.params else {
            return bad_form();
        };
        let ip = super::client_ip::client_ip(&self.state.trusted_proxies, remote, req.headers());
        respond(
            crate::device::page::submit(&self.state.ctx, &params, cookies(req), ip).await,
            true,
        )
    }

    /// End session (form post)
    ///
    /// The same as `GET /oauth/end_session`, with the parameters in a form body; also what
    /// the "sign out?" page posts (with its `csrf` token).
    #[oai(
        path = "/oauth/end_session",
        method = "post",
        tag = "ApiTags::Browser",
        operation_id = "endSessionPost"
    )]
    async fn end_session_post(
        &self,
        req: &Request,
        form: OAuthForm<EndSessionForm>,
    ) -> BrowserResponse {
        let Ok(params) = form.params else {
            return bad_form();
        };
        respond(
            authorize::logout::end_session(&self.state.ctx, &params, cookies(req), true).await,
            true,
        )
    }
}
