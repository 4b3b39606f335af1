//! Discovery, caching and refresh against a fake issuer: V11 (unknown-kid storm), V12
//! (issuer down), V13 (new key without restart), staleness and Cache-Control.

use std::{sync::atomic::Ordering, time::Duration};

use serde_json::json;
use tessera_verify::{Error, Verifier, VerifyError};

use crate::{
    fake::{Fake, eventually},
    forge::{self, AUD, Signer, claims, es, jwks, now, rs},
};

/// The fake issuer's tokens: same claims as `forge::claims` but with its issuer.
fn claims_for(fake: &Fake) -> serde_json::Value {
    let mut c = claims(now());
    c["iss"] = fake.issuer.clone().into();
    c
}

async fn verifier(fake: &Fake) -> Verifier {
    Verifier::builder()
        .issuer(&fake.issuer)
        .audience(AUD)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn discovery_then_jwks_then_verify() {
    let fake = Fake::start(&jwks(&[es(), rs()])).await;
    let v = verifier(&fake).await;
    assert_eq!(fake.state.discovery_hits.load(Ordering::SeqCst), 1);
    assert_eq!(fake.jwks_hits(), 1);
    assert_eq!(v.key_ids(), ["es-1", "rs-1"]);
    for s in [es(), rs()] {
        assert_eq!(
            v.verify(&s.token(&claims_for(&fake))).await.unwrap().sub(),
            "alice"
        );
    }
    // A token of another issuer, signed by a key of ours, is still refused.
    assert_eq!(
        v.verify(&es().token(&claims(now()))).await.unwrap_err(),
        VerifyError::WrongIssuer
    );
}

#[tokio::test]
async fn discovery_must_name_our_issuer() {
    let fake = Fake::start(&jwks(&[es()])).await;
    *fake.state.issuer.lock().unwrap() = "https://evil.test".into();
    let e = Verifier::builder()
        .issuer(&fake.issuer)
        .audience(AUD)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Discovery(_)), "{e}");
    // Trailing-slash variants of our issuer are another issuer.
    *fake.state.issuer.lock().unwrap() = format!("{}/", fake.issuer);
    assert!(
        Verifier::builder()
            .issuer(&fake.issuer)
            .audience(AUD)
            .build()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn build_fails_without_keys_and_http_is_loopback_only() {
    let fake = Fake::start(r#"{"keys":[]}"#).await;
    assert!(matches!(
        Verifier::builder()
            .issuer(&fake.issuer)
            .audience(AUD)
            .build()
            .await,
        Err(Error::Jwks(_))
    ));
    fake.set_up(false);
    assert!(matches!(
        Verifier::builder()
            .issuer(&fake.issuer)
            .audience(AUD)
            .build()
            .await,
        Err(Error::Fetch { .. })
    ));
    let e = Verifier::builder()
        .issuer("http://auth.example")
        .audience(AUD)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
}

#[tokio::test]
async fn jwks_uri_can_skip_discovery_and_responses_are_capped() {
    let fake = Fake::start(&jwks(&[es()])).await;
    let uri = format!("{}/.well-known/jwks.json", fake.issuer);
    let v = Verifier::builder()
        .issuer(&fake.issuer)
        .audience(AUD)
        .jwks_uri(&uri)
        .build()
        .await
        .unwrap();
    assert_eq!(fake.state.discovery_hits.load(Ordering::SeqCst), 0);
    assert!(v.verify(&es().token(&claims_for(&fake))).await.is_ok());
    // A 10 MB JWKS is refused.
    let mut big = jwks(&[es()]);
    big.insert_str(1, &format!("\"pad\":\"{}\",", "x".repeat(10 << 20)));
    fake.set_jwks(&big);
    let e = v.refresh().await.unwrap_err();
    assert!(matches!(e, Error::Fetch { .. }), "{e}");
    assert!(v.verify(&es().token(&claims_for(&fake))).await.is_ok());
}

/// V11: a storm of tokens with random unknown kids causes at most one JWKS refetch per
/// cooldown window, shared by all concurrent callers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v11_unknown_kid_storm_refetches_once_per_cooldown() {
    let fake = Fake::start(&jwks(&[es()])).await;
    let v = verifier(&fake).await;
    assert_eq!(fake.jwks_hits(), 1);
    let attacker = Signer::es256("unused");
    let mut tasks = Vec::new();
    for i in 0..300 {
        let mut h = attacker.header();
        h["kid"] = format!("random-{i}-{}", i * 7919).into();
        let t = attacker.token_with(&h, &claims_for(&fake));
        let v = v.clone();
        tasks.push(tokio::spawn(async move { v.verify(&t).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err(), VerifyError::UnknownKey);
    }
    assert_eq!(fake.jwks_hits(), 2, "one refetch for the whole storm");
    // Sync callers too: no fetch at all within the cooldown.
    for i in 0..100 {
        let mut h = attacker.header();
        h["kid"] = format!("sync-{i}").into();
        assert_eq!(
            v.verify_cached(&attacker.token_with(&h, &claims_for(&fake)))
                .unwrap_err(),
            VerifyError::UnknownKey
        );
    }
    tokio::task::yield_now().await;
    assert_eq!(fake.jwks_hits(), 2);
    assert_eq!(v.stats().unknown_kid_refetches, 1);
    // Known kids never wait for anything.
    assert!(v.verify(&es().token(&claims_for(&fake))).await.is_ok());
}

#[tokio::test]
async fn a_failed_or_empty_refetch_does_not_bypass_the_cooldown_or_evict_keys() {
    let fake = Fake::start(&jwks(&[es()])).await;
    let v = verifier(&fake).await;
    fake.set_jwks(r#"{"keys":[]}"#);
    let mut h = es().header();
    h["kid"] = "nope".into();
    for _ in 0..20 {
        assert_eq!(
            v.verify(&es().token_with(&h, &claims_for(&fake)))
                .await
                .unwrap_err(),
            VerifyError::UnknownKey
        );
    }
    assert_eq!(fake.jwks_hits(), 2);
    assert_eq!(v.stats().jwks_fetch_failures, 1);
    assert!(v.verify(&es().token(&claims_for(&fake))).await.is_ok());
}

/// V13 (fake issuer): a key published after the verifier started verifies without restart.
#[tokio::test]
async fn v13_new_kid_is_fetched_on_first_use() {
    let fake = Fake::start(&jwks(&[es()])).await;
    let v = verifier(&fake).await;
    let next = Signer::es256("es-2");
    fake.set_jwks(&jwks(&[&next, es()]));
    assert_eq!(
        v.verify(&next.token(&claims_for(&fake)))
            .await
            .unwrap()
            .sub(),
        "alice"
    );
    assert_eq!(v.key_ids(), ["es-1", "es-2"]);
    // A key removed from the JWKS (revoked) stops verifying after the next fetch.
    fake.set_jwks(&jwks(&[&next]));
    v.refresh().await.unwrap();
    assert_eq!(
        v.verify(&es().token(&claims_for(&fake))).await.unwrap_err(),
        VerifyError::UnknownKey
    );
}

/// `verify_cached` never waits, but schedules the refetch for later calls.
#[tokio::test]
async fn verify_cached_schedules_a_background_refetch() {
    let fake = Fake::start(&jwks(&[es()])).await;
    let v = verifier(&fake).await;
    let next = Signer::es256("es-2");
    fake.set_jwks(&jwks(&[&next, es()]));
    let t = next.token(&claims_for(&fake));
    assert_eq!(v.verify_cached(&t).unwrap_err(), VerifyError::UnknownKey);
    assert!(eventually(|| v.verify_cached(&t).is_ok()).await);
}

/// V12: the issuer is down: cached keys keep verifying, within the staleness bound.
#[tokio::test]
async fn v12_issuer_down_keeps_cached_keys_until_the_staleness_bound() {
    let fake = Fake::start(&jwks(&[es()])).await;
    let v = Verifier::builder()
        .issuer(&fake.issuer)
        .audience(AUD)
        .cache_ttl_bounds(Duration::ZERO, Duration::ZERO)
        .max_stale(Duration::from_secs(1))
        .refresh_retry(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    let t = es().token(&claims_for(&fake));
    fake.set_up(false);
    assert!(v.refresh().await.is_err());
    // Immediately after the failure the cached key still verifies (no panic, no eviction).
    let first = v.verify(&t).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Past lifetime + max_stale: fail closed.
    assert_eq!(
        v.verify(&t).await.unwrap_err(),
        VerifyError::KeysUnavailable
    );
    // The issuer is back: a refresh restores service.
    fake.set_up(true);
    v.refresh().await.unwrap();
    assert!(v.verify(&t).await.is_ok());
    // `first` ran within 1 s of the fetch unless the machine stalled; only check that
    // it was one of the two legitimate outcomes.
    assert!(matches!(first, Ok(_) | Err(VerifyError::KeysUnavailable)));
}

#[tokio::test]
async fn v12_default_staleness_keeps_verifying_while_the_issuer_is_down() {
    let fake = Fake::start(&jwks(&[es(), rs()])).await;
    let v = verifier(&fake).await;
    fake.set_up(false);
    for _ in 0..3 {
        assert!(v.refresh().await.is_err());
        assert!(v.verify(&es().token(&claims_for(&fake))).await.is_ok());
        assert!(v.verify(&rs().token(&claims_for(&fake))).await.is_ok());
    }
    // Garbage from a half-broken issuer neither.
    fake.set_up(true);
    fake.set_jwks("<html>oops</html>");
    assert!(v.refresh().await.is_err());
    assert!(v.verify(&es().token(&claims_for(&fake))).await.is_ok());
    assert_eq!(v.stats().jwks_fetch_failures, 4);
}

/// Cache-Control max-age drives background refresh (bounded by the configured floor).
#[tokio::test]
async fn background_refresh_follows_max_age_and_uses_etags() {
    let fake = Fake::start(&jwks(&[es()])).await;
    *fake.state.cache_control.lock().unwrap() = "public, max-age=1".into();
    *fake.state.etag.lock().unwrap() = Some("\"v1\"".into());
    let v = Verifier::builder()
        .issuer(&fake.issuer)
        .audience(AUD)
        .cache_ttl_bounds(Duration::from_secs(1), Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    assert!(
        eventually(|| fake.jwks_hits() >= 3).await,
        "background refreshes happen"
    );
    assert!(
        fake.state.not_modified.load(Ordering::SeqCst) >= 1,
        "If-None-Match is sent"
    );
    assert!(v.verify(&es().token(&claims_for(&fake))).await.is_ok());
    // A new JWKS (new ETag) is picked up in the background too, without any token asking.
    let next = Signer::es256("es-bg");
    *fake.state.etag.lock().unwrap() = Some("\"v2\"".into());
    fake.set_jwks(&jwks(&[&next, es()]));
    assert!(eventually(|| v.key_ids().contains(&"es-bg".to_string())).await);
    drop(v);
}

#[tokio::test]
async fn dropping_the_verifier_stops_background_work() {
    let fake = Fake::start(&jwks(&[es()])).await;
    *fake.state.cache_control.lock().unwrap() = "max-age=1".into();
    let v = Verifier::builder()
        .issuer(&fake.issuer)
        .audience(AUD)
        .cache_ttl_bounds(Duration::from_secs(1), Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    drop(v);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let hits = fake.jwks_hits();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(fake.jwks_hits(), hits);
    assert!(hits <= 2);
    let _ = json!(forge::ISS);
}
