//! The revocation feed client, against the fake issuer's feed.

use std::{sync::atomic::Ordering, time::Duration};

use tessera_verify::{Error, RevocationFeed, Verifier, VerifyError};

use crate::{
    fake::{Fake, eventually},
    forge::{AUD, claims, es, jwks, now},
};

fn token(fake: &Fake, jti: &str, sub: &str, iat: i64) -> String {
    let mut c = claims(now());
    c["iss"] = fake.issuer.clone().into();
    c["jti"] = jti.into();
    c["sub"] = sub.into();
    c["iat"] = iat.into();
    c["nbf"] = iat.into();
    es().token(&c)
}

async fn verifier(fake: &Fake, feed: RevocationFeed) -> Result<Verifier, Error> {
    Verifier::builder()
        .issuer(&fake.issuer)
        .audience(AUD)
        .revocation(feed)
        .build()
        .await
}

#[tokio::test]
async fn revoked_jtis_and_subjects_are_rejected_and_updates_arrive_by_polling() {
    let fake = Fake::start(&jwks(&[es()])).await;
    let t0 = now();
    fake.revoke_jti("jti-dead", t0 + 600);
    fake.revoke_jti("jti-expired-long-ago", t0 - 3600);
    fake.revoke_subject("bob", t0);
    let v = verifier(
        &fake,
        RevocationFeed::new("svc", "s:cret").interval(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    // The first poll has no cursor and happens during build.
    assert_eq!(fake.state.feed_since.lock().unwrap()[0], None);
    assert_eq!(
        v.verify(&token(&fake, "jti-dead", "alice", t0))
            .await
            .unwrap_err(),
        VerifyError::Revoked
    );
    assert!(v.verify(&token(&fake, "jti-ok", "alice", t0)).await.is_ok());
    // Subject cut-off: tokens issued before not_before are dead, later ones live.
    assert_eq!(
        v.verify(&token(&fake, "b1", "bob", t0 - 10))
            .await
            .unwrap_err(),
        VerifyError::SubjectRevoked
    );
    assert!(v.verify(&token(&fake, "b2", "bob", t0)).await.is_ok());
    // Expired entries are not kept.
    assert_eq!(v.stats().revoked_jtis, 1);
    // A later revocation arrives with the next poll, which sends the cursor.
    let live = token(&fake, "jti-later", "carol", t0);
    assert!(v.verify(&live).await.is_ok());
    fake.revoke_jti("jti-later", t0 + 600);
    assert!(eventually(|| v.verify_cached(&live).err() == Some(VerifyError::Revoked)).await);
    assert!(
        fake.state
            .feed_since
            .lock()
            .unwrap()
            .iter()
            .skip(1)
            .all(|s| s.is_some())
    );
    // Nothing per request: polls are independent of the number of verifications.
    let polls = fake.state.feed_hits.load(Ordering::SeqCst);
    for _ in 0..200 {
        let _ = v.verify(&token(&fake, "x", "alice", t0)).await;
    }
    assert!(fake.state.feed_hits.load(Ordering::SeqCst) < polls + 50);
    assert!(
        fake.state
            .feed_auth
            .lock()
            .unwrap()
            .iter()
            .all(|a| a == crate::fake::FEED_AUTH)
    );
}

#[tokio::test]
async fn wrong_credentials_fail_the_build() {
    let fake = Fake::start(&jwks(&[es()])).await;
    let e = verifier(&fake, RevocationFeed::new("svc", "wrong"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Fetch { .. }), "{e}");
}

#[tokio::test]
async fn feed_outage_keeps_the_last_lists_or_fails_closed_when_asked() {
    let fake = Fake::start(&jwks(&[es()])).await;
    let t0 = now();
    fake.revoke_jti("jti-dead", t0 + 600);
    let open = verifier(
        &fake,
        RevocationFeed::new("svc", "s:cret").interval(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    let closed = verifier(
        &fake,
        RevocationFeed::new("svc", "s:cret")
            .interval(Duration::from_millis(100))
            .fail_closed_after(Duration::from_millis(500)),
    )
    .await
    .unwrap();
    fake.set_up(false);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        open.verify(&token(&fake, "jti-dead", "a", t0))
            .await
            .unwrap_err(),
        VerifyError::Revoked
    );
    assert!(open.verify(&token(&fake, "jti-ok", "a", t0)).await.is_ok());
    assert_eq!(
        closed
            .verify(&token(&fake, "jti-ok", "a", t0))
            .await
            .unwrap_err(),
        VerifyError::RevocationUnavailable
    );
    fake.set_up(true);
    assert!(
        eventually(|| closed
            .verify_cached(&token(&fake, "jti-ok", "a", t0))
            .is_ok())
        .await
    );
}
