//! Full verification (strict parse + signature + claims) of one RS256 and one ES256 token.
//! `bench.sh` runs this next to `openssl speed` and prints the ratios.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tessera_verify::Verifier;

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
}

criterion_group!(benches, bench);
criterion_main!(benches);
