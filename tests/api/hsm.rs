//! Signing keys in a PKCS#11 token (issue #20, `docs/hsm.md`), against a real SoftHSM2:
//! rotation with pre-publication driven by the fake clock, the switch `local` → `pkcs11`,
//! non-extractable private keys (H1), an HSM outage under load (H2), start-up failures
//! (H3) and the PIN kept out of `tessera config` and the logs (H4).
//!
//! The token is a throw-away one, initialised once per test process in a temporary
//! directory through `SOFTHSM2_CONF` (`softhsm2-util --init-token --free`). A PKCS#11
//! module is process-global (one `C_Initialize`, and the outage test finalizes it), so the
//! in-process tests here take [`HSM_LOCK`] and run one at a time.
//!
//! Without softhsm2 installed these tests print that they did not run and return; under
//! `CI=true` they fail instead (`.ci/run` installs softhsm2).

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, OnceLock},
    time::Duration,
};

use tessera::{
    Settings,
    keys::{Alg, KeyBackend, store},
};

use crate::{
    cli::{Env, tessera},
    keys::kids,
    on_both_backends,
    support::{Backend, fake_clock_now, header, spawn_with, verify_independently},
};

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const LABEL: &str = "tessera-test";
/// Digits with a leading zero: `TESSERA_PKCS11_PIN` must reach the token verbatim, not as a number.
pub const PIN: &str = "00719358246";
const SO_PIN: &str = "so-pin-22c4";

/// One HSM test at a time in this process (see the module header).
static HSM_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The throw-away token of this test process.
pub struct Token {
    pub conf: PathBuf,
    pub tokens: PathBuf,
}

/// The SoftHSM2 token, created on first use; `None` (with a message) when softhsm2 is not
/// installed and `CI` is not `true`.
pub fn softhsm() -> Option<&'static Token> {
    static TOKEN: OnceLock<Option<Token>> = OnceLock::new();
    TOKEN
        .get_or_init(|| {
            let installed = Path::new(MODULE).exists()
                && Command::new("softhsm2-util")
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success());
            if !installed {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("softhsm2 is not installed (apt-get install softhsm2): HSM tests cannot run under CI");
                }
                eprintln!("NOT RUN: softhsm2 is not installed ({MODULE}); HSM tests skipped");
                return None;
            }
            // Kept for the life of the process: the module reads it at C_Initialize.
            let dir = tempfile::tempdir().unwrap().keep();
            let tokens = dir.join("tokens");
            std::fs::create_dir_all(&tokens).unwrap();
            let conf = dir.join("softhsm2.conf");
            std::fs::write(
                &conf,
                format!(
                    "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                    tokens.display()
                ),
            )
            .unwrap();
            let out = Command::new("softhsm2-util")
                .env("SOFTHSM2_CONF", &conf)
                .args(["--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", SO_PIN])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "softhsm2-util --init-token: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // SAFETY: set once, before this process loads the PKCS#11 module; the other
            // tests of the process do not read this variable.
            unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
            Some(Token { conf, tokens })
        })
        .as_ref()
}

/// Settings for the token: `key_backend = pkcs11`.
pub fn use_hsm(s: &mut Settings) {
    s.key_backend = KeyBackend::Pkcs11;
    s.pkcs11_module = Some(MODULE.into());
    s.pkcs11_token_label = Some(LABEL.into());
    s.pkcs11_pin = Some(PIN.into());
}

/// H1 + the rotation invariant: with keys in the HSM and the fake clock driving weeks of
/// rotation, every token verifies (independently, `jsonwebtoken`) against the JWKS served
/// when it was issued; new keys are pre-published; rows hold no private material; the
/// private objects refuse to reveal their value; removed keys' objects are destroyed.
async fn hsm_keys_rotate_with_prepublication(backend: Backend) {
    let Some(_) = softhsm() else { return };
    let _serial = HSM_LOCK.lock().await;
    let clock = fake_clock_now();
    let app = spawn_with(
        backend,
        |s| {
            use_hsm(s);
            s.rotation_interval = Duration::from_secs(3600);
            s.max_access_token_ttl = Duration::from_secs(1800);
            s.access_token_ttl = Duration::from_secs(900);
            s.key_refresh_interval = Duration::from_secs(3600);
        },
        Arc::new(clock.clone()),
    )
    .await;
    let keys = app.state.keys.clone().unwrap();
    let hsm = keys.custody().hsm().unwrap().clone();
    let prepublish = app.state.settings.effective_prepublish().as_secs() as i64;
    let es = app.client("a", &["aud"], Some(Alg::ES256)).await;
    let rs = app.client("a", &["aud"], Some(Alg::RS256)).await;
    let mut signed_by = HashSet::new();
    let mut last_signers = HashSet::new();
    let mut first_seen = std::collections::HashMap::new();
    let mut ever = HashSet::new();
    // 3 days in steps of a third of the pre-publication period.
    let steps = 3 * 86400 / (prepublish / 3);
    for step in 0..steps {
        clock.advance(prepublish / 3);
        keys.tick(false).await.unwrap();
        last_signers.clear();
        let now = tessera::clock::Clock::now(&clock);
        let jwks = app.jwks().await;
        for k in kids(&jwks) {
            first_seen.entry(k.clone()).or_insert(now);
            ever.insert(k);
        }
        for c in [&es, &rs] {
            let token = app.access_token(c).await;
            let kid = header(&token)["kid"].as_str().unwrap().to_string();
            verify_independently(&token, &jwks, &app.base, "aud").unwrap_or_else(|e| {
                panic!("step {step}: token by {kid} does not verify against the JWKS served: {e}")
            });
            // Pre-publication: a key signs only after being published for the full period
            // (the first keys excepted: nothing could have cached a JWKS before them).
            let seen = first_seen[&kid];
            let initial = seen == first_seen.values().copied().min().unwrap();
            assert!(
                initial || now - seen >= prepublish - prepublish / 3,
                "step {step}: {kid} signs {}s after first publication",
                now - seen
            );
            last_signers.insert(kid.clone());
            signed_by.insert(kid);
        }
    }
    assert!(
        signed_by.len() >= 2 * 60,
        "hourly rotation over 3 days: {} signing keys",
        signed_by.len()
    );

    // Every stored key is in the HSM, with no private material in the database.
    let db = tessera::storage::connect(&app.state.settings)
        .await
        .unwrap();
    let rows = store::list(&db).await.unwrap();
    for r in &rows {
        assert_eq!(r.backend, "pkcs11");
        assert!(
            r.sealed_private_key.is_empty(),
            "no private material stored"
        );
        assert!(
            r.key_ref.starts_with("pkcs11:token=tessera-test;id="),
            "{}",
            r.key_ref
        );
        // H1: the token refuses to export the private value, from the token object and
        // from the session copy signatures use (`pkcs11_session_key_copies`, default on).
        let probes = hsm.probe_private_values(&r.kid).unwrap();
        assert!(
            probes.iter().any(|p| p.token_object),
            "{}: {probes:?}",
            r.kid
        );
        for probe in &probes {
            assert!(probe.sensitive && !probe.extractable, "{probe:?}");
            assert!(
                probe.answers.iter().any(|(_, a)| a == "Sensitive"),
                "CKR_ATTRIBUTE_SENSITIVE expected: {probe:?}"
            );
            assert!(
                probe
                    .answers
                    .iter()
                    .all(|(_, a)| a == "Sensitive" || a == "TypeInvalid"),
                "no private value readable: {probe:?}"
            );
        }
        // The keys signing now sign with their session copy (one per key).
        if last_signers.contains(&r.kid) {
            let copies: Vec<_> = probes.iter().filter(|p| !p.token_object).collect();
            assert!(
                copies.len() == 1 && copies[0].signs,
                "{}: one session copy, used to sign: {probes:?}",
                r.kid
            );
        }
    }
    // Keys that left the JWKS for good were deleted and destroyed in the token.
    let stored: HashSet<_> = rows.iter().map(|r| r.kid.clone()).collect();
    let removed: Vec<_> = ever.difference(&stored).collect();
    assert!(
        removed.len() > 50,
        "expired keys were removed: {}",
        removed.len()
    );
    for kid in removed {
        assert!(!hsm.has_key(kid).unwrap(), "{kid} still in the token");
        // Its session copy (it signed) was destroyed too.
        assert!(
            hsm.probe_private_values(kid).unwrap().is_empty(),
            "{kid}: an object is left"
        );
    }
    // `keys list` (admin view) shows the backend.
    assert!(
        keys.list()
            .await
            .unwrap()
            .iter()
            .all(|k| k.backend == "pkcs11")
    );
}
on_both_backends!(hsm_keys_rotate_with_prepublication);

/// Migration: a deployment with local keys switched to `pkcs11` rotates into the HSM —
/// the new keys are pre-published, the local ones retire normally, and no token breaks.
async fn switching_local_to_pkcs11_is_a_rotation(backend: Backend) {
    let Some(_) = softhsm() else { return };
    let _serial = HSM_LOCK.lock().await;
    let clock = fake_clock_now();
    let tune = |s: &mut Settings| {
        s.rotation_interval = Duration::from_secs(86400);
        s.max_access_token_ttl = Duration::from_secs(1800);
        s.access_token_ttl = Duration::from_secs(900);
        s.key_refresh_interval = Duration::from_secs(3600);
    };
    let local = spawn_with(backend.clone(), tune, Arc::new(clock.clone())).await;
    let c = local.client("a", &["aud"], Some(Alg::ES256)).await;
    let old_token = local.access_token(&c).await;
    let old_kid = header(&old_token)["kid"].as_str().unwrap().to_string();
    let settings = local.state.settings.as_ref().clone();
    let old_iss = local.base.clone();
    let mut local = local;
    let dir = std::mem::replace(&mut local.dir, tempfile::tempdir().unwrap());
    drop(local);
    clock.advance(600);

    // Restart on the same database with the HSM configured.
    let mut s = settings;
    use_hsm(&mut s);
    // A new port: the issuer follows it.
    s.issuer = String::new();
    let app = crate::support::start(s, dir, Arc::new(clock.clone())).await;
    let keys = app.state.keys.clone().unwrap();
    let prepublish = app.state.settings.effective_prepublish().as_secs() as i64;
    let listed = keys.list().await.unwrap();
    for alg in ["ES256", "RS256"] {
        let of_alg: Vec<_> = listed.iter().filter(|k| k.alg == alg).collect();
        assert!(
            of_alg
                .iter()
                .any(|k| k.backend == "local" && k.state == "ACTIVE"),
            "{alg}: the local key still signs: {of_alg:?}"
        );
        assert!(
            of_alg
                .iter()
                .any(|k| k.backend == "pkcs11" && k.state == "NEXT"),
            "{alg}: an HSM key is pre-published: {of_alg:?}"
        );
    }
    let jwks = app.jwks().await;
    verify_independently(&old_token, &jwks, &old_iss, "aud").unwrap();
    let t = app.access_token(&c).await;
    assert_eq!(
        header(&t)["kid"],
        old_kid.as_str(),
        "local key signs during pre-publication"
    );

    // After the pre-publication period the HSM key signs; the local key is still published
    // for the tokens it signed, then removed.
    clock.advance(prepublish);
    keys.tick(false).await.unwrap();
    let t = app.access_token(&c).await;
    let kid = header(&t)["kid"].as_str().unwrap().to_string();
    let listed = keys.list().await.unwrap();
    let info = listed.iter().find(|k| k.kid == kid).unwrap();
    assert_eq!(info.backend, "pkcs11");
    let jwks = app.jwks().await;
    verify_independently(&t, &jwks, &app.base, "aud").unwrap();
    verify_independently(&old_token, &jwks, &old_iss, "aud").unwrap();
    assert!(
        listed
            .iter()
            .any(|k| k.kid == old_kid && k.state == "RETIRED"),
        "the local key retires normally"
    );
    clock.advance(3600);
    keys.tick(false).await.unwrap();
    assert!(!kids(&app.jwks().await).contains(&old_kid));
    // No further rotation into the HSM until the schedule says so.
    let n = keys.list().await.unwrap().len();
    keys.tick(false).await.unwrap();
    assert_eq!(keys.list().await.unwrap().len(), n);
}
on_both_backends!(switching_local_to_pkcs11_is_a_rotation);

/// H2: the token becomes unavailable under load — its directory disappears and the module
/// is finalized under the server (what a crashed client library or a lost network HSM
/// does: every session and handle dies). Token requests get 503 `temporarily_unavailable`
/// with `Retry-After`, never a 500; JWKS and discovery are still served; `/readyz` is 503.
/// When the directory comes back, the key manager's tick re-initialises the module and
/// logs in again: 200s resume without a restart.
async fn hsm_outage_gives_503_then_recovers(backend: Backend) {
    let Some(token) = softhsm() else { return };
    let _serial = HSM_LOCK.lock().await;
    let app = spawn_with(
        backend,
        |s| {
            use_hsm(s);
            s.key_refresh_interval = Duration::from_millis(200);
        },
        Arc::new(tessera::clock::SystemClock),
    )
    .await;
    let app = Arc::new(app);
    let c = Arc::new(app.client("a", &["aud"], Some(Alg::ES256)).await);
    // Signing works before the outage.
    app.access_token(&c).await;
    let stop_load = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (app, c, stop_load) = (app.clone(), c.clone(), stop_load.clone());
        load.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while !stop_load.load(std::sync::atomic::Ordering::Relaxed) {
                let r = app
                    .token_request(&c, &[("grant_type", "client_credentials")])
                    .await;
                let status = r.status().as_u16();
                if status == 503 {
                    assert_eq!(r.headers()["retry-after"], "1");
                    let body: serde_json::Value = r.json().await.unwrap();
                    assert_eq!(body["error"], "temporarily_unavailable");
                }
                statuses.push(status);
            }
            statuses
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Take the token away and kill the module's state.
    let aside = token.tokens.with_extension("away");
    std::fs::rename(&token.tokens, &aside).unwrap();
    std::fs::create_dir_all(&token.tokens).unwrap();
    let hsm = app
        .state
        .keys
        .as_ref()
        .unwrap()
        .custody()
        .hsm()
        .unwrap()
        .clone();
    hsm.fault_finalize();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let get = |p: &str| app.http.get(app.url(p)).send();
    assert_eq!(
        get("/readyz").await.unwrap().status(),
        503,
        "readyz during the outage"
    );
    assert_eq!(get("/.well-known/jwks.json").await.unwrap().status(), 200);
    assert_eq!(
        get("/.well-known/openid-configuration")
            .await
            .unwrap()
            .status(),
        200
    );
    let r = app
        .token_request(&c, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 503, "token endpoint during the outage");

    // Give the token back: recovery without a restart.
    std::fs::remove_dir_all(&token.tokens).unwrap();
    std::fs::rename(&aside, &token.tokens).unwrap();
    let mut recovered = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if get("/readyz").await.unwrap().status() == 200 {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "readyz back to 200 after the token returned");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_load.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all = Vec::new();
    for l in load {
        all.extend(l.await.unwrap());
    }
    assert!(!all.contains(&500), "no 500 during the outage");
    assert!(all.iter().all(|s| *s == 200 || *s == 503), "{all:?}");
    assert!(all.contains(&503), "the outage was seen under load");
    let last_503 = all.iter().rposition(|s| *s == 503).unwrap();
    assert!(
        all[last_503..].contains(&200) || all.last() == Some(&200),
        "200s after the recovery"
    );
    let t = app.access_token(&c).await;
    verify_independently(&t, &app.jwks().await, &app.base, "aud").unwrap();
    // The session copy died with the old connection; the new one made a fresh copy.
    let kid = header(&t)["kid"].as_str().unwrap().to_string();
    let probes = hsm.probe_private_values(&kid).unwrap();
    let copies: Vec<_> = probes.iter().filter(|p| !p.token_object).collect();
    assert!(
        copies.len() == 1 && copies[0].signs && copies[0].sensitive && !copies[0].extractable,
        "a new session copy signs after the re-initialisation: {probes:?}"
    );
}
on_both_backends!(hsm_outage_gives_503_then_recovers);

/// The kid of the ACTIVE key of `alg`.
async fn active_kid(app: &crate::support::TestApp, alg: &str) -> String {
    let keys = app.state.keys.clone().unwrap();
    keys.list()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.alg == alg && k.state == "ACTIVE")
        .unwrap()
        .kid
}

/// `pkcs11_session_key_copies`: with it off, and for a key the token refuses to copy
/// (made `CKA_COPYABLE=false`, as some HSMs make keys), signatures use the token object and
/// verify; no session object is made.
async fn token_object_signs_when_copies_are_off_or_refused(backend: Backend) {
    let Some(_) = softhsm() else { return };
    let _serial = HSM_LOCK.lock().await;
    let only_token_objects = |probes: &[tessera::keys::custody::pkcs11::PrivateProbe]| {
        probes.len() == 1 && probes[0].token_object && probes[0].signs
    };

    // Setting off: every key signs with its token object.
    let app = spawn_with(
        backend.clone(),
        |s| {
            use_hsm(s);
            s.pkcs11_session_key_copies = false;
        },
        Arc::new(tessera::clock::SystemClock),
    )
    .await;
    let hsm = app
        .state
        .keys
        .clone()
        .unwrap()
        .custody()
        .hsm()
        .unwrap()
        .clone();
    for alg in [Alg::ES256, Alg::RS256] {
        let c = app.client("a", &["aud"], Some(alg)).await;
        let t = app.access_token(&c).await;
        verify_independently(&t, &app.jwks().await, &app.base, "aud").unwrap();
        let probes = hsm
            .probe_private_values(header(&t)["kid"].as_str().unwrap())
            .unwrap();
        assert!(only_token_objects(&probes), "{alg:?}: {probes:?}");
    }
    drop(app);

    // Setting on (the default), the token refusing to copy the ES256 key: that key signs
    // with its token object, the RS256 key with its copy.
    let app = spawn_with(backend, use_hsm, Arc::new(tessera::clock::SystemClock)).await;
    assert!(app.state.settings.pkcs11_session_key_copies);
    let hsm = app
        .state
        .keys
        .clone()
        .unwrap()
        .custody()
        .hsm()
        .unwrap()
        .clone();
    hsm.generate_uncopyable_keys();
    let keys = app.state.keys.clone().unwrap();
    let refused = keys.rotate(&[Alg::ES256], true).await.unwrap().remove(0);
    // "Rotate now" signs with the new key once the keyring has loaded it; on a loaded machine
    // that can trail the call, so wait for it (bounded) before asserting who signs.
    let es = app.client("a", &["aud"], Some(Alg::ES256)).await;
    for _ in 0..100 {
        if header(&app.access_token(&es).await)["kid"] == refused.as_str() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for alg in [Alg::ES256, Alg::RS256] {
        let c = app.client("a", &["aud"], Some(alg)).await;
        for _ in 0..3 {
            let t = app.access_token(&c).await;
            verify_independently(&t, &app.jwks().await, &app.base, "aud").unwrap();
            if alg == Alg::ES256 {
                assert_eq!(header(&t)["kid"], refused.as_str());
            }
        }
    }
    let probes = hsm.probe_private_values(&refused).unwrap();
    assert!(only_token_objects(&probes), "copy refused: {probes:?}");
    let probes = hsm
        .probe_private_values(&active_kid(&app, "RS256").await)
        .unwrap();
    assert!(
        probes.len() == 2 && probes.iter().any(|p| !p.token_object && p.signs),
        "RS256 signs with its copy: {probes:?}"
    );
}
on_both_backends!(token_object_signs_when_copies_are_off_or_refused);

/// A `tessera` process environment using the token.
async fn hsm_env(backend: &Backend) -> Env {
    let token = softhsm().unwrap();
    let mut env = crate::cli::env(backend).await;
    for (k, v) in [
        ("SOFTHSM2_CONF", token.conf.display().to_string()),
        ("TESSERA_KEY_BACKEND", "pkcs11".into()),
        ("TESSERA_PKCS11_MODULE", MODULE.into()),
        ("TESSERA_PKCS11_TOKEN_LABEL", LABEL.into()),
    ] {
        env.vars.push((k.into(), v));
    }
    env
}

/// H3: a missing module or a wrong PIN stops `tessera serve` with exit 1 and a message
/// naming the setting (and never the PIN); nothing is written to the key table.
async fn wrong_pin_or_missing_module_exits_1(backend: Backend) {
    if softhsm().is_none() {
        return;
    }
    let _serial = HSM_LOCK.lock().await;
    let env = hsm_env(&backend).await;
    let kek = tessera::keys::Kek::generate_encoded().unwrap();
    let run = |extra: &[(&str, &str)]| {
        let mut cmd = tessera(&env, &["serve"]);
        cmd.env("TESSERA_KEK", &kek);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&[
        ("TESSERA_PKCS11_PIN", PIN),
        ("TESSERA_PKCS11_MODULE", "/nonexistent/libpkcs11.so"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("pkcs11_module"), "{err}");
    let out = run(&[("TESSERA_PKCS11_PIN", "wrong-pin-5150")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("pkcs11_pin"), "{err}");
    assert!(
        !err.contains("wrong-pin-5150"),
        "the PIN is not echoed: {err}"
    );
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("pkcs11_pin"), "no PIN given: {err}");
    let db = tessera::storage::connect(&env.settings).await.unwrap();
    assert_eq!(store::count(&db).await.unwrap(), 0, "nothing written");
}
on_both_backends!(wrong_pin_or_missing_module_exits_1);

/// H4: the PIN (from `TESSERA_PKCS11_PIN`) is masked by `tessera config` and absent from a
/// trace-level log of a server that signed with the HSM; `tessera keys list` shows the
/// backend of each key.
async fn pin_is_masked_and_never_logged(backend: Backend) {
    if softhsm().is_none() {
        return;
    }
    let _serial = HSM_LOCK.lock().await;
    let mut env = hsm_env(&backend).await;
    env.vars.push(("TESSERA_PKCS11_PIN".into(), PIN.into()));
    env.vars.push(("TESSERA_LOG_FORMAT".into(), "json".into()));
    let out = tessera(&env, &["config"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("pkcs11_pin = \"********\""), "{text}");
    assert!(!text.contains(PIN), "{text}");

    let kek = tessera::keys::Kek::generate_encoded().unwrap();
    let logs = crate::cli::log_of_one_token(&env, &kek, "trace").await;
    assert!(logs.len() > 100, "trace logs were written");
    assert!(!logs.contains(PIN), "the PIN reached the log");

    let mut list = tessera(&env, &["keys", "list"]);
    list.env("TESSERA_KEK", &kek);
    let out = list.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().next().unwrap().ends_with("BACKEND"), "{text}");
    assert_eq!(
        text.lines()
            .skip(1)
            .filter(|l| l.ends_with(" pkcs11"))
            .count(),
        2,
        "{text}"
    );
}
on_both_backends!(pin_is_masked_and_never_logged);

/// A build without the cargo feature `aws-kms` refuses `key_backend = aws-kms` at start-up
/// with a message naming the feature (`docs/kms.md`).
#[cfg(not(feature = "aws-kms"))]
#[test]
fn aws_kms_backend_needs_its_cargo_feature() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("config")
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .env("TESSERA_KEY_BACKEND", "aws-kms")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // 2: the exit status of an invalid configuration.
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cargo feature aws-kms"), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing created by a refused configuration"
    );
}
