//! Against the real Tessera server started in-process on 127.0.0.1:0: real tokens verify,
//! V13 (rotation while the verifier runs), V12 (issuer stopped), and the CLI report.

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use tessera::{
    clients::{NewClient, RegistrationLimits},
    http::AppState,
    keys::Alg,
};
use tessera_verify::{Verifier, VerifyError};

#[path = "../../../src/cli/verify.rs"]
mod cli_verify;

/// The CLI's report: `Ok` when the verdict is VALID, `Err` otherwise.
async fn cli_report(token: &str, issuer: &str, audience: Option<&str>) -> Result<String, String> {
    let v = cli_verify::run(token, issuer, audience, None).await;
    if v.outcome == cli_verify::Outcome::Valid {
        Ok(v.report)
    } else {
        Err(v.report)
    }
}

struct Issuer {
    issuer: String,
    state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Issuer {
    async fn start() -> Issuer {
        let dir = tempfile::tempdir().unwrap();
        let settings = tessera::Settings {
            bind: "127.0.0.1:0".into(),
            issuer: String::new(),
            database_url: format!("sqlite://{}/t.db?mode=rwc", dir.path().display()),
            kek: Some(tessera::keys::Kek::generate_encoded().unwrap()),
            ..Default::default()
        };
        let app = tessera::App::build(settings, Arc::new(tessera::clock::SystemClock))
            .await
            .unwrap();
        let state = app.state().clone();
        let issuer = state.settings.issuer.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            app.run(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Issuer {
            issuer,
            state,
            stop: Some(tx),
            served,
            _dir: dir,
        }
    }

    async fn client(&self, alg: Alg, audiences: &[&str]) -> (String, String) {
        let c = self
            .state
            .ctx
            .clients
            .create(
                NewClient {
                    name: "svc".into(),
                    grant_types: vec!["client_credentials".into()],
                    scopes: vec!["orders:read".into()],
                    audiences: audiences.iter().map(|a| a.to_string()).collect(),
                    token_ttl: None,
                    alg: Some(alg),
                    ..Default::default()
                },
                RegistrationLimits {
                    max_token_ttl: Duration::from_secs(86400),
                },
            )
            .await
            .unwrap();
        (c.client.client_id.clone(), c.client_secret.clone())
    }

    async fn token(&self, (id, secret): &(String, String)) -> String {
        let r: Value = reqwest::Client::new()
            .post(format!("{}/oauth/token", self.issuer))
            .basic_auth(id, Some(secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "orders:read"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {r}"))
            .to_string()
    }

    async fn rotate_now(&self, alg: Alg) {
        self.state
            .keys
            .as_ref()
            .unwrap()
            .rotate(&[alg], true)
            .await
            .unwrap();
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.served).await.unwrap();
    }
}

fn kid(token: &str) -> String {
    tessera_verify::decode_unverified(token).unwrap().0["kid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_server_tokens_verify_rotate_and_survive_an_outage() {
    let srv = Issuer::start().await;
    let es = srv.client(Alg::ES256, &["orders"]).await;
    let rs = srv.client(Alg::RS256, &["orders", "billing"]).await;
    let v = Verifier::builder()
        .issuer(&srv.issuer)
        .audience("orders")
        .build()
        .await
        .unwrap();
    let billing = Verifier::builder()
        .issuer(&srv.issuer)
        .audience("billing")
        .build()
        .await
        .unwrap();

    // Real tokens of both algorithms verify; claims are typed.
    let t_es = srv.token(&es).await;
    let t_rs = srv.token(&rs).await;
    let c = v.verify(&t_es).await.unwrap();
    assert_eq!(c.iss(), srv.issuer);
    assert_eq!(c.client_id(), es.0);
    assert_eq!(c.sub(), es.0);
    assert!(c.has_scope("orders:read"));
    assert!(c.exp() > c.iat());
    let c = v.verify(&t_rs).await.unwrap();
    assert_eq!(c.aud().len(), 2);
    // Audience: the ES client's token is not for billing; the RS one is for both.
    assert_eq!(
        billing.verify(&t_es).await.unwrap_err(),
        VerifyError::WrongAudience
    );
    assert!(billing.verify(&t_rs).await.is_ok());

    // The CLI report.
    let report = cli_report(&t_es, &srv.issuer, Some("orders"))
        .await
        .unwrap();
    assert!(
        report.contains("Header:") && report.contains("\"typ\": \"at+jwt\""),
        "{report}"
    );
    assert!(
        report.contains("Claims:") && report.contains("Verdict: VALID"),
        "{report}"
    );
    let report = cli_report(&t_es, &srv.issuer, None).await.unwrap();
    assert!(report.contains("audience NOT checked"), "{report}");
    let report = cli_report(&t_es, &srv.issuer, Some("billing"))
        .await
        .unwrap_err();
    assert!(report.contains("Verdict: INVALID: audience"), "{report}");
    let report = cli_report("garbage", &srv.issuer, None).await.unwrap_err();
    assert!(report.contains("cannot be decoded"), "{report}");

    // V13: rotation while the verifier runs: the new kid verifies without restart.
    let before = v.key_ids();
    let old_kid = kid(&t_es);
    srv.rotate_now(Alg::ES256).await;
    // "Now" may mean the next second when key timestamps collide: wait for the new signer.
    let mut t_new = srv.token(&es).await;
    for _ in 0..100 {
        if kid(&t_new) != old_kid {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        t_new = srv.token(&es).await;
    }
    assert_ne!(kid(&t_new), old_kid, "the rotated key signs");
    assert!(!before.contains(&kid(&t_new)));
    assert_eq!(v.verify(&t_new).await.unwrap().client_id(), es.0);
    assert!(v.key_ids().contains(&kid(&t_new)));
    assert_eq!(v.stats().unknown_kid_refetches, 1);
    // Tokens of the previous key still verify (it stays published).
    assert!(v.verify(&t_es).await.is_ok());

    // V12: the issuer stops: cached keys keep verifying, refreshes fail, nothing panics.
    let issuer = srv.issuer.clone();
    srv.stop().await;
    assert!(v.refresh().await.is_err());
    for t in [&t_es, &t_rs, &t_new] {
        assert!(v.verify(t).await.is_ok());
    }
    // A new verifier cannot start without keys.
    assert!(
        Verifier::builder()
            .issuer(&issuer)
            .audience("orders")
            .build()
            .await
            .is_err()
    );
    let report = cli_report(&t_es, &issuer, Some("orders"))
        .await
        .unwrap_err();
    assert!(report.contains("NOT VERIFIED"), "{report}");
}

/// The revocation feed end to end: a token revoked at the real issuer (RFC 7009) is
/// rejected by a polling verifier within its poll interval, with no per-request call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_server_revocations_reach_a_polling_verifier() {
    let srv = Issuer::start().await;
    let c = srv.client(Alg::ES256, &["orders"]).await;
    let v = Verifier::builder()
        .issuer(&srv.issuer)
        .audience("orders")
        .revocation(
            tessera_verify::RevocationFeed::new(&c.0, &c.1).interval(Duration::from_millis(200)),
        )
        .build()
        .await
        .unwrap();
    let revoked = srv.token(&c).await;
    let kept = srv.token(&c).await;
    assert!(v.verify(&revoked).await.is_ok());
    let status = reqwest::Client::new()
        .post(format!("{}/oauth/revoke", srv.issuer))
        .basic_auth(&c.0, Some(&c.1))
        .form(&[("token", revoked.as_str())])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let mut rejected = false;
    for _ in 0..100 {
        if matches!(v.verify(&revoked).await, Err(VerifyError::Revoked)) {
            rejected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        rejected,
        "the revoked token is rejected after the next poll"
    );
    assert!(v.verify(&kept).await.is_ok(), "other tokens still verify");
    srv.stop().await;
}
