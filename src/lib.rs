//! Tessera: a standalone OAuth 2.0 / OpenID Connect token issuer.
//!
//! Module map (one module per concept; CONTRIBUTING.md has the same map):
//! - [`context`]: the domain's one hallway, [`context::Context`], built once;
//! - [`grants`]: the token endpoint, a typed request and one module per grant;
//!   [`client_auth`]: client authentication, one module per method;
//! - [`authorize`]: browser sign-in (authorization endpoint, login form, RP-initiated
//!   logout); [`authorization_codes`]: codes and PKCE; [`browser_cookies`]: the sealed
//!   session and CSRF cookies;
//! - [`token_status`]: introspection and UserInfo; [`token_revocation`]: revocation,
//!   logout, the revocation feed; [`revocation`]: the denylist behind them;
//! - [`clients`]: the client registry and its redirect-URI rules; [`accounts`]: users, the
//!   one password check, and the account changes that end sessions;
//!   [`refresh_families`]: rotating refresh tokens;
//! - [`scope`]: scope and audience rules; [`secrets`]: random values and secret hashing;
//!   [`params`]: strict form parameters; [`token_rate_limits`]: token-endpoint limits;
//!   [`ip_net`]: IP networks of the `trusted_proxies` setting; [`replay`]: single-use
//!   values (DPoP proof and client assertion `jti`s) across instances; [`dpop`]: DPoP
//!   (RFC 9449) proofs, server nonces and key-bound tokens;
//! - [`keys`]: signing keys, their lifecycle, sealing, the keyring and JWKS;
//!   [`tokens`]: signing and verifying our own tokens;
//! - [`admin`]: who may use the admin API, and the audit log;
//! - [`pages`]: the admin console and the account page (server-rendered; sign-in,
//!   page session, CSRF); [`readiness`]: whether this instance can serve;
//! - [`http`] and [`app`]: the poem / poem-openapi surface and the server (the only
//!   poem-aware code, with [`cli`]);
//! - [`storage`], [`entities`]: sea-orm database access; [`config`], [`clock`],
//!   [`error`], [`metrics`], [`paging`]: plumbing; [`cli`]: the command line.

pub mod accounts;
pub mod admin;
pub mod app;
pub mod authorization_codes;
pub mod authorize;
pub mod browser_cookies;
pub mod cli;
pub mod client_auth;
pub mod clients;
pub mod clock;
pub mod config;
pub mod context;
pub mod device;
pub mod device_codes;
pub mod dpop;
pub mod entities;
pub mod error;
pub mod federation;
pub mod grants;
pub mod http;
pub mod ip_net;
pub mod keys;
pub mod metrics;
pub mod pages;
pub mod paging;
pub mod params;
#[cfg(test)]
mod query_plans;
pub mod readiness;
pub mod refresh_families;
pub mod remote_jwks;
pub mod replay;
pub mod revocation;
pub mod scope;
pub mod secrets;
pub mod storage;
pub mod token_rate_limits;
pub mod token_revocation;
pub mod token_status;
pub mod tokens;

pub use app::App;
pub use config::Settings;
