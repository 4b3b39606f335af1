//! `Verifier::verify_request`: bearer and DPoP-bound tokens, rows D1, D4 and D5, nonces,
//! the replay cache bound, and `verify()` refusing bound tokens.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use tessera_verify::{
    RequestError, RequestParts, Scheme, Verifier, VerifyError,
    dpop::{ProofError, access_token_hash},
};

use crate::forge::{
    AUD, ISS, ProofKey, bound_claims, claims, es, jwks, pk_ed, pk_es, pk_es2, pk_rs, proof_claims,
};

const T0: i64 = 1_800_000_000;
const URL: &str = "https://api.example.com/orders";

fn verifier_at(clock: Arc<AtomicI64>) -> Verifier {
    Verifier::builder()
        .issuer(ISS)
        .audience(AUD)
        .static_jwks(jwks(&[es()]))
        .clock(move || clock.load(Ordering::Relaxed))
        .build_static()
        .unwrap()
}

fn verifier() -> Verifier {
    verifier_at(Arc::new(AtomicI64::new(T0)))
}

fn parts<'a>(auth: &'a str, dpop: Option<&'a str>) -> RequestParts<'a> {
    RequestParts {
        method: "GET",
        url: URL,
        authorization: Some(auth),
        dpop,
    }
}

fn bound_token(key: &ProofKey) -> String {
    es().token(&bound_claims(T0, &key.jkt()))
}

#[tokio::test]
async fn dpop_bound_token_with_a_fresh_proof_is_accepted() {
    let v = verifier();
    for key in [pk_es(), pk_rs(), pk_ed()] {
        let t = bound_token(key);
        let proof = key.proof("GET", URL, T0, Some(&t));
        let c = v
            .verify_request(&parts(&format!("DPoP {t}"), Some(&proof)))
            .await
            .unwrap();
        assert_eq!(c.confirmation_jkt(), Some(key.jkt().as_str()));
        assert_eq!(c.token_type(), "DPoP");
        assert!(c.is_sender_constrained());
    }
    assert_eq!(v.stats().dpop_replay_entries, 3);
    // The scheme name is case-insensitive.
    let t = bound_token(pk_es());
    let proof = pk_es().proof("GET", URL, T0, Some(&t));
    assert!(
        v.verify_request(&parts(&format!("dpop {t}"), Some(&proof)))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn plain_bearer_tokens_work_as_before() {
    let v = verifier();
    let t = es().token(&claims(T0));
    let c = v
        .verify_request(&parts(&format!("Bearer {t}"), None))
        .await
        .unwrap();
    assert_eq!(c.token_type(), "Bearer");
    assert_eq!(c.confirmation_jkt(), None);
    // A stray DPoP header next to an unbound bearer token is ignored.
    let c = v
        .verify_request(&parts(&format!("Bearer {t}"), Some("x.y.z")))
        .await;
    assert!(c.is_ok());
    // No credentials, another scheme, malformed.
    let none = RequestParts {
        method: "GET",
        url: URL,
        authorization: None,
        dpop: None,
    };
    assert_eq!(
        v.verify_request(&none).await.unwrap_err(),
        RequestError::NoCredentials {
            bearer_allowed: true
        }
    );
    assert_eq!(
        v.verify_request(&parts("Basic abc", None))
            .await
            .unwrap_err(),
        RequestError::NoCredentials {
            bearer_allowed: true
        }
    );
    assert_eq!(
        v.verify_request(&parts("Bearer a b", None))
            .await
            .unwrap_err(),
        RequestError::InvalidRequest {
            scheme: Scheme::Bearer
        }
    );
    // An invalid token with the DPoP scheme is challenged with DPoP.
    let e = v
        .verify_request(&parts("DPoP x.y.z", Some("p")))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        RequestError::InvalidToken {
            scheme: Scheme::DPoP,
            ..
        }
    ));
    assert!(e.www_authenticate(None)[0].starts_with(r#"DPoP error="invalid_token""#));
}

// D1
#[tokio::test]
async fn d1_replayed_proof_is_refused() {
    let clock = Arc::new(AtomicI64::new(T0));
    let v = verifier_at(clock.clone());
    let t = bound_token(pk_es());
    let proof = pk_es().proof("GET", URL, T0, Some(&t));
    let auth = format!("DPoP {t}");
    assert!(v.verify_request(&parts(&auth, Some(&proof))).await.is_ok());
    let e = v
        .verify_request(&parts(&auth, Some(&proof)))
        .await
        .unwrap_err();
    assert_eq!(e, RequestError::Replayed);
    assert_eq!(e.error_code(), Some("invalid_dpop_proof"));
    assert_eq!(e.status(), 401);
    // Still refused at the very end of its window (iat + 60 s max age + 60 s leeway)...
    clock.store(T0 + 120, Ordering::Relaxed);
    assert_eq!(
        v.verify_request(&parts(&auth, Some(&proof)))
            .await
            .unwrap_err(),
        RequestError::Replayed
    );
    // ...and after it, as too old (the entry may then be forgotten).
    clock.store(T0 + 121, Ordering::Relaxed);
    assert_eq!(
        v.verify_request(&parts(&auth, Some(&proof)))
            .await
            .unwrap_err(),
        RequestError::InvalidProof(ProofError::Stale)
    );
    // A new proof with the same token passes.
    let proof = pk_es().proof("GET", URL, T0 + 121, Some(&t));
    assert!(v.verify_request(&parts(&auth, Some(&proof))).await.is_ok());
}

// D4
#[tokio::test]
async fn d4_bound_token_as_bearer_or_without_proof_is_refused_with_a_dpop_challenge() {
    let v = verifier();
    let t = bound_token(pk_es());
    let proof = pk_es().proof("GET", URL, T0, Some(&t));
    for dpop in [None, Some(proof.as_str())] {
        let e = v
            .verify_request(&parts(&format!("Bearer {t}"), dpop))
            .await
            .unwrap_err();
        assert_eq!(e, RequestError::BoundTokenAsBearer);
        assert_eq!(e.status(), 401);
        assert_eq!(e.error_code(), Some("invalid_token"));
        assert!(e.www_authenticate(None)[0].starts_with("DPoP "));
        assert!(e.www_authenticate(None)[0].contains(r#"algs="ES256 RS256 PS256 EdDSA Ed25519""#));
    }
    let e = v
        .verify_request(&parts(&format!("DPoP {t}"), None))
        .await
        .unwrap_err();
    assert_eq!(e, RequestError::MissingProof);
    assert!(e.www_authenticate(None)[0].starts_with(r#"DPoP error="invalid_dpop_proof""#));
    // verify() alone never accepts a bound token.
    assert_eq!(
        v.verify(&t).await.unwrap_err(),
        VerifyError::SenderConstrained
    );
    assert_eq!(
        v.verify_cached(&t).unwrap_err(),
        VerifyError::SenderConstrained
    );
    assert!(v.verify_ignoring_binding(&t).await.is_ok());
    // Any cnf (e.g. an mTLS x5t#S256 binding we cannot check) is no bearer token either.
    let mut c = claims(T0);
    c["cnf"] = serde_json::json!({"x5t#S256": "abc"});
    let mtls = es().token(&c);
    assert_eq!(
        v.verify_request(&parts(&format!("Bearer {mtls}"), None))
            .await
            .unwrap_err(),
        RequestError::BoundTokenAsBearer
    );
    let p = pk_es().proof("GET", URL, T0, Some(&mtls));
    assert_eq!(
        v.verify_request(&parts(&format!("DPoP {mtls}"), Some(&p)))
            .await
            .unwrap_err(),
        RequestError::NotDpopBound
    );
    // An unbound token presented with the DPoP scheme.
    let plain = es().token(&claims(T0));
    let p = pk_es().proof("GET", URL, T0, Some(&plain));
    assert_eq!(
        v.verify_request(&parts(&format!("DPoP {plain}"), Some(&p)))
            .await
            .unwrap_err(),
        RequestError::NotDpopBound
    );
}

// D5
#[tokio::test]
async fn d5_proof_by_another_key_or_without_matching_ath_is_refused() {
    let v = verifier();
    let t = bound_token(pk_es());
    let auth = format!("DPoP {t}");
    let other = pk_es2().proof("GET", URL, T0, Some(&t));
    assert_eq!(
        v.verify_request(&parts(&auth, Some(&other)))
            .await
            .unwrap_err(),
        RequestError::KeyMismatch
    );
    let no_ath = pk_es().proof("GET", URL, T0, None);
    assert_eq!(
        v.verify_request(&parts(&auth, Some(&no_ath)))
            .await
            .unwrap_err(),
        RequestError::InvalidProof(ProofError::MissingAth)
    );
    // A proof made for another token of the same key.
    let mut c2 = bound_claims(T0, &pk_es().jkt());
    c2["jti"] = "jti-2".into();
    let t2 = es().token(&c2);
    let wrong_ath = pk_es().proof("GET", URL, T0, Some(&t2));
    assert_eq!(
        v.verify_request(&parts(&auth, Some(&wrong_ath)))
            .await
            .unwrap_err(),
        RequestError::InvalidProof(ProofError::WrongAth)
    );
    // D2 through the request: wrong URL and method.
    let p = pk_es().proof("GET", "https://api.example.com/other", T0, Some(&t));
    assert_eq!(
        v.verify_request(&parts(&auth, Some(&p))).await.unwrap_err(),
        RequestError::InvalidProof(ProofError::WrongUrl)
    );
    let p = pk_es().proof("POST", URL, T0, Some(&t));
    assert_eq!(
        v.verify_request(&parts(&auth, Some(&p))).await.unwrap_err(),
        RequestError::InvalidProof(ProofError::WrongMethod)
    );
    assert_eq!(access_token_hash(&t).len(), 43);
}

#[tokio::test]
async fn nonce_hook_answers_use_dpop_nonce() {
    let v = Verifier::builder()
        .issuer(ISS)
        .audience(AUD)
        .static_jwks(jwks(&[es()]))
        .clock(|| T0)
        .dpop_nonce(|n| match n {
            Some("good") => Ok(()),
            _ => Err("good".into()),
        })
        .build_static()
        .unwrap();
    let t = bound_token(pk_es());
    let auth = format!("DPoP {t}");
    let p = pk_es().proof("GET", URL, T0, Some(&t));
    let e = v.verify_request(&parts(&auth, Some(&p))).await.unwrap_err();
    assert_eq!(e.dpop_nonce(), Some("good"));
    assert_eq!(e.error_code(), Some("use_dpop_nonce"));
    let mut c = proof_claims("GET", URL, T0, Some(&t));
    c["nonce"] = "good".into();
    let p = pk_es().proof_with(&pk_es().header(), &c);
    assert!(v.verify_request(&parts(&auth, Some(&p))).await.is_ok());
}

#[tokio::test]
async fn replay_cache_full_refuses_rather_than_forgets() {
    let clock = Arc::new(AtomicI64::new(T0));
    let c2 = clock.clone();
    let v = Verifier::builder()
        .issuer(ISS)
        .audience(AUD)
        .static_jwks(jwks(&[es()]))
        .clock(move || c2.load(Ordering::Relaxed))
        .dpop_replay_capacity(2)
        .dpop_max_age(Duration::from_secs(10))
        .leeway(Duration::from_secs(5))
        .build_static()
        .unwrap();
    let t = bound_token(pk_es());
    let auth = format!("DPoP {t}");
    for _ in 0..2 {
        let p = pk_es().proof("GET", URL, T0, Some(&t));
        assert!(v.verify_request(&parts(&auth, Some(&p))).await.is_ok());
    }
    let p = pk_es().proof("GET", URL, T0, Some(&t));
    let e = v.verify_request(&parts(&auth, Some(&p))).await.unwrap_err();
    assert_eq!(e, RequestError::ReplayCacheFull);
    assert_eq!(e.status(), 503);
    // Once the first entries have expired (iat + 10 + 5), there is room again.
    clock.store(T0 + 16, Ordering::Relaxed);
    let p = pk_es().proof("GET", URL, T0 + 16, Some(&t));
    assert!(v.verify_request(&parts(&auth, Some(&p))).await.is_ok());
    assert_eq!(v.stats().dpop_replay_entries, 1);
}

#[tokio::test]
async fn dpop_required_refuses_plain_bearer_tokens() {
    let v = Verifier::builder()
        .issuer(ISS)
        .audience(AUD)
        .static_jwks(jwks(&[es()]))
        .clock(|| T0)
        .dpop_required(true)
        .build_static()
        .unwrap();
    let plain = es().token(&claims(T0));
    let e = v
        .verify_request(&parts(&format!("Bearer {plain}"), None))
        .await
        .unwrap_err();
    assert_eq!(e, RequestError::DpopRequired);
    assert!(e.www_authenticate(None)[0].starts_with("DPoP "));
    let none = RequestParts {
        method: "GET",
        url: URL,
        authorization: None,
        dpop: None,
    };
    let e = v.verify_request(&none).await.unwrap_err();
    assert_eq!(
        e.www_authenticate(Some("r")),
        vec![r#"DPoP realm="r", algs="ES256 RS256 PS256 EdDSA Ed25519""#.to_string()]
    );
    let t = bound_token(pk_es());
    let p = pk_es().proof("GET", URL, T0, Some(&t));
    assert!(
        v.verify_request_cached(&parts(&format!("DPoP {t}"), Some(&p)))
            .is_ok()
    );
}

#[test]
fn cnf_claim_is_strict() {
    let v = verifier();
    for cnf in [
        serde_json::json!("jkt"),
        serde_json::json!({"jkt": 5}),
        serde_json::json!({"jkt": ""}),
        serde_json::json!([]),
    ] {
        let mut c = claims(T0);
        c["cnf"] = cnf.clone();
        assert_eq!(
            v.verify_cached(&es().token(&c)).unwrap_err(),
            VerifyError::InvalidClaim("cnf"),
            "{cnf}"
        );
    }
    let mut c = claims(T0).to_string();
    c.pop();
    let dup = format!(r#"{c},"cnf":{{"jkt":"a","jkt":"b"}}}}"#);
    let t = es().token_raw(&es().header().to_string(), &dup);
    assert!(matches!(v.verify_cached(&t), Err(VerifyError::Json { .. })));
}
