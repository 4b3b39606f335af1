//! Errors. [`OAuthError`] is the protocol error of RFC 6749 §5.2, the only error a client
//! ever sees from the OAuth endpoints; it is rendered to HTTP in exactly one place
//! (`http::responses::OAuthFailure`). [`Error`] is the internal error of domain code: its
//! detail goes to the logs, never to a client, except [`Error::Invalid`], whose
//! [`Field`] and reason are written for the operator who sent the input.

use std::borrow::Cow;

/// A protocol error with a safe, public description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    #[error("invalid_request: {0}")]
    InvalidRequest(Cow<'static, str>),
    /// Client authentication failed (unknown client, wrong secret, no or malformed credentials).
    #[error("invalid_client")]
    InvalidClient,
    /// The grant (refresh token, password, code) is invalid, expired or revoked.
    #[error("invalid_grant: {0}")]
    InvalidGrant(Cow<'static, str>),
    /// The client is not registered for this grant type.
    #[error("unauthorized_client")]
    UnauthorizedClient,
    /// The grant type is not supported by this server.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown, or exceeds what the client may ask for.
    #[error("invalid_scope: {0}")]
    InvalidScope(Cow<'static, str>),
    /// RFC 8707: the requested resource is not one this client may get tokens for.
    #[error("invalid_target: {0}")]
    InvalidTarget(Cow<'static, str>),
    /// RFC 9449 §5: the `DPoP` proof is missing (for a client that must send one),
    /// repeated, malformed, of another request, stale or replayed.
    #[error("invalid_dpop_proof: {0}")]
    InvalidDpopProof(Cow<'static, str>),
    /// RFC 9449 §8: the proof must carry the server nonce sent in `DPoP-Nonce`.
    #[error("use_dpop_nonce")]
    UseDpopNonce,
    /// Too many failed logins, or a token-endpoint rate limit: wait `retry_after` seconds (429).
    #[error("slow_down")]
    SlowDown { retry_after: u64 },
    /// RFC 8628 §3.5: the user has not answered yet; poll again after the interval.
    #[error("authorization_pending")]
    AuthorizationPending,
    /// RFC 8628 §3.5: polled faster than the interval; the interval is now 5 s longer.
    #[error("slow_down (polling)")]
    PollTooFast,
    /// RFC 8628 §3.5: the device code expired; start again.
    #[error("expired_token")]
    ExpiredToken,
    /// RFC 8628 §3.5: the user denied the request.
    #[error("access_denied")]
    AccessDenied,
    /// The request body exceeds the configured limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// Something failed inside the server; the detail is in the logs only.
    #[error("server_error")]
    ServerError,
    /// A dependency (the database, or no usable signing key) is unavailable right now.
    #[error("temporarily_unavailable")]
    TemporarilyUnavailable,
}

impl OAuthError {
    pub fn invalid_request(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(msg.into())
    }
    pub fn invalid_scope(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidScope(msg.into())
    }

    /// The RFC 6749 `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::PayloadTooLarge => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::SlowDown { .. } | Self::PollTooFast => "slow_down",
            Self::AuthorizationPending => "authorization_pending",
            Self::ExpiredToken => "expired_token",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// The public `error_description`: fixed wording, never internal detail.
    pub fn description(&self) -> Cow<'static, str> {
        match self {
            Self::InvalidRequest(m)
            | Self::InvalidGrant(m)
            | Self::InvalidScope(m)
            | Self::InvalidTarget(m)
            | Self::InvalidDpopProof(m) => m.clone(),
            Self::UseDpopNonce => {
                "the DPoP proof must carry the server nonce given in the DPoP-Nonce header".into()
            }
            Self::InvalidClient => "client authentication failed".into(),
            Self::UnauthorizedClient => "the client is not allowed to use this grant type".into(),
            Self::UnsupportedGrantType => "the grant type is not supported".into(),
            Self::PayloadTooLarge => "the request body is too large".into(),
            Self::SlowDown { .. } => "too many failed attempts, retry later".into(),
            Self::AuthorizationPending => "the user has not answered yet".into(),
            Self::PollTooFast => "polling too fast: wait the interval, now 5 seconds longer".into(),
            Self::ExpiredToken => "the device code has expired".into(),
            Self::AccessDenied => "the user denied the request".into(),
            Self::ServerError => "the server could not complete the request".into(),
            Self::TemporarilyUnavailable => {
                "the service is temporarily unavailable, retry later".into()
            }
        }
    }

    /// HTTP status per RFC 6749 §5.2 (401 for client authentication failures).
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient => 401,
            Self::PayloadTooLarge => 413,
            Self::SlowDown { .. } => 429,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// Internal failures of domain code. Logged with detail; clients see only
/// `server_error` or `temporarily_unavailable`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("cryptography: {0}")]
    Crypto(String),
    #[error("key-encryption key: {0}")]
    Kek(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("no usable signing key for {0}")]
    NoSigningKey(&'static str),
    #[error("{0} not found")]
    NotFound(String),
    /// Input an operator gave (admin API, CLI) is not acceptable: which field, and why.
    #[error("invalid input: {field}: {reason}")]
    Invalid { field: Field, reason: String },
    /// Something stored is not in the form the code wrote it (a hand-edited row).
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A dependency could not do its part right now (e.g. the replay-record writer's
    /// database is unreachable): a 503, like [`Error::Db`] when the database is down.
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
}

/// The input field a validation error is about, named once here so that the admin API
/// (JSON member names) and the CLI (option names) each render it their own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    GrantTypes,
    Scopes,
    Audiences,
    TokenTtl,
    Alg,
    RedirectUris,
    PostLogoutRedirectUris,
    Public,
    /// A client's authentication method as an update names it (the registration's
    /// `public` and `federated` flags, for a `PATCH`).
    TokenEndpointAuthMethod,
    ExchangeAudiences,
    Jwks,
    JwksUri,
    Issuer,
    Federated,
    Conditions,
    Username,
    Password,
    Roles,
    Claims,
    Limit,
    Cursor,
    Token,
}

impl Field {
    /// The name of the field in the admin API's JSON bodies and query strings.
    pub fn api_name(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::GrantTypes => "grant_types",
            Field::Scopes => "scopes",
            Field::Audiences => "audiences",
            Field::TokenTtl => "token_ttl",
            Field::Alg => "alg",
            Field::RedirectUris => "redirect_uris",
            Field::PostLogoutRedirectUris => "post_logout_redirect_uris",
            Field::Public => "public",
            Field::TokenEndpointAuthMethod => "token_endpoint_auth_method",
            Field::ExchangeAudiences => "exchange_audiences",
            Field::Jwks => "jwks",
            Field::JwksUri => "jwks_uri",
            Field::Issuer => "issuer",
            Field::Federated => "federated",
            Field::Conditions => "conditions",
            Field::Username => "username",
            Field::Password => "password",
            Field::Roles => "roles",
            Field::Claims => "claims",
            Field::Limit => "limit",
            Field::Cursor => "cursor",
            Field::Token => "token",
        }
    }

    /// The name of the matching command-line option (without `--`).
    pub fn cli_name(self) -> &'static str {
        match self {
            Field::GrantTypes => "grant",
            Field::Scopes => "scope",
            Field::Audiences => "audience",
            Field::TokenTtl => "ttl",
            Field::RedirectUris => "redirect-uri",
            Field::PostLogoutRedirectUris => "post-logout-redirect-uri",
            Field::Roles => "role",
            Field::ExchangeAudiences => "exchange-audience",
            Field::Jwks => "jwks-file",
            Field::JwksUri => "jwks-uri",
            Field::Issuer => "issuer",
            Field::Federated => "federated",
            Field::TokenEndpointAuthMethod => "auth",
            Field::Conditions => "condition",
            other => other.api_name(),
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.cli_name())
    }
}

impl Error {
    /// An [`Error::Invalid`] about `field`.
    pub fn invalid(field: Field, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// Whether the failure is a dependency being down (the database), i.e. worth a 503.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Db(e) => db_unreachable(e),
            Error::NoSigningKey(_) | Error::Unavailable(_) => true,
            _ => false,
        }
    }
}

/// Whether a database error means "the database cannot be reached" (connection refused,
/// reset or timed out, pool exhausted) or "is busy" (SQLite locked by another process)
/// rather than a bad query: a connection that breaks mid-query surfaces as a query error
/// wrapping an I/O error. Either way the client should retry shortly (503, S5).
fn db_unreachable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, SqlxError};
    match e {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => {
            match &**e {
                SqlxError::Io(_)
                | SqlxError::Tls(_)
                | SqlxError::PoolTimedOut
                | SqlxError::PoolClosed
                | SqlxError::WorkerCrashed => true,
                SqlxError::Database(db) => sqlite_busy(db.as_ref()),
                _ => false,
            }
        }
        _ => {
            let text = e.to_string();
            text.contains("pool timed out") || text.contains("database is locked")
        }
    }
}

/// SQLite's `SQLITE_BUSY` ("database is locked": another connection or process holds the
/// write lock longer than the busy timeout) and `SQLITE_LOCKED` ("database table is
/// locked"), extended codes included: the database is there, just not available now.
fn sqlite_busy(e: &dyn sea_orm::sqlx::error::DatabaseError) -> bool {
    use sea_orm::sqlx::error::DatabaseError as _;
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    e.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .and_then(|e| e.code()?.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
}

/// Whether an insert lost to a unique index (a concurrent creator got there first).
pub fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "dependency unavailable");
            OAuthError::TemporarilyUnavailable
        } else {
            tracing::error!(error = %e, "internal error");
            OAuthError::ServerError
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::{DbErr, RuntimeErr, SqlxError};

    use super::Error;

    fn query(e: SqlxError) -> Error {
        Error::Db(DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))))
    }

    #[test]
    fn a_connection_lost_mid_query_is_unavailable_a_bad_query_is_not() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(query(SqlxError::Io(reset)).is_unavailable());
        assert!(query(SqlxError::PoolTimedOut).is_unavailable());
        assert!(!query(SqlxError::RowNotFound).is_unavailable());
        assert!(!Error::Db(DbErr::Custom("bad".into())).is_unavailable());
    }

    /// S5: a real SQLite "database is locked" (another connection holds the write lock,
    /// no busy wait) is unavailable, so clients get 503 + `Retry-After`, not 500; a
    /// constraint violation from the same database is not.
    #[tokio::test]
    async fn sqlite_busy_or_locked_is_unavailable() {
        use sea_orm::{ConnectOptions, ConnectionTrait, Database, TransactionTrait};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/busy.db?mode=rwc", dir.path().display());
        let open = || {
            let mut opts = ConnectOptions::new(url.clone());
            opts.max_connections(1).sqlx_logging(false);
            opts.map_sqlx_sqlite_opts(|o| o.busy_timeout(std::time::Duration::ZERO));
            Database::connect(opts)
        };
        let holder = open().await.unwrap();
        holder
            .execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        let other = open().await.unwrap();
        let lock = holder.begin().await.unwrap();
        lock.execute_unprepared("INSERT INTO t (id) VALUES (1)")
            .await
            .unwrap();
        let busy = other
            .execute_unprepared("INSERT INTO t (id) VALUES (2)")
            .await
            .expect_err("the write lock is held");
        assert!(busy.to_string().contains("locked"), "{busy}");
        let busy = Error::Db(busy);
        assert!(busy.is_unavailable(), "{busy}");
        assert_eq!(
            super::OAuthError::from(busy),
            super::OAuthError::TemporarilyUnavailable
        );
        lock.commit().await.unwrap();
        let dup = other
            .execute_unprepared("INSERT INTO t (id) VALUES (1)")
            .await
            .expect_err("duplicate key");
        assert!(!Error::Db(dup).is_unavailable());
    }
}
