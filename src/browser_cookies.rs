//! The browser session: a cookie whose contents are sealed (AES-256-GCM, key derived with
//! HKDF from the key-encryption key). The cookie carries who signed in, when (`auth_time`,
//! for the absolute lifetime, `max_age` and the ID token) and when it was last used (idle
//! lifetime; refreshed on every use). The server also keeps one row per session
//! ([`BrowserSessionRecords`], `docs/security.md` B5): a session is live only while its
//! row is open, so logout and "log out everywhere" end every copy of the cookie (one
//! indexed read per authorization request).
//!
//! The same sealing protects the pre-login state: the CSRF token cookie and the pending
//! authorization request carried by the login form. Each use has its own associated data,
//! so one sealed value can never be replayed as another.

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};

use crate::{
    clock::SharedClock,
    entities::browser_session::{self, Entity as Sessions},
    error::{Error, Result},
    keys::Kek,
};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "tessera_session";
/// Name of the pre-login (CSRF) cookie.
pub const LOGIN_COOKIE: &str = "tessera_login";

/// What a sealed value is for (its associated data).
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    Session,
    LoginCsrf,
    PendingRequest,
    LogoutConfirm,
    /// The CSRF cookie of the device verification page (RFC 8628).
    DeviceCsrf,
    /// The session of the console and account pages (`pages::session`).
    PagesSession,
    /// State, nonce and PKCE verifier of a page sign-in in progress.
    PagesSignIn,
    /// The one-shot message shown after a page form succeeded.
    PagesFlash,
}

impl Purpose {
    fn aad(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"tessera session v1",
            Purpose::LoginCsrf => b"tessera login csrf v1",
            Purpose::DeviceCsrf => b"tessera device csrf v1",
            Purpose::PendingRequest => b"tessera pending authorization v1",
            Purpose::LogoutConfirm => b"tessera logout confirmation v1",
            Purpose::PagesSession => b"tessera pages session v1",
            Purpose::PagesSignIn => b"tessera pages sign-in v1",
            Purpose::PagesFlash => b"tessera pages flash v1",
        }
    }
}

/// Seals and opens small JSON values for the browser. The first key seals, any opens.
pub struct Sealer {
    keys: Vec<LessSafeKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(redacted)")
    }
}

const HKDF_INFO: &[u8] = b"tessera browser cookies v1";
/// Largest sealed value accepted before any decryption.
const MAX_SEALED: usize = 4096;

impl Sealer {
    /// Keys derived from the KEK(s): every instance sharing the KEK reads every cookie.
    pub fn from_kek(kek: &Kek) -> Result<Self> {
        Self::from_raw(&kek.derive(HKDF_INFO)?)
    }

    /// A random key (no KEK: OpenAPI generation, CLI).
    pub fn random() -> Result<Self> {
        let mut k = [0u8; 32];
        SystemRandom::new()
            .fill(&mut k)
            .map_err(|_| Error::Crypto("random generator failed".into()))?;
        Self::from_raw(&[k])
    }

    fn from_raw(raw: &[[u8; 32]]) -> Result<Self> {
        let keys = raw
            .iter()
            .map(|k| {
                UnboundKey::new(&AES_256_GCM, k)
                    .map(LessSafeKey::new)
                    .map_err(|_| Error::Crypto("bad cookie key".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// base64url(nonce || ciphertext || tag) of the JSON of `value`.
    pub fn seal<T: Serialize>(&self, purpose: Purpose, value: &T) -> Result<String> {
        let mut buf = serde_json::to_vec(value).map_err(|e| Error::Crypto(e.to_string()))?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| Error::Crypto("random generator failed".into()))?;
        self.keys[0]
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.aad()),
                &mut buf,
            )
            .map_err(|_| Error::Crypto("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(B64.encode(out))
    }

    /// The value, if `sealed` was made by [`Sealer::seal`] for `purpose` with one of our
    /// keys and is intact. Anything else is `None`.
    pub fn open<T: DeserializeOwned>(&self, purpose: Purpose, sealed: &str) -> Option<T> {
        if sealed.len() > MAX_SEALED {
            return None;
        }
        let raw = B64.decode(sealed).ok()?;
        if raw.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        for key in &self.keys {
            let mut buf = ct.to_vec();
            let n = Nonce::try_assume_unique_for_key(nonce).ok()?;
            if let Ok(plain) = key.open_in_place(n, Aad::from(purpose.aad()), &mut buf) {
                return serde_json::from_slice(plain).ok();
            }
        }
        None
    }
}

/// The contents of the session cookie.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BrowserSession {
    /// Session id: links the refresh families issued in this session (logout revokes them).
    pub sid: String,
    /// The user id.
    pub sub: String,
    /// When the user typed their password (Unix seconds).
    pub auth_time: i64,
    /// When the session was last used (idle lifetime).
    pub seen: i64,
}

/// Lifetimes and cookie attributes.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub idle_ttl: i64,
    pub max_ttl: i64,
    pub secure: bool,
}

impl BrowserSession {
    /// Whether the session is still alive at `now`.
    pub fn is_live(&self, now: i64, policy: &CookiePolicy) -> bool {
        now < self.auth_time + policy.max_ttl && now < self.seen + policy.idle_ttl
    }
}

/// The pre-login state: the CSRF token the login form must echo.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginCsrf {
    pub csrf: String,
    pub exp: i64,
}

/// The CSRF token of the sign-out confirmation form: bound to the session it ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutConfirm {
    pub sid: String,
    pub exp: i64,
}

/// The server-side record of browser sessions: opened at sign-in, ended by logout or
/// "log out everywhere". A session with no open row is not live, whatever its cookie says.
pub struct BrowserSessionRecords {
    db: DatabaseConnection,
    clock: SharedClock,
}

impl BrowserSessionRecords {
    pub fn new(db: DatabaseConnection, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// Records a new session, open until `expires_at`.
    pub async fn open(&self, session: &BrowserSession, expires_at: i64) -> Result<()> {
        let now = self.clock.now();
        browser_session::ActiveModel {
            session_id: Set(session.sid.clone()),
            user_id: Set(session.sub.clone()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            ended_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Whether session `sid` of user `sub` is open (recorded, not ended, not expired).
    pub async fn is_open(&self, sid: &str, sub: &str) -> Result<bool> {
        let row = Sessions::find_by_id(sid.to_string()).one(&self.db).await?;
        Ok(row.is_some_and(|r| {
            r.user_id == sub && r.ended_at.is_none() && r.expires_at > self.clock.now()
        }))
    }

    /// Ends one session (idempotent).
    pub async fn end(&self, sid: &str) -> Result<()> {
        Sessions::update_many()
            .col_expr(
                browser_session::Column::EndedAt,
                Expr::value(self.clock.now()),
            )
            .filter(browser_session::Column::SessionId.eq(sid))
            .filter(browser_session::Column::EndedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Forgets sessions past their absolute end (periodic, in batches: see
    /// [`delete_in_batches`](crate::storage::delete_in_batches)).
    pub async fn purge(&self) -> Result<()> {
        crate::storage::delete_in_batches::<Sessions>(
            &self.db,
            browser_session::Column::SessionId,
            sea_orm::Condition::all().add(browser_session::Column::ExpiresAt.lt(self.clock.now())),
        )
        .await?;
        Ok(())
    }

    /// Ends every open session of a user.
    pub async fn end_all_of(&self, user_id: &str) -> Result<()> {
        Sessions::update_many()
            .col_expr(
                browser_session::Column::EndedAt,
                Expr::value(self.clock.now()),
            )
            .filter(browser_session::Column::UserId.eq(user_id))
            .filter(browser_session::Column::EndedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// `Set-Cookie` value for a cookie (HttpOnly, SameSite=Lax, Secure unless configured off).
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax{}",
        max_age.max(0),
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` value that deletes a cookie.
pub fn clear_cookie(name: &str, path: &str, secure: bool) -> String {
    set_cookie(name, "", path, 0, secure)
}

/// The value of cookie `name` in a `Cookie` request header.
pub fn cookie_value<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name && !v.is_empty()).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::from_kek(&Kek::parse(&Kek::generate_encoded().unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn sealed_values_round_trip_and_resist_tampering() {
        let s = sealer();
        let v = BrowserSession {
            sid: "s".into(),
            sub: "u".into(),
            auth_time: 10,
            seen: 20,
        };
        let sealed = s.seal(Purpose::Session, &v).unwrap();
        assert!(!sealed.contains("\"sub\""), "contents are encrypted");
        assert_eq!(s.open::<BrowserSession>(Purpose::Session, &sealed), Some(v));
        // Another purpose, another key, or one flipped bit: nothing.
        assert!(
            s.open::<BrowserSession>(Purpose::PendingRequest, &sealed)
                .is_none()
        );
        assert!(
            sealer()
                .open::<BrowserSession>(Purpose::Session, &sealed)
                .is_none()
        );
        let mut raw = B64.decode(&sealed).unwrap();
        *raw.last_mut().unwrap() ^= 1;
        assert!(
            s.open::<BrowserSession>(Purpose::Session, &B64.encode(raw))
                .is_none()
        );
        assert!(s.open::<BrowserSession>(Purpose::Session, "%%%").is_none());
    }

    #[test]
    fn kek_rotation_keeps_sessions_readable() {
        let old = Kek::generate_encoded().unwrap();
        let new = Kek::generate_encoded().unwrap();
        let before = Sealer::from_kek(&Kek::parse(&old).unwrap()).unwrap();
        let sealed = before.seal(Purpose::Session, &1u8).unwrap();
        let after = Sealer::from_kek(&Kek::parse(&format!("{new},{old}")).unwrap()).unwrap();
        assert_eq!(after.open::<u8>(Purpose::Session, &sealed), Some(1));
    }

    #[test]
    fn lifetimes() {
        let p = CookiePolicy {
            idle_ttl: 100,
            max_ttl: 1000,
            secure: true,
        };
        let s = BrowserSession {
            sid: "s".into(),
            sub: "u".into(),
            auth_time: 0,
            seen: 950,
        };
        assert!(s.is_live(999, &p));
        assert!(!s.is_live(1000, &p), "absolute lifetime");
        let idle = BrowserSession { seen: 0, ..s };
        assert!(!idle.is_live(100, &p), "idle lifetime");
    }

    #[test]
    fn cookies() {
        assert_eq!(
            cookie_value(Some("a=1; tessera_session=xyz; b=2"), SESSION_COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie_value(Some("tessera_session="), SESSION_COOKIE), None);
        let c = set_cookie("n", "v", "/", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
        assert!(!set_cookie("n", "v", "/", 60, false).contains("Secure"));
    }
}
