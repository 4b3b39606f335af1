//! The remote key-set fetcher (src/remote_jwks): SSRF guards (row C5) and the cache
//! discipline (freshness from Cache-Control within bounds, unknown-kid refetch with a
//! cooldown, stale-if-error within a bound: row C7's mechanism).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tessera::{
    ip_net::IpNet,
    remote_jwks::{
        AddressPolicy, FetchError, FetchLimits, Fetcher, Parsed, Refused, RemoteSet, Unavailable,
    },
};

use crate::fake_http::{FakeHttp, Reply};

fn limits() -> FetchLimits {
    FetchLimits {
        timeout: Duration::from_secs(2),
        max_bytes: 64 * 1024,
        min_cache: Duration::from_millis(0),
        max_cache: Duration::from_secs(3600),
        default_cache: Duration::from_secs(300),
        max_stale: Duration::from_secs(3600),
        refetch_cooldown: Duration::from_secs(30),
    }
}

fn dev() -> AddressPolicy {
    AddressPolicy {
        allow_loopback: true,
        allowed: vec![],
    }
}

fn fetcher(policy: AddressPolicy, limits: FetchLimits) -> Arc<Fetcher> {
    Arc::new(Fetcher::new(policy, limits).unwrap())
}

const JWKS: &str = r#"{"keys":[]}"#;

/// C5: without the development setting, loopback is refused: by the URL check for a literal
/// address, and at connection time (the DNS hook) for a name resolving to it. The server
/// never sees a request.
#[tokio::test]
async fn c5_loopback_refused_without_the_development_setting() {
    let server = FakeHttp::start(|_| Reply::Json(JWKS.into(), 60)).await;
    let strict = fetcher(AddressPolicy::default(), limits());
    let port = server.port;
    assert!(matches!(
        strict.get(&format!("http://127.0.0.1:{port}/jwks")).await,
        Err(FetchError::Refused(Refused::Scheme))
    ));
    assert!(matches!(
        strict.get(&format!("https://127.0.0.1:{port}/jwks")).await,
        Err(FetchError::Refused(Refused::Address(_)))
    ));
    // A name: only the resolver hook can refuse it (DNS rebinding takes this path).
    match strict.get(&format!("https://localhost:{port}/jwks")).await {
        Err(FetchError::Transport(e)) => assert!(e.contains("SSRF guard"), "{e}"),
        other => panic!("expected a refused connection, got {other:?}"),
    }
    assert_eq!(server.hits(), 0);
    // With the development setting the same server is reachable.
    let got = fetcher(dev(), limits())
        .get(&server.url("/jwks"))
        .await
        .unwrap();
    assert_eq!(got.body, JWKS.as_bytes());
    assert_eq!(got.max_age, Some(Duration::from_secs(60)));
    assert_eq!(server.hits(), 1);
}

/// C5: private, link-local, CGNAT, ULA and metadata addresses are refused even with the
/// loopback development setting on; an allow-listed network is reachable.
#[tokio::test]
async fn c5_private_and_metadata_addresses_refused() {
    let f = fetcher(dev(), limits());
    for url in [
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://10.0.0.1/jwks",
        "https://172.16.0.1/jwks",
        "https://192.168.0.1/jwks",
        "https://100.64.0.1/jwks",
        "https://[fe80::1]/jwks",
        "https://[::ffff:169.254.169.254]/jwks",
        "http://10.0.0.1/jwks",
    ] {
        let started = Instant::now();
        let r = f.get(url).await;
        assert!(matches!(r, Err(FetchError::Refused(_))), "{url}: {r:?}");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{url}: no connection attempted"
        );
    }
    let internal = AddressPolicy {
        allow_loopback: false,
        allowed: vec![IpNet::parse("10.0.0.0/8").unwrap()],
    };
    assert!(internal.check_url("https://10.1.2.3/jwks").is_ok());
    assert!(internal.check_url("https://169.254.169.254/").is_err());
}

/// C5: a redirect is never followed (the target, here the metadata-service path on the
/// same server, is never requested).
#[tokio::test]
async fn c5_redirects_are_not_followed() {
    let server = FakeHttp::start(|path| match path {
        "/jwks" => Reply::Full(
            302,
            vec![("Location".into(), "/latest/meta-data".into())],
            vec![],
        ),
        _ => Reply::Json(JWKS.into(), 60),
    })
    .await;
    let r = fetcher(dev(), limits()).get(&server.url("/jwks")).await;
    assert!(
        matches!(r, Err(FetchError::Redirect { status: 302, .. })),
        "{r:?}"
    );
    assert_eq!(server.hits(), 1);
}

/// C5: a 10 MiB body is cut at the cap, announced or not.
#[tokio::test]
async fn c5_ten_mib_bodies_are_refused() {
    let ten_mib = 10 * 1024 * 1024;
    let server = FakeHttp::start(move |path| match path {
        "/announced" => Reply::Full(200, vec![], vec![b' '; ten_mib]),
        _ => Reply::Unannounced(ten_mib),
    })
    .await;
    let f = fetcher(dev(), limits());
    for path in ["/announced", "/unannounced"] {
        match f.get(&server.url(path)).await {
            Err(FetchError::Transport(e)) => assert!(e.contains("larger than 65536"), "{e}"),
            other => panic!("{path}: expected the size cap, got {other:?}"),
        }
    }
}

/// C5: a server that dribbles its body is cut off by the whole-request timeout.
#[tokio::test]
async fn c5_slow_servers_are_bounded_by_the_timeout() {
    let server = FakeHttp::start(|_| Reply::Slow {
        every: Duration::from_millis(200),
        bytes: 100,
    })
    .await;
    let mut l = limits();
    l.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let r = fetcher(dev(), l).get(&server.url("/jwks")).await;
    assert!(matches!(r, Err(FetchError::Transport(_))), "{r:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

fn count_keys(body: &[u8]) -> Result<Parsed<usize>, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let n = v["keys"].as_array().ok_or("no keys")?.len();
    Ok(Parsed {
        value: n,
        refresh_hint: None,
    })
}

/// The cache: fresh for max-age (clamped), an unknown kid refetches at most once per
/// cooldown, and when the source fails the cached set answers until `max_stale`, then
/// [`Unavailable`] (C7's 503), never an empty set.
#[tokio::test]
async fn cache_cooldown_and_stale_bound() {
    let keys = Arc::new(AtomicUsize::new(1));
    let down = Arc::new(AtomicUsize::new(0));
    let (k, d) = (keys.clone(), down.clone());
    let server = FakeHttp::start(move |_| {
        if d.load(Ordering::SeqCst) == 1 {
            return Reply::Drop;
        }
        let n = k.load(Ordering::SeqCst);
        let list = vec!["{}"; n].join(",");
        Reply::Json(format!(r#"{{"keys":[{list}]}}"#), 1)
    })
    .await;
    let mut l = limits();
    l.refetch_cooldown = Duration::from_millis(300);
    l.max_stale = Duration::from_millis(1500);
    let set = RemoteSet::url(fetcher(dev(), l), server.url("/jwks"), count_keys);

    assert_eq!(*set.current().await.unwrap(), 1);
    assert_eq!(*set.current().await.unwrap(), 1);
    assert_eq!(server.hits(), 1, "fresh for max-age=1");

    // Unknown kid: one refetch, then none within the cooldown.
    keys.store(2, Ordering::SeqCst);
    assert_eq!(set.refetch_for_unknown_kid().await.map(|v| *v), Some(2));
    assert_eq!(set.refetch_for_unknown_kid().await, None);
    assert_eq!(server.hits(), 2);

    // The source goes down: the cached set answers while within max_stale...
    down.store(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        *set.current().await.unwrap(),
        2,
        "stale but within the bound"
    );
    // ... and then the request fails closed.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(set.current().await, Err(Unavailable));
    // Back up: served again.
    down.store(0, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(*set.current().await.unwrap(), 2);
}
