//! Micro-benchmarks of the token path without HTTP, so a regression shows without a load run:
//!
//! - `sign/*`: the bare signature (the floor: what `openssl speed` measures);
//! - `claims/*`: building and serialising the RFC 9068 claim set;
//! - `issue/*`: a whole signed access token (id, claims, base64url, signature);
//! - `grant/*`: the client_credentials grant as the token endpoint runs it after the HTTP layer:
//!   form parsing, client authentication (in-memory cache hit), scope and audience, the token.
//!
//! `cargo bench -p tessera --bench token`; compare `sign/ES256` with `issue/ES256` and
//! `grant/client_credentials_ES256` to see what surrounds the signature.

use std::{hint::black_box, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tessera::{
    browser_cookies::Sealer,
    clients::{NewClient, RegistrationLimits},
    clock::{SharedClock, SystemClock},
    config::Settings,
    context::Context,
    grants,
    keys::{
        Alg,
        keyring::{SigningKey, Snapshot},
        material::PrivateKey,
    },
    params::Params,
    tokens::{AccessClaims, AccessTokenRequest, Audience, TokenIssuer, random_id},
};

const ISSUER: &str = "https://issuer.example";
const FORM: &[u8] = b"grant_type=client_credentials&scope=api%3Aread";

fn keyring_snapshot() -> Snapshot {
    let keys = Alg::ALL
        .iter()
        .map(|&alg| {
            let (key, _) = PrivateKey::generate(alg, 2048).expect("key generation");
            let jwk = key.public_jwk();
            let signer = tessera::keys::custody::Signer::Local(key);
            Arc::new(SigningKey::new(jwk.kid.clone(), 0, jwk, signer).expect("signing key"))
        })
        .collect();
    Snapshot::new(keys)
}

fn bench(c: &mut Criterion) {
    let clock: SharedClock = Arc::new(SystemClock);
    let snapshot = keyring_snapshot();
    let aud = vec!["https://api.example".to_string()];
    let rng = aws_lc_rs::rand::SystemRandom::new();

    let mut g = c.benchmark_group("sign");
    g.throughput(Throughput::Elements(1));
    for alg in Alg::ALL {
        let key = snapshot
            .signer(alg, 1)
            .expect("a key per algorithm")
            .clone();
        let msg = [b'x'; 300];
        g.bench_function(alg.as_str(), |b| {
            b.iter(|| key.sign(&rng, black_box(&msg)).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("claims");
    g.throughput(Throughput::Elements(1));
    g.bench_function("access_token_json", |b| {
        b.iter(|| {
            let jti = random_id(&rng).unwrap();
            let claims = AccessClaims {
                iss: ISSUER,
                sub: black_box("Yq0d2kOZcR3Kq8bU3mJ0Hg"),
                aud: Audience::from_slice(&aud),
                exp: 1_900_000_900,
                iat: 1_900_000_000,
                nbf: 1_900_000_000,
                jti: &jti,
                client_id: "Yq0d2kOZcR3Kq8bU3mJ0Hg",
                scope: Some("api:read"),
                roles: None,
                cnf: None,
                act: None,
                extra: None,
            };
            serde_json::to_vec(&claims).unwrap()
        })
    });
    g.finish();

    let issuer_keyring = Arc::new(tessera::keys::Keyring::new());
    issuer_keyring.replace(keyring_snapshot());
    let issuer = TokenIssuer::new(ISSUER.into(), issuer_keyring, clock.clone());
    let mut g = c.benchmark_group("issue");
    g.throughput(Throughput::Elements(1));
    for alg in Alg::ALL {
        g.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                issuer
                    .issue_access_token(&AccessTokenRequest {
                        subject: "Yq0d2kOZcR3Kq8bU3mJ0Hg",
                        client_id: "Yq0d2kOZcR3Kq8bU3mJ0Hg",
                        audience: &aud,
                        scope: "api:read",
                        ttl_secs: 900,
                        alg,
                        roles: None,
                        extra: None,
                        dpop_jkt: None,
                        act: None,
                    })
                    .unwrap()
            })
        });
    }
    g.finish();

    // The grant as the token endpoint runs it, on a real (temporary SQLite) client registry.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        database_url: format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
        issuer: ISSUER.into(),
        // The cache must not expire during a measurement (one DB read per TTL otherwise).
        client_cache_ttl: Duration::from_secs(3600),
        ..Settings::default()
    };
    let ctx = rt.block_on(async {
        let db = tessera::storage::connect_and_migrate(&settings)
            .await
            .unwrap();
        Context::new(
            Arc::new(settings.clone()),
            db,
            clock.clone(),
            Arc::new(tessera::keys::Keyring::new()),
            Sealer::random().unwrap(),
            tessera::dpop::NonceKeys::random(60).unwrap(),
        )
        .unwrap()
    });
    ctx.keyring.replace(keyring_snapshot());
    let mut g = c.benchmark_group("grant");
    g.throughput(Throughput::Elements(1));
    for alg in Alg::ALL {
        let created = rt
            .block_on(ctx.clients.create(
                NewClient {
                    name: format!("bench-{alg}"),
                    grant_types: vec!["client_credentials".into()],
                    scopes: vec!["api:read".into()],
                    audiences: aud.clone(),
                    token_ttl: None,
                    alg: Some(alg),
                    ..Default::default()
                },
                RegistrationLimits {
                    max_token_ttl: Duration::from_secs(86_400),
                },
            ))
            .unwrap();
        let basic = format!(
            "Basic {}",
            STANDARD.encode(format!(
                "{}:{}",
                created.client.client_id, created.client_secret
            ))
        );
        let name = format!("client_credentials_{alg}");
        g.bench_function(name.as_str(), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let params = Params::parse(black_box(FORM)).unwrap();
                    let res = grants::token(&ctx, Some(&basic), &params, None, &[])
                        .await
                        .unwrap();
                    serde_json::to_vec(&res).unwrap()
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
