//! Key lifecycle: the "no token signed by an unpublished key" invariant driven with a fake
//! clock (K4), revocation (K8), CLI changes picked up by a running server, sealing (K6).

use std::{collections::HashMap, sync::Arc, time::Duration};

use tessera::keys::{Alg, Kek, store};

use crate::{
    on_both_backends,
    support::{Backend, TestApp, fake_clock_now, header, spawn, spawn_with},
};

/// The `kid`s of a JWKS document, in order.
pub fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// Verifies a token's signature with the independent `jsonwebtoken` crate (times are
/// fake here, so only the signature is checked).
fn signature_verifies(token: &str, jwks: &serde_json::Value) -> bool {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
    let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let h = decode_header(token).unwrap();
    let Some(jwk) = set.find(h.kid.as_deref().unwrap()) else {
        return false;
    };
    let mut v = Validation::new(h.alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    decode::<serde_json::Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v).is_ok()
}

/// Deterministic pseudo-random steps (xorshift), so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn no_token_is_signed_by_a_key_absent_from_the_jwks(backend: Backend) {
    let clock = fake_clock_now();
    let app = spawn_with(
        backend,
        |s| {
            s.rotation_interval = Duration::from_secs(3600);
            s.max_access_token_ttl = Duration::from_secs(3600);
            s.access_token_ttl = Duration::from_secs(900);
            // Only the test's own ticks move the lifecycle, so every JWKS change is sampled.
            s.key_refresh_interval = Duration::from_secs(3600);
        },
        Arc::new(clock.clone()),
    )
    .await;
    let prepublish = app.state.settings.effective_prepublish().as_secs() as i64;
    let keys = app.state.keys.clone().unwrap();
    let es = app.client("a", &["aud"], Some(Alg::ES256)).await;
    let rs = app.client("a", &["aud"], Some(Alg::RS256)).await;

    let mut first_seen: HashMap<String, i64> = HashMap::new();
    let mut emergency: Vec<String> = Vec::new();
    let mut live_tokens: Vec<(String, String, i64)> = Vec::new(); // (token, kid, exp)
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut signers_seen = std::collections::HashSet::new();
    // The first keys sign from the start: nothing could have cached anything before.
    let start = tessera::clock::Clock::now(&clock);
    for k in kids(&app.jwks().await) {
        first_seen.insert(k.clone(), start);
        emergency.push(k);
    }
    let steps = 160;
    for step in 0..steps {
        clock.advance(1 + rng.next(prepublish as u64 / 2) as i64);
        match rng.next(100) {
            0..=3 => {
                let alg = if rng.next(2) == 0 {
                    Alg::ES256
                } else {
                    Alg::RS256
                };
                emergency.extend(keys.rotate(&[alg], true).await.unwrap());
            }
            4..=5 => {
                // Revoke the key currently signing ES256; its tokens stop mattering.
                let t = app.access_token(&es).await;
                let kid = header(&t)["kid"].as_str().unwrap().to_string();
                let before = kids(&app.jwks().await);
                keys.revoke(&kid).await.unwrap();
                let after = kids(&app.jwks().await);
                assert!(
                    !after.contains(&kid),
                    "K8: a revoked key leaves the JWKS at once"
                );
                emergency.extend(after.into_iter().filter(|k| !before.contains(k)));
                live_tokens.retain(|(_, k, _)| k != &kid);
            }
            _ => keys.tick(false).await.unwrap(),
        }
        let now = tessera::clock::Clock::now(&clock);
        let jwks_before = app.jwks().await;
        for k in kids(&jwks_before) {
            first_seen.entry(k).or_insert(now);
        }
        for c in [&es, &rs] {
            let token = app.access_token(c).await;
            let kid = header(&token)["kid"].as_str().unwrap().to_string();
            let jwks = app.jwks().await;
            // The invariant: the signing key is in the JWKS being served...
            assert!(
                kids(&jwks).contains(&kid),
                "step {step}: {kid} signed but is not published"
            );
            assert!(
                signature_verifies(&token, &jwks),
                "step {step}: independent verification failed"
            );
            // ...and, unless created for an emergency, was published `prepublish` before.
            if !emergency.contains(&kid) {
                let seen = first_seen[&kid];
                assert!(
                    now - seen >= prepublish,
                    "step {step}: {kid} signs {}s after publication (< {prepublish}s)",
                    now - seen
                );
            }
            signers_seen.insert(kid.clone());
            live_tokens.push((token, kid, now + 900));
        }
        // K4: every unexpired token still verifies against the current JWKS.
        let jwks = app.jwks().await;
        live_tokens.retain(|(_, _, exp)| *exp > now);
        for (token, kid, _) in &live_tokens {
            assert!(
                kids(&jwks).contains(kid),
                "step {step}: key {kid} of a valid token unpublished"
            );
            assert!(signature_verifies(token, &jwks));
        }
    }
    assert!(
        signers_seen.len() >= 6,
        "the test must exercise several rotations, saw {}",
        signers_seen.len()
    );
    // Keys whose tokens have all expired are eventually removed from the JWKS.
    clock.advance(2 * 3600 + 3600);
    keys.tick(false).await.unwrap();
    clock.advance(2 * 3600 + 3600);
    keys.tick(false).await.unwrap();
    assert!(
        kids(&app.jwks().await).len() <= 4,
        "old keys are removed from the JWKS"
    );
}
on_both_backends!(no_token_is_signed_by_a_key_absent_from_the_jwks);

/// Runs the CLI against the same database and KEK as `app`.
pub fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let s = &app.state.settings;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args)
        .current_dir(app.dir.path())
        .env("TESSERA_DATABASE_URL", &s.database_url)
        .env("TESSERA_KEK", s.kek.as_deref().unwrap())
        .env("TESSERA_LOG", "warn");
    if let Some(schema) = &s.database_schema {
        cmd.env("TESSERA_DATABASE_SCHEMA", schema);
    }
    cmd.output().unwrap()
}

async fn cli_rotation_and_revocation_reach_a_running_server(backend: Backend) {
    let app = spawn(backend).await;
    let c = app.client("a", &["aud"], Some(Alg::ES256)).await;
    let old_kid = header(&app.access_token(&c).await)["kid"]
        .as_str()
        .unwrap()
        .to_string();

    // `keys rotate` (scheduled): published now, not signing yet.
    let out = cli(&app, &["keys", "rotate", "--alg", "ES256"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let next_kid = stdout.split_whitespace().nth(1).unwrap().to_string();
    wait_for(&app, |kids| kids.contains(&next_kid)).await;
    assert_eq!(
        header(&app.access_token(&c).await)["kid"],
        old_kid.as_str(),
        "a NEXT key must not sign yet"
    );

    // `keys rotate --now`: signs at once, and it is in the JWKS.
    let out = cli(&app, &["keys", "rotate", "--alg", "ES256", "--now"]);
    assert!(out.status.success());
    let now_kid = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    wait_for(&app, |kids| kids.contains(&now_kid)).await;
    let mut signed_by = String::new();
    for _ in 0..50 {
        signed_by = header(&app.access_token(&c).await)["kid"]
            .as_str()
            .unwrap()
            .to_string();
        if signed_by == now_kid {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(signed_by, now_kid);
    assert!(
        kids(&app.jwks().await).contains(&old_kid),
        "the retired key stays published"
    );

    // `keys list` shows the states.
    let out = cli(&app, &["keys", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let state_of = |kid: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state_of(&now_kid).as_deref(), Some("ACTIVE"));
    assert_eq!(state_of(&old_kid).as_deref(), Some("RETIRED"));

    // `keys revoke`: gone from the JWKS within the refresh interval; a replacement signs.
    let out = cli(&app, &["keys", "revoke", &now_kid]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(&app, |kids| !kids.contains(&now_kid)).await;
    let kid = header(&app.access_token(&c).await)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(kid, now_kid);
    assert!(kids(&app.jwks().await).contains(&kid));
    // Revoking an unknown key is an error, not a crash.
    let out = cli(&app, &["keys", "revoke", "no-such-kid"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}
on_both_backends!(cli_rotation_and_revocation_reach_a_running_server);

async fn wait_for(app: &TestApp, pred: impl Fn(&Vec<String>) -> bool) {
    for _ in 0..100 {
        if pred(&kids(&app.jwks().await)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the running server did not pick up the key change within 10 s");
}

async fn private_keys_are_sealed_at_rest(backend: Backend) {
    let app = spawn(backend).await;
    let rows = store::list(&app.state.db).await.unwrap();
    assert_eq!(rows.len(), 2);
    let kek = Kek::parse(app.state.settings.kek.as_deref().unwrap()).unwrap();
    for r in &rows {
        let pkcs8 = kek.unseal(&r.kid, &r.sealed_private_key).unwrap();
        // The stored bytes are not the key, nor contain it.
        assert!(
            !r.sealed_private_key
                .windows(pkcs8.len().min(32))
                .any(|w| w == &pkcs8[pkcs8.len() - 32..])
        );
        let alg: Alg = r.alg.parse().unwrap();
        let key = tessera::keys::material::PrivateKey::from_pkcs8(alg, &pkcs8).unwrap();
        assert_eq!(
            key.public_jwk().kid,
            r.kid,
            "the sealed key is the published one"
        );
        // The public JWK stored beside it has no private member.
        let jwk: serde_json::Value = serde_json::from_str(&r.public_jwk).unwrap();
        assert!(jwk.get("d").is_none());
        // A sealed key moved to another row does not unseal (bound to its kid).
        let other = rows.iter().find(|o| o.kid != r.kid).unwrap();
        assert!(kek.unseal(&other.kid, &r.sealed_private_key).is_err());
    }
    // With TESSERA_KEK set, no KEK file is written.
    assert!(!app.state.settings.kek_file.exists());
}
on_both_backends!(private_keys_are_sealed_at_rest);

async fn verify_command_checks_tokens_against_the_issuer(backend: Backend) {
    let app = spawn(backend).await;
    let c = app
        .client("a", &["https://orders.internal"], Some(Alg::RS256))
        .await;
    let token = app.access_token(&c).await;
    let out = cli(
        &app,
        &[
            "verify",
            &token,
            "--issuer",
            &app.base,
            "--audience",
            "https://orders.internal",
        ],
    );
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{report}");
    assert!(report.contains("Verdict: VALID"), "{report}");
    let out = cli(
        &app,
        &[
            "verify",
            &token,
            "--issuer",
            &app.base,
            "--audience",
            "https://other",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("INVALID"));
    let mut tampered = token.clone();
    tampered.insert(token.find('.').unwrap() + 3, 'x');
    let out = cli(&app, &["verify", &tampered, "--issuer", &app.base]);
    assert!(!out.status.success());
}
on_both_backends!(verify_command_checks_tokens_against_the_issuer);
