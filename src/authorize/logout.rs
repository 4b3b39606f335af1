//! OpenID Connect RP-initiated logout (`end_session_endpoint`): ends the browser session
//! (clears the cookie, revokes the refresh families issued in it) and returns to the
//! client only at a `post_logout_redirect_uri` it registered — never an open redirect.
//! Everything is validated before anything ends.

use super::{Outcome, Page, cookie_policy, pages};
use crate::{
    browser_cookies::{BrowserSession, Purpose, SESSION_COOKIE, clear_cookie, cookie_value},
    clients::redirect_uris::with_query,
    context::Context,
    params::Params,
    tokens::verify::verify_id_token_hint,
};

const REFUSED: &str = "This sign-out request is not valid, so you are not being redirected.";
const FAILED: &str = "The server could not sign you out. Try again.";

/// A sign-out request whose parameters are each present at most once.
struct LogoutRequest<'a> {
    id_token_hint: Option<&'a str>,
    client_id: Option<&'a str>,
    post_logout_redirect_uri: Option<&'a str>,
    state: Option<&'a str>,
}

/// `GET|POST /oauth/end_session`.
pub async fn end_session(ctx: &Context, params: &Params, cookies: Option<&str>) -> Outcome {
    let Some(req) = parse(params) else {
        return Outcome::error_page(400, REFUSED);
    };
    let Some(client_id) = client_of(ctx, &req) else {
        return Outcome::error_page(400, REFUSED);
    };
    // Validate the return address before ending anything.
    let location = match req.post_logout_redirect_uri {
        None => None,
        Some(uri) => match return_location(ctx, client_id, uri, req.state).await {
            Some(location) => Some(location),
            None => {
                tracing::warn!("logout with an unregistered post_logout_redirect_uri");
                return Outcome::error_page(400, REFUSED);
            }
        },
    };
    if end_browser_session(ctx, cookies).await.is_err() {
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
    })
}

/// The client the request speaks for: the hint's audience and `client_id` must agree when
/// both are given. `None` for a hint we did not issue or a disagreement; `Some(None)` when
/// neither names a client.
fn client_of<'a>(ctx: &Context, req: &LogoutRequest<'a>) -> Option<Option<String>> {
    let hint_aud = match req.id_token_hint {
        None => None,
        Some(h) => {
            let snapshot = ctx.keyring.snapshot();
            let claims = verify_id_token_hint(&snapshot, ctx.issuer.issuer(), h).ok()?;
            Some(claims.aud)
        }
    };
    match (hint_aud, req.client_id) {
        (Some(a), Some(c)) if a != c => None,
        (a, c) => Some(a.or_else(|| c.map(str::to_string))),
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

/// Ends the session of this browser, live or not: the refresh families issued in it are
/// revoked. Fails when the database does.
async fn end_browser_session(ctx: &Context, cookies: Option<&str>) -> Result<(), ()> {
    let session: Option<BrowserSession> =
        cookie_value(cookies, SESSION_COOKIE).and_then(|c| ctx.sealer.open(Purpose::Session, c));
    let Some(s) = session else {
        return Ok(());
    };
    let families = ctx.codes.session_families(&s.sid).await.map_err(|e| {
        tracing::error!(error = %e, "cannot list the session's refresh families");
    })?;
    for f in families {
        ctx.refresh_families.revoke_family(&f).await.map_err(|e| {
            tracing::error!(error = %e, "cannot revoke a refresh family at logout");
        })?;
    }
    tracing::info!("browser session ended");
    Ok(())
}
