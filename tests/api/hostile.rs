//! Hostile input at the token endpoint: rows T1–T5 and T7–T12 of `docs/security.md`.

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::{
    on_both_backends,
    support::{Backend, TestApp, TestClient, spawn},
};

/// Asserts an RFC 6749 §5.2 error: status, code, JSON, no-store, safe description.
async fn assert_oauth_error(r: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(r.status(), status, "expected {status} {code}");
    assert_eq!(
        r.headers()["cache-control"],
        "no-store",
        "T10: errors are no-store too"
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "T10: JSON"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    let obj = body.as_object().unwrap();
    assert!(
        obj.keys()
            .all(|k| k == "error" || k == "error_description" || k == "error_uri"),
        "{body}"
    );
    assert_safe_description(&body);
    body
}

/// T12: the description never leaks internals.
fn assert_safe_description(body: &serde_json::Value) {
    let d = body["error_description"]
        .as_str()
        .unwrap_or("")
        .to_lowercase();
    for word in [
        "sql",
        "database",
        "panic",
        "kid",
        "signature",
        "stack",
        "sqlite",
        "postgres",
        "select ",
        "unwrap",
    ] {
        assert!(!d.contains(word), "error_description leaks {word:?}: {d}");
    }
    // RFC 6749: error_description is %x20-21 / %x23-5B / %x5D-7E.
    assert!(
        d.bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'),
        "{d}"
    );
}

async fn post_raw(
    app: &TestApp,
    auth: Option<&str>,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", content_type)
        .body(body);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap()
}

const FORM: &str = "application/x-www-form-urlencoded";

/// Sends a POST /oauth/token with `body` over a raw socket and returns the response head.
async fn raw_exchange(app: &TestApp, auth: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let request = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nContent-Type: {FORM}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let body = body.to_vec();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(request.as_bytes()).await;
        let _ = wr.write_all(&body).await;
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(std::time::Duration::from_secs(20), rd.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    writer.abort();
    String::from_utf8_lossy(&buf).to_string()
}

/// A server with one client_credentials client.
async fn app_with_client(backend: Backend) -> (TestApp, TestClient) {
    let app = spawn(backend).await;
    let c = app.client("a", &["aud"], None).await;
    (app, c)
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// A client_credentials request with the given `Authorization` header value.
async fn client_credentials_with(app: &TestApp, auth: &str) -> reqwest::Response {
    post_raw(app, Some(auth), FORM, "grant_type=client_credentials").await
}

/// T1: a wrong secret with Basic is 401 `invalid_client` with a `WWW-Authenticate` challenge.
async fn a_wrong_basic_secret_is_401_invalid_client_with_a_challenge(backend: Backend) {
    let (app, c) = app_with_client(backend).await;
    let r = client_credentials_with(&app, &basic(&c.id, "wrong")).await;
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );
    assert_oauth_error(r, 401, "invalid_client").await;
}
on_both_backends!(a_wrong_basic_secret_is_401_invalid_client_with_a_challenge);

/// T2: an unknown client gets the very same answer as a wrong secret.
async fn an_unknown_client_is_indistinguishable_from_a_wrong_secret(backend: Backend) {
    let (app, c) = app_with_client(backend).await;
    let r = client_credentials_with(&app, &basic(&c.id, "wrong")).await;
    let t1 = assert_oauth_error(r, 401, "invalid_client").await;
    let r = client_credentials_with(&app, &basic("nobody", "wrong")).await;
    assert!(r.headers().contains_key("www-authenticate"));
    let t2 = assert_oauth_error(r, 401, "invalid_client").await;
    assert_eq!(
        t1, t2,
        "unknown client and wrong secret must be indistinguishable"
    );
}
on_both_backends!(an_unknown_client_is_indistinguishable_from_a_wrong_secret);

/// With client_secret_post, a wrong secret or no credentials at all is 401 `invalid_client`.
async fn a_wrong_or_missing_client_secret_post_is_401_invalid_client(backend: Backend) {
    let (app, c) = app_with_client(backend).await;
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret=wrong",
        c.id
    );
    assert_oauth_error(
        post_raw(&app, None, FORM, body).await,
        401,
        "invalid_client",
    )
    .await;
    assert_oauth_error(
        post_raw(&app, None, FORM, "grant_type=client_credentials").await,
        401,
        "invalid_client",
    )
    .await;
}
on_both_backends!(a_wrong_or_missing_client_secret_post_is_401_invalid_client);

/// T3: two authentication methods at once (Basic and the body) are `invalid_request`.
async fn two_authentication_methods_at_once_are_invalid_request(backend: Backend) {
    let (app, c) = app_with_client(backend).await;
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        c.id, c.secret
    );
    let r = post_raw(&app, Some(&basic(&c.id, &c.secret)), FORM, body).await;
    assert_oauth_error(r, 400, "invalid_request").await;
}
on_both_backends!(two_authentication_methods_at_once_are_invalid_request);

/// T4: malformed Basic headers are 400 `invalid_request` or 401 `invalid_client`, never 500.
async fn malformed_basic_headers_are_400_or_401_never_500(backend: Backend) {
    let (app, _) = app_with_client(backend).await;
    let malformed = [
        "Basic".to_string(),
        "Basic ".to_string(),
        "Basic !!!not-base64!!!".to_string(),
        format!("Basic {}", STANDARD.encode("no-colon-here")),
        format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', 0x80])),
        format!("Basic {}", STANDARD.encode("id%zz:secret")),
        format!("Basic {}", STANDARD.encode(":")),
        "Bearer abc.def.ghi".to_string(),
        format!("Basic {}", "A".repeat(6000)),
    ];
    for h in &malformed {
        let r = client_credentials_with(&app, h).await;
        let status = r.status().as_u16();
        assert!(status == 400 || status == 401, "{h:.40}: {status}");
        assert_oauth_error(
            r,
            status,
            if status == 401 {
                "invalid_client"
            } else {
                "invalid_request"
            },
        )
        .await;
    }
}
on_both_backends!(malformed_basic_headers_are_400_or_401_never_500);

/// T4: an `Authorization` header that is not even valid UTF-8 is 401 `invalid_client`.
async fn a_non_utf8_authorization_header_is_401_invalid_client(backend: Backend) {
    let (app, _) = app_with_client(backend).await;
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", FORM)
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap(),
        )
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 401, "invalid_client").await;
}
on_both_backends!(a_non_utf8_authorization_header_is_401_invalid_client);

async fn grant_type_errors(backend: Backend) {
    let app = spawn(backend).await;
    let c = app.client("a", &["aud"], None).await;
    let auth = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", c.id, c.secret))
    );
    // T5: missing, unknown, repeated grant_type.
    assert_oauth_error(
        post_raw(&app, Some(&auth), FORM, "scope=a").await,
        400,
        "invalid_request",
    )
    .await;
    assert_oauth_error(
        post_raw(&app, Some(&auth), FORM, "grant_type=").await,
        400,
        "invalid_request",
    )
    .await;
    assert_oauth_error(
        post_raw(&app, Some(&auth), FORM, "grant_type=implicit").await,
        400,
        "unsupported_grant_type",
    )
    .await;
    let body = "grant_type=client_credentials&grant_type=client_credentials";
    assert_oauth_error(
        post_raw(&app, Some(&auth), FORM, body).await,
        400,
        "invalid_request",
    )
    .await;
    // Repeated scope is also refused (RFC 6749 §3.2).
    let body = "grant_type=client_credentials&scope=a&scope=a";
    assert_oauth_error(
        post_raw(&app, Some(&auth), FORM, body).await,
        400,
        "invalid_request",
    )
    .await;
    // T7: scope outside the allowed set; malformed scope.
    let body = "grant_type=client_credentials&scope=a+root";
    assert_oauth_error(
        post_raw(&app, Some(&auth), FORM, body).await,
        400,
        "invalid_scope",
    )
    .await;
    let body = "grant_type=client_credentials&scope=%22quoted%22";
    assert_oauth_error(
        post_raw(&app, Some(&auth), FORM, body).await,
        400,
        "invalid_scope",
    )
    .await;
}
on_both_backends!(grant_type_errors);

async fn wrong_methods_content_types_and_sizes(backend: Backend) {
    let app = spawn(backend).await;
    let c = app.client("a", &["aud"], None).await;
    let auth = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", c.id, c.secret))
    );

    // T8: GET → 405 (still no-store); JSON body / wrong content type / none → invalid_request.
    let r = app.http.get(app.url("/oauth/token")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let json = r#"{"grant_type":"client_credentials"}"#;
    assert_oauth_error(
        post_raw(&app, Some(&auth), "application/json", json).await,
        400,
        "invalid_request",
    )
    .await;
    assert_oauth_error(
        post_raw(
            &app,
            Some(&auth),
            "text/plain",
            "grant_type=client_credentials",
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 400, "invalid_request").await;
    // The charset parameter is fine.
    let r = post_raw(
        &app,
        Some(&auth),
        "application/x-www-form-urlencoded; charset=UTF-8",
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.status(), 200);

    // T9: 1 MiB body → 413 (the server answers before reading it all, so speak raw TCP
    // and ignore the write error when it closes); 10,000 fields → 413 or 400.
    let big = format!("grant_type=client_credentials&junk={}", "x".repeat(1 << 20));
    let head = raw_exchange(&app, &auth, big.as_bytes()).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head:.80}");
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-control: no-store")
    );
    // 40 KB: over the limit too, so the answer may come before the body is written.
    let many = "a=1&".repeat(10_000);
    let head = raw_exchange(&app, &auth, many.as_bytes()).await;
    assert!(
        head.starts_with("HTTP/1.1 413") || head.starts_with("HTTP/1.1 400"),
        "{head:.80}"
    );
    let few_but_many = "a=&".repeat(100);
    assert_oauth_error(
        post_raw(&app, Some(&auth), FORM, few_but_many).await,
        400,
        "invalid_request",
    )
    .await;
    // Invalid UTF-8 and broken percent-encoding in the form never cause a 500.
    let r = post_raw(
        &app,
        Some(&auth),
        FORM,
        b"grant_type=client_credentials&scope=%ff%fe\xff".to_vec(),
    )
    .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = post_raw(&app, Some(&auth), FORM, "grant_type=client%zz_credentials").await;
    assert!(r.status().is_client_error());
    // And after all of that, the endpoint still works.
    assert_eq!(
        post_raw(&app, Some(&auth), FORM, "grant_type=client_credentials")
            .await
            .status(),
        200
    );
}
on_both_backends!(wrong_methods_content_types_and_sizes);
