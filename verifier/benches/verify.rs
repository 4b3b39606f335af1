//! Full verification (strict parse + signature + claims) of one RS256 and one ES256 token,
//! and of a DPoP-bound ES256 token with an ES256 proof (`verify_request_cached`: token,
//! proof, thumbprint, `ath`, replay cache; a fresh proof per iteration, signed outside the
//! timed part). `bench.sh` runs this next to `openssl speed` and prints the ratios.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tessera_verify::{RequestParts, Verifier};

#[path = "../tests/verify/forge.rs"]
mod forge;

fn bench(c: &mut Criterion) {
    let es = forge::Signer::es256("es-bench");
    let rs = forge::Signer::rs256("rs-bench");
    let v = Verifier::from_jwks(&forge::jwks(&[&es, &rs]), forge::ISS, forge::AUD).unwrap();
    let mut claims = forge::claims(forge::now());
    claims["exp"] = (forge::now() + 86_400).into();
    for (name, signer) in [("RS256", &rs), ("ES256", &es)] {
        let token = signer.token(&claims);
        v.verify_cached(&token)
            .expect("the benchmark token verifies");
        let mut g = c.benchmark_group("verify");
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| {
            b.iter(|| v.verify_cached(black_box(&token)).unwrap())
        });
        g.finish();
    }

    // DPoP: two ES256 verifications (token and proof) plus the proof checks.
    let v = Verifier::builder()
        .issuer(forge::ISS)
        .audience(forge::AUD)
        .static_jwks(forge::jwks(&[&es]))
        .dpop_replay_capacity(1 << 23)
        .build_static()
        .unwrap();
    let key = forge::ProofKey::es256();
    let mut bound = forge::bound_claims(forge::now(), &key.jkt());
    bound["exp"] = (forge::now() + 86_400).into();
    let token = es.token(&bound);
    let auth = format!("DPoP {token}");
    let url = "https://api.example.com/orders";
    let proof = || key.proof("GET", url, forge::now(), Some(&token));
    let first = proof();
    let parts = |p: &str| -> Result<(), tessera_verify::RequestError> {
        v.verify_request_cached(&RequestParts {
            method: "GET",
            url,
            authorization: Some(&auth),
            dpop: Some(p),
        })
        .map(|_| ())
    };
    parts(&first).expect("the benchmark DPoP request verifies");
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("DPoP-ES256", |b| {
        b.iter_batched(
            proof,
            |p| parts(black_box(&p)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
