//! The `pkcs11` custody backend: key pairs generated and used inside a PKCS#11 token
//! (an HSM, SoftHSM2 in tests) through the `cryptoki` crate.
//!
//! - Private keys are created with `CKA_TOKEN=true`, `CKA_SENSITIVE=true`,
//!   `CKA_EXTRACTABLE=false`, `CKA_PRIVATE=true`, and `CKA_ID`/`CKA_LABEL` = the kid, so
//!   the token refuses to export them (H1) and an operator can find them with
//!   `pkcs11-tool --list-objects`.
//! - ES256 signs with `CKM_ECDSA` over the SHA-256 digest computed here (tokens such as
//!   SoftHSM2 2.6 have no `CKM_ECDSA_SHA256`); PKCS#11 returns ECDSA signatures as the
//!   fixed-length `r || s` that JWS wants (PKCS#11 v2.40 §2.3.1), and the length is checked.
//!   RS256 signs with `CKM_SHA256_RSA_PKCS`.
//! - A pool of logged-in sessions serves concurrent signing: a signer takes a session out
//!   of the pool (a short mutex around a `Vec`, never held during the FFI call), signs,
//!   and puts it back. PKCS#11 login is per application and token, so a session opened
//!   after the first login is already logged in.
//! - Signing uses a session-object copy of each key (`pkcs11_session_key_copies`, default
//!   on): `C_CopyObject` with `CKA_TOKEN=false`, made once per key and connection on the
//!   owner session (the one that logged in, never closed while the connection lives, since
//!   session objects die with the session that made them). The copy stays inside the token,
//!   private, sensitive and non-extractable (checked after copying); it saves the token's
//!   per-use checks of its persistent store (SoftHSM2 opens, locks and reads two object
//!   files at every signature with a token object: about 20 system calls, 23 % of an ES256
//!   signature, `docs/hsm.md` "Speed"). A token that refuses the copy (`CKA_COPYABLE=false`, or no
//!   `C_CopyObject`) signs with the token object, as without the setting. Copies are
//!   destroyed with their key, and die with a re-initialisation (the next signature makes new
//!   ones).
//! - Failures (H2): any error of the token while signing marks the connection broken and
//!   surfaces as [`Error::Unavailable`] (503 `temporarily_unavailable`). [`Hsm::check`],
//!   run by every key-manager tick, probes the token and re-initialises the module,
//!   re-opens sessions and logs in again, so the service recovers without a restart.
//!
//! Calls are blocking FFI. They run on the async worker that needs them: SoftHSM2 signs
//! in-process (ES256 ~40-75 µs, RS256 ~1-1.8 ms measured), and `spawn_blocking` would add
//! a ~10 µs round trip for nothing (see `docs/hsm.md`). Key generation (RSA takes up to
//! a second) runs on the blocking pool.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Mutex, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use cryptoki::{
    context::{CInitializeArgs, CInitializeFlags, Pkcs11},
    error::{Error as CkError, RvError},
    mechanism::Mechanism,
    object::{Attribute, AttributeType, ObjectClass, ObjectHandle},
    session::{Session, UserType},
    slot::Slot,
    types::AuthPin,
};

use crate::{
    error::{Error, Result},
    keys::{
        Alg,
        material::{PublicJwk, thumbprint},
    },
};

/// DER of the OID prime256v1 / secp256r1 (1.2.840.10045.3.1.7), the `CKA_EC_PARAMS` of P-256.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// What to open: from the `pkcs11_*` settings.
#[derive(Clone)]
pub struct Pkcs11Config {
    pub module: PathBuf,
    pub token_label: Option<String>,
    pub slot: Option<u64>,
    pub pin: String,
    /// Idle sessions kept open for signing.
    pub sessions: usize,
    /// Sign with session-object copies of the keys (`pkcs11_session_key_copies`).
    pub session_key_copies: bool,
}

impl std::fmt::Debug for Pkcs11Config {
    // The PIN never reaches a log line or a panic message (H4).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("slot", &self.slot)
            .field("pin", &"********")
            .field("sessions", &self.sessions)
            .field("session_key_copies", &self.session_key_copies)
            .finish()
    }
}

/// The module loaded and initialised, the slot found and logged in.
struct Conn {
    ctx: Pkcs11,
    slot: Slot,
    /// Bumped at every re-initialisation: sessions and object handles of an older
    /// generation are invalid (and their numbers may be reused by the new one).
    generation: u64,
    /// The session that logged in. Never closed while the connection lives: closing a
    /// token's last session logs the application out, and the session-object copies of the
    /// keys, made on it, die with it. Used only to find keys and make their copies (a
    /// `Session` is not `Sync`, hence the mutex; signing never waits for it once a key's
    /// handle is cached).
    owner: Mutex<Session>,
}

/// A session lent out of the pool, tagged with the generation that opened it.
struct Pooled {
    session: Session,
    generation: u64,
}

/// A PKCS#11 token holding signing keys.
pub struct Hsm {
    config: Pkcs11Config,
    conn: RwLock<Conn>,
    pool: Mutex<Vec<Pooled>>,
    /// The private-key object each kid signs with (its session copy, or the token object),
    /// for the current generation.
    handles: RwLock<HashMap<String, ObjectHandle>>,
    broken: AtomicBool,
    generation: AtomicU64,
    /// Serialises re-initialisation (one `check` repairs at a time).
    repair: Mutex<()>,
    /// Test hook ([`Hsm::generate_uncopyable_keys`]).
    uncopyable: AtomicBool,
}

impl std::fmt::Debug for Hsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hsm")
            .field("config", &self.config)
            .field("broken", &self.broken.load(Ordering::Relaxed))
            .finish()
    }
}

/// A cryptoki error with the operation that failed, for the log.
fn ck(op: &'static str) -> impl Fn(CkError) -> Error {
    move |e| Error::Crypto(format!("PKCS#11 {op}: {e}"))
}

fn open_conn(config: &Pkcs11Config, generation: u64) -> Result<Conn> {
    if !Path::new(&config.module).exists() {
        return Err(Error::Config(format!(
            "pkcs11_module: {} does not exist",
            config.module.display()
        )));
    }
    let ctx = Pkcs11::new(&config.module).map_err(|e| {
        Error::Config(format!(
            "pkcs11_module: cannot load {}: {e}",
            config.module.display()
        ))
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(Error::Config(format!(
                "pkcs11_module: C_Initialize failed: {e}"
            )));
        }
    }
    let slots = ctx
        .get_slots_with_initialized_token()
        .map_err(ck("C_GetSlotList"))?;
    let slot = match (&config.token_label, config.slot) {
        (_, Some(id)) => slots.into_iter().find(|s| s.id() == id).ok_or_else(|| {
            Error::Config(format!("pkcs11_slot: no initialised token in slot {id}"))
        })?,
        (Some(label), None) => slots
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .map(|i| i.label().trim_end() == label.as_str())
                    .unwrap_or(false)
            })
            .ok_or_else(|| {
                Error::Config(format!(
                    "pkcs11_token_label: no initialised token labelled {label:?}"
                ))
            })?,
        (None, None) => {
            return Err(Error::Config(
                "pkcs11_token_label or pkcs11_slot must be set with key_backend = pkcs11".into(),
            ));
        }
    };
    // `no_drop`, like every session here (see `Conn::open_session`).
    let session = ctx
        .open_rw_session_no_drop(slot)
        .map_err(ck("C_OpenSession"))?;
    let pin = AuthPin::from(config.pin.as_str());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
            let _ = session.close();
            return Err(Error::Config(
                "pkcs11_pin: the token refused the PIN (set TESSERA_PKCS11_PIN or pkcs11_pin_file)"
                    .into(),
            ));
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
            let _ = session.close();
            return Err(Error::Config(
                "pkcs11_pin: the token's user PIN is locked".into(),
            ));
        }
        Err(e) => {
            let _ = session.close();
            return Err(ck("C_Login")(e));
        }
    }
    Ok(Conn {
        ctx,
        slot,
        generation,
        owner: Mutex::new(session),
    })
}

impl Conn {
    fn open_session(&self) -> Result<Session> {
        // `no_drop`: a session of an older generation must never be closed by its Drop,
        // which could close a new session that reuses its handle number.
        self.ctx
            .open_rw_session_no_drop(self.slot)
            .map_err(ck("C_OpenSession"))
    }
}

/// Signing output of the token in JWS form.
fn check_sig(alg: Alg, sig: Vec<u8>) -> Result<Vec<u8>> {
    match alg {
        // PKCS#11 ECDSA output is r || s, each the size of the order (32 bytes for P-256).
        Alg::ES256 if sig.len() != 64 => Err(Error::Crypto(format!(
            "PKCS#11 ECDSA signature of {} bytes (want 64)",
            sig.len()
        ))),
        _ => Ok(sig),
    }
}

impl Hsm {
    /// Loads the module, finds the token and logs in. Errors name the setting at fault
    /// (H3), and never contain the PIN.
    pub fn open(config: Pkcs11Config) -> Result<Hsm> {
        let conn = open_conn(&config, 1)?;
        let hsm = Hsm {
            config,
            conn: RwLock::new(conn),
            pool: Mutex::new(Vec::new()),
            handles: RwLock::new(HashMap::new()),
            broken: AtomicBool::new(false),
            generation: AtomicU64::new(1),
            repair: Mutex::new(()),
            uncopyable: AtomicBool::new(false),
        };
        // Fail at start-up, not at the first token request, if signing sessions cannot open.
        hsm.with_session("open", |_, _| Ok(()))?;
        Ok(hsm)
    }

    /// Whether the token answered the last time it was used.
    pub fn is_healthy(&self) -> bool {
        !self.broken.load(Ordering::Acquire)
    }

    /// A session of the current connection. The caller holds `conn` (read) for as long as
    /// it uses the session, so a re-initialisation (write) never finalizes the module
    /// under a call in flight — C_Finalize during a C_Sign is undefined behaviour (and
    /// crashes SoftHSM2). Readers do not exclude each other: signing stays parallel.
    fn take(&self, conn: &Conn) -> Result<Pooled> {
        // A session opened before a re-initialisation has a dead handle: it is forgotten.
        if let Some(p) = self.pool.lock().map_err(poisoned)?.pop()
            && p.generation == conn.generation
        {
            return Ok(p);
        }
        Ok(Pooled {
            session: conn.open_session()?,
            generation: conn.generation,
        })
    }

    fn give(&self, p: Pooled) {
        if p.generation != self.generation.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < self.config.sessions
        {
            pool.push(p);
            return;
        }
        let _ = p.session.close();
    }

    /// Runs `f` with a pooled session; a token error marks the connection broken and is
    /// reported as unavailability (503), with the detail in the log only.
    fn with_session<T>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Conn, &Session) -> Result<T>,
    ) -> Result<T> {
        if self.broken.load(Ordering::Acquire) {
            return Err(Error::Unavailable("the signing-key HSM"));
        }
        let conn = self.conn.read().map_err(poisoned)?;
        let p = self.take(&conn).inspect_err(|_| self.mark_broken())?;
        match f(&conn, &p.session) {
            Ok(v) => {
                self.give(p);
                Ok(v)
            }
            Err(e) => {
                tracing::error!(operation = what, error = %e, "PKCS#11 token failed; signing paused until it answers again");
                self.mark_broken();
                // The session may be dead: do not return it to the pool.
                Err(Error::Unavailable("the signing-key HSM"))
            }
        }
    }

    fn mark_broken(&self) {
        self.broken.store(true, Ordering::Release);
    }

    /// The cached signing handle of `kid`, if made by this connection.
    fn cached_handle(&self, conn: &Conn, kid: &str) -> Result<Option<ObjectHandle>> {
        // `conn` is read-locked by the caller, so the generation cannot move meanwhile.
        if conn.generation != self.generation.load(Ordering::Acquire) {
            return Ok(None);
        }
        Ok(self.handles.read().map_err(poisoned)?.get(kid).copied())
    }

    /// The object `kid` signs with: its session copy (made here at the first signature of
    /// this connection) or, with copies off or refused by the token, its token object.
    fn private_handle(&self, conn: &Conn, kid: &str) -> Result<ObjectHandle> {
        if let Some(h) = self.cached_handle(conn, kid)? {
            return Ok(h);
        }
        // On the owner session, one caller at a time: one copy per key even when several
        // requests miss the cache together (the second finds the first one's handle).
        let owner = conn.owner.lock().map_err(poisoned)?;
        if let Some(h) = self.cached_handle(conn, kid)? {
            return Ok(h);
        }
        let token_object = find_private(&owner, kid)?.ok_or_else(|| {
            Error::Crypto(format!("no private key with CKA_ID {kid} in the token"))
        })?;
        let h = if self.config.session_key_copies {
            session_copy(&owner, token_object, kid).unwrap_or(token_object)
        } else {
            token_object
        };
        if conn.generation == self.generation.load(Ordering::Acquire) {
            self.handles
                .write()
                .map_err(poisoned)?
                .insert(kid.to_string(), h);
        }
        Ok(h)
    }

    /// Signs `msg` with the token's private key `kid`; the result is the JWS signature.
    pub fn sign(&self, kid: &str, alg: Alg, msg: &[u8]) -> Result<Vec<u8>> {
        let sig = self.with_session("sign", |conn, s| {
            let h = self.private_handle(conn, kid)?;
            match alg {
                Alg::ES256 => {
                    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, msg);
                    s.sign(&Mechanism::Ecdsa, h, digest.as_ref())
                }
                Alg::RS256 => s.sign(&Mechanism::Sha256RsaPkcs, h, msg),
            }
            .map_err(ck("C_Sign"))
        })?;
        check_sig(alg, sig)
    }

    /// Generates a key pair inside the token and returns its public JWK (kid = RFC 7638
    /// thumbprint). The objects are created with a temporary id, then relabelled with the
    /// kid once it is known (the thumbprint needs the public key).
    pub fn generate(&self, alg: Alg, rsa_bits: u32) -> Result<PublicJwk> {
        let mut tmp = [0u8; 16];
        aws_lc_rs::rand::fill(&mut tmp).map_err(|_| Error::Crypto("rng".into()))?;
        let tmp_id = format!("tessera-new-{}", B64.encode(tmp)).into_bytes();
        let mut pub_t = vec![
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Id(tmp_id.clone()),
            Attribute::Label(tmp_id.clone()),
        ];
        let mut priv_t = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Id(tmp_id.clone()),
            Attribute::Label(tmp_id.clone()),
        ];
        if self.uncopyable.load(Ordering::Acquire) {
            priv_t.push(Attribute::Copyable(false));
        }
        let mech = match alg {
            Alg::ES256 => {
                pub_t.push(Attribute::EcParams(P256_PARAMS.to_vec()));
                Mechanism::EccKeyPairGen
            }
            Alg::RS256 => {
                pub_t.push(Attribute::ModulusBits((rsa_bits as u64).into()));
                pub_t.push(Attribute::PublicExponent(vec![1, 0, 1]));
                Mechanism::RsaPkcsKeyPairGen
            }
        };
        let (pub_h, priv_h) = self.with_session("generate", |_, s| {
            s.generate_key_pair(&mech, &pub_t, &priv_t)
                .map_err(ck("C_GenerateKeyPair"))
        })?;
        let jwk = self.with_session("read public key", |_, s| {
            let wanted = match alg {
                Alg::ES256 => vec![AttributeType::EcPoint],
                Alg::RS256 => vec![AttributeType::Modulus, AttributeType::PublicExponent],
            };
            s.get_attributes(pub_h, &wanted)
                .map_err(ck("C_GetAttributeValue"))
        })?;
        let jwk = public_jwk(alg, &jwk)?;
        let id = jwk.kid.as_bytes().to_vec();
        self.with_session("label", |_, s| {
            for h in [pub_h, priv_h] {
                s.update_attributes(
                    h,
                    &[Attribute::Id(id.clone()), Attribute::Label(id.clone())],
                )
                .map_err(ck("C_SetAttributeValue"))?;
            }
            Ok(())
        })?;
        Ok(jwk)
    }

    /// Destroys the key pair `kid` (after it left the JWKS), with its session copy. A key
    /// already gone is fine.
    pub fn destroy(&self, kid: &str) -> Result<()> {
        // Forgotten first: no signature may pick up a handle about to be destroyed.
        if let Ok(mut h) = self.handles.write() {
            h.remove(kid);
        }
        // Every object with the kid as CKA_ID: the public and private token objects and the
        // private key's session copy (session objects are visible to every session of the
        // application that made them).
        let n = self.with_session("destroy", |_, s| {
            let found = s
                .find_objects(&[Attribute::Id(kid.as_bytes().to_vec())])
                .map_err(ck("C_FindObjects"))?;
            for h in &found {
                s.destroy_object(*h).map_err(ck("C_DestroyObject"))?;
            }
            Ok(found.len())
        })?;
        tracing::info!(kid, objects = n, "destroyed HSM key objects");
        Ok(())
    }

    /// Whether the private key `kid` is in the token, as a token object (start-up check of
    /// stored rows).
    pub fn has_key(&self, kid: &str) -> Result<bool> {
        self.with_session("find", |_, s| find_private(s, kid))
            .map(|h| h.is_some())
    }

    /// Probes the token (a session, a login check) and, if it does not answer,
    /// re-initialises the module and logs in again. Called by every key-manager tick;
    /// returns whether the token is usable now.
    pub fn check(&self) -> bool {
        let Ok(_guard) = self.repair.lock() else {
            return false;
        };
        if self.probe() {
            if self.broken.swap(false, Ordering::AcqRel) {
                tracing::warn!("PKCS#11 token answers again; signing resumed");
            }
            return true;
        }
        self.mark_broken();
        // Re-initialise: drop the pool (its sessions died with the old connection),
        // finalize what may be left, load and log in afresh.
        let generation = self.generation.load(Ordering::Acquire) + 1;
        let mut conn = match self.conn.write() {
            Ok(c) => c,
            Err(_) => return false,
        };
        if let Ok(mut pool) = self.pool.lock() {
            pool.drain(..).for_each(std::mem::forget);
        }
        if let Ok(mut h) = self.handles.write() {
            h.clear();
        }
        let _ = conn.ctx.clone().finalize();
        match open_conn(&self.config, generation) {
            Ok(fresh) => {
                *conn = fresh;
                self.generation.store(generation, Ordering::Release);
                drop(conn);
                let ok = self.probe();
                if ok {
                    self.broken.store(false, Ordering::Release);
                    tracing::warn!("PKCS#11 module re-initialised; signing resumed");
                }
                ok
            }
            Err(e) => {
                tracing::warn!(error = %e, "PKCS#11 token still unavailable");
                false
            }
        }
    }

    /// One round trip that needs a logged-in session: finding private objects.
    fn probe(&self) -> bool {
        let Ok(conn) = self.conn.read() else {
            return false;
        };
        let Ok(p) = self.take(&conn) else {
            return false;
        };
        let logged_in = |s: &Session| {
            s.get_session_info()
                .map(|i| format!("{:?}", i.session_state()).contains("User"))
                .unwrap_or(false)
        };
        // The owner session too: the keys' session copies live in it, so a connection whose
        // owner session died is re-initialised (and the copies re-made) like a dead one.
        let ok = p
            .session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .is_ok()
            && logged_in(&p.session)
            && conn.owner.lock().is_ok_and(|o| logged_in(&o));
        if ok {
            self.give(p);
        }
        ok
    }

    /// Test hook for H2: finalizes the module under the running server, as a crashed
    /// HSM client library or a lost connection to a network HSM would; every session and
    /// object handle dies. [`Hsm::check`] recovers.
    #[doc(hidden)]
    pub fn fault_finalize(&self) {
        // Under the write lock, like a repair: never while a call is in flight.
        if let Ok(conn) = self.conn.write() {
            let _ = conn.ctx.clone().finalize();
        }
    }

    /// Test hook for H1: finds every private-key object of `kid` (the token object and,
    /// once the key has signed, its session copy), asks each for its private values
    /// (`CKA_VALUE` for EC, `CKA_PRIVATE_EXPONENT`/`CKA_PRIME_1` for RSA) with raw
    /// `C_GetAttributeValue` calls, and returns, per object, what the token answered
    /// (`Sensitive` = `CKR_ATTRIBUTE_SENSITIVE`), plus its `CKA_TOKEN`, `CKA_SENSITIVE` and
    /// `CKA_EXTRACTABLE` flags, and whether signatures use it.
    #[doc(hidden)]
    pub fn probe_private_values(&self, kid: &str) -> Result<Vec<PrivateProbe>> {
        self.with_session("read private", |conn, s| {
            let signs_with = self.cached_handle(conn, kid)?;
            let found = s
                .find_objects(&[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::Id(kid.as_bytes().to_vec()),
                ])
                .map_err(ck("C_FindObjects"))?;
            let mut probes = Vec::new();
            for h in found {
                let flags = s
                    .get_attributes(
                        h,
                        &[
                            AttributeType::Token,
                            AttributeType::Sensitive,
                            AttributeType::Extractable,
                        ],
                    )
                    .map_err(ck("C_GetAttributeValue"))?;
                let wanted = [
                    AttributeType::Value,
                    AttributeType::PrivateExponent,
                    AttributeType::Prime1,
                ];
                let info = s
                    .get_attribute_info(h, &wanted)
                    .map_err(ck("C_GetAttributeValue"))?;
                probes.push(PrivateProbe {
                    token_object: flags.contains(&Attribute::Token(true)),
                    signs: signs_with == Some(h),
                    sensitive: flags.contains(&Attribute::Sensitive(true)),
                    extractable: flags.contains(&Attribute::Extractable(true)),
                    answers: wanted
                        .iter()
                        .zip(info)
                        .map(|(t, i)| (format!("{t:?}"), format!("{i:?}")))
                        .collect(),
                });
            }
            Ok(probes)
        })
    }

    /// Test hook: the keys generated from now on are `CKA_COPYABLE=false`, as some HSMs
    /// make keys (SoftHSM2 refuses to change the attribute after creation), so that their
    /// signatures meet a token that refuses `C_CopyObject`.
    #[doc(hidden)]
    pub fn generate_uncopyable_keys(&self) {
        self.uncopyable.store(true, Ordering::Release);
    }
}

/// What [`Hsm::probe_private_values`] found about one private-key object.
#[derive(Debug)]
#[doc(hidden)]
pub struct PrivateProbe {
    /// `CKA_TOKEN` (false: a session copy).
    pub token_object: bool,
    /// Whether signatures with the key use this object now.
    pub signs: bool,
    pub sensitive: bool,
    pub extractable: bool,
    /// (attribute, the token's answer to reading it).
    pub answers: Vec<(String, String)>,
}

/// The token object holding the private key `kid` (`CKA_TOKEN=true`: never its session copy).
fn find_private(s: &Session, kid: &str) -> Result<Option<ObjectHandle>> {
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Token(true),
            Attribute::Id(kid.as_bytes().to_vec()),
        ])
        .map_err(ck("C_FindObjects"))?;
    Ok(found.first().copied())
}

/// A session-object copy of the private key `object`, made on the owner session `owner`;
/// `None` (with the reason in the log) when the token refuses to copy it, or makes a copy
/// that is not both sensitive and non-extractable (which PKCS#11 forbids: then it is
/// destroyed and the token object is used).
fn session_copy(owner: &Session, object: ObjectHandle, kid: &str) -> Option<ObjectHandle> {
    let copy = match owner.copy_object(object, &[Attribute::Token(false)]) {
        Ok(h) => h,
        Err(e) => {
            tracing::info!(kid, error = %e, "the PKCS#11 token does not copy this key to a session object; signing with the token object");
            return None;
        }
    };
    let custody = owner.get_attributes(
        copy,
        &[
            AttributeType::Token,
            AttributeType::Private,
            AttributeType::Sensitive,
            AttributeType::Extractable,
        ],
    );
    let kept = custody.as_ref().is_ok_and(|a| {
        [
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
        ]
        .iter()
        .all(|want| a.contains(want))
    });
    if !kept {
        tracing::warn!(
            kid,
            "the PKCS#11 token's session copy of this key is not private, sensitive and non-extractable; destroyed, signing with the token object"
        );
        let _ = owner.destroy_object(copy);
        return None;
    }
    tracing::debug!(kid, "signing with a session-object copy of the key");
    Some(copy)
}

fn poisoned<T>(_: T) -> Error {
    Error::Unavailable("the signing-key HSM")
}

/// The public JWK from the token's public-key attributes.
fn public_jwk(alg: Alg, attrs: &[Attribute]) -> Result<PublicJwk> {
    let mut jwk = PublicJwk {
        kty: String::new(),
        crv: None,
        x: None,
        y: None,
        n: None,
        e: None,
        kid: String::new(),
        use_: "sig".into(),
        alg: alg.as_str().into(),
    };
    match alg {
        Alg::ES256 => {
            let point = attrs
                .iter()
                .find_map(|a| match a {
                    Attribute::EcPoint(p) => Some(p.as_slice()),
                    _ => None,
                })
                .ok_or_else(|| Error::Crypto("token returned no CKA_EC_POINT".into()))?;
            // CKA_EC_POINT is the DER OCTET STRING of the point (04 41 04 x y); some
            // tokens return the raw point: accept both, nothing else.
            let raw = match point {
                [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest,
                p if p.len() == 65 => p,
                _ => return Err(Error::Crypto("unexpected CKA_EC_POINT encoding".into())),
            };
            if raw[0] != 0x04 {
                return Err(Error::Crypto("compressed EC point from the token".into()));
            }
            jwk.kty = "EC".into();
            jwk.crv = Some("P-256".into());
            jwk.x = Some(B64.encode(&raw[1..33]));
            jwk.y = Some(B64.encode(&raw[33..65]));
        }
        Alg::RS256 => {
            let strip = |v: &[u8]| {
                let i = v.iter().position(|b| *b != 0).unwrap_or(v.len());
                v[i..].to_vec()
            };
            for a in attrs {
                match a {
                    Attribute::Modulus(n) => jwk.n = Some(B64.encode(strip(n))),
                    Attribute::PublicExponent(e) => jwk.e = Some(B64.encode(strip(e))),
                    _ => {}
                }
            }
            if jwk.n.is_none() || jwk.e.is_none() {
                return Err(Error::Crypto("token returned no RSA public key".into()));
            }
            jwk.kty = "RSA".into();
        }
    }
    jwk.kid = thumbprint(&jwk);
    Ok(jwk)
}
