//! sea-orm entities, one per table (schema in the `tessera-migrations` crate).

pub mod client;
pub mod signing_key;
