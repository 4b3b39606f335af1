//! The `aws-kms` custody backend (cargo feature `aws-kms`): key pairs created and used
//! inside AWS KMS, spoken to as what it is — JSON over HTTPS (`X-Amz-Target:
//! TrentService.<Operation>`, `application/x-amz-json-1.1`), each request signed with
//! SigV4 (`aws-sigv4`). The full AWS SDK would bring its own runtime, retry and
//! configuration layers for four operations (`docs/kms.md`).
//!
//! - One KMS key per rotation: `CreateKey` (`ECC_NIST_P256` or `RSA_<bits>`,
//!   `SIGN_VERIFY`), `GetPublicKey` (DER SubjectPublicKeyInfo) → the public JWK whose RFC
//!   7638 thumbprint is the kid, then `TagResource` `tessera:kid = <kid>` so an operator
//!   finds the key in the console. The row stores the key ARN as `key_ref`; no private
//!   material ever leaves KMS.
//! - Signing uses `MessageType=RAW` (KMS hashes): JWS signing inputs are far below the
//!   4096-byte RAW limit, and moto's DIGEST mode is wrong (it hashes again). ECDSA comes
//!   back DER-encoded and is converted to the fixed-length `r || s` of JWS.
//! - A key that left the JWKS gets `ScheduleKeyDeletion` with the minimum 7-day window
//!   (KMS refuses shorter); until then KMS refuses to sign with it.
//! - Credentials: the standard `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
//!   `AWS_SESSION_TOKEN` variables, read at start-up, never logged (the `Credentials`
//!   type redacts itself in `Debug`).
//!
//! Signing is a network round trip while token issuance is synchronous (the keyring signs
//! inside `TokenIssuer`, called from many grant paths). The requests run on a small
//! runtime of their own (one thread, [`IoRuntime`]) and the signer waits for the answer:
//! inside `block_in_place` on a multi-threaded server, so the worker's other tasks move to
//! the other workers while it waits; with `workers = 1` the single worker is blocked for
//! the round trip (`docs/kms.md` says to use `workers >= 2`). Every request has the
//! `aws_kms_timeout` deadline. Local and PKCS#11 keys do not go through any of this.
//!
//! Failures (H2): a signature that fails (unreachable, timeout, throttled, refused)
//! marks the backend broken and surfaces as [`Error::Unavailable`] (503
//! `temporarily_unavailable` + `Retry-After`, `/readyz` 503). While broken, signing fails
//! fast; every key-manager tick probes KMS with `GetPublicKey` on the key that failed and
//! resumes signing when it answers: recovery without a restart.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SigningSettings, sign},
    sign::v4,
};
use aws_smithy_runtime_api::client::identity::Identity;
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64},
};
use serde_json::{Value, json};

use crate::{
    error::{Error, Result},
    keys::{
        Alg,
        material::{PublicJwk, thumbprint},
    },
};

/// The shortest deletion window KMS accepts, in days.
pub const DELETION_WINDOW_DAYS: u32 = 7;

/// The service name in SigV4 scopes.
const SERVICE: &str = "kms";

const UNAVAILABLE: &str = "the signing-key KMS";

/// What to connect to: from the `aws_kms_*` settings and the `AWS_*` environment.
#[derive(Clone)]
pub struct KmsConfig {
    pub region: String,
    /// `https://kms.<region>.amazonaws.com/` unless set (moto, VPC endpoints, FIPS).
    pub endpoint: Option<String>,
    pub timeout: Duration,
    pub credentials: Credentials,
}

impl std::fmt::Debug for KmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsConfig")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            // `Credentials`' own Debug prints the key id and redacts the secrets; print
            // nothing of them at all.
            .field("credentials", &"** from the AWS_* environment **")
            .finish()
    }
}

impl KmsConfig {
    /// The credentials from the standard AWS environment variables. An error names the
    /// missing variable, never a value.
    pub fn credentials_from_env() -> Result<Credentials> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let id = var("AWS_ACCESS_KEY_ID").ok_or_else(|| {
            Error::Config("key_backend = aws-kms: AWS_ACCESS_KEY_ID is not set".into())
        })?;
        let secret = var("AWS_SECRET_ACCESS_KEY").ok_or_else(|| {
            Error::Config("key_backend = aws-kms: AWS_SECRET_ACCESS_KEY is not set".into())
        })?;
        Ok(Credentials::new(
            id,
            secret,
            var("AWS_SESSION_TOKEN"),
            None,
            "environment",
        ))
    }
}

/// A failed KMS call, as the caller needs to tell them apart.
#[derive(Debug)]
enum CallError {
    /// No answer, a timeout, a 5xx, throttling: worth retrying later.
    Unreachable(String),
    /// KMS answered no (`AccessDeniedException`, `NotFoundException`, ...).
    Refused { kind: String, message: String },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) => write!(f, "unreachable: {e}"),
            CallError::Refused { kind, message } => write!(f, "{kind}: {message}"),
        }
    }
}

/// The runtime the KMS requests run on (its connection pool lives there), shut down
/// without blocking when the backend is dropped, which may happen inside another runtime.
struct IoRuntime(Option<tokio::runtime::Runtime>);

impl Drop for IoRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// What a request needs, shared with the tasks on the KMS runtime.
struct Inner {
    client: reqwest::Client,
    url: reqwest::Url,
    /// `host[:port]` as reqwest sends it: SigV4 signs the Host header.
    host: String,
    region: String,
    identity: Identity,
}

/// An AWS KMS region (or emulator) holding signing keys.
pub struct Kms {
    inner: Arc<Inner>,
    rt: IoRuntime,
    timeout: Duration,
    broken: AtomicBool,
    /// The key whose signature failed last: what the health probe asks about.
    failed_key: Mutex<Option<String>>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("url", &self.inner.url.as_str())
            .field("region", &self.inner.region)
            .field("broken", &self.broken.load(Ordering::Relaxed))
            .finish()
    }
}

impl Kms {
    /// Builds the client; no request is made (stored keys are checked by [`Kms::check_key`]).
    pub fn open(config: KmsConfig) -> Result<Kms> {
        let endpoint = config
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://kms.{}.amazonaws.com/", config.region));
        let url = reqwest::Url::parse(&endpoint)
            .map_err(|e| Error::Config(format!("aws_kms_endpoint_url: {endpoint:?}: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(Error::Config(format!(
                "aws_kms_endpoint_url: {endpoint:?} is not an http(s) URL"
            )));
        }
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .use_preconfigured_tls(tls_config()?)
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("aws-kms: cannot build the HTTP client: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tessera-kms")
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("aws-kms: cannot start its runtime: {e}")))?;
        Ok(Kms {
            inner: Arc::new(Inner {
                client,
                url,
                host,
                region: config.region,
                identity: config.credentials.into(),
            }),
            rt: IoRuntime(Some(rt)),
            timeout: config.timeout,
            broken: AtomicBool::new(false),
            failed_key: Mutex::new(None),
        })
    }

    fn handle(&self) -> Result<&tokio::runtime::Runtime> {
        self.rt.0.as_ref().ok_or(Error::Unavailable(UNAVAILABLE))
    }

    /// Runs one KMS operation on the KMS runtime and awaits it (from any runtime).
    async fn call(&self, op: &'static str, body: Value) -> std::result::Result<Value, CallError> {
        let inner = self.inner.clone();
        let task = self
            .handle()
            .map_err(|e| CallError::Unreachable(e.to_string()))?
            .spawn(async move { inner.call(op, body).await });
        task.await
            .map_err(|e| CallError::Unreachable(format!("KMS task: {e}")))?
    }

    /// Whether the last signature went through (or the probe since then did).
    pub fn is_healthy(&self) -> bool {
        !self.broken.load(Ordering::Acquire)
    }

    /// Creates a key pair for `alg` in KMS; returns its public JWK and key ARN.
    pub async fn generate(&self, alg: Alg, rsa_bits: u32) -> Result<(PublicJwk, String)> {
        let spec = match alg {
            Alg::ES256 => "ECC_NIST_P256".to_string(),
            Alg::RS256 => format!("RSA_{rsa_bits}"),
        };
        let created = self
            .call(
                "CreateKey",
                json!({
                    "KeySpec": spec,
                    "KeyUsage": "SIGN_VERIFY",
                    "Description": format!("Tessera {alg} token-signing key"),
                    "Tags": [{"TagKey": "tessera:purpose", "TagValue": "jws-signing"}],
                }),
            )
            .await
            .map_err(|e| failure("CreateKey", e))?;
        let arn = created["KeyMetadata"]["Arn"]
            .as_str()
            .or_else(|| created["KeyMetadata"]["KeyId"].as_str())
            .ok_or_else(|| Error::Crypto("KMS CreateKey: no KeyMetadata.Arn in the answer".into()))?
            .to_string();
        let jwk = match self.public_jwk(&arn, alg).await {
            Ok(jwk) => jwk,
            Err(e) => {
                self.schedule_deletion(&arn).await.ok();
                return Err(e);
            }
        };
        let tagged = self
            .call(
                "TagResource",
                json!({"KeyId": arn, "Tags": [{"TagKey": "tessera:kid", "TagValue": jwk.kid}]}),
            )
            .await;
        if let Err(e) = tagged {
            // Not fatal for signing, but a key nobody can attribute: do not keep it.
            self.schedule_deletion(&arn).await.ok();
            return Err(failure("TagResource", e));
        }
        tracing::info!(kid = %jwk.kid, key_arn = %arn, "created AWS KMS signing key");
        Ok((jwk, arn))
    }

    /// The public JWK of a KMS key (`GetPublicKey`), checked to be a key for `alg`.
    pub async fn public_jwk(&self, key_id: &str, alg: Alg) -> Result<PublicJwk> {
        let got = self
            .call("GetPublicKey", json!({"KeyId": key_id}))
            .await
            .map_err(|e| failure("GetPublicKey", e))?;
        let der = got["PublicKey"]
            .as_str()
            .and_then(|b| STANDARD.decode(b).ok())
            .ok_or_else(|| Error::Crypto("KMS GetPublicKey: no PublicKey in the answer".into()))?;
        jwk_from_spki(alg, &der)
    }

    /// Start-up check of a stored key: KMS has it and its public key is the row's kid.
    pub async fn check_key(&self, key_id: &str, alg: Alg, kid: &str) -> Result<()> {
        let jwk = self.public_jwk(key_id, alg).await.map_err(|e| {
            Error::Config(format!(
                "signing key {kid} ({key_id}) cannot be read from AWS KMS: {e}"
            ))
        })?;
        if jwk.kid != kid {
            return Err(Error::Config(format!(
                "signing key {kid}: the KMS key {key_id} holds a different public key"
            )));
        }
        Ok(())
    }

    /// `ScheduleKeyDeletion` with the minimum window. A key already pending deletion or
    /// gone is fine (revocation schedules it, and the row's removal asks again).
    pub async fn schedule_deletion(&self, key_arn: &str) -> Result<()> {
        // The bare key id, not the ARN: both name the key for AWS (the keys are in the
        // caller's account), but moto 5.2.6 fails (HTTP 500) on an ARN here.
        let key_id = key_arn.rsplit_once(":key/").map_or(key_arn, |(_, id)| id);
        match self
            .call(
                "ScheduleKeyDeletion",
                json!({"KeyId": key_id, "PendingWindowInDays": DELETION_WINDOW_DAYS}),
            )
            .await
        {
            Ok(_) => {
                tracing::info!(
                    key_arn,
                    days = DELETION_WINDOW_DAYS,
                    "scheduled KMS key deletion"
                );
                Ok(())
            }
            Err(CallError::Refused { kind, .. })
                if kind == "NotFoundException" || kind == "KMSInvalidStateException" =>
            {
                Ok(())
            }
            Err(e) => Err(failure("ScheduleKeyDeletion", e)),
        }
    }

    /// Signs `msg` with the KMS key `key_id`; the result is the JWS signature. Waits for
    /// the answer from synchronous code (see the module header).
    pub fn sign(&self, key_id: &str, alg: Alg, msg: &[u8]) -> Result<Vec<u8>> {
        if self.broken.load(Ordering::Acquire) {
            return Err(Error::Unavailable(UNAVAILABLE));
        }
        let inner = self.inner.clone();
        let body = json!({
            "KeyId": key_id,
            "Message": STANDARD.encode(msg),
            "MessageType": "RAW",
            "SigningAlgorithm": match alg {
                Alg::ES256 => "ECDSA_SHA_256",
                Alg::RS256 => "RSASSA_PKCS1_V1_5_SHA_256",
            },
        });
        let rt = self.handle()?;
        // The request's own deadline is `aws_kms_timeout`; this one only guards against a
        // task that never reports back. The KMS runtime never waits on this thread, so
        // blocking here cannot deadlock.
        let deadline = self.timeout + Duration::from_secs(1);
        let wait = move || -> std::result::Result<Value, CallError> {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            rt.spawn(async move {
                let _ = tx.send(inner.call("Sign", body).await);
            });
            rx.recv_timeout(deadline)
                .map_err(|_| CallError::Unreachable("no answer within aws_kms_timeout".into()))?
        };
        let answer = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            // Lets the worker's other tasks move to the other workers while this one waits.
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
            _ => wait(),
        };
        let signed = match answer {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(key_id, error = %e, "AWS KMS Sign failed; signing paused until KMS answers again");
                if let Ok(mut k) = self.failed_key.lock() {
                    *k = Some(key_id.to_string());
                }
                self.broken.store(true, Ordering::Release);
                return Err(Error::Unavailable(UNAVAILABLE));
            }
        };
        let sig = signed["Signature"]
            .as_str()
            .and_then(|b| STANDARD.decode(b).ok())
            .ok_or_else(|| Error::Crypto("KMS Sign: no Signature in the answer".into()))?;
        match alg {
            Alg::ES256 => ecdsa_der_to_jws(&sig),
            Alg::RS256 => Ok(sig),
        }
    }

    /// Probes KMS after a failed signature (`GetPublicKey` on that key: a permission the
    /// backend needs anyway) and resumes signing when it answers. Every key-manager tick.
    pub async fn check(&self) -> bool {
        if !self.broken.load(Ordering::Acquire) {
            return true;
        }
        let key = self.failed_key.lock().ok().and_then(|k| k.clone());
        let ok = match key {
            Some(key) => match self.call("GetPublicKey", json!({"KeyId": key})).await {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "AWS KMS still unavailable");
                    false
                }
            },
            None => true,
        };
        if ok {
            self.broken.store(false, Ordering::Release);
            tracing::warn!("AWS KMS answers again; signing resumed");
        }
        ok
    }
}

impl Inner {
    /// One signed POST; the answer's JSON, or why not.
    async fn call(&self, op: &'static str, body: Value) -> std::result::Result<Value, CallError> {
        let body = serde_json::to_vec(&body).map_err(|e| CallError::Unreachable(e.to_string()))?;
        let target = format!("TrentService.{op}");
        let headers = [
            ("host", self.host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| CallError::Unreachable(format!("SigV4 parameters: {e}")))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            self.url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| CallError::Unreachable(format!("SigV4: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| CallError::Unreachable(format!("SigV4: {e}")))?
            .into_parts();
        let mut req = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", &target);
        for (name, value) in instructions.headers() {
            req = req.header(name, value);
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| CallError::Unreachable(format!("{op}: unreadable answer: {e}")));
        }
        // Errors are `{"__type": "...#KMSInvalidStateException", "message": "..."}`.
        let err: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let kind = err["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
            .unwrap_or_else(|| format!("HTTP {status}"));
        let message = err["message"]
            .as_str()
            .or_else(|| err["Message"].as_str())
            .unwrap_or_default()
            .to_string();
        let transient = status.is_server_error()
            || kind.contains("Throttling")
            || kind == "KMSInternalException"
            || kind == "DependencyTimeoutException";
        Err(if transient {
            CallError::Unreachable(format!("{op}: {kind}: {message}"))
        } else {
            CallError::Refused { kind, message }
        })
    }
}

/// A failed key-management call as an [`Error`]: unavailability when KMS did not answer
/// (the key manager retries those next tick), the refusal otherwise.
fn failure(op: &'static str, e: CallError) -> Error {
    match e {
        CallError::Unreachable(detail) => {
            tracing::warn!(operation = op, error = %detail, "AWS KMS unavailable");
            Error::Unavailable(UNAVAILABLE)
        }
        refused => Error::Crypto(format!("AWS KMS {op}: {refused}")),
    }
}

/// TLS on aws-lc-rs with the OS root store (as tessera-verify's client).
fn tls_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // Unparseable system certificates are skipped, as browsers do.
        let _ = roots.add(cert);
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("aws-kms TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// One DER TLV: (tag, contents, rest). Definite lengths up to 2 bytes (keys and
/// signatures here are far smaller than 64 KiB).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 2 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, b| (a << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A DER INTEGER's magnitude without its sign-padding zeros.
fn unsigned(int: &[u8]) -> &[u8] {
    let i = int.iter().position(|b| *b != 0).unwrap_or(int.len());
    &int[i..]
}

/// DER of id-ecPublicKey + prime256v1, and of rsaEncryption (+ NULL), in an SPKI.
const EC_P256_ALG: &[u8] = &[
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x03, 0x01, 0x07,
];
const RSA_ALG_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

/// The public JWK (kid = RFC 7638 thumbprint) of a DER SubjectPublicKeyInfo.
pub fn jwk_from_spki(alg: Alg, spki: &[u8]) -> Result<PublicJwk> {
    let bad = || Error::Crypto(format!("KMS returned a public key that is not {alg}"));
    let (0x30, body, []) = der(spki).ok_or_else(bad)? else {
        return Err(bad());
    };
    let (0x30, alg_id, rest) = der(body).ok_or_else(bad)? else {
        return Err(bad());
    };
    let (0x03, bits, []) = der(rest).ok_or_else(bad)? else {
        return Err(bad());
    };
    let [0x00, key @ ..] = bits else {
        return Err(bad());
    };
    let mut jwk = PublicJwk {
        kty: String::new(),
        crv: None,
        x: None,
        y: None,
        n: None,
        e: None,
        kid: String::new(),
        use_: "sig".into(),
        alg: alg.as_str().into(),
    };
    match alg {
        Alg::ES256 => {
            if alg_id != EC_P256_ALG || key.len() != 65 || key[0] != 0x04 {
                return Err(bad());
            }
            jwk.kty = "EC".into();
            jwk.crv = Some("P-256".into());
            jwk.x = Some(B64.encode(&key[1..33]));
            jwk.y = Some(B64.encode(&key[33..65]));
        }
        Alg::RS256 => {
            if !alg_id.starts_with(RSA_ALG_OID) {
                return Err(bad());
            }
            let (0x30, ints, []) = der(key).ok_or_else(bad)? else {
                return Err(bad());
            };
            let (0x02, n, rest) = der(ints).ok_or_else(bad)? else {
                return Err(bad());
            };
            let (0x02, e, []) = der(rest).ok_or_else(bad)? else {
                return Err(bad());
            };
            jwk.kty = "RSA".into();
            jwk.n = Some(B64.encode(unsigned(n)));
            jwk.e = Some(B64.encode(unsigned(e)));
        }
    }
    jwk.kid = thumbprint(&jwk);
    Ok(jwk)
}

/// KMS's DER `ECDSA-Sig-Value` → the 64-byte `r || s` of JWS (RFC 7518 §3.4).
pub fn ecdsa_der_to_jws(sig: &[u8]) -> Result<Vec<u8>> {
    let bad = || Error::Crypto("KMS returned a malformed ECDSA signature".into());
    let (0x30, body, []) = der(sig).ok_or_else(bad)? else {
        return Err(bad());
    };
    let (0x02, r, rest) = der(body).ok_or_else(bad)? else {
        return Err(bad());
    };
    let (0x02, s, []) = der(rest).ok_or_else(bad)? else {
        return Err(bad());
    };
    let mut out = vec![0u8; 64];
    for (int, half) in [(r, 0), (s, 32)] {
        let int = unsigned(int);
        if int.is_empty() || int.len() > 32 {
            return Err(bad());
        }
        out[half + 32 - int.len()..half + 32].copy_from_slice(int);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::{
        rand::SystemRandom,
        signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair, RsaKeyPair},
    };

    /// An ASN.1 ECDSA signature converts to the fixed form that verifies (both halves
    /// padded to 32 bytes, sign zeros dropped), checked with aws-lc-rs's fixed verifier.
    #[test]
    fn ecdsa_der_converts_to_fixed_and_verifies() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        for i in 0..64u8 {
            let msg = [i; 40];
            let der = kp.sign(&rng, &msg).unwrap();
            let fixed = ecdsa_der_to_jws(der.as_ref()).unwrap();
            assert_eq!(fixed.len(), 64);
            aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                kp.public_key().as_ref(),
            )
            .verify(&msg, &fixed)
            .unwrap();
        }
        assert!(ecdsa_der_to_jws(&[0x30, 0x02, 0x02, 0x00]).is_err());
        assert!(ecdsa_der_to_jws(&[]).is_err());
    }

    /// SPKI of both key types give the same JWK (and kid) as the local backend's keys.
    #[test]
    fn spki_to_jwk_matches_local_keys() {
        use crate::keys::material::PrivateKey;
        use aws_lc_rs::encoding::AsDer;
        for alg in Alg::ALL {
            let (key, pkcs8) = PrivateKey::generate(alg, 2048).unwrap();
            let spki = match alg {
                Alg::ES256 => {
                    let kp =
                        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8).unwrap();
                    kp.public_key().as_der().unwrap().as_ref().to_vec()
                }
                Alg::RS256 => {
                    let kp = RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
                    kp.public_key().as_der().unwrap().as_ref().to_vec()
                }
            };
            assert_eq!(
                jwk_from_spki(alg, &spki).unwrap(),
                key.public_jwk(),
                "{alg}"
            );
            let other = if alg == Alg::ES256 {
                Alg::RS256
            } else {
                Alg::ES256
            };
            assert!(jwk_from_spki(other, &spki).is_err());
        }
    }

    /// The credentials never appear in the Debug form of the settings.
    #[test]
    fn config_debug_hides_credentials() {
        let c = KmsConfig {
            region: "eu-west-1".into(),
            endpoint: None,
            timeout: Duration::from_secs(2),
            credentials: Credentials::new(
                "AKIAEXAMPLEKEYID",
                "s3cr3t-value",
                Some("tok3n".into()),
                None,
                "t",
            ),
        };
        let s = format!("{c:?}");
        for secret in ["AKIAEXAMPLEKEYID", "s3cr3t-value", "tok3n"] {
            assert!(!s.contains(secret), "{s}");
        }
    }
}
