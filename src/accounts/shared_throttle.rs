//! Login-failure counters kept in the database (`docs/security.md` P8), so that on
//! PostgreSQL — where several instances share one database — the throttle limits hold for
//! the whole fleet instead of once per instance. The keys and limits are those of the
//! in-memory [`LoginThrottle`](super::LoginThrottle) (IPv6 by /64, per user, per source, per
//! both); a counter restarts when its window has passed. One read per login attempt and
//! one upsert per failure, next to the argon2 work of the attempt itself.

use std::net::IpAddr;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, Value};

use super::login_throttle::{Limits, LoginThrottle};
use crate::{clock::SharedClock, error::Result};

pub struct SharedLoginThrottle {
    db: DatabaseConnection,
    clock: SharedClock,
    limits: Limits,
    /// Prefix of this throttle's keys: empty for login failures, another word for another
    /// use of the same counters (sign-up attempts), so the two never share a counter.
    namespace: &'static str,
}

impl SharedLoginThrottle {
    pub fn new(db: DatabaseConnection, clock: SharedClock, limits: Limits) -> Self {
        Self {
            db,
            clock,
            limits,
            namespace: "",
        }
    }

    /// The same throttle with its keys prefixed by `namespace` (e.g. `"signup "`). Its
    /// window must be the login throttle's: the login throttle's purge removes every
    /// counter older than that window.
    pub fn namespaced(mut self, namespace: &'static str) -> Self {
        self.namespace = namespace;
        self
    }

    fn keys(&self, username: &str, ip: Option<IpAddr>) -> Vec<(String, u32)> {
        LoginThrottle::shared_keys(&self.limits, username, ip)
            .into_iter()
            .map(|(k, limit)| (format!("{}{k}", self.namespace), limit))
            .collect()
    }

    fn window(&self) -> i64 {
        self.limits.window.as_secs().max(1) as i64
    }

    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.db.get_database_backend(), sql, values)
    }

    /// `Err(seconds)` when this attempt must wait. One query for all the attempt's counters.
    pub async fn check(&self, username: &str, ip: Option<IpAddr>) -> Result<Result<(), u64>> {
        let keys = self.keys(username, ip);
        let now = self.clock.now();
        let window = self.window();
        let placeholders = (1..=keys.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = self
            .db
            .query_all_raw(self.statement(
                &format!(
                    "SELECT key, failures, window_start FROM login_failures \
                     WHERE key IN ({placeholders})"
                ),
                keys.iter().map(|(k, _)| k.clone().into()).collect(),
            ))
            .await?;
        let mut wait = 0i64;
        for row in rows {
            let key: String = row.try_get("", "key")?;
            let failures: i32 = row.try_get("", "failures")?;
            let start: i64 = row.try_get("", "window_start")?;
            let Some((_, limit)) = keys.iter().find(|(k, _)| *k == key) else {
                continue;
            };
            let left = start + window - now;
            if left > 0 && i64::from(failures) >= i64::from(*limit) {
                wait = wait.max(left);
            }
        }
        Ok(if wait > 0 { Err(wait as u64) } else { Ok(()) })
    }

    /// Counts a failure on every counter of the attempt, restarting those whose window
    /// has passed: one atomic multi-row upsert, so concurrent failures on several
    /// instances all count.
    pub async fn failure(&self, username: &str, ip: Option<IpAddr>) -> Result<()> {
        let now = self.clock.now();
        let expired = now - self.window();
        let keys = self.keys(username, ip);
        // $1 = now, $2 = the end of the expired range, $3.. = the keys.
        let rows = (0..keys.len())
            .map(|i| format!("(${}, 1, $1)", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let mut values: Vec<Value> = vec![now.into(), expired.into()];
        values.extend(keys.into_iter().map(|(k, _)| k.into()));
        self.db
            .execute_raw(self.statement(
                &format!(
                    "INSERT INTO login_failures (key, failures, window_start) VALUES {rows} \
                     ON CONFLICT (key) DO UPDATE SET \
                       failures = CASE WHEN login_failures.window_start <= $2 THEN 1 \
                                       ELSE login_failures.failures + 1 END, \
                       window_start = CASE WHEN login_failures.window_start <= $2 THEN $1 \
                                           ELSE login_failures.window_start END"
                ),
                values,
            ))
            .await?;
        Ok(())
    }

    /// A successful login clears its (source, username) counter.
    pub async fn success(&self, username: &str, ip: Option<IpAddr>) -> Result<()> {
        let user_ip = format!("{}ui:", self.namespace);
        if let Some((key, _)) = self
            .keys(username, ip)
            .into_iter()
            .find(|(k, _)| k.starts_with(&user_ip))
        {
            self.db
                .execute_raw(self.statement(
                    "DELETE FROM login_failures WHERE key = $1",
                    vec![key.into()],
                ))
                .await?;
        }
        Ok(())
    }

    /// Forgets counters whose window has passed.
    pub async fn purge(&self) -> Result<()> {
        let expired = self.clock.now() - self.window();
        self.db
            .execute_raw(self.statement(
                "DELETE FROM login_failures WHERE window_start <= $1",
                vec![expired.into()],
            ))
            .await?;
        Ok(())
    }
}
