//! Interop: proofs made by openid-client, oauth4webapi and panva/jose, and access tokens
//! signed by jose (fixture from `tests/interop/verify_dpop_fixtures.sh`), accepted or
//! refused by `Verifier::verify_request` as RFC 9449 says (D1, D3, D4, D5).

use serde::Deserialize;
use tessera_verify::{RequestError, RequestParts, Verifier};

#[derive(Deserialize)]
struct Fixture {
    issuer: String,
    audience: String,
    now: i64,
    jwks: serde_json::Value,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    method: String,
    url: String,
    authorization: Option<String>,
    dpop: Option<String>,
    expect: String,
}

#[tokio::test]
async fn proofs_from_openid_client_oauth4webapi_and_jose() {
    let text = include_str!("../data/dpop_interop.json");
    let f: Fixture = serde_json::from_str(text).unwrap();
    let now = f.now;
    let v = Verifier::builder()
        .issuer(&f.issuer)
        .audience(&f.audience)
        .static_jwks(f.jwks.to_string())
        .clock(move || now)
        .build_static()
        .unwrap();
    let mut accepted = 0;
    for c in &f.cases {
        let parts = RequestParts {
            method: &c.method,
            url: &c.url,
            authorization: c.authorization.as_deref(),
            dpop: c.dpop.as_deref(),
        };
        let got = v.verify_request(&parts).await;
        match (&got, c.expect.as_str()) {
            (Ok(claims), "ok") => {
                assert_eq!(claims.sub(), "alice", "{}", c.name);
                accepted += 1;
            }
            (Err(e), code) if e.error_code() == Some(code) => {}
            _ => panic!("{}: expected {}, got {got:?}", c.name, c.expect),
        }
        if c.name == "bound token as Bearer" {
            assert_eq!(got.unwrap_err(), RequestError::BoundTokenAsBearer);
        }
    }
    // Four openid-client proofs, one oauth4webapi, four jose, one plain bearer.
    assert_eq!(accepted, 10);
}
