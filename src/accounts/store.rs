//! The user table: registration, the username normalisation rule, roles and custom claims.
//! The setters of what must end sessions when it changes (disabled, password, roles,
//! not-before, deletion) are private to [`crate::accounts`], which pairs each with the
//! session cut.

use std::sync::Arc;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, LikeExpr},
};
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use super::password_hash::PasswordHasher;
use crate::{
    clock::SharedClock,
    entities::user::{self, Entity as Users},
    error::{Error, Field, Result},
    paging::{self, Page},
};

/// Claims a user's custom claims may not override.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "scope",
    "roles",
    "typ",
    "azp",
    "auth_time",
    "at_hash",
    "nonce",
    "cnf",
    "act",
];

/// RFC 8693 §4.4 `may_act`: the one reserved-looking name a user may carry, because it is
/// a policy about the user: who may act for them in a token exchange. Checked for shape.
const MAY_ACT: &str = "may_act";

/// The one username rule: Unicode NFKC, then lowercase, surrounding whitespace trimmed;
/// 1–64 characters, no whitespace or control characters inside. NFKC folds compatibility
/// look-alikes (full-width `ａｌｉｃｅ` → `alice`, ligatures, superscripts); lowercasing
/// makes `Alice` and `alice` one account. Cross-script confusables (Cyrillic `а` vs Latin
/// `a`) stay distinct: they are different names, and only the exact same string logs in.
pub fn normalize_username(raw: &str) -> Result<String> {
    let n: String = raw.trim().nfkc().collect::<String>().to_lowercase();
    let len = n.chars().count();
    if len == 0 || len > 64 {
        return Err(Error::invalid(
            Field::Username,
            "must be 1 to 64 characters",
        ));
    }
    if n.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            Field::Username,
            "must not contain spaces or control characters",
        ));
    }
    Ok(n)
}

/// A user as the rest of the code sees it (never the password hash).
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub roles: Vec<String>,
    pub claims: serde_json::Map<String, serde_json::Value>,
    pub disabled: bool,
    pub not_before: Option<i64>,
    pub created_at: i64,
    #[serde(skip)]
    pub(super) password_hash: String,
}

impl From<user::Model> for User {
    fn from(m: user::Model) -> Self {
        User {
            roles: m.roles.split_whitespace().map(str::to_string).collect(),
            claims: serde_json::from_str(&m.claims).unwrap_or_default(),
            id: m.id,
            username: m.username,
            disabled: m.disabled,
            not_before: m.not_before,
            created_at: m.created_at,
            password_hash: m.password_hash,
        }
    }
}

/// What an operator gives to create a user.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub roles: Vec<String>,
    /// Custom claims put in the user's tokens (see [`parse_claims`] for the CLI's
    /// `name=value` form). Reserved JWT/OIDC names are refused.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

pub struct UserStore {
    db: DatabaseConnection,
    clock: SharedClock,
    hasher: Arc<PasswordHasher>,
}

impl UserStore {
    pub fn new(db: DatabaseConnection, clock: SharedClock, hasher: Arc<PasswordHasher>) -> Self {
        Self { db, clock, hasher }
    }

    pub(super) fn hasher(&self) -> &Arc<PasswordHasher> {
        &self.hasher
    }

    pub async fn create(&self, new: NewUser) -> Result<User> {
        let username = normalize_username(&new.username)?;
        validate_password(&new.password)?;
        let roles = validate_roles(&new.roles)?;
        let claims = validate_claims(new.claims)?;
        if self.find_by_username(&username).await?.is_some() {
            return Err(Error::Conflict(format!("username {username:?} is taken")));
        }
        let hash = self.hasher.hash(new.password).await?;
        let now = self.clock.now();
        let row = user::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            username: Set(username.clone()),
            password_hash: Set(hash),
            roles: Set(roles.join(" ")),
            claims: Set(serde_json::Value::Object(claims).to_string()),
            disabled: Set(false),
            not_before: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        // The unique index decides between two concurrent creations of one username: the
        // loser gets the same answer as a sequential duplicate.
        match row.insert(&self.db).await {
            Ok(m) => Ok(User::from(m)),
            Err(e) if crate::error::is_unique_violation(&e) => {
                Err(Error::Conflict(format!("username {username:?} is taken")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sign-up: a user without roles or claims, `None` when the username is taken. Hashes
    /// first and lets the unique index decide (no lookup before): a taken username costs
    /// the same argon2 work and the same one INSERT as a free one.
    pub(super) async fn register(&self, username: &str, password: String) -> Result<Option<User>> {
        let username = normalize_username(username)?;
        validate_password(&password)?;
        let hash = self.hasher.hash(password).await?;
        let now = self.clock.now();
        let row = user::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            username: Set(username),
            password_hash: Set(hash),
            roles: Set(String::new()),
            claims: Set("{}".into()),
            disabled: Set(false),
            not_before: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        match row.insert(&self.db).await {
            Ok(m) => Ok(Some(User::from(m))),
            Err(e) if crate::error::is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn find_by_username(&self, raw: &str) -> Result<Option<User>> {
        let Ok(username) = normalize_username(raw) else {
            return Ok(None);
        };
        Ok(Users::find()
            .filter(user::Column::Username.eq(username))
            .one(&self.db)
            .await?
            .map(User::from))
    }

    pub async fn get(&self, id: &str) -> Result<Option<User>> {
        Ok(Users::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(User::from))
    }

    /// A user by id or username (CLI convenience).
    pub async fn lookup(&self, id_or_username: &str) -> Result<User> {
        if let Some(u) = self.get(id_or_username).await? {
            return Ok(u);
        }
        self.find_by_username(id_or_username)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {id_or_username}")))
    }

    pub async fn list(&self) -> Result<Vec<User>> {
        Ok(Users::find()
            .order_by_asc(user::Column::Username)
            .all(&self.db)
            .await?
            .into_iter()
            .map(User::from)
            .collect())
    }

    pub async fn count(&self) -> Result<u64> {
        Ok(Users::find().count(&self.db).await?)
    }

    /// Updates one user's row through `f`.
    async fn update(&self, id: &str, f: impl FnOnce(&mut user::ActiveModel)) -> Result<User> {
        let row = Users::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {id}")))?;
        let mut am: user::ActiveModel = row.into();
        f(&mut am);
        am.updated_at = Set(self.clock.now());
        Ok(User::from(am.update(&self.db).await?))
    }

    pub(super) async fn set_disabled(&self, id: &str, disabled: bool) -> Result<User> {
        self.update(id, |am| am.disabled = Set(disabled)).await
    }

    pub(super) async fn set_password(&self, id: &str, password: String) -> Result<User> {
        validate_password(&password)?;
        let hash = self.hasher.hash(password).await?;
        self.update(id, |am| am.password_hash = Set(hash)).await
    }

    /// Replaces roles; [`crate::accounts::Accounts::change_roles`] also records the
    /// not-before time that makes tokens carrying the old roles inactive.
    pub(super) async fn set_roles(&self, id: &str, roles: &[String]) -> Result<User> {
        let roles = validate_roles(roles)?;
        self.update(id, |am| am.roles = Set(roles.join(" "))).await
    }

    /// Replaces the custom claims (they appear in tokens issued from now on).
    pub async fn set_claims(
        &self,
        id: &str,
        claims: serde_json::Map<String, serde_json::Value>,
    ) -> Result<User> {
        let claims = validate_claims(claims)?;
        self.update(id, |am| {
            am.claims = Set(serde_json::Value::Object(claims).to_string())
        })
        .await
    }

    /// A page of users sorted by username, optionally only those whose username contains
    /// `search` (case-insensitive, as usernames are stored lowercase).
    pub async fn page(
        &self,
        search: Option<&str>,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Page<User>> {
        let rows = page_query(search, cursor, limit)?.all(&self.db).await?;
        Page::from_rows(
            rows,
            limit,
            |r| paging::encode_cursor(&r.username),
            |r| Ok(User::from(r)),
        )
    }

    /// A page of the users whose username starts with `prefix` (normalised as usernames
    /// are), in username order: one range of the unique username index, however many
    /// users there are (the console's search; the admin API's `q` is a substring).
    pub async fn search_prefix(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Page<User>> {
        let rows = prefix_query(prefix, cursor, limit)?.all(&self.db).await?;
        Page::from_rows(
            rows,
            limit,
            |r| paging::encode_cursor(&r.username),
            |r| Ok(User::from(r)),
        )
    }

    /// Records a not-before time for the user's access tokens.
    pub(super) async fn set_not_before(&self, id: &str, t: i64) -> Result<User> {
        self.update(id, |am| am.not_before = Set(Some(t))).await
    }

    pub(super) async fn delete(&self, id: &str) -> Result<bool> {
        Ok(Users::delete_by_id(id.to_string())
            .exec(&self.db)
            .await?
            .rows_affected
            > 0)
    }
}

/// The query of one [`UserStore::page`]: `limit + 1` users after the cursor in username
/// order, a range of the unique username index. With a search term, the index is walked
/// from the cursor until the page is full (O(users skipped), a search being a substring).
pub(crate) fn page_query(
    search: Option<&str>,
    cursor: Option<&str>,
    limit: u64,
) -> Result<sea_orm::Select<Users>> {
    let mut q = Users::find().order_by_asc(user::Column::Username);
    if let Some(term) = search.filter(|t| !t.is_empty()) {
        let term: String = term.nfkc().collect::<String>().to_lowercase();
        let escaped = term
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        q = q.filter(
            Expr::col(user::Column::Username)
                .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    if let Some(c) = cursor {
        q = q.filter(user::Column::Username.gt(paging::decode_cursor(c)?));
    }
    Ok(q.limit(limit + 1))
}

/// The query of one [`UserStore::search_prefix`]: `limit + 1` users after the cursor whose
/// username lies in `[prefix, successor(prefix))` (see [`paging::prefix_successor`]).
pub(crate) fn prefix_query(
    prefix: &str,
    cursor: Option<&str>,
    limit: u64,
) -> Result<sea_orm::Select<Users>> {
    let prefix: String = prefix.trim().nfkc().collect::<String>().to_lowercase();
    let mut q = Users::find()
        .filter(user::Column::Username.gte(prefix.clone()))
        .order_by_asc(user::Column::Username);
    if let Some(end) = paging::prefix_successor(&prefix) {
        q = q.filter(user::Column::Username.lt(end));
    }
    if let Some(c) = cursor {
        q = q.filter(user::Column::Username.gt(paging::decode_cursor(c)?));
    }
    Ok(q.limit(limit + 1))
}

fn validate_password(p: &str) -> Result<()> {
    let n = p.chars().count();
    if !(8..=1024).contains(&n) {
        return Err(Error::invalid(
            Field::Password,
            "must be 8 to 1024 characters",
        ));
    }
    Ok(())
}

fn validate_roles(roles: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for r in roles
        .iter()
        .flat_map(|r| r.split([' ', ',']))
        .filter(|r| !r.is_empty())
    {
        if r.len() > 64
            || !r
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
        {
            return Err(Error::invalid(
                Field::Roles,
                format!("{r:?} must be 1-64 of [A-Za-z0-9-_:.]"),
            ));
        }
        if !out.iter().any(|o| o == r) {
            out.push(r.to_string());
        }
    }
    Ok(out)
}

/// Largest serialised custom-claims object: claims travel in every token.
const MAX_CLAIMS_BYTES: usize = 4096;

/// Checks custom claims: names 1-64 bytes and not reserved, at most 4 KiB in all.
pub fn validate_claims(
    claims: serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    for k in claims.keys() {
        if k.is_empty() || k.len() > 64 || RESERVED_CLAIMS.contains(&k.as_str()) {
            return Err(Error::invalid(
                Field::Claims,
                format!("{k:?} is empty, too long or reserved"),
            ));
        }
    }
    if let Some(m) = claims.get(MAY_ACT) {
        let ok = m.as_object().is_some_and(|o| {
            !o.is_empty()
                && o.iter()
                    .all(|(k, v)| matches!(k.as_str(), "sub" | "client_id") && v.is_string())
        });
        if !ok {
            return Err(Error::invalid(
                Field::Claims,
                r#"may_act must be an object naming the one allowed actor by "sub" and/or "client_id" (strings)"#,
            ));
        }
    }
    if serde_json::to_string(&claims).map_or(true, |s| s.len() > MAX_CLAIMS_BYTES) {
        return Err(Error::invalid(
            Field::Claims,
            format!("more than {MAX_CLAIMS_BYTES} bytes"),
        ));
    }
    Ok(claims)
}

/// CLI `--claim name=value` pairs as claims: values that parse as JSON numbers, booleans,
/// arrays or objects keep their type, anything else is a string.
pub fn parse_claims(
    pairs: &[(String, String)],
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        let value = match serde_json::from_str::<serde_json::Value>(v) {
            Ok(
                j @ (serde_json::Value::Number(_)
                | serde_json::Value::Bool(_)
                | serde_json::Value::Array(_)
                | serde_json::Value::Object(_)),
            ) => j,
            _ => serde_json::Value::String(v.clone()),
        };
        map.insert(k.clone(), value);
    }
    validate_claims(map)
}

/// Parses `name=value` (CLI `--claim`).
pub fn parse_claim_arg(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not name=value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_have_one_normal_form() {
        assert_eq!(normalize_username("  Alice ").unwrap(), "alice");
        assert_eq!(
            normalize_username("ＡＬＩＣＥ").unwrap(),
            "alice",
            "full-width folds (NFKC)"
        );
        assert_eq!(
            normalize_username("ﬁona").unwrap(),
            "fiona",
            "ligature folds (NFKC)"
        );
        assert_eq!(
            normalize_username("Ǆemal").unwrap(),
            normalize_username("DŽemal").unwrap()
        );
        // Different scripts stay different accounts.
        assert_ne!(normalize_username("аlice").unwrap(), "alice");
        assert!(normalize_username("").is_err());
        assert!(normalize_username("a b").is_err());
        assert!(normalize_username("a\u{0}b").is_err());
        assert!(normalize_username(&"x".repeat(65)).is_err());
    }

    #[test]
    fn claims_keep_json_types_and_reserved_names_are_refused() {
        let m = parse_claims(&[
            ("team".into(), "payments".into()),
            ("level".into(), "3".into()),
        ])
        .unwrap();
        assert_eq!(m["team"], "payments");
        assert_eq!(m["level"], 3);
        assert!(parse_claims(&[("sub".into(), "x".into())]).is_err());
        // RFC 8693 §4.4: `may_act` names one actor, by `sub` and/or `client_id`.
        let may_act = parse_claims(&[("may_act".into(), r#"{"client_id":"gw"}"#.into())]);
        assert_eq!(may_act.unwrap()["may_act"]["client_id"], "gw");
        assert!(parse_claims(&[("may_act".into(), "gw".into())]).is_err());
        assert!(parse_claims(&[("may_act".into(), r#"{"iss":"x"}"#.into())]).is_err());
        assert!(validate_roles(&["admin reader".into()]).unwrap().len() == 2);
        assert!(validate_roles(&["bad role!".into()]).is_err());
    }
}
