//! argon2id password hashing off the async workers, with bounded concurrency.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString},
};
use tokio::sync::Semaphore;

use crate::{
    config::Settings,
    error::{Error, Result},
};

/// argon2id hashing and verification on a small pool of dedicated low-priority threads
/// (Linux `SCHED_IDLE`), at most N at once, so a login storm can never starve the async
/// workers that serve JWKS and client_credentials: when both want the CPU, the scheduler
/// gives it to the request path first.
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    permits: Semaphore,
    pool: HashPool,
    /// A real hash of a random password: unknown users are verified against it so that
    /// "no such user" costs the same as "wrong password". Made by the first verification
    /// of any kind (known user or not, so the one-off cost reveals nothing), not at
    /// start-up: a hash is 19 MiB and tens of milliseconds that most processes, such as
    /// CLI commands, never need.
    dummy: std::sync::OnceLock<String>,
}

impl PasswordHasher {
    pub fn new(settings: &Settings) -> Result<Arc<Self>> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            None,
        )
        .map_err(|e| Error::Config(format!("argon2 parameters: {e}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let permits = match settings.password_hash_concurrency {
            0 => std::thread::available_parallelism()
                .map(|n| n.get() / 2)
                .unwrap_or(1)
                .max(1),
            n => n,
        };
        Ok(Arc::new(Self {
            argon2,
            permits: Semaphore::new(permits),
            pool: HashPool::new(permits),
            dummy: std::sync::OnceLock::new(),
        }))
    }

    pub async fn hash(self: &Arc<Self>, password: String) -> Result<String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Crypto("hasher closed".into()))?;
        let me = self.clone();
        self.pool
            .run(move || hash_with(&me.argon2, &password))
            .await
            .ok_or_else(|| Error::Crypto("hashing task failed".into()))?
    }

    /// Verifies `password` against `phc`, or against the dummy hash when there is no user.
    pub async fn verify(self: &Arc<Self>, password: String, phc: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let me = self.clone();
        let known = phc.is_some();
        let ok = self
            .pool
            .run(move || {
                let dummy = me.dummy.get_or_init(|| {
                    let random = crate::secrets::random_token(24).unwrap_or_default();
                    hash_with(&me.argon2, &random).unwrap_or_default()
                });
                let phc = phc.as_deref().unwrap_or(dummy);
                PasswordHash::new(phc)
                    .is_ok_and(|h| me.argon2.verify_password(password.as_bytes(), &h).is_ok())
            })
            .await
            .unwrap_or(false);
        ok && known
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Dedicated threads for password hashing, lowered in CPU priority.
struct HashPool {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl HashPool {
    fn new(threads: usize) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("tessera-argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-hashing thread");
            }
        }
        Self { jobs: tx }
    }

    /// Runs `f` on the pool; `None` if the pool is gone or `f` panicked.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .ok()?;
        rx.await.ok()
    }
}

/// Puts the calling thread in Linux's `SCHED_IDLE` class: it runs only when no normal
/// thread wants the CPU, and a normal thread that wakes up preempts it at once. Nice 10
/// was not enough: under the EEVDF scheduler a niced thread still keeps the core until
/// its slice ends, which added milliseconds to the p99 of JWKS and client_credentials
/// during a login storm (bench/analysis.md). The price is that on a fully saturated
/// server logins wait for the token path to leave some CPU, which is the order we want.
/// Falls back to nice 10 where the class is unavailable.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_setscheduler and setpriority on the calling thread (pid 0 / its own
    // tid) with a valid, initialised sched_param have no memory-safety preconditions.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
        }
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String> {
    let mut raw = [0u8; 16];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| Error::Crypto("random generator failed".into()))?;
    let salt = SaltString::encode_b64(&raw).map_err(|e| Error::Crypto(format!("salt: {e}")))?;
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Crypto(format!("argon2: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashing_verifies_and_unknown_users_never_pass() {
        let s = Settings {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            ..Settings::default()
        };
        let h = PasswordHasher::new(&s).unwrap();
        let phc = h.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(h.verify("correct horse".into(), Some(phc.clone())).await);
        assert!(!h.verify("wrong".into(), Some(phc)).await);
        assert!(!h.verify("anything".into(), None).await);
    }
}
