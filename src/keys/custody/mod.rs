//! Key custody: who holds the private half of a signing key, and signs with it.
//!
//! The lifecycle (`lifecycle`, `manager`) is the same for every backend; it asks the
//! custody to create a key, to load a stored key for signing, and to destroy a key once
//! it has left the JWKS. Backends:
//!
//! - `local` (default): generated with aws-lc-rs, stored sealed with the KEK in
//!   `signing_keys.sealed_private_key` (`material`, `kek`).
//! - `pkcs11`: generated and used inside a PKCS#11 token ([`pkcs11`]); the database keeps
//!   the kid, public JWK, backend and an RFC 7512 reference, never private material.
//! - `aws-kms` (cargo feature `aws-kms`): created and used inside AWS KMS ([`aws_kms`]);
//!   the row keeps the KMS key ARN.
//!
//! `key_backend` chooses where NEW keys go. Stored keys are used by the backend recorded
//! on their row, so switching `local` → `pkcs11` is a rotation: the next keys are made in
//! the HSM and pre-published while the local ones retire normally (`docs/hsm.md`).

#[cfg(feature = "aws-kms")]
pub mod aws_kms;
pub mod pkcs11;

use std::{fmt, str::FromStr, sync::Arc};

use aws_lc_rs::rand::SystemRandom;
use serde::{Deserialize, Deserializer, Serialize};

use super::{
    Alg, Kek,
    material::{PrivateKey, PublicJwk},
    store,
};
use crate::error::{Error, Result};
#[cfg(feature = "aws-kms")]
pub use aws_kms::{Kms, KmsConfig};
pub use pkcs11::{Hsm, Pkcs11Config};

/// Where the private half of a signing key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeyBackend {
    /// Sealed with the KEK in the database (the default).
    #[default]
    Local,
    /// Inside a PKCS#11 token (HSM).
    Pkcs11,
    /// Inside AWS KMS (cargo feature `aws-kms`).
    #[cfg(feature = "aws-kms")]
    #[serde(rename = "aws-kms")]
    AwsKms,
}

// Through `FromStr`, so that `aws-kms` in a build without the feature names the feature.
impl<'de> Deserialize<'de> for KeyBackend {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl KeyBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyBackend::Local => "local",
            KeyBackend::Pkcs11 => "pkcs11",
            #[cfg(feature = "aws-kms")]
            KeyBackend::AwsKms => "aws-kms",
        }
    }
}

impl fmt::Display for KeyBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(KeyBackend::Local),
            "pkcs11" => Ok(KeyBackend::Pkcs11),
            #[cfg(feature = "aws-kms")]
            "aws-kms" => Ok(KeyBackend::AwsKms),
            #[cfg(not(feature = "aws-kms"))]
            "aws-kms" => Err(
                "key backend \"aws-kms\" needs a tessera built with the cargo feature aws-kms \
                 (cargo build --release --features aws-kms)"
                    .into(),
            ),
            other => Err(format!(
                "unknown key backend {other:?} (use local, pkcs11 or aws-kms)"
            )),
        }
    }
}

/// What signs for a loaded key.
pub enum Signer {
    Local(PrivateKey),
    Pkcs11 {
        hsm: Arc<Hsm>,
        kid: String,
        alg: Alg,
    },
    #[cfg(feature = "aws-kms")]
    AwsKms {
        kms: Arc<Kms>,
        /// The key ARN (the row's `key_ref`).
        key_id: String,
        alg: Alg,
    },
}

impl fmt::Debug for Signer {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signer::Local(k) => k.fmt(f),
            Signer::Pkcs11 { kid, alg, .. } => write!(f, "Pkcs11({alg}, {kid})"),
            #[cfg(feature = "aws-kms")]
            Signer::AwsKms { key_id, alg, .. } => write!(f, "AwsKms({alg}, {key_id})"),
        }
    }
}

impl Signer {
    /// The JWS signature of `msg` (raw r||s for ES256).
    pub fn sign(&self, rng: &SystemRandom, msg: &[u8]) -> Result<Vec<u8>> {
        match self {
            Signer::Local(k) => k.sign(rng, msg),
            // Called on the async worker: SoftHSM2 signs in-process in ~40-75 µs (ES256),
            // and a spawn_blocking hand-off would only add ~10 µs (docs/hsm.md, "What
            // happens in the token").
            Signer::Pkcs11 { hsm, kid, alg } => hsm.sign(kid, *alg, msg),
            // A network round trip: waited for off the async worker (`aws_kms` header).
            #[cfg(feature = "aws-kms")]
            Signer::AwsKms { kms, key_id, alg } => kms.sign(key_id, *alg, msg),
        }
    }

    pub fn backend(&self) -> KeyBackend {
        match self {
            Signer::Local(_) => KeyBackend::Local,
            Signer::Pkcs11 { .. } => KeyBackend::Pkcs11,
            #[cfg(feature = "aws-kms")]
            Signer::AwsKms { .. } => KeyBackend::AwsKms,
        }
    }
}

/// A key just created by a backend, ready to be stored.
pub struct Created {
    pub jwk: PublicJwk,
    pub backend: KeyBackend,
    pub key_ref: String,
    /// The sealed PKCS#8 of a `local` key; empty for external backends.
    pub sealed: Vec<u8>,
}

/// The configured backends: `local` always (stored local keys keep working after a
/// switch), `pkcs11` when configured.
pub struct Custody {
    /// Where new keys are created.
    backend: KeyBackend,
    kek: Arc<Kek>,
    hsm: Option<Arc<Hsm>>,
    #[cfg(feature = "aws-kms")]
    kms: Option<Arc<Kms>>,
    /// The token label or slot, for the RFC 7512 references stored on rows.
    token_ref: String,
}

impl fmt::Debug for Custody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Custody")
            .field("backend", &self.backend)
            .field("hsm", &self.hsm)
            .finish_non_exhaustive()
    }
}

impl Custody {
    /// Only the local backend (tests, tools that never touch an HSM).
    pub fn local(kek: Arc<Kek>) -> Self {
        Self {
            backend: KeyBackend::Local,
            kek,
            hsm: None,
            #[cfg(feature = "aws-kms")]
            kms: None,
            token_ref: String::new(),
        }
    }

    /// The backends the settings ask for (`Settings::custody`). Opening the PKCS#11
    /// module, finding the token and logging in happen here, so a wrong module path or
    /// PIN stops the process at start-up with a message naming the setting (H3).
    pub fn open(settings: &CustodySettings, kek: Arc<Kek>) -> Result<Self> {
        let config = pkcs11_config(settings)?;
        let token_ref = match (&settings.pkcs11_token_label, settings.pkcs11_slot) {
            (_, Some(slot)) => format!("slot-id={slot}"),
            (Some(label), None) => format!("token={}", pct_encode(label)),
            (None, None) => String::new(),
        };
        let hsm = match config {
            Some(c) => Some(Arc::new(Hsm::open(c)?)),
            None => None,
        };
        #[cfg(feature = "aws-kms")]
        let kms = match aws_kms_config(settings)? {
            Some(c) => Some(Arc::new(Kms::open(c)?)),
            None => None,
        };
        Ok(Self {
            backend: settings.key_backend,
            kek,
            hsm,
            #[cfg(feature = "aws-kms")]
            kms,
            token_ref,
        })
    }

    pub fn backend(&self) -> KeyBackend {
        self.backend
    }

    /// The PKCS#11 token, when configured.
    pub fn hsm(&self) -> Option<&Arc<Hsm>> {
        self.hsm.as_ref()
    }

    fn need_hsm(&self) -> Result<&Arc<Hsm>> {
        self.hsm.as_ref().ok_or_else(|| {
            Error::Config(
                "a signing key is held by a PKCS#11 token but pkcs11_module is not set".into(),
            )
        })
    }

    #[cfg(feature = "aws-kms")]
    fn need_kms(&self) -> Result<&Arc<Kms>> {
        self.kms.as_ref().ok_or_else(|| {
            Error::Config("a signing key is held by AWS KMS but aws_kms_region is not set".into())
        })
    }

    /// Creates a key of `alg` in the configured backend.
    pub async fn generate(&self, alg: Alg, rsa_bits: u32) -> Result<Created> {
        match self.backend {
            KeyBackend::Local => {
                let (key, pkcs8) =
                    tokio::task::spawn_blocking(move || PrivateKey::generate(alg, rsa_bits))
                        .await
                        .map_err(|e| Error::Crypto(format!("key generation task failed: {e}")))??;
                let jwk = key.public_jwk();
                let sealed = self.kek.seal(&jwk.kid, &pkcs8)?;
                Ok(Created {
                    jwk,
                    backend: KeyBackend::Local,
                    key_ref: String::new(),
                    sealed,
                })
            }
            KeyBackend::Pkcs11 => {
                let hsm = self.need_hsm()?.clone();
                let jwk = tokio::task::spawn_blocking(move || hsm.generate(alg, rsa_bits))
                    .await
                    .map_err(|e| Error::Crypto(format!("key generation task failed: {e}")))??;
                Ok(Created {
                    key_ref: format!(
                        "pkcs11:{};id={};type=private",
                        self.token_ref,
                        pct_encode(&jwk.kid)
                    ),
                    jwk,
                    backend: KeyBackend::Pkcs11,
                    sealed: Vec::new(),
                })
            }
            #[cfg(feature = "aws-kms")]
            KeyBackend::AwsKms => {
                let (jwk, arn) = self.need_kms()?.generate(alg, rsa_bits).await?;
                Ok(Created {
                    jwk,
                    backend: KeyBackend::AwsKms,
                    key_ref: arn,
                    sealed: Vec::new(),
                })
            }
        }
    }

    /// Loads a stored key for signing, by the backend recorded on its row.
    pub fn load(&self, row: &store::Row) -> Result<Signer> {
        let alg: Alg = row.alg.parse().map_err(Error::Crypto)?;
        match row_backend(row)? {
            KeyBackend::Local => {
                let pkcs8 = self.kek.unseal(&row.kid, &row.sealed_private_key)?;
                let key = PrivateKey::from_pkcs8(alg, &pkcs8)?;
                if key.public_jwk().kid != row.kid {
                    return Err(Error::Crypto(format!(
                        "key {} does not match its kid",
                        row.kid
                    )));
                }
                Ok(Signer::Local(key))
            }
            // No call to the token here: publishing a key must not depend on the HSM
            // answering (H2: the JWKS is served while it is down). The private object is
            // looked up at the first signature.
            KeyBackend::Pkcs11 => Ok(Signer::Pkcs11 {
                hsm: self.need_hsm()?.clone(),
                kid: row.kid.clone(),
                alg,
            }),
            // As for PKCS#11: no call to KMS to publish a key.
            #[cfg(feature = "aws-kms")]
            KeyBackend::AwsKms => Ok(Signer::AwsKms {
                kms: self.need_kms()?.clone(),
                key_id: row.key_ref.clone(),
                alg,
            }),
        }
    }

    /// Start-up check of a stored, unrevoked key: a wrong KEK, a missing token or a key
    /// absent from it stops the process instead of letting it make replacement keys.
    pub async fn check(&self, row: &store::Row) -> Result<()> {
        match row_backend(row)? {
            KeyBackend::Local => self.kek.unseal(&row.kid, &row.sealed_private_key).map(drop),
            KeyBackend::Pkcs11 => {
                if self.need_hsm()?.has_key(&row.kid)? {
                    Ok(())
                } else {
                    Err(Error::Config(format!(
                        "signing key {} is not in the PKCS#11 token (pkcs11_token_label / pkcs11_slot)",
                        row.kid
                    )))
                }
            }
            #[cfg(feature = "aws-kms")]
            KeyBackend::AwsKms => {
                let alg: Alg = row.alg.parse().map_err(Error::Crypto)?;
                self.need_kms()?
                    .check_key(&row.key_ref, alg, &row.kid)
                    .await
            }
        }
    }

    /// Destroys the private key of a row that left the JWKS (removed or revoked).
    /// Local keys go with their row; HSM objects are destroyed in the token; KMS keys
    /// are scheduled for deletion (KMS's minimum window is 7 days).
    pub async fn destroy(&self, row: &store::Row) -> Result<()> {
        match row_backend(row)? {
            KeyBackend::Local => Ok(()),
            KeyBackend::Pkcs11 => self.need_hsm()?.destroy(&row.kid),
            #[cfg(feature = "aws-kms")]
            KeyBackend::AwsKms => self.need_kms()?.schedule_deletion(&row.key_ref).await,
        }
    }

    /// Whether every configured backend can sign now (`/readyz`).
    pub fn is_ready(&self) -> bool {
        let ready = self.hsm.as_ref().is_none_or(|h| h.is_healthy());
        #[cfg(feature = "aws-kms")]
        let ready = ready && self.kms.as_ref().is_none_or(|k| k.is_healthy());
        ready
    }

    /// Probes the external backends and reconnects the ones that stopped answering
    /// (every key-manager tick): recovery without a restart (H2).
    pub async fn heal(&self) {
        if let Some(hsm) = self.hsm.clone() {
            let _ = tokio::task::spawn_blocking(move || hsm.check()).await;
        }
        #[cfg(feature = "aws-kms")]
        if let Some(kms) = &self.kms {
            kms.check().await;
        }
    }
}

fn row_backend(row: &store::Row) -> Result<KeyBackend> {
    row.backend.parse().map_err(Error::Corrupt)
}

/// RFC 7512 / RFC 3986 percent-encoding of a path attribute value.
fn pct_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The custody settings (`key_backend`, `pkcs11_*`), as `config::Settings` gives them.
#[derive(Clone, Default)]
pub struct CustodySettings {
    pub key_backend: KeyBackend,
    pub pkcs11_module: Option<std::path::PathBuf>,
    pub pkcs11_token_label: Option<String>,
    pub pkcs11_slot: Option<u64>,
    pub pkcs11_pin: Option<String>,
    pub pkcs11_pin_file: Option<std::path::PathBuf>,
    pub pkcs11_sessions: u32,
    pub pkcs11_session_key_copies: bool,
    pub aws_kms_region: Option<String>,
    pub aws_kms_endpoint_url: Option<String>,
    pub aws_kms_timeout: std::time::Duration,
}

/// The AWS KMS settings, with credentials from the `AWS_*` environment, when
/// `key_backend = aws-kms` or a region is configured (stored KMS keys stay usable after
/// switching back to `local`).
#[cfg(feature = "aws-kms")]
pub fn aws_kms_config(settings: &CustodySettings) -> Result<Option<KmsConfig>> {
    let region = match (&settings.aws_kms_region, settings.key_backend) {
        (Some(r), _) => r.clone(),
        (None, KeyBackend::AwsKms) => {
            return Err(Error::Config(
                "aws_kms_region must be set with key_backend = aws-kms".into(),
            ));
        }
        (None, _) => return Ok(None),
    };
    Ok(Some(KmsConfig {
        region,
        endpoint: settings.aws_kms_endpoint_url.clone(),
        timeout: settings.aws_kms_timeout,
        credentials: KmsConfig::credentials_from_env()?,
    }))
}

/// The PKCS#11 settings, with the PIN from `pkcs11_pin` (`TESSERA_PKCS11_PIN`) or
/// `pkcs11_pin_file`, when `key_backend = pkcs11` or a module is configured (stored
/// HSM keys stay usable after switching back to `local`).
pub fn pkcs11_config(settings: &CustodySettings) -> Result<Option<Pkcs11Config>> {
    let module = match (&settings.pkcs11_module, settings.key_backend) {
        (Some(m), _) => m.clone(),
        (None, KeyBackend::Pkcs11) => {
            return Err(Error::Config(
                "pkcs11_module must be set with key_backend = pkcs11".into(),
            ));
        }
        (None, _) => return Ok(None),
    };
    let pin = match (&settings.pkcs11_pin, &settings.pkcs11_pin_file) {
        (Some(pin), _) => pin.clone(),
        (None, Some(path)) => read_pin_file(path)?,
        (None, None) => {
            return Err(Error::Config(
                "pkcs11_pin: set TESSERA_PKCS11_PIN or pkcs11_pin_file".into(),
            ));
        }
    };
    Ok(Some(Pkcs11Config {
        module,
        token_label: settings.pkcs11_token_label.clone(),
        slot: settings.pkcs11_slot,
        pin,
        sessions: settings.pkcs11_sessions.max(1) as usize,
        session_key_copies: settings.pkcs11_session_key_copies,
    }))
}

/// Reads a PIN file, refusing one that others than its owner may read (H4).
fn read_pin_file(path: &std::path::Path) -> Result<String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::Config(format!("pkcs11_pin_file: {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Config(format!(
                "pkcs11_pin_file: {} has mode {mode:o}; it must not be readable by group or others (chmod 600)",
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("pkcs11_pin_file: {}: {e}", path.display())))?;
    let pin = text.trim_end_matches(['\r', '\n']).to_string();
    if pin.is_empty() {
        return Err(Error::Config(format!(
            "pkcs11_pin_file: {} is empty",
            path.display()
        )));
    }
    Ok(pin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip() {
        for b in [KeyBackend::Local, KeyBackend::Pkcs11] {
            assert_eq!(b.as_str().parse::<KeyBackend>().unwrap(), b);
        }
        #[cfg(feature = "aws-kms")]
        assert_eq!("aws-kms".parse::<KeyBackend>().unwrap(), KeyBackend::AwsKms);
        // Without the feature the setting is refused with the feature's name.
        #[cfg(not(feature = "aws-kms"))]
        assert!(
            "aws-kms"
                .parse::<KeyBackend>()
                .unwrap_err()
                .contains("--features aws-kms")
        );
    }

    /// H4: a PIN file readable by group or others is refused, naming the setting; 0600 is read.
    #[cfg(unix)]
    #[test]
    fn pin_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, "1234\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = read_pin_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("pkcs11_pin_file") && err.contains("640"),
            "{err}"
        );
        assert!(!err.contains("1234"), "the PIN must not appear: {err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_pin_file(&path).unwrap(), "1234");
    }

    #[test]
    fn pkcs11_reference_is_percent_encoded() {
        assert_eq!(pct_encode("my token/1"), "my%20token%2F1");
        assert_eq!(pct_encode("ab-_.~Z9"), "ab-_.~Z9");
    }
}
