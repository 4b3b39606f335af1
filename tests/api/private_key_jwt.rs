//! `private_key_jwt` (RFC 7523 §2.2): rows C1–C4 of `docs/security.md` at the token,
//! revocation and introspection endpoints and the revocation feed. The happy-path
//! assertions are signed by the independent `jsonwebtoken` crate (ES256, EdDSA); RSA
//! (RS256, PS256) and the hostile variants are hand-built JWS signed with aws-lc-rs. Issued
//! tokens are verified with `jsonwebtoken` against the JWKS.

use std::{sync::Arc, time::Duration};

use aws_lc_rs::{
    rand::SystemRandom,
    rsa::KeySize,
    signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
        RSA_PSS_SHA256, RsaKeyPair,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};
use tessera::{
    clients::{NewClient, RegistrationLimits},
    clock::{Clock, SystemClock},
};

use crate::{
    on_both_backends,
    support::{Backend, TestApp, claims, spawn, spawn_with, verify_independently},
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const AUDIENCE: &str = "https://orders.internal";

/// A client's key pair.
pub enum ClientKey {
    Es256 {
        pkcs8: Vec<u8>,
        pair: EcdsaKeyPair,
    },
    Ed25519 {
        pkcs8: Vec<u8>,
        pair: Ed25519KeyPair,
    },
    Rsa {
        pair: RsaKeyPair,
        pss: bool,
    },
}

impl ClientKey {
    pub fn es256() -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap()
                .as_ref()
                .to_vec();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
        ClientKey::Es256 { pkcs8, pair }
    }

    pub fn ed25519() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .unwrap()
            .as_ref()
            .to_vec();
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
        ClientKey::Ed25519 { pkcs8, pair }
    }

    pub fn rsa(pss: bool) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        ClientKey::Rsa { pair, pss }
    }

    pub fn alg(&self) -> &'static str {
        match self {
            ClientKey::Es256 { .. } => "ES256",
            ClientKey::Ed25519 { .. } => "EdDSA",
            ClientKey::Rsa { pss: false, .. } => "RS256",
            ClientKey::Rsa { pss: true, .. } => "PS256",
        }
    }

    /// The public JWK with this `kid` (and `alg`).
    pub fn jwk(&self, kid: &str) -> Value {
        let mut jwk = match self {
            ClientKey::Es256 { pair, .. } => {
                let p = pair.public_key().as_ref();
                json!({"kty":"EC","crv":"P-256","x":B64.encode(&p[1..33]),"y":B64.encode(&p[33..65])})
            }
            ClientKey::Ed25519 { pair, .. } => {
                json!({"kty":"OKP","crv":"Ed25519","x":B64.encode(pair.public_key().as_ref())})
            }
            ClientKey::Rsa { pair, .. } => {
                let p = pair.public_key();
                json!({"kty":"RSA",
                    "n":B64.encode(p.modulus().big_endian_without_leading_zero()),
                    "e":B64.encode(p.exponent().big_endian_without_leading_zero())})
            }
        };
        jwk["kid"] = kid.into();
        jwk["alg"] = self.alg().into();
        jwk["use"] = "sig".into();
        jwk
    }

    /// A JWS with exactly this header and these claims, signed by this key (aws-lc-rs).
    pub fn raw(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(header).unwrap()),
            B64.encode(serde_json::to_vec(claims).unwrap())
        );
        let rng = SystemRandom::new();
        let sig = match self {
            ClientKey::Es256 { pair, .. } => {
                pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec()
            }
            ClientKey::Ed25519 { pair, .. } => pair.sign(input.as_bytes()).as_ref().to_vec(),
            ClientKey::Rsa { pair, pss } => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                let padding = if *pss {
                    &RSA_PSS_SHA256
                } else {
                    &RSA_PKCS1_SHA256
                };
                pair.sign(padding, &rng, input.as_bytes(), &mut sig)
                    .unwrap();
                sig
            }
        };
        format!("{input}.{}", B64.encode(sig))
    }

    /// An assertion signed by the `jsonwebtoken` crate (ES256 and EdDSA), else by [`raw`].
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let (alg, key) = match self {
            ClientKey::Es256 { pkcs8, .. } => (
                jsonwebtoken::Algorithm::ES256,
                jsonwebtoken::EncodingKey::from_ec_der(pkcs8),
            ),
            ClientKey::Ed25519 { pkcs8, .. } => (
                jsonwebtoken::Algorithm::EdDSA,
                jsonwebtoken::EncodingKey::from_ed_der(pkcs8),
            ),
            ClientKey::Rsa { .. } => {
                return self.raw(
                    &json!({"alg": self.alg(), "kid": kid, "typ": "JWT"}),
                    claims,
                );
            }
        };
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }
}

/// One in-process instance on `settings` (its public `issuer` may differ from where it
/// listens); returns its base URL, its state and the sender that stops it.
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

pub fn random_jti() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    B64.encode(b)
}

/// Standard assertion claims for `client_id` at `issuer`, valid for a minute.
pub fn assertion_claims(client_id: &str, issuer: &str) -> Value {
    let now = SystemClock.now();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": issuer,
        "exp": now + 60,
        "iat": now,
        "jti": random_jti(),
    })
}

/// `claims` with `changes` applied (`null` removes a claim).
fn with(claims: &Value, changes: Value) -> Value {
    let mut c = claims.clone();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// Registers a `private_key_jwt` client (client_credentials) with these public keys.
pub async fn register(app_state: &tessera::http::AppState, jwks: Value) -> String {
    let limits = RegistrationLimits {
        max_token_ttl: Duration::from_secs(86400),
    };
    let c = app_state
        .ctx
        .clients
        .create(
            NewClient {
                name: "keyed service".into(),
                grant_types: vec!["client_credentials".into()],
                scopes: vec!["orders:read".into()],
                audiences: vec![AUDIENCE.into()],
                jwks: Some(jwks.to_string()),
                ..Default::default()
            },
            limits,
        )
        .await
        .unwrap();
    assert_eq!(
        c.client_secret, "",
        "a private_key_jwt client has no secret"
    );
    c.client.client_id
}

/// POSTs `form` plus the assertion to `path` (no other credentials).
async fn post(
    http: &reqwest::Client,
    url: &str,
    assertion: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut f: Vec<(&str, &str)> = form.to_vec();
    f.push(("client_assertion_type", JWT_BEARER));
    f.push(("client_assertion", assertion));
    let r = http.post(url).form(&f).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn token(app: &TestApp, assertion: &str) -> (u16, Value) {
    post(
        &app.http,
        &app.url("/oauth/token"),
        assertion,
        &[("grant_type", "client_credentials")],
    )
    .await
}

fn assert_invalid_client((status, body): (u16, Value), what: &str) {
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{what}: {body}"
    );
}

/// Each algorithm gets a token that `jsonwebtoken` verifies; the same client
/// authenticates at introspection, revocation and the revocation feed.
async fn private_key_jwt_at_every_endpoint(backend: Backend) {
    let app = spawn(backend).await;
    let issuer = app.base.clone();
    for key in [
        ClientKey::es256(),
        ClientKey::ed25519(),
        ClientKey::rsa(false),
        ClientKey::rsa(true),
    ] {
        let id = register(&app.state, json!({"keys": [key.jwk("k1")]})).await;
        let (s, body) = token(&app, &key.sign("k1", &assertion_claims(&id, &issuer))).await;
        assert_eq!(s, 200, "{}: {body}", key.alg());
        let at = body["access_token"].as_str().unwrap();
        let verified = verify_independently(at, &app.jwks().await, &issuer, AUDIENCE).unwrap();
        assert_eq!(verified["client_id"], id.as_str());
        assert_eq!(verified["sub"], id.as_str());
    }
    // RFC 9864's fully-specified name for Ed25519, as newer clients send it.
    let ed = ClientKey::ed25519();
    let id = register(&app.state, json!({"keys": [ed.jwk("ed")]})).await;
    let a = ed.raw(
        &json!({"alg": "Ed25519", "kid": "ed"}),
        &assertion_claims(&id, &issuer),
    );
    assert_eq!(token(&app, &a).await.0, 200);

    let key = ClientKey::es256();
    let id = register(&app.state, json!({"keys": [key.jwk("k")]})).await;
    let fresh = || key.sign("k", &assertion_claims(&id, &issuer));
    // client_id in the form is optional; when present it must name the client.
    let (s, body) = post(
        &app.http,
        &app.url("/oauth/token"),
        &fresh(),
        &[("grant_type", "client_credentials"), ("client_id", &id)],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let at = body["access_token"].as_str().unwrap().to_string();
    let introspect = |a: String| {
        let at = at.clone();
        let app = &app;
        async move {
            post(
                &app.http,
                &app.url("/oauth/introspect"),
                &a,
                &[("token", &at)],
            )
            .await
        }
    };
    let (s, body) = introspect(fresh()).await;
    assert_eq!((s, &body["active"]), (200, &json!(true)), "{body}");
    let (s, _) = post(
        &app.http,
        &app.url("/oauth/revoke"),
        &fresh(),
        &[("token", &at)],
    )
    .await;
    assert_eq!(s, 200);
    let (s, body) = introspect(fresh()).await;
    assert_eq!((s, &body["active"]), (200, &json!(false)), "{body}");
    // The revocation feed (POST with the assertion in the form) lists the revoked token.
    let (s, feed) = post(&app.http, &app.url("/oauth/revocations"), &fresh(), &[]).await;
    assert_eq!(s, 200, "{feed}");
    let jti = claims(&at)["jti"].clone();
    assert!(
        feed["revoked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["jti"] == jti),
        "{feed}"
    );
    // A private_key_jwt client has no secret: Basic with any secret fails.
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some(""))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
on_both_backends!(private_key_jwt_at_every_endpoint);

/// C1: an assertion is accepted once, also when many uses race.
async fn c1_replayed_assertion_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let key = ClientKey::es256();
    let id = register(&app.state, json!({"keys": [key.jwk("k")]})).await;
    let a = key.sign("k", &assertion_claims(&id, &app.base));
    assert_eq!(token(&app, &a).await.0, 200);
    assert_invalid_client(token(&app, &a).await, "replayed at the token endpoint");
    // Spent at the token endpoint, refused at introspection too (one jti, one use).
    let (s, body) = post(
        &app.http,
        &app.url("/oauth/introspect"),
        &a,
        &[("token", "x")],
    )
    .await;
    assert_invalid_client((s, body), "replayed at introspection");
    // 20 concurrent uses of one fresh assertion: exactly one token.
    let a = Arc::new(key.sign("k", &assertion_claims(&id, &app.base)));
    let app = Arc::new(app);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, a) = (app.clone(), a.clone());
            tokio::spawn(async move { token(&app, &a).await.0 })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}
on_both_backends!(c1_replayed_assertion_is_refused);

/// C1 across instances: two instances on one PostgreSQL schema; an assertion accepted by
/// A is refused by B (B's in-memory set never saw it: the replay record's primary key
/// decides), and concurrent uses spread over both get exactly one token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TESSERA_TEST_POSTGRES_URL"]
async fn c1_replay_across_instances_postgres() {
    let backend = Backend::postgres();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::support::test_settings(&backend, dir.path()).await;
    settings.issuer = "http://tessera.test".into();
    let (a, state, _stop_a) = instance(settings.clone()).await;
    let (b, _, _stop_b) = instance(settings).await;
    let key = ClientKey::es256();
    let id = register(&state, json!({"keys": [key.jwk("k")]})).await;
    let http = reqwest::Client::new();
    let url = |base: &str| format!("{base}/oauth/token");
    let cc = [("grant_type", "client_credentials")];
    let assertion = key.sign("k", &assertion_claims(&id, "http://tessera.test"));
    assert_eq!(post(&http, &url(&a), &assertion, &cc).await.0, 200);
    assert_invalid_client(
        post(&http, &url(&b), &assertion, &cc).await,
        "B refuses what A accepted",
    );
    let assertion = Arc::new(key.sign("k", &assertion_claims(&id, "http://tessera.test")));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let base = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (http, assertion) = (http.clone(), assertion.clone());
            tokio::spawn(async move {
                post(
                    &http,
                    &format!("{base}/oauth/token"),
                    &assertion,
                    &[("grant_type", "client_credentials")],
                )
                .await
                .0
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1, "exactly one of the concurrent uses gets a token");
}

/// C2: `aud` (the issuer only, the token endpoint only with the compatibility setting),
/// `iss != sub`, `sub` of another client.
async fn c2_audience_issuer_and_subject(backend: Backend) {
    let app = spawn(backend.clone()).await;
    let key = ClientKey::es256();
    let id = register(&app.state, json!({"keys": [key.jwk("k")]})).await;
    let other_key = ClientKey::es256();
    let other = register(&app.state, json!({"keys": [other_key.jwk("k")]})).await;
    let good = assertion_claims(&id, &app.base);
    let token_endpoint = app.url("/oauth/token");
    for (changes, what) in [
        (
            json!({"aud": token_endpoint}),
            "aud = token endpoint (setting off)",
        ),
        (json!({"aud": "https://elsewhere.example"}), "another aud"),
        (
            json!({"aud": [app.base, "https://elsewhere.example"]}),
            "aud not sole",
        ),
        (json!({"aud": null}), "no aud"),
        (json!({"iss": other}), "iss != sub"),
        (json!({"sub": other}), "sub another client"),
        (
            json!({"iss": other, "sub": other}),
            "another client's identity, this key",
        ),
    ] {
        let a = key.sign("k", &with(&good, changes));
        assert_invalid_client(token(&app, &a).await, what);
    }
    // Claiming to be the other client (sub), signed with this client's key whose kid the
    // other client also has: verified with the other client's key, so refused.
    let a = key.sign("k", &with(&good, json!({"iss": other, "sub": other})));
    let (s, body) = post(
        &app.http,
        &token_endpoint,
        &a,
        &[("grant_type", "client_credentials"), ("client_id", &other)],
    )
    .await;
    assert_invalid_client((s, body), "another client's kid, this key");
    // client_id in the form naming another client than the assertion.
    let a = key.sign("k", &good);
    let (s, body) = post(
        &app.http,
        &token_endpoint,
        &a,
        &[("grant_type", "client_credentials"), ("client_id", &other)],
    )
    .await;
    assert_invalid_client((s, body), "client_id of another client");
    let _ = other_key;

    // With the compatibility setting, the token endpoint URL is accepted too.
    let compat = spawn_with(
        backend,
        |s| s.client_assertion_accept_token_endpoint_audience = true,
        Arc::new(SystemClock),
    )
    .await;
    let id = register(&compat.state, json!({"keys": [key.jwk("k")]})).await;
    let good = assertion_claims(&id, &compat.base);
    let a = key.sign(
        "k",
        &with(&good, json!({"aud": compat.url("/oauth/token")})),
    );
    assert_eq!(token(&compat, &a).await.0, 200);
    let a = key.sign(
        "k",
        &with(&good, json!({"aud": compat.url("/oauth/revoke")})),
    );
    assert_invalid_client(token(&compat, &a).await, "another endpoint");
}
on_both_backends!(c2_audience_issuer_and_subject);

/// C3: `alg: none`, HS256 keyed with the public key, unknown `kid`, a key of another
/// client, an algorithm other than the key's, a key in the header.
async fn c3_algorithm_and_key_confusion(backend: Backend) {
    let app = spawn(backend).await;
    let key = ClientKey::es256();
    let jwk = key.jwk("k");
    let id = register(&app.state, json!({"keys": [jwk.clone()]})).await;
    let other_key = ClientKey::es256();
    let _other = register(&app.state, json!({"keys": [other_key.jwk("o")]})).await;
    let good = assertion_claims(&id, &app.base);
    let b64 = |v: &Value| B64.encode(serde_json::to_vec(v).unwrap());
    let none = format!("{}.{}.", b64(&json!({"alg":"none","kid":"k"})), b64(&good));
    assert_invalid_client(token(&app, &none).await, "alg none");
    let none_sig = format!("{}.{}.AAAA", b64(&json!({"alg":"none"})), b64(&good));
    assert_invalid_client(token(&app, &none_sig).await, "alg none, junk signature");
    // HS256 keyed with the public key: as the JWK JSON and as the raw point.
    let input = format!("{}.{}", b64(&json!({"alg":"HS256","kid":"k"})), b64(&good));
    let ClientKey::Es256 { pair, .. } = &key else {
        unreachable!()
    };
    for secret in [
        jwk.to_string().into_bytes(),
        pair.public_key().as_ref().to_vec(),
    ] {
        let hkey = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        let tag = aws_lc_rs::hmac::sign(&hkey, input.as_bytes());
        let hs = format!("{input}.{}", B64.encode(tag.as_ref()));
        assert_invalid_client(token(&app, &hs).await, "HS256 with the public key");
    }
    assert_invalid_client(
        token(
            &app,
            &key.sign("unknown", &with(&good, json!({"jti": "a"}))),
        )
        .await,
        "unknown kid",
    );
    assert_invalid_client(
        token(
            &app,
            &other_key.sign("k", &with(&good, json!({"jti": "b"}))),
        )
        .await,
        "another key under this kid",
    );
    assert_invalid_client(
        token(
            &app,
            &other_key.sign("o", &with(&good, json!({"jti": "c"}))),
        )
        .await,
        "another client's key",
    );
    assert_invalid_client(
        token(
            &app,
            &key.raw(
                &json!({"alg":"ES384","kid":"k"}),
                &with(&good, json!({"jti": "d"})),
            ),
        )
        .await,
        "an algorithm the key does not have",
    );
    assert_invalid_client(
        token(
            &app,
            &other_key.raw(
                &json!({"alg":"ES256","jwk": other_key.jwk("x")}),
                &with(&good, json!({"jti": "e"})),
            ),
        )
        .await,
        "a key in the header",
    );
    assert_invalid_client(token(&app, "not.a.jwt").await, "garbage");
    // A client registered with a secret cannot authenticate with an assertion.
    let secret_client = app.client("orders:read", &[AUDIENCE], None).await;
    let a = key.sign("k", &assertion_claims(&secret_client.id, &app.base));
    assert_invalid_client(token(&app, &a).await, "a secret client");
    // The good one still works (nothing above spent its jti).
    assert_eq!(token(&app, &key.sign("k", &good)).await.0, 200);
}
on_both_backends!(c3_algorithm_and_key_confusion);

/// C4: `exp` missing, expired, too far ahead (beyond `client_assertion_max_lifetime`
/// plus the leeway); `nbf`/`iat` in the future.
async fn c4_lifetime(backend: Backend) {
    let app = spawn(backend).await;
    let key = ClientKey::es256();
    let id = register(&app.state, json!({"keys": [key.jwk("k")]})).await;
    let now = SystemClock.now();
    let leeway = app.state.settings.clock_leeway.as_secs() as i64;
    let max = app.state.settings.client_assertion_max_lifetime.as_secs() as i64;
    let good = assertion_claims(&id, &app.base);
    for (changes, what) in [
        (json!({"exp": null}), "no exp"),
        (json!({"exp": now - leeway - 5}), "expired"),
        (json!({"exp": now + max + leeway + 30}), "exp too far ahead"),
        (json!({"exp": (now + 60).to_string()}), "exp not a number"),
        (json!({"nbf": now + leeway + 30}), "nbf in the future"),
        (json!({"iat": now + leeway + 30}), "iat in the future"),
        (json!({"jti": null}), "no jti"),
    ] {
        assert_invalid_client(
            token(&app, &key.sign("k", &with(&good, changes))).await,
            what,
        );
    }
    let longest = with(&good, json!({"exp": now + max}));
    assert_eq!(token(&app, &key.sign("k", &longest)).await.0, 200);
}
on_both_backends!(c4_lifetime);

/// RFC 6749 §2.3: one authentication method per request (`invalid_request`); an
/// unknown assertion type is `invalid_client`.
async fn one_method_per_request(backend: Backend) {
    let app = spawn(backend).await;
    let key = ClientKey::es256();
    let id = register(&app.state, json!({"keys": [key.jwk("k")]})).await;
    let a = key.sign("k", &assertion_claims(&id, &app.base));
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some("x"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &a),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let (s, body) = post(
        &app.http,
        &app.url("/oauth/token"),
        &a,
        &[("grant_type", "client_credentials"), ("client_secret", "x")],
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:other"),
            ("client_assertion", &a),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Nothing above spent the assertion.
    assert_eq!(token(&app, &a).await.0, 200);
}
on_both_backends!(one_method_per_request);

/// Registration: strict key import (an RSA key must name its alg; no private keys, no
/// symmetric keys), and the keys can be replaced (rotation).
async fn registration_checks_the_keys(backend: Backend) {
    let app = spawn(backend).await;
    let limits = RegistrationLimits {
        max_token_ttl: Duration::from_secs(86400),
    };
    let new = |jwks: Value| NewClient {
        name: "svc".into(),
        grant_types: vec!["client_credentials".into()],
        audiences: vec![AUDIENCE.into()],
        jwks: Some(jwks.to_string()),
        ..Default::default()
    };
    let rsa = ClientKey::rsa(false);
    let mut no_alg = rsa.jwk("r");
    no_alg.as_object_mut().unwrap().remove("alg");
    let mut private = ClientKey::es256().jwk("p");
    private["d"] = "AAAA".into();
    for (jwks, what) in [
        (json!({"keys": [no_alg]}), "RSA without alg"),
        (json!({"keys": [private]}), "a private key"),
        (
            json!({"keys": [{"kty":"oct","k":"AAAA","alg":"HS256"}]}),
            "a symmetric key",
        ),
        (json!({"keys": []}), "no key"),
        (json!({"nokeys": 1}), "not a JWKS"),
    ] {
        let err = app
            .state
            .ctx
            .clients
            .create(new(jwks), limits)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("jwks"), "{what}: {err}");
    }
    // Rotation: the new key beside the old, then the new alone.
    let old = ClientKey::es256();
    let id = register(&app.state, json!({"keys": [old.jwk("old")]})).await;
    let new_key = ClientKey::es256();
    let update = |keys: Value| tessera::clients::ClientUpdate {
        jwks: Some(json!({ "keys": keys }).to_string()),
        ..Default::default()
    };
    app.state
        .ctx
        .clients
        .update(
            &id,
            update(json!([old.jwk("old"), new_key.jwk("new")])),
            limits,
        )
        .await
        .unwrap();
    assert_eq!(
        token(
            &app,
            &new_key.sign("new", &assertion_claims(&id, &app.base))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        token(&app, &old.sign("old", &assertion_claims(&id, &app.base)))
            .await
            .0,
        200
    );
    app.state
        .ctx
        .clients
        .update(&id, update(json!([new_key.jwk("new")])), limits)
        .await
        .unwrap();
    assert_invalid_client(
        token(&app, &old.sign("old", &assertion_claims(&id, &app.base))).await,
        "the removed key",
    );
    // A secret client cannot be given keys.
    let secret_client = app.client("orders:read", &[AUDIENCE], None).await;
    assert!(
        app.state
            .ctx
            .clients
            .update(&secret_client.id, update(json!([new_key.jwk("n")])), limits)
            .await
            .is_err()
    );
}
on_both_backends!(registration_checks_the_keys);

/// Keys from a `jwks_uri` (a fake server on 127.0.0.1, with the development setting
/// `remote_jwks_allow_loopback`): an assertion verifies with the fetched key; a key the
/// client publishes later is found by the unknown-`kid` refetch; a `jwks_uri` that cannot
/// be fetched (nothing cached) is 503 `temporarily_unavailable`, never a skipped check.
async fn keys_from_a_jwks_uri(backend: Backend) {
    use crate::fake_http::{FakeHttp, Reply};
    let app = spawn_with(
        backend,
        |s| {
            s.remote_jwks_allow_loopback = true;
            s.remote_jwks_refetch_cooldown = Duration::from_millis(1);
        },
        Arc::new(SystemClock),
    )
    .await;
    let old = ClientKey::es256();
    let new_key = ClientKey::es256();
    let published = Arc::new(std::sync::Mutex::new(json!({"keys": [old.jwk("old")]})));
    let served = published.clone();
    let server =
        FakeHttp::start(move |_| Reply::Json(served.lock().unwrap().to_string(), 300)).await;
    let limits = RegistrationLimits {
        max_token_ttl: Duration::from_secs(86400),
    };
    let register_uri = |uri: String| NewClient {
        name: "remote keys".into(),
        grant_types: vec!["client_credentials".into()],
        audiences: vec![AUDIENCE.into()],
        jwks_uri: Some(uri),
        ..Default::default()
    };
    let c = app
        .state
        .ctx
        .clients
        .create(register_uri(server.url("/jwks.json")), limits)
        .await
        .unwrap();
    let id = c.client.client_id;
    assert_eq!(c.client_secret, "");
    assert_eq!(
        token(&app, &old.sign("old", &assertion_claims(&id, &app.base)))
            .await
            .0,
        200
    );
    assert_eq!(server.hits(), 1);
    // Cached: a second assertion does not fetch again.
    assert_eq!(
        token(&app, &old.sign("old", &assertion_claims(&id, &app.base)))
            .await
            .0,
        200
    );
    assert_eq!(server.hits(), 1);
    // A new key, published: the unknown kid makes one refetch.
    *published.lock().unwrap() = json!({"keys": [old.jwk("old"), new_key.jwk("new")]});
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        token(
            &app,
            &new_key.sign("new", &assertion_claims(&id, &app.base))
        )
        .await
        .0,
        200
    );
    assert_eq!(server.hits(), 2);
    // Still refused: a kid nobody published (after its refetch), another key.
    assert_invalid_client(
        token(
            &app,
            &ClientKey::es256().sign("nobody", &assertion_claims(&id, &app.base)),
        )
        .await,
        "a kid that is not published",
    );
    // An unreachable jwks_uri with nothing cached: 503.
    let down = FakeHttp::start(|_| Reply::Drop).await;
    let c = app
        .state
        .ctx
        .clients
        .create(register_uri(down.url("/jwks.json")), limits)
        .await
        .unwrap();
    let id = c.client.client_id;
    let (s, body) = token(&app, &old.sign("old", &assertion_claims(&id, &app.base))).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    // The form of a jwks_uri is checked at registration.
    for bad in ["http://keys.example/jwks", "https://user@keys.example/jwks"] {
        assert!(
            app.state
                .ctx
                .clients
                .create(register_uri(bad.into()), limits)
                .await
                .is_err()
        );
    }
}
on_both_backends!(keys_from_a_jwks_uri);
