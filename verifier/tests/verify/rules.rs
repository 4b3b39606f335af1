//! Security rows V1–V10 (`docs/security.md`) and the VL-* details of
//! `docs/security-catalogue.md`, against a static JWK Set and a fixed clock.

use std::time::Duration;

use aws_lc_rs::hmac;
use serde_json::{Value, json};
use tessera_verify::{Error, Part, Verifier, VerifyError};

use crate::forge::{self, AUD, ISS, Signer, b64, claims, es, jwks, rs};

const NOW: i64 = 1_800_000_000;

fn verifier() -> Verifier {
    Verifier::builder()
        .issuer(ISS)
        .audience(AUD)
        .static_jwks(jwks(&[es(), rs()]))
        .clock(|| NOW)
        .build_static()
        .unwrap()
}

fn check(token: &str) -> Result<tessera_verify::Claims, VerifyError> {
    verifier().verify_cached(token)
}

fn err(token: &str) -> VerifyError {
    check(token).expect_err("token must be rejected")
}

/// Signs `header` + `claims` texts with the ES256 test key but any header.
fn es_raw(header: &str, claims: &Value) -> String {
    es().token_raw(header, &claims.to_string())
}

#[test]
fn valid_tokens_of_both_algorithms_verify() {
    for s in [es(), rs()] {
        let c = check(&s.token(&claims(NOW))).unwrap();
        assert_eq!(c.sub(), "alice");
        assert_eq!(c.iss(), ISS);
        assert_eq!(c.aud(), [AUD.to_string()]);
        assert_eq!(c.client_id(), "svc");
        assert_eq!(c.jti(), "jti-1");
        assert_eq!((c.exp(), c.iat(), c.nbf()), (NOW + 300, NOW, Some(NOW)));
    }
}

#[test]
fn claims_api() {
    #[derive(serde::Deserialize)]
    struct Custom {
        tenant: String,
        sub: String,
    }
    let mut c = claims(NOW);
    c["tenant"] = "acme".into();
    let c = check(&es().token(&c)).unwrap();
    assert!(c.has_scope("orders:read") && c.has_scope("orders:write"));
    assert!(!c.has_scope("orders"));
    assert_eq!(
        c.scopes().collect::<Vec<_>>(),
        ["orders:read", "orders:write"]
    );
    assert_eq!(c.roles(), ["admin".to_string()]);
    assert!(c.has_role("admin") && !c.has_role("Admin"));
    let t: Custom = c.custom().unwrap();
    assert_eq!((t.tenant.as_str(), t.sub.as_str()), ("acme", "alice"));
    assert_eq!(c.get("tenant"), Some(json!("acme")));
    assert_eq!(c.get("nope"), None);
    // No scope and no roles.
    let mut c = claims(NOW);
    c.as_object_mut().unwrap().remove("scope");
    c.as_object_mut().unwrap().remove("roles");
    let c = check(&es().token(&c)).unwrap();
    assert_eq!(c.scopes().count(), 0);
    assert!(c.roles().is_empty());
}

// ---- V1: alg none -------------------------------------------------------------------

#[test]
fn v1_alg_none_and_variants_are_rejected() {
    let payload = b64(claims(NOW).to_string().as_bytes());
    for alg in ["none", "None", "NONE", "noNE"] {
        let header = b64(json!({"alg": alg, "kid": "es-1", "typ": "at+jwt"})
            .to_string()
            .as_bytes());
        // Empty signature: not even a compact JWS.
        assert_eq!(
            err(&format!("{header}.{payload}.")),
            VerifyError::Malformed("empty segment")
        );
        assert_eq!(
            err(&format!("{header}.{payload}")),
            VerifyError::Malformed("fewer than three segments")
        );
        // Any signature: alg is not on the allow-list.
        assert!(matches!(
            err(&format!("{header}.{payload}.AAAA")),
            VerifyError::UnsupportedAlgorithm(_)
        ));
        // Even correctly signed.
        let t = es_raw(
            &json!({"alg": alg, "kid": "es-1", "typ": "at+jwt"}).to_string(),
            &claims(NOW),
        );
        assert!(matches!(err(&t), VerifyError::UnsupportedAlgorithm(_)));
    }
    let t = es_raw(r#"{"kid":"es-1","typ":"at+jwt"}"#, &claims(NOW));
    assert!(matches!(err(&t), VerifyError::UnsupportedAlgorithm(_)));
    let t = es_raw(r#"{"alg":null,"kid":"es-1","typ":"at+jwt"}"#, &claims(NOW));
    assert_eq!(err(&t), VerifyError::InvalidHeader("alg"));
}

// ---- V2: algorithm confusion --------------------------------------------------------

#[test]
fn v2_hs256_signed_with_the_public_key_is_rejected() {
    let jwk = rs().jwk();
    let n = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        jwk["n"].as_str().unwrap(),
    )
    .unwrap();
    let secrets: Vec<Vec<u8>> = vec![
        jwk.to_string().into_bytes(),
        n.clone(),
        [n.clone(), b"\n".to_vec()].concat(),
        forge::jwks(&[rs()]).into_bytes(),
    ];
    for alg in ["HS256", "HS384", "HS512"] {
        for secret in &secrets {
            let header = json!({"alg": alg, "kid": "rs-1", "typ": "at+jwt"}).to_string();
            let input = format!(
                "{}.{}",
                b64(header.as_bytes()),
                b64(claims(NOW).to_string().as_bytes())
            );
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
            let sig = hmac::sign(&key, input.as_bytes());
            let t = format!("{input}.{}", b64(sig.as_ref()));
            assert!(
                matches!(err(&t), VerifyError::UnsupportedAlgorithm(_)),
                "{alg}"
            );
        }
    }
}

#[test]
fn v2_a_key_is_used_only_with_its_own_algorithm() {
    // RS256 header naming the ES256 key, signed by the RSA key.
    let mut h = rs().header();
    h["kid"] = "es-1".into();
    assert!(matches!(
        err(&rs().token_with(&h, &claims(NOW))),
        VerifyError::AlgorithmMismatch {
            token: "RS256",
            key: "ES256"
        }
    ));
    // ES256 header naming the RSA key, signed by the EC key.
    let mut h = es().header();
    h["kid"] = "rs-1".into();
    assert!(matches!(
        err(&es().token_with(&h, &claims(NOW))),
        VerifyError::AlgorithmMismatch {
            token: "ES256",
            key: "RS256"
        }
    ));
    for alg in ["PS256", "RS384", "ES384", "EdDSA", "rs256", "es256"] {
        let mut h = rs().header();
        h["alg"] = alg.into();
        assert!(
            matches!(
                err(&rs().token_with(&h, &claims(NOW))),
                VerifyError::UnsupportedAlgorithm(_)
            ),
            "{alg}"
        );
    }
}

// ---- V3: header-supplied keys ---------------------------------------------------------

#[test]
fn v3_embedded_and_remote_keys_are_rejected_without_any_request() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let attacker = Signer::es256("attacker");
    for (name, value) in [
        ("jwk", attacker.jwk()),
        ("jku", json!(url)),
        ("x5u", json!(url)),
        ("x5c", json!(["MIIB"])),
        ("x5t", json!("abc")),
    ] {
        // Self-signed with the embedded key, kid of the embedded key.
        let mut h = attacker.header();
        h[name] = value.clone();
        assert!(matches!(
            err(&attacker.token_with(&h, &claims(NOW))),
            VerifyError::ForbiddenHeader(_)
        ));
        // Also with a genuine kid and a genuine signature: the parameter alone rejects.
        let mut h = es().header();
        h[name] = value;
        match err(&es().token_with(&h, &claims(NOW))) {
            VerifyError::ForbiddenHeader(e) => assert_eq!(e.as_str(), name),
            other => panic!("{name}: {other:?}"),
        }
    }
    // Nothing connected to the attacker URL.
    assert!(
        listener.accept().is_err(),
        "the verifier made a request driven by the token"
    );
}

// ---- V4: ECDSA signature edge cases at the JWT level (vectors: wycheproof.rs) ----------

#[test]
fn v4_psychic_and_malformed_es256_signatures_are_rejected() {
    let t = es().token(&claims(NOW));
    let input = &t[..t.rfind('.').unwrap()];
    let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let n1 = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632552");
    let good = es().sign_raw(input.as_bytes());
    let cases: Vec<Vec<u8>> = vec![
        vec![0; 64],
        [n.clone(), n.clone()].concat(),
        [n1.clone(), n1.clone()].concat(),
        [vec![0; 32], good[32..].to_vec()].concat(),
        [good[..32].to_vec(), vec![0; 32]].concat(),
        [good[..32].to_vec(), n.clone()].concat(),
        good[..63].to_vec(),
        [good.clone(), vec![0]].concat(),
        der(&good),
    ];
    for sig in cases {
        let forged = format!("{input}.{}", b64(&sig));
        assert_eq!(
            err(&forged),
            VerifyError::BadSignature,
            "signature of {} bytes",
            sig.len()
        );
    }
    // The genuine one still passes.
    assert!(check(&format!("{input}.{}", b64(&good))).is_ok());
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn der(raw: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let mut v = v.to_vec();
        if v[0] & 0x80 != 0 {
            v.insert(0, 0);
        }
        [vec![2, v.len() as u8], v].concat()
    };
    let body = [int(&raw[..32]), int(&raw[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

// ---- V5: crit ---------------------------------------------------------------------------

#[test]
fn v5_any_crit_is_rejected() {
    for extra in [
        json!({"crit": ["foo"], "foo": 1}),
        json!({"crit": []}),
        json!({"crit": "b64"}),
        json!({"crit": ["alg"]}),
        json!({"crit": ["b64"], "b64": false}),
        json!({"crit": ["exp", "exp"]}),
    ] {
        let mut h = es().header();
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        match err(&es().token_with(&h, &claims(NOW))) {
            VerifyError::ForbiddenHeader(e) => assert!(["crit", "b64"].contains(&e.as_str())),
            other => panic!("{extra}: {other:?}"),
        }
    }
}

// ---- V6: typ and token-type confusion -----------------------------------------------------

#[test]
fn v6_only_at_jwt_is_accepted() {
    for typ in [
        "at+jwt",
        "AT+JWT",
        "At+Jwt",
        "application/at+jwt",
        "Application/AT+JWT",
    ] {
        let mut h = es().header();
        h["typ"] = typ.into();
        assert!(check(&es().token_with(&h, &claims(NOW))).is_ok(), "{typ}");
    }
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("JOSE"),
        json!("dpop+jwt"),
        json!("application/jwt"),
        json!("at+jwt "),
        json!("application/"),
        json!(""),
    ] {
        let mut h = es().header();
        h["typ"] = typ.clone();
        assert!(
            matches!(
                err(&es().token_with(&h, &claims(NOW))),
                VerifyError::WrongType(_)
            ),
            "{typ}"
        );
    }
    let mut h = es().header();
    h.as_object_mut().unwrap().remove("typ");
    assert!(matches!(
        err(&es().token_with(&h, &claims(NOW))),
        VerifyError::WrongType(_)
    ));
    let mut h = es().header();
    h["typ"] = json!(["at+jwt"]);
    assert_eq!(
        err(&es().token_with(&h, &claims(NOW))),
        VerifyError::InvalidHeader("typ")
    );
    // An ID token (typ JWT, aud = client id, no client_id/jti) is never an access token,
    // even with its typ forged to at+jwt: required claims are missing.
    let id =
        json!({"iss": ISS, "sub": "alice", "aud": AUD, "exp": NOW + 300, "iat": NOW, "nonce": "n"});
    let mut h = es().header();
    h["typ"] = "JWT".into();
    assert!(matches!(
        err(&es().token_with(&h, &id)),
        VerifyError::WrongType(_)
    ));
    assert!(matches!(
        err(&es().token(&id)),
        VerifyError::MissingClaim(_)
    ));
    // Opaque refresh tokens fail the format check.
    assert!(matches!(err("8xLOxBtZp8"), VerifyError::Malformed(_)));
}

#[test]
fn required_claims_are_required_with_their_types() {
    for name in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"] {
        let mut c = claims(NOW);
        c.as_object_mut().unwrap().remove(name);
        assert_eq!(
            err(&es().token(&c)),
            VerifyError::MissingClaim(name),
            "{name}"
        );
        let time = ["exp", "iat"].contains(&name);
        let mut bads = vec![json!(null), json!(true), json!({"a": 1})];
        bads.push(if time { json!("1") } else { json!(7.5) });
        for bad in bads {
            let mut c = claims(NOW);
            c[name] = bad.clone();
            assert_eq!(
                err(&es().token(&c)),
                VerifyError::InvalidClaim(name),
                "{name}={bad}"
            );
        }
    }
    // nbf is optional, but typed when present.
    let mut c = claims(NOW);
    c.as_object_mut().unwrap().remove("nbf");
    assert!(check(&es().token(&c)).is_ok());
    for (name, bad) in [
        ("nbf", json!("1")),
        ("scope", json!(["a"])),
        ("roles", json!("admin")),
        ("roles", json!([1])),
    ] {
        let mut c = claims(NOW);
        c[name] = bad;
        assert_eq!(err(&es().token(&c)), VerifyError::InvalidClaim(name));
    }
}

// ---- V7: issuer and audience ----------------------------------------------------------

#[test]
fn v7_issuer_is_matched_exactly() {
    for iss in [
        "https://auth.test/",
        "http://auth.test",
        "https://AUTH.test",
        "https://auth.test ",
        "https://аuth.test",
        "https://auth.test.evil",
    ] {
        let mut c = claims(NOW);
        c["iss"] = iss.into();
        assert_eq!(err(&es().token(&c)), VerifyError::WrongIssuer, "{iss}");
    }
}

#[test]
fn v7_audience_must_contain_ours() {
    for aud in [
        json!("payments"),
        json!("Orders"),
        json!("orders/"),
        json!([]),
        json!(["payments"]),
        json!(["payments", "ORDERS"]),
    ] {
        let mut c = claims(NOW);
        c["aud"] = aud.clone();
        assert_eq!(err(&es().token(&c)), VerifyError::WrongAudience, "{aud}");
    }
    for aud in [
        json!([1]),
        json!(["orders", 1]),
        json!({"orders": true}),
        json!(null),
    ] {
        let mut c = claims(NOW);
        c["aud"] = aud.clone();
        assert_eq!(
            err(&es().token(&c)),
            VerifyError::InvalidClaim("aud"),
            "{aud}"
        );
    }
    for aud in [
        json!(["orders"]),
        json!(["payments", "orders"]),
        json!("orders"),
    ] {
        let mut c = claims(NOW);
        c["aud"] = aud.clone();
        assert!(check(&es().token(&c)).is_ok(), "{aud}");
    }
    // A token for another resource server is refused by ours and accepted by theirs.
    let mut c = claims(NOW);
    c["aud"] = "payments".into();
    let t = es().token(&c);
    let theirs = Verifier::builder()
        .issuer(ISS)
        .audience("payments")
        .static_jwks(jwks(&[es()]))
        .clock(|| NOW)
        .build_static()
        .unwrap();
    assert!(theirs.verify_cached(&t).is_ok());
    assert!(verifier().verify_cached(&t).is_err());
}

#[test]
fn empty_issuer_or_audience_cannot_be_built() {
    let e = Verifier::from_jwks(&jwks(&[es()]), ISS, "").unwrap_err();
    assert!(matches!(e, Error::Config(_)));
    let e = Verifier::from_jwks(&jwks(&[es()]), "", AUD).unwrap_err();
    assert!(matches!(e, Error::Config(_)));
}

// ---- V8: time claims ----------------------------------------------------------------------

#[test]
fn v8_leeway_boundaries() {
    let at = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(NOW);
        f(&mut c);
        check(&es().token(&c))
    };
    // Default leeway 60 s.
    assert!(at(&|c| c["exp"] = (NOW - 59).into()).is_ok());
    assert_eq!(
        at(&|c| c["exp"] = (NOW - 60).into()).unwrap_err(),
        VerifyError::Expired
    );
    assert_eq!(
        at(&|c| c["exp"] = (NOW - 3600).into()).unwrap_err(),
        VerifyError::Expired
    );
    assert!(at(&|c| c["nbf"] = (NOW + 60).into()).is_ok());
    assert_eq!(
        at(&|c| c["nbf"] = (NOW + 61).into()).unwrap_err(),
        VerifyError::NotYetValid
    );
    assert!(at(&|c| c["iat"] = (NOW + 60).into()).is_ok());
    assert_eq!(
        at(&|c| c["iat"] = (NOW + 61).into()).unwrap_err(),
        VerifyError::IssuedInFuture
    );
    // Fractions round towards rejection.
    assert_eq!(
        at(&|c| c["exp"] = json!((NOW - 59) as f64 - 0.5)).unwrap_err(),
        VerifyError::Expired
    );
    assert!(at(&|c| c["exp"] = json!((NOW - 58) as f64 - 0.5)).is_ok());
    assert_eq!(
        at(&|c| c["nbf"] = json!((NOW + 60) as f64 + 0.5)).unwrap_err(),
        VerifyError::NotYetValid
    );
    // Zero leeway: exp == now is expired (RFC 7519: now must be before exp).
    let strict = Verifier::builder()
        .issuer(ISS)
        .audience(AUD)
        .static_jwks(jwks(&[es()]))
        .leeway(Duration::ZERO)
        .clock(|| NOW)
        .build_static()
        .unwrap();
    let tok = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(NOW);
        f(&mut c);
        strict.verify_cached(&es().token(&c))
    };
    assert_eq!(
        tok(&|c| c["exp"] = NOW.into()).unwrap_err(),
        VerifyError::Expired
    );
    assert!(tok(&|c| c["exp"] = (NOW + 1).into()).is_ok());
    assert_eq!(
        tok(&|c| c["nbf"] = (NOW + 1).into()).unwrap_err(),
        VerifyError::NotYetValid
    );
    assert!(tok(&|c| c["nbf"] = NOW.into()).is_ok());
}

#[test]
fn v8_time_claims_must_be_numbers_and_never_overflow() {
    for name in ["exp", "iat", "nbf"] {
        for bad in [
            json!("9999999999"),
            json!(true),
            json!(null),
            json!({}),
            json!([NOW]),
        ] {
            let mut c = claims(NOW);
            c[name] = bad.clone();
            assert_eq!(
                err(&es().token(&c)),
                VerifyError::InvalidClaim(name),
                "{name}={bad}"
            );
        }
    }
    let mut c = claims(NOW);
    c["exp"] = i64::MAX.into();
    assert!(check(&es().token(&c)).is_ok());
    c["exp"] = u64::MAX.into();
    assert!(check(&es().token(&c)).is_ok());
    c["exp"] = (-1).into();
    assert_eq!(err(&es().token(&c)), VerifyError::Expired);
    c["exp"] = i64::MIN.into();
    assert_eq!(err(&es().token(&c)), VerifyError::Expired);
    let mut c = claims(NOW);
    c["nbf"] = i64::MAX.into();
    assert_eq!(err(&es().token(&c)), VerifyError::NotYetValid);
    // 1e400 is not a representable number: a JSON error, not infinity.
    let text = claims(NOW)
        .to_string()
        .replace(&format!("\"exp\":{}", NOW + 300), "\"exp\":1e400");
    assert!(matches!(
        err(&es().token_raw(&es().header().to_string(), &text)),
        VerifyError::Json {
            part: Part::Payload,
            ..
        }
    ));
}

#[test]
fn v8_leeway_is_capped() {
    let b = || {
        Verifier::builder()
            .issuer(ISS)
            .audience(AUD)
            .static_jwks(jwks(&[es()]))
    };
    assert!(b().leeway(Duration::from_secs(300)).build_static().is_ok());
    assert!(matches!(
        b().leeway(Duration::from_secs(86_400)).build_static(),
        Err(Error::Config(_))
    ));
}

// ---- V9: tampering and non-canonical encodings ---------------------------------------------

#[test]
fn v9_tampered_header_or_payload_fails_the_signature() {
    let t = es().token(&claims(NOW));
    let parts: Vec<&str> = t.split('.').collect();
    let mut c = claims(NOW);
    c["sub"] = "admin".into();
    let forged_payload = format!(
        "{}.{}.{}",
        parts[0],
        b64(c.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(err(&forged_payload), VerifyError::BadSignature);
    let h = r#"{"alg":"ES256","typ":"at+jwt","kid":"es-1"}"#;
    let forged_header = format!("{}.{}.{}", b64(h.as_bytes()), parts[1], parts[2]);
    assert_eq!(err(&forged_header), VerifyError::BadSignature);
    // A flipped signature bit.
    let mut sig =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[2])
            .unwrap();
    sig[10] ^= 1;
    assert_eq!(
        err(&format!("{}.{}.{}", parts[0], parts[1], b64(&sig))),
        VerifyError::BadSignature
    );
    // Same for RS256.
    let t = rs().token(&claims(NOW));
    let parts: Vec<&str> = t.split('.').collect();
    assert_eq!(
        err(&format!(
            "{}.{}.{}",
            parts[0],
            b64(c.to_string().as_bytes()),
            parts[2]
        )),
        VerifyError::BadSignature
    );
}

/// Signs the exact segment texts given (so the signature is valid over the odd encoding).
fn signed_segments(header: &str, payload: &str) -> String {
    let input = format!("{header}.{payload}");
    format!("{input}.{}", b64(&es().sign_raw(input.as_bytes())))
}

#[test]
fn v9_non_canonical_base64_is_rejected_even_when_signed() {
    use base64::engine::{
        Engine,
        general_purpose::{STANDARD, URL_SAFE},
    };
    let h = es().header().to_string();
    // A payload whose base64 has a partial last group and '+' or '/' in standard base64.
    let mut c = claims(NOW);
    let mut pad = String::new();
    let payload = loop {
        c["x"] = pad.clone().into();
        let text = c.to_string();
        let std = STANDARD.encode(text.as_bytes());
        if std.ends_with('=') && (std.contains('+') || std.contains('/')) {
            break text;
        }
        pad.push(if pad.len().is_multiple_of(2) {
            '?'
        } else {
            '>'
        });
        assert!(pad.len() < 200);
    };
    let hb = b64(h.as_bytes());
    let canonical = b64(payload.as_bytes());
    assert!(check(&signed_segments(&hb, &canonical)).is_ok());
    let padded = URL_SAFE.encode(payload.as_bytes());
    assert!(matches!(
        err(&signed_segments(&hb, &padded)),
        VerifyError::Malformed(_)
    ));
    let standard = STANDARD
        .encode(payload.as_bytes())
        .trim_end_matches('=')
        .to_string();
    assert!(matches!(
        err(&signed_segments(&hb, &standard)),
        VerifyError::Malformed(_)
    ));
    // Non-zero trailing bits: same bytes, different text.
    let last = canonical.chars().last().unwrap();
    const A: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = A.find(last).unwrap();
    let tweaked = format!(
        "{}{}",
        &canonical[..canonical.len() - 1],
        &A[idx | 1..(idx | 1) + 1]
    );
    assert_ne!(tweaked, canonical);
    assert_eq!(
        err(&signed_segments(&hb, &tweaked)),
        VerifyError::Base64(Part::Payload)
    );
    // Whitespace, CRLF, other characters.
    let t = es().token(&claims(NOW));
    for bad in [
        format!(" {t}"),
        format!("{t}\n"),
        format!("{t}\r\n"),
        t.replacen('.', " .", 1),
        t.replacen('.', "..", 1),
        format!("{t}."),
        format!("{t}.x.y"),
        format!("\u{feff}{t}"),
    ] {
        assert!(matches!(err(&bad), VerifyError::Malformed(_)), "{bad:?}");
    }
}

#[test]
fn v9_non_json_and_non_utf8_segments_are_rejected() {
    let c = claims(NOW).to_string();
    let bom = format!("\u{feff}{}", es().header());
    let t = es().token_raw(&bom, &c);
    assert!(matches!(
        err(&t),
        VerifyError::Json {
            part: Part::Header,
            ..
        }
    ));
    // UTF-16 header.
    let utf16: Vec<u8> = es()
        .header()
        .to_string()
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let input = format!("{}.{}", b64(&utf16), b64(c.as_bytes()));
    let t = format!("{input}.{}", b64(&es().sign_raw(input.as_bytes())));
    assert!(matches!(
        err(&t),
        VerifyError::Json {
            part: Part::Header,
            ..
        }
    ));
    // Invalid UTF-8 in the payload, validly signed.
    let mut bytes = c.clone().into_bytes();
    let i = c.find("alice").unwrap();
    bytes[i] = 0xff;
    let input = format!(
        "{}.{}",
        b64(es().header().to_string().as_bytes()),
        b64(&bytes)
    );
    let t = format!("{input}.{}", b64(&es().sign_raw(input.as_bytes())));
    assert!(matches!(
        err(&t),
        VerifyError::Json {
            part: Part::Payload,
            ..
        }
    ));
    // Header or payload that is not an object.
    for h in ["[]", "\"ES256\"", "null", "1"] {
        assert!(
            matches!(
                err(&es().token_raw(h, &c)),
                VerifyError::Json {
                    part: Part::Header,
                    ..
                }
            ),
            "{h}"
        );
    }
    for p in ["[]", "\"x\"", "null", "{}x"] {
        assert!(
            matches!(
                err(&es().token_raw(&es().header().to_string(), p)),
                VerifyError::Json {
                    part: Part::Payload,
                    ..
                }
            ),
            "{p}"
        );
    }
    // JSON serialisation (CVE-2022-39227 polyglot).
    let t = es().token(&claims(NOW));
    let p: Vec<&str> = t.split('.').collect();
    let json_form = json!({"protected": p[0], "payload": p[1], "signature": p[2]}).to_string();
    assert!(matches!(err(&json_form), VerifyError::Malformed(_)));
}

// ---- V10: size, nesting, duplicates ------------------------------------------------------------

#[test]
fn v10_oversized_tokens_are_rejected_before_parsing() {
    let huge = "a".repeat(1 << 20);
    assert_eq!(err(&huge), VerifyError::TooLarge { limit: 8192 });
    let t = format!(
        "{}.{}.{}",
        "e".repeat(400_000),
        "e".repeat(400_000),
        "e".repeat(400_000)
    );
    assert_eq!(err(&t), VerifyError::TooLarge { limit: 8192 });
    // A signed token just over the limit, and the limit configurable.
    let mut c = claims(NOW);
    c["pad"] = "x".repeat(8192).into();
    let t = es().token(&c);
    assert_eq!(err(&t), VerifyError::TooLarge { limit: 8192 });
    let big = Verifier::builder()
        .issuer(ISS)
        .audience(AUD)
        .static_jwks(jwks(&[es()]))
        .max_token_size(64 * 1024)
        .clock(|| NOW)
        .build_static()
        .unwrap();
    assert!(big.verify_cached(&t).is_ok());
}

#[test]
fn v10_deep_nesting_is_rejected() {
    let big = Verifier::builder()
        .issuer(ISS)
        .audience(AUD)
        .static_jwks(jwks(&[es()]))
        .max_token_size(4 << 20)
        .clock(|| NOW)
        .build_static()
        .unwrap();
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let h = format!("{{\"alg\":\"ES256\",\"kid\":\"es-1\",\"typ\":\"at+jwt\",\"x\":{deep}}}");
    assert!(matches!(
        big.verify_cached(&es().token_raw(&h, &claims(NOW).to_string())),
        Err(VerifyError::Json {
            part: Part::Header,
            ..
        })
    ));
    let mut text = claims(NOW).to_string();
    text.pop();
    text.push_str(&format!(",\"x\":{deep}}}"));
    assert!(matches!(
        big.verify_cached(&es().token_raw(&es().header().to_string(), &text)),
        Err(VerifyError::Json {
            part: Part::Payload,
            ..
        })
    ));
    let deep_obj = "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000);
    let mut text = claims(NOW).to_string();
    text.pop();
    text.push_str(&format!(",\"x\":{deep_obj}}}"));
    assert!(matches!(
        big.verify_cached(&es().token_raw(&es().header().to_string(), &text)),
        Err(VerifyError::Json {
            part: Part::Payload,
            ..
        })
    ));
    // Moderate nesting in custom claims is fine.
    let mut c = claims(NOW);
    c["x"] = serde_json::from_str(&("[".repeat(50) + &"]".repeat(50))).unwrap();
    assert!(check(&es().token(&c)).is_ok());
}

#[test]
fn v10_duplicate_members_are_rejected() {
    let h = r#"{"alg":"ES256","kid":"es-1","typ":"at+jwt"}"#;
    let c = claims(NOW).to_string();
    let body = &c[1..c.len() - 1];
    for dup in [
        format!("{{{body},\"sub\":\"admin\"}}"),
        format!("{{{body},\"exp\":9999999999}}"),
        format!("{{{body},\"aud\":\"payments\"}}"),
        format!("{{{body},\"iss\":\"{ISS}\"}}"),
        format!("{{{body},\"\\u0073ub\":\"admin\"}}"),
        format!("{{{body},\"custom\":1,\"custom\":2}}"),
        format!("{{{body},\"custom\":{{\"a\":1,\"a\":2}}}}"),
        format!("{{{body},\"custom\":[{{\"a\":1,\"a\":2}}]}}"),
    ] {
        assert!(
            matches!(
                err(&es().token_raw(h, &dup)),
                VerifyError::Json {
                    part: Part::Payload,
                    ..
                }
            ),
            "{dup}"
        );
    }
    for dup in [
        r#"{"alg":"none","alg":"ES256","kid":"es-1","typ":"at+jwt"}"#,
        r#"{"alg":"ES256","kid":"es-1","kid":"es-1","typ":"at+jwt"}"#,
        r#"{"alg":"ES256","kid":"es-1","typ":"JWT","typ":"at+jwt"}"#,
        r#"{"alg":"ES256","\u0061lg":"ES256","kid":"es-1","typ":"at+jwt"}"#,
        r#"{"alg":"ES256","kid":"es-1","typ":"at+jwt","x":1,"x":1}"#,
    ] {
        assert!(
            matches!(
                err(&es().token_raw(dup, &c)),
                VerifyError::Json {
                    part: Part::Header,
                    ..
                }
            ),
            "{dup}"
        );
    }
}

// ---- VL-04 kid, VL-11 nesting/JWE, VL-07 keys -------------------------------------------------

#[test]
fn kid_is_only_an_exact_map_key() {
    for kid in [
        json!("../../../../dev/null"),
        json!("' OR 1=1 --"),
        json!("ES-1"),
        json!("es-1 "),
        json!("x".repeat(5000)),
    ] {
        let mut h = es().header();
        h["kid"] = kid.clone();
        assert_eq!(
            err(&es().token_with(&h, &claims(NOW))),
            VerifyError::UnknownKey
        );
    }
    for kid in [
        json!(1),
        json!(null),
        json!({"kid": "es-1"}),
        json!(["es-1"]),
    ] {
        let mut h = es().header();
        h["kid"] = kid;
        assert_eq!(
            err(&es().token_with(&h, &claims(NOW))),
            VerifyError::InvalidHeader("kid")
        );
    }
    let mut h = es().header();
    h.as_object_mut().unwrap().remove("kid");
    assert_eq!(
        err(&es().token_with(&h, &claims(NOW))),
        VerifyError::MissingKid
    );
}

#[test]
fn jwe_and_nested_tokens_are_rejected() {
    assert!(matches!(
        err("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"),
        VerifyError::Malformed(_)
    ));
    for (k, v) in [
        ("cty", json!("JWT")),
        ("zip", json!("DEF")),
        ("enc", json!("A256GCM")),
        ("p2c", json!(10_000_000)),
        ("epk", json!({})),
    ] {
        let mut h = es().header();
        h[k] = v;
        assert!(
            matches!(
                err(&es().token_with(&h, &claims(NOW))),
                VerifyError::ForbiddenHeader(_)
            ),
            "{k}"
        );
    }
}

#[test]
fn invalid_jwks_entries_are_never_used() {
    let good = es().jwk();
    let mut off_curve = good.clone();
    let mut y = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        good["y"].as_str().unwrap(),
    )
    .unwrap();
    y[31] ^= 1;
    off_curve["y"] = b64(&y).into();
    let mut short_x = good.clone();
    short_x["x"] = b64(&[1u8; 31]).into();
    let mut wrong_crv = good.clone();
    wrong_crv["crv"] = "P-384".into();
    let mut enc = good.clone();
    enc["use"] = "enc".into();
    let mut private = good.clone();
    private["d"] = "AAAA".into();
    let mut alg_mismatch = good.clone();
    alg_mismatch["alg"] = "RS256".into();
    let mut hs = json!({"kty": "oct", "kid": "es-1", "k": "c2VjcmV0", "alg": "HS256"});
    let mut small_rsa = rs().jwk();
    let n = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        small_rsa["n"].as_str().unwrap(),
    )
    .unwrap();
    small_rsa["n"] = b64(&n[..128]).into();
    let mut e_one = rs().jwk();
    e_one["e"] = b64(&[1]).into();
    let mut e_even = rs().jwk();
    e_even["e"] = b64(&[1, 0, 0]).into();
    for (what, bad) in [
        ("off-curve", off_curve),
        ("short x", short_x),
        ("P-384", wrong_crv),
        ("use enc", enc),
        ("private", private),
        ("alg mismatch", alg_mismatch),
        ("oct", hs.take()),
        ("RSA-1024", small_rsa),
        ("e=1", e_one),
        ("even e", e_even),
    ] {
        let set = json!({"keys": [bad]}).to_string();
        assert!(
            matches!(Verifier::from_jwks(&set, ISS, AUD), Err(Error::Jwks(_))),
            "{what}"
        );
    }
    // Two keys with one kid: both dropped (the other key remains usable).
    let mut twin = Signer::es256("es-1").jwk();
    twin["kid"] = "es-1".into();
    let set = json!({"keys": [es().jwk(), twin, rs().jwk()]}).to_string();
    let v = Verifier::builder()
        .issuer(ISS)
        .audience(AUD)
        .static_jwks(set)
        .clock(|| NOW)
        .build_static()
        .unwrap();
    assert_eq!(v.key_ids(), ["rs-1"]);
    assert_eq!(
        v.verify_cached(&es().token(&claims(NOW))).unwrap_err(),
        VerifyError::UnknownKey
    );
    assert!(v.verify_cached(&rs().token(&claims(NOW))).is_ok());
    // Duplicate members in the JWKS document, empty set, garbage.
    let dup = format!("{{\"keys\":[{}],\"keys\":[]}}", es().jwk());
    for doc in [dup.as_str(), r#"{"keys":[]}"#, "{}", "[]", "not json"] {
        assert!(
            matches!(Verifier::from_jwks(doc, ISS, AUD), Err(Error::Jwks(_))),
            "{doc}"
        );
    }
    // A JWK without alg is bound to the only algorithm of its type.
    let mut no_alg = es().jwk();
    no_alg.as_object_mut().unwrap().remove("alg");
    let v = Verifier::builder()
        .issuer(ISS)
        .audience(AUD)
        .static_jwks(json!({"keys": [no_alg]}).to_string())
        .clock(|| NOW)
        .build_static()
        .unwrap();
    assert!(v.verify_cached(&es().token(&claims(NOW))).is_ok());
}

#[test]
fn errors_do_not_echo_the_token() {
    let mut h = es().header();
    h["alg"] = "a-very-long-alg-name-that-keeps-going-and-going-on-and-on".into();
    let e = err(&es().token_with(&h, &claims(NOW)));
    let text = e.to_string();
    assert!(text.len() < 120, "{text}");
    assert!(text.contains('…'));
    assert_eq!(e.public_message(), "The access token is invalid");
    assert_eq!(e.error_code(), "invalid_token");
}

#[test]
fn decode_unverified_shows_header_and_claims() {
    let (h, c) = tessera_verify::decode_unverified(&es().token(&claims(NOW))).unwrap();
    assert_eq!(h["kid"], "es-1");
    assert_eq!(c["sub"], "alice");
    assert!(tessera_verify::decode_unverified("a.b").is_err());
}

// ---- V10/VL-18: mutated tokens (a deterministic, bounded fuzz smoke run) ------------------

#[test]
fn random_mutations_never_panic_and_never_verify() {
    let v = verifier();
    let seeds = [es().token(&claims(NOW)), rs().token(&claims(NOW))];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut accepted = 0;
    for i in 0..20_000 {
        let seed = &seeds[i % 2];
        let mut t = seed.clone().into_bytes();
        for _ in 0..(next() % 3 + 1) {
            if t.is_empty() {
                break;
            }
            let pos = (next() as usize) % t.len();
            match next() % 4 {
                0 => t[pos] = next() as u8,
                1 => {
                    t.remove(pos);
                }
                2 => t.insert(pos, b"._-=+/ A\x00"[(next() % 9) as usize]),
                _ => t.truncate(pos.max(1)),
            }
        }
        let s = String::from_utf8_lossy(&t);
        if v.verify_cached(&s).is_ok() {
            // Only an identity mutation may verify: canonical encoding leaves no other way.
            assert_eq!(&*s, seed.as_str());
            accepted += 1;
        }
    }
    assert!(accepted < 100);
}
