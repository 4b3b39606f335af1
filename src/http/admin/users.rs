//! `/admin/v1/users`: create, search, read, update, disable, set the password of, log out
//! and delete users. Account changes that must cut sessions go through `accounts::Accounts`
//! exactly as the CLI's do.

use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::json;

use super::{AdminCtx, AdminError, AdminResult, AdminToken};
use crate::{
    accounts::{NewUser, User},
    admin::{Actor, Area, ops::UserChanges},
    http::ApiTags,
    paging,
};

/// Custom claims as the API carries them.
pub type Claims = std::collections::BTreeMap<String, serde_json::Value>;

fn to_map(c: Claims) -> serde_json::Map<String, serde_json::Value> {
    c.into_iter().collect()
}

/// A user (never the password or its hash).
#[derive(Debug, Object)]
#[oai(example)]
pub struct UserBody {
    /// The user id: the `sub` of the user's tokens.
    pub id: String,
    /// Username (normalised: NFKC, lowercase).
    pub username: String,
    /// Roles, carried in the `roles` claim.
    pub roles: Vec<String>,
    /// Custom claims put in the user's tokens.
    pub claims: Claims,
    /// A disabled user cannot log in or refresh; their tokens are inactive.
    pub disabled: bool,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

impl poem_openapi::types::Example for UserBody {
    fn example() -> Self {
        UserBody {
            id: "0b6f3c1e-6d1c-4a4e-9a8e-5f2b7c9d1e3a".into(),
            username: "alice".into(),
            roles: vec!["admin".into()],
            claims: Claims::from([("team".to_string(), json!("payments"))]),
            disabled: false,
            created_at: 1_795_000_000,
        }
    }
}

impl From<User> for UserBody {
    fn from(u: User) -> Self {
        UserBody {
            id: u.id,
            username: u.username,
            roles: u.roles,
            claims: u.claims.into_iter().collect(),
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

/// A page of users sorted by username.
#[derive(Debug, Object)]
pub struct UserPage {
    /// Up to `limit` users.
    pub items: Vec<UserBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A user to create.
#[derive(Debug, Object)]
#[oai(example)]
pub struct NewUserBody {
    /// Username; normalised (NFKC, lowercase, trimmed) and unique; 1 to 64 characters, no
    /// spaces or control characters.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub username: String,
    /// Password, 8 to 1024 characters. Absent: one is generated and returned once.
    #[oai(validator(min_length = 8, max_length = 1024))]
    pub password: Option<String>,
    /// Roles (1-64 of `[A-Za-z0-9-_:.]` each).
    #[oai(default)]
    pub roles: Vec<String>,
    /// Custom claims for the user's tokens (reserved JWT/OIDC names refused, 4 KiB at most).
    #[oai(default)]
    pub claims: Claims,
}

impl poem_openapi::types::Example for NewUserBody {
    fn example() -> Self {
        NewUserBody {
            username: "alice".into(),
            password: None,
            roles: vec!["admin".into()],
            claims: Claims::from([("team".to_string(), json!("payments"))]),
        }
    }
}

/// A created user, with the generated password when none was given.
#[derive(Debug, Object)]
pub struct CreatedUserBody {
    /// The new user.
    pub user: UserBody,
    /// The generated password, shown only this once.
    #[oai(skip_serializing_if_is_none)]
    pub password: Option<String>,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UserPatch {
    /// New roles. Access tokens carrying the old roles become inactive.
    pub roles: Option<Vec<String>>,
    /// New custom claims (replace the old ones) for tokens issued from now on.
    pub claims: Option<Claims>,
    /// Disable (sessions and access tokens revoked) or re-enable the user.
    pub disabled: Option<bool>,
}

impl poem_openapi::types::Example for UserPatch {
    fn example() -> Self {
        UserPatch {
            roles: Some(vec!["viewer".into()]),
            claims: None,
            disabled: None,
        }
    }
}

/// A new password.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PasswordBody {
    /// 8 to 1024 characters. Absent: one is generated and returned once.
    #[oai(validator(min_length = 8, max_length = 1024))]
    pub password: Option<String>,
}

impl poem_openapi::types::Example for PasswordBody {
    fn example() -> Self {
        PasswordBody {
            password: Some("correct horse battery staple".into()),
        }
    }
}

/// The generated password, when one was generated.
#[derive(Debug, Object)]
pub struct PasswordSet {
    /// The generated password, shown only this once; absent when one was given.
    #[oai(skip_serializing_if_is_none)]
    pub password: Option<String>,
}

#[derive(ApiResponse)]
pub enum Created {
    /// Created.
    #[oai(status = 201)]
    Created(Json<CreatedUserBody>),
}

#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

pub struct UsersApi(pub AdminCtx);

impl UsersApi {
    async fn user(&self, id: &str) -> AdminResult<User> {
        match self.0.state.ctx.accounts.users().get(id).await? {
            Some(u) => Ok(u),
            None => Err(AdminError::not_found("user")),
        }
    }
}

#[OpenApi(prefix_path = "/admin/v1", tag = "ApiTags::AdminUsers")]
impl UsersApi {
    /// List or search users
    ///
    /// Users sorted by username; `q` keeps those whose username contains it.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list(
        &self,
        auth: AdminToken,
        /// Substring of the username (case-insensitive).
        q: Query<Option<String>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
    ) -> AdminResult<Json<UserPage>> {
        self.0.authorize(&auth, Area::Users).await?;
        let limit = paging::limit(limit.0)?;
        let page = self
            .0
            .state
            .ctx
            .accounts
            .users()
            .page(q.0.as_deref(), cursor.0.as_deref(), limit)
            .await?;
        Ok(Json(UserPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Create a user
    ///
    /// The username is normalised (NFKC, lowercase) and must be free. Without `password`,
    /// one is generated and returned once in the answer.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create(&self, auth: AdminToken, body: Json<NewUserBody>) -> AdminResult<Created> {
        let who = Actor::Client(self.0.authorize(&auth, Area::Users).await?);
        let b = body.0;
        let created = self
            .0
            .ops()
            .create_user(
                &who,
                NewUser {
                    username: b.username,
                    password: String::new(),
                    roles: b.roles,
                    claims: to_map(b.claims),
                },
                b.password,
            )
            .await?;
        Ok(Created::Created(Json(CreatedUserBody {
            user: created.user.into(),
            password: created.generated_password,
        })))
    }

    /// Get a user
    ///
    /// The user's account (never the password or its hash).
    #[oai(path = "/users/:user_id", method = "get", operation_id = "getUser")]
    async fn get(
        &self,
        auth: AdminToken,
        /// The user id (`sub`).
        user_id: Path<String>,
    ) -> AdminResult<Json<UserBody>> {
        self.0.authorize(&auth, Area::Users).await?;
        Ok(Json(self.user(&user_id.0).await?.into()))
    }

    /// Update a user
    ///
    /// Replaces roles and/or claims, disables or re-enables. A role change or a disable
    /// makes the user's current access tokens inactive (introspection, the revocation
    /// feed); disabling also ends their sessions.
    #[oai(
        path = "/users/:user_id",
        method = "patch",
        operation_id = "updateUser"
    )]
    async fn update(
        &self,
        auth: AdminToken,
        /// The user id (`sub`).
        user_id: Path<String>,
        body: Json<UserPatch>,
    ) -> AdminResult<Json<UserBody>> {
        let who = Actor::Client(self.0.authorize(&auth, Area::Users).await?);
        let b = body.0;
        let changes = UserChanges {
            roles: b.roles,
            claims: b.claims.map(to_map),
            disabled: b.disabled,
        };
        let user = self
            .0
            .ops()
            .update_user(&who, &user_id.0, changes)
            .await?
            .ok_or_else(|| AdminError::not_found("user"))?;
        Ok(Json(user.into()))
    }

    /// Set a user's password
    ///
    /// Without `password`, one is generated and returned once. Every session of the user
    /// ends (refresh tokens, browser sessions) and earlier access tokens become inactive:
    /// whoever knew the old password keeps nothing opened with it.
    #[oai(
        path = "/users/:user_id/password",
        method = "put",
        operation_id = "setUserPassword"
    )]
    async fn set_password(
        &self,
        auth: AdminToken,
        /// The user id (`sub`).
        user_id: Path<String>,
        body: Json<PasswordBody>,
    ) -> AdminResult<Json<PasswordSet>> {
        let who = Actor::Client(self.0.authorize(&auth, Area::Users).await?);
        let generated = self
            .0
            .ops()
            .set_user_password(&who, &user_id.0, body.0.password)
            .await?
            .ok_or_else(|| AdminError::not_found("user"))?;
        Ok(Json(PasswordSet {
            password: generated,
        }))
    }

    /// Log a user out everywhere
    ///
    /// Ends every session (refresh-token family) and makes every access token issued so
    /// far inactive.
    #[oai(
        path = "/users/:user_id/logout",
        method = "post",
        operation_id = "logoutUser"
    )]
    async fn logout(
        &self,
        auth: AdminToken,
        /// The user id (`sub`).
        user_id: Path<String>,
    ) -> AdminResult<Done> {
        let who = Actor::Client(self.0.authorize(&auth, Area::Users).await?);
        if !self
            .0
            .ops()
            .logout_user_everywhere(&who, &user_id.0)
            .await?
        {
            return Err(AdminError::not_found("user"));
        }
        Ok(Done::NoContent)
    }

    /// Delete a user
    ///
    /// Sessions and access tokens are revoked first. Idempotent: an unknown user also
    /// answers 204.
    #[oai(
        path = "/users/:user_id",
        method = "delete",
        operation_id = "deleteUser"
    )]
    async fn delete(
        &self,
        auth: AdminToken,
        /// The user id (`sub`).
        user_id: Path<String>,
    ) -> AdminResult<Done> {
        let who = Actor::Client(self.0.authorize(&auth, Area::Users).await?);
        self.0.ops().delete_user(&who, &user_id.0).await?;
        Ok(Done::NoContent)
    }
}
