//! Persistence of signing keys (sea-orm). Private keys arrive here already sealed.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::{Alg, lifecycle::KeyTimes};
use crate::{
    entities::signing_key::{self, Entity as SigningKeys},
    error::Result,
};

pub type Row = signing_key::Model;

pub async fn list(db: &DatabaseConnection) -> Result<Vec<Row>> {
    Ok(SigningKeys::find()
        .order_by_asc(signing_key::Column::ActivatesAt)
        .all(db)
        .await?)
}

pub async fn count(db: &DatabaseConnection) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    Ok(SigningKeys::find().count(db).await?)
}

/// Inserts a new key. Returns `false` when another process created the successor of
/// `row.succeeds` first (unique `(alg, succeeds)`): exactly one next key per predecessor.
pub async fn insert_guarded(db: &DatabaseConnection, row: Row) -> Result<bool> {
    let am = signing_key::ActiveModel {
        kid: Set(row.kid),
        alg: Set(row.alg),
        succeeds: Set(row.succeeds),
        public_jwk: Set(row.public_jwk),
        sealed_private_key: Set(row.sealed_private_key),
        created_at: Set(row.created_at),
        activates_at: Set(row.activates_at),
        revoked_at: Set(None),
        backend: Set(row.backend),
        key_ref: Set(row.key_ref),
    };
    match am.insert(db).await {
        Ok(_) => Ok(true),
        Err(e) if crate::error::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Marks a key revoked. Returns `false` if no such key exists.
pub async fn revoke(db: &DatabaseConnection, kid: &str, now: i64) -> Result<bool> {
    let res = SigningKeys::update_many()
        .col_expr(
            signing_key::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(signing_key::Column::Kid.eq(kid))
        .filter(signing_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    if res.rows_affected > 0 {
        return Ok(true);
    }
    Ok(SigningKeys::find_by_id(kid.to_string())
        .one(db)
        .await?
        .is_some())
}

pub async fn delete(db: &DatabaseConnection, kids: &[String]) -> Result<()> {
    if kids.is_empty() {
        return Ok(());
    }
    SigningKeys::delete_many()
        .filter(signing_key::Column::Kid.is_in(kids.iter().cloned()))
        .exec(db)
        .await?;
    Ok(())
}

/// The lifecycle view of stored rows; rows with an unknown alg are ignored.
pub fn times(rows: &[Row]) -> Vec<KeyTimes> {
    rows.iter()
        .filter_map(|r| {
            Some(KeyTimes {
                kid: r.kid.clone(),
                alg: r.alg.parse::<Alg>().ok()?,
                created_at: r.created_at,
                activates_at: r.activates_at,
                revoked_at: r.revoked_at,
            })
        })
        .collect()
}
