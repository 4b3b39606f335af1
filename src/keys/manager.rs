//! The key manager: runs the rotation schedule against the database and keeps the
//! in-memory keyring in step with the key table.
//!
//! Every instance runs [`KeyManager::tick`] every `key_refresh_interval` (polling, default
//! 2 s): it creates the next key when due (the `(alg, succeeds)` unique index makes exactly
//! one instance win), deletes keys whose tokens have all expired, and rebuilds the keyring
//! when the set of published keys changed — which also picks up `tessera keys rotate` and
//! `revoke` run from the CLI against the same database.

use std::{collections::HashMap, sync::Arc};

use sea_orm::DatabaseConnection;

use super::{
    Alg, Custody, Keyring, SigningKey,
    keyring::Snapshot,
    lifecycle::{self, KeyState, KeyTimes, Policy},
    material::{PublicJwk, thumbprint},
    store,
};
use crate::{
    clock::SharedClock,
    error::{Error, Result},
};

/// One stored key with its state at a given time (for `keys list` and the admin API).
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    /// Who holds the private key: `local` or `pkcs11`.
    pub backend: String,
    pub state: &'static str,
    pub created_at: i64,
    pub activates_at: i64,
    /// When it stopped (or will stop) signing, if a successor exists.
    pub retired_at: Option<i64>,
    /// When it leaves the JWKS (retired keys).
    pub unpublish_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub struct KeyManager {
    db: DatabaseConnection,
    custody: Arc<Custody>,
    keyring: Arc<Keyring>,
    clock: SharedClock,
    policy: Policy,
    rsa_bits: u32,
    /// Unsealed keys by kid, so a refresh does not re-parse unchanged keys.
    loaded: tokio::sync::Mutex<HashMap<String, Arc<SigningKey>>>,
}

impl KeyManager {
    pub fn new(
        db: DatabaseConnection,
        custody: Arc<Custody>,
        keyring: Arc<Keyring>,
        clock: SharedClock,
        policy: Policy,
        rsa_bits: u32,
    ) -> Self {
        Self {
            db,
            custody,
            keyring,
            clock,
            policy,
            rsa_bits,
            loaded: Default::default(),
        }
    }

    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }

    /// The key backends (readiness, test hooks).
    pub fn custody(&self) -> &Arc<Custody> {
        &self.custody
    }

    /// Creates due keys, purges expired ones and refreshes the keyring.
    ///
    /// At start-up every published key must unseal (or, in an HSM, be found): a wrong
    /// KEK or token stops the process here instead of letting it generate replacement
    /// keys. Later, a key that fails to load is logged and left out (neither published nor
    /// used by this instance).
    pub async fn tick(&self, strict: bool) -> Result<()> {
        if !strict {
            // Probe the HSM and reconnect if it stopped answering (H2).
            self.custody.heal().await;
        }
        let now = self.clock.now();
        let mut rows = store::list(&self.db).await?;
        if strict {
            self.check_all(&rows).await?;
        }
        let mut inserted = false;
        for alg in Alg::ALL {
            let times = lifecycle::of_alg(&store::times(&rows), alg);
            let due = lifecycle::next_key_due(&times, now, &self.policy).or_else(|| {
                // `key_backend` changed: the next key is made in the new backend and
                // pre-published like any rotation; the old keys retire normally.
                let newest = rows
                    .iter()
                    .filter(|r| r.alg == alg.as_str() && r.revoked_at.is_none())
                    .max_by_key(|r| (r.activates_at, r.created_at))?;
                (newest.backend != self.custody.backend().as_str())
                    .then(|| lifecycle::backend_switch_activation(&times, now, &self.policy))
            });
            if let Some(activates_at) = due {
                // Re-read whether this instance won or another one did: either way the
                // key table changed, and the loser must load the winner's key now.
                match self.create_key(alg, &times, activates_at).await {
                    Ok(_) => inserted = true,
                    // An HSM that is down must not stop this instance from serving the
                    // keys it has and picking up other instances' keys: retried next tick.
                    Err(e) if !strict && e.is_unavailable() => {
                        tracing::warn!(alg = %alg, error = %e, "cannot create the next signing key now")
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if inserted {
            rows = store::list(&self.db).await?;
        }
        let now = self.clock.now();
        let times = store::times(&rows);
        let mut published = Vec::new();
        let mut expired = Vec::new();
        for alg in Alg::ALL {
            for (kid, state) in
                lifecycle::states(&lifecycle::of_alg(&times, alg), now, &self.policy)
            {
                match state {
                    s if s.is_published() => published.push(kid),
                    KeyState::Expired => expired.push(kid),
                    KeyState::Revoked => {
                        let revoked_at = rows
                            .iter()
                            .find(|r| r.kid == kid)
                            .and_then(|r| r.revoked_at);
                        if revoked_at.is_some_and(|t| now >= t + self.policy.retention) {
                            expired.push(kid);
                        }
                    }
                    _ => {}
                }
            }
        }
        // A key that left the JWKS for good is destroyed in its backend first, then its
        // row: if the HSM cannot destroy it now, the row stays and the next tick retries.
        let mut gone = Vec::with_capacity(expired.len());
        for kid in expired {
            let Some(row) = rows.iter().find(|r| r.kid == kid) else {
                continue;
            };
            match self.custody.destroy(row).await {
                Ok(()) => gone.push(kid),
                Err(e) => {
                    tracing::warn!(kid = %kid, error = %e, "cannot destroy a removed key now; retrying later")
                }
            }
        }
        store::delete(&self.db, &gone).await?;
        self.rebuild(&rows, &published).await
    }

    async fn check_all(&self, rows: &[store::Row]) -> Result<()> {
        for r in rows.iter().filter(|r| r.revoked_at.is_none()) {
            self.custody.check(r).await?;
        }
        Ok(())
    }

    /// Generates, seals and stores a key of `alg` activating at `activates_at`, as the
    /// successor of the newest existing key. Returns its kid if this call created it.
    async fn create_key(
        &self,
        alg: Alg,
        times: &[KeyTimes],
        activates_at: i64,
    ) -> Result<Option<String>> {
        let succeeds = times
            .iter()
            .max_by_key(|k| (k.created_at, k.activates_at))
            .map(|k| k.kid.clone())
            .unwrap_or_default();
        let created = self.custody.generate(alg, self.rsa_bits).await?;
        let jwk = created.jwk;
        let row = store::Row {
            kid: jwk.kid.clone(),
            alg: alg.as_str().into(),
            succeeds,
            public_jwk: serde_json::to_string(&jwk).map_err(|e| Error::Crypto(e.to_string()))?,
            sealed_private_key: created.sealed,
            created_at: self.clock.now(),
            activates_at,
            revoked_at: None,
            backend: created.backend.as_str().into(),
            key_ref: created.key_ref,
        };
        let loser = row.clone();
        let inserted = store::insert_guarded(&self.db, row).await?;
        if inserted {
            tracing::info!(kid = %jwk.kid, alg = %alg, activates_at, "created signing key");
            Ok(Some(jwk.kid))
        } else {
            tracing::debug!(alg = %alg, "another instance created the next key first");
            // Leave nothing behind in an HSM for a key no row will ever name.
            if let Err(e) = self.custody.destroy(&loser).await {
                tracing::warn!(kid = %jwk.kid, error = %e, "cannot destroy an unused HSM key");
            }
            Ok(None)
        }
    }

    async fn rebuild(&self, rows: &[store::Row], published: &[String]) -> Result<()> {
        let current = self.keyring.snapshot();
        let mut want: Vec<&str> = published.iter().map(String::as_str).collect();
        want.sort_unstable();
        let mut have = current.kids();
        have.sort_unstable();
        if want == have && !current.jwks.is_empty() {
            return Ok(());
        }
        let mut loaded = self.loaded.lock().await;
        let mut keys = Vec::with_capacity(published.len());
        for kid in published {
            if let Some(k) = loaded.get(kid) {
                keys.push(k.clone());
                continue;
            }
            let Some(row) = rows.iter().find(|r| &r.kid == kid) else {
                continue;
            };
            match self.load_row(row) {
                Ok(k) => {
                    let k = Arc::new(k);
                    loaded.insert(kid.clone(), k.clone());
                    keys.push(k);
                }
                Err(e) => {
                    tracing::error!(kid = %kid, error = %e, "cannot load signing key; leaving it out")
                }
            }
        }
        loaded.retain(|kid, _| published.contains(kid));
        let snapshot = Snapshot::new(keys);
        tracing::info!(kids = ?snapshot.kids(), "keyring updated");
        self.keyring.replace(snapshot);
        Ok(())
    }

    fn load_row(&self, row: &store::Row) -> Result<SigningKey> {
        let jwk: PublicJwk = serde_json::from_str(&row.public_jwk)
            .map_err(|e| Error::Corrupt(format!("public key of {}: {e}", row.kid)))?;
        if thumbprint(&jwk) != row.kid || jwk.alg != row.alg {
            return Err(Error::Crypto(format!(
                "key {} does not match its kid",
                row.kid
            )));
        }
        let signer = self.custody.load(row)?;
        SigningKey::new(row.kid.clone(), row.activates_at, jwk, signer)
    }

    /// `tessera keys rotate`: publishes a new key per algorithm now. It activates after
    /// the pre-publication period, or at once with `now = true` (emergencies) — it is
    /// still in the JWKS of every snapshot that signs with it.
    pub async fn rotate(&self, algs: &[Alg], immediately: bool) -> Result<Vec<String>> {
        let now = self.clock.now();
        let mut created = Vec::new();
        for &alg in algs {
            let rows = store::list(&self.db).await?;
            let times = lifecycle::of_alg(&store::times(&rows), alg);
            let activates_at = if immediately {
                lifecycle::immediate_activation(&times, now)
            } else {
                now + self.policy.prepublish
            };
            if let Some(kid) = self.create_key(alg, &times, activates_at).await? {
                created.push(kid);
            } else {
                return Err(Error::Conflict(
                    "another rotation happened at the same time; retry".into(),
                ));
            }
        }
        self.tick(false).await?;
        Ok(created)
    }

    /// `tessera keys revoke KID`: unpublishes the key at once; if it was the key signing
    /// for its algorithm, a replacement is created and activated immediately.
    pub async fn revoke(&self, kid: &str) -> Result<()> {
        let now = self.clock.now();
        let rows = store::list(&self.db).await?;
        let times = store::times(&rows);
        let target = times.iter().find(|k| k.kid == kid).cloned();
        if !store::revoke(&self.db, kid, now).await? {
            return Err(Error::NotFound(format!("key {kid}")));
        }
        tracing::warn!(kid = %kid, "signing key revoked");
        // A revoked key never signs again: destroy its HSM object now (the row stays for
        // the record; its deletion retries the destroy if the HSM is down now).
        if let Some(row) = rows.iter().find(|r| r.kid == kid)
            && let Err(e) = self.custody.destroy(row).await
        {
            tracing::warn!(kid = %kid, error = %e, "cannot destroy the revoked key's HSM object now");
        }
        if let Some(target) = target {
            let of_alg = lifecycle::of_alg(&times, target.alg);
            let was_active = lifecycle::states(&of_alg, now, &self.policy)
                .iter()
                .any(|(k, s)| k == kid && *s == KeyState::Active);
            if was_active {
                // Never fall back to a retired key: a fresh key signs from now on.
                let rows = store::list(&self.db).await?;
                let of_alg = lifecycle::of_alg(&store::times(&rows), target.alg);
                let at = lifecycle::immediate_activation(&of_alg, now);
                self.create_key(target.alg, &of_alg, at).await?;
            }
        }
        self.tick(false).await
    }

    /// Every stored key with its state now.
    pub async fn list(&self) -> Result<Vec<KeyInfo>> {
        let rows = store::list(&self.db).await?;
        Ok(describe(&rows, self.clock.now(), &self.policy))
    }
}

fn describe(rows: &[store::Row], now: i64, policy: &Policy) -> Vec<KeyInfo> {
    let times = store::times(rows);
    let mut out = Vec::new();
    for alg in Alg::ALL {
        let of_alg = lifecycle::of_alg(&times, alg);
        let states = lifecycle::states(&of_alg, now, policy);
        for (kid, state) in states {
            let Some(r) = rows.iter().find(|r| r.kid == kid) else {
                continue;
            };
            let (retired_at, unpublish_at) = match state {
                KeyState::Retired { since, until } => (Some(since), Some(until)),
                _ => {
                    // A successor already scheduled tells when this key will retire.
                    let next = of_alg
                        .iter()
                        .filter(|k| k.revoked_at.is_none() && k.activates_at > r.activates_at)
                        .map(|k| k.activates_at)
                        .min();
                    (next, next.map(|t| t + policy.retention))
                }
            };
            out.push(KeyInfo {
                kid,
                alg: r.alg.clone(),
                backend: r.backend.clone(),
                state: state.name(),
                created_at: r.created_at,
                activates_at: r.activates_at,
                retired_at: if state == KeyState::Revoked {
                    None
                } else {
                    retired_at
                },
                unpublish_at: if state == KeyState::Revoked {
                    None
                } else {
                    unpublish_at
                },
                revoked_at: r.revoked_at,
            });
        }
    }
    out
}
