//! Refresh-token families (RFC 9700 §4.14.2): 256-bit opaque tokens stored only as hashes,
//! rotated on every use; reuse of a spent token revokes the whole family. Idle and absolute
//! lifetimes; the spend is a compare-and-set so concurrent refreshes with one token have
//! exactly one winner.

use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, Set, sea_query::Expr,
};

use crate::{
    clients::{Client, GrantType},
    clock::SharedClock,
    entities::{
        refresh_family::{self, Entity as Families},
        refresh_token::{self, Entity as Tokens},
        user::{self, Entity as UserRows},
    },
    error::{Error, Result},
    secrets::{hash_secret_hex, random_token},
    storage::delete_in_batches,
};

/// The audiences a refresh of `family` may ask for (R10): those its login was granted
/// with `resource`, as far as the client still holds them; for a login that chose none
/// (or a family from before audiences were kept), the client's registered audiences.
pub fn granted_audience(family: &Family, registered: &[String]) -> Result<Vec<String>> {
    let Some(json) = &family.audience else {
        return Ok(registered.to_vec());
    };
    let granted: Vec<String> = serde_json::from_str(json)
        .map_err(|_| Error::Corrupt(format!("audience of refresh family {}", family.id)))?;
    Ok(granted
        .into_iter()
        .filter(|a| registered.contains(a))
        .collect())
}

pub type Family = refresh_family::Model;

/// The most families [`RefreshFamilies::active_of_user`] lists (a person's sign-ins; a
/// machine using the password grant in a loop could otherwise make the list unbounded).
pub const MAX_LISTED: u64 = 200;
/// A stored refresh token with its family and the family's user (if the user still
/// exists), as [`RefreshFamilies::find`] returns them in one query. The user is the row as
/// stored; `accounts::User::from` turns it into the user the rest of the code sees (this
/// module sits below `accounts`, which ends families when an account changes).
pub struct Found {
    pub token: refresh_token::Model,
    pub family: Family,
    pub user: Option<user::Model>,
}

/// Why a refresh token was refused (all answer `invalid_grant`; the detail is for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRefused {
    Unknown,
    OtherClient,
    Revoked,
    Expired,
    /// A spent token came back: the family is now revoked.
    Reused,
}

/// A refresh token by hash with its family and user: three primary-key lookups.
pub(crate) fn find_query(
    token_hash: &str,
) -> sea_orm::SelectThree<
    refresh_token::Entity,
    refresh_family::Entity,
    user::Entity,
    sea_orm::TopologyChain,
> {
    Tokens::find_by_id(token_hash.to_string())
        .find_also_related(Families)
        .and_also_related(UserRows)
}

pub struct RefreshFamilies {
    db: DatabaseConnection,
    clock: SharedClock,
    idle_ttl: i64,
    max_ttl: i64,
}

impl RefreshFamilies {
    pub fn new(db: DatabaseConnection, clock: SharedClock, idle_ttl: i64, max_ttl: i64) -> Self {
        Self {
            db,
            clock,
            idle_ttl,
            max_ttl,
        }
    }

    /// Starts a family at sign-in when `client` is registered for the refresh grant, and
    /// returns its first refresh token; `None` for a client that may not refresh.
    /// `audience` is the audience the sign-in chose with `resource`, if it chose one: the
    /// family's refreshes stay within it ([`granted_audience`]). `dpop_jkt` is the key of
    /// the DPoP proof of the sign-in, if any: a public client's family is bound to it (RFC
    /// 9449 §5), a confidential client's is not (it authenticates on every refresh).
    pub async fn start_if_allowed(
        &self,
        client: &Client,
        user_id: &str,
        scope: &str,
        audience: Option<&[String]>,
        auth_time: i64,
        dpop_jkt: Option<&str>,
    ) -> Result<Option<(String, Family)>> {
        if !client.allows(GrantType::RefreshToken) {
            return Ok(None);
        }
        let audience = audience
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Corrupt(format!("audience: {e}")))?;
        let bound = dpop_jkt.filter(|_| client.is_public()).map(str::to_string);
        self.start(
            user_id,
            &client.client_id,
            scope,
            audience,
            auth_time,
            bound,
        )
        .await
        .map(Some)
    }

    /// Starts a family at login and returns its first refresh token.
    async fn start(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        audience: Option<String>,
        auth_time: i64,
        dpop_jkt: Option<String>,
    ) -> Result<(String, Family)> {
        let now = self.clock.now();
        let family = Family {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.into(),
            client_id: client_id.into(),
            scope: scope.into(),
            auth_time,
            created_at: now,
            expires_at: now + self.max_ttl,
            revoked_at: None,
            audience,
            dpop_jkt,
        };
        // Family first, then its token, each one statement (no transaction): stopping in
        // between leaves a family without tokens, which nothing can use and purge removes.
        Families::insert(refresh_family::ActiveModel::from(family.clone()))
            .exec_without_returning(&self.db)
            .await?;
        let token = self.new_token(&family, now).await?;
        Ok((token, family))
    }

    /// Stores a new token of `family` and returns its value. One statement: no
    /// read-back of the row, which we already know.
    async fn new_token(&self, family: &Family, now: i64) -> Result<String> {
        let token = random_token(32)?;
        Tokens::insert(refresh_token::ActiveModel {
            token_hash: Set(hash_secret_hex(&token)),
            family_id: Set(family.id.clone()),
            created_at: Set(now),
            expires_at: Set((now + self.idle_ttl).min(family.expires_at)),
            used_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(token)
    }

    /// Looks a refresh token, its family and their user up (one query) without spending it.
    pub async fn find(&self, token: &str) -> Result<Option<Found>> {
        Ok(
            match find_query(&hash_secret_hex(token)).one(&self.db).await? {
                Some((token, Some(family), user)) => Some(Found {
                    token,
                    family,
                    user,
                }),
                _ => None,
            },
        )
    }

    /// Spends a token found by [`RefreshFamilies::find`] for `client_id` and returns the family
    /// and the next token. The checks are repeated here so no caller can skip them; the
    /// spend itself is a compare-and-set, so a concurrent spend of the same token loses.
    pub async fn rotate(
        &self,
        Found {
            token: t, family, ..
        }: Found,
        client_id: &str,
    ) -> Result<std::result::Result<(String, Family), RefreshRefused>> {
        let now = self.clock.now();
        if family.client_id != client_id {
            return Ok(Err(RefreshRefused::OtherClient));
        }
        if family.revoked_at.is_some() {
            return Ok(Err(RefreshRefused::Revoked));
        }
        if t.used_at.is_some() {
            self.revoke_family(&family.id).await?;
            return Ok(Err(RefreshRefused::Reused));
        }
        if t.expires_at <= now || family.expires_at <= now {
            return Ok(Err(RefreshRefused::Expired));
        }
        // The successor is stored before the old token is spent, and neither in a
        // transaction: on SQLite each statement is a hop to the database thread, and these
        // two (instead of BEGIN, UPDATE, INSERT, COMMIT) are most of a refresh's cost.
        // Stopping in between loses nothing: the old token still works, and a successor
        // nobody was given cannot be presented (it is purged at expiry).
        let next = self.new_token(&family, now).await?;
        // Compare-and-set: only one concurrent request can spend the token.
        let spent = Tokens::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::TokenHash.eq(t.token_hash.clone()))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?;
        if spent.rows_affected != 1 {
            Tokens::delete_by_id(hash_secret_hex(&next))
                .exec(&self.db)
                .await?;
            self.revoke_family(&family.id).await?;
            return Ok(Err(RefreshRefused::Reused));
        }
        Ok(Ok((next, family)))
    }

    pub async fn revoke_family(&self, family_id: &str) -> Result<()> {
        Families::update_many()
            .col_expr(
                refresh_family::Column::RevokedAt,
                Expr::value(self.clock.now()),
            )
            .filter(refresh_family::Column::Id.eq(family_id))
            .filter(refresh_family::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// A family by id.
    pub async fn get(&self, family_id: &str) -> Result<Option<Family>> {
        Ok(Families::find_by_id(family_id.to_string())
            .one(&self.db)
            .await?)
    }

    /// A user's families that can still refresh (not revoked, not expired, holding an
    /// unspent token in its idle lifetime), each with when it was last used: its newest
    /// live token's creation, i.e. the last rotation (or the sign-in), which the refresh
    /// grant writes anyway. Newest use first, at most the [`MAX_LISTED`] newest families.
    /// Two indexed queries.
    pub async fn active_of_user(&self, user_id: &str) -> Result<Vec<(Family, i64)>> {
        use sea_orm::{QueryOrder, QuerySelect};
        let now = self.clock.now();
        let families = Families::find()
            .filter(refresh_family::Column::UserId.eq(user_id))
            .filter(refresh_family::Column::RevokedAt.is_null())
            .filter(refresh_family::Column::ExpiresAt.gt(now))
            .order_by_desc(refresh_family::Column::CreatedAt)
            .limit(MAX_LISTED)
            .all(&self.db)
            .await?;
        if families.is_empty() {
            return Ok(Vec::new());
        }
        let last_used: std::collections::HashMap<String, i64> = Tokens::find()
            .select_only()
            .column(refresh_token::Column::FamilyId)
            .column_as(
                sea_orm::sea_query::ExprTrait::max(Expr::col(refresh_token::Column::CreatedAt)),
                "last_used",
            )
            .filter(refresh_token::Column::FamilyId.is_in(families.iter().map(|f| f.id.clone())))
            .filter(refresh_token::Column::UsedAt.is_null())
            .filter(refresh_token::Column::ExpiresAt.gt(now))
            .group_by(refresh_token::Column::FamilyId)
            .into_tuple::<(String, i64)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        let mut active: Vec<(Family, i64)> = families
            .into_iter()
            .filter_map(|f| last_used.get(&f.id).copied().map(|t| (f, t)))
            .collect();
        active.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
        Ok(active)
    }

    /// Revokes every family of a user (logout everywhere, disable, delete).
    pub async fn revoke_user(&self, user_id: &str) -> Result<u64> {
        let res = Families::update_many()
            .col_expr(
                refresh_family::Column::RevokedAt,
                Expr::value(self.clock.now()),
            )
            .filter(refresh_family::Column::UserId.eq(user_id))
            .filter(refresh_family::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected)
    }

    /// Deletes expired tokens and families that can no longer matter.
    pub async fn purge(&self) -> Result<()> {
        let now = self.clock.now();
        delete_in_batches::<Tokens>(
            &self.db,
            refresh_token::Column::TokenHash,
            Condition::all().add(refresh_token::Column::ExpiresAt.lt(now)),
        )
        .await?;
        // Keep revoked families until they would have expired anyway: a replayed token of a
        // revoked family must still be recognised as such, not as "unknown".
        delete_in_batches::<Families>(
            &self.db,
            refresh_family::Column::Id,
            Condition::all().add(refresh_family::Column::ExpiresAt.lt(now)),
        )
        .await?;
        Ok(())
    }
}
