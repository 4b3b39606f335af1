//! Workload identity federation (src/federation, src/client_auth/federated.rs): a fake
//! external issuer on 127.0.0.1 (OIDC discovery + JWKS, a SPIFFE bundle endpoint) mints
//! Kubernetes-, SPIFFE- and GitHub Actions-shaped tokens; clients bound to those identities
//! trade them for access tokens. Rows C6 (wrong sub, aud, issuer, key; expired; conditions)
//! and C7 (keys unreachable: cached keys within the bound, then 503, never unsigned).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};
use tessera::{
    clients::{NewClient, RegistrationLimits},
    federation::{NewBinding, NewFederation},
};

use crate::{
    fake_http::{FakeHttp, Reply},
    on_both_backends,
    private_key_jwt::ClientKey,
    support::{Backend, TestApp, spawn_with, verify_independently},
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_SPIFFE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";
const K8S_SUB: &str = "system:serviceaccount:payments:billing";

/// A fake external issuer: discovery at `/.well-known/openid-configuration`, its JWKS at
/// `/jwks`, a SPIFFE bundle at `/bundle`; `down` makes every request fail.
pub struct FakeIssuer {
    pub http: FakeHttp,
    pub key: ClientKey,
    pub kid: String,
    keys: Arc<Mutex<Vec<Value>>>,
    down: Arc<AtomicBool>,
}

impl FakeIssuer {
    pub async fn start(key: ClientKey, kid: &str) -> FakeIssuer {
        let keys = Arc::new(Mutex::new(vec![key.jwk(kid)]));
        let down = Arc::new(AtomicBool::new(false));
        let (k, d) = (keys.clone(), down.clone());
        let port = Arc::new(Mutex::new(0u16));
        let p = port.clone();
        let http = FakeHttp::start(move |path| {
            if d.load(Ordering::SeqCst) {
                return Reply::Drop;
            }
            let base = format!("http://127.0.0.1:{}", *p.lock().unwrap());
            let keys = k.lock().unwrap().clone();
            match path {
                "/.well-known/openid-configuration" => Reply::Json(
                    json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}).to_string(),
                    300,
                ),
                "/jwks" => Reply::Json(json!({ "keys": keys }).to_string(), 1),
                "/bundle" => {
                    let svid: Vec<Value> = keys
                        .into_iter()
                        .map(|mut j| {
                            j["use"] = "jwt-svid".into();
                            j
                        })
                        .collect();
                    Reply::Json(
                        json!({"keys": svid, "spiffe_sequence": 1, "spiffe_refresh_hint": 1})
                            .to_string(),
                        300,
                    )
                }
                _ => Reply::Full(404, vec![], vec![]),
            }
        })
        .await;
        *port.lock().unwrap() = http.port;
        FakeIssuer {
            http,
            key,
            kid: kid.into(),
            keys,
            down,
        }
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.http.port)
    }

    pub fn mint(&self, claims: &Value) -> String {
        self.key.sign(&self.kid, claims)
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn publish(&self, jwks: Vec<Value>) {
        *self.keys.lock().unwrap() = jwks;
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn jti() -> String {
    let mut b = [0u8; 12];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A Kubernetes projected service-account token (audience = Tessera).
fn k8s_claims(issuer: &str, aud: &str, sub: &str, ns: &str) -> Value {
    let t = now();
    json!({"iss": issuer, "sub": sub, "aud": [aud], "exp": t + 600, "iat": t, "nbf": t,
           "jti": jti(),
           "kubernetes.io": {"namespace": ns,
               "serviceaccount": {"name": "billing", "uid": "5b1c3d0e-0000-4000-8000-000000000001"},
               "pod": {"name": "billing-7d4b9", "uid": "5b1c3d0e-0000-4000-8000-000000000002"}}})
}

/// A GitHub Actions OIDC token.
fn github_claims(issuer: &str, aud: &str, environment: &str) -> Value {
    let t = now();
    json!({"iss": issuer, "aud": aud, "exp": t + 300, "iat": t, "nbf": t, "jti": jti(),
           "sub": "repo:acme/api:environment:prod", "repository": "acme/api",
           "repository_owner": "acme", "ref": "refs/heads/main", "environment": environment,
           "workflow": "deploy", "event_name": "push", "runner_environment": "github-hosted"})
}

/// A SPIFFE JWT-SVID: no `iss`, no `jti` (both optional in the SPIFFE specification).
fn svid_claims(aud: &str, sub: &str) -> Value {
    let t = now();
    json!({"sub": sub, "aud": [aud], "exp": t + 300, "iat": t})
}

async fn app(backend: Backend) -> TestApp {
    spawn_with(
        backend,
        |s| {
            s.remote_jwks_allow_loopback = true;
            s.remote_jwks_min_cache = Duration::from_secs(1);
            s.remote_jwks_max_stale = Duration::from_secs(2);
            s.remote_jwks_refetch_cooldown = Duration::from_millis(200);
        },
        Arc::new(tessera::clock::SystemClock),
    )
    .await
}

async fn add_federation(app: &TestApp, name: &str, issuer: &str, jwks_uri: Option<String>) {
    app.state
        .ctx
        .federations
        .add(NewFederation {
            name: name.into(),
            issuer: issuer.into(),
            jwks_uri,
            ..Default::default()
        })
        .await
        .unwrap();
}

/// A federated client bound to `binding` (`NAME:SUB`) with `conditions`.
async fn federated_client(app: &TestApp, binding: &str, conditions: &[&str]) -> String {
    let ctx = &app.state.ctx;
    let created = ctx
        .clients
        .create(
            NewClient {
                name: "workload".into(),
                grant_types: vec!["client_credentials".into()],
                scopes: vec!["orders:read".into()],
                audiences: vec!["https://orders.internal".into()],
                federated: true,
                ..Default::default()
            },
            RegistrationLimits {
                max_token_ttl: Duration::from_secs(3600),
            },
        )
        .await
        .unwrap();
    assert!(
        created.client_secret.is_empty(),
        "a federated client has no secret"
    );
    let conds: Vec<String> = conditions.iter().map(|c| c.to_string()).collect();
    ctx.federations
        .bind(
            &created.client.client_id,
            NewBinding::parse(binding, &conds).unwrap(),
        )
        .await
        .unwrap();
    created.client.client_id
}

async fn trade(app: &TestApp, client_id: &str, token: &str, kind: &str) -> (u16, Value) {
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_assertion_type", kind),
            ("client_assertion", token),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn assert_invalid_client((status, body): (u16, Value), case: &str) {
    assert_eq!(status, 401, "{case}: {body}");
    assert_eq!(body["error"], "invalid_client", "{case}");
}

/// A Kubernetes-shaped token (keys through OIDC discovery), a GitHub Actions-shaped token
/// (explicit jwks_uri, conditions on repository/ref/environment) and a SPIFFE JWT-SVID
/// (bundle endpoint, jwt-spiffe assertion type, no jti): each gets an access token that an
/// independent library verifies; each external token works once.
async fn each_format_gets_an_access_token(backend: Backend) {
    let app = app(backend).await;
    let issuer_url = app.state.settings.issuer.clone();
    let k8s = FakeIssuer::start(ClientKey::rsa(false), "k8s-1").await;
    let gh = FakeIssuer::start(ClientKey::rsa(false), "gh-1").await;
    let spire = FakeIssuer::start(ClientKey::es256(), "spire-1").await;
    add_federation(&app, "k8s-prod", &k8s.issuer(), None).await;
    add_federation(&app, "github", &gh.issuer(), Some(gh.http.url("/jwks"))).await;
    add_federation(
        &app,
        "spiffe-prod",
        "spiffe://prod.example",
        Some(spire.http.url("/bundle")),
    )
    .await;

    let kc = federated_client(
        &app,
        &format!("k8s-prod:{K8S_SUB}"),
        &["kubernetes.io.namespace=payments"],
    )
    .await;
    let gc = federated_client(
        &app,
        "github:repo:acme/api:environment:prod",
        &[
            "repository=acme/api",
            "ref=refs/heads/main",
            "environment=prod",
        ],
    )
    .await;
    let sc = federated_client(
        &app,
        "spiffe-prod:spiffe://prod.example/ns/payments/sa/billing",
        &[],
    )
    .await;

    let jwks = app.jwks().await;
    let k8s_token = k8s.mint(&k8s_claims(&k8s.issuer(), &issuer_url, K8S_SUB, "payments"));
    let svid = spire.mint(&svid_claims(
        &issuer_url,
        "spiffe://prod.example/ns/payments/sa/billing",
    ));
    for (client, token, kind) in [
        (&kc, k8s_token.clone(), JWT_BEARER),
        (
            &gc,
            gh.mint(&github_claims(&gh.issuer(), &issuer_url, "prod")),
            JWT_BEARER,
        ),
        (&sc, svid.clone(), JWT_SPIFFE),
    ] {
        let (status, body) = trade(&app, client, &token, kind).await;
        assert_eq!(status, 200, "{client}: {body}");
        let at = body["access_token"].as_str().unwrap();
        let claims =
            verify_independently(at, &jwks, &issuer_url, "https://orders.internal").unwrap();
        assert_eq!(claims["client_id"], client.as_str());
    }
    // C1-style single use: the same external token is refused the second time (with a jti,
    // and without one: by the token's hash).
    assert_invalid_client(trade(&app, &kc, &k8s_token, JWT_BEARER).await, "k8s replay");
    assert_invalid_client(trade(&app, &sc, &svid, JWT_SPIFFE).await, "SVID replay");
    // The client must name itself: the external sub is not a client id.
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            (
                "client_assertion",
                &k8s.mint(&k8s_claims(&k8s.issuer(), &issuer_url, K8S_SUB, "payments")),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}
on_both_backends!(each_format_gets_an_access_token);

/// C6: a trusted issuer with another sub, another aud, conditions not met, expired or
/// without exp; an untrusted issuer with the same kid; a token signed by another trusted
/// issuer's key (same kid, the other issuer's iss): all 401 invalid_client.
async fn c6_federated_tokens_refused(backend: Backend) {
    let app = app(backend).await;
    let me = app.state.settings.issuer.clone();
    let k8s = FakeIssuer::start(ClientKey::es256(), "shared-kid").await;
    let other = FakeIssuer::start(ClientKey::es256(), "shared-kid").await;
    let rogue = FakeIssuer::start(ClientKey::es256(), "shared-kid").await;
    add_federation(&app, "k8s-prod", &k8s.issuer(), None).await;
    add_federation(&app, "k8s-dev", &other.issuer(), None).await;
    let client = federated_client(
        &app,
        &format!("k8s-prod:{K8S_SUB}"),
        &["kubernetes.io.namespace=payments"],
    )
    .await;
    // The client is also bound to an identity of k8s-dev, so that issuer is "its" too.
    app.state
        .ctx
        .federations
        .bind(
            &client,
            NewBinding::parse("k8s-dev:system:serviceaccount:dev:tool", &[]).unwrap(),
        )
        .await
        .unwrap();
    let good = k8s_claims(&k8s.issuer(), &me, K8S_SUB, "payments");
    let (status, body) = trade(&app, &client, &k8s.mint(&good), JWT_BEARER).await;
    assert_eq!(status, 200, "control: {body}");

    let with = |patch: Value| {
        let mut c = k8s_claims(&k8s.issuer(), &me, K8S_SUB, "payments");
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "another sub",
            k8s.mint(&with(
                json!({"sub": "system:serviceaccount:payments:other"}),
            )),
        ),
        (
            "another aud",
            k8s.mint(&with(json!({"aud": ["https://elsewhere.example"]}))),
        ),
        (
            "condition not met",
            k8s.mint(&with(json!({"kubernetes.io": {"namespace": "dev"}}))),
        ),
        (
            "expired",
            k8s.mint(&with(
                json!({"exp": now() - 3600, "iat": now() - 7200, "nbf": now() - 7200}),
            )),
        ),
        ("no exp", k8s.mint(&with(json!({"exp": null})))),
        // An issuer nobody registered, same kid, claiming to be... itself.
        (
            "untrusted issuer, same kid",
            rogue.mint(&with(json!({"iss": rogue.issuer()}))),
        ),
        // The rogue claims the trusted issuer: signature with k8s-prod's keys fails.
        ("untrusted key, trusted iss", rogue.mint(&with(json!({})))),
        // Signed by another trusted issuer's key (same kid) but claiming k8s-prod.
        ("another issuer's key", other.mint(&with(json!({})))),
        // k8s-dev's own token, but the sub bound for k8s-dev is another one.
        (
            "other issuer, its own iss, unbound sub",
            other.mint(&with(json!({"iss": other.issuer()}))),
        ),
        ("alg none", {
            let h = base64url(&json!({"alg": "none", "kid": "shared-kid"}));
            format!("{h}.{}.", base64url(&with(json!({}))))
        }),
    ];
    for (case, token) in cases {
        assert_invalid_client(trade(&app, &client, &token, JWT_BEARER).await, case);
    }
    // A federated token for a client that is not federated: refused.
    let plain = app
        .client("orders:read", &["https://orders.internal"], None)
        .await;
    assert_invalid_client(
        trade(&app, &plain.id, &k8s.mint(&with(json!({}))), JWT_BEARER).await,
        "client not federated",
    );
}
on_both_backends!(c6_federated_tokens_refused);

fn base64url(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// C7: the issuer's JWKS becomes unreachable: cached keys keep working within
/// `remote_jwks_max_stale`, then 503 temporarily_unavailable (never accepted unchecked); a
/// key rotation is picked up by the unknown-kid refetch once the issuer is back.
async fn c7_issuer_unreachable(backend: Backend) {
    let app = app(backend).await;
    let me = app.state.settings.issuer.clone();
    let k8s = FakeIssuer::start(ClientKey::es256(), "k1").await;
    add_federation(&app, "k8s-prod", &k8s.issuer(), Some(k8s.http.url("/jwks"))).await;
    let client = federated_client(&app, &format!("k8s-prod:{K8S_SUB}"), &[]).await;
    let token = || k8s.mint(&k8s_claims(&k8s.issuer(), &me, K8S_SUB, "payments"));
    assert_eq!(trade(&app, &client, &token(), JWT_BEARER).await.0, 200);

    k8s.set_down(true);
    // Fresh for 1 s (max-age=1, min cache 1 s), then stale but usable for 2 s more.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = trade(&app, &client, &token(), JWT_BEARER).await;
    assert_eq!(status, 200, "within the stale bound: {body}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, body) = trade(&app, &client, &token(), JWT_BEARER).await;
    assert_eq!(status, 503, "past the bound: {body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    // Unsigned is never the fallback.
    let h = base64url(&json!({"alg": "none"}));
    let unsigned = format!(
        "{h}.{}.",
        base64url(&k8s_claims(&k8s.issuer(), &me, K8S_SUB, "payments"))
    );
    let (status, _) = trade(&app, &client, &unsigned, JWT_BEARER).await;
    assert_ne!(status, 200);

    // Back up, with a rotated key: the new kid is fetched.
    let rotated = ClientKey::es256();
    k8s.publish(vec![rotated.jwk("k2")]);
    k8s.set_down(false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = rotated.sign("k2", &k8s_claims(&k8s.issuer(), &me, K8S_SUB, "payments"));
    let (status, body) = trade(&app, &client, &t, JWT_BEARER).await;
    assert_eq!(status, 200, "after rotation: {body}");
}
on_both_backends!(c7_issuer_unreachable);

/// The admin API: trust an issuer, create a federated client and bind it, all audited;
/// the bound client gets a token; SSRF targets and unknown federations are 400; a bound
/// federation cannot be removed (409) until its client is deleted.
async fn admin_api_manages_federations(backend: Backend) {
    let app = app(backend).await;
    let me = app.state.settings.issuer.clone();
    let admin = app
        .client("tessera:admin", &[tessera::admin::ADMIN_AUDIENCE], None)
        .await;
    let token = app.access_token(&admin).await;
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = app.http.request(method, app.url(path)).bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    let k8s = FakeIssuer::start(ClientKey::es256(), "k1").await;
    use reqwest::Method;
    let (s, b) = call(
        Method::POST,
        "/admin/v1/federations",
        Some(
            json!({"name": "metadata", "issuer": "https://issuer.example",
                    "jwks_uri": "https://169.254.169.254/latest/meta-data/"}),
        ),
    )
    .await;
    assert_eq!(s, 400, "C5 at registration: {b}");
    let (s, b) = call(
        Method::POST,
        "/admin/v1/federations",
        Some(json!({"name": "k8s-prod", "issuer": k8s.issuer()})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["issuer"], k8s.issuer());
    let (s, b) = call(
        Method::POST,
        "/admin/v1/clients",
        Some(
            json!({"name": "billing", "grant_types": ["client_credentials"],
                    "scopes": ["orders:read"], "audiences": ["https://orders.internal"],
                    "federated": true}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert!(b.get("client_secret").is_none(), "{b}");
    let id = b["client"]["client_id"].as_str().unwrap().to_string();
    assert_eq!(b["client"]["token_endpoint_auth_method"], "federated");
    let path = format!("/admin/v1/clients/{id}/federated-identities");
    let (s, _) = call(
        Method::POST,
        &path,
        Some(json!({"federation": "nope", "subject": K8S_SUB})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, b) = call(
        Method::POST,
        &path,
        Some(json!({"federation": "k8s-prod", "subject": K8S_SUB,
                    "conditions": {"kubernetes.io.namespace": "payments"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call(Method::GET, &path, None).await;
    assert_eq!((s, b["items"].as_array().unwrap().len()), (200, 1));

    let t = k8s.mint(&k8s_claims(&k8s.issuer(), &me, K8S_SUB, "payments"));
    assert_eq!(trade(&app, &id, &t, JWT_BEARER).await.0, 200);

    let (s, _) = call(Method::DELETE, "/admin/v1/federations/k8s-prod", None).await;
    assert_eq!(s, 409, "bound federations stay");

    // Switched to a secret, the client loses its bindings: its identity no longer
    // authenticates it, the new secret (shown once) does.
    let (s, b) = call(
        Method::PATCH,
        &format!("/admin/v1/clients/{id}"),
        Some(json!({"token_endpoint_auth_method": "client_secret_basic"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let secret = b["client_secret"]
        .as_str()
        .expect("a new secret")
        .to_string();
    let (s, b) = call(Method::GET, &path, None).await;
    assert_eq!((s, b["items"].as_array().unwrap().len()), (200, 0), "{b}");
    let t = k8s.mint(&k8s_claims(&k8s.issuer(), &me, K8S_SUB, "payments"));
    assert_invalid_client(
        trade(&app, &id, &t, JWT_BEARER).await,
        "a federated token after the switch",
    );
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, _) = call(Method::DELETE, &format!("/admin/v1/clients/{id}"), None).await;
    assert_eq!(s, 204);
    let (s, _) = call(Method::DELETE, "/admin/v1/federations/k8s-prod", None).await;
    assert_eq!(s, 204);

    let (_, audit) = call(Method::GET, "/admin/v1/audit", None).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "federation.add",
        "client.federated_identity.add",
        "federation.remove",
    ] {
        assert!(actions.contains(&a), "{a} audited: {actions:?}");
    }
}
on_both_backends!(admin_api_manages_federations);
