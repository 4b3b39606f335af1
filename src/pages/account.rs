//! `/account`: every signed-in user's own page (`docs/account.md`). Their active
//! sessions — browser sessions and applications' refresh-token families, with when each
//! started and was last used — each with "sign out", "sign out everywhere", and the
//! password change (current password required, the password policy, other sessions end
//! while this browser stays signed in). The sessions domain is `crate::sessions`, the
//! password rules `crate::accounts`; every change is audited as `user:<username>`, with
//! the admin API's action names where the admin API has the same operation.

use std::net::IpAddr;

use askama::Template;

use super::{
    Layout, MessagePage, Outcome, Services, not_found,
    session::{self, PAGES_COOKIE, PageSession, Viewer},
    time::{format_utc, iso},
    unavailable,
};
use crate::{
    accounts::ChangeRefused,
    browser_cookies::{Purpose, SESSION_COOKIE, clear_cookie, set_cookie},
    params::Params,
    secrets::random_token,
    sessions::{self, SessionKind},
};

/// The account page.
pub const PATH: &str = "/account";
/// Where the password form posts.
pub const PASSWORD_PATH: &str = "/account/password";
/// Where a session's "sign out" posts.
pub const END_PATH: &str = "/account/sessions/end";
/// Where "sign out everywhere" posts.
pub const END_ALL_PATH: &str = "/account/sessions/end-all";

/// One row of the session table.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// What the session is, in words ("Browser session", "Orders Web").
    pub label: String,
    /// `browser` or `refresh` (the form's `kind`).
    pub kind: &'static str,
    pub id: String,
    pub created: String,
    pub created_iso: String,
    pub last_used: String,
    pub last_used_iso: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "account/index.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub username: String,
    pub sessions: Vec<SessionRow>,
    /// The password policy, in words.
    pub policy: String,
    pub current_error: Option<String>,
    pub new_error: Option<String>,
}

/// Errors of the password form.
#[derive(Default)]
struct FormErrors {
    current: Option<String>,
    new: Option<String>,
}

/// `GET /account`.
pub async fn show(s: &Services<'_>, v: &Viewer) -> Outcome {
    render(s, v, 200, FormErrors::default()).await
}

async fn render(s: &Services<'_>, v: &Viewer, status: u16, errors: FormErrors) -> Outcome {
    let layout = v.layout("Your account", PATH);
    let list = match sessions::list(s.ctx, &v.user.id, v.session.sid.as_deref()).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the user's sessions");
            return unavailable(layout);
        }
    };
    let sessions = list
        .into_iter()
        .map(|a| SessionRow {
            label: match a.kind {
                SessionKind::Browser => "Browser session".to_string(),
                SessionKind::Refresh => a
                    .client_name
                    .clone()
                    .or(a.client_id.clone())
                    .unwrap_or_else(|| "Application".into()),
            },
            kind: match a.kind {
                SessionKind::Browser => "browser",
                SessionKind::Refresh => "refresh",
            },
            created: format_utc(a.created_at),
            created_iso: iso(a.created_at),
            last_used: format_utc(a.last_used_at),
            last_used_iso: iso(a.last_used_at),
            current: a.current,
            id: a.id,
        })
        .collect();
    let policy = format!(
        "At least {} characters, hard to guess, and not containing your username.",
        s.ctx.accounts.password_policy().min_length
    );
    Outcome::page(
        status,
        &AccountPage {
            layout,
            username: v.user.username.clone(),
            sessions,
            policy,
            current_error: errors.current,
            new_error: errors.new,
        },
    )
}

async fn audit(s: &Services<'_>, v: &Viewer, action: &str, detail: serde_json::Value) {
    if let Err(e) = s.audit.record(&v.actor(), action, &v.user.id, detail).await {
        tracing::error!(error = %e, action, "audit record failed");
    }
}

/// `POST /account/password` (CSRF checked by the caller). `ip` feeds the password
/// check's throttle, as at the login form.
pub async fn change_password(
    s: &Services<'_>,
    v: &Viewer,
    form: &Params,
    ip: Option<IpAddr>,
) -> Outcome {
    let field = |name| form.single(name).ok().flatten().unwrap_or("");
    let (current, new, confirm) = (
        field("current_password"),
        field("new_password"),
        field("new_password_confirm"),
    );
    let refused = |status, errors| render(s, v, status, errors);
    if current.is_empty() {
        let errors = FormErrors {
            current: Some("Enter your current password.".into()),
            ..Default::default()
        };
        return refused(400, errors).await;
    }
    if new != confirm {
        let errors = FormErrors {
            new: Some("The two new passwords differ. Type the same password twice.".into()),
            ..Default::default()
        };
        return refused(400, errors).await;
    }
    let ctx = s.ctx;
    let (user, not_before) = match ctx
        .accounts
        .change_password(&v.user, current, new, ip)
        .await
    {
        Ok(x) => x,
        Err(ChangeRefused::Incorrect) => {
            let errors = FormErrors {
                current: Some("The current password is incorrect.".into()),
                ..Default::default()
            };
            return refused(400, errors).await;
        }
        Err(ChangeRefused::Throttled { retry_after }) => {
            let errors = FormErrors {
                current: Some(format!(
                    "Too many wrong passwords. Try again in {retry_after} seconds."
                )),
                ..Default::default()
            };
            return refused(429, errors).await;
        }
        Err(ChangeRefused::Policy(p)) => {
            let errors = FormErrors {
                new: Some(p.0),
                ..Default::default()
            };
            return refused(400, errors).await;
        }
        Err(ChangeRefused::Unavailable(e)) => {
            tracing::error!(error = %e, "password change failed");
            return unavailable(v.layout("Your account", PATH));
        }
    };
    audit(s, v, "user.set_password", serde_json::json!({"by": "self"})).await;
    // Every session ended with the old password. This browser stays signed in: a new
    // browser session and page session, authenticated at the cut's not-before time (the
    // person just typed their password), so the cut does not end them.
    let browser = match sessions::open_browser_session(ctx, &user.id, not_before).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the browser session after a password change");
            return unavailable(v.layout("Your account", PATH));
        }
    };
    let page = PageSession {
        sub: user.id.clone(),
        sid: Some(browser.sid.clone()),
        csrf: match random_token(32) {
            Ok(t) => t,
            Err(_) => return unavailable(v.layout("Your account", PATH)),
        },
        issued_at: not_before,
        expires_at: v.session.expires_at,
    };
    let sealed = (
        ctx.sealer.seal(Purpose::Session, &browser),
        ctx.sealer.seal(Purpose::PagesSession, &page),
    );
    let (Ok(sso), Ok(pages)) = sealed else {
        return unavailable(v.layout("Your account", PATH));
    };
    let secure = ctx.settings.session_cookie_secure;
    let ttl = (page.expires_at - ctx.clock.now()).max(0);
    session::done(
        ctx,
        v,
        PATH,
        "Your password was changed. Your other sessions have ended.",
    )
    .with_cookie(crate::authorize::session_set_cookie(ctx, &browser, &sso))
    .with_cookie(set_cookie(PAGES_COOKIE, &pages, "/", ttl, secure))
}

/// `POST /account/sessions/end` (CSRF checked by the caller): `kind` (`browser` or
/// `refresh`) and `id`. Only the user's own active sessions: anything else is 404.
pub async fn end_session(s: &Services<'_>, v: &Viewer, form: &Params) -> Outcome {
    let field = |name| form.single(name).ok().flatten().unwrap_or("");
    let (kind, id) = (field("kind"), field("id"));
    let ended = match kind {
        "browser" => sessions::end_browser(s.ctx, &v.user.id, id).await,
        "refresh" => sessions::end_family(s.ctx, &v.user.id, id).await,
        _ => Ok(false),
    };
    match ended {
        Ok(true) => {
            let detail = match kind {
                "refresh" => serde_json::json!({"kind": kind, "family_id": id}),
                _ => serde_json::json!({"kind": kind}),
            };
            audit(s, v, "user.end_session", detail).await;
            let message = if v.session.sid.as_deref() == Some(id) {
                "This browser's session was signed out."
            } else {
                "The session was signed out."
            };
            session::done(s.ctx, v, PATH, message)
        }
        Ok(false) => not_found(v.layout("Not found", PATH), "session"),
        Err(e) => {
            tracing::error!(error = %e, "cannot end a session");
            unavailable(v.layout("Your account", PATH))
        }
    }
}

/// `POST /account/sessions/end-all` (CSRF checked by the caller): "log out everywhere",
/// this browser included; the page says so and the cookies go.
pub async fn end_all(s: &Services<'_>, v: &Viewer) -> Outcome {
    if let Err(e) = s.ctx.accounts.logout_everywhere(&v.user.id).await {
        tracing::error!(error = %e, "cannot log a user out everywhere");
        return unavailable(v.layout("Your account", PATH));
    }
    audit(
        s,
        v,
        "user.logout_everywhere",
        serde_json::json!({"by": "self"}),
    )
    .await;
    let secure = s.ctx.settings.session_cookie_secure;
    let page = MessagePage {
        layout: Layout {
            title: "Signed out everywhere".into(),
            ..Layout::default()
        },
        heading: "You are signed out everywhere".into(),
        message: "Every session of your account has ended, in this browser too. \
                  Applications will ask you to sign in again."
            .into(),
        link: Some(super::Link::new(PATH, "Sign in again")),
    };
    Outcome::page(200, &page)
        .with_cookie(clear_cookie(PAGES_COOKIE, "/", secure))
        .with_cookie(clear_cookie(SESSION_COOKIE, "/", secure))
}
