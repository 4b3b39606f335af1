//! Accounts: the people who sign in. Reading and creating users goes through
//! [`UserStore`]; every change that must end what a user holds — disable, delete, a new
//! password, a role change, "log out everywhere" — is a method of [`Accounts`], which pairs
//! the change with the cut (refresh families revoked, a not-before time that makes earlier
//! access tokens, codes and browser sessions inactive, and an entry in the revocation
//! feed). The store's setters for those fields are private to this module, so no caller
//! can change them without the cut.
//!
//! [`Accounts::check_password`] is the one throttled password check, shared by the
//! password grant, the login form and the account page's password change.
//! [`Accounts::register`] is self-service sign-up: the password policy, a per-IP throttle
//! (the login throttle's machinery, its own counters) and one answer for a new and a
//! taken username (`docs/account.md`).

pub mod login_throttle;
pub mod password_hash;
pub mod password_policy;
pub mod shared_throttle;
pub(crate) mod store;

use std::{net::IpAddr, sync::Arc};

pub use login_throttle::{Limits, LoginThrottle};
pub use password_hash::PasswordHasher;
pub use password_policy::{PasswordPolicy, PolicyRefusal};
pub use shared_throttle::SharedLoginThrottle;
pub use store::{
    NewUser, RESERVED_CLAIMS, User, UserStore, normalize_username, parse_claim_arg, parse_claims,
    validate_claims,
};

use crate::{
    browser_cookies::BrowserSessionRecords, clock::SharedClock, error::Result,
    refresh_families::RefreshFamilies, revocation::RevocationLog,
};

/// The constant "username" of the sign-up counters: they count per source only.
const SIGNUP_KEY: &str = "*";

/// Why a password check did not sign anyone in.
#[derive(Debug)]
pub enum PasswordRefused {
    /// Too many recent failures for this username or address: wait this many seconds.
    Throttled { retry_after: u64 },
    /// Unknown user, wrong password or disabled user: one answer for all three.
    Incorrect,
    /// The user could not be read (the database); nothing was counted.
    Unavailable(crate::error::Error),
}

/// Why a sign-up did not go ahead (before any account work: nothing about the username's
/// existence can be read from these).
#[derive(Debug)]
pub enum RegisterRefused {
    /// The username breaks the username rule.
    Username(String),
    /// The password breaks the policy.
    Policy(PolicyRefusal),
    /// Too many sign-ups from this address: wait this many seconds.
    Throttled { retry_after: u64 },
    /// The database or the hasher failed.
    Unavailable(crate::error::Error),
}

/// What a sign-up did. The caller must answer both the same way: telling them apart would
/// tell anyone which usernames exist.
#[derive(Debug)]
pub enum Registered {
    Created(User),
    Taken,
}

/// Why a password change was refused.
#[derive(Debug)]
pub enum ChangeRefused {
    /// The current password is wrong.
    Incorrect,
    /// Too many wrong current passwords: wait this many seconds.
    Throttled {
        retry_after: u64,
    },
    /// The new password breaks the policy.
    Policy(PolicyRefusal),
    Unavailable(crate::error::Error),
}

/// Where login failures are counted: in this process (SQLite: one instance), or in the
/// database every instance shares (PostgreSQL, `docs/security.md` P8).
pub enum Throttle {
    Local(LoginThrottle),
    Shared(SharedLoginThrottle),
}

impl Throttle {
    async fn check(&self, username: &str, ip: Option<IpAddr>) -> Result<Result<(), u64>> {
        match self {
            Throttle::Local(t) => Ok(t.check(username, ip)),
            Throttle::Shared(t) => t.check(username, ip).await,
        }
    }

    async fn failure(&self, username: &str, ip: Option<IpAddr>) {
        match self {
            Throttle::Local(t) => t.failure(username, ip),
            Throttle::Shared(t) => {
                if let Err(e) = t.failure(username, ip).await {
                    tracing::warn!(error = %e, "cannot record a login failure");
                }
            }
        }
    }

    async fn success(&self, username: &str, ip: Option<IpAddr>) {
        match self {
            Throttle::Local(t) => t.success(username, ip),
            Throttle::Shared(t) => {
                if let Err(e) = t.success(username, ip).await {
                    tracing::warn!(error = %e, "cannot clear a login failure counter");
                }
            }
        }
    }
}

/// User accounts and the changes that end sessions.
pub struct Accounts {
    users: Arc<UserStore>,
    families: Arc<RefreshFamilies>,
    revocations: Arc<RevocationLog>,
    browser_sessions: Arc<BrowserSessionRecords>,
    throttle: Throttle,
    /// Sign-up attempts per source: the same counters as logins, in their own namespace.
    signups: Throttle,
    policy: PasswordPolicy,
    clock: SharedClock,
}

/// What sign-up needs besides the login machinery.
pub struct SignUp {
    pub throttle: Throttle,
    pub policy: PasswordPolicy,
}

impl Accounts {
    pub fn new(
        users: Arc<UserStore>,
        families: Arc<RefreshFamilies>,
        revocations: Arc<RevocationLog>,
        browser_sessions: Arc<BrowserSessionRecords>,
        throttle: Throttle,
        signup: SignUp,
        clock: SharedClock,
    ) -> Self {
        Self {
            users,
            families,
            revocations,
            browser_sessions,
            throttle,
            signups: signup.throttle,
            policy: signup.policy,
            clock,
        }
    }

    /// The policy of passwords people choose themselves.
    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.policy
    }

    /// Self-service sign-up of `username` with `password`: the username rule and the
    /// password policy, then the per-IP throttle (every attempt past the policy counts),
    /// then one argon2 hash and one INSERT whatever happens — the unique index says whether
    /// the username was free — so a taken username costs the same work as a new one. The
    /// new user has no roles and no claims.
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<Registered, RegisterRefused> {
        let name = normalize_username(username).map_err(|_| {
            RegisterRefused::Username(
                "Choose a username of 1 to 64 characters without spaces.".into(),
            )
        })?;
        self.policy
            .check(&name, password)
            .await
            .map_err(RegisterRefused::Policy)?;
        // One counter per source (the username part of the keys is a constant): sign-ups
        // are limited per address, whatever names they try.
        match self.signups.check(SIGNUP_KEY, ip).await {
            Ok(Ok(())) => {}
            Ok(Err(retry_after)) => return Err(RegisterRefused::Throttled { retry_after }),
            Err(e) => return Err(RegisterRefused::Unavailable(e)),
        }
        self.signups.failure(SIGNUP_KEY, ip).await;
        match self.users.register(&name, password.to_string()).await {
            Ok(Some(user)) => {
                tracing::info!(user_id = %user.id, "user signed up");
                Ok(Registered::Created(user))
            }
            Ok(None) => {
                tracing::info!("sign-up with a taken username");
                Ok(Registered::Taken)
            }
            Err(e) => Err(RegisterRefused::Unavailable(e)),
        }
    }

    /// A user changes their own password: the new one must pass the policy, the current
    /// one the throttled password check. Everything the user holds ends, as with any new
    /// password ([`Accounts::set_password`]); returns the not-before time of that cut, so
    /// the caller can open a fresh session for the browser the change came from (one
    /// authenticated at that time) — the "current session stays".
    pub async fn change_password(
        &self,
        user: &User,
        current: &str,
        new: &str,
        ip: Option<IpAddr>,
    ) -> Result<(User, i64), ChangeRefused> {
        self.policy
            .check(&user.username, new)
            .await
            .map_err(ChangeRefused::Policy)?;
        match self.check_password(&user.username, current, ip).await {
            Ok(u) if u.id == user.id => {}
            Ok(_) | Err(PasswordRefused::Incorrect) => return Err(ChangeRefused::Incorrect),
            Err(PasswordRefused::Throttled { retry_after }) => {
                return Err(ChangeRefused::Throttled { retry_after });
            }
            Err(PasswordRefused::Unavailable(e)) => return Err(ChangeRefused::Unavailable(e)),
        }
        self.users
            .set_password(&user.id, new.to_string())
            .await
            .map_err(ChangeRefused::Unavailable)?;
        let t = self
            .cut(&user.id)
            .await
            .map_err(ChangeRefused::Unavailable)?;
        let user = self
            .users
            .get(&user.id)
            .await
            .map_err(ChangeRefused::Unavailable)?
            .ok_or_else(|| {
                ChangeRefused::Unavailable(crate::error::Error::NotFound(format!(
                    "user {}",
                    user.id
                )))
            })?;
        Ok((user, t))
    }

    /// Reading, searching and creating users, and changing their custom claims (which only
    /// show in tokens issued from then on).
    pub fn users(&self) -> &UserStore {
        &self.users
    }

    /// Checks a username and password, throttled per username, per IP and per both.
    /// Unknown user, wrong password and disabled user give one identical answer after the
    /// same argon2 work (the hasher verifies against a dummy hash when there is no user).
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<User, PasswordRefused> {
        // Throttle on the normalised name so "Alice" and "alice" share a counter.
        let key = normalize_username(username).unwrap_or_else(|_| username.to_lowercase());
        match self.throttle.check(&key, ip).await {
            Ok(Ok(())) => {}
            Ok(Err(retry_after)) => return Err(PasswordRefused::Throttled { retry_after }),
            Err(e) => return Err(PasswordRefused::Unavailable(e)),
        }
        let user = self
            .users
            .find_by_username(username)
            .await
            .map_err(PasswordRefused::Unavailable)?;
        let phc = user.as_ref().map(|u| u.password_hash.clone());
        let password_ok = self.users.hasher().verify(password.to_string(), phc).await;
        match user {
            Some(u) if password_ok && !u.disabled => {
                self.throttle.success(&key, ip).await;
                Ok(u)
            }
            _ => {
                self.throttle.failure(&key, ip).await;
                Err(PasswordRefused::Incorrect)
            }
        }
    }

    /// Forgets login-failure counters whose window has passed (shared counters only; the
    /// in-memory table bounds itself).
    pub async fn purge_throttle(&self) -> Result<()> {
        match &self.throttle {
            Throttle::Local(_) => Ok(()),
            Throttle::Shared(t) => t.purge().await,
        }
    }

    /// Ends all of a user's sessions (refresh families, browser sessions) and makes every
    /// access token issued to them until now inactive.
    pub async fn logout_everywhere(&self, user_id: &str) -> Result<()> {
        self.cut(user_id).await.map(|_| ())
    }

    /// The cut of [`Accounts::logout_everywhere`]; returns its not-before time.
    async fn cut(&self, user_id: &str) -> Result<i64> {
        let t = self.not_before_now();
        self.families.revoke_user(user_id).await?;
        self.browser_sessions.end_all_of(user_id).await?;
        self.users.set_not_before(user_id, t).await?;
        self.revocations.subject_not_before(user_id, t).await?;
        tracing::info!(user_id, "user logged out everywhere");
        Ok(t)
    }

    /// Replaces a user's roles; tokens and browser sessions with the old roles stop being
    /// active. Refresh families continue: the next access token carries the new roles.
    pub async fn change_roles(&self, user_id: &str, roles: &[String]) -> Result<User> {
        self.users.set_roles(user_id, roles).await?;
        let t = self.not_before_now();
        self.revocations.subject_not_before(user_id, t).await?;
        self.users.set_not_before(user_id, t).await
    }

    /// Disables (or re-enables) a user; disabling ends everything they hold.
    pub async fn set_disabled(&self, user_id: &str, disabled: bool) -> Result<User> {
        let user = self.users.set_disabled(user_id, disabled).await?;
        if disabled {
            self.logout_everywhere(user_id).await?;
        }
        Ok(user)
    }

    /// Sets a new password and ends everything the user holds: whoever knew the old
    /// password must not keep a session opened with it.
    pub async fn set_password(&self, user_id: &str, password: String) -> Result<User> {
        self.users.set_password(user_id, password).await?;
        self.logout_everywhere(user_id).await?;
        self.users
            .get(user_id)
            .await?
            .ok_or_else(|| crate::error::Error::NotFound(format!("user {user_id}")))
    }

    /// Deletes a user after ending everything they hold; `false` if there was no such user.
    pub async fn delete(&self, user_id: &str) -> Result<bool> {
        if self.users.get(user_id).await?.is_none() {
            return Ok(false);
        }
        self.logout_everywhere(user_id).await?;
        self.users.delete(user_id).await
    }

    /// Access tokens carry whole seconds: "issued before now+1" also covers a token issued
    /// in the current second.
    fn not_before_now(&self) -> i64 {
        self.clock.now() + 1
    }
}
