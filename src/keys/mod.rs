//! Signing keys: generation, sealing at rest, the rotation lifecycle, the in-memory
//! keyring used to sign, and the public JWKS.
//!
//! Lifecycle (all instances derive a key's state from stored timestamps, so they agree
//! without talking to each other):
//! `NEXT` (published, signs nothing) → `ACTIVE` at `activates_at` → `RETIRED` when a newer
//! key activates (still published) → removed once every token it signed has expired.
//! `REVOKED` keys leave the JWKS at once.

pub mod custody;
pub mod kek;
pub mod keyring;
pub mod lifecycle;
pub mod manager;
pub mod material;
pub mod store;

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

pub use custody::{Custody, KeyBackend};
pub use kek::Kek;
pub use keyring::{Keyring, SigningKey};
pub use lifecycle::KeyState;
pub use manager::KeyManager;

/// A JWS signature algorithm Tessera signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4). Cheap to sign: the default.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3). Required by OIDC for ID tokens.
    RS256,
}

impl Alg {
    pub const ALL: [Alg; 2] = [Alg::ES256, Alg::RS256];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::RS256 => "RS256",
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Alg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" | "es256" => Ok(Alg::ES256),
            "RS256" | "rs256" => Ok(Alg::RS256),
            other => Err(format!(
                "unsupported algorithm {other:?} (use ES256 or RS256)"
            )),
        }
    }
}
