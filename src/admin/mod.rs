//! The admin side of the domain: who may call the admin API ([`auth`]), which client may
//! change which ([`policy`]), what was changed ([`audit`]), and the operations themselves
//! ([`ops`]), shared by the admin API and the console; `http::admin` and the console's
//! pages only translate their input and render the outcome.

pub mod audit;
pub mod auth;
pub mod keys;
pub mod ops;
pub mod policy;

pub use audit::{AuditEntry, AuditLog};
pub use auth::{AdminAuth, Area, Denied, Principal};
pub use ops::{Actor, AdminOps};
pub use policy::Refusal;

/// Audience of admin tokens: a client bootstrapped with `tessera clients create --admin`
/// gets exactly this audience, and the admin API accepts no other.
pub const ADMIN_AUDIENCE: &str = "urn:tessera:admin";

/// Scope granting every admin operation, including the audit log.
pub const SCOPE_ADMIN: &str = "tessera:admin";
/// Scope for `/admin/v1/clients`.
pub const SCOPE_CLIENTS: &str = "tessera:clients";
/// Scope for `/admin/v1/users`.
pub const SCOPE_USERS: &str = "tessera:users";
/// Scope for `/admin/v1/keys`.
pub const SCOPE_KEYS: &str = "tessera:keys";

/// The scopes an admin client created by the CLI is registered for.
pub const ALL_SCOPES: [&str; 4] = [SCOPE_ADMIN, SCOPE_CLIENTS, SCOPE_USERS, SCOPE_KEYS];
