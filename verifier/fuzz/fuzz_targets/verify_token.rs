//! Arbitrary bytes through the whole verification pipeline: no panic, no unbounded work.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_verify::Verifier;

/// A fixed P-256 key (Wycheproof's first ECDSA group) and a fixed clock.
const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig",
  "x":"KSexBRK64-3c_kZ4KBKLrSkDJpkZ9whgacjE32xzKDg","y":"x3h5ZOqsAOWSH7FJimD0YGdms9loUAFVjRqXTnNBUT4"}]}"#;

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        Verifier::builder()
            .issuer("https://auth.test")
            .audience("orders")
            .static_jwks(JWKS)
            .clock(|| 1_800_000_000)
            .build_static()
            .expect("the fixed JWKS imports")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = verifier().verify_cached(token);
        let _ = tessera_verify::__private::parse_only(token, 16 * 1024);
        let _ = tessera_verify::decode_unverified(token);
    }
});
