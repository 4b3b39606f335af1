//! Integration tests of tessera-verify (one binary to save link time).
//!
//! - `rules`: security rows V1–V10 against a static JWK Set and a fixed clock;
//! - `wycheproof`: V4 signature vectors;
//! - `cache`: discovery, caching, refresh, V11 (unknown-kid storm), V12 (issuer down);
//! - `revocation`: the revocation feed client;
//! - `middleware`: poem and tower integrations (RFC 6750 answers);
//! - `server`: against the real Tessera server (V12, V13, real tokens, the CLI report).

mod cache;
mod dpop;
mod dpop_interop;
mod dpop_request;
mod fake;
mod forge;
mod middleware;
mod revocation;
mod rules;
mod server;
mod wycheproof;
