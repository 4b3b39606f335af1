//! Device authorization requests (RFC 8628). A request has two codes: the `device_code`
//! the device polls the token endpoint with (256-bit random, stored only as SHA-256) and
//! the `user_code` a person types on the verification page (8 letters of the §6.1
//! 20-consonant alphabet: 20^8 ≈ 2^34.6 values, shown `BCDF-GHJK`). Every state change is
//! a compare-and-set on `status` (`pending` → `approved`/`denied` → `used`), so two
//! polls cannot both redeem an approval, and an approval cannot land after a denial.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};

use crate::{
    clock::SharedClock,
    entities::device_code::{self, Entity as DeviceCodes},
    error::{Error, Result},
    secrets::{hash_secret_hex, random_token},
    storage::delete_in_batches,
};

pub type DeviceRow = device_code::Model;

/// RFC 8628 §6.1: consonants only (no vowels: no words), no look-alikes of digits.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code.
pub const USER_CODE_LEN: usize = 8;
/// Seconds added to the polling interval at each `slow_down` (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: i64 = 5;

const PENDING: &str = "pending";
const APPROVED: &str = "approved";
const DENIED: &str = "denied";
const USED: &str = "used";

/// What a poll of the token endpoint finds.
#[derive(Debug)]
pub enum Poll {
    /// No such device code for this client.
    Unknown,
    Expired,
    /// Polled before the interval elapsed: the interval is now longer.
    SlowDown,
    Pending,
    Denied,
    /// Approved and now spent by this poll.
    Approved(DeviceRow),
    /// Already redeemed.
    Used,
}

/// The user's answer on the verification page.
#[derive(Debug, Clone)]
pub enum Decision<'a> {
    Approve { user_id: &'a str, auth_time: i64 },
    Deny,
}

/// `user_code` as typed: case, spaces and dashes do not matter (§6.1); anything outside
/// the alphabet, or the wrong length, is no code at all.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// `BCDFGHJK` as shown to people: `BCDF-GHJK`.
pub fn display_user_code(code: &str) -> String {
    if code.len() == USER_CODE_LEN {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_string()
    }
}

fn random_user_code() -> Result<String> {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(USER_CODE_LEN);
    while out.len() < USER_CODE_LEN {
        let mut b = [0u8; 16];
        rng.fill(&mut b)
            .map_err(|_| Error::Crypto("random generator failed".into()))?;
        // Rejection sampling: 240 = 12 × 20, so every letter is equally likely.
        for x in b {
            if x < 240 && out.len() < USER_CODE_LEN {
                out.push(USER_CODE_ALPHABET[(x % 20) as usize] as char);
            }
        }
    }
    Ok(out)
}

pub struct DeviceCodeStore {
    db: DatabaseConnection,
    clock: SharedClock,
}

impl DeviceCodeStore {
    pub fn new(db: DatabaseConnection, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// Records a request; returns `(device_code, user_code)`, the only time the device
    /// code exists in clear. A user code already in use is drawn again.
    pub async fn issue(
        &self,
        client_id: &str,
        scope: &str,
        ttl: i64,
        interval: i64,
    ) -> Result<(String, String)> {
        let device_code = random_token(32)?;
        let now = self.clock.now();
        for _ in 0..5 {
            let user_code = random_user_code()?;
            let taken = DeviceCodes::find()
                .filter(device_code::Column::UserCode.eq(user_code.clone()))
                .one(&self.db)
                .await?
                .is_some();
            if taken {
                continue;
            }
            device_code::ActiveModel {
                device_code_hash: Set(hash_secret_hex(&device_code)),
                user_code: Set(user_code.clone()),
                client_id: Set(client_id.into()),
                scope: Set(scope.into()),
                status: Set(PENDING.into()),
                user_id: Set(None),
                auth_time: Set(None),
                poll_interval: Set(interval),
                last_poll_at: Set(None),
                created_at: Set(now),
                expires_at: Set(now + ttl),
            }
            .insert(&self.db)
            .await?;
            return Ok((device_code, user_code));
        }
        Err(Error::Crypto("no free user code after 5 draws".into()))
    }

    /// The pending, unexpired request of a (normalised) user code.
    pub async fn pending(&self, user_code: &str) -> Result<Option<DeviceRow>> {
        let now = self.clock.now();
        Ok(DeviceCodes::find()
            .filter(device_code::Column::UserCode.eq(user_code))
            .filter(device_code::Column::Status.eq(PENDING))
            .filter(device_code::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?)
    }

    /// Records the user's answer; `false` if the request is no longer pending.
    pub async fn decide(&self, user_code: &str, decision: Decision<'_>) -> Result<bool> {
        let now = self.clock.now();
        let mut update = DeviceCodes::update_many();
        update = match decision {
            Decision::Approve { user_id, auth_time } => update
                .col_expr(device_code::Column::Status, Expr::value(APPROVED))
                .col_expr(device_code::Column::UserId, Expr::value(user_id))
                .col_expr(device_code::Column::AuthTime, Expr::value(auth_time)),
            Decision::Deny => update.col_expr(device_code::Column::Status, Expr::value(DENIED)),
        };
        let res = update
            .filter(device_code::Column::UserCode.eq(user_code))
            .filter(device_code::Column::Status.eq(PENDING))
            .filter(device_code::Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// A poll by `client_id` with `device_code` (RFC 8628 §3.4, §3.5).
    pub async fn poll(&self, client_id: &str, device_code: &str) -> Result<Poll> {
        let now = self.clock.now();
        let hash = hash_secret_hex(device_code);
        let Some(row) = DeviceCodes::find_by_id(hash.clone())
            .filter(device_code::Column::ClientId.eq(client_id))
            .one(&self.db)
            .await?
        else {
            return Ok(Poll::Unknown);
        };
        if row.expires_at <= now {
            return Ok(Poll::Expired);
        }
        if row.status == USED {
            return Ok(Poll::Used);
        }
        let too_fast = row
            .last_poll_at
            .is_some_and(|last| now - last < row.poll_interval);
        let mut poll = DeviceCodes::update_many()
            .col_expr(device_code::Column::LastPollAt, Expr::value(now))
            .filter(device_code::Column::DeviceCodeHash.eq(hash.clone()));
        if too_fast {
            poll = poll.col_expr(
                device_code::Column::PollInterval,
                Expr::value(row.poll_interval + SLOW_DOWN_STEP),
            );
        }
        poll.exec(&self.db).await?;
        if too_fast {
            return Ok(Poll::SlowDown);
        }
        match row.status.as_str() {
            PENDING => Ok(Poll::Pending),
            DENIED => Ok(Poll::Denied),
            APPROVED => {
                let spent = DeviceCodes::update_many()
                    .col_expr(device_code::Column::Status, Expr::value(USED))
                    .filter(device_code::Column::DeviceCodeHash.eq(hash))
                    .filter(device_code::Column::Status.eq(APPROVED))
                    .exec(&self.db)
                    .await?;
                Ok(if spent.rows_affected == 1 {
                    Poll::Approved(row)
                } else {
                    Poll::Used
                })
            }
            _ => Ok(Poll::Used),
        }
    }

    /// Deletes expired requests, in batches.
    pub async fn purge(&self) -> Result<()> {
        let now = self.clock.now();
        delete_in_batches::<DeviceCodes>(
            &self.db,
            device_code::Column::DeviceCodeHash,
            Condition::all().add(device_code::Column::ExpiresAt.lte(now)),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_the_consonant_alphabet_and_any_typing() {
        for _ in 0..100 {
            let c = random_user_code().unwrap();
            assert_eq!(normalize_user_code(&c).as_deref(), Some(c.as_str()));
            assert_eq!(normalize_user_code(&display_user_code(&c)), Some(c));
        }
        assert_eq!(
            normalize_user_code("bcdf-ghjk").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(
            normalize_user_code("BCDF GHJK").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(
            normalize_user_code("ABCD-EFGH"),
            None,
            "vowels are not in it"
        );
        assert_eq!(normalize_user_code("BCDF-GHJ"), None);
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
    }
}
