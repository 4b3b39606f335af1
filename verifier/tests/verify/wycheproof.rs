//! V4 (and VL-06): Wycheproof vectors against the signature primitive, with keys imported
//! through our own JWK importer. Vectors: tests/data (C2SP/wycheproof, Apache-2.0).

use serde_json::{Value, json};
use tessera_verify::__private::verify_raw;

use crate::rules::hex;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs every case; returns (valid accepted, invalid rejected, acceptable) counts.
fn run(file: &str, jwk_member: &str, alg: &str) -> (usize, usize, usize) {
    let doc = load(file);
    let (mut valid, mut invalid, mut acceptable) = (0, 0, 0);
    for group in doc["testGroups"].as_array().unwrap() {
        let mut jwk = match group.get(jwk_member) {
            Some(j) => j.clone(),
            // A few ECDSA groups only give the uncompressed point.
            None => {
                let p = hex(group["publicKey"]["uncompressed"].as_str().unwrap());
                json!({"kty": "EC", "crv": "P-256", "x": crate::forge::b64(&p[1..33]), "y": crate::forge::b64(&p[33..65])})
            }
        };
        jwk["kid"] = "w".into();
        jwk["alg"] = alg.into();
        let jwks = json!({"keys": [jwk]}).to_string();
        for t in group["tests"].as_array().unwrap() {
            let msg = hex(t["msg"].as_str().unwrap());
            let sig = hex(t["sig"].as_str().unwrap());
            let ok = verify_raw(jwks.as_bytes(), "w", &msg, &sig).expect("the key imports");
            let id = &t["tcId"];
            match t["result"].as_str().unwrap() {
                "valid" => {
                    assert!(ok, "{file} tcId {id} ({}) must verify", t["comment"]);
                    valid += 1;
                }
                "invalid" => {
                    assert!(!ok, "{file} tcId {id} ({}) must be rejected", t["comment"]);
                    invalid += 1;
                }
                _ => acceptable += 1,
            }
        }
    }
    (valid, invalid, acceptable)
}

#[test]
fn v4_ecdsa_p256_p1363_vectors() {
    let (valid, invalid, _) = run(
        "ecdsa_secp256r1_sha256_p1363_test.json",
        "publicKeyJwk",
        "ES256",
    );
    assert_eq!((valid, invalid), (173, 89), "every vector ran");
    // The r = s = 0 case is among them.
    let doc = load("ecdsa_secp256r1_sha256_p1363_test.json");
    let zero = "0".repeat(128);
    assert!(
        doc["testGroups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["tests"].as_array().unwrap())
            .any(|t| t["sig"] == zero.as_str() && t["result"] == "invalid")
    );
}

#[test]
fn vl06_rsa_pkcs1_2048_sha256_vectors() {
    let (valid, invalid, _) = run("rsa_signature_2048_sha256_test.json", "keyJwk", "RS256");
    assert_eq!((valid, invalid), (9, 249), "every vector ran");
}
