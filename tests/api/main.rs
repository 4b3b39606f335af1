//! Integration tests: the real server on 127.0.0.1:0, spoken to over HTTP. One test binary
//! (one link) with a module per area. Tests run on SQLite; their PostgreSQL variants (names
//! ending in `postgres`) are ignored by default; run them with
//!
//! ```text
//! TESSERA_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo test --test api -- --ignored postgres
//! ```
//!
//! Without the variable they fail (never pass silently).

mod support;

mod admin;
mod admin_authorisation;
mod auth_method_change;
mod authorize;
mod cli;
mod cli_defaults;
mod device;
mod discovery;
mod dpop;
mod fake_http;
mod faults;
mod federation;
mod hostile;
mod hsm;
mod hygiene;
mod introspection;
mod keys;
#[cfg(feature = "aws-kms")]
mod kms;
mod layout;
mod multi_instance;
mod openapi;
mod ops;
mod page_browser;
mod pages_account;
mod pages_admin_crud;
mod pages_console;
mod pages_signup;
mod private_key_jwt;
mod procs;
mod refresh;
mod remote_jwks;
mod scale;
mod token;
mod token_exchange;
mod transport;
mod userinfo;
mod users;
