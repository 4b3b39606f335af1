//! User operations: create, change roles, claims and the disabled flag, set the password,
//! log out everywhere, delete. Each change that must end sessions goes through
//! `accounts::Accounts`, which pairs it with the cut.

use serde_json::json;

use super::{Actor, AdminOps};
use crate::{
    accounts::{NewUser, User},
    error::Result,
};

/// A created user, with the generated password when none was given (shown once).
#[derive(Debug, Clone)]
pub struct CreatedUser {
    pub user: User,
    pub generated_password: Option<String>,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub roles: Option<Vec<String>>,
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
    pub disabled: Option<bool>,
}

/// The password given, or a generated one (then returned to the caller once).
fn password_or_generated(given: Option<String>) -> Result<(String, Option<String>)> {
    match given {
        Some(p) => Ok((p, None)),
        None => {
            let p = crate::secrets::random_token(15)?;
            Ok((p.clone(), Some(p)))
        }
    }
}

impl AdminOps<'_> {
    /// Creates a user (`user.create`); without a password, one is generated.
    pub async fn create_user(
        &self,
        actor: &Actor,
        new: NewUser,
        password: Option<String>,
    ) -> Result<CreatedUser> {
        let (password, generated) = password_or_generated(password)?;
        let user = self
            .ctx
            .accounts
            .users()
            .create(NewUser { password, ..new })
            .await?;
        self.record(
            actor,
            "user.create",
            &user.id,
            json!({"username": user.username, "roles": user.roles,
                   "claims": user.claims.keys().collect::<Vec<_>>()}),
        )
        .await;
        Ok(CreatedUser {
            user,
            generated_password: generated,
        })
    }

    /// Replaces roles and/or claims, disables or re-enables (`user.update`); `None` when
    /// there is no such user. A role change or a disable makes the user's access tokens
    /// inactive; disabling also ends their sessions.
    pub async fn update_user(
        &self,
        actor: &Actor,
        user_id: &str,
        changes: UserChanges,
    ) -> Result<Option<User>> {
        let accounts = &self.ctx.accounts;
        let Some(mut user) = accounts.users().get(user_id).await? else {
            return Ok(None);
        };
        if let Some(claims) = changes.claims.clone() {
            user = accounts.users().set_claims(&user.id, claims).await?;
        }
        if let Some(roles) = &changes.roles {
            user = accounts.change_roles(&user.id, roles).await?;
        }
        if let Some(disabled) = changes.disabled
            && disabled != user.disabled
        {
            user = accounts.set_disabled(&user.id, disabled).await?;
        }
        self.record(
            actor,
            "user.update",
            &user.id,
            json!({"roles": changes.roles,
                   "claims": changes.claims.map(|c| c.keys().cloned().collect::<Vec<_>>()),
                   "disabled": changes.disabled}),
        )
        .await;
        Ok(Some(user))
    }

    /// Sets a user's password (`user.set_password`) and ends everything they hold. `None`
    /// when there is no such user; else the generated password, when none was given.
    pub async fn set_user_password(
        &self,
        actor: &Actor,
        user_id: &str,
        password: Option<String>,
    ) -> Result<Option<Option<String>>> {
        let Some(user) = self.ctx.accounts.users().get(user_id).await? else {
            return Ok(None);
        };
        let (password, generated) = password_or_generated(password)?;
        self.ctx.accounts.set_password(&user.id, password).await?;
        self.record(
            actor,
            "user.set_password",
            &user.id,
            json!({"generated": generated.is_some()}),
        )
        .await;
        Ok(Some(generated))
    }

    /// Ends every session of a user (`user.logout_everywhere`); `false` when there is no
    /// such user.
    pub async fn logout_user_everywhere(&self, actor: &Actor, user_id: &str) -> Result<bool> {
        let Some(user) = self.ctx.accounts.users().get(user_id).await? else {
            return Ok(false);
        };
        self.ctx.accounts.logout_everywhere(&user.id).await?;
        self.record(actor, "user.logout_everywhere", &user.id, json!({}))
            .await;
        Ok(true)
    }

    /// Deletes a user after ending what they hold (`user.delete`); `false` when there was
    /// no such user.
    pub async fn delete_user(&self, actor: &Actor, user_id: &str) -> Result<bool> {
        let deleted = self.ctx.accounts.delete(user_id).await?;
        if deleted {
            self.record(actor, "user.delete", user_id, json!({})).await;
        }
        Ok(deleted)
    }
}
