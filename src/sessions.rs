//! A person's sessions, as the account page shows and ends them: browser sessions (the
//! server records of single sign-on cookies) and refresh-token families (one per sign-in of
//! an application that may refresh). Ending one is only ever allowed for its own user:
//! anything else is "not found", never "forbidden", so ids of other people's sessions
//! cannot be probed. Also the one way a browser session starts and ends (login, device
//! page, RP-initiated logout and the account page share these functions).

use serde::Serialize;

use crate::{
    browser_cookies::BrowserSession, context::Context, error::Result, secrets::random_token,
};

/// What kind of session a listed entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A browser signed in to Tessera (single sign-on).
    Browser,
    /// An application's refresh tokens from one sign-in.
    Refresh,
}

/// One active session of a user.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveSession {
    pub kind: SessionKind,
    /// The browser session's `sid`, or the refresh family's id.
    pub id: String,
    /// The application (refresh families); `None` for a browser session.
    pub client_id: Option<String>,
    /// Its registered name (`None` when the client is gone or for a browser session).
    pub client_name: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds: browser sessions to the minute, families at their last rotation.
    pub last_used_at: i64,
    /// The browser session this request comes from.
    pub current: bool,
}

/// The user's active sessions: browser sessions first (newest first), then refresh
/// families (most recently used first). `current_sid` marks the caller's own browser.
pub async fn list(
    ctx: &Context,
    user_id: &str,
    current_sid: Option<&str>,
) -> Result<Vec<ActiveSession>> {
    let mut out: Vec<ActiveSession> = ctx
        .browser_sessions
        .open_of_user(user_id)
        .await?
        .into_iter()
        .map(|r| ActiveSession {
            kind: SessionKind::Browser,
            current: current_sid == Some(r.session_id.as_str()),
            last_used_at: r.last_used_at.unwrap_or(r.created_at),
            created_at: r.created_at,
            id: r.session_id,
            client_id: None,
            client_name: None,
        })
        .collect();
    for (family, last_used_at) in ctx.refresh_families.active_of_user(user_id).await? {
        // The registry caches clients: this is no query per row once warm.
        let client_name = ctx
            .clients
            .get(&family.client_id)
            .await?
            .map(|c| c.name.clone());
        out.push(ActiveSession {
            kind: SessionKind::Refresh,
            id: family.id,
            client_id: Some(family.client_id),
            client_name,
            created_at: family.created_at,
            last_used_at,
            current: false,
        });
    }
    Ok(out)
}

/// Ends browser session `sid` of `user_id` (and the refresh families issued in it);
/// `false` when there is no such open session of this user (the caller answers 404).
pub async fn end_browser(ctx: &Context, user_id: &str, sid: &str) -> Result<bool> {
    if ctx.browser_sessions.open_of(user_id, sid).await?.is_none() {
        return Ok(false);
    }
    end_browser_session(ctx, sid).await?;
    Ok(true)
}

/// Revokes refresh family `family_id` of `user_id`; `false` when there is no such active
/// family of this user (the caller answers 404). Its tokens are refused from now on.
pub async fn end_family(ctx: &Context, user_id: &str, family_id: &str) -> Result<bool> {
    let now = ctx.clock.now();
    match ctx.refresh_families.get(family_id).await? {
        Some(f) if f.user_id == user_id && f.revoked_at.is_none() && f.expires_at > now => {
            ctx.refresh_families.revoke_family(&f.id).await?;
            tracing::info!(user_id, "refresh family ended by its user");
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Ends a browser session, live or not: its record is ended (every copy of the cookie
/// stops working) and the refresh families issued in it are revoked.
pub async fn end_browser_session(ctx: &Context, sid: &str) -> Result<()> {
    ctx.browser_sessions.end(sid).await?;
    for f in ctx.codes.session_families(sid).await? {
        ctx.refresh_families.revoke_family(&f).await?;
    }
    tracing::info!("browser session ended");
    Ok(())
}

/// Starts a browser session for `user_id`, authenticated at `auth_time`, recorded
/// server-side (logout ends it, and with it every copy of the cookie).
pub async fn open_browser_session(
    ctx: &Context,
    user_id: &str,
    auth_time: i64,
) -> Result<BrowserSession> {
    let now = ctx.clock.now();
    let session = BrowserSession {
        sid: random_token(16)?,
        sub: user_id.to_string(),
        auth_time,
        seen: now,
    };
    let expires_at = auth_time + ctx.settings.session_max_ttl.as_secs() as i64;
    ctx.browser_sessions.open(&session, expires_at).await?;
    Ok(session)
}
