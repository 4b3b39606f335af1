//! Whether this instance can serve: the database answers, signing keys are loaded, and
//! the key backend holding them (an HSM, KMS) answers. One rule for `/readyz` and the
//! console's health panel.

use sea_orm::DatabaseConnection;

use crate::keys::{KeyManager, Keyring};

/// What is wrong, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    Database,
    NoSigningKey,
    KeyBackend,
}

impl NotReady {
    /// The short reason `/readyz` answers with.
    pub fn reason(self) -> &'static str {
        match self {
            NotReady::Database => "database unreachable",
            NotReady::NoSigningKey => "no signing key loaded",
            NotReady::KeyBackend => "signing-key HSM unavailable",
        }
    }
}

/// The instance's state, each part checked.
#[derive(Debug, Clone, Copy)]
pub struct Readiness {
    pub database: bool,
    pub keys_loaded: bool,
    pub key_backend: bool,
}

impl Readiness {
    /// Checks the database (one round trip), the keyring and the key backend.
    pub async fn check(
        db: &DatabaseConnection,
        keyring: &Keyring,
        keys: Option<&KeyManager>,
    ) -> Self {
        Readiness {
            database: db.ping().await.is_ok(),
            keys_loaded: !keyring.snapshot().keys().is_empty(),
            key_backend: keys.is_none_or(|k| k.custody().is_ready()),
        }
    }

    /// The first problem, in the order an operator should fix them.
    pub fn problem(&self) -> Option<NotReady> {
        if !self.database {
            Some(NotReady::Database)
        } else if !self.keys_loaded {
            Some(NotReady::NoSigningKey)
        } else if !self.key_backend {
            Some(NotReady::KeyBackend)
        } else {
            None
        }
    }
}
