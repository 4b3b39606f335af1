//! OpenID Connect RP-initiated logout (`end_session_endpoint`): ends the browser session
//! (clears the cookie, ends its server-side record, revokes the refresh families issued in
//! it) and returns to the client only at a `post_logout_redirect_uri` it registered —
//! never an open redirect. Everything is validated before anything ends.
//!
//! Logout CSRF (`docs/security.md` B4): any site can send a browser to this endpoint, so
//! an open session ends at once only with an `id_token_hint` we issued for the session's
//! user. Otherwise the user sees a confirmation page whose form POSTs back here with a
//! token sealed for this very session (`Purpose::LogoutConfirm`, valid `login_form_ttl`);
//! only that POST ends the session. A browser without an open session has nothing to
//! end and is signed out at once.

use super::{Outcome, Page, cookie_policy, pages};
use crate::{
    browser_cookies::{
        BrowserSession, LogoutConfirm, Purpose, SESSION_COOKIE, clear_cookie, cookie_value,
    },
    clients::redirect_uris::with_query,
    context::Context,
    params::Params,
    secrets::strings_equal,
    tokens::verify::verify_id_token_hint,
};

const REFUSED: &str = "This sign-out request is not valid, so you are not being redirected.";
const FAILED: &str = "The server could not sign you out. Try again.";
const FORM_REFUSED: &str = "This sign-out form has expired or did not come from this site.";

/// Where the confirmation form posts.
pub const END_SESSION_PATH: &str = "/oauth/end_session";

/// A sign-out request whose parameters are each present at most once.
struct LogoutRequest<'a> {
    id_token_hint: Option<&'a str>,
    client_id: Option<&'a str>,
    post_logout_redirect_uri: Option<&'a str>,
    state: Option<&'a str>,
    /// The confirmation form's token (honoured on POST only).
    csrf: Option<&'a str>,
}

/// `GET|POST /oauth/end_session`; `post` says which.
pub async fn end_session(
    ctx: &Context,
    params: &Params,
    cookies: Option<&str>,
    post: bool,
) -> Outcome {
    let Some(req) = parse(params) else {
        return Outcome::error_page(400, REFUSED);
    };
    let Some((client_id, hint_sub)) = client_of(ctx, &req) else {
        return Outcome::error_page(400, REFUSED);
    };
    // Validate the return address before ending anything.
    let location = match req.post_logout_redirect_uri {
        None => None,
        Some(uri) => match return_location(ctx, client_id.clone(), uri, req.state).await {
            Some(location) => Some(location),
            None => {
                tracing::warn!("logout with an unregistered post_logout_redirect_uri");
                return Outcome::error_page(400, REFUSED);
            }
        },
    };
    let session: Option<BrowserSession> =
        cookie_value(cookies, SESSION_COOKIE).and_then(|c| ctx.sealer.open(Purpose::Session, c));
    if let Some(s) = &session {
        let open = match ctx.browser_sessions.is_open(&s.sid, &s.sub).await {
            Ok(open) => open,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the browser session record");
                return Outcome::error_page(503, FAILED);
            }
        };
        let hinted = hint_sub.as_deref() == Some(s.sub.as_str());
        if open && !hinted {
            match (post, req.csrf) {
                (true, Some(csrf)) if confirmed(ctx, s, csrf) => {}
                (true, Some(_)) => {
                    tracing::warn!("sign-out confirmation refused: bad or expired token");
                    return Outcome::error_page(403, FORM_REFUSED);
                }
                _ => return confirmation(ctx, s, &req, client_id.as_deref()),
            }
        }
    }
    if end_browser_session(ctx, session.as_ref()).await.is_err() {
        return Outcome::error_page(503, FAILED);
    }
    let set_cookie = Some(clear_cookie(SESSION_COOKIE, "/", cookie_policy(ctx).secure));
    match location {
        Some(location) => Outcome::Redirect {
            location,
            set_cookie,
        },
        None => Outcome::Page {
            page: Page {
                status: 200,
                html: pages::signed_out(),
                retry_after: None,
            },
            set_cookie,
        },
    }
}

fn parse(params: &Params) -> Option<LogoutRequest<'_>> {
    let single = |n: &str| params.single(n).ok();
    Some(LogoutRequest {
        id_token_hint: single("id_token_hint")?,
        client_id: single("client_id")?,
        post_logout_redirect_uri: single("post_logout_redirect_uri")?,
        state: single("state")?,
        csrf: single("csrf")?,
    })
}

/// The client the request speaks for, and the user the hint names: the hint's audience
/// and `client_id` must agree when both are given. `None` for a hint we did not issue or a
/// disagreement; a `None` client when neither names one.
fn client_of<'a>(
    ctx: &Context,
    req: &LogoutRequest<'a>,
) -> Option<(Option<String>, Option<String>)> {
    let hint = match req.id_token_hint {
        None => None,
        Some(h) => {
            let snapshot = ctx.keyring.snapshot();
            let claims = verify_id_token_hint(&snapshot, ctx.issuer.issuer(), h).ok()?;
            Some((claims.aud, claims.sub))
        }
    };
    let (hint_aud, hint_sub) = hint.unzip();
    match (hint_aud, req.client_id) {
        (Some(a), Some(c)) if a != c => None,
        (a, c) => Some((a.or_else(|| c.map(str::to_string)), hint_sub)),
    }
}

/// Whether `csrf` is this session's confirmation token, unexpired.
fn confirmed(ctx: &Context, session: &BrowserSession, csrf: &str) -> bool {
    ctx.sealer
        .open::<LogoutConfirm>(Purpose::LogoutConfirm, csrf)
        .is_some_and(|c| c.exp > ctx.clock.now() && strings_equal(&c.sid, &session.sid))
}

/// The "sign out?" page: a form that POSTs the request back with a token sealed for this
/// session. Nothing ends until it is submitted.
fn confirmation(
    ctx: &Context,
    session: &BrowserSession,
    req: &LogoutRequest<'_>,
    client_id: Option<&str>,
) -> Outcome {
    let token = LogoutConfirm {
        sid: session.sid.clone(),
        exp: ctx.clock.now() + ctx.settings.login_form_ttl.as_secs() as i64,
    };
    let Ok(csrf) = ctx.sealer.seal(Purpose::LogoutConfirm, &token) else {
        return Outcome::error_page(503, FAILED);
    };
    let mut fields = vec![("csrf", csrf.as_str())];
    if let Some(c) = client_id {
        fields.push(("client_id", c));
    }
    if let Some(u) = req.post_logout_redirect_uri {
        fields.push(("post_logout_redirect_uri", u));
    }
    if let Some(s) = req.state {
        fields.push(("state", s));
    }
    Outcome::Page {
        page: Page {
            status: 200,
            html: pages::confirm_sign_out(END_SESSION_PATH, &fields),
            retry_after: None,
        },
        set_cookie: None,
    }
}

/// The post-logout URI with `state`, if the client registered it.
async fn return_location(
    ctx: &Context,
    client_id: Option<String>,
    uri: &str,
    state: Option<&str>,
) -> Option<String> {
    let client = ctx.clients.get(&client_id?).await.ok().flatten()?;
    if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
        return None;
    }
    let mut q = Vec::new();
    if let Some(s) = state {
        q.push(("state", s));
    }
    Some(with_query(uri, &q))
}

/// Ends the session of this browser, live or not: its record is ended (every copy of the
/// cookie stops working) and the refresh families issued in it are revoked. Fails when
/// the database does.
async fn end_browser_session(ctx: &Context, session: Option<&BrowserSession>) -> Result<(), ()> {
    let Some(s) = session else {
        return Ok(());
    };
    crate::sessions::end_browser_session(ctx, &s.sid)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot end the browser session");
        })
}
