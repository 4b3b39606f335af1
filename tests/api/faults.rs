//! Faults survived by real processes: kill -9 during key rotation, the database becoming
//! unreachable (a TCP proxy the test cuts, never the shared PostgreSQL server), SIGTERM
//! with a request in flight.

use std::{
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tessera::{
    clients::{NewClient, RegistrationLimits},
    keys::Alg,
};
use tokio::net::{TcpListener, TcpStream};

use crate::{
    procs::{Cluster, ISSUER, Rng},
    support::{Backend, ServerHttp, TestClient, header, verify_independently},
};

const AUD: &str = "https://api.internal";

async fn client_with_alg(state: &tessera::http::AppState, alg: Alg) -> TestClient {
    let c = state
        .ctx
        .clients
        .create(
            NewClient {
                name: format!("{alg} service"),
                grant_types: vec!["client_credentials".into()],
                scopes: vec!["read".into()],
                audiences: vec![AUD.into()],
                alg: Some(alg),
                ..Default::default()
            },
            RegistrationLimits {
                max_token_ttl: Duration::from_secs(86400),
            },
        )
        .await
        .unwrap();
    TestClient {
        id: c.client.client_id,
        secret: c.client_secret,
    }
}

/// kill -9 at random moments while `tessera keys rotate --now` races with `serve` (which
/// keeps issuing tokens): after every kill and restart, every token issued so far verifies
/// (with jsonwebtoken) against the JWKS served afterwards, and every token's key was in
/// the JWKS of the instance that signed it. `TESSERA_KILL_LOOP` sets the iterations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TESSERA_TEST_POSTGRES_URL"]
async fn kill_nine_during_rotation_postgres() {
    let backend = Backend::postgres();
    let loops: usize = std::env::var("TESSERA_KILL_LOOP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let mut rng = Rng::from_env_or_clock();
    let cluster = Cluster::new(&backend).await;
    let mut serve = cluster.serve("serve").await;
    let state = cluster.state().await;
    let clients = [
        client_with_alg(&state, Alg::ES256).await,
        client_with_alg(&state, Alg::RS256).await,
    ];
    let mut issued: Vec<String> = Vec::new();
    let (mut serve_kills, mut rotate_kills) = (0, 0);
    for i in 0..loops {
        let mut rotate = cluster
            .command(&["keys", "rotate", "--now"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let kill_at = Duration::from_millis(rng.below(400));
        let start = Instant::now();
        while start.elapsed() < kill_at {
            let t = serve.access_token(&clients[issued.len() % 2]).await;
            let kid = header(&t)["kid"].as_str().unwrap().to_string();
            assert!(
                serve.kids().await.contains(&kid),
                "token signed by unpublished key {kid}"
            );
            issued.push(t);
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        let what = rng.below(3);
        if what != 1 {
            // SIGKILL the rotation wherever it is (it may have finished already).
            if rotate.try_wait().unwrap().is_none() {
                rotate_kills += 1;
            }
            let _ = rotate.kill();
        }
        if what != 0 {
            serve.kill9();
            serve_kills += 1;
        }
        rotate.wait().unwrap();
        if what != 0 {
            serve = cluster.serve(&format!("serve{i}")).await;
        }
        let jwks = serve.jwks().await;
        for t in &issued {
            if let Err(e) = verify_independently(t, &jwks, ISSUER, AUD) {
                panic!("iteration {i}: a token issued before the kill fails: {e}");
            }
        }
    }
    let keys = tessera::keys::store::list(&state.db).await.unwrap().len();
    eprintln!(
        "kill loop: {loops} iterations, {serve_kills} serve kills, {rotate_kills} rotations \
         killed mid-run, {} tokens all verified after every restart, {keys} keys stored",
        issued.len()
    );
}

/// A TCP proxy between tessera and PostgreSQL that the test can cut: open connections
/// are closed and new ones are accepted but never answered (a network partition).
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let links = Arc::new(Mutex::new(Vec::<tokio::task::AbortHandle>::new()));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (c, l, h) = (cut.clone(), links.clone(), held.clone());
        tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    h.lock().unwrap().push(down);
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                l.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy {
            port,
            cut,
            links,
            held,
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for l in self.links.lock().unwrap().drain(..) {
            l.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
        self.held.lock().unwrap().clear();
    }
}

/// The database becomes unreachable: JWKS and discovery are served from memory, token
/// requests answer 503 `temporarily_unavailable` with `Retry-After` quickly (no hang, no
/// 500), `/readyz` says not ready while `/healthz` stays live, and the service recovers
/// by itself when the database returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TESSERA_TEST_POSTGRES_URL"]
async fn database_outage_is_survived_postgres() {
    let backend = Backend::postgres();
    let cluster = Cluster::new(&backend).await;
    let mut url = url::Url::parse(&cluster.settings.database_url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(upstream).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    let state = cluster.state().await;
    let app = cluster.app_client(&state).await;
    let fresh = client_with_alg(&state, Alg::ES256).await;
    cluster.user(&state, "bob").await;
    let serve = cluster.serve_with("serve", url.as_str(), &[]).await;
    let password = [
        ("grant_type", "password"),
        ("username", "bob"),
        ("password", "correct horse battery"),
        ("scope", "read"),
    ];
    let (s, login) = serve.token(&app, &password).await;
    assert_eq!(s, 200, "{login}");
    let rt = login["refresh_token"].as_str().unwrap().to_string();
    let kids = serve.kids().await;
    let discovery = serve.get_json("/.well-known/openid-configuration").await;

    proxy.cut();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    let cc = [("grant_type", "client_credentials")];
    let mut worst = Duration::ZERO;
    // Two rounds: the first meets broken pooled connections, the second a silent network.
    for _ in 0..2 {
        for (c, form) in [
            (&app, &password[..]),
            (&app, &refresh[..]),
            (&fresh, &cc[..]),
        ] {
            let start = Instant::now();
            let r = serve.post_as(c, "/oauth/token", form).await;
            let took = start.elapsed();
            worst = worst.max(took);
            assert_eq!(r.status(), 503, "{form:?}");
            assert_eq!(r.headers()["retry-after"], "1");
            assert_eq!(r.headers()["cache-control"], "no-store");
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"], "temporarily_unavailable", "{form:?}");
        }
    }
    // Let the key refresh loop fail a few times: the keys stay served from memory.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(serve.kids().await, kids);
    assert_eq!(
        serve.get_json("/.well-known/openid-configuration").await,
        discovery
    );
    let probe = |p: &'static str| {
        let r = serve.http.get(serve.url(p)).send();
        async move { r.await.unwrap().status().as_u16() }
    };
    assert_eq!(probe("/healthz").await, 200);
    assert_eq!(probe("/readyz").await, 503);
    eprintln!("database outage: slowest 503 answer {worst:?} (6 token requests)");

    proxy.restore();
    let start = Instant::now();
    loop {
        let (s, _) = serve.token(&fresh, &cc).await;
        if s == 200 {
            break;
        }
        assert_eq!(s, 503);
        assert!(start.elapsed() < Duration::from_secs(20), "no recovery");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recovered = start.elapsed();
    assert_eq!(probe("/readyz").await, 200);
    let (s, body) = serve.token(&app, &refresh).await;
    assert_eq!(s, 200, "the refresh token survives the outage: {body}");
    eprintln!("database outage: recovered {recovered:?} after the database returned");
}

/// SIGTERM with a slow request in flight (a password grant with expensive argon2): the
/// server stops accepting, answers the request, and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests() {
    let mut cluster = Cluster::new(&Backend::Sqlite).await;
    // The user's hash carries its own (expensive) parameters; the server verifies with them.
    cluster.settings.argon2_memory_kib = 64 * 1024;
    cluster.settings.argon2_iterations = 24;
    let state = cluster.state().await;
    let c = cluster.app_client(&state).await;
    cluster.user(&state, "carol").await;
    drop(state);
    let mut serve = cluster.serve("serve").await;
    let addr = serve.base.trim_start_matches("http://").to_string();
    let slow = {
        let (http, url, c) = (serve.http.clone(), serve.url("/oauth/token"), c.clone());
        tokio::spawn(async move {
            let r = http
                .post(url)
                .basic_auth(&c.id, Some(&c.secret))
                .form(&[
                    ("grant_type", "password"),
                    ("username", "carol"),
                    ("password", "correct horse battery"),
                    ("scope", "read"),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    // Wait until the request is in the server (its connection is open), then SIGTERM.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!slow.is_finished(), "the request should still be running");
    serve.sigterm();
    // New connections are refused soon, while the slow request is still running.
    let start = Instant::now();
    while TcpStream::connect(&addr).await.is_ok() {
        assert!(start.elapsed() < Duration::from_secs(5), "still accepting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused_while_running = !slow.is_finished();
    let (status, body) = slow.await.unwrap();
    assert_eq!(status, 200, "the in-flight request completes: {body}");
    assert!(body.contains("access_token"));
    let exit = tokio::task::spawn_blocking(move || serve.wait())
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit}");
    assert!(
        refused_while_running,
        "the slow request finished before the listener closed; make argon2 slower"
    );
}
