//! Ending tokens before they expire: RFC 7009 revocation, logout (one session or
//! everywhere) and the revocation feed that carries both to stateless verifiers. Domain
//! functions only; `http::oauth` calls them.

use crate::{
    clients::Client,
    context::Context,
    error::OAuthError,
    revocation::{FEED_MAX_PAGE, FEED_PAGE, Feed},
    tokens::verify::verify_access,
};

/// RFC 7009: a refresh token revokes its family; an access token's `jti` is denylisted
/// until its expiry. Tokens of other clients and unknown tokens are ignored (still 200).
pub async fn revoke(ctx: &Context, client: &Client, token: &str) -> Result<(), OAuthError> {
    if let Some(found) = ctx.refresh_families.find(token).await? {
        let family = found.family;
        if family.client_id == client.client_id {
            ctx.refresh_families.revoke_family(&family.id).await?;
            tracing::info!(client_id = %client.client_id, "refresh token family revoked");
        }
        return Ok(());
    }
    let leeway = ctx.leeway();
    if let Ok(c) = verify_access(
        &ctx.keyring.snapshot(),
        ctx.issuer.issuer(),
        token,
        ctx.clock.now(),
        leeway,
    ) && c.client_id == client.client_id
    {
        ctx.revocations.revoke_jti(&c.jti, c.exp + leeway).await?;
        tracing::info!(client_id = %client.client_id, "access token revoked");
    }
    Ok(())
}

/// Logout: revokes the session of `refresh_token`; with `everywhere`, every session of the
/// user and every access token issued to them until now.
pub async fn logout(
    ctx: &Context,
    client: &Client,
    refresh_token: &str,
    everywhere: bool,
) -> Result<(), OAuthError> {
    let Some(family) = ctx
        .refresh_families
        .find(refresh_token)
        .await?
        .map(|found| found.family)
    else {
        return Ok(());
    };
    if family.client_id != client.client_id {
        return Ok(());
    }
    ctx.refresh_families.revoke_family(&family.id).await?;
    if everywhere {
        ctx.accounts.logout_everywhere(&family.user_id).await?;
    }
    Ok(())
}

/// The revocation feed after `since` (a cursor from an earlier page), `limit` entries at
/// most (default [`FEED_PAGE`], 1 to [`FEED_MAX_PAGE`]).
pub async fn feed(
    ctx: &Context,
    since: Option<&str>,
    limit: Option<&str>,
) -> Result<Feed, OAuthError> {
    let limit = match limit.map(str::parse::<u64>) {
        None => FEED_PAGE,
        Some(Ok(n)) if (1..=FEED_MAX_PAGE).contains(&n) => n,
        Some(_) => {
            return Err(OAuthError::invalid_request(format!(
                "limit must be between 1 and {FEED_MAX_PAGE}"
            )));
        }
    };
    let since = match since {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| OAuthError::invalid_request("since must be a cursor from the feed"))?,
        ),
    };
    Ok(ctx.revocations.feed(since, limit).await?)
}
