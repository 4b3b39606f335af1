//! Authorization codes and PKCE. Codes are 256-bit random, stored only as SHA-256 hashes,
//! valid 60 seconds, single use (a compare-and-set spends them). What a redemption issued
//! is recorded on the code, so a code presented twice revokes it (RFC 6749 §4.1.2,
//! RFC 9700 §4.2.4) — even when the second presentation races the first. Every code is
//! bound to an S256 PKCE challenge (RFC 7636), checked at redemption by [`pkce_matches`].
//! The store also links the refresh families issued in a browser session to it, so
//! signing out of the browser ends them.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};

use crate::{
    clock::SharedClock,
    entities::{
        authorization_code::{self, Entity as Codes},
        browser_session_family::{self, Entity as Links},
    },
    error::Result,
    secrets::{hash_secret_hex, random_token, strings_equal},
    storage::delete_in_batches,
};

/// How long a code can be redeemed.
pub const CODE_TTL_SECS: i64 = 60;

pub type CodeRow = authorization_code::Model;

/// What a code is bound to.
#[derive(Debug, Clone)]
pub struct NewCode<'a> {
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: &'a str,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub session_id: &'a str,
    /// RFC 9449 §10 `dpop_jkt`: the code is bound to this DPoP key.
    pub dpop_jkt: Option<&'a str>,
}

/// The outcome of presenting a code.
#[derive(Debug)]
pub enum Redeemed {
    /// First use, in time: the code is now spent.
    Fresh(CodeRow),
    Unknown,
    Expired,
    /// Already spent: whatever it issued is now revoked.
    Reused(CodeRow),
}

pub struct CodeStore {
    db: DatabaseConnection,
    clock: SharedClock,
}

impl CodeStore {
    pub fn new(db: DatabaseConnection, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// Issues a code; returns it (the only time it exists in clear).
    pub async fn issue(&self, c: &NewCode<'_>) -> Result<String> {
        let code = random_token(32)?;
        let now = self.clock.now();
        authorization_code::ActiveModel {
            code_hash: Set(hash_secret_hex(&code)),
            client_id: Set(c.client_id.into()),
            user_id: Set(c.user_id.into()),
            redirect_uri: Set(c.redirect_uri.into()),
            code_challenge: Set(c.code_challenge.into()),
            scope: Set(c.scope.into()),
            nonce: Set(c.nonce.map(str::to_string)),
            auth_time: Set(c.auth_time),
            session_id: Set(c.session_id.into()),
            created_at: Set(now),
            expires_at: Set(now + CODE_TTL_SECS),
            used_at: Set(None),
            reused_at: Set(None),
            family_id: Set(None),
            access_jti: Set(None),
            access_exp: Set(None),
            dpop_jkt: Set(c.dpop_jkt.map(str::to_string)),
        }
        .insert(&self.db)
        .await?;
        Ok(code)
    }

    /// Spends a code. A second presentation marks the code reused and hands back what the
    /// first one issued, for the caller to revoke.
    pub async fn redeem(&self, code: &str) -> Result<Redeemed> {
        let now = self.clock.now();
        let hash = hash_secret_hex(code);
        let Some(row) = Codes::find_by_id(hash.clone()).one(&self.db).await? else {
            return Ok(Redeemed::Unknown);
        };
        let spent = Codes::update_many()
            .col_expr(authorization_code::Column::UsedAt, Expr::value(now))
            .filter(authorization_code::Column::CodeHash.eq(hash.clone()))
            .filter(authorization_code::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?;
        if spent.rows_affected != 1 {
            Codes::update_many()
                .col_expr(authorization_code::Column::ReusedAt, Expr::value(now))
                .filter(authorization_code::Column::CodeHash.eq(hash.clone()))
                .exec(&self.db)
                .await?;
            // Re-read: the first redemption may have recorded what it issued meanwhile.
            let row = Codes::find_by_id(hash).one(&self.db).await?.unwrap_or(row);
            return Ok(Redeemed::Reused(row));
        }
        if row.expires_at <= now {
            return Ok(Redeemed::Expired);
        }
        Ok(Redeemed::Fresh(row))
    }

    /// Records what a redemption issued. Returns `false` when the code was reused in the
    /// meantime: the caller must then revoke what it issued itself.
    pub async fn record_issued(
        &self,
        code_hash: &str,
        family_id: Option<&str>,
        access_jti: &str,
        access_exp: i64,
    ) -> Result<bool> {
        Codes::update_many()
            .col_expr(
                authorization_code::Column::FamilyId,
                Expr::value(family_id.map(str::to_string)),
            )
            .col_expr(
                authorization_code::Column::AccessJti,
                Expr::value(access_jti.to_string()),
            )
            .col_expr(
                authorization_code::Column::AccessExp,
                Expr::value(access_exp),
            )
            .filter(authorization_code::Column::CodeHash.eq(code_hash))
            .exec(&self.db)
            .await?;
        let row = Codes::find_by_id(code_hash.to_string())
            .one(&self.db)
            .await?;
        Ok(row.is_some_and(|r| r.reused_at.is_none()))
    }

    /// Links a refresh family to the browser session it was issued in.
    pub async fn link_family(
        &self,
        session_id: &str,
        family_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        browser_session_family::ActiveModel {
            family_id: Set(family_id.into()),
            session_id: Set(session_id.into()),
            expires_at: Set(expires_at),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// The refresh families issued in a browser session.
    pub async fn session_families(&self, session_id: &str) -> Result<Vec<String>> {
        Ok(Links::find()
            .filter(browser_session_family::Column::SessionId.eq(session_id))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|l| l.family_id)
            .collect())
    }

    /// Forgets expired codes (kept a while after expiry so a late replay is still seen as
    /// a reuse) and links of expired families.
    pub async fn purge(&self) -> Result<()> {
        let now = self.clock.now();
        delete_in_batches::<Codes>(
            &self.db,
            authorization_code::Column::CodeHash,
            Condition::all().add(authorization_code::Column::ExpiresAt.lt(now - 3600)),
        )
        .await?;
        delete_in_batches::<Links>(
            &self.db,
            browser_session_family::Column::FamilyId,
            Condition::all().add(browser_session_family::Column::ExpiresAt.lt(now)),
        )
        .await?;
        Ok(())
    }
}

/// An S256 challenge: base64url (no padding) of a SHA-256 digest, 43 characters.
pub fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge, in constant time.
/// The verifier must be 43–128 unreserved characters (§4.1).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    strings_equal(&B64.encode(d.as_ref()), challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_s256_challenge(challenge));
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
        assert!(!is_s256_challenge(verifier.get(..42).unwrap()));
    }
}
