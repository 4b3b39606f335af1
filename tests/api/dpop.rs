//! DPoP (RFC 9449) at the issuer: rows D1–D7 of `docs/security.md` at the token endpoint
//! and at `/userinfo`. Proofs are made independently of Tessera's code: the happy path
//! with the `jsonwebtoken` crate (its header `jwk` and its RFC 7638 thumbprint), the
//! hostile variants by hand-built JWS signed with aws-lc-rs.

use std::sync::Arc;

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};
use tessera::{
    clients::{NewClient, RegistrationLimits},
    clock::{Clock, SystemClock},
    config::DpopNonceMode,
};

use crate::support::{Backend, PW, TestApp, TestClient, claims, spawn, spawn_with, with_alice};

/// A client's DPoP key (P-256).
pub struct ProofKey {
    pkcs8: Vec<u8>,
    pair: EcdsaKeyPair,
    /// The public JWK.
    pub jwk: Value,
}

impl ProofKey {
    pub fn new() -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap()
                .as_ref()
                .to_vec();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": B64.encode(&point[1..33]),
            "y": B64.encode(&point[33..65]),
        });
        Self { pkcs8, pair, jwk }
    }

    /// The RFC 7638 thumbprint, computed by `jsonwebtoken`.
    pub fn jkt(&self) -> String {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(self.jwk.clone()).unwrap();
        jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
    }

    /// A proof signed by `jsonwebtoken` (typ `dpop+jwt`, ES256, the public `jwk`).
    pub fn proof(&self, htm: &str, htu: &str, extra: Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.jwk.clone()).unwrap());
        let mut claims = json!({
            "jti": random_jti(),
            "htm": htm,
            "htu": htu,
            "iat": SystemClock.now(),
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let key = jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8);
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    /// A JWS with exactly this header and these claims, signed ES256 with this key.
    pub fn raw(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(header).unwrap()),
            B64.encode(serde_json::to_vec(claims).unwrap())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }
}

pub fn random_jti() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    B64.encode(b)
}

/// `b64url(SHA-256(token))`, computed here (not with Tessera's code).
pub fn ath(token: &str) -> String {
    B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        token.as_bytes(),
    ))
}

/// POST /oauth/token with Basic auth, a form and these `DPoP` headers.
async fn token_with(
    app: &TestApp,
    c: &TestClient,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(form);
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

/// GET /userinfo with this `Authorization` and these `DPoP` headers.
async fn userinfo_with(
    app: &TestApp,
    authorization: &str,
    proofs: &[&str],
) -> (u16, reqwest::header::HeaderMap) {
    let mut req = app
        .http
        .get(app.url("/userinfo"))
        .header("Authorization", authorization);
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.headers().clone())
}

fn www_authenticate(h: &reqwest::header::HeaderMap) -> String {
    h.get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

const CC: &[(&str, &str)] = &[("grant_type", "client_credentials")];

async fn register(app: &TestApp, new: NewClient) -> TestClient {
    let limits = RegistrationLimits {
        max_token_ttl: std::time::Duration::from_secs(86400),
    };
    let c = app.state.ctx.clients.create(new, limits).await.unwrap();
    TestClient {
        id: c.client.client_id,
        secret: c.client_secret,
    }
}

/// A valid proof yields `token_type: DPoP` and an access token with `cnf.jkt` (the
/// thumbprint computed independently); introspection reports both; discovery lists the
/// proof algorithms; without a proof the same client still gets a bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_proof_binds_the_token_to_its_key() {
    let app = spawn(Backend::Sqlite).await;
    let c = app.client("orders:read", &["https://orders"], None).await;
    let key = ProofKey::new();
    let url = app.url("/oauth/token");
    let (s, h, body) = token_with(&app, &c, CC, &[&key.proof("POST", &url, json!({}))]).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert!(
        h.get("dpop-nonce").is_some(),
        "a DPoP answer carries a nonce"
    );
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["cnf"]["jkt"], key.jkt());
    let i = app.introspect(&c, token).await;
    assert_eq!(
        (i["active"].as_bool(), i["token_type"].as_str()),
        (Some(true), Some("DPoP"))
    );
    assert_eq!(i["cnf"]["jkt"], key.jkt());

    let (s, _, plain) = token_with(&app, &c, CC, &[]).await;
    assert_eq!((s, plain["token_type"].as_str()), (200, Some("Bearer")));
    assert!(
        claims(plain["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );
    let i = app
        .introspect(&c, plain["access_token"].as_str().unwrap())
        .await;
    assert_eq!(i["token_type"], "Bearer");
    assert!(i.get("cnf").is_none());

    let d: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs = d["dpop_signing_alg_values_supported"].as_array().unwrap();
    for alg in ["ES256", "RS256", "PS256", "EdDSA"] {
        assert!(algs.contains(&json!(alg)), "{alg} in {algs:?}");
    }
    assert!(!algs.contains(&json!("none")) && !algs.contains(&json!("HS256")));
}

/// D1: the same proof twice at the token endpoint — the second is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d1_replayed_proof_is_refused_at_the_token_endpoint() {
    let app = spawn(Backend::Sqlite).await;
    let c = app.client("orders:read", &["https://orders"], None).await;
    let key = ProofKey::new();
    let proof = key.proof("POST", &app.url("/oauth/token"), json!({}));
    let (s, _, _) = token_with(&app, &c, CC, &[&proof]).await;
    assert_eq!(s, 200);
    let (s, _, body) = token_with(&app, &c, CC, &[&proof]).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
}

/// D2: wrong `htm`, `htu` with a query, a fragment, another host or path; stale or future
/// `iat`. D3: private `jwk` members, `alg: none`, HS256, `typ` other than `dpop+jwt`. And
/// two `DPoP` headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d2_d3_malformed_or_foreign_proofs_are_refused() {
    let app = spawn(Backend::Sqlite).await;
    let c = app.client("orders:read", &["https://orders"], None).await;
    let key = ProofKey::new();
    let url = app.url("/oauth/token");
    let now = SystemClock.now();
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk});
    let claims_now = |htm: &str, htu: &str, iat: i64| json!({"jti": random_jti(), "htm": htm, "htu": htu, "iat": iat});
    let other_host = url.replace("127.0.0.1", "localhost");
    let mut bad: Vec<(&str, String)> = vec![
        ("htm GET", key.raw(&header, &claims_now("GET", &url, now))),
        (
            "htu with query",
            key.raw(&header, &claims_now("POST", &format!("{url}?a=b"), now)),
        ),
        (
            "htu with fragment",
            key.raw(&header, &claims_now("POST", &format!("{url}#f"), now)),
        ),
        (
            "other host",
            key.raw(&header, &claims_now("POST", &other_host, now)),
        ),
        (
            "other path",
            key.raw(&header, &claims_now("POST", &app.url("/oauth/revoke"), now)),
        ),
        (
            "stale iat",
            key.raw(&header, &claims_now("POST", &url, now - 600)),
        ),
        (
            "future iat",
            key.raw(&header, &claims_now("POST", &url, now + 600)),
        ),
    ];
    // D3: a private key member in the jwk (the signature is still valid).
    let mut private = key.jwk.clone();
    private["d"] = json!(B64.encode([7u8; 32]));
    bad.push((
        "jwk with d",
        key.raw(
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private}),
            &claims_now("POST", &url, now),
        ),
    ));
    bad.push((
        "typ JWT",
        key.raw(
            &json!({"typ": "JWT", "alg": "ES256", "jwk": key.jwk}),
            &claims_now("POST", &url, now),
        ),
    ));
    let unsigned = format!(
        "{}.{}.",
        B64.encode(
            serde_json::to_vec(&json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk})).unwrap()
        ),
        B64.encode(serde_json::to_vec(&claims_now("POST", &url, now)).unwrap())
    );
    bad.push(("alg none", unsigned));
    // HS256 "keyed" with the public JWK's x coordinate.
    let hs_input = format!(
        "{}.{}",
        B64.encode(
            serde_json::to_vec(&json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": key.jwk}))
                .unwrap()
        ),
        B64.encode(serde_json::to_vec(&claims_now("POST", &url, now)).unwrap())
    );
    let mac = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            key.jwk["x"].as_str().unwrap().as_bytes(),
        ),
        hs_input.as_bytes(),
    );
    bad.push(("HS256", format!("{hs_input}.{}", B64.encode(mac.as_ref()))));
    bad.push(("garbage", "not-a-jws".into()));
    for (what, proof) in &bad {
        let (s, _, body) = token_with(&app, &c, CC, &[proof]).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (400, Some("invalid_dpop_proof")),
            "{what}: {body}"
        );
    }
    let (a, b) = (
        key.proof("POST", &url, json!({})),
        key.proof("POST", &url, json!({})),
    );
    let (s, _, body) = token_with(&app, &c, CC, &[&a, &b]).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "two DPoP headers"
    );
}

/// D4 and D5 at /userinfo: a bound token is accepted only as `DPoP` with a fresh proof by
/// its key carrying its `ath`; as `Bearer`, without a proof, with another key's proof, with
/// no or another token's `ath`, or with a replayed proof (D1) it is refused with a `DPoP`
/// challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d1_d4_d5_userinfo_accepts_a_bound_token_only_with_its_proof() {
    let (app, c, _) = with_alice(Backend::Sqlite).await;
    let key = ProofKey::new();
    let token_url = app.url("/oauth/token");
    let login = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", PW),
        ("scope", "openid"),
    ];
    let (s, _, body) = token_with(
        &app,
        &c,
        &login,
        &[&key.proof("POST", &token_url, json!({}))],
    )
    .await;
    assert_eq!(
        (s, body["token_type"].as_str()),
        (200, Some("DPoP")),
        "{body}"
    );
    let token = body["access_token"].as_str().unwrap().to_string();
    let ui = app.url("/userinfo");
    let good = key.proof("GET", &ui, json!({"ath": ath(&token)}));
    let (s, _) = userinfo_with(&app, &format!("DPoP {token}"), &[&good]).await;
    assert_eq!(s, 200);
    // D1: the same proof again.
    let (s, h) = userinfo_with(&app, &format!("DPoP {token}"), &[&good]).await;
    assert_eq!(s, 401);
    assert!(
        www_authenticate(&h).contains(r#"error="invalid_dpop_proof""#),
        "{h:?}"
    );
    // D4: as Bearer (with or without a proof), or as DPoP without a proof.
    for (auth, proofs) in [
        (format!("Bearer {token}"), vec![]),
        (
            format!("Bearer {token}"),
            vec![key.proof("GET", &ui, json!({"ath": ath(&token)}))],
        ),
        (format!("DPoP {token}"), vec![]),
    ] {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let (s, h) = userinfo_with(&app, &auth, &proofs).await;
        let w = www_authenticate(&h);
        assert_eq!(s, 401, "{auth}");
        assert!(w.starts_with("DPoP "), "{w}");
        assert!(w.contains(r#"error="invalid_token""#), "{w}");
        assert!(w.contains(r#"algs="ES256 RS256 PS256 EdDSA"#), "{w}");
    }
    // D5: another key, no ath, another token's ath.
    let other = ProofKey::new();
    for (what, proof) in [
        (
            "other key",
            other.proof("GET", &ui, json!({"ath": ath(&token)})),
        ),
        ("no ath", key.proof("GET", &ui, json!({}))),
        (
            "other ath",
            key.proof("GET", &ui, json!({"ath": ath("another token")})),
        ),
    ] {
        let (s, h) = userinfo_with(&app, &format!("DPoP {token}"), &[&proof]).await;
        assert_eq!(s, 401, "{what}");
        assert!(
            www_authenticate(&h).contains(r#"error="invalid_dpop_proof""#),
            "{what}: {h:?}"
        );
    }
    // A bearer token stays a bearer token: accepted as Bearer, refused as DPoP.
    let plain = app.login(&c, "alice", PW, "openid").await;
    let bearer = plain["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo_with(&app, &format!("Bearer {bearer}"), &[])
            .await
            .0,
        200
    );
    let proof = key.proof("GET", &ui, json!({"ath": ath(bearer)}));
    assert_eq!(
        userinfo_with(&app, &format!("DPoP {bearer}"), &[&proof])
            .await
            .0,
        401
    );
}

/// D6: with `dpop_nonce = "required"`, a proof without a nonce or with a stale one is
/// refused with `use_dpop_nonce` and a fresh `DPoP-Nonce`; with that nonce it passes, at
/// the token endpoint (400) and at /userinfo (401).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d6_nonce_required_and_missing_or_stale() {
    let clock = crate::support::fake_clock_now();
    let app = spawn_with(
        Backend::Sqlite,
        |s| s.dpop_nonce = DpopNonceMode::Required,
        Arc::new(clock.clone()),
    )
    .await;
    let c = app.app_client("openid").await;
    app.user("alice", PW, &[]).await;
    let key = ProofKey::new();
    let url = app.url("/oauth/token");
    let proof_at = |nonce: Option<&str>, htm: &str, htu: &str, extra: Value| {
        let mut claims = extra;
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        let mut c = json!({"jti": random_jti(), "htm": htm, "htu": htu, "iat": clock.now()});
        for (k, v) in claims.as_object().unwrap() {
            c[k] = v.clone();
        }
        key.raw(
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}),
            &c,
        )
    };
    let (s, h, body) = token_with(&app, &c, CC, &[&proof_at(None, "POST", &url, json!({}))]).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("use_dpop_nonce")),
        "{body}"
    );
    let nonce = h["dpop-nonce"].to_str().unwrap().to_string();
    let (s, h, body) = token_with(
        &app,
        &c,
        CC,
        &[&proof_at(Some(&nonce), "POST", &url, json!({}))],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(h.get("dpop-nonce").is_some());
    // Two rotation intervals later the nonce is stale.
    clock.advance(2 * 300 + 1);
    let (s, h, body) = token_with(
        &app,
        &c,
        CC,
        &[&proof_at(Some(&nonce), "POST", &url, json!({}))],
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("use_dpop_nonce")),
        "stale: {body}"
    );
    let fresh = h["dpop-nonce"].to_str().unwrap().to_string();
    assert_ne!(fresh, nonce);
    // /userinfo: 401 use_dpop_nonce with a nonce, then 200 with it.
    let login = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", PW),
        ("scope", "openid"),
    ];
    let (s, _, body) = token_with(
        &app,
        &c,
        &login,
        &[&proof_at(Some(&fresh), "POST", &url, json!({}))],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let ui = app.url("/userinfo");
    let (s, h) = userinfo_with(
        &app,
        &format!("DPoP {token}"),
        &[&proof_at(None, "GET", &ui, json!({"ath": ath(token)}))],
    )
    .await;
    assert_eq!(s, 401);
    assert!(
        www_authenticate(&h).contains(r#"error="use_dpop_nonce""#),
        "{h:?}"
    );
    let n = h["dpop-nonce"].to_str().unwrap().to_string();
    let (s, _) = userinfo_with(
        &app,
        &format!("DPoP {token}"),
        &[&proof_at(Some(&n), "GET", &ui, json!({"ath": ath(token)}))],
    )
    .await;
    assert_eq!(s, 200);
}

/// D6 per client: `dpop_nonce_required` on one client while the setting is `off`; and
/// `dpop_bound_access_tokens`: such a client without a proof is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d6_per_client_nonce_and_bound_clients_must_send_proofs() {
    let app = spawn(Backend::Sqlite).await;
    let strict = register(
        &app,
        NewClient {
            name: "strict".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["orders:read".into()],
            audiences: vec!["https://orders".into()],
            dpop_bound_access_tokens: true,
            dpop_nonce_required: true,
            ..Default::default()
        },
    )
    .await;
    let (s, _, body) = token_with(&app, &strict, CC, &[]).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
    let key = ProofKey::new();
    let url = app.url("/oauth/token");
    let (s, h, body) = token_with(&app, &strict, CC, &[&key.proof("POST", &url, json!({}))]).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("use_dpop_nonce")),
        "{body}"
    );
    let nonce = h["dpop-nonce"].to_str().unwrap();
    let (s, _, body) = token_with(
        &app,
        &strict,
        CC,
        &[&key.proof("POST", &url, json!({"nonce": nonce}))],
    )
    .await;
    assert_eq!(
        (s, body["token_type"].as_str()),
        (200, Some("DPoP")),
        "{body}"
    );
    // Other clients are not asked for nonces.
    let relaxed = app.client("orders:read", &["https://orders"], None).await;
    let (s, _, _) = token_with(&app, &relaxed, CC, &[&key.proof("POST", &url, json!({}))]).await;
    assert_eq!(s, 200);
}

/// D7: a public client's refresh token is bound to the proof key of the sign-in; a
/// refresh with another key, or with none, is `invalid_grant` and does not spend it; with
/// the right key it works. A confidential client's refresh token is not bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d7_public_refresh_tokens_are_bound_to_the_key() {
    let (app, c, _) = with_alice(Backend::Sqlite).await;
    let key = ProofKey::new();
    let url = app.url("/oauth/token");
    // Public clients get refresh tokens through the browser flow; the family is started
    // here as that flow starts it, for a public client with the proof's key.
    let public = register(
        &app,
        NewClient {
            name: "spa".into(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: vec!["openid".into()],
            audiences: vec!["https://api.internal".into()],
            redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
            public: true,
            ..Default::default()
        },
    )
    .await;
    let ctx = &app.state.ctx;
    let client = ctx.clients.get(&public.id).await.unwrap().unwrap();
    let user = ctx
        .accounts
        .users()
        .find_by_username("alice")
        .await
        .unwrap()
        .unwrap();
    let (rt, _) = ctx
        .refresh_families
        .start_if_allowed(
            &client,
            &user.id,
            "openid",
            None,
            SystemClock.now(),
            Some(&key.jkt()),
        )
        .await
        .unwrap()
        .unwrap();
    let refresh = |rt: String| {
        [
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", rt),
            ("client_id", public.id.clone()),
        ]
    };
    let public_post = |form: [(&'static str, String); 3], proofs: Vec<String>| {
        let app = &app;
        async move {
            let mut req = app.http.post(app.url("/oauth/token")).form(&form);
            for p in &proofs {
                req = req.header("DPoP", p.as_str());
            }
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let other = ProofKey::new();
    let (s, body) = public_post(
        refresh(rt.clone()),
        vec![other.proof("POST", &url, json!({}))],
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "another key: {body}"
    );
    let (s, body) = public_post(refresh(rt.clone()), vec![]).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "no proof: {body}"
    );
    let (s, body) = public_post(
        refresh(rt.clone()),
        vec![key.proof("POST", &url, json!({}))],
    )
    .await;
    assert_eq!(
        (s, body["token_type"].as_str()),
        (200, Some("DPoP")),
        "the right key: {body}"
    );
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt()
    );

    // Confidential: a DPoP login, then a refresh with another key is fine (§5).
    let login = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", PW),
        ("scope", "openid"),
    ];
    let (s, _, body) = token_with(&app, &c, &login, &[&key.proof("POST", &url, json!({}))]).await;
    assert_eq!(s, 200, "{body}");
    let rt = body["refresh_token"].as_str().unwrap();
    let (s, _, body) = token_with(
        &app,
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        &[&other.proof("POST", &url, json!({}))],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        other.jkt()
    );
}

/// One in-process instance on `settings`; returns its HTTP base URL, its state and the
/// sender that stops it.
async fn instance(
    settings: tessera::Settings,
) -> (
    String,
    Arc<tessera::http::AppState>,
    tokio::sync::oneshot::Sender<()>,
) {
    let app = tessera::App::build(settings, Arc::new(SystemClock))
        .await
        .expect("starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        app.run(async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (base, state, tx)
}

/// D1 and D6 across instances: two instances on one PostgreSQL schema with one KEK and
/// one public issuer URL (the `htu` both expect). A proof accepted by A is refused by B
/// (the replay record's primary key decides; B's recent set never saw it); many concurrent
/// uses of one proof spread over both get exactly one token; a nonce handed out by A is
/// accepted by B (no shared nonce state).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TESSERA_TEST_POSTGRES_URL"]
async fn d1_d6_replay_and_nonces_across_instances_postgres() {
    let backend = Backend::postgres();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::support::test_settings(&backend, dir.path()).await;
    settings.issuer = "http://tessera.test".into();
    settings.dpop_nonce = DpopNonceMode::Required;
    let (a, state, _stop_a) = instance(settings.clone()).await;
    let (b, _, _stop_b) = instance(settings).await;
    let limits = RegistrationLimits {
        max_token_ttl: std::time::Duration::from_secs(86400),
    };
    let c = state
        .ctx
        .clients
        .create(
            NewClient {
                name: "svc".into(),
                grant_types: vec!["client_credentials".into()],
                scopes: vec!["orders:read".into()],
                audiences: vec!["https://orders".into()],
                ..Default::default()
            },
            limits,
        )
        .await
        .unwrap();
    let (id, secret) = (c.client.client_id, c.client_secret);
    let http = reqwest::Client::new();
    let post = |base: &str, proof: &str| {
        http.post(format!("{base}/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(CC)
            .header("DPoP", proof)
            .send()
    };
    let key = ProofKey::new();
    let htu = "http://tessera.test/oauth/token";
    // A nonce from A, used at B.
    let r = post(&a, &key.proof("POST", htu, json!({}))).await.unwrap();
    assert_eq!(r.status(), 400);
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_string();
    let proof = key.proof("POST", htu, json!({"nonce": nonce}));
    let r = post(&b, &proof).await.unwrap();
    assert_eq!(r.status(), 200, "B accepts A's nonce");
    let r = post(&a, &proof).await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"], "invalid_dpop_proof",
        "A refuses the proof B accepted"
    );
    // One proof, 20 concurrent uses over both instances: exactly one token.
    let proof = key.proof("POST", htu, json!({"nonce": nonce}));
    let tasks: Vec<_> = (0..20)
        .map(|i| tokio::spawn(post(if i % 2 == 0 { &a } else { &b }, &proof)))
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().status() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1, "exactly one of the concurrent uses gets a token");
}

/// D4, D5 at the admin API: a DPoP-bound admin token works as `DPoP` with a proof for the
/// request (method and URL) by its key; as `Bearer`, with a proof of another request or a
/// replayed proof, it is refused with a `DPoP` challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d4_d5_admin_api_takes_bound_tokens_only_with_their_proof() {
    use tessera::admin::{ADMIN_AUDIENCE, SCOPE_ADMIN};
    let app = spawn(Backend::Sqlite).await;
    let admin = app.client(SCOPE_ADMIN, &[ADMIN_AUDIENCE], None).await;
    let key = ProofKey::new();
    let (s, _, body) = token_with(
        &app,
        &admin,
        CC,
        &[&key.proof("POST", &app.url("/oauth/token"), json!({}))],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let url = app.url("/admin/v1/clients");
    let get = |auth: String, proof: Option<String>| {
        let mut req = app.http.get(&url).header("Authorization", auth);
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        req.send()
    };
    let proof = key.proof("GET", &url, json!({"ath": ath(&token)}));
    let r = get(format!("DPoP {token}"), Some(proof.clone()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (what, auth, proof) in [
        ("as Bearer", format!("Bearer {token}"), None),
        ("replayed proof", format!("DPoP {token}"), Some(proof)),
        ("no proof", format!("DPoP {token}"), None),
        (
            "proof of another URL",
            format!("DPoP {token}"),
            Some(key.proof(
                "GET",
                &app.url("/admin/v1/users"),
                json!({"ath": ath(&token)}),
            )),
        ),
        (
            "another key",
            format!("DPoP {token}"),
            Some(ProofKey::new().proof("GET", &url, json!({"ath": ath(&token)}))),
        ),
    ] {
        let r = get(auth, proof).await.unwrap();
        assert_eq!(r.status(), 401, "{what}");
        let w = www_authenticate(r.headers());
        assert!(w.starts_with("DPoP "), "{what}: {w}");
    }
    // An unbound admin token is still a bearer token.
    let plain = app.access_token(&admin).await;
    assert_eq!(
        get(format!("Bearer {plain}"), None).await.unwrap().status(),
        200
    );
}

/// `tessera verify` on a DPoP-bound token: VALID as a token, and the report says that a
/// service also needs a fresh proof of the bound key (the command has no request to check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_verify_reports_the_binding() {
    let app = spawn(Backend::Sqlite).await;
    let c = app.client("orders:read", &["https://orders"], None).await;
    let key = ProofKey::new();
    let url = app.url("/oauth/token");
    let (s, _, body) = token_with(&app, &c, CC, &[&key.proof("POST", &url, json!({}))]).await;
    assert_eq!(s, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let issuer = url.trim_end_matches("/oauth/token");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "verify",
            token,
            "--issuer",
            issuer,
            "--audience",
            "https://orders",
        ])
        .current_dir(dir.path())
        .env("TESSERA_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("Verdict: VALID"), "{report}");
    assert!(
        report.contains(&format!(
            "DPoP: bound to the key with thumbprint {}",
            key.jkt()
        )),
        "{report}"
    );
}
