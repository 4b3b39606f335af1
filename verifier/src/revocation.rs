//! Client of the issuer's revocation feed (`GET {issuer}/oauth/revocations?since=<cursor>`).
//!
//! The feed is polled in the background; verification only reads two in-memory maps, so it
//! never does per-request I/O.

use std::{
    collections::HashMap,
    sync::{Mutex, RwLock},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Deserialize;

use crate::{
    claims::Claims,
    error::{Error, VerifyError},
    fetch,
};

/// Configuration of the revocation feed (off unless passed to
/// [`VerifierBuilder::revocation`](crate::VerifierBuilder::revocation)).
#[derive(Clone)]
pub struct RevocationFeed {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) interval: Duration,
    pub(crate) url: Option<String>,
    pub(crate) fail_closed_after: Option<Duration>,
}

impl std::fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFeed")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("interval", &self.interval)
            .field("url", &self.url)
            .field("fail_closed_after", &self.fail_closed_after)
            .finish()
    }
}

impl RevocationFeed {
    /// Polls `{issuer}/oauth/revocations` every 5 s, authenticating with HTTP Basic.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            interval: Duration::from_secs(5),
            url: None,
            fail_closed_after: None,
        }
    }
    /// Poll interval (default 5 s, at least 100 ms).
    pub fn interval(mut self, every: Duration) -> Self {
        self.interval = every.max(Duration::from_millis(100));
        self
    }
    /// Feed URL (default `{issuer}/oauth/revocations`).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }
    /// Reject every token when the feed has not been read successfully for this long
    /// (default: never; the last known lists keep applying while the feed is down).
    pub fn fail_closed_after(mut self, after: Duration) -> Self {
        self.fail_closed_after = Some(after);
        self
    }
}

#[derive(Default)]
struct Lists {
    cursor: Option<String>,
    /// Revoked jti → its exp (pruned once expired).
    jtis: HashMap<String, i64>,
    /// Subject → tokens issued before this time are rejected.
    subjects: HashMap<String, i64>,
}

pub(crate) struct State {
    feed: RevocationFeed,
    url: String,
    authorization: String,
    lists: RwLock<Lists>,
    last_ok: Mutex<Instant>,
}

#[derive(Deserialize)]
struct Answer {
    cursor: String,
    #[serde(default)]
    revoked: Vec<RevokedJti>,
    #[serde(default)]
    subjects: Vec<RevokedSubject>,
    /// More entries are waiting after `cursor`.
    #[serde(default)]
    more: bool,
}

/// Bytes of JSON one feed entry takes at most, for the page size asked for: an entry is
/// ~60 bytes with Tessera's 22-character ids; the margin covers longer subjects.
const ENTRY_BUDGET: usize = 96;
/// Tessera's default page (what a server that ignores `limit` sends) and its largest.
const DEFAULT_PAGE: usize = 1000;
const MAX_PAGE: usize = 10_000;
/// Pages one poll reads at most while the feed says `more` (a first sync of 1,000,000
/// entries at 10,000 per page); the rest waits for the next poll.
const MAX_PAGES_PER_POLL: usize = 100;

/// The page size to ask for when responses may be `max_bytes` long: as many entries as
/// surely fit, within Tessera's bounds; `None` when that is no more than the default.
fn page_size(max_bytes: usize) -> Option<usize> {
    let fits = (max_bytes / ENTRY_BUDGET).min(MAX_PAGE);
    (fits > DEFAULT_PAGE).then_some(fits)
}

#[derive(Deserialize)]
struct RevokedJti {
    jti: String,
    exp: i64,
}

#[derive(Deserialize)]
struct RevokedSubject {
    sub: String,
    not_before: i64,
}

/// RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

impl State {
    pub fn new(feed: RevocationFeed, issuer: &str) -> Self {
        let url = feed
            .url
            .clone()
            .unwrap_or_else(|| format!("{}/oauth/revocations", issuer.trim_end_matches('/')));
        Self {
            authorization: basic(&feed.client_id, &feed.client_secret),
            feed,
            url,
            lists: RwLock::new(Lists::default()),
            last_ok: Mutex::new(Instant::now()),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn interval(&self) -> Duration {
        self.feed.interval
    }

    /// One poll: fetches what changed since the cursor and merges it, page after page
    /// while the feed says more is waiting (a first sync of 100,000 entries is then one
    /// poll of ~10 requests, not 100 polls an interval apart).
    pub async fn poll(
        &self,
        http: &reqwest::Client,
        max_bytes: usize,
        now: i64,
        leeway: i64,
    ) -> Result<(), Error> {
        for _ in 0..MAX_PAGES_PER_POLL {
            if !self.poll_page(http, max_bytes, now, leeway).await? {
                break;
            }
        }
        Ok(())
    }

    /// Reads one page after the cursor and merges it; whether more is waiting.
    async fn poll_page(
        &self,
        http: &reqwest::Client,
        max_bytes: usize,
        now: i64,
        leeway: i64,
    ) -> Result<bool, Error> {
        let cursor = self.lists.read().map(|l| l.cursor.clone()).unwrap_or(None);
        let mut req = http
            .get(&self.url)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(c) = &cursor {
            req = req.query(&[("since", c)]);
        }
        if let Some(n) = page_size(max_bytes) {
            req = req.query(&[("limit", n)]);
        }
        let (status, _headers, body) = fetch::send_capped(req, &self.url, max_bytes).await?;
        if !status.is_success() {
            return Err(Error::Fetch {
                url: self.url.clone(),
                detail: format!("HTTP {status}"),
            });
        }
        crate::json::check_no_duplicates(&body)
            .map_err(|e| Error::Revocation(format!("invalid JSON: {e}")))?;
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|e| Error::Revocation(format!("unexpected answer: {e}")))?;
        let mut lists = self
            .lists
            .write()
            .map_err(|_| Error::Revocation("poisoned lock".into()))?;
        for r in answer.revoked {
            let e = lists.jtis.entry(r.jti).or_insert(r.exp);
            *e = (*e).max(r.exp);
        }
        for s in answer.subjects {
            let e = lists.subjects.entry(s.sub).or_insert(s.not_before);
            *e = (*e).max(s.not_before);
        }
        // An expired token fails `exp` anyway: forget its jti.
        lists.jtis.retain(|_, exp| exp.saturating_add(leeway) > now);
        // A page that does not move the cursor cannot have more after it.
        let more = answer.more && lists.cursor.as_deref() != Some(answer.cursor.as_str());
        lists.cursor = Some(answer.cursor);
        drop(lists);
        if let Ok(mut t) = self.last_ok.lock() {
            *t = Instant::now();
        }
        Ok(more)
    }

    /// Rejects listed jtis and tokens issued before their subject's `not_before`.
    pub fn check(&self, c: &Claims) -> Result<(), VerifyError> {
        if let Some(after) = self.feed.fail_closed_after {
            let last = self
                .last_ok
                .lock()
                .map(|t| *t)
                .unwrap_or_else(|_| Instant::now());
            if last.elapsed() > after {
                return Err(VerifyError::RevocationUnavailable);
            }
        }
        let lists = self
            .lists
            .read()
            .map_err(|_| VerifyError::RevocationUnavailable)?;
        if lists.jtis.contains_key(c.jti()) {
            return Err(VerifyError::Revoked);
        }
        if let Some(nb) = lists.subjects.get(c.sub())
            && c.iat() < *nb
        {
            return Err(VerifyError::SubjectRevoked);
        }
        Ok(())
    }

    /// (revoked jtis, subjects) currently held.
    pub fn sizes(&self) -> (usize, usize) {
        self.lists
            .read()
            .map(|l| (l.jtis.len(), l.subjects.len()))
            .unwrap_or((0, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::page_size;

    #[test]
    fn page_size_fits_the_response_cap() {
        // The verifier reads the feed with a cap of at least 1 MiB: Tessera's largest page.
        assert_eq!(page_size(1024 * 1024), Some(10_000));
        assert_eq!(page_size(200 * 1024), Some(2133));
        // No larger than the default fits: the server's default applies.
        assert_eq!(page_size(64 * 1024), None);
    }
}
