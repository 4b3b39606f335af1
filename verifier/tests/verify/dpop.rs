//! DPoP proofs (RFC 9449 §4.3): `tessera_verify::dpop::verify_proof`, rows D2 and D3.

use serde_json::{Value, json};
use tessera_verify::dpop::{
    ProofAlg, ProofError, ProofExpectations, access_token_hash, jwk_thumbprint, verify_proof,
};

use crate::forge::{ProofKey, b64, pk_ed, pk_es, pk_es2, pk_ps, pk_rs, proof_claims};

const NOW: i64 = 1_800_000_000;
const URL: &str = "https://api.example.com/orders/7";

fn expect(token: Option<&str>) -> ProofExpectations<'_> {
    ProofExpectations {
        method: "GET",
        url: URL,
        access_token: token,
        now: NOW,
        max_age: 60,
        leeway: 5,
    }
}

fn check(proof: &str) -> Result<tessera_verify::dpop::VerifiedProof, ProofError> {
    verify_proof(proof, &expect(None))
}

#[test]
fn every_supported_algorithm_is_accepted_with_its_thumbprint() {
    for (key, alg) in [
        (pk_es(), ProofAlg::Es256),
        (pk_rs(), ProofAlg::Rs256),
        (pk_ps(), ProofAlg::Ps256),
        (pk_ed(), ProofAlg::EdDsa),
    ] {
        let token = "an.access.token";
        let p = key.proof("GET", URL, NOW, Some(token));
        let v = verify_proof(&p, &expect(Some(token))).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(v.alg, alg);
        assert_eq!(v.jkt, key.jkt(), "{alg}");
        assert_eq!(v.jkt, jwk_thumbprint(&key.jwk()).unwrap());
        assert_eq!(v.iat, NOW);
        assert!(v.jti.starts_with("proof-"));
        assert_eq!(v.nonce, None);
    }
}

#[test]
fn ed25519_fully_specified_name_is_accepted_for_ed25519_keys_only() {
    // RFC 9864 `Ed25519`, as sent by oauth4webapi and openid-client.
    let mut h = pk_ed().header();
    h["alg"] = "Ed25519".into();
    let v = check(&pk_ed().proof_with(&h, &proof_claims("GET", URL, NOW, None))).unwrap();
    assert_eq!(v.alg, ProofAlg::EdDsa);
    let mut h = pk_es().header();
    h["alg"] = "Ed25519".into();
    assert_eq!(
        check(&pk_es().proof_with(&h, &proof_claims("GET", URL, NOW, None))),
        Err(ProofError::AlgorithmMismatch)
    );
}

#[test]
fn nonce_is_returned_for_the_caller() {
    let mut c = proof_claims("GET", URL, NOW, None);
    c["nonce"] = "n-1".into();
    let v = check(&pk_es().proof_with(&pk_es().header(), &c)).unwrap();
    assert_eq!(v.nonce.as_deref(), Some("n-1"));
    c["nonce"] = json!(7);
    assert_eq!(
        check(&pk_es().proof_with(&pk_es().header(), &c)),
        Err(ProofError::InvalidClaim("nonce"))
    );
}

// D2: method and URL.
#[test]
fn d2_wrong_htm_or_htu_is_refused() {
    let k = pk_es();
    assert_eq!(
        check(&k.proof("POST", URL, NOW, None)),
        Err(ProofError::WrongMethod)
    );
    assert_eq!(
        check(&k.proof("get", URL, NOW, None)),
        Err(ProofError::WrongMethod)
    );
    for htu in [
        "https://api.example.com/orders/7?x=1",
        "https://api.example.com/orders/7#f",
        "https://other.example.com/orders/7",
        "https://api.example.com/orders/8",
        "https://api.example.com/orders/7/",
        "http://api.example.com/orders/7",
        "https://api.example.com:8443/orders/7",
        "https://user@api.example.com/orders/7",
        "api.example.com/orders/7",
        "",
    ] {
        assert_eq!(
            check(&k.proof("GET", htu, NOW, None)),
            Err(ProofError::WrongUrl),
            "{htu}"
        );
    }
    // §4.3 normalisation: scheme/host case, default port, percent-encoding case.
    for htu in [
        "HTTPS://API.example.COM/orders/7",
        "https://api.example.com:443/orders/7",
        "https://api.example.com/orders/%37",
    ] {
        assert!(check(&k.proof("GET", htu, NOW, None)).is_ok(), "{htu}");
    }
    // The request's own query and fragment are ignored.
    let p = k.proof("GET", URL, NOW, None);
    let e = ProofExpectations {
        url: "https://api.example.com/orders/7?page=2",
        ..expect(None)
    };
    assert!(verify_proof(&p, &e).is_ok());
}

// D2: time window.
#[test]
fn d2_stale_or_future_iat_is_refused() {
    let k = pk_es();
    // Window: [now - 60 - 5, now + 5].
    assert!(check(&k.proof("GET", URL, NOW - 65, None)).is_ok());
    assert!(check(&k.proof("GET", URL, NOW + 5, None)).is_ok());
    assert_eq!(
        check(&k.proof("GET", URL, NOW - 66, None)),
        Err(ProofError::Stale)
    );
    assert_eq!(
        check(&k.proof("GET", URL, NOW + 6, None)),
        Err(ProofError::IssuedInFuture)
    );
    let mut c = proof_claims("GET", URL, NOW, None);
    c["iat"] = format!("{NOW}").into();
    assert_eq!(
        check(&k.proof_with(&k.header(), &c)),
        Err(ProofError::InvalidClaim("iat"))
    );
    c["iat"] = json!(i64::MIN);
    assert_eq!(
        check(&k.proof_with(&k.header(), &c)),
        Err(ProofError::Stale)
    );
    c["iat"] = json!(u64::MAX);
    assert_eq!(
        check(&k.proof_with(&k.header(), &c)),
        Err(ProofError::IssuedInFuture)
    );
}

// D3: the key must be public.
#[test]
fn d3_private_jwk_members_are_refused() {
    let k = pk_es();
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        let mut h = k.header();
        h["jwk"][member] = "AQAB".into();
        assert_eq!(
            check(&k.proof_with(&h, &proof_claims("GET", URL, NOW, None))),
            Err(ProofError::PrivateKey),
            "{member}"
        );
    }
}

// D3: alg none, HMAC, anything else off the list.
#[test]
fn d3_alg_none_hmac_and_unknown_algs_are_refused() {
    let k = pk_es();
    let c = proof_claims("GET", URL, NOW, None);
    for alg in [
        "none", "HS256", "HS512", "ES384", "RS512", "es256", "ed25519", "EDDSA", "",
    ] {
        let mut h = k.header();
        h["alg"] = alg.into();
        assert_eq!(
            check(&k.proof_with(&h, &c)),
            Err(ProofError::UnsupportedAlgorithm),
            "{alg}"
        );
    }
    // An unsigned token: `alg: none` with an empty signature segment.
    let mut h = k.header();
    h["alg"] = "none".into();
    let unsigned = format!(
        "{}.{}.",
        b64(h.to_string().as_bytes()),
        b64(c.to_string().as_bytes())
    );
    assert!(check(&unsigned).is_err());
    // HS256 "signed" with the public key's bytes as the secret.
    let mut h = k.header();
    h["alg"] = "HS256".into();
    let input = format!(
        "{}.{}",
        b64(h.to_string().as_bytes()),
        b64(c.to_string().as_bytes())
    );
    let key =
        aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, k.jwk().to_string().as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    assert_eq!(
        check(&format!("{input}.{}", b64(tag.as_ref()))),
        Err(ProofError::UnsupportedAlgorithm)
    );
}

// D3: typ.
#[test]
fn d3_typ_other_than_dpop_jwt_is_refused() {
    let k = pk_es();
    let c = proof_claims("GET", URL, NOW, None);
    for typ in [
        json!("JWT"),
        json!("at+jwt"),
        json!("DPoP+JWT"),
        json!("application/dpop+jwt"),
        json!(1),
    ] {
        let mut h = k.header();
        h["typ"] = typ.clone();
        assert_eq!(
            check(&k.proof_with(&h, &c)),
            Err(ProofError::WrongType),
            "{typ}"
        );
    }
    let mut h = k.header();
    h.as_object_mut().unwrap().remove("typ");
    assert_eq!(check(&k.proof_with(&h, &c)), Err(ProofError::WrongType));
}

#[test]
fn key_must_match_alg_and_be_usable() {
    let c = proof_claims("GET", URL, NOW, None);
    // An EC key claimed as RS256, an RSA key claimed as PS256 is fine, an RSA key as ES256.
    let mut h = pk_es().header();
    h["alg"] = "RS256".into();
    assert_eq!(
        check(&pk_es().proof_with(&h, &c)),
        Err(ProofError::AlgorithmMismatch)
    );
    let mut h = pk_rs().header();
    h["alg"] = "ES256".into();
    assert_eq!(
        check(&pk_rs().proof_with(&h, &c)),
        Err(ProofError::AlgorithmMismatch)
    );
    // RS256 signature presented as PS256: a bad signature, not a pass.
    let mut h = pk_rs().header();
    h["alg"] = "PS256".into();
    assert_eq!(
        check(&pk_rs().proof_with(&h, &c)),
        Err(ProofError::BadSignature)
    );
    // Small RSA modulus.
    let mut h = pk_rs().header();
    h["jwk"]["n"] = b64(&[0xc3; 128]).into();
    assert_eq!(
        check(&pk_rs().proof_with(&h, &c)),
        Err(ProofError::InvalidJwk)
    );
    // P-256 point off the curve.
    let mut h = pk_es().header();
    h["jwk"]["y"] = b64(&[7; 32]).into();
    assert_eq!(
        check(&pk_es().proof_with(&h, &c)),
        Err(ProofError::InvalidJwk)
    );
    // Another curve.
    let mut h = pk_es().header();
    h["jwk"]["crv"] = "P-384".into();
    assert_eq!(
        check(&pk_es().proof_with(&h, &c)),
        Err(ProofError::InvalidJwk)
    );
    // No jwk, a jwk string, a jwk of another key (signature fails).
    let mut h = pk_es().header();
    h.as_object_mut().unwrap().remove("jwk");
    assert_eq!(
        check(&pk_es().proof_with(&h, &c)),
        Err(ProofError::MissingJwk)
    );
    h["jwk"] = "x".into();
    assert_eq!(
        check(&pk_es().proof_with(&h, &c)),
        Err(ProofError::MissingJwk)
    );
    let mut h = pk_es().header();
    h["jwk"] = pk_es2().jwk();
    assert_eq!(
        check(&pk_es().proof_with(&h, &c)),
        Err(ProofError::BadSignature)
    );
}

#[test]
fn forbidden_headers_and_duplicates_are_refused() {
    let k = pk_es();
    let c = proof_claims("GET", URL, NOW, None);
    for name in ["crit", "jku", "x5u", "x5c", "b64", "zip", "enc"] {
        let mut h = k.header();
        h[name] = json!(["x"]);
        assert_eq!(
            check(&k.proof_with(&h, &c)),
            Err(ProofError::ForbiddenHeader),
            "{name}"
        );
    }
    let h = k.header().to_string();
    let dup_header = format!(r#"{{"typ":"dpop+jwt",{}"#, &h[1..]);
    assert_eq!(
        check(&k.proof_raw(&dup_header, &c.to_string())),
        Err(ProofError::InvalidHeader)
    );
    let dup_in_jwk = h.replace(r#""kty":"EC""#, r#""kty":"EC","kty":"EC""#);
    assert_eq!(
        check(&k.proof_raw(&dup_in_jwk, &c.to_string())),
        Err(ProofError::InvalidHeader)
    );
    let cs = c.to_string();
    let dup_claims = format!(r#"{{"htm":"POST",{}"#, &cs[1..]);
    assert_eq!(
        check(&k.proof_raw(&h, &dup_claims)),
        Err(ProofError::InvalidClaims)
    );
}

#[test]
fn claims_are_required_and_typed() {
    let k = pk_es();
    for name in ["jti", "htm", "htu", "iat"] {
        let mut c = proof_claims("GET", URL, NOW, None);
        c.as_object_mut().unwrap().remove(name);
        assert_eq!(
            check(&k.proof_with(&k.header(), &c)),
            Err(ProofError::MissingClaim(name)),
            "{name}"
        );
    }
    for (name, v) in [
        ("jti", json!("")),
        ("jti", json!("x".repeat(257))),
        ("jti", json!(5)),
        ("htm", json!(["GET"])),
        ("htu", Value::Null),
    ] {
        let mut c = proof_claims("GET", URL, NOW, None);
        c[name] = v;
        assert_eq!(
            check(&k.proof_with(&k.header(), &c)),
            Err(ProofError::InvalidClaim(name)),
            "{name}"
        );
    }
    let mut c = proof_claims("GET", URL, NOW, None);
    c["jti"] = "x".repeat(256).into();
    assert!(check(&k.proof_with(&k.header(), &c)).is_ok());
}

// D5 (proof half): ath.
#[test]
fn ath_is_required_with_a_token_and_must_match_it() {
    let k = pk_es();
    let p = k.proof("GET", URL, NOW, None);
    assert_eq!(
        verify_proof(&p, &expect(Some("tok"))),
        Err(ProofError::MissingAth)
    );
    let p = k.proof("GET", URL, NOW, Some("other"));
    assert_eq!(
        verify_proof(&p, &expect(Some("tok"))),
        Err(ProofError::WrongAth)
    );
    let p = k.proof("GET", URL, NOW, Some("tok"));
    assert!(verify_proof(&p, &expect(Some("tok"))).is_ok());
    assert_eq!(
        access_token_hash("tok"),
        proof_claims("GET", URL, NOW, Some("tok"))["ath"]
    );
}

#[test]
fn size_and_format_are_checked_first() {
    let k = pk_es();
    let p = k.proof("GET", URL, NOW, None);
    assert_eq!(check(&"a".repeat(8 * 1024 + 1)), Err(ProofError::TooLarge));
    assert_eq!(check(&format!("{p}.x")), Err(ProofError::Malformed));
    assert_eq!(check(&format!("{p}=")), Err(ProofError::Malformed));
    assert_eq!(check(&p.replacen('.', "..", 1)), Err(ProofError::Malformed));
    assert_eq!(check(""), Err(ProofError::Malformed));
    // A tampered payload.
    let mut parts: Vec<String> = p.split('.').map(str::to_owned).collect();
    parts[1] = b64(proof_claims("GET", URL, NOW + 1, None)
        .to_string()
        .as_bytes());
    assert_eq!(check(&parts.join(".")), Err(ProofError::BadSignature));
    // Errors are safe to show: no proof content echoed.
    assert_eq!(
        ProofError::WrongUrl.to_string(),
        "the DPoP proof htu does not match the request URL"
    );
    assert_eq!(ProofError::Stale.error_code(), "invalid_dpop_proof");
}

#[test]
fn fresh_keys_of_each_type_round_trip() {
    // Not the shared keys: guards against a thumbprint depending on key bytes by chance.
    for k in [ProofKey::es256(), ProofKey::eddsa()] {
        let v = check(&k.proof("GET", URL, NOW, None)).unwrap();
        assert_eq!(v.jkt, k.jkt());
    }
}

#[test]
fn every_single_character_change_of_a_valid_proof_is_refused() {
    for key in [pk_es(), pk_ed()] {
        let p = key.proof("GET", URL, NOW, None);
        assert!(check(&p).is_ok());
        let bytes = p.as_bytes();
        for i in 0..bytes.len() {
            for replacement in [b'A', b'_', b'.', b'='] {
                if bytes[i] == replacement {
                    continue;
                }
                let mut m = bytes.to_vec();
                m[i] = replacement;
                let m = String::from_utf8(m).unwrap();
                // Changing the last character of a segment may only flip unused bits, which
                // canonical base64url refuses; any accepted change would be a bug.
                assert!(check(&m).is_err(), "{} accepted a change at {i}", key.alg());
            }
        }
        // Truncations never panic and are refused.
        for n in 0..p.len() {
            assert!(check(&p[..n]).is_err());
        }
    }
}
