//! Signing keys in AWS KMS (issue #20, `docs/kms.md`; cargo feature `aws-kms`), against
//! moto's KMS emulation (`moto[server]==5.2.6`, offline): rotation driven by the fake
//! clock with ES256 and RS256 tokens verified independently (`jsonwebtoken`) against the
//! served JWKS, rows holding only the key ARN, keys that left the JWKS scheduled for
//! deletion, a KMS outage under load (H2: 503 then recovery without a restart), and the
//! AWS credentials kept out of `tessera config` and a trace-level log (H4).
//!
//! Each test starts its own `moto_server` on a free port (its state is in memory) and
//! reaches it through a small TCP relay that the outage test can cut. The binary is
//! `$MOTO_SERVER`, else `moto_server` on `PATH`. Without it these tests print NOT RUN and
//! return; under `CI=true` they fail instead (`.ci/run` installs moto into a venv).
//!
//! What moto cannot show: it keeps signing with a key pending deletion (real KMS refuses
//! with `KMSInvalidStateException`), so "a removed key can no longer sign" is not tested
//! here; the tests check that the deletion was scheduled. moto does not check SigV4
//! signatures either: the signing itself is aws-sigv4's, tested upstream.

use std::{
    collections::HashSet,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use tessera::{
    Settings,
    keys::{Alg, KeyBackend, store},
};
use tokio::sync::watch;

use crate::{
    cli::{Env, tessera},
    cli_defaults::free_port,
    keys::kids,
    on_both_backends,
    support::{Backend, fake_clock_now, header, spawn_with, verify_independently},
};

/// Dummy credentials for moto; the secret and token must never reach a log.
const ACCESS_KEY_ID: &str = "AKIATESSERAMOTO00001";
const SECRET: &str = "moto-secret-4b1d7e0c9a";
const SESSION_TOKEN: &str = "moto-session-token-77f3a2";

/// The moto binary, or `None` (with a message) when absent and `CI` is not `true`.
fn moto_binary() -> Option<String> {
    let bin = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let ok = Command::new(&bin)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(bin);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "moto_server not found ({bin}); pip install 'moto[server]==5.2.6': KMS tests cannot run under CI"
        );
    }
    eprintln!("NOT RUN: moto_server not found ({bin}; set MOTO_SERVER); AWS KMS tests skipped");
    None
}

/// A moto server of this test, killed when dropped, behind a relay that can be cut.
struct Moto {
    child: Child,
    /// `http://127.0.0.1:<moto port>/`: for the test's own calls.
    direct: String,
    /// `http://127.0.0.1:<relay port>/`: what the server under test is given.
    relayed: String,
    down: watch::Sender<bool>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    async fn start() -> Option<Moto> {
        let bin = moto_binary()?;
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let direct = format!("http://127.0.0.1:{port}/");
        let (down, rx) = watch::channel(false);
        let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relayed = format!("http://{}/", relay.local_addr().unwrap());
        tokio::spawn(relay_loop(relay, port, rx));
        let moto = Moto {
            child,
            direct,
            relayed,
            down,
        };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not listen on {port} within 30 s");
    }

    /// Cuts (true) or restores (false) the way to KMS: open connections are closed and
    /// new ones refused while cut.
    fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }

    /// One KMS call made by the test itself (moto does not check signatures).
    async fn call(&self, op: &str, body: serde_json::Value) -> serde_json::Value {
        let r = reqwest::Client::new()
            .post(&self.direct)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("TrentService.{op}"))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIATESSERAMOTO00001/20261206/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{op}: {}", r.status());
        r.json().await.unwrap()
    }
}

async fn relay_loop(listener: tokio::net::TcpListener, port: u16, down: watch::Receiver<bool>) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        let mut down = down.clone();
        if *down.borrow() {
            drop(inbound);
            continue;
        }
        tokio::spawn(async move {
            let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = down.wait_for(|d| *d) => {}
            }
        });
    }
}

/// The AWS credentials this process's servers read (`AWS_*`, the standard variables).
fn set_credentials() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: set once, to the same values, before any server of these tests reads
        // them; no other test of the process reads AWS_* variables.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID);
            std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET);
            std::env::set_var("AWS_SESSION_TOKEN", SESSION_TOKEN);
        }
    });
}

fn use_kms(s: &mut Settings, moto: &Moto) {
    set_credentials();
    s.key_backend = KeyBackend::AwsKms;
    s.aws_kms_region = Some("us-east-1".into());
    s.aws_kms_endpoint_url = Some(moto.relayed.clone());
    s.aws_kms_timeout = Duration::from_secs(2);
}

/// Rotation in KMS: with the fake clock driving a day of hourly rotations, every ES256
/// and RS256 token verifies (independently) against the JWKS served when it was issued;
/// rows hold the key ARN and no private material; each KMS key is tagged with its kid;
/// keys that left the JWKS are pending deletion in KMS.
async fn kms_keys_rotate_and_tokens_verify(backend: Backend) {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let clock = fake_clock_now();
    let app = spawn_with(
        backend,
        |s| {
            use_kms(s, &moto);
            s.rotation_interval = Duration::from_secs(3600);
            s.max_access_token_ttl = Duration::from_secs(1800);
            s.access_token_ttl = Duration::from_secs(900);
            s.key_refresh_interval = Duration::from_secs(3600);
        },
        Arc::new(clock.clone()),
    )
    .await;
    let keys = app.state.keys.clone().unwrap();
    let prepublish = app.state.settings.effective_prepublish().as_secs() as i64;
    let es = app.client("a", &["aud"], Some(Alg::ES256)).await;
    let rs = app.client("a", &["aud"], Some(Alg::RS256)).await;
    let mut signed_by = HashSet::new();
    let mut ever = HashSet::new();
    let steps = 86400 / (prepublish / 3);
    for step in 0..steps {
        clock.advance(prepublish / 3);
        keys.tick(false).await.unwrap();
        let jwks = app.jwks().await;
        ever.extend(kids(&jwks));
        for (c, alg) in [(&es, "ES256"), (&rs, "RS256")] {
            let token = app.access_token(c).await;
            assert_eq!(header(&token)["alg"], alg);
            verify_independently(&token, &jwks, &app.base, "aud").unwrap_or_else(|e| {
                panic!("step {step}: {alg} token does not verify against the JWKS served: {e}")
            });
            signed_by.insert(header(&token)["kid"].as_str().unwrap().to_string());
        }
    }
    assert!(
        signed_by.len() >= 2 * 20,
        "hourly rotation over a day: {} signing keys",
        signed_by.len()
    );

    let db = tessera::storage::connect(&app.state.settings)
        .await
        .unwrap();
    let rows = store::list(&db).await.unwrap();
    for r in &rows {
        assert_eq!(r.backend, "aws-kms");
        assert!(r.sealed_private_key.is_empty(), "no private material");
        assert!(
            r.key_ref.starts_with("arn:aws:kms:us-east-1:"),
            "{}",
            r.key_ref
        );
        let tags = moto
            .call("ListResourceTags", serde_json::json!({"KeyId": r.key_ref}))
            .await;
        assert!(
            tags["Tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["TagKey"] == "tessera:kid" && t["TagValue"] == r.kid.as_str()),
            "{tags}"
        );
        let d = moto
            .call("DescribeKey", serde_json::json!({"KeyId": r.key_ref}))
            .await;
        assert_eq!(d["KeyMetadata"]["KeyUsage"], "SIGN_VERIFY");
    }
    // Keys that left the JWKS for good: rows gone, KMS keys pending deletion (7 days).
    let stored: HashSet<_> = rows.iter().map(|r| r.kid.clone()).collect();
    let removed = ever.difference(&stored).count();
    assert!(removed > 10, "expired keys were removed: {removed}");
    let listed = moto.call("ListKeys", serde_json::json!({})).await;
    let mut pending = 0;
    for k in listed["Keys"].as_array().unwrap() {
        let d = moto
            .call("DescribeKey", serde_json::json!({"KeyId": k["KeyArn"]}))
            .await;
        if d["KeyMetadata"]["KeyState"] == "PendingDeletion" {
            pending += 1;
            assert!(
                !rows
                    .iter()
                    .any(|r| r.key_ref == k["KeyArn"].as_str().unwrap()),
                "a stored key is pending deletion"
            );
        }
    }
    assert_eq!(
        pending, removed,
        "every removed key is scheduled for deletion"
    );
    assert!(
        keys.list()
            .await
            .unwrap()
            .iter()
            .all(|k| k.backend == "aws-kms")
    );

    // Revocation schedules the deletion at once.
    let active = header(&app.access_token(&es).await)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let arn = rows
        .iter()
        .find(|r| r.kid == active)
        .unwrap()
        .key_ref
        .clone();
    keys.revoke(&active).await.unwrap();
    let d = moto
        .call("DescribeKey", serde_json::json!({"KeyId": arn}))
        .await;
    assert_eq!(d["KeyMetadata"]["KeyState"], "PendingDeletion");
    let t = app.access_token(&es).await;
    assert_ne!(header(&t)["kid"], active.as_str());
    verify_independently(&t, &app.jwks().await, &app.base, "aud").unwrap();
}
on_both_backends!(kms_keys_rotate_and_tokens_verify);

/// H2: KMS becomes unreachable under load (the relay closes every connection and refuses
/// new ones). Token requests get 503 `temporarily_unavailable` with `Retry-After`, never a
/// 500; JWKS and discovery are still served; `/readyz` is 503. When KMS is back, the key
/// manager's probe resumes signing without a restart.
async fn kms_outage_gives_503_then_recovers(backend: Backend) {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let app = spawn_with(
        backend,
        |s| {
            use_kms(s, &moto);
            s.aws_kms_timeout = Duration::from_millis(500);
            s.key_refresh_interval = Duration::from_millis(200);
        },
        Arc::new(tessera::clock::SystemClock),
    )
    .await;
    let app = Arc::new(app);
    let c = Arc::new(app.client("a", &["aud"], Some(Alg::ES256)).await);
    let t = app.access_token(&c).await;
    verify_independently(&t, &app.jwks().await, &app.base, "aud").unwrap();
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

    moto.set_down(true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
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

    moto.set_down(false);
    let mut recovered = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if get("/readyz").await.unwrap().status() == 200 {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "readyz back to 200 after KMS returned");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_load.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all = Vec::new();
    for l in load {
        all.extend(l.await.unwrap());
    }
    assert!(!all.contains(&500), "no 500 during the outage");
    assert!(all.iter().all(|s| *s == 200 || *s == 503), "{all:?}");
    assert!(all.contains(&503), "the outage was seen under load");
    assert_eq!(all.last(), Some(&200), "200s after the recovery");
    let t = app.access_token(&c).await;
    verify_independently(&t, &app.jwks().await, &app.base, "aud").unwrap();
}
on_both_backends!(kms_outage_gives_503_then_recovers);

/// H4: the AWS secret key and session token appear neither in `tessera config` nor in a
/// trace-level log of a `tessera serve` that created keys in KMS and signed with them;
/// `tessera keys list` shows the backend; without `aws_kms_region` serve exits 1 naming it.
async fn credentials_are_never_logged(backend: Backend) {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let mut env: Env = crate::cli::env(&backend).await;
    for (k, v) in [
        ("TESSERA_KEY_BACKEND", "aws-kms"),
        ("TESSERA_AWS_KMS_ENDPOINT_URL", moto.relayed.as_str()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", SESSION_TOKEN),
        ("TESSERA_LOG_FORMAT", "json"),
    ] {
        env.vars.push((k.into(), v.into()));
    }
    let kek = tessera::keys::Kek::generate_encoded().unwrap();
    let mut cmd = tessera(&env, &["serve"]);
    cmd.env("TESSERA_KEK", &kek);
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("aws_kms_region"), "{err}");

    env.vars
        .push(("TESSERA_AWS_KMS_REGION".into(), "us-east-1".into()));
    let out = tessera(&env, &["config"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("key_backend = \"aws-kms\""), "{text}");
    assert!(
        !text.contains(SECRET) && !text.contains(SESSION_TOKEN),
        "{text}"
    );

    let logs = crate::cli::log_of_one_token(&env, &kek, "trace").await;
    assert!(logs.len() > 100, "trace logs were written");
    assert!(!logs.contains(SECRET), "the AWS secret key reached the log");
    assert!(
        !logs.contains(SESSION_TOKEN),
        "the AWS session token reached the log"
    );
    assert!(
        !logs.contains(ACCESS_KEY_ID),
        "the AWS access key id reached the log"
    );
    assert!(
        logs.contains("aws-kms") || logs.contains("arn:aws:kms"),
        "KMS was used"
    );

    let mut list = tessera(&env, &["keys", "list"]);
    list.env("TESSERA_KEK", &kek);
    let out = list.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines()
            .skip(1)
            .filter(|l| l.ends_with(" aws-kms"))
            .count(),
        2,
        "{text}"
    );
}
on_both_backends!(credentials_are_never_logged);
