//! sea-orm entities, one per table (schema in the `tessera-migrations` crate).

pub mod admin_audit;
pub mod authorization_code;
pub mod browser_session;
pub mod browser_session_family;
pub mod client;
pub mod client_federated_identity;
pub mod device_code;
pub mod federation;
pub mod refresh_family;
pub mod refresh_token;
pub mod registry_version;
pub mod revocation_event;
pub mod signing_key;
pub mod user;
