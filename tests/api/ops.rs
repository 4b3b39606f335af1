//! Operations: Prometheus metrics, request ids, token-endpoint rate limits, and the
//! connection-level hostile inputs of `docs/security.md` S1 (slow and idle clients) and S2 (huge
//! headers, invalid UTF-8 and `..` in paths).

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use crate::{
    on_both_backends,
    support::{Backend, http_from, spawn, spawn_with},
};

async fn metrics_count_tokens_errors_and_latency(backend: Backend) {
    let app = spawn(backend).await;
    let c = app
        .client("orders:read", &["https://orders.internal"], None)
        .await;
    app.access_token(&c).await;
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&c.id, Some("not-the-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["x-request-id"].len(),
        32,
        "a generated request id"
    );
    let r = app
        .http
        .get(app.url("/metrics"))
        .header("x-request-id", "scrape-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "scrape-1");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    // Per grant and algorithm; per client only with `metrics_client_label` (S9, hygiene.rs).
    assert!(
        text.contains(r#"tessera_tokens_issued_total{grant="client_credentials",alg="ES256"}"#),
        "{text}"
    );
    assert!(!text.contains(&c.id), "{text}");
    assert!(text.contains(r#"tessera_oauth_errors_total{error="invalid_client"}"#));
    assert!(text.contains(
        r#"tessera_http_request_duration_seconds_count{route="/oauth/token",method="POST",status="200"}"#
    ));
    let gauge = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    // The first keys activate after the pre-publication period or at once; either way the
    // next rotation is ahead and no more than the rotation interval away.
    let next = gauge(r#"tessera_seconds_to_next_rotation{alg="ES256"}"#);
    let interval = app.state.settings.rotation_interval.as_secs() as f64;
    assert!(next > 0.0 && next <= interval, "{next}");
    assert!(gauge(r#"tessera_signing_key_age_seconds{alg="RS256"}"#) >= 0.0);
    assert_eq!(gauge("tessera_published_keys"), 2.0);
    assert!(gauge("tessera_db_pool_connections") >= 1.0);
    // Ids never become label values.
    let _ = app
        .http
        .get(app.url("/admin/v1/clients/some-id"))
        .send()
        .await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("some-id"));
    assert!(text.contains(r#"route="/admin/v1/clients/{id}""#));
}
on_both_backends!(metrics_count_tokens_errors_and_latency);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_is_rate_limited_per_ip_and_per_client() {
    let app = spawn_with(
        Backend::Sqlite,
        |s| {
            s.token_rate_per_ip = 1;
            s.token_rate_per_ip_burst = 5;
        },
        std::sync::Arc::new(tessera::clock::SystemClock),
    )
    .await;
    let c = app.client("a", &["aud"], None).await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = app
            .token_request(&c, &[("grant_type", "client_credentials")])
            .await;
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(
                r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    >= 1
            );
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"], "slow_down");
        }
    }
    assert_eq!(&statuses[..5], &[200; 5], "the burst is served");
    assert!(statuses[5..].contains(&429), "{statuses:?}");
    // Another address has its own quota (127.0.0.2 is loopback too).
    let other = http_from("127.0.0.2");
    let r = other
        .post(app.url("/oauth/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Per client: a busy client is held back, another is not.
    let app = spawn_with(
        Backend::Sqlite,
        |s| {
            s.token_rate_per_client = 1;
            s.token_rate_per_client_burst = 3;
        },
        std::sync::Arc::new(tessera::clock::SystemClock),
    )
    .await;
    let busy = app.client("a", &["aud"], None).await;
    let calm = app.client("a", &["aud"], None).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = app
            .token_request(&busy, &[("grant_type", "client_credentials")])
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..3], &[200; 3]);
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    let r = app
        .token_request(&calm, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 200);
    // A wrong secret never spends the real client's quota: limits apply after authentication.
}

/// A blocking TCP connection to the server from a chosen loopback source address.
async fn connect_from(ip: &str, port: u16) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::new(ip.parse().unwrap(), 0))
        .unwrap();
    let stream = socket
        .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap()
        .into_std()
        .unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
}

/// Reads until EOF or error; true if the peer closed the connection.
fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_cannot_starve_others() {
    // S1: a slowloris from one address holds at most `max_connections_per_ip` connections;
    // idle ones are closed after `idle_timeout`; another client is served throughout.
    let app = spawn_with(
        Backend::Sqlite,
        |s| {
            s.idle_timeout = Duration::from_secs(1);
            s.max_connections_per_ip = 8;
        },
        std::sync::Arc::new(tessera::clock::SystemClock),
    )
    .await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut s = connect_from("127.0.0.3", port).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .unwrap();
        slow.push(s);
    }
    // The ninth connection from that address is closed at once.
    let mut ninth = connect_from("127.0.0.3", port).await;
    let refused = tokio::task::spawn_blocking(move || {
        let _ = ninth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        closed_by_peer(&mut ninth)
    })
    .await
    .unwrap();
    assert!(refused, "over the per-address cap");
    // Everyone else is served.
    let r = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Stalled connections are closed by the idle timeout, freeing the slots.
    let all_closed =
        tokio::task::spawn_blocking(move || slow.into_iter().all(|mut s| closed_by_peer(&mut s)))
            .await
            .unwrap();
    assert!(all_closed, "stalled connections are closed");
    let mut s = connect_from("127.0.0.3", port).await;
    let served = tokio::task::spawn_blocking(move || {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
    .await
    .unwrap();
    assert!(served.starts_with("HTTP/1.1 200"), "{served:.80}");
}

/// Sends raw bytes and returns the status line (or "" if the server closed the connection).
fn raw(mut s: TcpStream, request: &[u8]) -> String {
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_headers_and_odd_paths_get_4xx_and_no_panic() {
    // S2.
    let app = spawn(Backend::Sqlite).await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let cases: Vec<Vec<u8>> = vec![
        // 1 MiB of headers.
        [
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ".as_slice(),
            &vec![b'a'; 1 << 20],
            b"\r\nConnection: close\r\n\r\n",
        ]
        .concat(),
        // Ten thousand headers.
        [
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n".as_slice(),
            &b"X-H: v\r\n".repeat(10_000),
            b"Connection: close\r\n\r\n",
        ]
        .concat(),
        b"GET /\xff\xfe/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /%ff%fe/..%2f..%2fetc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            .to_vec(),
        b"GET /admin/v1/users/%ff%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /../../.well-known/jwks.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            .to_vec(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(),
    ];
    for req in cases {
        let s = connect_from("127.0.0.1", port).await;
        let status = tokio::task::spawn_blocking(move || raw(s, &req))
            .await
            .unwrap();
        let code: u16 = status
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        // 0 = the server closed the connection without an answer (hyper does for
        // over-large headers); anything it answers is a 4xx (or the JWKS itself for a
        // normalised `..` path), never a 5xx.
        assert!(
            code == 0 || code == 200 || (400..500).contains(&code),
            "{status}"
        );
    }
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "still serving");
}

/// S6: a request head trickled one byte a second is closed soon after
/// `request_head_timeout`, although every byte restarts the idle (stall) timer; a normal
/// request, a body sent in chunks at a decent rate for longer than the deadline, and a
/// keep-alive connection idle for longer than the deadline are all served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_trickled_heads_are_closed_and_normal_requests_are_not() {
    let app = spawn_with(
        Backend::Sqlite,
        |s| {
            s.idle_timeout = Duration::from_secs(30);
            s.request_head_timeout = Duration::from_secs(2);
            s.min_body_rate = 1024;
        },
        std::sync::Arc::new(tessera::clock::SystemClock),
    )
    .await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();

    // The trickler: one byte a second of a head that never ends.
    let s = connect_from("127.0.0.4", port).await;
    let (closed, after) = tokio::task::spawn_blocking(move || {
        let mut writer = s.try_clone().unwrap();
        let mut reader = s;
        std::thread::spawn(move || {
            let head =
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            for b in head {
                if writer.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        let start = std::time::Instant::now();
        let closed = closed_by_peer(&mut reader);
        (closed, start.elapsed())
    })
    .await
    .unwrap();
    assert!(closed, "the trickled head is closed");
    assert!(
        after < Duration::from_secs(10),
        "closed after the head deadline, not the idle timeout: {after:?}"
    );

    // A normal request.
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // A 16 KiB body sent in 2 KiB chunks every 400 ms (about 3 s, 5 KiB/s): answered.
    let mut s = connect_from("127.0.0.4", port).await;
    let status = tokio::task::spawn_blocking(move || {
        let body = format!("token={}", "a".repeat(16 * 1024 - 6));
        let head = format!(
            "POST /oauth/revoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        for chunk in body.as_bytes().chunks(2048) {
            std::thread::sleep(Duration::from_millis(400));
            s.write_all(chunk).unwrap();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.lines().next().unwrap_or_default().to_string()
    })
    .await
    .unwrap();
    // No client authentication: a 4xx, but an answer, not a closed connection.
    assert!(status.starts_with("HTTP/1.1 4"), "{status:?}");

    // Keep-alive: a second request after 3 s of silence on the same connection.
    let mut s = connect_from("127.0.0.4", port).await;
    let second = tokio::task::spawn_blocking(move || {
        let mut buf = [0u8; 4096];
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        std::thread::sleep(Duration::from_secs(3));
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
    .await
    .unwrap();
    assert!(second.starts_with("HTTP/1.1 200"), "{second:.80}");
}
