//! Tessera: a standalone OAuth 2.0 / OIDC-style token issuer.
//!
//! Module map (one module per concept):
//! - [`keys`]: signing keys, their lifecycle, sealing, the keyring and JWKS;
//! - [`tokens`]: access-token claims and signing;
//! - [`grants`]: the token endpoint, one module per grant;
//! - [`clients`]: client registry and authentication; [`users`]: users and passwords;
//! - [`sessions`]: refresh-token families; [`revocation`]: denylist and feed;
//!   [`session_control`]: revocation, introspection, logout, UserInfo; [`throttle`]: login throttling;
//! - [`authorize`]: browser sign-in (authorization endpoint, login page, RP-initiated
//!   logout); [`browser_session`]: the sealed session cookie;
//! - [`http`], [`app`] and [`transport`] (TLS, CORS): the poem / poem-openapi surface (the
//!   only poem-aware code);
//! - [`storage`], [`entities`]: sea-orm database access;
//! - [`admin`]: who may use the admin API and the audit log of what they changed;
//! - [`config`], [`clock`], [`error`], [`paging`]: plumbing; [`cli`]: the command line.

pub mod admin;
pub mod app;
pub mod authorize;
pub mod browser_session;
pub mod cli;
pub mod clients;
pub mod clock;
pub mod config;
pub mod entities;
pub mod error;
pub mod grants;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod paging;
pub mod ratelimit;
pub mod revocation;
pub mod session_control;
pub mod sessions;
pub mod storage;
pub mod throttle;
pub mod tokens;
pub mod transport;
pub mod users;

pub use app::App;
pub use config::Settings;
