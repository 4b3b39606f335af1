//! The key-encryption key (KEK): seals private signing keys before they reach the database.
//!
//! Sealed format (version 1): `0x01 || kek_id (8) || nonce (12) || AES-256-GCM(ciphertext||tag)`,
//! with the key id (`kid`) as associated data, so a sealed key cannot be moved to another
//! row. Several KEKs may be configured: the first seals, any of them unseals (the one whose
//! id matches), which lets operators rotate the KEK.

use std::{io::Write, path::Path};

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    digest,
    rand::{SecureRandom, SystemRandom},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};

use crate::error::{Error, Result};

const VERSION: u8 = 1;
const KEK_ID_LEN: usize = 8;

struct Entry {
    id: [u8; KEK_ID_LEN],
    key: LessSafeKey,
    /// HKDF input for keys of other purposes (see [`Kek::derive`]).
    ikm: [u8; 32],
}

/// One or more key-encryption keys. Debug output never shows them.
pub struct Kek {
    entries: Vec<Entry>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({} key(s), redacted)", self.entries.len())
    }
}

/// Where the KEK came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KekSource {
    Env,
    File,
    NewFile,
}

impl Kek {
    /// Builds from raw 32-byte keys; the first one seals.
    pub fn from_keys(keys: &[[u8; 32]]) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::Kek("no key-encryption key given".into()));
        }
        let entries = keys
            .iter()
            .map(|k| {
                let d = digest::digest(
                    &digest::SHA256,
                    &[b"tessera-kek-id:".as_slice(), k].concat(),
                );
                let mut id = [0u8; KEK_ID_LEN];
                id.copy_from_slice(&d.as_ref()[..KEK_ID_LEN]);
                let key = LessSafeKey::new(
                    UnboundKey::new(&AES_256_GCM, k).map_err(|_| Error::Kek("bad key".into()))?,
                );
                Ok(Entry { id, key, ikm: *k })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            entries,
            rng: SystemRandom::new(),
        })
    }

    /// Parses a comma-separated list of base64 (standard or URL-safe, padded or not)
    /// 32-byte keys.
    pub fn parse(text: &str) -> Result<Self> {
        let keys = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(decode_key)
            .collect::<Result<Vec<_>>>()?;
        Self::from_keys(&keys)
    }

    /// A new random KEK, base64 encoded (what `keys/kek` holds).
    pub fn generate_encoded() -> Result<String> {
        let mut k = [0u8; 32];
        SystemRandom::new()
            .fill(&mut k)
            .map_err(|_| Error::Crypto("random generator failed".into()))?;
        Ok(STANDARD.encode(k))
    }

    /// Loads the KEK from the setting if present, else from `file`. The file is created
    /// (mode 0600) only when `may_create` is true, i.e. when the database holds no sealed
    /// keys yet: a missing KEK must never lead to new keys replacing unreadable old ones.
    pub fn load(setting: Option<&str>, file: &Path, may_create: bool) -> Result<(Self, KekSource)> {
        if let Some(text) = setting {
            return Ok((Self::parse(text)?, KekSource::Env));
        }
        match std::fs::read_to_string(file) {
            Ok(text) => {
                refuse_if_shared(file)?;
                Ok((Self::parse(&text)?, KekSource::File))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !may_create {
                    return Err(Error::Kek(format!(
                        "no key-encryption key: TESSERA_KEK is unset and {} does not exist, but the \
                         database already holds sealed signing keys. Restore the original KEK \
                         (TESSERA_KEK or {}); Tessera will not replace existing keys.",
                        file.display(),
                        file.display()
                    )));
                }
                let encoded = Self::generate_encoded()?;
                write_private_file(file, &encoded)?;
                Ok((Self::parse(&encoded)?, KekSource::NewFile))
            }
            Err(e) => Err(Error::Kek(format!("cannot read {}: {e}", file.display()))),
        }
    }

    /// A 256-bit key for another purpose (`info` names it, e.g. session cookies) derived
    /// with HKDF-SHA256 from each KEK, the sealing one first: rotating the KEK rotates the
    /// derived keys, and the old ones stay usable to open while the old KEK is listed.
    pub fn derive(&self, info: &[u8]) -> Result<Vec<[u8; 32]>> {
        use aws_lc_rs::hkdf;
        self.entries
            .iter()
            .map(|e| {
                let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"tessera-kek-derive").extract(&e.ikm);
                let info = [info];
                let okm = prk
                    .expand(&info, hkdf::HKDF_SHA256)
                    .map_err(|_| Error::Crypto("key derivation failed".into()))?;
                let mut out = [0u8; 32];
                okm.fill(&mut out)
                    .map_err(|_| Error::Crypto("key derivation failed".into()))?;
                Ok(out)
            })
            .collect()
    }

    /// Seals `plaintext` (a PKCS#8 document) bound to `kid`.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let entry = &self.entries[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| Error::Crypto("random generator failed".into()))?;
        let mut buf = plaintext.to_vec();
        entry
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Error::Crypto("sealing failed".into()))?;
        let mut out = Vec::with_capacity(1 + KEK_ID_LEN + NONCE_LEN + buf.len());
        out.push(VERSION);
        out.extend_from_slice(&entry.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Unseals a blob produced by [`Kek::seal`] for the same `kid`.
    pub fn unseal(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let header = 1 + KEK_ID_LEN + NONCE_LEN;
        if sealed.len() < header + 16 || sealed[0] != VERSION {
            return Err(Error::Kek(format!(
                "sealed key {kid} has an unknown format"
            )));
        }
        let id = &sealed[1..1 + KEK_ID_LEN];
        let entry = self.entries.iter().find(|e| e.id == id).ok_or_else(|| {
            Error::Kek(format!(
                "signing key {kid} was sealed with a different key-encryption key than the one \
                 configured; set TESSERA_KEK (or the kek file) to the KEK that sealed it"
            ))
        })?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1 + KEK_ID_LEN..header]);
        let mut buf = sealed[header..].to_vec();
        let plain = entry
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut buf,
            )
            .map_err(|_| {
                Error::Kek(format!(
                    "sealed key {kid} failed authentication (tampered or wrong KEK)"
                ))
            })?;
        Ok(plain.to_vec())
    }
}

fn decode_key(s: &str) -> Result<[u8; 32]> {
    let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
        .ok_or_else(|| Error::Kek("the key-encryption key is not valid base64".into()))?;
    bytes.try_into().map_err(|_| {
        Error::Kek("the key-encryption key must be 32 bytes (base64 of 32 random bytes)".into())
    })
}

/// K9: a KEK file that group or others may access is refused: whoever reads it can
/// unseal every signing key.
fn refuse_if_shared(file: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)
            .map_err(|e| Error::Kek(format!("cannot read {}: {e}", file.display())))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Kek(format!(
                "the key-encryption key file {path} is accessible to group or others (mode \
                 {mode:04o}); restrict it to its owner with `chmod 600 {path}` and start again",
                // Absolute, so the command works from any directory.
                path = std::path::absolute(file)
                    .unwrap_or_else(|_| file.to_path_buf())
                    .display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

fn write_private_file(path: &Path, contents: &str) -> Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Kek(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| Error::Kek(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::Kek(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_bound_to_kid() {
        let kek = Kek::parse(&Kek::generate_encoded().unwrap()).unwrap();
        let sealed = kek.seal("kid-1", b"private").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        assert_eq!(kek.unseal("kid-1", &sealed).unwrap(), b"private");
        assert!(
            kek.unseal("kid-2", &sealed).is_err(),
            "sealed key moved to another kid"
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(kek.unseal("kid-1", &tampered).is_err());
    }

    #[test]
    fn wrong_kek_is_refused_and_kek_rotation_works() {
        let old = Kek::generate_encoded().unwrap();
        let new = Kek::generate_encoded().unwrap();
        let sealed = Kek::parse(&old).unwrap().seal("k", b"x").unwrap();
        assert!(Kek::parse(&new).unwrap().unseal("k", &sealed).is_err());
        let both = Kek::parse(&format!("{new},{old}")).unwrap();
        assert_eq!(both.unseal("k", &sealed).unwrap(), b"x");
    }

    #[test]
    fn rejects_short_or_garbage_keys() {
        assert!(Kek::parse("c2hvcnQ=").is_err());
        assert!(Kek::parse("!!!").is_err());
        assert!(Kek::parse("").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn kek_file_is_created_0600_and_never_when_keys_exist() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/kek");
        assert!(Kek::load(None, &path, false).is_err());
        assert!(!path.exists());
        let (_, src) = Kek::load(None, &path, true).unwrap();
        assert_eq!(src, KekSource::NewFile);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (_, src) = Kek::load(None, &path, false).unwrap();
        assert_eq!(src, KekSource::File);
    }

    /// K9: a KEK file readable by group or others refuses start-up, naming file and fix.
    #[cfg(unix)]
    #[test]
    fn k9_kek_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        Kek::load(None, &path, true).unwrap();
        for mode in [0o644, 0o640, 0o604] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = Kek::load(None, &path, false).unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(
                err.contains(&format!("chmod 600 {}", path.display())),
                "{err}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(Kek::load(None, &path, false).is_ok());
    }
}
