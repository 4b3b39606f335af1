//! Who is looking at a page, and whether a form really comes from our page.
//!
//! **Sign-in.** The console and the account page are one built-in public client,
//! `tessera-console` ([`sync_console_client`], kept in step at start-up): a request
//! without a page session is sent through Tessera's own authorization code flow with
//! PKCE (state, nonce and verifier in a short-lived sealed cookie), so the login page,
//! its throttle and single sign-on are the ones every application gets. The callback
//! redeems the code with the very function the token endpoint's `authorization_code`
//! grant uses (no HTTP call to itself) and reads the ID token's `sub`.
//!
//! **Page session.** A sealed cookie (`tessera_pages`) holding the user id, the browser
//! session it came from, a CSRF token and its lifetime. Every request reads the user
//! again: a disabled or deleted user, a "log out everywhere" (not-before) or the end of
//! the browser session it came from ends the page session at once; roles are read fresh.
//!
//! **CSRF.** One rule, [`check_post`]: the form's `csrf` field must equal the session's
//! token (constant time) and the request must come from this origin (`Origin`, or else
//! `Sec-Fetch-Site`, when the browser sends them). The cookie is also `SameSite=Lax`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde::{Deserialize, Serialize};

use super::{Layout, Link, MessagePage, Outcome, Services, unavailable};
use crate::{
    accounts::User,
    browser_cookies::{Purpose, SESSION_COOKIE, clear_cookie, cookie_value, set_cookie},
    clients::{NewClient, RegistrationLimits},
    context::Context,
    error::Result,
    params::Params,
    secrets::{random_token, strings_equal},
};

/// The page session cookie.
pub const PAGES_COOKIE: &str = "tessera_pages";
/// The cookie of a sign-in in progress (state, nonce, PKCE verifier, where to return).
pub const SIGNIN_COOKIE: &str = "tessera_pages_signin";
/// The one-shot message of the previous form.
pub const FLASH_COOKIE: &str = "tessera_pages_flash";
/// The built-in public client the pages sign in with.
pub const CONSOLE_CLIENT_ID: &str = "tessera-console";
/// The audience of the console client's (unused) access tokens.
pub const CONSOLE_AUDIENCE: &str = "urn:tessera:console";
/// Where the authorization server sends the browser back.
pub const CALLBACK_PATH: &str = "/console/callback";
/// Where the sign-out form posts.
pub const SIGNOUT_PATH: &str = "/console/signout";

/// The contents of the page session cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageSession {
    /// The user id.
    pub sub: String,
    /// The browser (single sign-on) session the sign-in went through, if any: ending it
    /// ends this page session too.
    pub sid: Option<String>,
    /// The token every form of this session carries.
    pub csrf: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// A sign-in in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignIn {
    state: String,
    nonce: String,
    verifier: String,
    /// Same-origin path to return to (see [`safe_return_to`]).
    return_to: String,
    exp: i64,
}

/// The signed-in user of a page request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub session: PageSession,
    /// Read from the database for this request.
    pub user: User,
    /// The message of the previous form, if the browser brought one.
    pub flash: Option<String>,
    /// Whether the user holds `console_admin_role` (read fresh).
    pub admin: bool,
}

impl Viewer {
    /// This user as the actor of admin operations.
    pub fn admin_actor(&self) -> crate::admin::Actor {
        crate::admin::Actor::ConsoleUser {
            username: self.user.username.clone(),
        }
    }

    /// The audit log's actor for changes this user makes: `user:<username>`.
    pub fn actor(&self) -> String {
        self.admin_actor().audit_name()
    }

    /// The layout of a page titled `title` whose navigation entry is `current`.
    pub fn layout(&self, title: &str, current: &'static str) -> Layout {
        Layout {
            title: title.to_string(),
            current,
            username: Some(self.user.username.clone()),
            admin: self.admin,
            csrf: self.session.csrf.clone(),
            flash: self.flash.clone(),
        }
    }
}

/// The registration of `tessera-console`: public, code flow with PKCE only, `openid`,
/// audience `urn:tessera:console`, its one redirect URI under this issuer, no refresh tokens.
pub fn console_client(ctx: &Context) -> NewClient {
    NewClient {
        name: "Tessera console".into(),
        grant_types: vec!["authorization_code".into()],
        scopes: vec!["openid".into()],
        // Its access token goes nowhere (the pages read the ID token); an audience of its
        // own keeps it useless at every resource server.
        audiences: vec![CONSOLE_AUDIENCE.into()],
        redirect_uris: vec![format!("{}{CALLBACK_PATH}", ctx.settings.issuer)],
        public: true,
        ..Default::default()
    }
}

/// Registers `tessera-console`, or brings its registration back to [`console_client`]
/// (the issuer may have changed). Run at start-up.
pub async fn sync_console_client(ctx: &Context) -> Result<()> {
    let limits = RegistrationLimits {
        max_token_ttl: ctx.settings.max_access_token_ttl,
    };
    match ctx
        .clients
        .sync_builtin(CONSOLE_CLIENT_ID, console_client(ctx), limits)
        .await
    {
        Ok(_) => Ok(()),
        // An issuer the redirect-URI rules refuse (plain http on a non-loopback host) cannot
        // host the pages; the token service must still start, so say so and go on without them.
        Err(e @ crate::error::Error::Invalid { .. }) => {
            tracing::warn!(error = %e, "console and account pages unavailable: the built-in client cannot be registered for this issuer");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// A path the browser may be sent back to after sign-in: a same-origin path under
/// `/console` or `/account` (never `//host`, a backslash or control characters).
pub fn safe_return_to(path: &str) -> Option<&str> {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
    };
    let clean = path.len() <= 1024
        && !path.contains("//")
        && !path.contains('\\')
        && !path.chars().any(|c| c.is_control() || c == ' ');
    (clean && (under("/console") || under("/account"))).then_some(path)
}

/// The page session of this request, if it is still good: sealed cookie intact and not
/// expired, user present and enabled, not logged out everywhere since, and the browser
/// session it came from still open. `Err` only when the database cannot say.
pub async fn viewer(ctx: &Context, cookies: Option<&str>) -> Result<Option<Viewer>> {
    let Some(session) = cookie_value(cookies, PAGES_COOKIE)
        .and_then(|c| ctx.sealer.open::<PageSession>(Purpose::PagesSession, c))
    else {
        return Ok(None);
    };
    if session.expires_at <= ctx.clock.now() {
        return Ok(None);
    }
    let Some(user) = ctx.accounts.users().get(&session.sub).await? else {
        return Ok(None);
    };
    if user.disabled || user.not_before.is_some_and(|nb| session.issued_at < nb) {
        return Ok(None);
    }
    if let Some(sid) = &session.sid
        && !ctx.browser_sessions.is_open(sid, &session.sub).await?
    {
        return Ok(None);
    }
    let admin = user
        .roles
        .iter()
        .any(|r| *r == ctx.settings.console_admin_role);
    let flash = cookie_value(cookies, FLASH_COOKIE)
        .and_then(|c| ctx.sealer.open::<Flash>(Purpose::PagesFlash, c))
        .filter(|f| f.sub == session.sub && f.exp > ctx.clock.now())
        .map(|f| f.message);
    Ok(Some(Viewer {
        session,
        user,
        flash,
        admin,
    }))
}

/// Who may see a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Users holding `console_admin_role`.
    Admins,
    /// Any enabled signed-in user.
    Anyone,
}

/// The viewer of a page at `here` (its path and query, to return to after sign-in), or
/// what to answer instead: the way to sign in, a 403 page for a user without the role,
/// or 503 when the database cannot say.
pub async fn admit(
    s: &Services<'_>,
    cookies: Option<&str>,
    here: &str,
    audience: Audience,
) -> std::result::Result<Viewer, Outcome> {
    match viewer(s.ctx, cookies).await {
        Ok(Some(v)) if audience == Audience::Admins && !v.admin => Err(forbidden(s.ctx, &v)),
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(begin_sign_in(s.ctx, here)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the page session's user");
            Err(unavailable(Layout::default()))
        }
    }
}

/// The 403 page of a signed-in user without the console role.
pub fn forbidden(ctx: &Context, v: &Viewer) -> Outcome {
    let message = format!(
        "You are signed in as {}, but the console is only for users with the role \
         \u{201c}{}\u{201d}. Ask an administrator for access.",
        v.user.username, ctx.settings.console_admin_role
    );
    Outcome::page(
        403,
        &MessagePage {
            layout: v.layout("Access denied", ""),
            heading: "Access denied".into(),
            message,
            link: None,
        },
    )
}

/// What a form post brings for the CSRF check.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostContext<'a> {
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Sec-Fetch-Site` header.
    pub sec_fetch_site: Option<&'a str>,
}

/// The CSRF rule of every page form: the form's `csrf` field equals the session's token
/// (constant time), and the request comes from this origin: `Origin`, when present, is
/// the issuer's origin; without it, `Sec-Fetch-Site`, when present, is `same-origin`.
/// Refused: a 403 page, and nothing is changed.
pub fn check_post(
    ctx: &Context,
    v: &Viewer,
    form: &Params,
    post: PostContext<'_>,
) -> std::result::Result<(), Outcome> {
    let token = form.single("csrf").ok().flatten().unwrap_or("");
    let token_ok = strings_equal(token, &v.session.csrf);
    let origin_ok = match (post.origin, post.sec_fetch_site) {
        (Some(origin), _) => origin == issuer_origin(&ctx.settings.issuer),
        (None, Some(site)) => site.eq_ignore_ascii_case("same-origin"),
        (None, None) => true,
    };
    if token_ok && origin_ok {
        return Ok(());
    }
    tracing::warn!(token_ok, origin_ok, "page form refused: CSRF check failed");
    Err(Outcome::page(
        403,
        &MessagePage {
            layout: v.layout("Form refused", ""),
            heading: "Form refused".into(),
            message: "This form did not come from this site or has expired. Nothing was \
                      changed. Reload the page and try again."
                .into(),
            link: None,
        },
    ))
}

/// `scheme://host[:port]` of the issuer (what browsers send as `Origin`).
pub fn issuer_origin(issuer: &str) -> String {
    url::Url::parse(issuer)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// Starts a sign-in that returns to `here`: a sealed cookie with state, nonce and PKCE
/// verifier, and the way to the authorization endpoint.
pub fn begin_sign_in(ctx: &Context, here: &str) -> Outcome {
    let return_to = safe_return_to(here).unwrap_or("/console").to_string();
    let values = (random_token(16), random_token(16), random_token(32));
    let (Ok(state), Ok(nonce), Ok(verifier)) = values else {
        return unavailable(Layout::default());
    };
    let challenge = B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    let ttl = ctx.settings.login_form_ttl.as_secs() as i64;
    let pending = SignIn {
        state: state.clone(),
        nonce: nonce.clone(),
        verifier,
        return_to,
        exp: ctx.clock.now() + ttl,
    };
    let Ok(sealed) = ctx.sealer.seal(Purpose::PagesSignIn, &pending) else {
        return unavailable(Layout::default());
    };
    let redirect_uri = format!("{}{CALLBACK_PATH}", ctx.settings.issuer);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CONSOLE_CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let authorize = format!("{}/oauth/authorize?{query}", ctx.settings.issuer);
    Outcome::redirect(authorize).with_cookie(set_cookie(
        SIGNIN_COOKIE,
        &sealed,
        CALLBACK_PATH,
        ttl,
        ctx.settings.session_cookie_secure,
    ))
}

/// Claims of the ID token the callback reads.
#[derive(Deserialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: String,
    nonce: Option<String>,
}

/// `GET /console/callback`: checks the state against the sign-in cookie, redeems the
/// code through the `authorization_code` grant's own function, checks the ID token
/// (signature, issuer, audience, nonce) and starts the page session.
pub async fn finish_sign_in(ctx: &Context, query: &Params, cookies: Option<&str>) -> Outcome {
    let layout = Layout {
        title: "Sign-in failed".into(),
        ..Layout::default()
    };
    let failed = |message: &str| {
        let mut page = MessagePage {
            layout: layout.clone(),
            heading: "Sign-in failed".into(),
            message: message.to_string(),
            link: Some(Link::new("/console", "Sign in again")),
        };
        page.layout.title = page.heading.clone();
        Outcome::page(400, &page).with_cookie(clear_cookie(
            SIGNIN_COOKIE,
            CALLBACK_PATH,
            ctx.settings.session_cookie_secure,
        ))
    };
    let now = ctx.clock.now();
    let Some(pending) = cookie_value(cookies, SIGNIN_COOKIE)
        .and_then(|c| ctx.sealer.open::<SignIn>(Purpose::PagesSignIn, c))
        .filter(|p| p.exp > now)
    else {
        return failed("The sign-in took too long or did not start here.");
    };
    let field = |name| query.single(name).ok().flatten();
    if !field("state").is_some_and(|s| strings_equal(s, &pending.state)) {
        tracing::warn!("page sign-in refused: state mismatch");
        return failed("The sign-in did not start here.");
    }
    if field("iss").is_some_and(|iss| iss != ctx.issuer.issuer()) {
        return failed("The answer came from another issuer.");
    }
    if field("error").is_some() {
        return failed("The sign-in was not completed.");
    }
    let Some(code) = field("code") else {
        return failed("The sign-in was not completed.");
    };
    let client = match ctx.clients.get(CONSOLE_CLIENT_ID).await {
        Ok(Some(c)) => c,
        Ok(None) => return failed("The console is not registered; restart the server."),
        Err(e) => {
            tracing::warn!(error = %e, "console client lookup failed");
            return unavailable(Layout::default());
        }
    };
    let redirect_uri = format!("{}{CALLBACK_PATH}", ctx.settings.issuer);
    let tokens = match crate::grants::authorization_code::handle(
        ctx,
        &client,
        code,
        &pending.verifier,
        Some(redirect_uri.as_str()),
        &[],
        None,
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(error = e.code(), "page sign-in: code refused");
            return failed("The sign-in could not be completed. Try again.");
        }
    };
    let Some(sub) = tokens
        .id_token
        .as_deref()
        .and_then(|t| id_token_subject(ctx, t, &pending.nonce))
    else {
        tracing::error!("page sign-in: the ID token did not check out");
        return failed("The sign-in could not be completed. Try again.");
    };
    // The browser session the login went through (single sign-on), if it is this user's.
    let sid = crate::authorize::live_session(ctx, cookies)
        .await
        .filter(|s| s.sub == sub)
        .map(|s| s.sid);
    let Ok(csrf) = random_token(32) else {
        return unavailable(Layout::default());
    };
    let ttl = ctx.settings.session_idle_ttl.as_secs() as i64;
    let session = PageSession {
        sub,
        sid,
        csrf,
        issued_at: now,
        expires_at: now + ttl,
    };
    let Ok(sealed) = ctx.sealer.seal(Purpose::PagesSession, &session) else {
        return unavailable(Layout::default());
    };
    let secure = ctx.settings.session_cookie_secure;
    Outcome::redirect(pending.return_to)
        .with_cookie(set_cookie(PAGES_COOKIE, &sealed, "/", ttl, secure))
        .with_cookie(clear_cookie(SIGNIN_COOKIE, CALLBACK_PATH, secure))
}

/// The `sub` of an ID token we just issued to `tessera-console` for `nonce`.
fn id_token_subject(ctx: &Context, token: &str, nonce: &str) -> Option<String> {
    let snapshot = ctx.keyring.snapshot();
    let (_, payload) = crate::tokens::verify::verify_signature(&snapshot, token).ok()?;
    let claims: IdClaims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    let ok = claims.iss == ctx.issuer.issuer()
        && claims.aud == CONSOLE_CLIENT_ID
        && claims
            .nonce
            .as_deref()
            .is_some_and(|n| strings_equal(n, nonce));
    ok.then_some(claims.sub)
}

/// `POST /console/signout` (CSRF checked by the caller): ends the page session and the
/// browser session it came from, so the next visit asks for the password again.
pub async fn sign_out(ctx: &Context, v: &Viewer) -> Outcome {
    if let Some(sid) = &v.session.sid
        && let Err(e) = ctx.browser_sessions.end(sid).await
    {
        tracing::warn!(error = %e, "cannot end the browser session at page sign-out");
        return unavailable(v.layout("Temporarily unavailable", ""));
    }
    let secure = ctx.settings.session_cookie_secure;
    let page = MessagePage {
        layout: Layout {
            title: "Signed out".into(),
            ..Layout::default()
        },
        heading: "You are signed out".into(),
        message: "Your console and sign-in sessions in this browser have ended.".into(),
        link: Some(Link::new("/console", "Sign in again")),
    };
    Outcome::page(200, &page)
        .with_cookie(clear_cookie(PAGES_COOKIE, "/", secure))
        .with_cookie(clear_cookie(SESSION_COOKIE, "/", secure))
}

/// A one-shot message for the next page of the same user.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Flash {
    sub: String,
    message: String,
    exp: i64,
}

/// The `Set-Cookie` of a message shown once on the next page this user opens (after a
/// form's redirect). `None` if it cannot be sealed (the message is then just not shown).
pub fn flash(ctx: &Context, v: &Viewer, message: &str) -> Option<String> {
    let sealed = ctx
        .sealer
        .seal(
            Purpose::PagesFlash,
            &Flash {
                sub: v.user.id.clone(),
                message: message.to_string(),
                exp: ctx.clock.now() + 60,
            },
        )
        .ok()?;
    Some(set_cookie(
        FLASH_COOKIE,
        &sealed,
        "/",
        60,
        ctx.settings.session_cookie_secure,
    ))
}

/// The `Set-Cookie` that removes the flash cookie once shown.
pub fn clear_flash(ctx: &Context) -> String {
    clear_cookie(FLASH_COOKIE, "/", ctx.settings.session_cookie_secure)
}

/// After a successful form: back to `location` (`303`) with a one-shot `message`.
pub fn done(ctx: &Context, v: &Viewer, location: &str, message: &str) -> Outcome {
    let out = Outcome::redirect(location);
    match flash(ctx, v, message) {
        Some(c) => out.with_cookie(c),
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_and_account_paths_are_returned_to() {
        for ok in [
            "/console",
            "/console/keys",
            "/console/audit?actor=x",
            "/account",
        ] {
            assert_eq!(safe_return_to(ok), Some(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/console//evil",
            "https://evil.example/console",
            "/consolex",
            "/console\\..",
            "/console/\nSet-Cookie",
            "/",
            "",
            "/oauth/authorize",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn issuer_origin_is_scheme_host_port() {
        assert_eq!(
            issuer_origin("https://auth.example.com/tenant"),
            "https://auth.example.com"
        );
        assert_eq!(
            issuer_origin("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
    }
}
