//! OpenID Connect RP-initiated logout (`end_session_endpoint`): ends the browser session
//! (clears the cookie, revokes the refresh families issued in it) and returns to the
//! client only at a `post_logout_redirect_uri` it registered — never an open redirect.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde::Deserialize;

use super::{Outcome, Page, cookie_policy, pages, uris::with_query};
use crate::{
    browser_session::{BrowserSession, Purpose, SESSION_COOKIE, clear_cookie, cookie_value},
    grants::{GrantContext, Params},
};

/// Claims of an ID token used as `id_token_hint`.
#[derive(Debug, Deserialize)]
pub struct HintClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
}

const REFUSED: &str = "This sign-out request is not valid, so you are not being redirected.";

/// `GET|POST /oauth/end_session`.
pub async fn end_session(ctx: &GrantContext, params: &Params, cookies: Option<&str>) -> Outcome {
    let single = |n: &str| params.single(n).map_err(|_| ());
    let (Ok(hint), Ok(client_id), Ok(target), Ok(state)) = (
        single("id_token_hint"),
        single("client_id"),
        single("post_logout_redirect_uri"),
        single("state"),
    ) else {
        return Outcome::error_page(400, REFUSED);
    };
    let hint = match hint {
        None => None,
        Some(h) => match verify_hint(ctx, h) {
            Some(c) => Some(c),
            None => return Outcome::error_page(400, REFUSED),
        },
    };
    let client_id = match (hint.as_ref().map(|h| h.aud.as_str()), client_id) {
        (Some(a), Some(c)) if a != c => return Outcome::error_page(400, REFUSED),
        (a, c) => a.or(c),
    };
    // Validate the return address before ending anything.
    let location = match target {
        None => None,
        Some(uri) => {
            let client = match client_id {
                Some(id) => ctx.clients.get(id).await.ok().flatten(),
                None => None,
            };
            match client {
                Some(c) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => {
                    let mut q = Vec::new();
                    if let Some(s) = state {
                        q.push(("state", s));
                    }
                    Some(with_query(uri, &q))
                }
                _ => {
                    tracing::warn!("logout with an unregistered post_logout_redirect_uri");
                    return Outcome::error_page(400, REFUSED);
                }
            }
        }
    };
    // End the session of this browser, live or not: its families go too.
    let session: Option<BrowserSession> =
        cookie_value(cookies, SESSION_COOKIE).and_then(|c| ctx.sealer.open(Purpose::Session, c));
    if let Some(s) = session {
        match ctx.codes.session_families(&s.sid).await {
            Ok(families) => {
                for f in families {
                    if let Err(e) = ctx.sessions.revoke_family(&f).await {
                        tracing::error!(error = %e, "cannot revoke a refresh family at logout");
                        return Outcome::error_page(
                            503,
                            "The server could not sign you out. Try again.",
                        );
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot list the session's refresh families");
                return Outcome::error_page(503, "The server could not sign you out. Try again.");
            }
        }
        tracing::info!("browser session ended");
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

/// An ID token we issued (signature by a published key, `typ: JWT`, our issuer). Expiry is
/// not checked: OIDC RP-initiated logout accepts expired hints.
pub fn verify_hint(ctx: &GrantContext, token: &str) -> Option<HintClaims> {
    #[derive(Deserialize)]
    struct Header {
        alg: String,
        kid: String,
        typ: Option<String>,
        crit: Option<serde_json::Value>,
    }
    if token.len() > 8 * 1024 {
        return None;
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let header: Header = serde_json::from_slice(&B64.decode(h).ok()?).ok()?;
    if header.crit.is_some() || header.typ.as_deref() != Some("JWT") {
        return None;
    }
    let snapshot = ctx.keyring.snapshot();
    let key = snapshot.keys().iter().find(|k| k.kid == header.kid)?;
    if header.alg != key.alg.as_str() {
        return None;
    }
    let sig = B64.decode(s).ok()?;
    key.verify(&token.as_bytes()[..h.len() + 1 + p.len()], &sig)
        .ok()?;
    let claims: HintClaims = serde_json::from_slice(&B64.decode(p).ok()?).ok()?;
    (claims.iss == ctx.issuer.issuer()).then_some(claims)
}
